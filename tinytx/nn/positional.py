"""Positional encodings: telling attention where each token sits (chapter 03).

Attention treats its input as a set, so order must be added to the vectors themselves.
Two ways: a fixed sinusoidal table (Vaswani et al., 2017) or a learned table (GPT-2).

A third, from chapter 11, adds nothing to the vectors: rotary position embeddings
(RoPE; Su et al., 2021, "RoFormer") rotate each attention head's queries and keys by
their position. Rotating a query at position m by R(m) and a key at n by R(n) gives
the score (R(m) q)^T (R(n) k) = q^T R(n - m) k: it depends on the offset n - m only,
so attention sees relative positions, and no table is learned or added.
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


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x[..., 2i], x[..., 2i+1]) of x (..., T, d) by the angle whose
    cosine and sine are cos[t, i] and sin[t, i], (T, d/2) each -> (..., T, d):

        y[2i]   = x[2i] cos - x[2i+1] sin
        y[2i+1] = x[2i] sin + x[2i+1] cos

    Interleaved pairs, as in the RoFormer paper (and Meta's Llama code): pair i is
    columns (2i, 2i+1), the same pair that holds sin and cos of frequency i in
    `sinusoidal_positions`. GPT-NeoX and Hugging Face's Llama pair column i with
    i + d/2 instead ("rotate half"), which avoids the interleaving copy; the two differ
    only by a fixed reordering of each head's dimensions, which the learned projections
    absorb, so they train alike. We keep the paper's pairs, which the chapter draws.
    """
    pairs = x.unflatten(-1, (-1, 2))  # (..., T, d/2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]  # (..., T, d/2) each
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2)


class RotaryPositionalEmbedding(nn.Module):
    """RoPE's angles: positions (T,) -> (cos, sin), each (T, d_head/2), for
    `apply_rotary` to turn each head's queries and keys with.

    Pair i turns by pos * theta_i with theta_i = 1 / 10000^(2i/d_head): the frequencies
    of the sinusoidal table, whose even columns hold sin(pos * theta_i) and odd columns
    cos(pos * theta_i). So the tables here are that table's columns, for d = d_head.
    Buffers outside the state dict, as `SinusoidalPositionalEmbedding`'s: nothing
    about positions is learned or saved.
    """

    def __init__(self, block_size: int, d_head: int) -> None:
        super().__init__()
        table = sinusoidal_positions(block_size, d_head)  # (block_size, d_head)
        self.register_buffer("sin", table[:, 0::2].contiguous(), persistent=False)
        self.register_buffer("cos", table[:, 1::2].contiguous(), persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos[positions], self.sin[positions]
