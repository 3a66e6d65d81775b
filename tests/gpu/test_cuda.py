"""On a CUDA device: the recorded decode step, training's GPU choices and
evaluation's large batch compute what their CPU-tested counterparts compute."""

import warnings

import pytest
import torch

from tinytx import GPT, GPTConfig, evaluate, get_batch, train
from tinytx.decode import Decoder
from tinytx.generate import generate
from tinytx.optim import orthogonalize

VARIANTS = {
    "GPT-2 style": {},
    "chapter 11's switches, multi-query": dict(
        positional="rope", normalization="rmsnorm", activation="swiglu", n_kv_head=1
    ),
    "post-LN, sinusoidal, no bias": dict(
        norm="post", positional="sinusoidal", bias=False
    ),
}


def make_gpt(device, **changes) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=30, block_size=16, n_layer=2, n_head=4, n_embd=32, **changes
    )
    return GPT(config).to(device).eval()


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_cuda_graph_replays_the_eager_steps_logits(cuda_device, variant):
    model = make_gpt(cuda_device, **VARIANTS[variant])
    ids = torch.randint(0, 30, (3, 16), device=cuda_device)
    logits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed recording would only warn
        for mode in ("eager", "cuda-graph"):
            decoder = Decoder(model, batch_size=3, mode=mode)
            got = [decoder.prefill(ids[:, :3])]
            got += [decoder.step(ids[:, t : t + 1]) for t in range(3, 16)]
            # a window restart re-reads a prefix; the same graph goes on after it
            got.append(decoder.prefill(ids[:, :8]))
            got += [decoder.step(ids[:, t : t + 1]) for t in range(8, 12)]
            logits[mode] = torch.stack(got, dim=1)
    assert decoder.captured is not None and decoder.captured.graph is not None
    torch.testing.assert_close(logits["cuda-graph"], logits["eager"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_graph_generation_writes_the_explicit_paths_tokens(cuda_device, variant):
    model = make_gpt(cuda_device, **VARIANTS[variant])
    prompt = torch.randint(0, 30, (2, 3), device=cuda_device)
    assert Decoder(model, batch_size=2).mode == "cuda-graph"  # the default on CUDA
    for kwargs in [dict(temperature=0), dict(temperature=0.9, top_k=6)]:
        runs = []
        for path in (dict(), dict(fast=False), dict(use_cache=False)):
            generator = torch.Generator(cuda_device).manual_seed(1)
            runs.append(
                generate(model, prompt, 50, generator=generator, **kwargs, **path)
            )
        assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2]), kwargs


def small_run(device, **options):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, block_size=32, n_layer=2, n_head=2, n_embd=64))
    model.to(device)
    ids = torch.randint(0, 40, (20_000,), generator=torch.Generator().manual_seed(2))
    ids = (ids % 8 + ids.roll(1) % 5).to(device)  # a little structure to learn
    history = train(
        model,
        ids[:18_000],
        ids[18_000:],
        steps=60,
        batch_size=16,
        lr=3e-3,
        progress=False,
        **options,
    )
    return model, history


def test_bf16_fused_adamw_train_like_float32(cuda_device):
    _, reference = small_run(cuda_device)
    model, history = small_run(cuda_device, precision="bf16", fused=True)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # from ln 40 = 3.69 at the start to about 2.39 (2.3864 in float32 on a CPU)
    assert history.val_loss[-1] < 2.6
    assert history.val_loss[-1] == pytest.approx(reference.val_loss[-1], abs=0.05)


def test_muon_on_cuda_orthogonalises_in_bf16_and_trains(cuda_device):
    update = orthogonalize(torch.randn(64, 128, device=cuda_device))
    # five quintic Newton-Schulz steps leave the singular values in about
    # [0.68, 1.13] (0.6819 and 1.1343 for this size in float32 on a CPU)
    singular = torch.linalg.svdvals(update.float())
    assert update.dtype == torch.float32
    assert singular.min() > 0.6 and singular.max() < 1.2
    _, history = small_run(cuda_device, optimizer="muon")
    assert history.val_loss[-1] < 2.6


def test_evaluate_reads_one_large_batch_and_matches_the_cpu(cuda_device):
    model = make_gpt(cuda_device)
    ids = torch.randint(
        0, 30, (16 * 300 + 1,), generator=torch.Generator().manual_seed(4)
    )
    on_gpu = evaluate(model, ids.to(cuda_device))  # 300 windows in one pass
    on_cpu = evaluate(model.cpu(), ids)  # 32 at a time
    assert on_gpu == pytest.approx(on_cpu, abs=1e-5)


def test_batches_drawn_for_cuda_ids_are_the_cpus_windows(cuda_device):
    """get_batch draws the starts on the CPU and builds the windows where the ids
    are: the same windows as on the CPU, and on the GPU."""
    ids = torch.arange(1000) * 7 % 65
    on_cpu = get_batch(ids, 8, 32, generator=torch.Generator().manual_seed(5))
    on_gpu = get_batch(
        ids.to(cuda_device), 8, 32, generator=torch.Generator().manual_seed(5)
    )
    for cpu, gpu in zip(on_cpu, on_gpu):
        assert gpu.is_cuda and torch.equal(cpu, gpu.cpu())
