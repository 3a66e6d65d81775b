"""Checkers for chapter 04, attention."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tinytx.teach.checks.core import CheckFailed, call, checker, close

__all__ = ["local_causal_mask", "split_heads", "merge_heads", "causal_self_attention"]

_HARD_CODED = (
    "a view(...) or reshape(...) with fixed numbers only fits one batch. Read the "
    "sizes from the input (B, T, C = x.shape) and compute d_head = C // n_head, "
    "so any batch size and length work"
)
# merge_heads gets a 4-D input and no n_head: every size comes from x itself.
_HARD_CODED_MERGE = (
    "a view(...) or reshape(...) with fixed numbers, or with a B or T from "
    "outside the function, only fits one batch. Read every size from the input "
    "(B, H, T, d = x.shape) and view(B, T, H * d), so any batch size and length work"
)


def _call(fn: Callable, *args, hard_coded: str = _HARD_CODED, **kwargs) -> torch.Tensor:
    """`call`, with pointed hints for the two errors that view(...) raises in this
    chapter (`hard_coded`: what to say when a view's sizes do not fit the input)."""
    try:
        return call(fn, *args, **kwargs)
    except CheckFailed as failure:
        message = str(failure)
        if "is invalid for input of size" in message:
            shapes = ", ".join(str(tuple(a.shape)) for a in args if torch.is_tensor(a))
            raise CheckFailed(
                f"on an input of shape {shapes} your view failed: {hard_coded}"
            ) from None
        if "view size is not compatible" in message:
            raise CheckFailed(
                "view(...) refused a transposed tensor: after transpose the memory "
                "is no longer in row order. Call .contiguous() before .view(...), "
                "or use .reshape(...), which copies when it must"
            ) from None
        raise


def _expect_shape(
    out: torch.Tensor, expected: tuple[int, ...], what: str, hint: str
) -> None:
    if tuple(out.shape) != expected:
        raise CheckFailed(
            f"{what} must have shape {expected}, got {tuple(out.shape)}. {hint}"
        )


# -------------------------------------------------------- local_causal_mask


def _reference_local_mask(T: int, window: int) -> torch.Tensor:
    t = torch.arange(T)[:, None]  # queries, down the rows
    s = torch.arange(T)[None, :]  # keys, across the columns
    return (s <= t) & (s > t - window)


@checker("local_causal_mask")
def local_causal_mask(fn: Callable) -> str:
    """Check `fn(T, window)`: boolean (T, T), True where t - window < s <= t."""
    for T, window in [(6, 3), (5, 1), (7, 2), (4, 10)]:
        out = _call(fn, T, window)
        expected = _reference_local_mask(T, window)
        _expect_shape(
            out,
            (T, T),
            f"local_causal_mask({T}, {window})",
            "One row per query, one column per key.",
        )
        if out.dtype != torch.bool:
            raise CheckFailed(
                f"return a boolean mask (dtype torch.bool), got {out.dtype}. "
                "masked_fill needs booleans, and ~mask only inverts a boolean mask. "
                "Comparisons such as s <= t give booleans directly"
            )
        if torch.equal(out, expected):
            continue
        causal = _reference_local_mask(T, T)
        if torch.equal(out, ~expected):
            raise CheckFailed(
                "your mask is inverted: True means 'may attend' (the convention of "
                "tinytx and F.scaled_dot_product_attention), False means 'masked out'"
            )
        if torch.equal(out, expected.T) or (out & ~causal).any():
            raise CheckFailed(
                f"with T={T}, window={window} your mask lets a query see later keys. "
                "Row t is the query, column s the key; allowed keys lie on and below "
                "the diagonal (s <= t), as in tril, not triu"
            )
        if torch.equal(out, expected & ~torch.eye(T, dtype=torch.bool)):
            raise CheckFailed(
                "the diagonal is False: a token must be able to attend to itself "
                "(s = t is allowed)"
            )
        if torch.equal(out, causal) and window < T:
            raise CheckFailed(
                f"with T={T}, window={window} you returned the plain causal mask: "
                "use `window`, so that each query sees only itself and the "
                f"{window - 1} keys before it"
            )
        if torch.equal(out, _reference_local_mask(T, window + 1)):
            raise CheckFailed(
                f"off by one: with window={window} each query must see {window} "
                f"keys (itself included), yours sees {window + 1}. Keep keys with "
                "t - window < s <= t"
            )
        if torch.equal(out, _reference_local_mask(T, window - 1)):
            raise CheckFailed(
                f"off by one: with window={window} each query must see {window} "
                f"keys (itself included), yours sees {window - 1}. Keep keys with "
                "t - window < s <= t"
            )
        raise CheckFailed(
            f"with T={T}, window={window} expected {expected.int().tolist()}, "
            f"got {out.int().tolist()}"
        )
    return (
        "right for 4 (T, window) pairs, a window of 1 (only itself) and one longer "
        "than T (plain causal) included."
    )


# -------------------------------------------------------- split_heads


def _reference_split(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


# (B, T, C, n_head): the book's batch first (a hard-coded view passes it), then other
# batches, another number of heads, one token (generation) and one sequence.
_SPLIT_CASES = [
    (4, 16, 64, 4),
    (2, 7, 64, 4),
    (3, 5, 24, 2),
    (1, 1, 32, 4),
    (5, 9, 36, 6),
]


@checker("split_heads")
def split_heads(fn: Callable) -> str:
    """Check `fn(x, n_head)`: (B, T, C) -> (B, n_head, T, C // n_head), head h
    gets channels h*d..(h+1)*d."""
    generator = torch.Generator().manual_seed(0)
    for B, T, C, n_head in _SPLIT_CASES:
        d_head = C // n_head
        x = torch.randn(B, T, C, generator=generator)
        out = _call(fn, x, n_head)
        expected = _reference_split(x, n_head)
        if tuple(out.shape) == (B, T, n_head, d_head) and T != n_head:
            raise CheckFailed(
                f"on x of shape {(B, T, C)} you returned {tuple(out.shape)}, i.e. "
                "(B, T, n_head, d_head): the heads must come before the tokens. "
                "Swap dims 1 and 2 with .transpose(1, 2)"
            )
        _expect_shape(
            out,
            (B, n_head, T, d_head),
            f"split_heads(x of shape {(B, T, C)}, n_head={n_head})",
            f"That is (B, n_head, T, C // n_head); {_HARD_CODED}",
        )
        if close(out, expected):
            continue
        if close(out, x.reshape(B, n_head, T, d_head)):
            raise CheckFailed(
                "right shape, wrong contents: viewing (B, T, C) directly as "
                "(B, n_head, T, d_head) gives head 0 the first few tokens' channels, "
                "so tokens are scrambled across heads. View as (B, T, n_head, d_head) "
                "first, then .transpose(1, 2)"
            )
        if close(out, x.view(B, T, d_head, n_head).permute(0, 3, 1, 2)):
            raise CheckFailed(
                "each head got every n_head-th channel. By convention (and in "
                "nn.MultiheadAttention) head h takes the contiguous slice of channels "
                "h * d_head .. (h + 1) * d_head: view as (B, T, n_head, d_head)"
            )
        raise CheckFailed(
            f"on x of shape {(B, T, C)} with n_head={n_head} your heads differ from "
            "x.view(B, T, n_head, d_head).transpose(1, 2)"
        )
    return (
        f"right for {len(_SPLIT_CASES)} shapes, among them other batch sizes, other "
        "head counts and a single token, so nothing is hard-coded."
    )


# -------------------------------------------------------- merge_heads


# (B, n_head, T, d_head)
_MERGE_CASES = [
    (4, 4, 16, 16),
    (2, 4, 7, 16),
    (3, 2, 5, 12),
    (1, 4, 1, 8),
    (5, 6, 9, 6),
]


@checker("merge_heads")
def merge_heads(fn: Callable) -> str:
    """Check `fn(x)`: (B, H, T, d) -> (B, T, H * d), the inverse of split_heads."""
    generator = torch.Generator().manual_seed(1)
    for B, H, T, d in _MERGE_CASES:
        x = torch.randn(B, H, T, d, generator=generator)
        out = _call(fn, x, hard_coded=_HARD_CODED_MERGE)
        expected = x.transpose(1, 2).reshape(B, T, H * d)
        _expect_shape(
            out,
            (B, T, H * d),
            f"merge_heads(x of shape {(B, H, T, d)})",
            f"That is (B, T, H * d); {_HARD_CODED_MERGE}",
        )
        if close(out, expected):
            continue
        if close(out, x.reshape(B, T, H * d)):
            raise CheckFailed(
                "right shape, wrong contents: a view (or reshape) of "
                "(B, H, T, d) straight to (B, T, H * d) mixes tokens and heads. "
                "Move the heads back next to the channels first: x.transpose(1, 2), "
                "then .contiguous().view(B, T, H * d)"
            )
        if close(out, x.permute(0, 2, 3, 1).reshape(B, T, H * d)):
            raise CheckFailed(
                "the channels of the heads are interleaved: head h's outputs must fill "
                "channels h * d .. (h + 1) * d. Use x.transpose(1, 2), not a permute "
                "that puts d before H"
            )
        raise CheckFailed(
            f"on x of shape {(B, H, T, d)} your result differs from "
            "x.transpose(1, 2).contiguous().view(B, T, H * d)"
        )
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, 24, generator=generator)
    if not close(_call(fn, _reference_split(x, 4), hard_coded=_HARD_CODED_MERGE), x):
        raise CheckFailed("merge_heads(split_heads(x)) must give x back")
    return (
        f"right for {len(_MERGE_CASES)} shapes and on transposed (non-contiguous) "
        "input; merge_heads undoes split_heads."
    )


# -------------------------------------------------------- causal_self_attention


def _attention_variant(
    x: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    n_head: int,
    *,
    scale: str = "sqrt_d_head",
    mask: str = "causal",
    fill: float = float("-inf"),
    dim: int = -1,
    split: str = "transpose",
    swap_qk: bool = False,
) -> torch.Tensor:
    """Multi-head causal self-attention, right (the defaults) or with
    one of the usual mistakes."""
    B, T, C = x.shape
    d_head = C // n_head

    def heads(t: torch.Tensor) -> torch.Tensor:
        if split == "no_transpose":
            return t.reshape(B, n_head, T, d_head)
        return t.view(B, T, n_head, d_head).transpose(1, 2)

    q, k, v = heads(x @ w_q), heads(x @ w_k), heads(x @ w_v)
    if swap_qk:
        q, k = k, q
    divisor = {
        "sqrt_d_head": math.sqrt(d_head),
        "sqrt_C": math.sqrt(C),
        "d_head": d_head,
        "none": 1.0,
    }[scale]
    scores = q @ k.transpose(-2, -1) / divisor  # (B, H, T, T)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    if mask == "triu":
        allowed = allowed.T
    if mask != "none":
        scores = scores.masked_fill(~allowed, fill)
    weights = torch.softmax(scores, dim=dim)
    out = weights @ v  # (B, H, T, d_head)
    if split == "no_transpose":
        return out.reshape(B, T, C)
    return out.transpose(1, 2).reshape(B, T, C)


_ATTENTION_MISTAKES = [
    (
        dict(scale="sqrt_C"),
        "you divided the scores by sqrt(C), the model width. Each head's dot products "
        "have d_head = C // n_head terms, so divide by sqrt(d_head)",
    ),
    (
        dict(scale="d_head"),
        "you divided the scores by d_head; divide by its square root, sqrt(d_head)",
    ),
    (
        dict(scale="none"),
        "the scores are not scaled: divide q @ k^T by sqrt(d_head), or the softmax "
        "saturates as heads grow",
    ),
    (
        dict(mask="none"),
        "the future leaks: every query sees later tokens. Mask the scores "
        "above the diagonal",
    ),
    (
        dict(fill=0.0),
        "masked scores were set to 0, but exp(0) = 1, so the future still gets weight. "
        "Fill with float('-inf')",
    ),
    (
        dict(mask="triu"),
        "your mask keeps the future and hides the past: query t may see keys s <= t "
        "(tril, on and below the diagonal)",
    ),
    (
        dict(dim=-2),
        "softmax ran over the queries (dim=-2). Each query's weights over the keys "
        "must sum to 1: softmax(dim=-1)",
    ),
    (
        dict(swap_qk=True),
        "queries and keys are swapped: scores[t, s] = q_t . k_s is "
        "q @ k.transpose(-2, -1), with q from w_q",
    ),
    (
        dict(split="no_transpose"),
        "the heads are scrambled: a view from (B, T, C) straight to (B, n_head, "
        "T, d_head) mixes tokens across heads. View as (B, T, n_head, d_head) and "
        "transpose(1, 2); merge back with transpose(1, 2) before the view",
    ),
]

# (B, T, C, n_head)
_ATTENTION_CASES = [(2, 5, 8, 2), (3, 7, 12, 3), (1, 1, 16, 4), (2, 6, 24, 6)]


@checker("causal_self_attention")
def causal_self_attention(fn: Callable) -> str:
    """Check `fn(x, w_q, w_k, w_v, n_head)`: multi-head causal
    self-attention, heads merged, (B, T, C)."""
    generator = torch.Generator().manual_seed(0)
    for B, T, C, n_head in _ATTENTION_CASES:
        x = torch.randn(B, T, C, generator=generator)
        w_q, w_k, w_v = (
            2 * torch.randn(C, C, generator=generator) / math.sqrt(C) for _ in range(3)
        )
        out = _call(fn, x, w_q, w_k, w_v, n_head)
        _expect_shape(
            out,
            (B, T, C),
            f"causal_self_attention on x of shape {(B, T, C)}",
            "Merge the heads back into (B, T, C) at the end.",
        )
        if close(out, _attention_variant(x, w_q, w_k, w_v, n_head)):
            continue
        if T == 1:
            raise CheckFailed(
                "with a single token (T = 1) the output must be that token's own value "
                f"vector, x @ w_v: {_HARD_CODED}"
            )
        for variant, hint in _ATTENTION_MISTAKES:
            if close(out, _attention_variant(x, w_q, w_k, w_v, n_head, **variant)):
                raise CheckFailed(hint)
        raise CheckFailed(
            f"on x of shape {(B, T, C)} with n_head={n_head} your output differs from "
            "softmax(mask(q k^T / sqrt(d_head))) v, computed per head"
        )
    return (
        f"matches multi-head causal attention on {len(_ATTENTION_CASES)} shapes: "
        "scaled by sqrt(d_head), masked with -inf, softmax over the keys, heads split "
        "and merged correctly."
    )
