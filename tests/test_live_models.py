"""Widgets that run a trained model (tinytx.teach.live_models): the exported weights,
the JavaScript model run under Node against PyTorch, and the widgets' Python side."""

import base64
import json
import struct

import nbformat
import pytest
import torch
from js_helpers import run_module
from nbclient import NotebookClient

import tinytx
from tinytx import GPT, GPTConfig, Seq2Seq, Seq2SeqConfig
from tinytx.generate import filter_logits
from tinytx.teach import export, live_models
from tinytx.teach.live import bundle


def run_model_js(tmp_path, files, body: str, data: dict):
    """Run `body` (JavaScript with the model bundle's exports as `m`, the JSON `data`
    as `data` and `weights(key)` parsing base64 model bytes) and return its `result`."""
    (tmp_path / "data.json").write_text(json.dumps(data))
    prefix = (
        f"const data = JSON.parse(readFileSync({json.dumps(str(tmp_path))} + "
        "'/data.json'));\n"
        "const weights = (key) => m.readWeights(m.base64ToBuffer(data[key]));\n"
    )
    code = bundle("maths.js", "draw.js", "transformer.js", *files)
    return run_module(code, prefix + body)


def b64(model, vocab=None) -> str:
    return base64.b64encode(export.to_bytes(model, vocab or {})).decode()


@pytest.fixture(scope="module")
def pretrained():
    return tinytx.pretrained("shakespeare-char")


GPT_VARIANTS = {
    "pre-LN, GELU, tied": {},
    "post-LN, ReLU, no bias, untied, sinusoidal": dict(
        norm="post",
        activation="relu",
        bias=False,
        tie_weights=False,
        positional="sinusoidal",
    ),
    "no residual": dict(residual=False),
    "GPT-2's tanh GELU": dict(activation="gelu_tanh"),
}


def small_gpt(**changes) -> GPT:
    tinytx.seed(0)
    config = GPTConfig(
        vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16, **changes
    )
    model, _ = export.from_bytes(export.to_bytes(GPT(config), {}))
    return model  # with the float16 weights the page computes with


def test_the_file_holds_a_header_and_every_weight_in_float16(pretrained):
    model, tokenizer = pretrained
    data = export.to_bytes(model, {"chars": list(tokenizer.chars)})
    assert data[:4] == b"TTX1"
    (length,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8 : 8 + length])
    assert header["kind"] == "GPT" and header["vocab"]["chars"] == tokenizer.chars
    assert GPTConfig(**header["config"]) == model.config
    names = [name for name, _ in header["tensors"]]
    assert "head.weight" not in names  # tied: stored once, as the embedding
    assert "pos_embed.table" in names and "pos_embed.weight" not in names
    sizes = [torch.Size(shape).numel() for _, shape in header["tensors"]]
    start = 8 + length + (-(8 + length) % 4)
    assert len(data) == start + 2 * sum(sizes)
    assert sum(sizes) == model.num_parameters()  # learned positions: all block_size
    back, vocab = export.from_bytes(data)
    assert vocab == {"chars": tokenizer.chars}
    for (name, p), (_, q) in zip(model.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(q, p.half().float(), rtol=0, atol=0, msg=name)
    with pytest.raises(ValueError, match="not a tinytx page model"):
        export.from_bytes(b"PK" + data[2:])


def test_export_writes_the_pretrained_model(tmp_path):
    path = export.export_pretrained(tmp_path / "models")
    assert path == tmp_path / "models" / "shakespeare-char.bin"
    model, tokenizer = tinytx.pretrained()
    assert path.read_bytes() == export.to_bytes(model, {"chars": tokenizer.chars})
    with pytest.raises(TypeError, match="GPT and Seq2Seq"):
        export.to_bytes(torch.nn.Linear(2, 2), {})


def test_the_page_runs_the_pretrained_gpt_as_pytorch(tmp_path, pretrained):
    model, tokenizer = pretrained
    text = "BAPTISTA:\nI know him well: you are welcome for his sake."
    ids = tokenizer.encode(text)
    got = run_model_js(
        tmp_path,
        [],
        """const net = weights("model");
        const full = m.gptForward(net, data.ids);
        const cache = m.gptCache(net);
        m.gptForward(net, data.ids.slice(0, -1), cache);
        const step = m.gptForward(net, data.ids.slice(-1), cache);
        result = {logits: Array.from(full.logits), step: Array.from(step.logits),
                  weights: Array.from(full.layers[3].weights)};""",
        {"model": b64(model, {"chars": tokenizer.chars}), "ids": ids},
    )
    logits, cache = model.run_with_cache(torch.tensor([ids]))
    T, V = len(ids), model.config.vocab_size
    js_logits = torch.tensor(got["logits"]).view(T, V)
    torch.testing.assert_close(js_logits, logits[0].detach(), atol=1e-4, rtol=1e-4)
    # the KV-cached step gives the last row again
    torch.testing.assert_close(
        torch.tensor(got["step"]), js_logits[-1], atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        torch.tensor(got["weights"]).view(6, T, T),
        cache["blocks.3.attn.weights"][0],
        atol=1e-5,
        rtol=0,
    )


@pytest.mark.parametrize("variant", GPT_VARIANTS)
def test_the_page_runs_every_gpt_variant_as_pytorch(tmp_path, variant):
    model = small_gpt(**GPT_VARIANTS[variant])
    ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    got = run_model_js(
        tmp_path,
        [],
        "result = Array.from(m.gptForward(weights('model'), data.ids).logits);",
        {"model": b64(model), "ids": ids},
    )
    with torch.no_grad():
        expected, _ = model(torch.tensor([ids]))
    torch.testing.assert_close(
        torch.tensor(got).view(expected.shape[1:]), expected[0], atol=1e-4, rtol=1e-4
    )


def test_a_tolerance_of_1e4_catches_a_wrong_layernorm_eps(tmp_path):
    """The comparisons above would notice a LayerNorm eps of 1e-4 instead of 1e-5."""
    model = small_gpt()
    for module in model.modules():
        if isinstance(module, tinytx.LayerNorm):
            module.eps = 1e-4
    ids = [3, 1, 4, 1, 5]
    got = run_model_js(
        tmp_path,
        [],
        "result = Array.from(m.gptForward(weights('model'), data.ids).logits);",
        {"model": b64(model), "ids": ids},
    )
    with torch.no_grad():
        expected, _ = model(torch.tensor([ids]))
    gap = (torch.tensor(got).view(expected.shape[1:]) - expected[0]).abs().max()
    assert gap > 1e-4


def test_the_page_writes_tinytx_generates_greedy_text(tmp_path, pretrained):
    """Greedy decoding past block_size: the page's KV cache and window restarts pick
    the same 200 characters as tinytx.generate."""
    model, tokenizer = pretrained
    ids = tokenizer.encode("JULIET:\nO Romeo, ")
    got = run_model_js(
        tmp_path,
        ["generation.js"],
        """result = [...m.generate(weights("model"), data.ids, 200,
            {temperature: 0, topK: 0, topP: 1, seed: 0})];""",
        {"model": b64(model), "ids": ids},
    )
    expected = model.generate(torch.tensor([ids]), 200, temperature=0)
    assert got == expected[0, len(ids) :].tolist()


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (5, 1.0), (0, 0.6), (3, 0.3)])
def test_the_page_filters_and_samples_as_tinytx(tmp_path, top_k, top_p):
    logits = torch.randn(40, generator=torch.Generator().manual_seed(1)) * 3
    got = run_model_js(
        tmp_path,
        ["generation.js"],
        """result = {
          kept: m.filterLogits(data.logits, data.k, data.p).map((x) => x > -Infinity),
          probs: m.nextDistribution(data.logits, 0.7, data.k, data.p),
          draws: (() => {
            const r = m.randomNumbers(7);
            const p = m.nextDistribution(data.logits, 0.7, data.k, data.p);
            return Array.from({length: 4000}, () => m.sampleIndex(p, r()));
          })(),
        };""",
        {"logits": logits.tolist(), "k": top_k, "p": top_p},
    )
    kept = filter_logits(logits[None], top_k or None, top_p if top_p < 1 else None)[0]
    assert got["kept"] == (kept > float("-inf")).tolist()
    probs = tinytx.softmax(kept, temperature=0.7)
    got_probs = torch.tensor(got["probs"], dtype=torch.float32)
    torch.testing.assert_close(got_probs, probs, atol=1e-6, rtol=0)
    frequency = torch.bincount(torch.tensor(got["draws"]), minlength=40) / 4000
    assert (frequency - probs).abs().max() < 0.03  # draws follow the distribution
    assert frequency[probs == 0].sum() == 0


def small_seq2seq(**changes) -> Seq2Seq:
    tinytx.seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=9,
        tgt_vocab_size=7,
        block_size=8,
        n_layer=2,
        n_head=2,
        n_embd=16,
        **changes,
    )
    return Seq2Seq(config).eval()


@pytest.mark.parametrize(
    "changes",
    [{}, dict(norm="pre", positional="learned", activation="gelu", tie_weights=False)],
)
def test_the_page_translates_as_seq2seq(tmp_path, changes):
    model = small_seq2seq(**changes)
    src_vocab = ["<pad>", "<bos>", "<eos>", *"abcdef"]
    tgt_vocab = ["<pad>", "<bos>", "<eos>", *"wxyz"]
    widget = live_models.TranslationExplorer(model, src_vocab, tgt_vocab, "c a-f")
    got = run_model_js(
        tmp_path,
        ["translation.js"],
        """result = m.translate(weights("model"), m.sourceWords(data.text),
            data.src, data.tgt);""",
        {
            "model": widget.weights,
            "text": widget.text,
            "src": src_vocab,
            "tgt": tgt_vocab,
        },
    )
    tokens, maps = widget.translate()
    assert widget.words == ["c", "a", "f"]
    assert got["tokens"] == tokens
    torch.testing.assert_close(torch.tensor(got["maps"]), maps, atol=1e-4, rtol=0)
    unknown = run_model_js(
        tmp_path,
        ["translation.js"],
        "result = m.translate(weights('model'), ['a', 'q'], data.src, data.tgt);",
        {"model": widget.weights, "src": src_vocab, "tgt": tgt_vocab},
    )
    assert unknown == {"error": "unknown word(s): q"}


def test_attention_explorer_recomputes_in_python(pretrained):
    model, tokenizer = pretrained
    widget = live_models.AttentionExplorer(model, tokenizer, "To be, or not")
    ids = torch.tensor([tokenizer.encode("To be, or not")])
    expected = live_models.head_weights(model, ids, 0, True)[0]
    torch.testing.assert_close(
        torch.tensor(widget.weights), expected, atol=6e-6, rtol=0
    )
    widget.causal, widget.layer, widget.head = False, 4, 5
    unmasked = live_models.head_weights(model, ids, 4, False)[5]
    torch.testing.assert_close(
        torch.tensor(widget.weights), unmasked, atol=6e-6, rtol=0
    )
    future = torch.ones_like(unmasked, dtype=torch.bool).triu(1)
    assert (unmasked[future] > 0).all()  # without the mask the future is visible
    widget.text = "To be, or not ~"  # no '~' in Shakespeare's alphabet
    assert widget.weights == []
    with pytest.raises(ValueError, match="layer must be in 0..5"):
        live_models.AttentionExplorer(model, tokenizer, "x", layer=6)


def test_next_token_explorer_and_generation_playground_follow_their_inputs(
    pretrained,
):
    model, tokenizer = pretrained
    widget = live_models.NextTokenExplorer(model, tokenizer, "ROMEO:\nWhat ", top=5)
    logits, _ = model(torch.tensor([tokenizer.encode("ROMEO:\nWhat ")]))
    torch.testing.assert_close(
        torch.tensor(widget.logits), logits[0, -1].detach(), atol=6e-6, rtol=0
    )
    widget.temperature = 2.0
    torch.testing.assert_close(
        widget.probs,
        tinytx.softmax(logits[0, -1].detach(), temperature=2.0),
        atol=1e-5,
        rtol=0,
    )
    widget.text = "ROMEO:\nWhat s"
    assert torch.tensor(widget.logits).argmax() != logits[0, -1].argmax()
    play = live_models.GenerationPlayground(model, tokenizer, "JULIET:\n", length=30)
    expected = model.generate(
        torch.tensor([tokenizer.encode("JULIET:\n")]),
        30,
        temperature=0.8,
        generator=torch.Generator().manual_seed(0),
    )
    assert play.completion == tokenizer.decode(expected[0, 8:].tolist())
    play.temperature = 0
    assert sorted(play.first_probs) == [0.0] * 64 + [1.0]  # greedy: one token
    greedy = model.generate(torch.tensor([tokenizer.encode("JULIET:\n")]), 30, 0.0)
    assert play.completion == tokenizer.decode(greedy[0, 8:].tolist())
    with pytest.raises(TypeError, match="CharTokenizer"):
        live_models.NextTokenExplorer(model, tinytx.BPETokenizer([]), "x")
    with pytest.raises(ValueError, match="length in 1..600"):
        live_models.GenerationPlayground(model, tokenizer, length=0)


def test_translation_explorer_checks_its_vocabularies():
    model = small_seq2seq()
    with pytest.raises(ValueError, match="9 source and 7 target tokens"):
        live_models.TranslationExplorer(model, ["a"] * 8, ["b"] * 7, "a")
    with pytest.raises(TypeError, match="Seq2Seq"):
        live_models.TranslationExplorer(small_gpt(), [], [], "a")


WIDGETS_NOTEBOOK = """
import torch, tinytx
from tinytx.teach import live_models
model, tokenizer = tinytx.pretrained()
widgets = [
    live_models.AttentionExplorer(model, tokenizer, "To be"),
    live_models.NextTokenExplorer(model, tokenizer, "To be"),
    live_models.GenerationPlayground(model, tokenizer, "To be", length=20),
]
tinytx.seed(0)
s2s = tinytx.Seq2Seq(tinytx.Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5,
    block_size=6, n_layer=1, n_head=2, n_embd=8))
widgets.append(live_models.TranslationExplorer(s2s, list("abcde"), list("vwxyz"), "d"))
widgets[1].text = "To be,"
print([type(w).__name__ for w in widgets], len(widgets[0].weights),
      len(widgets[1].logits), len(widgets[2].completion), widgets[3].text)
from tinytx.teach import live
maths = [
    live.TemperatureWidget([1.0, 2.0, 3.0], temperature=2.0),
    live.SinusoidExplorer(16, 8, position=3),
    live.ActivationExplorer(x0=0.5),
    live.EmbeddingExplorer(torch.eye(4), k=2),
    live.ProfileExplorer({(2, "a"): [1.0, 2.0]}, {}, depth=2),
    live.TokenizerExplorer(tinytx.CharTokenizer("ab"), tinytx.BPETokenizer([]), "ab"),
]
print([round(w.probs[0].item(), 4) for w in maths[:1]], maths[1].row.shape[0],
      maths[2].activation, maths[3].neighbours[0][0], maths[4].curves,
      maths[5].char_ids)
widgets[2]
"""


def test_the_widgets_work_with_a_kernel():
    """In a kernel (nbclient, as JupyterLab runs one) every live widget is built, the
    model widgets recompute when their inputs change, and one displays as a widget
    view with its state saved."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(WIDGETS_NOTEBOOK))
    NotebookClient(notebook, timeout=120, store_widget_state=True).execute()
    outputs = notebook.cells[0].outputs
    assert outputs[0]["text"] == (
        "['AttentionExplorer', 'NextTokenExplorer', 'GenerationPlayground', "
        "'TranslationExplorer'] 5 65 20 d\n"
        "[0.1863] 8 SiLU 1 {'a': [1.0, 2.0]} [0, 1]\n"
    )
    view = outputs[1]["data"]["application/vnd.jupyter.widget-view+json"]
    saved = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    state = saved["state"][view["model_id"]]["state"]
    assert state["prompt"] == "To be" and len(state["completion"]) == 20
    assert "tinytx-generation" in state["_esm"]


@pytest.mark.parametrize(
    "switches",
    [
        {"positional": "rope"},
        {"n_kv_head": 2},
        {"positional": "rope", "normalization": "rmsnorm", "n_kv_head": 1},
    ],
    ids=["rope", "gqa", "rope-mqa"],
)
def test_unmasked_head_weights_score_as_the_model_does(switches):
    """Without the mask, RoPE's rotation and the repeated key heads still apply: put
    the causal mask back on the unmasked weights and renormalise, and each row is the
    model's own causal row."""
    tinytx.seed(0)
    config = tinytx.GPTConfig(
        vocab_size=11, block_size=12, n_layer=2, n_head=4, n_embd=32, **switches
    )
    model = tinytx.GPT(config).eval()
    ids = torch.randint(11, (1, 9))
    causal = live_models.head_weights(model, ids, 1, True)
    unmasked = live_models.head_weights(model, ids, 1, False)
    assert unmasked.shape == causal.shape == (4, 9, 9)
    kept = unmasked * torch.ones(9, 9, dtype=torch.bool).tril()
    torch.testing.assert_close(kept / kept.sum(-1, keepdim=True), causal)
