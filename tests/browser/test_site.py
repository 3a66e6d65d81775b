"""The rendered book, driven in a real headless Chromium with the network cut off.

Run by `make browser-test` (part of `make test`) after `make book`. It serves
`_build/html` on 127.0.0.1, aborts every request that leaves it (the site must be
offline-complete), and for every page checks: no failed request and no console error,
every image loaded, all maths typeset by MathJax, and on chapter pages the Colab link,
numbered exercises and a working "Show solution". Chapter 05's temperature widget must
run in the page: moving its slider must redraw it with tinytx.softmax's numbers. On
every chapter no code, output or equation overflows at 1280 px. Screenshots of every
page at desktop (1280 px) and phone (390 px) widths go to `_build/screenshots/`.
Chromium is Debian's (`CHROMIUM`, default /usr/bin/chromium).
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import math
import os
import re
import threading
from pathlib import Path

import pytest
import torch
import yaml
from playwright.sync_api import Page, sync_playwright

import tinytx
from tinytx.teach import export, live, live_models

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium phones home at start-up,
# which a closed network refuses; the user-data dir is a fresh one per
# launch (Playwright's default).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": 1280, "phone": 390}


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [
        c["file"] for part in toc["parts"] for c in part["chapters"]
    ]
    return [f + ".html" for f in files] + ["genindex.html", "search.html"]


PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output to the test results
        pass


@pytest.fixture(scope="module")
def site_url():
    assert (SITE / "index.html").is_file(), f"{SITE} has no book: run `make book` first"
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(SITE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), (
        f"no Chromium at {CHROMIUM}: `apt-get install chromium`, or set CHROMIUM"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class Visit:
    """One page opened at one width, with everything that went wrong while it loaded."""

    def __init__(self, browser, site_url: str, page_path: str, width: int):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.context.route("**/*", self._offline)
        self.page.on(
            "console",
            lambda m: (
                m.type == "error" and self.problems.append(f"console error: {m.text}")
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"),
        )
        self.page.on(
            "response",
            lambda r: (
                r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}")
            ),
        )
        self.site_url = site_url
        self.page.goto(site_url + page_path, wait_until="networkidle")
        self.page.evaluate(
            "document.querySelectorAll('img[loading=lazy]').forEach(i => "
            "i.loading = 'eager')"
        )
        self.page.wait_for_function("[...document.images].every(i => i.complete)")
        # MathJax typesets after load; its promise settles when the page is done
        self.page.evaluate(
            "window.MathJax && MathJax.startup ? MathJax.startup.promise : null"
        )
        self.page.wait_for_load_state("networkidle")

    def _offline(self, route):
        if route.request.url.startswith(self.site_url):
            route.continue_()
        else:
            # the book must not need the network:
            # anything leaving 127.0.0.1 is a failure
            self.problems.append(f"left the site: {route.request.url}")
            route.abort()

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site_url):
    opened = []

    def open_page(page_path: str, width: str = "desktop") -> Visit:
        opened.append(Visit(browser, site_url, page_path, WIDTHS[width]))
        return opened[-1]

    yield open_page
    for v in opened:
        v.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_path", PAGES)
def test_page_works_offline(visit, page_path, width):
    v = visit(page_path, width)
    out = (
        SCREENSHOTS
        / width
        / (page_path.replace("/", "__").removesuffix(".html") + ".png")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(out), full_page=True)

    assert not v.problems, "\n".join(
        ["failed requests, requests leaving the site, console errors:"] + v.problems
    )
    broken = v.page.evaluate(
        "[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == [], "images that did not load"
    raw = v.page.evaluate(r"""[...document.querySelectorAll('.math')]
        .filter(e => !e.querySelector('mjx-container')
                     && /\\\(|\\\[|\$\$|\\begin/.test(e.textContent))
        .map(e => e.textContent.slice(0, 80))""")
    assert raw == [], "maths left as raw TeX"
    if v.page.locator(".math").count():
        assert v.page.locator("mjx-container").count() > 0, "MathJax typeset nothing"
    too_wide = v.page.evaluate(
        "document.documentElement.scrollWidth - window.innerWidth"
    )
    assert too_wide <= 0, (
        f"the page scrolls sideways by {too_wide} px at {WIDTHS[width]} px"
    )


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_chapter_has_colab_link_numbered_exercises_and_folded_solutions(
    visit, page_path
):
    page, name = visit(page_path).page, Path(page_path).stem
    colab = f"https://colab.research.google.com/github/tinytx/tinytx/blob/main/notebooks/{name}.ipynb"
    assert page.locator(f'a[href="{colab}"]').count() == 1
    chapter = int(name[:2])
    numbers = {
        int(n)
        for n in re.findall(
            rf"Exercise {chapter}\.(\d+)", page.locator("article").inner_text()
        )
    }
    assert numbers and numbers == set(range(1, max(numbers) + 1)), numbers
    solutions = page.locator(
        "details.hide.above-input",
        has=page.locator("summary", has_text="Show solution"),
    )
    assert solutions.count() == len(numbers), "one folded solution per exercise"
    first = solutions.first
    assert not first.locator(".cell_input").is_visible()
    first.locator("summary").click()
    assert first.locator(".cell_input").is_visible()
    assert "def " in first.locator(".cell_input").inner_text()


# Code, text outputs and display maths that do not fit their box at 1280 px: a box that
# scrolls sideways, or an equation that runs past the article's right edge.
OVERFLOWING = """() => {
  const right = document.querySelector('article').getBoundingClientRect().right;
  const boxes = [...new Set(document.querySelectorAll(
    'div.cell_input pre, div.cell_output pre, div.cell_output .output, '
    + 'article .highlight pre'))];
  const maths = [...document.querySelectorAll('mjx-container[display="true"]')];
  return boxes.filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => 'code/output: ' + e.textContent.trim().slice(0, 70))
    .concat(maths.filter(e => e.scrollWidth > e.clientWidth + 1
                              || e.getBoundingClientRect().right > right + 1)
      .map(e => 'equation: ' + e.textContent.slice(0, 50)));
}"""


@pytest.mark.parametrize("page_path", CHAPTERS)
def test_chapter_code_outputs_and_equations_fit_on_desktop(visit, page_path):
    """88 characters of code fit the box (book/_static/tinytx.css); long text output
    lines wrap; no display equation is cut off. Folded solutions are opened first."""
    page = visit(page_path).page
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate(OVERFLOWING) == []
    # the check sees a line of 120 characters in a code box of this page
    page.evaluate("""() => {
      const pre = document.querySelector('div.cell_input pre');
      pre.textContent = 'x = ' + '1 + '.repeat(29);
    }""")
    assert len(page.evaluate(OVERFLOWING)) == 1


def _saved_widget_state(notebook: str, marker: str) -> dict:
    """The saved state of the notebook's anywidget whose front end contains `marker`."""
    saved = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))
    states = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    found = [
        m["state"]
        for m in states["state"].values()
        if marker in m["state"].get("_esm", "")
    ]
    assert len(found) == 1, f"{notebook}: {len(found)} widgets with {marker!r}"
    return found[0]


def test_softmax_chapter_widget_computes_in_the_page(visit):
    """The temperature widget runs with no kernel: moving its slider redraws the bars,
    and the probabilities it shows are tinytx.softmax's for the saved logits."""
    v = visit("notebooks/05_softmax.html")
    widget = v.page.locator(".tinytx-temperature")
    widget.wait_for(state="visible", timeout=15_000)
    logits = torch.tensor(
        _saved_widget_state("05_softmax.ipynb", "tinytx-temperature")["logits"],
        dtype=torch.float64,
    )
    first_bars = []
    for temperature in (0.25, 1.0, 4.0):
        v.page.evaluate(
            """(t) => {
              const slider = document.querySelector('.tinytx-temperature input');
              slider.value = Math.log10(t);
              slider.dispatchEvent(new Event('input'));
            }""",
            temperature,
        )
        shown = float(widget.get_attribute("data-temperature"))
        assert shown == pytest.approx(temperature, rel=0.025)  # slider steps of 0.01
        probs = json.loads(widget.get_attribute("data-probs"))
        expected = tinytx.softmax(logits, temperature=shown)
        assert probs == pytest.approx(expected.tolist(), abs=1e-12)
        first_bars.append(
            widget.locator("span[style*='background']").first.evaluate(
                "bar => bar.style.width"
            )
        )
    assert len(set(first_bars)) == 3, f"the bars did not change: {first_bars}"
    assert v.problems == []


def _move(page, selector: str, value: float) -> None:
    """Set a range input's value and fire the event a user's drag fires."""
    page.evaluate(
        """([selector, value]) => {
          const input = document.querySelector(selector);
          input.value = value;
          input.dispatchEvent(new Event('input'));
        }""",
        [selector, value],
    )


def test_positional_chapter_widget_computes_in_the_page(visit):
    """The sinusoid explorer runs with no kernel: its sliders redraw the heat map and
    the curves, whose values are tinytx.sinusoidal_positions'."""
    v = visit("notebooks/03_positional_encoding.html")
    widget = v.page.locator(".tinytx-sinusoids")
    widget.wait_for(state="visible", timeout=15_000)
    state = _saved_widget_state("03_positional_encoding.ipynb", "tinytx-sinusoids")
    table = tinytx.sinusoidal_positions(state["T"], state["d"])
    pictures = []
    for position, dimension in [(state["position"], state["dimension"]), (37, 11)]:
        _move(v.page, ".tinytx-sinusoids input", position)
        _move(v.page, ".tinytx-sinusoids label:nth-of-type(2) input", dimension)
        row = torch.tensor(json.loads(widget.get_attribute("data-row")))
        column = torch.tensor(json.loads(widget.get_attribute("data-column")))
        torch.testing.assert_close(row, table[position], atol=1e-4, rtol=0)
        torch.testing.assert_close(column, table[:, dimension], atol=1e-4, rtol=0)
        pictures.append(widget.locator("canvas").evaluate("c => c.toDataURL()"))
    assert pictures[0] != pictures[1], "moving the sliders did not redraw the heat map"
    assert v.problems == []


def test_activation_chapter_widget_computes_in_the_page(visit):
    """The activation explorer runs with no kernel: choosing an activation and moving
    x0 redraws it, and f(x0) and f'(x0) are PyTorch's (autograd for the slope)."""
    v = visit("notebooks/07_feed_forward.html")
    widget = v.page.locator(".tinytx-activations")
    widget.wait_for(state="visible", timeout=15_000)
    pictures = []
    for name, x0 in [("ReLU", -1.0), ("GELU", -1.0), ("SiLU", 2.5)]:
        v.page.select_option(".tinytx-activations select", name)
        _move(v.page, ".tinytx-activations input", x0)
        assert widget.get_attribute("data-activation") == name
        x = torch.tensor([float(widget.get_attribute("data-x0"))], requires_grad=True)
        y = live.ACTIVATIONS[name](x.double())
        (slope,) = torch.autograd.grad(y.sum(), x)
        assert float(widget.get_attribute("data-value")) == pytest.approx(
            y.item(), abs=1e-6
        )
        assert float(widget.get_attribute("data-slope")) == pytest.approx(
            slope.item(), abs=1e-6
        )
        pictures.append(widget.locator("svg").first.inner_html())
    assert len(set(pictures)) == 3, "changing the controls did not redraw the curves"
    assert v.problems == []


def test_embedding_chapter_widget_computes_in_the_page(visit):
    """The embedding explorer runs with no kernel: picking a token re-ranks the rows of
    the saved table, and the neighbours are Python's (cosine similarity)."""
    v = visit("notebooks/02_embeddings.html")
    widget = v.page.locator(".tinytx-embeddings")
    widget.wait_for(state="visible", timeout=15_000)
    state = _saved_widget_state("02_embeddings.ipynb", "tinytx-embeddings")
    table = torch.tensor(state["table"], dtype=torch.float64)
    unit = table / table.norm(dim=1, keepdim=True)
    shown = []
    for label in ("e", "T", "?"):
        index = state["labels"].index(label)
        v.page.select_option(".tinytx-embeddings select", str(index))
        assert widget.get_attribute("data-index") == str(index)
        pairs = json.loads(widget.get_attribute("data-neighbours"))
        similarity = unit @ unit[index]
        similarity[index] = -2  # a token is not its own neighbour
        expected = similarity.topk(state["k"])
        assert [i for i, _ in pairs] == expected.indices.tolist()
        assert [s for _, s in pairs] == pytest.approx(
            expected.values.tolist(), abs=1e-9
        )
        shown.append(widget.locator("svg").inner_html())
    assert len(set(shown)) == 3, "picking a token did not redraw its row"
    assert v.problems == []


def test_residual_chapter_widget_draws_in_the_page(visit):
    """The gradient-profile explorer runs with no kernel: its menus redraw the curves
    saved in its state, exactly those the chapter measured."""
    v = visit("notebooks/06_residual_layernorm.html")
    widget = v.page.locator(".tinytx-profiles")
    widget.wait_for(state="visible", timeout=15_000)
    profiles = _saved_widget_state("06_residual_layernorm.ipynb", "tinytx-profiles")[
        "profiles"
    ]
    shown = []
    for depth, variant, moment in [("16", "both", "init"), ("8", "f(x)", "trained")]:
        for name, value in (
            ("blocks", depth),
            ("variant", variant),
            ("moment", moment),
        ):
            v.page.select_option(f".tinytx-profiles select[aria-label='{name}']", value)
        curves = json.loads(widget.get_attribute("data-curves"))
        expected = {
            k: c for k, c in profiles[moment][depth].items() if variant in ("both", k)
        }
        assert curves == expected
        shown.append(widget.locator("svg").inner_html())
    assert shown[0] != shown[1], "the menus did not redraw the plot"
    assert v.problems == []


def test_tokenization_chapter_widget_computes_in_the_page(visit):
    """The tokenizer explorer runs with no kernel: typing re-tokenizes the text, with
    the ids tinytx's character tokenizer and BPE (its saved merges) give."""
    v = visit("notebooks/01_tokenization.html")
    widget = v.page.locator(".tinytx-tokenizers")
    widget.wait_for(state="visible", timeout=15_000)
    state = _saved_widget_state("01_tokenization.ipynb", "tinytx-tokenizers")
    merges = [((a, b), 256 + k) for k, (a, b) in enumerate(state["merges"])]
    bpe = tinytx.BPETokenizer(merges)
    for text in ("To be, or not to be", "Wherefore art thou, Roméo?"):
        v.page.fill(".tinytx-tokenizers textarea", text)
        assert json.loads(widget.get_attribute("data-bpe-ids")) == bpe.encode(text)
        known = all(c in state["chars"] for c in text)
        expected = [state["chars"].index(c) for c in text] if known else None
        assert json.loads(widget.get_attribute("data-char-ids")) == expected
    assert v.problems == []


# ------------------------------------------------- widgets that run a trained model

RUNS_HERE = "the model runs in this page"


def _wait_for_model(page, selector: str) -> None:
    """Wait until the widget has loaded the page's model and checked it against the
    results Python saved (its status line says so)."""
    page.locator(selector).wait_for(state="visible", timeout=15_000)
    page.wait_for_function(
        "([s, text]) => document.querySelector(s).textContent.includes(text)",
        arg=[selector, RUNS_HERE],
        timeout=30_000,
    )


def _type(page, selector: str, text: str, attribute: str) -> None:
    """Type into a text box and wait until the widget has drawn that text (it reports
    it in data-<attribute>)."""
    page.fill(f"{selector} input[type=text], {selector} textarea", text)
    page.wait_for_function(
        "([s, a, t]) => document.querySelector(s).dataset[a] === t",
        arg=[selector, attribute, text],
        timeout=20_000,
    )


@pytest.fixture(scope="module")
def shakespeare():
    return tinytx.pretrained("shakespeare-char")


def test_attention_chapter_widget_runs_the_model_in_the_page(visit, shakespeare):
    """The attention explorer runs the GPT in the page: a typed text, another layer
    and head, and the mask off give the maps PyTorch computes (within 1e-2)."""
    model, tokenizer = shakespeare
    v = visit("notebooks/04_attention.html")
    _wait_for_model(v.page, ".tinytx-attention")
    widget = v.page.locator(".tinytx-attention")
    text = "KING RICHARD:\nA horse! a horse!"
    _type(v.page, ".tinytx-attention", text, "text")
    ids = torch.tensor([tokenizer.encode(text)])
    pictures = []
    for layer, head, causal in [(0, 0, True), (3, 2, True), (3, 2, False)]:
        v.page.select_option(".tinytx-attention select[aria-label=layer]", str(layer))
        v.page.select_option(".tinytx-attention select[aria-label=head]", str(head))
        v.page.set_checked(".tinytx-attention input[type=checkbox]", causal)
        shown = torch.tensor(json.loads(widget.get_attribute("data-weights")))
        expected = live_models.head_weights(model, ids, layer, causal)[head]
        torch.testing.assert_close(shown, expected, atol=1e-2, rtol=0)
        pictures.append(widget.locator("canvas").evaluate("c => c.toDataURL()"))
    assert len(set(pictures)) == 3, "the controls did not redraw the map"
    assert v.problems == []


def test_logits_chapter_widget_runs_the_model_in_the_page(visit, shakespeare):
    """The next-token explorer runs the GPT in the page: for a typed prompt and a
    temperature its top characters and probabilities are PyTorch's (within 1e-2)."""
    model, tokenizer = shakespeare
    v = visit("notebooks/08_output_logits.html")
    _wait_for_model(v.page, ".tinytx-next-token")
    widget = v.page.locator(".tinytx-next-token")
    prompt = "HAMLET:\nTo be, or not to be, that is the q"
    _type(v.page, ".tinytx-next-token", prompt, "text")
    logits, _ = model(torch.tensor([tokenizer.encode(prompt)]))
    for temperature in (0.5, 2.0):
        _move(v.page, ".tinytx-next-token input[type=range]", math.log10(temperature))
        shown = float(widget.get_attribute("data-temperature"))
        assert shown == pytest.approx(temperature, rel=0.025)
        top = json.loads(widget.get_attribute("data-top"))
        probs = tinytx.softmax(logits[0, -1].detach(), temperature=shown)
        assert [i for i, _ in top[:5]] == probs.topk(5).indices.tolist()
        for i, p in top[:5]:
            assert p == pytest.approx(probs[i].item(), abs=1e-2)
    assert v.problems == []


def test_generation_chapter_widget_writes_in_the_page(visit, shakespeare):
    """The generation playground writes in the page: the first token's distribution
    is PyTorch's (within 1e-2), greedy text is tinytx.generate's, and a seed always
    gives the same sampled text."""
    model, tokenizer = shakespeare
    v = visit("notebooks/09_training_generation.html")
    selector = ".tinytx-generation"
    _wait_for_model(v.page, selector)
    widget = v.page.locator(selector)

    def settle(name: str, value: float) -> str:
        """Set a slider, wait for the page to finish writing; returns the text."""
        v.page.evaluate(
            """([s, name, value]) => {
              const input = document.querySelector(`${s} input[aria-label^="${name}"]`);
              input.value = value;
              input.dispatchEvent(new Event('change'));
            }""",
            [selector, name, value],
        )
        v.page.wait_for_function(
            "s => document.querySelector(s).dataset.status === 'done'",
            arg=selector,
            timeout=30_000,
        )
        return widget.get_attribute("data-completion")

    prompt = "JULIET:\nO Romeo, "
    ids = torch.tensor([tokenizer.encode(prompt)])
    settle("new tokens", 150)
    greedy = settle("temperature", 0)
    expected = model.generate(ids, 150, temperature=0)
    assert greedy == tokenizer.decode(expected[0, ids.shape[1] :].tolist())
    sampled = settle("top-k", 10)  # top-k at temperature 0 is still greedy
    assert sampled == greedy
    sampled = settle("temperature", 1.2)
    assert sampled != greedy and len(sampled) == 150
    assert set(sampled) <= set(tokenizer.chars)
    logits, _ = model(ids)
    kept = tinytx.filter_logits(logits[:, -1].detach(), 10, None)[0]
    first = json.loads(widget.get_attribute("data-first-probs"))
    expected_first = tinytx.softmax(kept, temperature=1.2)
    torch.testing.assert_close(
        torch.tensor(first, dtype=torch.float32), expected_first, atol=1e-2, rtol=0
    )
    assert settle("seed", 0) == sampled  # the same seed, the same text
    assert settle("seed", 5) != sampled
    assert v.problems == []


def test_encoder_decoder_chapter_widget_translates_in_the_page(visit):
    """The translation explorer runs the chapter's trained Seq2Seq in the page: typed
    numbers are translated as Seq2Seq.translate does, with its cross-attention maps."""
    v = visit("notebooks/10_encoder_decoder.html")
    selector = ".tinytx-translation"
    v.page.locator(selector).wait_for(state="visible", timeout=15_000)
    widget = v.page.locator(selector)
    state = _saved_widget_state("10_encoder_decoder.ipynb", "tinytx-translation")
    page_model, _ = export.from_bytes(base64.b64decode(state["weights"]))
    maps_seen = []
    for text in ("nine hundred ninety nine", "twelve thousand three", "seven"):
        _type(v.page, selector, text, "text")
        src = torch.tensor([[state["src_vocab"].index(w) for w in text.split()]])
        with torch.no_grad():
            out = page_model.translate(src)
            _, cache = page_model.run_with_cache(src, out[:, :-1])
        digits = "".join(state["tgt_vocab"][i] for i in out[0, 1:].tolist() if i > 2)
        assert widget.get_attribute("data-translation") == digits
        maps = torch.tensor(
            json.loads(widget.get_attribute("data-maps")), dtype=torch.float32
        )
        expected = torch.stack(
            [
                cache[f"decoder.{i}.cross_attn.weights"][0].mean(0)
                for i in range(page_model.config.n_layer)
            ]
        )
        torch.testing.assert_close(maps, expected, atol=1e-2, rtol=0)
        maps_seen.append(maps.shape)
    assert len(set(maps_seen)) == 3
    _type(v.page, selector, "seven zillion", "text")  # an unknown word
    assert "unknown word(s): zillion" in widget.inner_text()
    assert v.problems == []


def test_distributed_chapter_widget_computes_in_the_page(visit):
    """The parallelism calculator runs with no kernel: its menus recompute the bytes
    each GPU sends and the memory it holds, as tinytx.distributed computes them."""
    v = visit("notebooks/12_distributed_training.html")
    widget = v.page.locator(".tinytx-parallelism")
    widget.wait_for(state="visible", timeout=15_000)
    state = _saved_widget_state("12_distributed_training.ipynb", "tinytx-parallelism")
    calculator = live.ParallelismCalculator(state["models"], model=state["model"])
    shown = []
    for menu, attribute, value in [
        ("model", "model", "7B"),
        ("strategy", "strategy", "FSDP"),
        ("GPUs", "gpus", 64),
        ("precision", "precision", "fp32"),
    ]:
        selector = f".tinytx-parallelism select[aria-label='{menu}']"
        v.page.select_option(selector, str(value))
        setattr(calculator, attribute, value)
        figures = calculator.figures
        for key in ("traffic", "total"):
            assert float(widget.get_attribute(f"data-{key}")) == pytest.approx(
                figures[key], rel=1e-12
            )
        assert widget.get_attribute("data-fits") == str(figures["fits"]).lower()
        shown.append(widget.inner_text())
    assert len(set(shown)) == 4, "changing a menu did not redraw the widget"
    assert v.problems == []
