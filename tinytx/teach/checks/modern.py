"""Checkers for chapter 11, the modern Transformer: RMSNorm, RoPE, repeated KV heads."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tinytx.teach.checks.core import (
    CheckFailed,
    call,
    checker,
    close,
    expect_shape,
    show,
)

__all__ = ["apply_rope", "repeat_kv", "rms_norm"]


def _rms(x: torch.Tensor, eps: float, *, eps_inside: bool = True) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the last dim (or with eps outside the root)."""
    mean_square = x.pow(2).mean(dim=-1, keepdim=True)
    if eps_inside:
        return x / torch.sqrt(mean_square + eps)
    return x / (torch.sqrt(mean_square) + eps)


@checker("rms_norm")
def rms_norm(fn: Callable) -> str:
    """Check `fn(x, weight, eps)` against torch.nn.functional.rms_norm over the
    last dim."""
    generator = torch.Generator().manual_seed(0)
    eps = 1e-5
    x = 2 * torch.randn(3, 4, generator=generator) + 1  # a mean far from 0
    weight = 1 + 0.5 * torch.randn(4, generator=generator)
    out = call(fn, x, weight, eps)
    expect_shape(out, x, "rms_norm(x, weight, eps)")
    expected = torch.nn.functional.rms_norm(x, (4,), weight, eps)
    if not close(out, expected):
        centred = x - x.mean(dim=-1, keepdim=True)
        if close(out, _rms(x, eps)):
            raise CheckFailed(
                "the weight is missing: return x / rms * weight (the learned gain)"
            )
        if close(out, _rms(centred, eps) * weight):
            raise CheckFailed(
                "you subtracted the mean first: that is LayerNorm without a bias. "
                "RMSNorm does not centre; it divides x itself by "
                "sqrt(mean(x ** 2) + eps)"
            )
        if close(out, x / (x.mean(dim=-1, keepdim=True) + eps) * weight) or close(
            out, x / torch.sqrt(x.mean(dim=-1, keepdim=True).abs() + eps) * weight
        ):
            raise CheckFailed(
                "you divided by the mean of x, not by its root mean square: square "
                "first, average, then take the root: sqrt(x.pow(2).mean(-1) + eps)"
            )
        if close(out, x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * weight):
            raise CheckFailed(
                "you divided by the length sqrt(sum(x ** 2)), not the root *mean* "
                "square: use x.pow(2).mean(dim=-1, keepdim=True), which divides by d"
            )
        if close(out, x / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight) or close(
            out,
            x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps) * weight,
        ):
            raise CheckFailed(
                "you divided by the standard deviation, which subtracts the mean "
                "inside: RMSNorm divides by sqrt(mean(x ** 2) + eps), no mean taken out"
            )
        if close(out, _rms(x.T, eps).T * weight[None, :]) or close(
            out, x / torch.sqrt(x.pow(2).mean(0, keepdim=True) + eps) * weight
        ):
            raise CheckFailed(
                "you averaged over the batch (dim=0); each row (one token's vector) "
                "is normalised on its own: mean over dim=-1, keepdim=True"
            )
        raise CheckFailed(
            "on a (3, 4) input your result differs from "
            f"torch.nn.functional.rms_norm: expected {show(expected[0])} in the first "
            f"row, got {show(out[0])}"
        )

    quiet = 1e-3 * torch.randn(2, 8, generator=generator)
    ones = torch.ones(8)
    out = call(fn, quiet, ones, eps)
    if not close(out, torch.nn.functional.rms_norm(quiet, (8,), ones, eps)):
        if close(out, _rms(quiet, eps, eps_inside=False)):
            raise CheckFailed(
                "eps is outside the square root: x / (sqrt(mean(x ** 2)) + eps). On a "
                "vector this small (mean square about "
                f"{quiet.pow(2).mean().item():.0e}) that differs; write "
                "x / sqrt(mean(x ** 2) + eps)"
            )
        if close(out, _rms(quiet, 0.0)):
            raise CheckFailed(
                "eps is missing: a vector near zero is blown up to unit size. Add eps "
                "to the mean square, inside the square root"
            )
        raise CheckFailed(
            "on rows with very small values your result differs from "
            "torch.nn.functional.rms_norm. Is eps added to the mean square, inside "
            "the square root?"
        )
    out = call(fn, quiet, ones, 1e-2)
    if not close(out, torch.nn.functional.rms_norm(quiet, (8,), ones, 1e-2)):
        raise CheckFailed(
            "with eps=1e-2 your result is wrong: use the `eps` argument, not a fixed "
            "1e-5"
        )

    x = torch.randn(2, 5, 6, generator=generator)
    weight = 1 + 0.5 * torch.randn(6, generator=generator)
    out = call(fn, x, weight, eps)
    expect_shape(out, x, "rms_norm(x, weight, eps) on a (2, 5, 6) input")
    if not close(out, torch.nn.functional.rms_norm(x, (6,), weight, eps)):
        raise CheckFailed(
            "on a (B, T, C) = (2, 5, 6) input your result is wrong: reduce over "
            "dim=-1 (the last), with keepdim=True"
        )
    return (
        "matches torch.nn.functional.rms_norm: no mean taken out, root of the mean "
        "square over the last dim, eps inside the root, a gain and no bias."
    )


def _angles(positions: torch.Tensor, d: int, *, step: int = 2) -> torch.Tensor:
    """(T, d/2) angles pos * theta_i, theta_i = 10000^(-step*i/d) (step 2: RoPE's)."""
    i = torch.arange(d // 2, dtype=torch.float32)
    theta = torch.exp(-math.log(10000.0) * step * i / d)
    return positions.float()[:, None] * theta


def _rotate(x: torch.Tensor, angles: torch.Tensor, *, halves: bool = False):
    """Rotate pairs of x (..., T, d): (2i, 2i+1), or (i, i + d/2) with halves."""
    cos, sin = angles.cos(), angles.sin()
    if halves:
        first, second = x.chunk(2, dim=-1)
        return torch.cat((first * cos - second * sin, first * sin + second * cos), -1)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return out.flatten(-2)


@checker("apply_rope")
def apply_rope(fn: Callable) -> str:
    """Check `fn(x, positions)`: x (..., T, d), positions (T,) -> x with each pair
    (2i, 2i + 1) turned by positions[t] / 10000^(2i/d)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 8, generator=generator)  # (B, H, T, d_head)
    positions = torch.tensor([0, 1, 2, 7, 12])
    out = call(fn, x, positions)
    expect_shape(out, x, "apply_rope(x, positions)")
    angles = _angles(positions, 8)
    expected = _rotate(x, angles)
    if close(out, expected):
        out = call(fn, x[0, 0], positions)
        if not close(out, expected[0, 0]):
            raise CheckFailed(
                "a (T, d) input fails where (B, H, T, d) passed: index the last "
                "dimension with x[..., 0::2], not x[:, :, :, 0::2]"
            )
        return (
            "rotates each pair (2i, 2i + 1) by position * 10000^(-2i/d), the "
            "sinusoids of chapter 3, and keeps every vector's length."
        )
    if close(out, x):
        raise CheckFailed("your output is the input unchanged: rotate each pair")
    if close(out, _rotate(x, angles, halves=True)):
        raise CheckFailed(
            "you paired column i with column i + d/2 (the 'rotate half' layout of "
            "GPT-NeoX and Hugging Face). This chapter pairs neighbours: columns 2i "
            "and 2i + 1, x[..., 0::2] with x[..., 1::2]"
        )
    if close(out, _rotate(x, -angles)):
        raise CheckFailed(
            "you rotated the wrong way (by -angle): the new even entry is "
            "x_even * cos - x_odd * sin, the new odd one x_even * sin + x_odd * cos"
        )
    if close(out, _rotate(x, _angles(torch.arange(5), 8))):
        raise CheckFailed(
            "you used positions 0, 1, ..., T - 1 instead of the `positions` "
            "argument (here [0, 1, 2, 7, 12])"
        )
    if close(out, _rotate(x, _angles(positions, 8, step=1))):
        raise CheckFailed(
            "your frequencies are 10000^(-i/d); pair i turns at 10000^(-2i/d), as "
            "column 2i of the sinusoidal table"
        )
    table = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
    if close(out, x + table) or close(out, x * table):
        raise CheckFailed(
            "you added (or multiplied) the sinusoidal table: RoPE *rotates* each pair "
            "by its angle, (a, b) -> (a cos - b sin, a sin + b cos)"
        )
    raise CheckFailed(
        "on x of shape (2, 3, 5, 8) your result differs from the rotation: expected "
        f"{show(expected[0, 0, 1])} at position 1, got {show(out[0, 0, 1])}"
    )


@checker("repeat_kv")
def repeat_kv(fn: Callable) -> str:
    """Check `fn(kv, n_rep)`: (B, H_kv, T, d) -> (B, H_kv * n_rep, T, d), each key or
    value head repeated for n_rep neighbouring query heads."""
    # head h holds the number h everywhere: the order of the output is visible
    kv = torch.arange(3.0)[None, :, None, None].expand(2, 3, 4, 5).clone()
    kv = kv + 0.01 * torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    out = call(fn, kv, 2)
    expected = kv.repeat_interleave(2, dim=1)
    if out.shape != expected.shape:
        raise CheckFailed(
            f"a (2, 3, 4, 5) input with n_rep=2 must give {tuple(expected.shape)}, "
            f"got {tuple(out.shape)}: repeat the heads, dim=1, not the positions or "
            "the batch"
        )
    if not close(out, expected):
        if close(out, kv.repeat(1, 2, 1, 1)):
            order = [round(h) for h in out[0, :, 0, 0].tolist()]
            raise CheckFailed(
                f"your heads come out in the order {order}: .repeat tiles the whole "
                "axis. Query heads 0 and 1 share KV head 0, so each head must repeat "
                "in place: kv.repeat_interleave(n_rep, dim=1)"
            )
        raise CheckFailed(
            "the heads are not repeated in place: with n_rep=2, heads [0, 1, 2] "
            f"become [0, 0, 1, 1, 2, 2]; got {show(out[0, :, 0, 0])} for the first "
            "entry of each head"
        )
    out = call(fn, kv, 1)
    if not close(out, kv):
        raise CheckFailed("with n_rep=1 (plain multi-head attention) return kv as is")
    out = call(fn, kv[:, :1], 3)
    if not close(out, kv[:, :1].expand(2, 3, 4, 5)):
        raise CheckFailed(
            "with one KV head and n_rep=3 (multi-query attention) every query head "
            "must get that one head"
        )
    return (
        "each key/value head serves n_rep neighbouring query heads, "
        "as repeat_interleave(n_rep, dim=1)."
    )
