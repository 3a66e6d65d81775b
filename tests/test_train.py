"""Training and evaluation: the schedule, learning on real
text, history and bad input."""

import math
import os
import signal

import pytest
import torch

from tinytx import (
    GPT,
    CharTokenizer,
    GPTConfig,
    evaluate,
    load,
    load_corpus,
    load_metadata,
    train,
    train_val_split,
)
from tinytx.train import _optimizers, eval_batch_size, learning_rate


@pytest.fixture(scope="module")
def shakespeare_ids():
    text = load_corpus("tinyshakespeare")[:200_000]
    tokenizer = CharTokenizer.from_text(text)
    ids = torch.tensor(tokenizer.encode(text))
    return tokenizer, *train_val_split(ids, 0.1)


def small_gpt(vocab_size, seed=0, **overrides):
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(
            **{
                **dict(
                    vocab_size=vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32
                ),
                **overrides,
            }
        )
    )


def test_learning_rate_warms_up_then_follows_a_cosine():
    kwargs = dict(lr=1.0, steps=110, warmup_steps=10, min_lr=0.1)
    assert learning_rate(0, **kwargs) == pytest.approx(0.1)
    assert learning_rate(9, **kwargs) == pytest.approx(1.0)
    assert learning_rate(10, **kwargs) == pytest.approx(1.0)
    assert learning_rate(60, **kwargs) == pytest.approx(0.55)  # halfway: (1 + 0.1) / 2
    assert learning_rate(110, **kwargs) == pytest.approx(0.1)


def test_training_lowers_the_loss_on_shakespeare(shakespeare_ids):
    tokenizer, train_ids, val_ids = shakespeare_ids
    model = small_gpt(tokenizer.vocab_size)
    before = evaluate(model, val_ids, max_windows=64)
    assert before == pytest.approx(math.log(tokenizer.vocab_size), abs=0.15)
    history = train(
        model,
        train_ids,
        val_ids,
        steps=150,
        batch_size=16,
        lr=3e-3,
        eval_interval=50,
        progress=False,
    )
    assert history.val_steps == [50, 100, 150]
    assert len(history.train_loss) == len(history.lr) == len(history.elapsed) == 150
    # seconds since the start, one per step: positive and growing
    assert 0 < history.elapsed[0] and all(
        a < b for a, b in zip(history.elapsed, history.elapsed[1:])
    )
    assert history.val_loss[-1] < 2.9 < before
    assert not history.interrupted


def test_training_is_reproducible(shakespeare_ids):
    tokenizer, train_ids, val_ids = shakespeare_ids
    runs = []
    for _ in range(2):
        model = small_gpt(tokenizer.vocab_size, seed=3)
        runs.append(
            train(
                model,
                train_ids,
                val_ids,
                steps=5,
                batch_size=4,
                seed=11,
                progress=False,
            ).train_loss
        )
    assert runs[0] == runs[1]


def test_gradient_norms_are_recorded_per_parameter(shakespeare_ids):
    tokenizer, train_ids, val_ids = shakespeare_ids
    model = small_gpt(tokenizer.vocab_size)
    history = train(
        model,
        train_ids,
        val_ids,
        steps=6,
        batch_size=4,
        grad_norm_every=2,
        progress=False,
    )
    assert history.grad_norm_steps == [0, 2, 4]
    assert set(history.grad_norms) == {name for name, _ in model.named_parameters()}
    assert all(
        len(v) == 3 and all(x >= 0 for x in v) for v in history.grad_norms.values()
    )


def test_evaluate_is_deterministic_and_exact_on_all_windows():
    torch.manual_seed(0)
    model = small_gpt(10, block_size=4)
    ids = torch.randint(0, 10, (41,))
    loss = evaluate(model, ids, batch_size=3)
    x = ids[:40].view(10, 4)
    y = ids[1:41].view(10, 4)
    _, expected = model(x, y)
    assert loss == pytest.approx(expected.item(), rel=1e-6)
    assert evaluate(model, ids, batch_size=3) == loss


def test_evaluate_sums_as_python_floats_would_on_the_device():
    """The sum stays on the device (one synchronisation), in float64: the result is
    bit for bit what adding each batch's loss.item() * windows in Python gives, so
    the CPU's printed losses did not move when the sum moved."""
    model = small_gpt(10, block_size=4)
    ids = torch.randint(
        0, 10, (4 * 70 + 1,), generator=torch.Generator().manual_seed(3)
    )
    x, y = ids[:280].view(70, 4), ids[1:].view(70, 4)
    expected = 0.0
    with torch.no_grad():
        for xs, ys in zip(x.split(32), y.split(32)):
            expected += model(xs, ys)[1].item() * len(xs)
    assert evaluate(model, ids) == expected / 70
    # the control: batches of 7 add the same losses in another order, and that shows
    assert evaluate(model, ids, batch_size=7) != expected / 70


def test_eval_batch_size_is_32_on_a_cpu_and_fills_a_budget_on_a_gpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert eval_batch_size(cpu, 256, 65) == 32
    assert eval_batch_size(cuda, 256, 65) == 4032  # 2**26 // (256 * 65)
    assert eval_batch_size(cuda, 1024, 50257) == 1  # GPT-2: one window at a time


def test_non_finite_loss_stops_with_the_step(shakespeare_ids):
    tokenizer, train_ids, val_ids = shakespeare_ids
    model = small_gpt(tokenizer.vocab_size)
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    with pytest.raises(
        ValueError, match="loss became nan at step 0; lower the learning rate"
    ):
        train(model, train_ids, val_ids, steps=3, batch_size=2, progress=False)


def test_ctrl_c_stops_after_the_step_in_progress_with_its_weights(
    shakespeare_ids, monkeypatch
):
    """A real SIGINT in the middle of step 2 (inside AdamW's update)
    ends training after that step: the weights are exactly those of 3
    uninterrupted steps, not half-updated."""
    tokenizer, train_ids, val_ids = shakespeare_ids
    constant_lr = dict(
        lr=1e-3, min_lr=1e-3, warmup_steps=1, eval_interval=100, progress=False
    )
    reference = small_gpt(tokenizer.vocab_size)
    train(reference, train_ids, val_ids, steps=3, batch_size=2, **constant_lr)

    model = small_gpt(tokenizer.vocab_size)
    calls = {"n": 0}
    original = torch.optim.AdamW.step

    def ctrl_c_during_third_update(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(
                os.getpid(), signal.SIGINT
            )  # what Ctrl-C or Jupyter's stop button sends
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", ctrl_c_during_third_update)
    history = train(model, train_ids, val_ids, steps=10, batch_size=2, **constant_lr)
    assert history.interrupted and history.steps == [0, 1, 2]
    for (name, got), expected in zip(
        model.state_dict().items(), reference.state_dict().values()
    ):
        assert torch.equal(got, expected), name
    assert (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )  # Ctrl-C works normally again


def test_training_stops_at_the_first_evaluation_under_the_target(shakespeare_ids):
    tokenizer, train_ids, val_ids = shakespeare_ids
    model = small_gpt(tokenizer.vocab_size)
    history = train(
        model,
        train_ids,
        val_ids,
        steps=200,
        batch_size=16,
        lr=3e-3,
        eval_interval=20,
        stop_at_val_loss=3.0,
        progress=False,
    )
    assert history.val_loss[-1] <= 3.0 and all(
        loss > 3.0 for loss in history.val_loss[:-1]
    )
    assert len(history.steps) == history.val_steps[-1] < 200


def test_muon_takes_the_hidden_linear_weights_and_adamw_the_rest():
    model = small_gpt(10)
    muon, adamw = _optimizers(model, "muon", lr=1e-3, muon_lr=0.02, weight_decay=0.1)
    hidden = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name != "head"
    }
    names = {id(p): name for name, p in model.named_parameters()}
    assert {names[id(p)] for p in muon.param_groups[0]["params"]} == {
        f"{name}.weight" for name in hidden
    }
    rest = {names[id(p)] for group in adamw.param_groups for p in group["params"]}
    assert rest == set(names.values()) - {f"{name}.weight" for name in hidden}
    assert (
        "tok_embed.weight" in rest and "pos_embed.weight" in rest
    )  # the head is tied to tok_embed
    assert muon.param_groups[0]["lr_scale"] == pytest.approx(20.0)


def test_muon_follows_the_schedule_and_learns_faster_than_adamw(shakespeare_ids):
    tokenizer, train_ids, val_ids = shakespeare_ids
    results = {}
    for optimizer in ("adamw", "muon"):
        model = small_gpt(tokenizer.vocab_size)
        history = train(
            model,
            train_ids,
            val_ids,
            steps=100,
            batch_size=16,
            lr=3e-3,
            optimizer=optimizer,
            muon_lr=0.03,
            eval_interval=100,
            progress=False,
        )
        results[optimizer] = history.val_loss[-1]
        assert history.lr == [
            learning_rate(s, lr=3e-3, steps=100, warmup_steps=5, min_lr=3e-3 / 10)
            for s in range(100)
        ]
    assert results["muon"] < results["adamw"] - 0.05


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(val_ids=torch.arange(20)),
            ValueError,
            "val_ids has 20 tokens but a window needs block_size \\+ 1 = 33",
        ),
        (
            dict(train_ids=torch.zeros(5, 5, dtype=torch.long)),
            TypeError,
            "train_ids must be a 1-D tensor",
        ),
        (dict(steps=0), ValueError, "steps must be a positive int"),
        (dict(batch_size=2.5), ValueError, "batch_size must be a positive int"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (
            dict(optimizer="sgd"),
            ValueError,
            "optimizer must be 'adamw' or 'muon', got 'sgd'",
        ),
        (
            dict(optimizer="muon", muon_lr=-1.0),
            ValueError,
            "muon_lr must be > 0, got -1.0",
        ),
        (
            dict(precision="fp8"),
            ValueError,
            "precision must be one of \\['bf16', 'float32'\\], got 'fp8'",
        ),
    ],
)
def test_bad_training_arguments(kwargs, error, message):
    model = small_gpt(10)
    args = dict(
        train_ids=torch.randint(0, 10, (100,)),
        val_ids=torch.randint(0, 10, (100,)),
        steps=2,
        batch_size=2,
    )
    args.update(kwargs)
    with pytest.raises(error, match=message):
        train(model, args.pop("train_ids"), args.pop("val_ids"), progress=False, **args)


def _short_run(ids, hook=None, **options) -> tuple[list[float], GPT]:
    """Six steps of a small GPT; `hook` (if given) watches its first query
    projection's outputs."""
    _, train_ids, val_ids = ids
    model = small_gpt(65, seed=3)
    if hook is not None:
        model.blocks[0].attn.q_proj.register_forward_hook(hook)
    history = train(
        model,
        train_ids,
        val_ids,
        steps=6,
        batch_size=4,
        seed=11,
        progress=False,
        eval_windows=8,
        **options,
    )
    return history.train_loss, model


def test_bf16_autocast_runs_the_matrix_products_in_bfloat16(shakespeare_ids):
    """precision="bf16" (meant for GPUs, runnable on the CPU): the linear layers
    compute in bfloat16, the weights stay float32, and the losses stay close to
    float32's without being equal."""
    seen = []

    def record(module, inputs, output):
        seen.append(output.dtype)

    full, _ = _short_run(shakespeare_ids)
    losses, model = _short_run(shakespeare_ids, hook=record, precision="bf16")
    model_dtypes = {p.dtype for p in model.parameters()}
    assert seen[0] == torch.bfloat16 and model_dtypes == {torch.float32}
    # the evaluations after training run in float32
    assert seen[-1] == torch.float32
    assert losses != full
    assert losses == pytest.approx(full, abs=0.05)


def test_fused_adamw_gives_the_same_training(shakespeare_ids):
    plain, plain_model = _short_run(shakespeare_ids)
    fused, fused_model = _short_run(shakespeare_ids, fused=True)
    assert fused == pytest.approx(plain, abs=1e-5)
    for p, q in zip(plain_model.parameters(), fused_model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5)


def test_compiled_training_matches_eager_training(shakespeare_ids):
    eager, _ = _short_run(shakespeare_ids)
    compiled, _ = _short_run(shakespeare_ids, compile=True)
    assert compiled == pytest.approx(eager, abs=1e-4)


def test_the_checkpoint_holds_the_weights_of_the_last_evaluation(
    shakespeare_ids, tmp_path
):
    tokenizer, train_ids, val_ids = shakespeare_ids
    model = small_gpt(tokenizer.vocab_size)
    path = tmp_path / "run" / "model.pt"
    history = train(
        model,
        train_ids,
        val_ids,
        steps=6,
        batch_size=4,
        eval_interval=4,
        eval_windows=8,
        checkpoint=path,
        progress=False,
    )
    assert history.val_steps == [4, 6]
    saved = load(path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(saved.state_dict()[name], tensor), name
    assert load_metadata(path) == {"step": 6, "val_loss": history.val_loss[-1]}
