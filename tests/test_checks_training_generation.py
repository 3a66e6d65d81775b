"""The chapter 09 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import torch
from checker_helpers import assert_hint, assert_passes, run  # tests/checker_helpers.py
from torch import nn

from tinytx.teach import checks

CHECKERS = (
    checks.train_step,
    checks.lr_schedule,
    checks.bigram_baseline,
    checks.top_k_filter,
    checks.nucleus_probs,
)


def test_not_attempted_is_friendly(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    for checker in CHECKERS:
        passed, printed = run(checker, stub, capsys)
        assert not passed
        assert printed.startswith(f"… {checker.__name__}: not attempted yet")


# -------------------------------------------------------- train_step


def step_correct(model, optimizer, x, y, grad_clip):
    optimizer.zero_grad(set_to_none=True)
    _, loss = model(x, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


def step_zero_grad_after_backward(model, optimizer, x, y, grad_clip):
    _, loss = model(x, y)
    loss.backward()
    optimizer.zero_grad()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


def step_no_zero_grad(model, optimizer, x, y, grad_clip):
    _, loss = model(x, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


def step_clip_after_step(model, optimizer, x, y, grad_clip):
    optimizer.zero_grad()
    _, loss = model(x, y)
    loss.backward()
    optimizer.step()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    return loss.item()


def step_returns_tensor(model, optimizer, x, y, grad_clip):
    optimizer.zero_grad()
    _, loss = model(x, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss


def test_train_step(capsys):
    assert_passes(checks.train_step, step_correct, capsys)
    assert_hint(
        checks.train_step, step_zero_grad_after_backward, "did not change", capsys
    )
    assert_hint(checks.train_step, step_no_zero_grad, "leaked into this one", capsys)
    assert_hint(checks.train_step, step_clip_after_step, "not clipped", capsys)
    assert_hint(checks.train_step, step_returns_tensor, "loss.item()", capsys)


# -------------------------------------------------------- lr_schedule


def lr_correct(step, lr, steps, warmup_steps, min_lr):
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (steps - warmup_steps))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def test_lr_schedule(capsys):
    assert_passes(checks.lr_schedule, lr_correct, capsys)

    def starts_at_zero(step, lr, steps, warmup_steps, min_lr):
        return (
            lr * step / warmup_steps
            if step < warmup_steps
            else lr_correct(step, lr, steps, warmup_steps, min_lr)
        )

    def to_zero(step, lr, steps, warmup_steps, min_lr):
        return lr_correct(step, lr, steps, warmup_steps, 0.0)

    def unclamped(step, lr, steps, warmup_steps, min_lr):
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        progress = (step - warmup_steps) / (steps - warmup_steps)
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))

    def wrong_progress(step, lr, steps, warmup_steps, min_lr):
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        return min_lr + 0.5 * (lr - min_lr) * (
            1 + math.cos(math.pi * min(1.0, step / steps))
        )

    assert_hint(checks.lr_schedule, starts_at_zero, "step 0 is 0", capsys)
    assert_hint(checks.lr_schedule, to_zero, "below min_lr", capsys)
    assert_hint(checks.lr_schedule, unclamped, "clamp progress", capsys)
    assert_hint(checks.lr_schedule, wrong_progress, "start where warmup ends", capsys)


# -------------------------------------------------------- top_k_filter


def top_k_correct(logits, k):
    threshold = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def test_top_k_filter(capsys):
    assert_passes(checks.top_k_filter, top_k_correct, capsys)

    def k_plus_one(logits, k):
        values = torch.sort(logits, dim=-1, descending=True).values
        threshold = values[..., min(k, logits.shape[-1] - 1)].unsqueeze(-1)
        return logits.masked_fill(logits < threshold, float("-inf"))

    def ascending(logits, k):
        threshold = torch.sort(logits, dim=-1).values[..., k - 1 : k]
        return logits.masked_fill(logits > threshold, float("-inf"))

    def zeros(logits, k):
        threshold = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < threshold, 0.0)

    def probabilities(logits, k):
        return torch.softmax(top_k_correct(logits, k), dim=-1)

    def whole_batch(logits, k):
        threshold = torch.topk(logits.flatten(), k).values[-1]
        return logits.masked_fill(logits < threshold, float("-inf"))

    assert_hint(checks.top_k_filter, k_plus_one, "kept 2 tokens", capsys)
    assert_hint(checks.top_k_filter, ascending, "k smallest", capsys)
    assert_hint(checks.top_k_filter, zeros, "not 0", capsys)
    assert_hint(checks.top_k_filter, probabilities, "not probabilities", capsys)
    assert_hint(checks.top_k_filter, whole_batch, "threshold per row", capsys)


# -------------------------------------------------------- nucleus_probs


def nucleus_correct(logits, top_p, temperature=1.0):
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    keep_sorted = sorted_probs.cumsum(-1) - sorted_probs < top_p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)


def test_nucleus_probs(capsys):
    assert_passes(checks.nucleus_probs, nucleus_correct, capsys)

    def drops_crossing(logits, top_p, temperature=1.0):
        probs = torch.softmax(logits / temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        keep_sorted = sorted_probs.cumsum(-1) <= top_p
        keep_sorted[..., 0] = True
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        kept = probs * keep
        return kept / kept.sum(-1, keepdim=True)

    def not_renormalised(logits, top_p, temperature=1.0):
        probs = torch.softmax(logits / temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        keep_sorted = sorted_probs.cumsum(-1) - sorted_probs < top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        return probs * keep

    def temperature_after_softmax(logits, top_p, temperature=1.0):
        probs = nucleus_correct(logits, top_p) / temperature
        return probs / probs.sum(-1, keepdim=True)

    def temperature_multiplies(logits, top_p, temperature=1.0):
        return nucleus_correct(logits * temperature, top_p)

    def ascending(logits, top_p, temperature=1.0):
        probs = torch.softmax(logits / temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1)
        keep_sorted = sorted_probs.cumsum(-1) - sorted_probs < top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        kept = probs * keep
        return kept / kept.sum(-1, keepdim=True)

    assert_hint(checks.nucleus_probs, drops_crossing, "crosses top_p", capsys)
    assert_hint(checks.nucleus_probs, not_renormalised, "renormalise", capsys)
    assert_hint(
        checks.nucleus_probs, temperature_after_softmax, "changed nothing", capsys
    )
    assert_hint(checks.nucleus_probs, temperature_multiplies, "divide them", capsys)
    assert_hint(checks.nucleus_probs, ascending, "Sort descending", capsys)


# -------------------------------------------------------- bigram_baseline


def bigram_table(ids, V, start=1.0):
    counts = torch.full((V, V), start)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1), accumulate=True)
    return counts


def bigram_correct(train_ids, val_ids, vocab_size):
    counts = bigram_table(train_ids, vocab_size)
    probs = counts / counts.sum(dim=1, keepdim=True)
    return -probs.log()[val_ids[:-1], val_ids[1:]].mean().item()


def test_bigram_accepts_correct_code(capsys):
    assert_passes(checks.bigram_baseline, bigram_correct, capsys)


def test_bigram_accepts_a_loop_returning_a_tensor(capsys):
    def with_loops(train_ids, val_ids, vocab_size):
        counts = [[1] * vocab_size for _ in range(vocab_size)]
        for a, b in zip(train_ids.tolist(), train_ids.tolist()[1:]):
            counts[a][b] += 1
        pairs = list(zip(val_ids.tolist(), val_ids.tolist()[1:]))
        total = sum(-math.log(counts[a][b] / sum(counts[a])) for a, b in pairs)
        return torch.tensor(total / len(pairs))

    assert_passes(checks.bigram_baseline, with_loops, capsys)


def test_bigram_without_smoothing(capsys):
    def unsmoothed(train_ids, val_ids, vocab_size):
        counts = bigram_table(train_ids, vocab_size, start=0.0)
        probs = counts / counts.sum(dim=1, keepdim=True)
        return -probs.log()[val_ids[:-1], val_ids[1:]].mean().item()

    assert_hint(checks.bigram_baseline, unsmoothed, "add-one smoothing", capsys)


def test_bigram_columns_normalised(capsys):
    def by_columns(train_ids, val_ids, vocab_size):
        counts = bigram_table(train_ids, vocab_size)
        probs = counts / counts.sum(dim=0, keepdim=True)
        return -probs.log()[val_ids[:-1], val_ids[1:]].mean().item()

    assert_hint(checks.bigram_baseline, by_columns, "each column sums to 1", capsys)


def test_bigram_read_the_wrong_way_round(capsys):
    def transposed(train_ids, val_ids, vocab_size):
        counts = bigram_table(train_ids, vocab_size)
        probs = counts / counts.sum(dim=1, keepdim=True)
        return -probs.log()[val_ids[1:], val_ids[:-1]].mean().item()

    assert_hint(checks.bigram_baseline, transposed, "wrong way round", capsys)


def test_bigram_joint_probabilities(capsys):
    def joint(train_ids, val_ids, vocab_size):
        counts = bigram_table(train_ids, vocab_size)
        return -(counts / counts.sum()).log()[val_ids[:-1], val_ids[1:]].mean().item()

    assert_hint(checks.bigram_baseline, joint, "P(b | a)", capsys)


def test_bigram_scored_on_training_ids(capsys):
    def on_train(train_ids, val_ids, vocab_size):
        return bigram_correct(train_ids, train_ids, vocab_size)

    assert_hint(checks.bigram_baseline, on_train, "loss on the training ids", capsys)


def test_bigram_that_is_a_unigram(capsys):
    def unigram(train_ids, val_ids, vocab_size):
        counts = torch.bincount(train_ids, minlength=vocab_size).float()
        return -(counts / counts.sum()).log()[val_ids[1:]].mean().item()

    assert_hint(checks.bigram_baseline, unigram, "unigram loss", capsys)


def test_bigram_summed(capsys):
    def summed(train_ids, val_ids, vocab_size):
        return bigram_correct(train_ids, val_ids, vocab_size) * (len(val_ids) - 1)

    assert_hint(checks.bigram_baseline, summed, "not the sum", capsys)


def test_bigram_in_bits(capsys):
    def bits(train_ids, val_ids, vocab_size):
        return bigram_correct(train_ids, val_ids, vocab_size) / math.log(2)

    assert_hint(checks.bigram_baseline, bits, "in bits", capsys)


def test_bigram_returns_the_table(capsys):
    def table(train_ids, val_ids, vocab_size):
        return bigram_table(train_ids, vocab_size)

    assert_hint(checks.bigram_baseline, table, "return one number", capsys)
