"""Positional encodings: telling attention where each token sits (chapter 03).

Attention treats its input as a set, so order must be added to the vectors themselves.
Two ways: a fixed sinusoidal table (Vaswani et al., 2017) or a learned table (GPT-2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    """The sinusoidal table of "Attention Is All You Need", shape (T, d).

    PE[pos, 2i]   = sin(pos / 10000^(2i/d))
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d))

    Each pair of columns is a clock ticking at its own frequency, from one full turn
    every 2*pi positions (i = 0) down to one every 10000*2*pi positions.
    """
    for name, value in (("T", T), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"sinusoidal_positions needs a positive int {name}, got {value!r}"
            )
    if d % 2 != 0:
        raise ValueError(
            "sinusoidal_positions needs an even d (sin and cos come in pairs), "
            f"got d={d}"
        )
    positions = torch.arange(T, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float32)  # (d/2,)
    frequencies = torch.exp(-math.log(10000.0) * two_i / d)  # 1 / 10000^(2i/d), (d/2,)
    angles = positions * frequencies  # (T, d/2)
    table = torch.empty(T, d)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


class SinusoidalPositionalEmbedding(nn.Module):
    """Adds nothing learnable: returns rows of a fixed
    sinusoidal table, (T,) -> (T, d)."""

    def __init__(self, block_size: int, n_embd: int) -> None:
        super().__init__()
        # A buffer moves with .to(device) but is not a parameter; not
        # saved, since it is recomputed.
        self.register_buffer(
            "table", sinusoidal_positions(block_size, n_embd), persistent=False
        )

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return self.table[positions]


class LearnedPositionalEmbedding(nn.Module):
    """One trainable vector per position, (T,) -> (T, d), as in GPT-2."""

    def __init__(self, block_size: int, n_embd: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(block_size, n_embd) * 0.02)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return F.embedding(
            positions, self.weight
        )  # rows of the table; see TokenEmbedding on why not weight[...]
