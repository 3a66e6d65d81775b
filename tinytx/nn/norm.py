"""Layer normalisation (Ba et al., 2016), chapter 06, and RMSNorm, chapter 11.

Each token's vector is normalised on its own, over its C features:

    y = (x - mean) / sqrt(var + eps) * weight + bias

with the biased variance and eps INSIDE the square root, exactly as
`torch.nn.LayerNorm`. It needs no batch statistics, so it behaves the same in
training and at inference and keeps no running buffers.

`layer_norm` writes the formula out, step by step: the teaching path. The
`LayerNorm` module calls PyTorch's fused kernel, which computes the same formula in
one pass over the data instead of eight separate operations (a tenth of a training
step, a fifth of a generation step); the two agree up to float rounding.

RMSNorm (Zhang & Sennrich, 2019) drops the mean and the bias:

    y = x / sqrt(mean(x^2) + eps) * weight

It rescales each vector to a root-mean-square of 1 without re-centring it: one
statistic instead of two, and the paper found the centring adds little. Llama and most
models since use it. `rms_norm` and `RMSNorm` split the same way as above.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """The formula written out: x (..., C), weight and bias (C,) or None -> (..., C)."""
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    normalised = (x - mean) / torch.sqrt(var + eps)
    out = normalised * weight if weight is not None else normalised
    return out + bias if bias is not None else out


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension, (..., d) -> (..., d)."""

    def __init__(self, d: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


def rms_norm(
    x: torch.Tensor, weight: torch.Tensor | None, eps: float = 1e-5
) -> torch.Tensor:
    """The formula written out: x (..., C), weight (C,) or None -> (..., C)."""
    mean_square = x.pow(2).mean(dim=-1, keepdim=True)
    normalised = x / torch.sqrt(mean_square + eps)
    return normalised * weight if weight is not None else normalised


class RMSNorm(nn.Module):
    """RMSNorm over the last dimension, (..., d) -> (..., d): a weight, no bias.

    eps defaults to 1e-5, LayerNorm's, so that swapping one norm for the other in the
    ablation of chapter 11 changes the formula and nothing else; Llama 2 and 3 use 1e-5
    too (Llama 1 used 1e-6). `torch.nn.RMSNorm`'s default eps=None means the dtype's
    machine epsilon (1.2e-7 in float32), which still blows a near-zero vector up to
    unit size; `torch.nn.RMSNorm(d, eps=1e-5)` is this module.
    """

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, x.shape[-1:], self.weight, self.eps)


def make_norm(normalization: str, d: int, bias: bool = True) -> nn.Module:
    """LayerNorm(d) (with a bias if `bias`) or RMSNorm(d) (never a bias), by name:
    normalization is "layernorm" or "rmsnorm"."""
    if normalization == "layernorm":
        return LayerNorm(d, bias=bias)
    if normalization == "rmsnorm":
        return RMSNorm(d)
    raise ValueError(
        f"normalization must be 'layernorm' or 'rmsnorm', got {normalization!r}"
    )
