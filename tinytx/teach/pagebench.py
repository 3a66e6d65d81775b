"""How heavy and how quick the live widgets are, in the built book, in a real browser.

    python -m tinytx.bench pages [--site _build/html] [--chromium /usr/bin/chromium]

Serves the site on 127.0.0.1 and opens each chapter in headless Chromium with a cold
cache and no network. Per page it measures: the bytes the page loaded (HTML, scripts,
fonts, images and, for chapters 4, 8 and 9, the model file); the time from navigation
until the widget can be used (drawn, and on model pages its model loaded and checked);
the median time of 5 updates of its main control (the event handler and the redraw;
chapter 10's only control is its text box, so there an update is a translation); and
on model pages the page's model on one input (from the widget's data-compute-ms).
Chapter 10's model travels in the page itself, so it is ready once drawn.
Needs `make book` first, and Playwright (a test dependency).
"""

from __future__ import annotations

import functools
import http.server
import statistics
import threading
from dataclasses import dataclass
from pathlib import Path

RUNS_HERE = "the model runs in this page"


@dataclass(frozen=True)
class WidgetPage:
    page: str  # under notebooks/, without .html
    widget: str  # the widget's root element
    control: str | None  # the control an update moves (None: a model run is one)
    event: str  # the event the control fires
    texts: tuple[str, ...] = ()  # what a text box gets, in turn
    model_inputs: tuple[str, ...] = ()  # on model pages: the 3 texts the model reads


# 55, 54 and 53 characters: each a new text, so the page runs its model again
HORSE = tuple(
    "KING RICHARD:\nA horse! a horse! my kingdom for a horse!"[: 55 - k]
    for k in range(3)
)

PAGES = (
    WidgetPage(
        "01_tokenization",
        ".tinytx-tokenizers",
        "textarea",
        "input",
        ("To be, or not to be, that is the question.", "Wherefore art thou Romeo?"),
    ),
    WidgetPage("02_embeddings", ".tinytx-embeddings", "select", "change"),
    WidgetPage("03_positional_encoding", ".tinytx-sinusoids", "input", "input"),
    WidgetPage(
        "04_attention",
        ".tinytx-attention",
        "select",
        "change",
        model_inputs=HORSE,
    ),
    WidgetPage("05_softmax", ".tinytx-temperature", "input", "input"),
    WidgetPage("06_residual_layernorm", ".tinytx-profiles", "select", "change"),
    WidgetPage("07_feed_forward", ".tinytx-activations", "input[type=range]", "input"),
    WidgetPage(
        "08_output_logits",
        ".tinytx-next-token",
        "input[type=range]",
        "input",
        model_inputs=HORSE,
    ),
    WidgetPage(
        "09_training_generation",
        ".tinytx-generation",
        "input[aria-label=temperature]",
        "change",
        model_inputs=("seed 1", "seed 2", "seed 3"),  # 200 new characters each
    ),
    WidgetPage(
        "10_encoder_decoder",
        ".tinytx-translation",
        None,  # its one control is the text box: each update translates anew
        "input",
        model_inputs=(
            "twelve thousand three hundred four",
            "nine hundred ninety nine",
            "six thousand forty two",
        ),
    ),
)

# One update: move the control (next menu entry, the slider to its other end, the
# next text), fire its event, and time the handler, which redraws synchronously.
UPDATE = """async ([selector, event, i, texts]) => {
  const control = document.querySelector(selector);
  if (control.tagName === "SELECT") {
    control.selectedIndex = (control.selectedIndex + 1) % control.options.length;
  } else if (control.type === "range") {
    control.value = i % 2 ? control.min : control.max;
  } else {
    control.value = texts[i % texts.length];
  }
  const start = performance.now();
  control.dispatchEvent(new Event(event));
  return performance.now() - start;
}"""

# Bytes the page loaded: the HTML and every resource, the model file included.
PAGE_BYTES = """() => performance.getEntriesByType("navigation")
  .concat(performance.getEntriesByType("resource"))
  .reduce((sum, entry) => sum + entry.encodedBodySize, 0)"""


def _time_model(page, spec: WidgetPage) -> float:
    """Median milliseconds of 3 runs of the page's model (data-compute-ms), one on
    each of spec.model_inputs, or (chapter 9) writing 200 characters with seeds 1, 2
    and 3."""
    root = page.locator(spec.widget)
    times = []
    for run in range(1, 4):
        if spec.page.startswith("09"):
            page.evaluate(
                """([s, run]) => {
                  for (const [name, value] of [["new tokens", 200], ["seed", run]]) {
                    const input = document.querySelector(
                      `${s} input[aria-label="${name}"]`);
                    input.value = value;
                    input.dispatchEvent(new Event("change"));
                  }
                }""",
                [spec.widget, run],
            )
            page.wait_for_function(
                "([s, run]) => document.querySelector(s).dataset.status === 'done' "
                "&& document.querySelector(s).querySelector('[aria-label=seed]')"
                ".value == run",
                arg=[spec.widget, run],
            )
        else:
            text = spec.model_inputs[run - 1]
            page.fill(f"{spec.widget} textarea, {spec.widget} input[type=text]", text)
            page.wait_for_function(
                "([s, t]) => document.querySelector(s).dataset.text === t",
                arg=[spec.widget, text],
            )
        times.append(float(root.get_attribute("data-compute-ms")))
    return statistics.median(times)


def page_table(site: Path, chromium: str) -> list[dict]:
    """One row per page of PAGES: page, html_kb, kb (everything loaded), ready_ms,
    update_ms, model_ms (None on maths pages)."""
    from playwright.sync_api import sync_playwright

    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"{site} has no built book: run `make book` first")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            for spec in PAGES:
                # the HTML alone, with the widget's saved state in it
                html_kb = (
                    site / "notebooks" / f"{spec.page}.html"
                ).stat().st_size / 1e3
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.route(
                    "**/*",
                    lambda route: (
                        route.continue_()
                        if route.request.url.startswith(url)
                        else route.abort()
                    ),
                )
                page = context.new_page()
                page.goto(f"{url}notebooks/{spec.page}.html")
                page.locator(spec.widget).wait_for(timeout=30_000)
                if spec.model_inputs and not spec.page.startswith("10"):
                    page.wait_for_function(
                        "([s, t]) => document.querySelector(s).textContent.includes(t)",
                        arg=[spec.widget, RUNS_HERE],
                        timeout=60_000,
                    )
                ready = page.evaluate("performance.now()")
                model_ms = _time_model(page, spec) if spec.model_inputs else None
                updates = [
                    page.evaluate(
                        UPDATE,
                        [f"{spec.widget} {spec.control}", spec.event, i, spec.texts],
                    )
                    for i in range(5 if spec.control else 0)
                ]
                if spec.page.startswith("09"):  # let the last text finish writing
                    page.wait_for_function(
                        "s => document.querySelector(s).dataset.status === 'done'",
                        arg=spec.widget,
                    )
                page.wait_for_load_state("networkidle")
                rows.append(
                    {
                        "page": spec.page,
                        "html_kb": html_kb,
                        "kb": page.evaluate(PAGE_BYTES) / 1000,
                        "ready_ms": ready,
                        "update_ms": statistics.median(updates)
                        if updates
                        else model_ms,
                        "model_ms": model_ms,
                    }
                )
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return rows
