"""Token embeddings: a lookup table from ids to vectors (chapter 02).

Looking up row `i` of a (V, C) matrix is the same as multiplying a one-hot vector
e_i by that matrix, only without building the one-hot vector.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TokenEmbedding(nn.Module):
    """ids (B, T) -> vectors (B, T, C), optionally scaled by sqrt(C)
    as in the original paper."""

    def __init__(self, vocab_size: int, n_embd: int, scale: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, n_embd) * 0.02)
        self.scale = math.sqrt(n_embd) if scale else 1.0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # F.embedding is the row lookup weight[ids]; unlike plain
        # indexing, its backward sums repeated ids in a fixed order, so
        # multi-threaded training is reproducible.
        vectors = F.embedding(ids, self.weight)  # (B, T, C)
        return vectors * self.scale if self.scale != 1.0 else vectors


def check_token_ids(
    ids: torch.Tensor, vocab_size: int, what: str = "token ids"
) -> None:
    """Raise a clear error unless `ids` is an integer tensor
    with values in [0, vocab_size).

    Indexing an embedding with a bad id fails deep inside PyTorch (an IndexError on the
    CPU, a device-side assert on CUDA that kills the session), so models check first.
    """
    if not torch.is_tensor(ids):
        raise TypeError(
            f"{what} must be a torch.Tensor of integers, got {type(ids).__name__}; "
            "use torch.tensor(ids)"
        )
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(
            f"{what} must be integers (torch.long), got dtype {ids.dtype}; "
            "use ids.long()"
        )
    if ids.numel() == 0:
        raise ValueError(f"{what} are empty; give at least one token")
    low, high = int(ids.min()), int(ids.max())
    if low < 0:
        raise ValueError(f"{what} must be >= 0, got {low}")
    if high >= vocab_size:
        raise ValueError(
            f"{what} must be < vocab_size={vocab_size}, got {high}; "
            "was the text encoded with a different tokenizer than the model's?"
        )
