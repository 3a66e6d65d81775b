"""Checkers for chapter 03, positional encoding."""

from __future__ import annotations

from collections.abc import Callable

import torch

from tinytx.teach.checks.core import CheckFailed, call, checker, close

__all__ = ["sinusoidal_table", "rotation_for_offset", "add_positions"]


def _angles(T: int, d: int, base: float, exponent_index: torch.Tensor) -> torch.Tensor:
    """pos / base^(exponent_index / d) for every position (rows) and index (columns)."""
    positions = torch.arange(T, dtype=torch.float64)[:, None]
    return positions / base ** (exponent_index.to(torch.float64) / d)


def _interleave(sines: torch.Tensor, cosines: torch.Tensor) -> torch.Tensor:
    """(T, d/2) and (T, d/2) -> (T, d) with sines in the even
    columns, cosines in the odd ones."""
    return torch.stack([sines, cosines], dim=-1).flatten(-2)


def _reference_table(T: int, d: int, base: float = 10000.0) -> torch.Tensor:
    angles = _angles(T, d, base, torch.arange(0, d, 2))  # exponent 2i/d
    return _interleave(angles.sin(), angles.cos()).float()


def _table_mistakes(T: int, d: int, base: float) -> dict[str, torch.Tensor]:
    """The usual wrong tables, each with the hint that explains it."""
    pair = _angles(T, d, base, torch.arange(0, d, 2))
    column = _angles(T, d, base, torch.arange(d))
    half = _angles(T, d, base, torch.arange(d // 2))
    doubled = _angles(T, d, base, 2 * torch.arange(0, d, 2))
    swapped = torch.arange(d // 2, dtype=torch.float64)[None, :] / base ** (
        2 * torch.arange(T, dtype=torch.float64)[:, None] / d
    )
    inverted = torch.arange(T, dtype=torch.float64)[:, None] * base ** (
        torch.arange(0, d, 2, dtype=torch.float64) / d
    )
    ones = torch.arange(T, dtype=torch.float64)[:, None].expand(T, d // 2)
    return {
        "you used i instead of 2i in the exponent: pos / base^(i/d) makes the "
        "frequencies fall half as fast. With i = 0, 1, ..., d/2 - 1 counting "
        "the pairs, the exponent is 2i/d (equivalently: the even column "
        "index 2i, divided by d)": _interleave(half.sin(), half.cos()),
        "the exponent came out 4i/d, twice too big: an index that steps over "
        "the even columns 0, 2, 4, ... already is 2i, so it is divided by d "
        "without another factor 2": _interleave(doubled.sin(), doubled.cos()),
        "each column used its own index j in the exponent, pos / base^(j/d), "
        "so the cosine column 2i+1 ticks slightly slower than its sine partner 2i. "
        "Both columns of a pair share one frequency: base^(2i/d) with 2i "
        "the even column's index": _interleave(
            column[:, 0::2].sin(), column[:, 1::2].cos()
        ),
        "sin and cos are swapped: the paper puts sin in "
        "the even columns (0, 2, 4, ...) and cos in the odd "
        "ones (1, 3, 5, ...)": _interleave(pair.cos(), pair.sin()),
        "you put all the sines in the first half and all the cosines "
        "in the second half, [sin | cos]. Some code bases do that, "
        "but the paper and tinytx interleave them: table[:, 0::2] = sin, "
        "table[:, 1::2] = cos": torch.cat([pair.sin(), pair.cos()], dim=-1),
        "pos and i are swapped: the position goes in the numerator and the dimension "
        "in the exponent, pos / base^(2i/d), not i / base^(2 pos/d)": _interleave(
            swapped.sin(), swapped.cos()
        ),
        "the frequencies grow instead of shrinking: "
        "it is pos / base^(2i/d) (pos times base^(-2i/d)), "
        "not pos * base^(2i/d)": _interleave(inverted.sin(), inverted.cos()),
        "every pair has the same frequency, 1: the exponent came out 0. "
        "Integer division such as 2 * i // d rounds it down; use true division "
        "(/) on float tensors": _interleave(ones.sin(), ones.cos()),
    }


@checker("sinusoidal_table")
def sinusoidal_table(fn: Callable) -> str:
    """Check `fn(T, d, base=10000.0)` against the sinusoidal table,
    naming the classic index bugs."""
    cases = [(50, 16, None), (7, 6, None), (1, 2, None), (40, 12, 100.0)]
    for T, d, base in cases:
        kwargs = {} if base is None else {"base": base}
        out = call(fn, T, d, **kwargs)
        base = 10000.0 if base is None else base
        expected = _reference_table(T, d, base)
        if out.shape == (d, T) and T != d:
            raise CheckFailed(
                f"sinusoidal_table({T}, {d}) returned shape {tuple(out.shape)}: "
                "the table is (T, d), one row per position. Did you transpose it?"
            )
        if out.shape != expected.shape:
            raise CheckFailed(
                f"sinusoidal_table({T}, {d}) must have shape {tuple(expected.shape)} "
                "(one row per position, one column per dimension), got "
                f"{tuple(out.shape)}"
            )
        if not out.is_floating_point():
            raise CheckFailed(f"return a floating-point table, got dtype {out.dtype}")
        out = out.float()
        if close(out, expected):
            continue
        if base != 10000.0 and close(out, _reference_table(T, d)):
            raise CheckFailed(
                f"with base={base:g} you returned the base-10000 table: use the `base` "
                "argument instead of the constant 10000"
            )
        for hint, mistake in _table_mistakes(T, d, base).items():
            # Loose and on the first rows only: a wrong table with huge angles
            # differs in float32 rounding.
            if mistake.shape == out.shape and torch.allclose(
                out[:10], mistake[:10].float(), atol=1e-2, rtol=0
            ):
                raise CheckFailed(hint)
        row, col = [int(v) for v in ((out - expected).abs() > 1e-4).nonzero()[0]]
        raise CheckFailed(
            f"sinusoidal_table({T}, {d}, base={base:g}) differs first at position "
            f"{row}, dimension {col}: expected {expected[row, col].item():.4f}, "
            f"got {out[row, col].item():.4f}. PE[pos, 2i] = sin(pos / base^(2i/d)), "
            "PE[pos, 2i+1] = cos(pos / base^(2i/d))"
        )
    return (
        "matches the paper's table for 4 sizes and two bases: sin in even columns, "
        "cos in odd, exponent 2i/d."
    )


def _reference_rotation(
    k: int,
    d: int,
    base: float = 10000.0,
    *,
    layout: str = "pairs",
    exponent: str = "2i",
    transpose: bool = False,
) -> torch.Tensor:
    """The (d, d) matrix M with PE[pos + k] = M @ PE[pos], and
    its usual wrong versions."""
    i = torch.arange(d // 2, dtype=torch.float64)
    frequencies = {
        "2i": base ** (-2 * i / d),
        "i": base ** (-i / d),
        "one": torch.ones(d // 2, dtype=torch.float64),
    }
    angle = k * frequencies[exponent]
    sin_rows = 2 * torch.arange(d // 2) if layout == "pairs" else torch.arange(d // 2)
    cos_rows = sin_rows + 1 if layout == "pairs" else sin_rows + d // 2
    matrix = torch.zeros(d, d, dtype=torch.float64)
    matrix[sin_rows, sin_rows] = angle.cos()
    matrix[sin_rows, cos_rows] = angle.sin()
    matrix[cos_rows, sin_rows] = -angle.sin()
    matrix[cos_rows, cos_rows] = angle.cos()
    return (matrix.T if transpose else matrix).float()


@checker("rotation_for_offset")
def rotation_for_offset(fn: Callable) -> str:
    """Check `fn(k, d, base=10000.0)` returns M (d, d) with PE[pos + k] =
    M @ PE[pos] for every pos."""
    cases = [
        (3, 8, None),
        (1, 16, None),
        (17, 16, None),
        (-4, 12, None),
        (0, 6, None),
        (5, 10, 100.0),
    ]
    for k, d, base in cases:
        kwargs = {} if base is None else {"base": base}
        out = call(fn, k, d, **kwargs)
        base = 10000.0 if base is None else base
        if out.shape == (d // 2, 2, 2):
            raise CheckFailed(
                f"you returned the {d // 2} 2x2 blocks, shape {tuple(out.shape)}; "
                f"place them on the diagonal of one ({d}, {d}) matrix "
                "(torch.block_diag(*blocks) does that)"
            )
        if out.shape != (d, d):
            raise CheckFailed(
                f"rotation_for_offset({k}, {d}) must be a ({d}, {d}) matrix, "
                f"got {tuple(out.shape)}"
            )
        out = out.float()
        expected = _reference_rotation(k, d, base)
        if close(out, expected):
            continue
        if close(out, _reference_rotation(k, d, base, transpose=True)):
            raise CheckFailed(
                f"your matrix moves positions by {-k}, not {k}: it is the transpose "
                "(the inverse rotation). From sin(a + b) = sin a cos b + cos a "
                "sin b, the sine row is [cos(w k), sin(w k)] and the cosine row "
                "[-sin(w k), cos(w k)]"
            )
        if close(out, _reference_rotation(k, d, base, exponent="i")):
            raise CheckFailed(
                "pair i rotates by the angle k * w_i with w_i = 1 / base^(2i/d); "
                "you used i/d in the exponent instead of 2i/d"
            )
        if close(out, _reference_rotation(k, d, base, exponent="one")):
            raise CheckFailed(
                "every pair rotated by the same angle k; pair i turns at its own "
                "frequency, by the angle k * w_i with w_i = 1 / base^(2i/d)"
            )
        if close(out, _reference_rotation(k, d, base, layout="halves")):
            raise CheckFailed(
                f"you paired dimension i with i + {d // 2} (the [sin | cos] layout); "
                "in the interleaved table the pairs are the neighbouring "
                "columns (2i, 2i+1)"
            )
        if base != 10000.0 and close(out, _reference_rotation(k, d)):
            raise CheckFailed(
                f"with base={base:g} you used base 10000: use the `base` argument"
            )
        table = _reference_table(40 + abs(k), d, base)
        positions = torch.arange(max(0, -k), 40 - max(0, k))
        moved = table[positions] @ out.T  # row pos becomes (M @ PE[pos])^T
        deviation = (moved - table[positions + k]).abs().max().item()
        raise CheckFailed(
            f"with k={k}, d={d}, M @ PE[pos] should equal PE[pos + k], but differs by "
            f"up to {deviation:.4f}. Pair i is rotated by the angle k * w_i: rows 2i "
            "and 2i+1 are [cos(k w_i), sin(k w_i)] and [-sin(k w_i), cos(k w_i)]"
        )
    return (
        "M @ PE[pos] == PE[pos + k] for 6 offsets (negative and zero too): "
        "a shift is a fixed rotation."
    )


def _reference_add(
    tok_emb: torch.Tensor, pos_table: torch.Tensor, start: int = 0
) -> torch.Tensor:
    return tok_emb + pos_table[start : start + tok_emb.shape[1]]


_BROADCAST_HINT = (
    "the shapes did not broadcast. tok_emb is (B, T, C) and the position "
    "table (block_size, C): take the rows of the T positions in use, "
    "pos_table[start:start + T], which is (T, C) and broadcasts over the batch"
)


def _call_add(fn: Callable, *args, **kwargs) -> torch.Tensor:
    try:
        return call(fn, *args, **kwargs)
    except CheckFailed as failure:
        if "shapes did not broadcast" in str(failure) or "must match" in str(failure):
            raise CheckFailed(_BROADCAST_HINT) from None
        raise


@checker("add_positions")
def add_positions(fn: Callable) -> str:
    """Check `fn(tok_emb (B, T, C), pos_table (block_size, C), start=0)` == tok_emb +
    pos_table[start:start+T]."""
    generator = torch.Generator().manual_seed(0)
    tok_emb = torch.randn(2, 5, 4, generator=generator)
    pos_table = torch.randn(8, 4, generator=generator)
    for start in (0, 3):
        kwargs = {} if start == 0 else {"start": start}
        out = _call_add(fn, tok_emb, pos_table, **kwargs)
        expected = _reference_add(tok_emb, pos_table, start)
        if out.shape == (2, 5, 8):
            raise CheckFailed(
                "your result has 2C channels: you concatenated. Position vectors are "
                "added to the token vectors, so the width C stays the same"
            )
        if out.shape != expected.shape:
            raise CheckFailed(
                "with tok_emb of shape (2, 5, 4) the result must have its shape "
                f"(2, 5, 4), got {tuple(out.shape)}. Add the (T, C) position rows to "
                "the (B, T, C) token embeddings"
            )
        if close(out, expected):
            continue
        if close(out, tok_emb + pos_table[start]):
            raise CheckFailed(
                f"every position got the same vector, row {start} of the table: "
                "index a range of rows, pos_table[start:start + T], not one row"
            )
        if start and close(out, _reference_add(tok_emb, pos_table)):
            raise CheckFailed(
                f"with start={start} the tokens sit at positions {start}..{start + 4}, "
                "but you added the rows of positions 0..4. During generation "
                "with a KV cache the new tokens do not start at position 0: "
                "use pos_table[start:start + T]"
            )
        if close(out, tok_emb):
            raise CheckFailed("the result equals tok_emb: the positions were not added")
        raise CheckFailed(
            f"with start={start} expected tok_emb + pos_table[{start}:{start + 5}], "
            "got something else"
        )

    before = tok_emb.clone()
    try:
        fn(tok_emb, pos_table)
    except Exception:  # noqa: BLE001 - errors were reported above on copies; only in-place writes matter here
        pass
    if not torch.equal(tok_emb, before):
        raise CheckFailed(
            "your function changed tok_emb in place (+= or add_): the caller's token "
            "embeddings were overwritten (and autograd refuses this on a leaf). "
            "Return tok_emb + positions instead"
        )

    batch = torch.randn(3, 8, 4, generator=generator)
    out = _call_add(fn, batch, pos_table)
    if not close(out, _reference_add(batch, pos_table)):
        raise CheckFailed(
            "on a sequence as long as the table (T = block_size) the result is wrong; "
            "add pos_table[start:start + T]"
        )
    return (
        "(B, T, C) + (T, C) rows of the right positions, starting anywhere, "
        "without touching the input."
    )
