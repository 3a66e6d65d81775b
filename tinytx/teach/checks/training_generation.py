"""Checkers for chapter 09, training and generation."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from tinytx.config import GPTConfig
from tinytx.data import count_baselines
from tinytx.generate import filter_logits
from tinytx.model import GPT
from tinytx.nn.functional import softmax as reference_softmax
from tinytx.teach.checks.core import (
    CheckFailed,
    call,
    call_for_number,
    checker,
    close,
    run,
    show,
)
from tinytx.train import learning_rate as reference_learning_rate

__all__ = [
    "train_step",
    "lr_schedule",
    "bigram_baseline",
    "top_k_filter",
    "nucleus_probs",
]


# -------------------------------------------------------- one training step


def _tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(11, (4, 9), generator=generator)
    return ids[:, :-1], ids[:, 1:]


def _run_step(
    fn: Callable, *, stale: bool, grad_clip: float
) -> tuple[GPT, object, float]:
    """Run the reader's step on a fresh tiny model with plain SGD; stale
    gradients left in .grad if asked."""
    model = _tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    if stale:
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.3)
    x, y = _batch()
    with torch.no_grad():
        loss_before = model(x, y)[1].item()
    out = run(fn, model, optimizer, x, y, grad_clip)
    return model, out, loss_before


def _reference_params(
    *, stale_grads: bool, clip: bool, grad_clip: float
) -> list[torch.Tensor]:
    model = _tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = _batch()
    _, loss = model(x, y)
    loss.backward()
    if stale_grads:
        for p in model.parameters():
            p.grad += 0.3
    if clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def _same(model: GPT, params: list[torch.Tensor]) -> bool:
    return all(
        torch.allclose(p, q, rtol=1e-4, atol=1e-6)
        for p, q in zip(model.parameters(), params)
    )


@checker("train_step")
def train_step(fn: Callable) -> str:
    """Check `fn(model, optimizer, x, y, grad_clip) -> loss (float)`: zero_grad,
    forward, backward, clip, step."""
    grad_clip = 0.05  # small, so that clipping always changes the update
    model, out, loss_before = _run_step(fn, stale=False, grad_clip=grad_clip)
    untouched = _tiny_model()
    if _same(model, [p.detach() for p in untouched.parameters()]):
        raise CheckFailed(
            "the parameters did not change. Is optimizer.step() missing, or did "
            "optimizer.zero_grad() come after loss.backward() (wiping the gradients "
            "before the step used them)?"
        )
    if _same(
        model, _reference_params(stale_grads=False, clip=False, grad_clip=grad_clip)
    ):
        raise CheckFailed(
            "the update was not clipped: call "
            "nn.utils.clip_grad_norm_(model.parameters(), grad_clip) after "
            "loss.backward() and before optimizer.step() (clipping after the step is "
            "too late: the step already used the raw gradients)"
        )
    if not _same(
        model, _reference_params(stale_grads=False, clip=True, grad_clip=grad_clip)
    ):
        raise CheckFailed(
            "the parameters after your step differ from zero_grad, forward, "
            "backward, clip, step"
        )
    if isinstance(out, torch.Tensor):
        if out.requires_grad or out.numel() != 1:
            raise CheckFailed(
                "return the loss as a Python float (loss.item()), not the tensor: "
                "a kept tensor keeps the whole graph of the step alive"
            )
        out = out.item()
    if not isinstance(out, (int, float)) or not math.isclose(
        out, loss_before, rel_tol=1e-4
    ):
        raise CheckFailed(
            f"return the loss of this batch before the step ({loss_before:.4f}), "
            f"got {out!r}"
        )

    model, _, _ = _run_step(fn, stale=True, grad_clip=grad_clip)
    if _same(
        model, _reference_params(stale_grads=True, clip=True, grad_clip=grad_clip)
    ):
        raise CheckFailed(
            "gradients from the previous step leaked into this one: PyTorch adds into "
            ".grad, so call optimizer.zero_grad() before loss.backward() in every step"
        )
    if not _same(
        model, _reference_params(stale_grads=False, clip=True, grad_clip=grad_clip)
    ):
        raise CheckFailed(
            "with gradients left over from an earlier step your update came out wrong; "
            "call optimizer.zero_grad() before loss.backward()"
        )
    return (
        "zero_grad, forward, backward, clip, step, in that order, and the loss "
        "returned as a float."
    )


# -------------------------------------------------------- the learning-rate schedule


@checker("lr_schedule")
def lr_schedule(fn: Callable) -> str:
    """Check `fn(step, lr, steps, warmup_steps, min_lr)` against
    tinytx.train.learning_rate."""
    lr, steps, warmup, min_lr = 1e-2, 100, 10, 1e-3

    def reference(step: int) -> float:
        return reference_learning_rate(
            step, lr=lr, steps=steps, warmup_steps=warmup, min_lr=min_lr
        )

    def theirs(step: int) -> float:
        try:
            value = fn(step, lr, steps, warmup, min_lr)
        except NotImplementedError:
            raise
        except Exception as error:
            raise CheckFailed(
                f"your function raised {type(error).__name__}: {error}"
            ) from None
        if torch.is_tensor(value):
            value = value.item()
        if not isinstance(value, (int, float)):
            raise CheckFailed(
                f"return a number (the learning rate), got {type(value).__name__}"
            )
        return float(value)

    got0 = theirs(0)
    if got0 == 0:
        raise CheckFailed(
            "the learning rate at step 0 is 0, so the first step does nothing: "
            "warm up with lr * (step + 1) / warmup_steps, which reaches lr exactly "
            "at step warmup_steps - 1"
        )
    for step in range(warmup):
        if not math.isclose(theirs(step), reference(step), rel_tol=1e-6):
            raise CheckFailed(
                f"during warmup, step {step} should have lr = {reference(step):.6g}, "
                f"got {theirs(step):.6g}: a linear ramp lr * (step + 1) / warmup_steps"
            )
    end = theirs(steps - 1)
    final = theirs(steps + 5)
    if math.isclose(final, 0.0, abs_tol=1e-12) or end < min_lr * 0.99:
        raise CheckFailed(
            f"the schedule decays below min_lr ({min_lr}): the cosine goes from lr "
            "down to min_lr, min_lr + 0.5 * (lr - min_lr) * (1 + cos(pi * progress)), "
            "not down to 0"
        )
    if not math.isclose(final, min_lr, rel_tol=1e-6):
        raise CheckFailed(
            f"after the last step the lr should stay at min_lr = {min_lr}, got "
            f"{final:.6g}: clamp progress to 1 (min(progress, 1.0))"
        )
    for step in range(warmup, steps):
        if not math.isclose(theirs(step), reference(step), rel_tol=1e-6):
            wrong_progress = min_lr + 0.5 * (lr - min_lr) * (
                1 + math.cos(math.pi * step / steps)
            )
            if math.isclose(theirs(step), wrong_progress, rel_tol=1e-6):
                raise CheckFailed(
                    "the cosine should start where warmup ends: progress = "
                    "(step - warmup_steps) / (steps - warmup_steps), not step / steps"
                )
            raise CheckFailed(
                f"at step {step} expected lr = {reference(step):.6g}, got "
                f"{theirs(step):.6g}"
            )
    return (
        "linear warmup to lr, cosine decay to min_lr, flat after the end: "
        "equal to tinytx's schedule."
    )


# -------------------------------------------------------- the bigram baseline


def _bigram_table(ids: torch.Tensor, V: int, add: float = 1.0) -> torch.Tensor:
    """(V, V) counts of each (previous, next) pair in ids, plus `add`."""
    counts = torch.full((V, V), add)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1), accumulate=True)
    return counts


def _bigram_mistakes(
    train: torch.Tensor, val: torch.Tensor, V: int
) -> list[tuple[float, str]]:
    """(value, hint) for the usual ways of getting the bigram baseline wrong."""
    prev, nxt = val[:-1], val[1:]
    counts = _bigram_table(train, V)
    rows = counts / counts.sum(dim=1, keepdim=True)
    unigram = torch.bincount(train, minlength=V).float()
    return [
        (
            -(counts / counts.sum(dim=0, keepdim=True)).log()[prev, nxt].mean().item(),
            "each column sums to 1, not each row: the row is the previous character, "
            "so divide counts by counts.sum(dim=1, keepdim=True)",
        ),
        (
            -rows.T.log()[prev, nxt].mean().item(),
            "the table is read the wrong way round: with rows for the previous "
            "character, the pair (a, b) is probs[a, b], that is "
            "probs[val_ids[:-1], val_ids[1:]]",
        ),
        (
            -(counts / counts.sum()).log()[prev, nxt].mean().item(),
            "you divided by the sum of the whole table, which gives P(a, b), the "
            "probability of the pair; the model needs P(b | a): divide each row by "
            "its own sum",
        ),
        (
            -rows.log()[train[:-1], train[1:]].mean().item(),
            "that is the loss on the training ids; count on train_ids, then score "
            "val_ids",
        ),
        (
            -(unigram / unigram.sum()).log()[nxt].mean().item(),
            "that is the unigram loss: each character's probability must depend on "
            "the previous one, P(b | a) from the counts of pairs",
        ),
        (
            -rows.log()[prev, nxt].sum().item(),
            "return the mean loss per predicted character, not the sum",
        ),
        (
            -rows.log()[prev, nxt].mean().item() / math.log(2),
            "that is in bits (log base 2); the book measures losses in nats: use the "
            "natural log, .log()",
        ),
    ]


@checker("bigram_baseline")
def bigram_baseline(fn: Callable) -> str:
    """Check `fn(train_ids, val_ids, vocab_size) -> float`: the validation
    cross-entropy (nats) of the add-one smoothed bigram model counted on train_ids."""
    g = torch.Generator().manual_seed(0)
    V = 6
    # a text where the previous token matters: each token is the previous one plus
    # 1 (80%) or plus 2, modulo V; training and validation continue the same walk
    walk = (1 + (torch.rand(440, generator=g) > 0.8).long()).cumsum(0) % V
    train = walk[:400]
    # the validation text also repeats a token, a pair that training never saw
    val = torch.cat([walk[400:], walk[-1:]])
    unseen = int((_bigram_table(train, V, add=0.0)[val[:-1], val[1:]] == 0).sum())
    assert unseen > 0  # the case needs a pair that smoothing must rescue
    expected = count_baselines(train, val, V)["bigram"]
    out = call_for_number(fn, train.clone(), val.clone(), V)
    if math.isclose(out, expected, rel_tol=1e-5):
        return (
            f"{out:.4f} nats on a {V}-token text whose validation part holds a pair "
            "training never saw: the add-one bigram baseline."
        )
    if not math.isfinite(out):
        raise CheckFailed(
            f"got {out}: a pair of the validation ids never occurs in the training "
            "ids, so its count is 0, its probability 0 and its loss infinite. Start "
            "every count at 1 (add-one smoothing): torch.ones(V, V)"
        )
    for value, hint in _bigram_mistakes(train, val, V):
        if math.isclose(out, value, rel_tol=1e-5):
            raise CheckFailed(hint)
    raise CheckFailed(
        f"expected {expected:.4f} nats, got {out:.4f}. Count each pair "
        "(train_ids[i], train_ids[i + 1]) starting from 1, divide each row by its "
        "sum, and average -log P(val_ids[i + 1] | val_ids[i]) over the validation pairs"
    )


# -------------------------------------------------------- top-k filtering


@checker("top_k_filter")
def top_k_filter(fn: Callable) -> str:
    """Check `fn(logits, k)` (B, V) -> (B, V): the k largest logits
    kept, the others set to -inf."""
    logits = torch.tensor(
        [[1.0, 3.0, -0.5, 2.0, 0.0, 2.5], [0.2, -1.0, 4.0, 1.0, 3.0, -2.0]]
    )
    for k in (1, 2, 3, 6):
        out = call(fn, logits, k)
        expected = filter_logits(logits, top_k=k)
        if out.shape != logits.shape:
            raise CheckFailed(
                f"return logits of the input's shape {tuple(logits.shape)} with "
                f"-inf where filtered, got shape {tuple(out.shape)} (did you return "
                "only the top k values?)"
            )
        if torch.equal(torch.isinf(out), torch.isinf(expected)) and close(
            out, expected
        ):
            continue
        kept = torch.isfinite(out).sum(-1)
        if close(out, reference_softmax(expected)):
            raise CheckFailed(
                "return filtered logits (with -inf), not probabilities; "
                "the softmax comes afterwards"
            )
        if (out == 0).any() and not torch.isinf(out).any():
            raise CheckFailed(
                "filtered logits must be float('-inf'), not 0: a logit of 0 still gets "
                "probability exp(0) / Z > 0 after the softmax"
            )
        whole = logits.masked_fill(
            logits < torch.topk(logits.flatten(), k).values[-1], float("-inf")
        )
        if torch.equal(torch.isinf(out), torch.isinf(whole)):
            raise CheckFailed(
                f"with k = {k} you kept the k largest logits of the whole batch. "
                "Take the threshold per row (dim=-1): each row is its own distribution"
            )
        if (kept == k + 1).all():
            raise CheckFailed(
                f"with k = {k} you kept {k + 1} tokens per row: the threshold is the "
                "k-th largest value, torch.topk(logits, k).values[..., -1:], kept with "
                ">=, or index [k - 1] of a descending sort, not [k]"
            )
        smallest = -filter_logits(-logits, top_k=k)
        if (
            torch.equal(torch.isinf(out), torch.isinf(smallest))
            and k < logits.shape[-1]
        ):
            raise CheckFailed(
                "you kept the k smallest logits: sort in descending order "
                "(torch.sort(..., descending=True) or torch.topk, which is descending)"
            )
        if (kept == k).all() and not torch.equal(
            torch.isinf(out), torch.isinf(expected)
        ):
            raise CheckFailed(
                f"with k = {k} you kept {k} tokens per row, but not the largest ones. "
                "Take the threshold per row (dim=-1), not over the whole batch"
            )
        raise CheckFailed(
            f"with k = {k} on {show(logits[0])} expected {show(expected[0])}, "
            f"got {show(out[0])}"
        )
    return "keeps exactly the k largest logits of each row and sets the others to -inf."


# -------------------------------------------------------- top-p (nucleus) probabilities


@checker("nucleus_probs")
def nucleus_probs(fn: Callable) -> str:
    """Check `fn(logits, top_p, temperature=1.0)` (B, V) -> probs (B, V):
    tempered nucleus, renormalised."""
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 0.5], [0.0, 3.0, 2.9, -2.0, 1.0]])
    probs = reference_softmax(logits)
    for top_p in (0.5, 0.8, 0.95):
        out = call(fn, logits, top_p)
        expected = reference_softmax(filter_logits(logits, top_p=top_p))
        if out.shape != logits.shape:
            raise CheckFailed(
                f"return probabilities of the input's shape {tuple(logits.shape)}, "
                f"got {tuple(out.shape)}"
            )
        if close(out, expected):
            continue
        if torch.isinf(out).any() or (out < 0).any():
            raise CheckFailed(
                "return probabilities (zeros outside the nucleus, summing to 1), "
                "not filtered logits"
            )
        kept_mass = torch.where(out > 0, probs, torch.zeros(())).sum(-1)
        if close(out, torch.where(expected > 0, probs, torch.zeros(()))):
            raise CheckFailed(
                f"with top_p = {top_p} your rows sum to {show(out.sum(-1))}, not 1: "
                "after zeroing the tokens outside the nucleus, divide by the kept "
                "mass (renormalise)"
            )
        if (kept_mass < top_p - 1e-6).any():
            raise CheckFailed(
                f"with top_p = {top_p} your nucleus holds only {show(kept_mass)} of "
                "the probability: you dropped the token that crosses top_p. Keep a "
                "token if the mass ranked BEFORE it is < top_p (cumsum - p < top_p), "
                "so the kept mass reaches top_p"
            )
        if ((out > 0).sum(-1) > (expected > 0).sum(-1)).any():
            raise CheckFailed(
                f"with top_p = {top_p} you kept more tokens than needed: the nucleus "
                "is the SMALLEST set of most likely tokens whose mass reaches top_p. "
                "Sort descending before the cumsum"
            )
        raise CheckFailed(
            f"with top_p = {top_p} on {show(logits[0])} expected {show(expected[0])}, "
            f"got {show(out[0])}"
        )
    out = call(fn, logits, 1.0)
    if not close(out, probs):
        raise CheckFailed(
            "top_p = 1.0 must keep every token and return softmax(logits)"
        )
    for temperature in (0.5, 2.0):
        out = call(fn, logits, 1.0, temperature=temperature)
        expected = reference_softmax(logits, temperature=temperature)
        if close(out, expected):
            continue
        if close(out, probs):
            raise CheckFailed(
                f"temperature {temperature} changed nothing: dividing the "
                "probabilities by T and renormalising cancels out. Temperature divides "
                "the LOGITS, before the softmax: softmax(logits / T)"
            )
        if close(out, reference_softmax(logits * temperature)):
            raise CheckFailed(
                "you multiplied the logits by the temperature; divide them: "
                "softmax(logits / T), so that T < 1 sharpens and T > 1 flattens"
            )
        raise CheckFailed(
            f"with temperature {temperature} and top_p = 1 expected "
            f"{show(expected[0])}, got {show(out[0])}"
        )
    return (
        "the smallest set of likely tokens reaching top_p, renormalised, with "
        "temperature on the logits."
    )
