"""The chapter 11 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_hint, assert_passes  # tests/checker_helpers.py

from tinytx.nn.attention import repeat_kv_heads
from tinytx.nn.positional import RotaryPositionalEmbedding, apply_rotary
from tinytx.teach import checks

# -------------------------------------------------------- rms_norm


def rms_norm_correct(x, weight, eps):
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def test_rms_norm_accepts_correct_code(capsys):
    assert_passes(checks.rms_norm, rms_norm_correct, capsys)
    assert_passes(
        checks.rms_norm,
        lambda x, w, eps: torch.nn.RMSNorm(x.shape[-1], eps=eps)(x) * w,
        capsys,
    )


def _ms(x, dim=-1):
    return x.pow(2).mean(dim=dim, keepdim=True)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda x, w, eps: x / torch.sqrt(_ms(x) + eps), "the weight is missing"),
        (
            lambda x, w, eps: rms_norm_correct(x - x.mean(-1, keepdim=True), w, eps),
            "you subtracted the mean first",
        ),
        (
            lambda x, w, eps: x / (x.mean(-1, keepdim=True) + eps) * w,
            "you divided by the mean of x",
        ),
        (
            lambda x, w, eps: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w,
            "root *mean* square",
        ),
        (
            lambda x, w, eps: x / torch.sqrt(x.var(-1, keepdim=True) + eps) * w,
            "divided by the standard deviation",
        ),
        (
            lambda x, w, eps: x / torch.sqrt(_ms(x, 0) + eps) * w,
            "you averaged over the batch",
        ),
        (lambda x, w, eps: x / (_ms(x).sqrt() + eps) * w, "eps is outside the square"),
        (lambda x, w, eps: x / _ms(x).sqrt() * w, "eps is missing"),
        (lambda x, w, eps: rms_norm_correct(x, w, 1e-5), "use the `eps` argument"),
        (
            lambda x, w, eps: (
                x / torch.sqrt(_ms(x, 1) + eps) * w
                if x.ndim == 3
                else rms_norm_correct(x, w, eps)
            ),
            "reduce over dim=-1",
        ),
        (lambda x, w, eps: x.mean(-1), "must have the input's shape"),
    ],
)
def test_rms_norm_hints(mistake, hint, capsys):
    assert_hint(checks.rms_norm, mistake, hint, capsys)


# -------------------------------------------------------- apply_rope


def apply_rope_correct(x, positions):
    d = x.shape[-1]
    theta = 10000.0 ** (-torch.arange(0, d, 2).float() / d)
    angles = positions.float()[:, None] * theta  # (T, d/2)
    even, odd = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack(
        (
            even * angles.cos() - odd * angles.sin(),
            even * angles.sin() + odd * angles.cos(),
        ),
        dim=-1,
    )
    return rotated.flatten(-2)


def apply_rope_tinytx_pieces(x, positions):
    """tinytx's apply_rotary with its tables, as a reader might wrap them."""
    cos, sin = RotaryPositionalEmbedding(int(positions.max()) + 1, x.shape[-1])(
        positions
    )
    return apply_rotary(x, cos, sin)


def test_apply_rope_accepts_correct_code(capsys):
    assert_passes(checks.apply_rope, apply_rope_correct, capsys)


def test_apply_rope_refuses_tinytx_own_rotation(capsys):
    """tinytx's apply_rotary passed as it is is refused, as in every chapter."""
    from checker_helpers import run

    passed, printed = run(checks.apply_rope, apply_rotary, capsys)
    assert not passed and "tinytx's own" in printed


def _halves(x, positions):
    d = x.shape[-1]
    theta = 10000.0 ** (-torch.arange(0, d, 2).float() / d)
    angles = positions.float()[:, None] * theta
    a, b = x.chunk(2, dim=-1)
    return torch.cat(
        (a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), -1
    )


def _wrong_freq(x, positions):
    d = x.shape[-1]
    angles = positions.float()[:, None] * 10000.0 ** (-torch.arange(d // 2) / d)
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = angles.cos(), angles.sin()
    return torch.stack((even * c - odd * s, even * s + odd * c), -1).flatten(-2)


def _added(x, positions):
    d = x.shape[-1]
    angles = positions.float()[:, None] * 10000.0 ** (-torch.arange(0, d, 2) / d)
    return x + torch.stack((angles.sin(), angles.cos()), -1).flatten(-2)


def _fixed_rank(x, positions):
    even, odd = x[:, :, :, 0::2], x[:, :, :, 1::2]
    d = x.shape[-1]
    angles = positions.float()[:, None] * 10000.0 ** (-torch.arange(0, d, 2) / d)
    c, s = angles.cos(), angles.sin()
    return torch.stack((even * c - odd * s, even * s + odd * c), -1).flatten(-2)


def _fixed_rank_or_raise(x, positions):
    return _fixed_rank(x, positions) if x.ndim == 4 else x * 0


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda x, p: x.clone(), "input unchanged"),
        (_halves, "rotate half"),
        (lambda x, p: apply_rope_correct(x, -p), "the wrong way"),
        (
            lambda x, p: apply_rope_correct(x, torch.arange(x.shape[-2])),
            "instead of the `positions`",
        ),
        (_wrong_freq, "10000^(-i/d)"),
        (_added, "RoPE *rotates*"),
        (_fixed_rank_or_raise, "a (T, d) input fails"),
        (lambda x, p: x[..., :4], "must have the input's shape"),
        (lambda x, p: 2 * apply_rope_correct(x, p), "differs from the rotation"),
    ],
)
def test_apply_rope_hints(mistake, hint, capsys):
    assert_hint(checks.apply_rope, mistake, hint, capsys)


def test_apply_rope_reference_is_tinytx_rotation():
    """The checker's notion of RoPE is tinytx's: the test's solution agrees."""
    x = torch.randn(2, 3, 5, 8)
    positions = torch.tensor([0, 1, 2, 7, 12])
    torch.testing.assert_close(
        apply_rope_correct(x, positions), apply_rope_tinytx_pieces(x, positions)
    )
    assert math.isclose(
        apply_rope_correct(x, positions).norm().item(), x.norm().item(), rel_tol=1e-5
    )


# -------------------------------------------------------- repeat_kv


def test_repeat_kv_accepts_correct_code(capsys):
    assert_passes(
        checks.repeat_kv, lambda kv, n: kv.repeat_interleave(n, dim=1), capsys
    )
    assert_passes(
        checks.repeat_kv,
        lambda kv, n: kv[:, :, None].expand(-1, -1, n, -1, -1).flatten(1, 2),
        capsys,
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda kv, n: kv.repeat(1, n, 1, 1), ".repeat tiles the whole axis"),
        (lambda kv, n: kv.repeat_interleave(n, dim=2), "repeat the heads, dim=1"),
        (lambda kv, n: kv.flip(1).repeat_interleave(n, dim=1), "not repeated in place"),
        (
            lambda kv, n: kv.repeat_interleave(2, dim=1) if n != 1 else kv * 2,
            "with n_rep=1",
        ),
    ],
)
def test_repeat_kv_hints(mistake, hint, capsys):
    assert_hint(checks.repeat_kv, mistake, hint, capsys)


def test_repeat_kv_matches_tinytx():
    kv = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(repeat_kv_heads(kv, 2), kv.repeat_interleave(2, dim=1))
