"""The chapter 06 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import pytest
import torch
from checker_helpers import assert_hint, assert_passes  # tests/checker_helpers.py

from tinytx.teach import checks

# -------------------------------------------------------- layer_norm


def layer_norm_correct(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _norm(x, dim=-1, eps=1e-5, unbiased=False, inside=True):
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, keepdim=True, unbiased=unbiased)
    return (x - mean) / (torch.sqrt(var + eps) if inside else var.sqrt() + eps)


def test_layer_norm_accepts_correct_code(capsys):
    assert_passes(checks.layer_norm, layer_norm_correct, capsys)
    assert_passes(
        checks.layer_norm,
        lambda x, w, b, eps=1e-5: torch.nn.functional.layer_norm(
            x, x.shape[-1:], w, b, eps
        ),
        capsys,
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda x, w, b, eps=1e-5: _norm(x, eps=eps, inside=False) * w + b,
            "eps is outside the square root",
        ),
        (
            lambda x, w, b, eps=1e-5: _norm(x, eps=eps, unbiased=True) * w + b,
            "unbiased std",
        ),
        (
            lambda x, w, b, eps=1e-5: _norm(x, dim=0, eps=eps) * w + b,
            "that is BatchNorm",
        ),
        (
            lambda x, w, b, eps=1e-5: (
                _norm(x, dim=tuple(range(x.ndim)), eps=eps) * w + b
            ),
            "over the whole tensor",
        ),
        (lambda x, w, b, eps=1e-5: _norm(x, eps=eps), "ignores weight and bias"),
        (lambda x, w, b, eps=1e-5: _norm(x, eps=eps) * w, "the bias is missing"),
        (lambda x, w, b, eps=1e-5: _norm(x, eps=eps) + b, "the gain is missing"),
        (
            lambda x, w, b, eps=1e-5: _norm(x, eps=1e-5) * w + b,
            "use the `eps` argument",
        ),
        (
            lambda x, w, b, eps=1e-5: _norm(x, dim=1, eps=eps) * w + b,
            "reduce over dim=-1",
        ),
        (
            lambda x, w, b, eps=1e-5: _norm(x, eps=eps).sum(-1),
            "must have the input's shape",
        ),
    ],
    ids=[
        "eps-outside",
        "unbiased",
        "batch-dim",
        "whole-tensor",
        "no-affine",
        "no-bias",
        "no-gain",
        "fixed-eps",
        "dim-1",
        "reduced",
    ],
)
def test_layer_norm_mistakes(mistake, hint, capsys):
    assert_hint(checks.layer_norm, mistake, hint, capsys)


# -------------------------------------------------------- batch_norm


def test_batch_norm_accepts_correct_code(capsys):
    assert_passes(
        checks.batch_norm, lambda x, eps=1e-5: _norm(x, dim=0, eps=eps), capsys
    )
    assert_passes(
        checks.batch_norm,
        lambda x, eps=1e-5: torch.nn.BatchNorm1d(x.shape[1], eps=eps, affine=False)(x),
        capsys,
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda x, eps=1e-5: _norm(x, dim=-1, eps=eps), "that is LayerNorm"),
        (
            lambda x, eps=1e-5: _norm(x, dim=0, eps=eps, unbiased=True),
            "unbiased variance",
        ),
        (
            lambda x, eps=1e-5: _norm(x, dim=0, eps=eps, inside=False),
            "eps is outside the square root",
        ),
        (lambda x, eps=1e-5: _norm(x, dim=(0, 1), eps=eps), "one per feature"),
        (lambda x, eps=1e-5: x.mean(0), "must have the input's shape"),
    ],
    ids=["layer-dim", "unbiased", "eps-outside", "whole-batch", "reduced"],
)
def test_batch_norm_mistakes(mistake, hint, capsys):
    assert_hint(checks.batch_norm, mistake, hint, capsys)


# -------------------------------------------------------- pre_ln_block


def block_correct(x, ln_attn, attn, ln_ffn, ffn):
    x = x + attn(ln_attn(x))
    return x + ffn(ln_ffn(x))


def test_pre_ln_block_accepts_correct_code(capsys):
    assert_passes(checks.pre_ln_block, block_correct, capsys)


def _no_residual(x, ln_attn, attn, ln_ffn, ffn):
    x = attn(ln_attn(x))
    return ffn(ln_ffn(x))


def _no_ffn_residual(x, ln_attn, attn, ln_ffn, ffn):
    x = x + attn(ln_attn(x))
    return ffn(ln_ffn(x))


def _shared_norm(x, ln_attn, attn, ln_ffn, ffn):
    x = x + attn(ln_attn(x))
    return x + ffn(ln_attn(x))


def _swapped_norms(x, ln_attn, attn, ln_ffn, ffn):
    return block_correct(x, ln_ffn, attn, ln_attn, ffn)


def _post_ln(x, ln_attn, attn, ln_ffn, ffn):
    x = ln_attn(x + attn(x))
    return ln_ffn(x + ffn(x))


def _norm_after_add(x, ln_attn, attn, ln_ffn, ffn):
    x = ln_attn(x + attn(ln_attn(x)))
    return ln_ffn(x + ffn(ln_ffn(x)))


def _no_norms(x, ln_attn, attn, ln_ffn, ffn):
    x = x + attn(x)
    return x + ffn(x)


def _parallel(x, ln_attn, attn, ln_ffn, ffn):
    return x + attn(ln_attn(x)) + ffn(ln_ffn(x))


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (_no_residual, "there is no residual connection"),
        (_no_ffn_residual, "the feed-forward sublayer has no residual"),
        (_shared_norm, "you used ln_attn for both sublayers"),
        (_swapped_norms, "the two LayerNorms are swapped"),
        (_post_ln, "that is a post-LN block"),
        (_norm_after_add, "you normalised the residual stream after the add"),
        (_no_norms, "the LayerNorms are missing"),
        (_parallel, "both sublayers read the block's input x"),
        (lambda x, a, b, c, d: x[..., :4], "must have the input's shape"),
    ],
    ids=[
        "no-residual",
        "no-ffn-residual",
        "shared-norm",
        "swapped",
        "post-ln",
        "norm-after-add",
        "no-norms",
        "parallel",
        "shape",
    ],
)
def test_pre_ln_block_mistakes(mistake, hint, capsys):
    assert_hint(checks.pre_ln_block, mistake, hint, capsys)
