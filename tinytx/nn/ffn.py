"""The position-wise feed-forward network, chapter 07.

    FFN(x) = W2 act(W1 x + b1) + b2

applied to every token separately with the same weights. The hidden layer is usually
4x wider than the model (2048 for d_model = 512 in the original paper).

The activations: "relu", "gelu" (exact, x * Phi(x) with Phi the normal CDF) and
"gelu_tanh", the tanh approximation of GELU that GPT-2 was trained with, so its real
weights give its real outputs only with this one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU's tanh approximation, elementwise:
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))).

    Hugging Face calls it "gelu_new". It differs from the exact GELU by up to about
    5e-4: small, but far above the float rounding at which a loaded GPT-2's logits
    match the original's.
    """
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": gelu_tanh}


class FeedForward(nn.Module):
    """(B, T, C) -> (B, T, C) through a (B, T, hidden) layer;
    hidden defaults to 4 * C."""

    def __init__(
        self,
        n_embd: int,
        hidden: int | None = None,
        activation: str = "relu",
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        hidden = 4 * n_embd if hidden is None else hidden
        self.fc_in = nn.Linear(n_embd, hidden, bias=bias)
        self.fc_out = nn.Linear(hidden, n_embd, bias=bias)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, record: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """`record`, when given, receives the activations under the key
        "hidden" (B, T, hidden)."""
        hidden = ACTIVATIONS[self.activation](self.fc_in(x))  # (B, T, hidden)
        if record is not None:
            record["hidden"] = hidden
        return self.dropout(self.fc_out(hidden))
