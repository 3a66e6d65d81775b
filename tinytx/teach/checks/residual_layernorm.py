"""Checkers for chapter 06, residual connections and LayerNorm."""

from __future__ import annotations

from collections.abc import Callable

import torch

from tinytx.nn.block import Block
from tinytx.teach.checks.core import (
    CheckFailed,
    call,
    checker,
    close,
    expect_shape,
    show,
)

__all__ = ["batch_norm", "layer_norm", "pre_ln_block"]


def _normalise(
    x: torch.Tensor, dim, eps: float, *, unbiased: bool = False, eps_inside: bool = True
) -> torch.Tensor:
    """(x - mean) / std along `dim`, with the variants the checkers hunt for."""
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, keepdim=True, unbiased=unbiased)
    return (x - mean) / (torch.sqrt(var + eps) if eps_inside else torch.sqrt(var) + eps)


def _affine_cases(
    generator: torch.Generator, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = 2 * torch.randn(shape, generator=generator) + 1
    weight = 1 + 0.5 * torch.randn(shape[-1], generator=generator)
    bias = 0.5 * torch.randn(shape[-1], generator=generator)
    return x, weight, bias


@checker("layer_norm")
def layer_norm(fn: Callable) -> str:
    """Check `fn(x, weight, bias, eps=1e-5)` against
    torch.nn.functional.layer_norm over the last dim."""
    generator = torch.Generator().manual_seed(0)
    eps = 1e-5
    x, weight, bias = _affine_cases(generator, (3, 4))
    out = call(fn, x, weight, bias, eps=eps)
    expect_shape(out, x, "layer_norm(x, weight, bias)")
    expected = torch.nn.functional.layer_norm(x, (4,), weight, bias, eps)
    if not close(out, expected):
        plain = _normalise(x, -1, eps)
        if close(out, plain):
            raise CheckFailed(
                "your output ignores weight and bias: return normalised * weight + "
                "bias (the learned gain and shift)"
            )
        if close(out, plain * weight):
            raise CheckFailed("the bias is missing: return normalised * weight + bias")
        if close(out, plain + bias):
            raise CheckFailed("the gain is missing: return normalised * weight + bias")
        if close(out, _normalise(x, -1, eps, unbiased=True) * weight + bias):
            raise CheckFailed(
                "you divided by the unbiased std (x.var() and x.std() divide "
                "by d - 1 by default). LayerNorm uses the biased variance: "
                "x.var(dim=-1, keepdim=True, unbiased=False), i.e. divide by d"
            )
        if close(out, _normalise(x, 0, eps) * weight + bias):
            raise CheckFailed(
                "you normalised each feature over the batch (dim=0): that is "
                "BatchNorm. LayerNorm normalises each row (one token's vector) over "
                "its features: mean and var along dim=-1"
            )
        if close(out, _normalise(x, (0, 1), eps) * weight + bias):
            raise CheckFailed(
                "you took one mean and one variance over the whole tensor. "
                "LayerNorm normalises each row on its own: x.mean(dim=-1, keepdim=True)"
            )
        raise CheckFailed(
            "on a (3, 4) input your result differs from "
            f"torch.nn.functional.layer_norm: expected {show(expected[0])} in the "
            f"first row, got {show(out[0])}"
        )

    quiet = 1e-3 * torch.randn(2, 8, generator=generator)
    ones, zeros = torch.ones(8), torch.zeros(8)
    out = call(fn, quiet, ones, zeros, eps=eps)
    expected = torch.nn.functional.layer_norm(quiet, (8,), ones, zeros, eps)
    if not close(out, expected):
        if close(out, _normalise(quiet, -1, eps, eps_inside=False)):
            raise CheckFailed(
                "eps is outside the square root: (x - mean) / (sqrt(var) + eps). "
                f"On rows with a small variance (here about {quiet.var().item():.0e}) "
                "that differs from nn.LayerNorm; write (x - mean) / sqrt(var + eps)"
            )
        raise CheckFailed(
            "on rows with a very small variance your result differs from "
            "torch.nn.functional.layer_norm. Is eps added to the variance, "
            "inside the square root?"
        )

    out = call(fn, quiet, ones, zeros, eps=1e-2)
    if not close(out, torch.nn.functional.layer_norm(quiet, (8,), ones, zeros, 1e-2)):
        raise CheckFailed(
            "with eps=1e-2 your result is wrong: use the `eps` argument, "
            "not a fixed 1e-5"
        )

    x, weight, bias = _affine_cases(generator, (2, 5, 6))
    out = call(fn, x, weight, bias, eps=eps)
    expect_shape(out, x, "layer_norm(x, weight, bias) on a (2, 5, 6) input")
    if not close(out, torch.nn.functional.layer_norm(x, (6,), weight, bias, eps)):
        raise CheckFailed(
            "on a (B, T, C) = (2, 5, 6) input your result is wrong: reduce over dim=-1 "
            "(the last), not dim=1, with keepdim=True"
        )
    return (
        "matches nn.LayerNorm: last dim, biased variance, eps inside the square "
        "root, gain and bias."
    )


@checker("batch_norm")
def batch_norm(fn: Callable) -> str:
    """Check `fn(x, eps=1e-5)`, (N, C) -> (N, C), against nn.BatchNorm1d(C,
    affine=False) in training mode."""
    generator = torch.Generator().manual_seed(0)
    eps = 1e-5
    for shape, scale in [((6, 3), 3.0), ((4, 4), 3.0), ((32, 5), 3.0), ((8, 3), 1e-3)]:
        x = scale * (
            torch.randn(shape, generator=generator) + torch.arange(shape[1]).float()
        )
        out = call(fn, x, eps=eps)
        expect_shape(out, x, f"batch_norm(x) on a {shape} batch")
        expected = torch.nn.functional.batch_norm(x, None, None, training=True, eps=eps)
        if close(out, expected):
            continue
        if close(out, _normalise(x, -1, eps)):
            raise CheckFailed(
                "you normalised each row over its features (dim=-1): that is "
                "LayerNorm. BatchNorm normalises each feature (column) over the "
                "examples of the batch: mean and var along dim=0"
            )
        if close(out, _normalise(x, 0, eps, unbiased=True)):
            raise CheckFailed(
                "you used the unbiased variance (divide by N - 1). In training "
                "mode BatchNorm normalises with the biased batch variance: "
                "x.var(dim=0, keepdim=True, unbiased=False)"
            )
        if close(out, _normalise(x, 0, eps, eps_inside=False)):
            raise CheckFailed(
                "eps is outside the square root: write (x - mean) / sqrt(var + eps)"
            )
        if close(out, _normalise(x, (0, 1), eps)):
            raise CheckFailed(
                "you took one mean and variance over the whole batch; BatchNorm keeps "
                "one per feature: reduce over dim=0 only, with keepdim=True"
            )
        raise CheckFailed(
            f"on a {shape} batch your result differs from nn.BatchNorm1d(affine=False) "
            "in training mode"
        )
    return (
        "matches nn.BatchNorm1d in training mode: one mean and variance per "
        "feature, over the batch."
    )


def _random_block(seed: int) -> Block:
    """A pre-LN tinytx Block whose two LayerNorms have different,
    non-trivial gains and biases."""
    torch.manual_seed(seed)
    block = Block(8, 2, norm="pre")
    with torch.no_grad():
        for ln in (block.ln_attn, block.ln_ffn):
            ln.weight.copy_(1 + 0.5 * torch.randn(8))
            ln.bias.copy_(0.5 * torch.randn(8))
    return block.eval()


@checker("pre_ln_block")
def pre_ln_block(fn: Callable) -> str:
    """Check `fn(x, ln_attn, attn, ln_ffn, ffn)` against tinytx.Block(norm="pre")."""
    block = _random_block(0)
    ln1, ln2, ffn = block.ln_attn, block.ln_ffn, block.ffn

    def attn(h: torch.Tensor) -> torch.Tensor:
        return block.attn(h, causal=True)[0]

    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = call(fn, x, ln1, attn, ln2, ffn)
        expect_shape(out, x, "the block's output")
        expected = block(x)
        if close(out, expected):
            return (
                "matches tinytx.Block(norm='pre'): x + attn(ln_attn(x)), "
                "then x + ffn(ln_ffn(x))."
            )
        mid = x + attn(ln1(x))
        mistakes = [
            (
                ffn(ln2(attn(ln1(x)))),
                "there is no residual connection: x = f(x) throws x away. "
                "Add the sublayer's output to its input: x = x + attn(ln_attn(x)), "
                "then x = x + ffn(ln_ffn(x))",
            ),
            (
                ffn(ln2(mid)),
                "the feed-forward sublayer has no residual: x = x + ffn(ln_ffn(x))",
            ),
            (
                attn(ln1(x)) + ffn(ln2(attn(ln1(x)))),
                "the attention sublayer has no residual: x = x + attn(ln_attn(x))",
            ),
            (
                mid + ffn(ln1(mid)),
                "you used ln_attn for both sublayers. Each sublayer has its own "
                "LayerNorm with its own gain and bias: ln_attn before attention, "
                "ln_ffn before the feed-forward network",
            ),
            (
                x + attn(ln2(x)) + ffn(ln1(x + attn(ln2(x)))),
                "the two LayerNorms are swapped: ln_attn goes before attn, "
                "ln_ffn before ffn",
            ),
            (
                ln2(ln1(x + attn(x)) + ffn(ln1(x + attn(x)))),
                "that is a post-LN block, norm(x + f(x)). Pre-LN normalises the "
                "sublayer's input and leaves the residual stream itself unnormalised: "
                "x = x + f(norm(x))",
            ),
            (
                ln2(ln1(mid) + ffn(ln2(ln1(mid)))),
                "you normalised the residual stream after the add, x = "
                "norm(x + f(norm(x))): in a pre-LN block the residual stream is never "
                "normalised; only the sublayer's input is: x = x + f(norm(x))",
            ),
            (
                x + attn(x) + ffn(x + attn(x)),
                "the LayerNorms are missing: x = x + attn(ln_attn(x)), "
                "then x = x + ffn(ln_ffn(x))",
            ),
            (
                x + attn(ln1(x)) + ffn(ln2(x)),
                "both sublayers read the block's input x. They run one "
                "after the other: the feed-forward network reads x after "
                "attention has been added",
            ),
        ]
        for wrong, hint in mistakes:
            if close(out, wrong):
                raise CheckFailed(hint)
        raise CheckFailed(
            "your output differs from tinytx.Block(norm='pre'): expected "
            f"{show(expected[0, 0])} at the first position, got {show(out[0, 0])}"
        )
