"""The chapter 03 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_hint, run  # tests/checker_helpers.py

import tinytx
from tinytx.teach import checks

# -------------------------------------------------------- sinusoidal_table


def table(
    T,
    d,
    base=10000.0,
    *,
    exponent="2i",
    layout="interleaved",
    trig=(torch.sin, torch.cos),
):
    """The sinusoidal table, or one of its usual wrong versions."""
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    if exponent == "2i":
        angles = pos / base ** (torch.arange(0, d, 2) / d)
    elif (
        exponent == "4i"
    ):  # the index already steps over even columns, then doubled again
        angles = pos / base ** (2 * torch.arange(0, d, 2) / d)
    elif exponent == "i":
        angles = pos / base ** (torch.arange(d // 2) / d)
    elif exponent == "j":  # every column its own index
        angles = pos / base ** (torch.arange(d) / d)
        out = torch.zeros(T, d)
        out[:, 0::2] = trig[0](angles[:, 0::2])
        out[:, 1::2] = trig[1](angles[:, 1::2])
        return out
    elif exponent == "swapped":
        angles = torch.arange(d // 2)[None, :] / base ** (
            2 * torch.arange(T)[:, None] / d
        )
    elif exponent == "times":
        angles = pos * base ** (torch.arange(0, d, 2) / d)
    elif exponent == "intdiv":
        angles = pos / base ** (torch.arange(0, d, 2) // d)
    if layout == "halves":
        return torch.cat([trig[0](angles), trig[1](angles)], dim=-1)
    out = torch.zeros(T, d)
    out[:, 0::2] = trig[0](angles)
    out[:, 1::2] = trig[1](angles)
    return out


def table_loop(T, d, base=10000.0):
    out = torch.zeros(T, d)
    for pos in range(T):
        for i in range(d // 2):
            angle = pos / base ** (2 * i / d)
            out[pos, 2 * i] = math.sin(angle)
            out[pos, 2 * i + 1] = math.cos(angle)
    return out


def test_sinusoidal_table_accepts_correct_code(capsys):
    for correct in (table, table_loop):
        passed, printed = run(checks.sinusoidal_table, correct, capsys)
        assert passed and printed.startswith("✓ sinusoidal_table: "), printed
    passed, _ = run(
        checks.sinusoidal_table,
        lambda T, d, base=10000.0: table(T, d, base).double(),
        capsys,
    )
    assert passed


def test_sinusoidal_table_agrees_with_tinytx():
    torch.testing.assert_close(table(50, 16), tinytx.sinusoidal_positions(50, 16))


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda T, d, base=10000.0: table(T, d, base, exponent="i"),
            "you used i instead of 2i",
        ),
        (lambda T, d, base=10000.0: table(T, d, base, exponent="4i"), "twice too big"),
        (
            lambda T, d, base=10000.0: table(T, d, base, exponent="j"),
            "each column used its own index j",
        ),
        (
            lambda T, d, base=10000.0: table(T, d, base, trig=(torch.cos, torch.sin)),
            "sin and cos are swapped",
        ),
        (lambda T, d, base=10000.0: table(T, d, base, layout="halves"), "[sin | cos]"),
        (
            lambda T, d, base=10000.0: table(T, d, base, exponent="swapped"),
            "pos and i are swapped",
        ),
        (
            lambda T, d, base=10000.0: table(T, d, base, exponent="times"),
            "the frequencies grow",
        ),
        (
            lambda T, d, base=10000.0: table(T, d, base, exponent="intdiv"),
            "Integer division",
        ),
        (lambda T, d, base=10000.0: table(T, d), "use the `base` argument"),
        (lambda T, d, base=10000.0: table(T, d, base).T, "Did you transpose it?"),
        (
            lambda T, d, base=10000.0: table(T, d, base)[:, 0::2],
            "must have shape (50, 16)",
        ),
        (lambda T, d, base=10000.0: (table(T, d, base) * 100).long(), "floating-point"),
        (
            lambda T, d, base=10000.0: (
                table(T, d, base) + 0.1 * (torch.arange(T)[:, None] == 3)
            ),
            "position 3, dimension 0",
        ),
    ],
    ids=[
        "i-not-2i",
        "4i",
        "column-index",
        "sin-cos-swapped",
        "halves",
        "pos-i-swapped",
        "times",
        "int-division",
        "ignores-base",
        "transposed",
        "half-the-columns",
        "integer-dtype",
        "other",
    ],
)
def test_sinusoidal_table_mistakes(mistake, hint, capsys):
    assert_hint(checks.sinusoidal_table, mistake, hint, capsys)


# -------------------------------------------------------- rotation_for_offset


def rotation(k, d, base=10000.0):
    blocks = []
    for i in range(d // 2):
        angle = torch.tensor(k / base ** (2 * i / d))
        blocks.append(
            torch.stack(
                [
                    torch.stack([angle.cos(), angle.sin()]),
                    torch.stack([-angle.sin(), angle.cos()]),
                ]
            )
        )
    return torch.block_diag(*blocks)


def test_rotation_for_offset_accepts_correct_code(capsys):
    passed, printed = run(checks.rotation_for_offset, rotation, capsys)
    assert passed and printed.startswith("✓ rotation_for_offset: "), printed


def test_rotation_moves_tinytx_positions():
    pe = tinytx.sinusoidal_positions(30, 8)
    torch.testing.assert_close(pe[:-5] @ rotation(5, 8).T, pe[5:])


def rotation_variant(
    k,
    d,
    base=10000.0,
    *,
    frequency=lambda i, d, base: base ** (-2 * i / d),
    halves=False,
):
    matrix = torch.zeros(d, d)
    for i in range(d // 2):
        angle = torch.tensor(k * frequency(i, d, base))
        s, c = (i, i + d // 2) if halves else (2 * i, 2 * i + 1)
        matrix[s, s], matrix[s, c], matrix[c, s], matrix[c, c] = (
            angle.cos(),
            angle.sin(),
            -angle.sin(),
            angle.cos(),
        )
    return matrix


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda k, d, base=10000.0: rotation(k, d, base).T, "it is the transpose"),
        (
            lambda k, d, base=10000.0: rotation_variant(
                k, d, base, frequency=lambda i, d, b: b ** (-i / d)
            ),
            "you used i/d in the exponent",
        ),
        (
            lambda k, d, base=10000.0: rotation_variant(
                k, d, base, frequency=lambda i, d, b: 1.0
            ),
            "the same angle k",
        ),
        (
            lambda k, d, base=10000.0: rotation_variant(k, d, base, halves=True),
            "[sin | cos] layout",
        ),
        (lambda k, d, base=10000.0: rotation(k, d), "use the `base` argument"),
        (
            lambda k, d, base=10000.0: torch.stack(
                [
                    rotation(k, d, base)[2 * i : 2 * i + 2, 2 * i : 2 * i + 2]
                    for i in range(d // 2)
                ]
            ),
            "torch.block_diag",
        ),
        (
            lambda k, d, base=10000.0: rotation(k, d, base)[:-1],
            "must be a (8, 8) matrix",
        ),
        (
            lambda k, d, base=10000.0: rotation(k + 1, d, base),
            "should equal PE[pos + k]",
        ),
    ],
    ids=[
        "transposed",
        "i-not-2i",
        "one-frequency",
        "halves",
        "ignores-base",
        "blocks",
        "shape",
        "other",
    ],
)
def test_rotation_for_offset_mistakes(mistake, hint, capsys):
    assert_hint(checks.rotation_for_offset, mistake, hint, capsys)


# -------------------------------------------------------- add_positions


def add_positions(tok_emb, pos_table, start=0):
    return tok_emb + pos_table[start : start + tok_emb.shape[1]]


def test_add_positions_accepts_correct_code(capsys):
    passed, printed = run(checks.add_positions, add_positions, capsys)
    assert passed and printed.startswith("✓ add_positions: "), printed

    def with_arange(tok_emb, pos_table, start=0):
        positions = torch.arange(start, start + tok_emb.shape[1])
        return tok_emb + pos_table[positions].unsqueeze(0)

    passed, _ = run(checks.add_positions, with_arange, capsys)
    assert passed


def test_add_positions_matches_the_model():
    model = tinytx.GPT(
        tinytx.GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=4)
    )
    idx = torch.tensor([[1, 2, 3, 4, 5]])
    _, cache = model.run_with_cache(idx)
    torch.testing.assert_close(
        add_positions(cache["embed.tok"], model.pos_embed.weight),
        cache["blocks.0.resid_pre"],
    )


def in_place(tok_emb, pos_table, start=0):
    tok_emb += pos_table[start : start + tok_emb.shape[1]]
    return tok_emb


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda t, p, start=0: t + p, "shapes did not broadcast"),
        (lambda t, p, start=0: t + p[: t.shape[0]], "shapes did not broadcast"),
        (lambda t, p, start=0: t + p[start], "every position got the same vector"),
        (
            lambda t, p, start=0: t + p[: t.shape[1]],
            "the new tokens do not start at position 0",
        ),
        (
            lambda t, p, start=0: torch.cat(
                [t, p[start : start + t.shape[1]].expand_as(t)], dim=-1
            ),
            "you concatenated",
        ),
        (
            lambda t, p, start=0: p[start : start + t.shape[1]],
            "must have its shape (2, 5, 4)",
        ),
        (lambda t, p, start=0: t.clone(), "the positions were not added"),
        (in_place, "changed tok_emb in place"),
        (
            lambda t, p, start=0: t + p[start : start + min(t.shape[1], 5)],
            "shapes did not broadcast",
        ),
        (lambda t, p, start=0: t - p[start : start + t.shape[1]], "got something else"),
    ],
    ids=[
        "whole-table",
        "batch-rows",
        "one-row",
        "ignores-start",
        "concatenates",
        "positions-only",
        "nothing-added",
        "in-place",
        "fixed-length",
        "other",
    ],
)
def test_add_positions_mistakes(mistake, hint, capsys):
    assert_hint(checks.add_positions, mistake, hint, capsys)
