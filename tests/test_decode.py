"""tinytx.decode: the fast decode step computes what the model's modules compute."""

import pytest
import torch

from tinytx import GPT, GPTConfig, decode
from tinytx.decode import Decoder
from tinytx.generate import generate

VARIANTS = {
    "pre-LN GELU": {},
    "post-LN ReLU, no bias, untied, sinusoidal": dict(
        norm="post",
        activation="relu",
        bias=False,
        tie_weights=False,
        positional="sinusoidal",
    ),
    "no residual": dict(residual=False),
    "GPT-2's tanh GELU": dict(activation="gelu_tanh"),
    "rotary positions": dict(positional="rope"),
    "RMSNorm, SwiGLU": dict(normalization="rmsnorm", activation="swiglu"),
    "grouped-query attention": dict(n_kv_head=2),
    "every chapter-11 switch, multi-query, post-LN, no bias, untied": dict(
        positional="rope",
        normalization="rmsnorm",
        activation="swiglu",
        n_kv_head=1,
        norm="post",
        bias=False,
        tie_weights=False,
    ),
}


def make_gpt(**changes) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=20, block_size=12, n_layer=2, n_head=4, n_embd=16, **changes
    )
    return GPT(config).eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_prefill_and_steps_give_the_models_logits(variant):
    model = make_gpt(**VARIANTS[variant])
    ids = torch.randint(0, 20, (3, 12))
    decoder = Decoder(model, batch_size=3)
    with torch.no_grad():
        full, _ = model(ids)
        got = [decoder.prefill(ids[:, :5])]
        got += [decoder.step(ids[:, t : t + 1]) for t in range(5, 12)]
    torch.testing.assert_close(torch.stack(got, dim=1), full[:, 4:], atol=1e-5, rtol=0)
    assert decoder.cache.length == 12


@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_generation_writes_the_explicit_paths_tokens(variant):
    model = make_gpt(**VARIANTS[variant])
    prompt = torch.randint(0, 20, (2, 3))
    for kwargs in [dict(temperature=0), dict(temperature=0.9, top_k=6)]:
        torch.manual_seed(1)
        fast = model.generate(prompt, 40, **kwargs)  # past block_size: restarts
        torch.manual_seed(1)
        explicit = model.generate(prompt, 40, fast=False, **kwargs)
        assert torch.equal(fast, explicit), kwargs


def test_the_cache_is_allocated_once_and_steps_are_checked():
    model = make_gpt()
    decoder = Decoder(model, batch_size=1)
    keys = decoder.cache.keys.data_ptr()
    assert decoder.cache.keys.shape == (2, 1, 4, 12, 4)  # (layers, B, H, block, d)
    with torch.no_grad():
        decoder.prefill(torch.zeros(1, 11, dtype=torch.long))
        decoder.step(torch.zeros(1, 1, dtype=torch.long))
        with pytest.raises(ValueError, match="cache is full"):
            decoder.step(torch.zeros(1, 1, dtype=torch.long))
        decoder.prefill(torch.zeros(1, 6, dtype=torch.long))  # a window restart
    assert decoder.cache.length == 6 and decoder.cache.keys.data_ptr() == keys
    with pytest.raises(ValueError, match="one token per row"):
        decoder.step(torch.zeros(1, 2, dtype=torch.long))


def test_grouped_query_attention_caches_only_the_kv_heads():
    decoder = Decoder(make_gpt(n_kv_head=1), batch_size=2)
    assert decoder.cache.keys.shape == (2, 2, 1, 12, 4)  # (layers, B, H_kv, block, d)
    assert decoder.cache.values.shape == (2, 2, 1, 12, 4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_static_step_gives_the_eager_steps_logits(variant):
    """mode="static" is the step a CUDA graph records (fixed shapes, every slot read
    through a mask); off CUDA it runs directly, so its maths is checked here."""
    model = make_gpt(**VARIANTS[variant])
    ids = torch.randint(0, 20, (3, 12))
    logits = {}
    for mode in ("eager", "static"):
        decoder = Decoder(model, batch_size=3, mode=mode)
        got = [decoder.prefill(ids[:, :2])]
        got += [decoder.step(ids[:, t : t + 1]) for t in range(2, 12)]
        logits[mode] = torch.stack(got, dim=1)
        assert decoder.cache.length == 12
    torch.testing.assert_close(logits["static"], logits["eager"], atol=1e-6, rtol=0)


def test_the_static_step_ignores_the_slots_after_its_position():
    """The slots after the position hold an earlier window's keys and values; the
    mask must hide them. Filling them with large numbers must change nothing."""
    model = make_gpt()
    ids = torch.randint(0, 20, (2, 6))
    clean = Decoder(model, batch_size=2, mode="static")
    stale = Decoder(model, batch_size=2, mode="static")
    stale.cache.keys.normal_(std=30.0)
    stale.cache.values.normal_(std=30.0)
    for decoder in (clean, stale):
        decoder.prefill(ids[:, :3])
        decoder.last = [decoder.step(ids[:, t : t + 1]) for t in range(3, 6)]
    for a, b in zip(clean.last, stale.last):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("variant", ["pre-LN GELU", "grouped-query attention"])
def test_static_generation_writes_the_explicit_paths_tokens(variant):
    model = make_gpt(**VARIANTS[variant])
    prompt = torch.randint(0, 20, (2, 3))
    for kwargs in [dict(temperature=0), dict(temperature=0.9, top_k=6)]:
        torch.manual_seed(1)
        static = generate(model, prompt, 40, decode_mode="static", **kwargs)
        torch.manual_seed(1)
        explicit = generate(model, prompt, 40, fast=False, **kwargs)
        assert torch.equal(static, explicit), kwargs


def test_decode_modes_are_checked():
    model = make_gpt()
    with pytest.raises(ValueError, match="mode must be one of 'eager', 'static'"):
        Decoder(model, batch_size=1, mode="graph")
    with pytest.raises(ValueError, match="needs the model on a CUDA device, not cpu"):
        Decoder(model, batch_size=1, mode="cuda-graph")
    assert Decoder(model, batch_size=1).mode == "eager"  # the default off CUDA
    prompt = torch.zeros(1, 1, dtype=torch.long)
    with pytest.raises(ValueError, match="decode_mode must be None or one of eager"):
        generate(model, prompt, 3, use_cache=False, decode_mode="graph")


def graph_decoder_on_a_cpu(monkeypatch, model, record):
    """A Decoder in mode "cuda-graph" on a CPU, its recording replaced by `record`
    and torch.cuda.CUDAGraph by a stand-in whose replay() reruns the step into the
    recorded output, as a replayed graph writes into the memory it recorded. The
    graph itself needs CUDA (tests/gpu); this checks what _CapturedStep does
    around it: inputs refilled each step, the position, a copy handed out."""

    class ReplayByRerunning:
        def replay(self):
            captured = decoder.captured
            step = decoder.static_step(captured.ids, captured.position)
            captured.logits.copy_(step)

    monkeypatch.setattr(torch.cuda, "CUDAGraph", ReplayByRerunning)
    monkeypatch.setattr(decode._CapturedStep, "_record", record)
    decoder = Decoder(model, batch_size=3, mode="static")
    decoder.mode = "cuda-graph"  # refused on a CPU at construction
    return decoder


def run_steps(decoder, ids):
    got = [decoder.prefill(ids[:, :2])]
    got += [decoder.step(ids[:, t : t + 1]) for t in range(2, 12)]
    got.append(decoder.prefill(ids[:, :6]))  # a window restart, the same graph
    got += [decoder.step(ids[:, t : t + 1]) for t in range(6, 9)]
    return got


def test_the_recorded_step_is_refilled_and_replayed(monkeypatch):
    model = make_gpt(n_kv_head=2, positional="rope")
    ids = torch.randint(0, 20, (3, 12))
    eager = run_steps(Decoder(model, batch_size=3), ids)

    def record(captured, device):
        return captured.decoder.static_step(captured.ids, captured.position).clone()

    decoder = graph_decoder_on_a_cpu(monkeypatch, model, record)
    got = run_steps(decoder, ids)
    captured = decoder.captured
    assert captured.graph is not None and decoder.cache.length == 9
    for a, b in zip(got, eager):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert got[-1].data_ptr() != captured.logits.data_ptr()  # a copy
    got[-1].add_(1.0)  # so changing it leaves the recorded output alone
    assert not torch.equal(got[-1], captured.logits)


def test_a_failed_recording_warns_and_runs_the_step_directly(monkeypatch):
    model = make_gpt()
    ids = torch.randint(0, 20, (3, 12))
    eager = run_steps(Decoder(model, batch_size=3), ids)

    def record(captured, device):
        raise RuntimeError("operation not permitted when stream is capturing")

    decoder = graph_decoder_on_a_cpu(monkeypatch, model, record)
    with pytest.warns(UserWarning, match="recording the decode step as a CUDA graph"):
        got = run_steps(decoder, ids)
    assert decoder.captured.graph is None
    for a, b in zip(got, eager):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
