"""Layer normalisation (Ba et al., 2016), chapter 06.

Each token's vector is normalised on its own, over its C features:

    y = (x - mean) / sqrt(var + eps) * weight + bias

with the biased variance and eps INSIDE the square root, exactly as
`torch.nn.LayerNorm`. It needs no batch statistics, so it behaves the same in
training and at inference and keeps no running buffers.
"""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension, (..., d) -> (..., d)."""

    def __init__(self, d: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        normalised = (x - mean) / torch.sqrt(var + self.eps)
        out = normalised * self.weight
        return out + self.bias if self.bias is not None else out
