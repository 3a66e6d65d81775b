"""Widgets that compute in the browser (tinytx.teach.live): the Python side, and the
JavaScript run under Node, compute the same numbers as the package."""

import json
import math
from pathlib import Path

import anywidget
import pytest
import torch
from js_helpers import run_module

import tinytx
from tinytx.teach import live
from tinytx.tokenizers import split_chunks

ROOT = Path(__file__).resolve().parents[1]


def run_js(widget: type[anywidget.AnyWidget], expression: str):
    """The JSON value of `expression` evaluated with the exports of the widget's front
    end (the module the page gets: one file, or several joined) in scope as `m`."""
    # anywidget turns a file's path into its contents
    return run_module(str(widget._esm), f"result = {expression};")


def test_temperature_widget_state_and_probs():
    logits = torch.tensor([3.2, 2.1, 1.6, 0.4, -0.8, -1.5])
    widget = live.TemperatureWidget(logits, list("abcdef"), temperature=0.5)
    assert widget.logits == pytest.approx(logits.tolist())
    assert widget.labels == list("abcdef") and widget.temperature == 0.5
    torch.testing.assert_close(widget.probs, tinytx.softmax(logits / 0.5))
    state = widget.get_state()
    assert "tinytx-temperature" in state["_esm"]  # the front end travels with the state
    assert state["_model_module"] == "anywidget"


def test_temperature_widget_rejects_bad_input():
    with pytest.raises(ValueError, match="one label per logit"):
        live.TemperatureWidget([1.0, 2.0], ["a"])
    with pytest.raises(ValueError, match="low <= temperature <= high"):
        live.TemperatureWidget([1.0, 2.0], temperature=20.0)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 3.7, 10.0])
def test_the_page_computes_the_packages_softmax(temperature):
    generator = torch.Generator().manual_seed(0)
    cases = [
        torch.randn(6, generator=generator) * 3,
        torch.tensor([1000.0, 1001.0, 1002.0]),  # overflows without the max shift
        torch.tensor([0.0, -200.0, -5.0]),
    ]
    module = live.TemperatureWidget
    for logits in cases:
        js = run_js(module, f"m.softmax({logits.tolist()}, {temperature})")
        expected = tinytx.softmax(logits.double(), temperature=temperature)
        torch.testing.assert_close(torch.tensor(js, dtype=torch.float64), expected)
        entropy = run_js(
            module, f"m.entropy(m.softmax({logits.tolist()}, {temperature}))"
        )
        p = expected[expected > 0]
        assert entropy == pytest.approx(-(p * p.log()).sum().item(), abs=1e-9)


def test_the_book_serves_the_same_anywidget_as_python():
    """package.json's anywidget (copied into the site) matches the Python package,
    whose state format the saved notebooks use."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    assert (
        lock["packages"]["node_modules/anywidget"]["version"] == anywidget.__version__
    )


def test_sinusoid_explorer_state_and_slices():
    widget = live.SinusoidExplorer(128, 64, position=20, dimension=6)
    table = tinytx.sinusoidal_positions(128, 64)
    torch.testing.assert_close(widget.row, table[20])
    torch.testing.assert_close(widget.column, table[:, 6])
    assert "tinytx-sinusoids" in widget.get_state()["_esm"]
    with pytest.raises(ValueError, match="even d"):
        live.SinusoidExplorer(10, 7)
    with pytest.raises(ValueError, match="position must be in 0..9"):
        live.SinusoidExplorer(10, 8, position=10)


@pytest.mark.parametrize(("T", "d"), [(1, 2), (7, 6), (128, 64), (300, 192)])
def test_the_page_computes_the_packages_sinusoidal_table(T, d):
    module = live.SinusoidExplorer
    js = torch.tensor(
        run_js(module, f"m.sinusoidalTable({T}, {d})"), dtype=torch.float64
    )
    # tinytx computes in float32; an angle near 300 radians carries its rounding
    torch.testing.assert_close(
        js.float(), tinytx.sinusoidal_positions(T, d), atol=1e-4, rtol=0
    )


def test_activation_explorer_state_and_values():
    widget = live.ActivationExplorer(activation="GELU", x0=-1.0)
    value, slope = widget.value_and_slope
    assert value == pytest.approx(-0.158655, abs=1e-6)
    assert slope == pytest.approx(-0.083315, abs=1e-6)
    assert "tinytx-activations" in widget.get_state()["_esm"]
    with pytest.raises(ValueError, match="unknown activation"):
        live.ActivationExplorer(["Swish"])
    with pytest.raises(ValueError, match="outside x_range"):
        live.ActivationExplorer(x0=9.0)


@pytest.mark.parametrize("name", list(live.ACTIVATIONS))
def test_the_page_computes_the_activations_and_slopes_of_pytorch(name):
    xs = torch.linspace(-6, 6, 121, dtype=torch.float64)
    module = live.ActivationExplorer
    f, slope = run_js(
        module,
        f"[{xs.tolist()}.map(m.ACTIVATIONS[{json.dumps(name)}][0]), "
        f"{xs.tolist()}.map(m.ACTIVATIONS[{json.dumps(name)}][1])]",
    )
    x = xs.clone().requires_grad_(True)
    y = live.ACTIVATIONS[name](x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    # erf in JavaScript is an approximation good to 1.5e-7 (Abramowitz & Stegun)
    close = {"atol": 1e-6, "rtol": 0}
    torch.testing.assert_close(
        torch.tensor(f, dtype=torch.float64), y.detach(), **close
    )
    torch.testing.assert_close(torch.tensor(slope, dtype=torch.float64), grad, **close)


def test_embedding_explorer_state_and_neighbours():
    weight = torch.randn(20, 16, generator=torch.Generator().manual_seed(0))
    widget = live.EmbeddingExplorer(
        weight, [chr(97 + i) for i in range(20)], index=3, k=5
    )
    assert len(widget.table) == 20 and len(widget.table[0]) == 16
    unit = torch.nn.functional.normalize(weight.double(), dim=1)
    similarity = unit @ unit[3]
    similarity[3] = -2
    expected = similarity.topk(5)
    assert [i for i, _ in widget.neighbours] == expected.indices.tolist()
    sims = [s for _, s in widget.neighbours]
    assert sims == pytest.approx(expected.values.tolist(), abs=1e-6)  # 6-decimal state
    with pytest.raises(ValueError, match="one per row"):
        live.EmbeddingExplorer(weight, ["a"])
    with pytest.raises(ValueError, match="0 <= index < 20"):
        live.EmbeddingExplorer(weight, index=20)


def test_the_page_ranks_the_same_neighbours_as_python():
    weight = torch.randn(30, 12, generator=torch.Generator().manual_seed(1))
    widget = live.EmbeddingExplorer(weight, index=7, k=6)
    module = live.EmbeddingExplorer
    pairs = run_js(module, f"m.nearest({json.dumps(widget.table)}, 7, 6)")
    assert [i for i, _ in pairs] == [i for i, _ in widget.neighbours]
    assert [s for _, s in pairs] == pytest.approx(
        [s for _, s in widget.neighbours], abs=1e-12
    )


def profile_data():
    at_init = {
        (2, "x + f(x)"): [1.0, 2.0],
        (2, "f(x)"): [1.5, 2.5],
        (4, "x + f(x)"): [1.0, 1.0, 1.0, 1.0],
        (4, "f(x)"): [4.0, 3.0, 2.0, 1.0],
    }
    after = {(2, "x + f(x)"): [0.5, 0.6], (2, "f(x)"): [0.0, 1e-9]}
    return at_init, after


def test_profile_explorer_state_and_curves():
    widget = live.ProfileExplorer(*profile_data(), depth=2, trained_label="after 9")
    assert widget.variants == ["x + f(x)", "f(x)"]
    assert widget.curves == {"x + f(x)": [1.0, 2.0], "f(x)": [1.5, 2.5]}
    widget.moment, widget.variant = "trained", "f(x)"
    assert widget.curves == {"f(x)": [0.0, 1e-9]}
    widget.depth = 4
    assert widget.curves == {}  # 4 blocks were measured at initialisation only
    with pytest.raises(ValueError, match="depth 3 was not measured"):
        live.ProfileExplorer(*profile_data(), depth=3)
    with pytest.raises(ValueError, match="2 blocks but 3 norms"):
        live.ProfileExplorer({(2, "a"): [1.0, 2.0, 3.0]}, {}, depth=2)


def test_the_page_picks_the_same_curves_as_python():
    widget = live.ProfileExplorer(*profile_data(), depth=2)
    module = live.ProfileExplorer
    for moment, depth, variant in [
        ("init", 4, "both"),
        ("trained", 2, "f(x)"),
        ("trained", 4, "both"),
    ]:
        widget.moment, widget.depth, widget.variant = moment, depth, variant
        args = f"{json.dumps(widget.profiles)}, '{moment}', {depth}, '{variant}'"
        assert run_js(module, f"m.chosenCurves({args})") == widget.curves


TRAINING_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\n"
    "Speak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to "
    "famish?\n\nAll:\nResolved. resolved.\n"
) * 20
SAMPLES = [
    "Hello world, it's 2024!  ok\n\nthe end",
    "Speak, speak: you are all resolved rather to die?",
    "naïve café, ² and Ⅻ, _under_score__, tabs\tand\x1c separators\x85 too",
    "   leading spaces and trailing   ",
    "",
]


@pytest.fixture(scope="module")
def tokenizers():
    chars = tinytx.CharTokenizer.from_text(TRAINING_TEXT)
    return chars, tinytx.BPETokenizer.train(TRAINING_TEXT, 300)


def test_tokenizer_explorer_state_and_ids(tokenizers):
    chars, bpe = tokenizers
    widget = live.TokenizerExplorer(chars, bpe, "Speak, speak.")
    assert widget.char_ids == chars.encode("Speak, speak.")
    assert widget.bpe_ids == bpe.encode("Speak, speak.")
    widget.text = "café"
    assert widget.char_ids is None  # é is not among the characters
    assert "tinytx-tokenizers" in widget.get_state()["_esm"]


@pytest.mark.parametrize("text", SAMPLES)
def test_the_page_splits_and_merges_as_tinytx(tokenizers, text):
    _, bpe = tokenizers
    widget = live.TokenizerExplorer(*tokenizers, text)
    module = live.TokenizerExplorer
    assert run_js(module, f"m.splitChunks({json.dumps(text)})") == split_chunks(text)
    ids = run_js(
        module, f"m.bpeEncode({json.dumps(widget.merges)}, {json.dumps(text)})"
    )
    assert ids == bpe.encode(text) == widget.bpe_ids


CALCULATOR_MODELS = {"tiny": 108_352, "GPT-2 small": 124_439_808, "7B": 7_000_000_000}


def test_parallelism_calculator_state_and_figures():
    widget = live.ParallelismCalculator(CALCULATOR_MODELS, model="GPT-2 small")
    assert (widget.precision, widget.strategy, widget.gpus) == ("bf16", "DDP", 8)
    figures = widget.figures
    assert figures["traffic"] == 2 * 7 / 8 * 124_439_808 * 2  # bf16 gradients, a ring
    assert figures["seconds"] == figures["traffic"] / 12.5e9
    assert figures["memory"] == {
        "weights": 2 * 124_439_808,
        "gradients": 2 * 124_439_808,
        "optimizer": 12 * 124_439_808,
    }
    assert figures["total"] == 16 * 124_439_808 and figures["fits"]
    widget.model, widget.strategy, widget.gpus = "7B", "FSDP", 64
    assert widget.figures["total"] == 16 * 7e9 / 64
    assert widget.figures["traffic"] == 3 * 63 / 64 * 7e9 * 2
    widget.strategy, widget.precision = "DDP", "fp32"
    assert widget.figures["total"] == 16 * 7e9 and not widget.figures["fits"]
    assert "tinytx-parallelism" in widget.get_state()["_esm"]
    with pytest.raises(ValueError, match="strategy 'ZeRO-4' is not one of"):
        live.ParallelismCalculator(CALCULATOR_MODELS, strategy="ZeRO-4")
    with pytest.raises(ValueError, match="need gpus >= 1"):
        live.ParallelismCalculator(CALCULATOR_MODELS, gpus=0)


@pytest.mark.parametrize("strategy", list(live.STRATEGIES))
@pytest.mark.parametrize("precision", list(live.VALUE_BYTES))
def test_the_page_computes_the_same_costs_as_python(strategy, precision):
    widget = live.ParallelismCalculator(
        CALCULATOR_MODELS, precision=precision, strategy=strategy, capacity=24
    )
    states, expected = [], []
    for model in CALCULATOR_MODELS:
        for gpus in (1, 2, 3, 8, 64):
            widget.model, widget.gpus = model, gpus
            state = {k: v for k, v in widget.get_state().items() if not k[0] == "_"}
            states.append(state)
            expected.append(widget.figures)
    pages = run_js(live.ParallelismCalculator, f"{json.dumps(states)}.map(m.figures)")
    for page, python in zip(pages, expected):
        assert page["fits"] == python["fits"]
        for key in ("traffic", "seconds", "total"):
            assert page[key] == pytest.approx(python[key], rel=1e-12, abs=0)
        assert page["memory"] == pytest.approx(python["memory"], rel=1e-12, abs=0)


def test_the_page_writes_bytes_in_decimal_units():
    values = [0, 512, 108_352 * 16, 124_439_808 * 7, 1.2e11, 3.5e12]
    shown = run_js(live.ParallelismCalculator, f"{values}.map(m.formatBytes)")
    assert shown == ["0 B", "512 B", "1.73 MB", "871 MB", "120 GB", "3.5 TB"]


def test_rope_explorer_state_and_score():
    widget = live.RopeExplorer()
    assert (widget.q, widget.k, widget.m, widget.n, widget.theta) == (
        [1.0, 0.5],
        [0.5, 1.0],
        5,
        2,
        0.5,
    )
    assert "tinytx-rope" in widget.get_state()["_esm"]
    q_m, k_n = widget.rotated()
    # turning a pair keeps its length
    assert torch.linalg.norm(q_m).item() == pytest.approx(1.25**0.5)
    score = widget.score
    widget.m, widget.n = widget.m + 7, widget.n + 7
    assert widget.score == pytest.approx(score)  # only m - n matters
    widget.n = widget.m
    assert widget.score == pytest.approx(1.0)  # same position: the unrotated q . k
    with pytest.raises(ValueError, match="non-zero pairs"):
        live.RopeExplorer(q=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="m and n must be in"):
        live.RopeExplorer(m=30)


@pytest.mark.parametrize(("m", "n"), [(5, 2), (0, 0), (12, 19), (24, 3)])
def test_the_page_turns_q_and_k_as_tinytx(m, n):
    widget = live.RopeExplorer(m=m, n=n)
    page = run_js(
        live.RopeExplorer, f"m.ropePair([1.0, 0.5], [0.5, 1.0], {m}, {n}, 0.5)"
    )
    q_m, k_n = widget.rotated()
    assert page["q"] == pytest.approx(q_m.tolist(), abs=1e-9)
    assert page["k"] == pytest.approx(k_n.tolist(), abs=1e-9)
    assert page["score"] == pytest.approx(widget.score, abs=1e-9)
    # the angle between them is (m - n) * theta plus the unrotated angle, wrapped
    expected = (m - n) * 0.5 + math.atan2(0.5, 1.0) - math.atan2(1.0, 0.5)
    assert page["angle"] == pytest.approx(
        math.atan2(math.sin(expected), math.cos(expected)), abs=1e-9
    )


def test_rope_explorer_defaults_are_chapter_11s_numbers():
    """The chapter shows the widget with its defaults and computes the same pair: the
    state it saved is the class's default state."""
    nb = json.loads(
        (ROOT / "notebooks" / "11_modern_transformer.ipynb").read_text(encoding="utf-8")
    )
    states = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    saved = [
        s["state"]
        for s in states["state"].values()
        if "tinytx-rope" in str(s["state"].get("_esm", ""))
    ]
    assert len(saved) == 1
    default = live.RopeExplorer()
    for name in ("q", "k", "m", "n", "theta", "max_position"):
        assert saved[0][name] == getattr(default, name), name
