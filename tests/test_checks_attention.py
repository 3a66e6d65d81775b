"""The chapter 04 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_hint, run  # tests/checker_helpers.py

from tinytx.teach import checks

# -------------------------------------------------------- local_causal_mask


def local_mask_correct(T, window):
    ones = torch.ones(T, T, dtype=torch.bool)
    return ones.tril() & ~ones.tril(-window)


def test_local_causal_mask_accepts_correct_code(capsys):
    passed, printed = run(checks.local_causal_mask, local_mask_correct, capsys)
    assert passed and printed.startswith("✓ local_causal_mask: ")

    def by_comparison(T, window):
        t, s = torch.arange(T)[:, None], torch.arange(T)[None, :]
        return (s <= t) & (t - s < window)

    assert run(checks.local_causal_mask, by_comparison, capsys)[0]


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda T, w: local_mask_correct(T, w).float(), "return a boolean mask"),
        (lambda T, w: ~local_mask_correct(T, w), "your mask is inverted"),
        (lambda T, w: local_mask_correct(T, w).T, "lets a query see later keys"),
        (
            lambda T, w: torch.ones(T, T, dtype=torch.bool).triu(),
            "lets a query see later keys",
        ),
        (
            lambda T, w: local_mask_correct(T, w) & ~torch.eye(T, dtype=torch.bool),
            "the diagonal is False",
        ),
        (lambda T, w: torch.ones(T, T, dtype=torch.bool).tril(), "plain causal mask"),
        (lambda T, w: local_mask_correct(T, w + 1), "yours sees 4"),
        (lambda T, w: local_mask_correct(T, w - 1), "yours sees 2"),
        (lambda T, w: torch.ones(T, dtype=torch.bool), "must have shape (6, 6)"),
    ],
    ids=[
        "float",
        "inverted",
        "transposed",
        "triu",
        "no-diagonal",
        "ignores-window",
        "one-too-many",
        "one-too-few",
        "shape",
    ],
)
def test_local_causal_mask_mistakes(mistake, hint, capsys):
    assert_hint(checks.local_causal_mask, mistake, hint, capsys)


# -------------------------------------------------------- split_heads


def split_correct(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def test_split_heads_accepts_correct_code(capsys):
    passed, printed = run(checks.split_heads, split_correct, capsys)
    assert passed and printed.startswith("✓ split_heads: ")
    passed, _ = run(
        checks.split_heads,
        lambda x, h: x.unflatten(-1, (h, -1)).permute(0, 2, 1, 3).contiguous(),
        capsys,
    )
    assert passed


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda x, h: x.view(4, 16, 4, 16).transpose(1, 2),
            "on an input of shape (2, 7, 64) your view failed",
        ),
        (
            lambda x, h: x.view(x.shape[0], x.shape[1], 4, 16).transpose(1, 2),
            "fixed numbers",
        ),
        (
            lambda x, h: x.view(x.shape[0], h, x.shape[1], x.shape[2] // h),
            "tokens are scrambled across heads",
        ),
        (
            lambda x, h: x.view(x.shape[0], x.shape[1], h, x.shape[2] // h),
            ".transpose(1, 2)",
        ),
        (
            lambda x, h: x.view(x.shape[0], x.shape[1], x.shape[2] // h, h).permute(
                0, 3, 1, 2
            ),
            "every n_head-th channel",
        ),
        (lambda x, h: split_correct(x, h) * 2, "your heads differ"),
    ],
    ids=[
        "hard-coded",
        "hard-coded-heads",
        "view-no-transpose",
        "no-transpose",
        "interleaved",
        "other",
    ],
)
def test_split_heads_mistakes(mistake, hint, capsys):
    assert_hint(checks.split_heads, mistake, hint, capsys)


# -------------------------------------------------------- merge_heads


def merge_correct(x):
    B, H, T, d = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * d)


def test_merge_heads_accepts_correct_code(capsys):
    passed, printed = run(checks.merge_heads, merge_correct, capsys)
    assert passed and printed.startswith("✓ merge_heads: ")
    passed, _ = run(checks.merge_heads, lambda x: x.transpose(1, 2).flatten(2), capsys)
    assert passed


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda x: x.transpose(1, 2).view(x.shape[0], x.shape[2], -1),
            "Call .contiguous() before .view",
        ),
        (lambda x: x.reshape(x.shape[0], x.shape[2], -1), "mixes tokens and heads"),
        (lambda x: x.transpose(1, 2).reshape(4, 16, 64), "fixed numbers"),
        (
            lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], -1),
            "interleaved",
        ),
        (lambda x: x.transpose(1, 2), "must have shape (4, 16, 64)"),
    ],
    ids=["no-contiguous", "no-transpose", "hard-coded", "interleaved", "not-merged"],
)
def test_merge_heads_mistakes(mistake, hint, capsys):
    assert_hint(checks.merge_heads, mistake, hint, capsys)


def test_merge_heads_with_the_notebooks_global_batch_size(capsys):
    """A B from the notebook (4, like the first case) must get the 4-D hint, with no
    word of n_head, which merge_heads does not take."""
    B = 4

    def global_batch(x):
        _, H, T, d = x.shape
        return x.transpose(1, 2).contiguous().view(B, T, H * d)

    assert_hint(checks.merge_heads, global_batch, "B, H, T, d = x.shape", capsys)
    _, printed = run(checks.merge_heads, global_batch, capsys)
    assert "n_head" not in printed and "B, T, C = x.shape" not in printed


# -------------------------------------------------------- causal_self_attention


def attention_correct(
    x,
    w_q,
    w_k,
    w_v,
    n_head,
    *,
    scale=None,
    fill=float("-inf"),
    mask="causal",
    dim=-1,
    scramble=False,
    swap=False,
):
    B, T, C = x.shape
    d_head = C // n_head

    def heads(t):
        return (
            t.view(B, n_head, T, d_head)
            if scramble
            else t.view(B, T, n_head, d_head).transpose(1, 2)
        )

    q, k, v = heads(x @ w_q), heads(x @ w_k), heads(x @ w_v)
    if swap:
        q, k = k, q
    scores = (
        q
        @ k.transpose(-2, -1)
        / (math.sqrt(d_head) if scale is None else scale(C, d_head))
    )
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    if mask == "triu":
        allowed = torch.ones(T, T, dtype=torch.bool).triu()
    if mask is not None:
        scores = scores.masked_fill(~allowed, fill)
    out = torch.softmax(scores, dim=dim) @ v
    return out.reshape(B, T, C) if scramble else out.transpose(1, 2).reshape(B, T, C)


def test_causal_self_attention_accepts_correct_code(capsys):
    passed, printed = run(checks.causal_self_attention, attention_correct, capsys)
    assert passed and printed.startswith("✓ causal_self_attention: ")

    def with_torch(x, w_q, w_k, w_v, n_head):
        B, T, C = x.shape
        q, k, v = (
            (x @ w).view(B, T, n_head, -1).transpose(1, 2) for w in (w_q, w_k, w_v)
        )
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(B, T, C)

    assert run(checks.causal_self_attention, with_torch, capsys)[0]


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        (dict(scale=lambda C, d: math.sqrt(C)), "divide by sqrt(d_head)"),
        (dict(scale=lambda C, d: d), "divide by its square root"),
        (dict(scale=lambda C, d: 1.0), "the scores are not scaled"),
        (dict(mask=None), "the future leaks"),
        (dict(fill=0.0), "exp(0) = 1"),
        (dict(mask="triu"), "keeps the future and hides the past"),
        (dict(dim=-2), "softmax ran over the queries"),
        (dict(swap=True), "queries and keys are swapped"),
        (dict(scramble=True), "the heads are scrambled"),
    ],
    ids=[
        "sqrt-C",
        "d_head",
        "unscaled",
        "no-mask",
        "zero-fill",
        "triu",
        "wrong-dim",
        "swapped",
        "scrambled",
    ],
)
def test_causal_self_attention_mistakes(options, hint, capsys):
    assert_hint(
        checks.causal_self_attention,
        lambda *args: attention_correct(*args, **options),
        hint,
        capsys,
    )


def test_causal_self_attention_hard_coded_sizes(capsys):
    def hard_coded(x, w_q, w_k, w_v, n_head):
        q, k, v = ((x @ w).view(2, 5, 2, 4).transpose(1, 2) for w in (w_q, w_k, w_v))
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(2, 5, 8)

    assert_hint(checks.causal_self_attention, hard_coded, "fixed numbers", capsys)


def test_causal_self_attention_without_output_merge(capsys):
    def unmerged(x, w_q, w_k, w_v, n_head):
        B, T, C = x.shape
        q, k, v = (
            (x @ w).view(B, T, n_head, -1).transpose(1, 2) for w in (w_q, w_k, w_v)
        )
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    assert_hint(checks.causal_self_attention, unmerged, "Merge the heads back", capsys)
