"""Muon: the Newton-Schulz orthogonalisation and the optimizer step, exactly."""

import pytest
import torch

from tinytx.optim import Muon, orthogonalize


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (3, 32, 48)])
def test_orthogonalize_keeps_the_singular_vectors_and_flattens_the_values(shape):
    torch.manual_seed(0)
    G = torch.randn(*shape)
    O = orthogonalize(G)  # noqa: E741 (O as in U^T O V below)
    assert O.shape == G.shape and O.dtype == G.dtype
    # Five quintic steps bring every singular value of a
    # well-conditioned matrix near 1 ...
    values = torch.linalg.svdvals(O)
    assert values.min() > 0.6 and values.max() < 1.25
    # ... and keep G's singular vectors: U^T O V is diagonal up to bfloat16 rounding.
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    D = U.mT @ O @ Vh.mT
    off_diagonal = D - torch.diag_embed(torch.diagonal(D, dim1=-2, dim2=-1))
    assert off_diagonal.norm() / D.norm() < 0.05


def test_orthogonalize_ignores_the_scale_of_its_input():
    torch.manual_seed(0)
    G = torch.randn(16, 40)
    torch.testing.assert_close(
        orthogonalize(1024 * G), orthogonalize(G)
    )  # a power of 2: exact in bfloat16


def test_orthogonalize_needs_matrices():
    with pytest.raises(
        ValueError,
        match=r"orthogonalize needs matrices \(\.\.\., rows, cols\), got shape \(5,\)",
    ):
        orthogonalize(torch.ones(5))


def test_one_step_without_momentum_moves_along_the_orthogonalised_gradient():
    torch.manual_seed(0)
    square, tall = (
        torch.nn.Parameter(torch.randn(8, 8)),
        torch.nn.Parameter(torch.randn(32, 8)),
    )
    before = square.detach().clone(), tall.detach().clone()
    grads = torch.randn(8, 8), torch.randn(32, 8)
    square.grad, tall.grad = grads
    Muon([square, tall], lr=0.1, momentum=0.0).step()
    torch.testing.assert_close(
        square.detach(), before[0] - 0.1 * orthogonalize(grads[0])
    )
    # A tall matrix's step is scaled by sqrt(rows / cols) = 2.
    torch.testing.assert_close(
        tall.detach(), before[1] - 0.1 * 2 * orthogonalize(grads[1])
    )


def test_matrices_of_one_shape_are_orthogonalised_together_as_if_alone():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(6, 10)) for _ in range(3)]
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.randn(6, 10)
    expected = [b - 0.05 * orthogonalize(p.grad) for b, p in zip(before, params)]
    Muon(params, lr=0.05, momentum=0.0).step()
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, atol=1e-6, rtol=0)


def test_nesterov_momentum_over_two_steps():
    torch.manual_seed(0)
    W = torch.nn.Parameter(torch.randn(4, 12))
    start = W.detach().clone()
    g1, g2 = torch.randn(4, 12), torch.randn(4, 12)
    optimizer = Muon([W], lr=0.1, momentum=0.5)
    W.grad = g1
    optimizer.step()
    W.grad = g2
    optimizer.step()
    buffer = 0.5 * g1 + g2  # after the second step
    expected = (
        start
        - 0.1 * orthogonalize(g1 + 0.5 * g1)
        - 0.1 * orthogonalize(g2 + 0.5 * buffer)
    )
    torch.testing.assert_close(W.detach(), expected)


@pytest.mark.skipif(
    not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon arrived in PyTorch 2.9"
)
def test_muon_takes_the_same_steps_as_pytorchs_own():
    # PyTorch keeps its momentum as an average, (1 - momentum) times our sum:
    # the same direction, and orthogonalisation forgets the length. Its weight
    # decay is turned off. Both orthogonalise in bfloat16 with differently
    # ordered products: about 3% apart.
    torch.manual_seed(0)
    ours = [
        torch.nn.Parameter(torch.randn(*shape))
        for shape in [(16, 48), (48, 16), (16, 48)]
    ]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    start = [p.detach().clone() for p in ours]
    ours_optimizer = Muon(ours, lr=0.02, momentum=0.9)
    theirs_optimizer = torch.optim.Muon(theirs, lr=0.02, momentum=0.9, weight_decay=0.0)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in ours]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        ours_optimizer.step()
        theirs_optimizer.step()
    for p, q, p0 in zip(ours, theirs, start):
        our_move, their_move = p.detach() - p0, q.detach() - p0
        assert (our_move - their_move).norm() < 0.06 * their_move.norm()


def test_muon_fits_a_linear_map():
    torch.manual_seed(0)
    target, X = torch.randn(16, 32), torch.randn(32, 256)
    W = torch.nn.Parameter(torch.zeros(16, 32))
    optimizer = Muon([W], lr=0.05)
    losses = []
    for _ in range(200):
        loss = ((W @ X - target @ X) ** 2).mean()
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.01 * losses[0]


@pytest.mark.parametrize(
    "params, kwargs, message",
    [
        (
            [torch.nn.Parameter(torch.ones(3))],
            {},
            r"Muon trains 2-D weight matrices only, got a parameter of shape \(3,\)",
        ),
        (
            [torch.nn.Parameter(torch.ones(3, 3))],
            {"lr": 0.0},
            "Muon lr must be > 0, got 0.0",
        ),
        (
            [torch.nn.Parameter(torch.ones(3, 3))],
            {"momentum": 1.0},
            r"Muon momentum must be in \[0, 1\), got 1.0",
        ),
    ],
)
def test_bad_muon_arguments(params, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Muon(params, **kwargs)
