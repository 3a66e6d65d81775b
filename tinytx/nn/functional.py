"""Softmax, the function that turns scores into probabilities (chapter 05).

softmax(x)_i = exp(x_i / T) / sum_j exp(x_j / T)

Computed with the max trick: subtracting the largest score before `exp` leaves
the result unchanged (the factor exp(-max) cancels) but keeps every exponent
<= 0, so nothing overflows. Scores of -inf (masked positions) get probability
exactly 0, as long as at least one score in the row is finite.
"""

from __future__ import annotations

import torch


def softmax(x: torch.Tensor, dim: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """Numerically stable softmax of `x` along `dim`, scores divided by `temperature`.

    Args:
        x: scores (logits) of any shape, floating point.
        dim: the dimension that sums to 1 in the result.
        temperature: > 0. Below 1 sharpens the distribution, above 1 flattens it.

    Returns:
        probabilities, same shape as `x`, non-negative and summing to 1 along `dim`.
    """
    if not torch.is_tensor(x):
        raise TypeError(
            f"softmax expects a torch.Tensor, got {type(x).__name__}; wrap it "
            "with torch.tensor(...)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"softmax needs floating-point scores, got dtype {x.dtype}; "
            "call .float() first"
        )
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0, got {temperature}; use a small value such as "
            "0.1 for a sharp distribution"
        )
    scaled = x / temperature
    # The max is detached: it is a constant shift, so it changes no
    # gradient, only the range of exp.
    shifted = scaled - scaled.amax(dim=dim, keepdim=True).detach()
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
