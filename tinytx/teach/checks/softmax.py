"""Checkers for chapter 05, softmax."""

from __future__ import annotations

from collections.abc import Callable

import torch

from tinytx.nn.functional import softmax as reference_softmax
from tinytx.teach.checks.core import (
    CheckFailed,
    call,
    checker,
    close,
    expect_shape,
    show,
    wrong_dim,
)

__all__ = ["log_softmax", "masked_softmax", "softmax_backward"]


def _reference_log_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.log_softmax(x, dim=dim)


@checker("log_softmax")
def log_softmax(fn: Callable) -> str:
    """Check `fn(x, dim=-1)` against torch.log_softmax, hunting overflow,
    underflow, dims and keepdim."""
    small = torch.tensor([2.0, 1.0, 0.1])
    out = call(fn, small)
    expect_shape(out, small, "log_softmax(x)")
    if close(out, reference_softmax(small)):
        raise CheckFailed(
            "you returned probabilities; log_softmax returns their "
            "logarithms (all <= 0)"
        )
    if not close(out, _reference_log_softmax(small, -1)):
        raise CheckFailed(
            f"on x = {show(small)} expected {show(_reference_log_softmax(small, -1))}, "
            f"got {show(out)}. log_softmax(x)_i = x_i - log(sum_j exp(x_j))"
        )

    large = torch.tensor([1000.0, 1001.0, 1002.0])
    out = call(fn, large)
    if not torch.isfinite(out).all():
        raise CheckFailed(
            f"on x = {show(large)} you got {show(out)}: exp(1000) overflows float32 "
            "(above ~88.7). Subtract the max m first: log_softmax(x) = x - m - "
            "log(sum(exp(x - m)))"
        )
    if not close(out, _reference_log_softmax(large, -1)):
        raise CheckFailed(
            f"on x = {show(large)} expected {show(_reference_log_softmax(large, -1))}, "
            f"got {show(out)}"
        )

    tiny = torch.tensor([0.0, -200.0])
    out = call(fn, tiny)
    if torch.isneginf(out).any():
        raise CheckFailed(
            f"on x = {show(tiny)} you got {show(out)}, but the answer is "
            "[0.0, -200.0]. exp(-200) is 0 in float32 and log(0) = -inf: never take "
            "the log of probabilities; compute x - m - log(sum(exp(x - m))) directly"
        )
    if not close(out, _reference_log_softmax(tiny, -1)):
        raise CheckFailed(
            f"on x = {show(tiny)} expected {show(_reference_log_softmax(tiny, -1))}, "
            f"got {show(out)}"
        )

    rows = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -998.0]])
    out = call(fn, rows)
    expect_shape(out, rows, "log_softmax(x)")
    if not torch.isfinite(out).all():
        raise CheckFailed(
            "rows on very different scales gave inf or nan: you subtracted the max of "
            "the whole tensor. Take the max of each row: x.amax(dim=dim, keepdim=True)"
        )
    if not close(out, _reference_log_softmax(rows, -1)):
        raise CheckFailed(
            "on a (2, 3) batch, row by row, expected "
            f"{show(_reference_log_softmax(rows, -1))}, got {show(out)}"
        )

    generator = torch.Generator().manual_seed(0)
    for shape, dim in [((4, 4), -1), ((3, 4), 0), ((2, 3, 5), 1)]:
        x = 3 * torch.randn(shape, generator=generator)
        out = call(fn, x, dim=dim)
        expect_shape(out, x, f"log_softmax(x, dim={dim})")
        expected = _reference_log_softmax(x, dim)
        if close(out, expected):
            continue
        wrong_dim(out, lambda d, x=x: _reference_log_softmax(x, d), x, dim)
        sums_to_one = [
            d
            for d in range(x.ndim)
            if torch.allclose(out.exp().sum(d), torch.ones(()), atol=1e-4)
        ]
        if dim % x.ndim not in sums_to_one and sums_to_one:
            raise CheckFailed(
                f"on a {shape} tensor with dim={dim}, exp of your result sums to "
                f"1 along dim={sums_to_one[0]}, not along dim={dim}: a reduction "
                "(the sum of exp) runs over a fixed dimension. Use the `dim` argument "
                "in every reduction, the max and the sum"
            )
        if not sums_to_one:
            raise CheckFailed(
                f"on a {shape} tensor with dim={dim}, exp of your result does not "
                "sum to 1 along any dim. The usual cause: a max or sum without "
                "keepdim=True, which broadcasts along the wrong axis"
            )
        raise CheckFailed(
            f"on a {shape} tensor with dim={dim}, exp of your result sums to 1 along "
            f"dim={dim} but its values differ from torch.log_softmax: subtract the max "
            "taken over `dim` too, so the same m goes into x - m and into the sum"
        )
    return (
        "matches torch.log_softmax on 7 cases, finite for scores of ±1000 and exact "
        "where exp underflows."
    )


def _reference_masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    probs = reference_softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.where(mask.any(dim=-1, keepdim=True), probs, torch.zeros(()))


@checker("masked_softmax")
def masked_softmax(fn: Callable) -> str:
    """Check `fn(scores, mask)` (mask True = keep, softmax over the last
    dim; fully masked rows -> 0)."""
    scores = torch.tensor([[2.0, 1.0, 0.5, -1.0], [0.3, 2.0, -0.7, 1.2]])
    mask = torch.tensor([[True, True, False, False], [True, False, True, True]])
    out = call(fn, scores, mask)
    expect_shape(out, scores, "masked_softmax(scores, mask)")
    expected = _reference_masked_softmax(scores, mask)
    if not close(out, expected):
        if close(out, reference_softmax(scores)):
            raise CheckFailed(
                "the mask had no effect: set the scores where mask is False to "
                "float('-inf') before softmax"
            )
        if close(out, _reference_masked_softmax(scores, ~mask)):
            raise CheckFailed(
                "your mask is inverted: True means keep (may attend), False means mask "
                "out. Fill where ~mask"
            )
        if close(out, reference_softmax(scores.masked_fill(~mask, 0.0))):
            raise CheckFailed(
                "masked positions got probability > 0: you set their scores "
                "to 0 (or multiplied by the mask), and exp(0) = 1. Set them to "
                "float('-inf') instead, so exp gives exactly 0"
            )
        if (out[~mask] == 0).all() and not torch.allclose(out.sum(-1), torch.ones(())):
            raise CheckFailed(
                "masked positions are 0 but rows no longer sum to 1: you zeroed "
                "probabilities after softmax. Mask the scores before softmax so the "
                "kept ones renormalise"
            )
        raise CheckFailed(f"expected {show(expected)}, got {show(out)}")
    if (out[~mask] != 0).any():
        raise CheckFailed(
            "masked positions must be exactly 0, got tiny positive values: "
            "fill them with float('-inf') or a number low enough that exp gives "
            "exactly 0, such as -1e9"
        )

    large = torch.tensor([[1000.0, 1001.0, 5000.0]])
    large_mask = torch.tensor([[True, True, False]])
    out = call(fn, large, large_mask)
    if not torch.isfinite(out).all():
        raise CheckFailed(
            "scores of 1000 gave inf or nan: exp overflows float32 above ~88.7. "
            "Fill the masked scores, then subtract the max of each row (or call a "
            "stable softmax such as tinytx.softmax)"
        )
    if not close(out, _reference_masked_softmax(large, large_mask)):
        raise CheckFailed(
            f"on scores {show(large)} with mask {large_mask.tolist()} expected "
            f"{show(_reference_masked_softmax(large, large_mask))}, got {show(out)}"
        )

    empty_row = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [0.5, 0.5, 0.5]])
    empty_mask = torch.tensor(
        [[True, False, True], [False, False, False], [True, True, True]]
    )
    out = call(fn, empty_row, empty_mask)
    expect_shape(out, empty_row, "masked_softmax(scores, mask)")
    if out[1].isnan().any():
        raise CheckFailed(
            "a fully masked row gave nan: all its scores are -inf, its max is -inf and "
            "-inf - (-inf) = nan. Return zeros for rows with no kept position, e.g. "
            "torch.where(mask.any(-1, keepdim=True), probs, 0.0)"
        )
    if torch.allclose(out[1], torch.full((3,), 1 / 3)):
        raise CheckFailed(
            "a fully masked row came out uniform (1/3 each): filling with a finite "
            "number such as -1e9 hides the problem. Such a row has nothing to attend "
            "to; return zeros for it"
        )
    if not close(out, _reference_masked_softmax(empty_row, empty_mask)):
        raise CheckFailed(
            "with one fully masked row, expected "
            f"{show(_reference_masked_softmax(empty_row, empty_mask)[1])} for it and "
            "the other rows as usual, got something else"
        )

    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(2, 5, 5, generator=generator)
    causal = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    out = call(fn, batch, causal)
    expect_shape(
        out,
        batch,
        "masked_softmax(scores, mask) with a (5, 5) mask on (2, 5, 5) scores",
    )
    if not close(out, _reference_masked_softmax(batch, causal)):
        raise CheckFailed(
            "a (5, 5) causal mask on (2, 5, 5) scores should broadcast over the batch; "
            "use operations that broadcast (masked_fill, where) rather than indexing"
        )
    return (
        "exact zeros where masked, rows sum to 1, fully masked rows give zeros, "
        "causal masks broadcast."
    )


def _reference_softmax_backward(
    probs: torch.Tensor, grad_probs: torch.Tensor, dim: int
) -> torch.Tensor:
    """Gradient of a loss with respect to the logits, by
    autograd through tinytx.softmax."""
    logits = probs.log().requires_grad_(True)
    reference_softmax(logits, dim=dim).backward(grad_probs)
    return logits.grad


@checker("softmax_backward")
def softmax_backward(fn: Callable) -> str:
    """Check `fn(probs, grad_probs, dim=-1)` (vector-Jacobian product of
    softmax) against autograd."""
    generator = torch.Generator().manual_seed(0)
    probs = reference_softmax(torch.tensor([2.0, 1.0, 0.1, -0.5]))
    grad_probs = torch.tensor([1.0, -2.0, 0.5, 3.0])
    out = call(fn, probs, grad_probs)
    expect_shape(out, probs, "softmax_backward(probs, grad_probs)")
    expected = _reference_softmax_backward(probs, grad_probs, -1)
    if not close(out, expected):
        if close(out, probs * (1 - probs) * grad_probs):
            raise CheckFailed(
                "you kept only the diagonal of the Jacobian, p_i (1 - p_i). "
                "Every p_j depends on every x_i: grad_x = p * (g - sum(g * p)), "
                "the sum taken along dim"
            )
        if close(out, -expected):
            raise CheckFailed(
                "the sign is flipped: grad_x = p * (g - sum(g * p)), not "
                "p * (sum(g * p) - g)"
            )
        if close(out, grad_probs - (grad_probs * probs).sum()):
            raise CheckFailed(
                "you forgot the leading factor p: grad_x = p * (g - sum(g * p))"
            )
        raise CheckFailed(
            f"with p = {show(probs)} and g = {show(grad_probs)} expected "
            f"{show(expected)}, got {show(out)}"
        )

    for shape, dim in [((4, 4), -1), ((3, 4), 0), ((2, 3, 5), 1)]:
        probs = reference_softmax(2 * torch.randn(shape, generator=generator), dim=dim)
        grad_probs = torch.randn(shape, generator=generator)
        out = call(fn, probs, grad_probs, dim=dim)
        expect_shape(out, probs, f"softmax_backward(probs, grad_probs, dim={dim})")
        if close(out, _reference_softmax_backward(probs, grad_probs, dim)):
            continue
        sums = {
            other: (
                probs * (grad_probs - (grad_probs * probs).sum(other, keepdim=True))
            )
            for other in range(len(shape))
        }
        wrong_dim(out, sums.__getitem__, probs, dim)
        raise CheckFailed(
            f"on a {shape} tensor with dim={dim} your gradient differs from autograd. "
            "Is the sum along dim taken with keepdim=True, so that it broadcasts "
            "back over that dimension?"
        )
    return (
        "matches autograd on 4 cases: the backward pass of softmax, without "
        "building the Jacobian."
    )
