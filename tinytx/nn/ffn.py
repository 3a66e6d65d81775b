"""The position-wise feed-forward network, chapter 07.

    FFN(x) = W2 act(W1 x + b1) + b2

applied to every token separately with the same weights. The hidden layer is usually
4x wider than the model (2048 for d_model = 512 in the original paper).

The activations: "relu", "gelu" (exact, x * Phi(x) with Phi the normal CDF) and
"gelu_tanh", the tanh approximation of GELU that GPT-2 was trained with, so its real
weights give its real outputs only with this one.

The gated variant of chapter 11, SwiGLU (Shazeer, 2020, "GLU Variants Improve
Transformer"), multiplies the activated layer by a second, linear one:

    FFN_SwiGLU(x) = W_out (SiLU(W_gate x) * W_up x)        SiLU(z) = z * sigmoid(z)

so each hidden unit is a value (W_up x) let through by a learned, smooth gate.
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
            gated = (
                "; the gated 'swiglu' is SwiGLUFeedForward"
                if activation == "swiglu"
                else ""
            )
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got "
                f"{activation!r}{gated}"
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


def swiglu_hidden(n_embd: int) -> int:
    """SwiGLU's default hidden size: 8/3 * n_embd, to the nearest multiple of 8 (and at
    least 8).

    Three (hidden, C) matrices instead of two (4C, C) ones hold as many weights when
    hidden = 2/3 * 4C (Shazeer, 2020). Multiples of 8 keep the matrices friendly to
    GPU kernels; the nearest one, not the next as Llama does (it rounds up to 256),
    keeps a small model's count within 4 hidden units of the 4x layer's:
    n_embd=128 gives 344 (8/3 * 128 = 341.3), n_embd=192 gives 512.
    """
    return 8 * max(1, round(n_embd / 3))


class SwiGLUFeedForward(nn.Module):
    """W_out(SiLU(W_gate x) * W_up x): (B, T, C) -> (B, T, C) through (B, T, hidden).

    fc_gate is W_gate, fc_in is W_up (it reads x into the hidden width, as fc_in does
    in `FeedForward`), fc_out is W_out. hidden defaults to `swiglu_hidden(C)`.
    """

    def __init__(
        self,
        n_embd: int,
        hidden: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        hidden = swiglu_hidden(n_embd) if hidden is None else hidden
        self.fc_gate = nn.Linear(n_embd, hidden, bias=bias)
        self.fc_in = nn.Linear(n_embd, hidden, bias=bias)
        self.fc_out = nn.Linear(hidden, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, record: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """`record`, when given, receives the gated values under the key
        "hidden" (B, T, hidden), what fc_out reads."""
        hidden = F.silu(self.fc_gate(x)) * self.fc_in(x)  # (B, T, hidden)
        if record is not None:
            record["hidden"] = hidden
        return self.dropout(self.fc_out(hidden))
