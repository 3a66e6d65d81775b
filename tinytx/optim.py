"""Muon: momentum whose update is orthogonalised before it is applied.

For a weight matrix W (rows x cols), plain momentum SGD steps along the momentum M.
Muon (Jordan et al., 2024) steps along the matrix closest to M with all singular
values equal to 1, i.e. U V^T where M = U S V^T: every direction the gradient
points in moves by the same amount, so the few directions with large gradients no
longer swamp the many with small ones. U V^T is approximated with a few steps of a
Newton-Schulz iteration, which needs only matrix products (cheap next to the
forward and backward passes, and exact SVDs are slow). Bernstein and Newhouse (2024)
show that this update is steepest descent when a step's size is measured in the
spectral norm.

Muon is for the 2-D weights *inside* a network. Embeddings, the output head, biases
and norm gains are still trained with AdamW; `tinytx.train(optimizer="muon")` splits
the parameters that way.
"""

from __future__ import annotations

import torch

# The quintic's coefficients from Jordan et al. (2024): chosen so that
# 5 steps push every singular value of a normalised matrix into roughly
# [0.7, 1.2], which is close enough to 1.
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately U V^T for each matrix of G = U S V^T,
    shape (..., rows, cols) -> same.

    Runs in bfloat16 on a GPU (the iteration tolerates it, and it halves the cost of
    the products) and in float32 on a CPU, where bfloat16 products are emulated on
    most processors (7x slower than float32 on the project's AVX2 machine); the
    result is returned in G's dtype.
    """
    if G.dim() < 2:
        raise ValueError(
            "orthogonalize needs matrices (..., rows, cols), got shape "
            f"{tuple(G.shape)}"
        )
    a, b, c = _NS_COEFFICIENTS
    wide = G.shape[-2] <= G.shape[-1]
    X = (G if wide else G.mT).to(
        torch.bfloat16 if G.is_cuda else torch.float32
    )  # work on the wide side: X X^T is the smaller product
    X = X / (
        X.norm(dim=(-2, -1), keepdim=True) + 1e-7
    )  # every singular value <= 1, so the iteration converges
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * (A @ A)
        X = (
            a * X + B @ X
        )  # a X + b (X X^T) X + c (X X^T)^2 X: odd polynomial in the singular values
    return (X if wide else X.mT).to(G.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for 2-D parameters (rows, cols): Nesterov momentum, orthogonalised, scaled.

    Each step: M <- momentum * M + grad; the update is orthogonalize(grad + momentum *
    M) times sqrt(max(1, rows / cols)), so a tall matrix takes as large a step per entry
    as a square one; W <- W - lr * update. Matrices of the same shape are orthogonalised
    together in one batched product.
    """

    def __init__(
        self, params, lr: float = 0.02, momentum: float = 0.95, ns_steps: int = 5
    ) -> None:
        if not lr > 0:
            raise ValueError(f"Muon lr must be > 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"Muon momentum must be in [0, 1), got {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "ns_steps": ns_steps})
        for group in self.param_groups:
            for param in group["params"]:
                if param.dim() != 2:
                    raise ValueError(
                        "Muon trains 2-D weight matrices only, got a parameter "
                        f"of shape {tuple(param.shape)}; give biases, norms and "
                        "embeddings to AdamW"
                    )

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            by_shape: dict[torch.Size, list[tuple[torch.Tensor, torch.Tensor]]] = {}
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param)
                buffer = state["momentum_buffer"]
                buffer.mul_(group["momentum"]).add_(param.grad)
                update = param.grad.add(
                    buffer, alpha=group["momentum"]
                )  # Nesterov: look one step ahead
                by_shape.setdefault(param.shape, []).append((param, update))
            for shape, pairs in by_shape.items():
                directions = orthogonalize(
                    torch.stack([update for _, update in pairs]), group["ns_steps"]
                )
                scale = max(1.0, shape[0] / shape[1]) ** 0.5
                for (param, _), direction in zip(pairs, directions):
                    param.add_(direction, alpha=-group["lr"] * scale)
        return loss
