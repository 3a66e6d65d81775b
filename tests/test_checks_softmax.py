"""The exercise checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import pytest
import torch
from checker_helpers import assert_hint, run  # tests/checker_helpers.py

from tinytx.teach import checks

# -------------------------------------------------------- the framework


def test_errors_in_reader_code_become_hints(capsys):
    def crashes(x, dim=-1):
        return x / undefined_name  # noqa: F821  (the reader's typo)

    assert_hint(checks.log_softmax, crashes, "NameError", capsys)


def test_non_tensor_results_and_non_functions(capsys):
    assert_hint(
        checks.log_softmax,
        lambda x, dim=-1: x.tolist(),
        "return a torch.Tensor, got list",
        capsys,
    )
    assert_hint(
        checks.log_softmax, torch.tensor([1.0]), "pass the function itself", capsys
    )


# -------------------------------------------------------- log_softmax


def log_softmax_correct(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True)
    return x - m - (x - m).exp().sum(dim=dim, keepdim=True).log()


def test_log_softmax_accepts_correct_code(capsys):
    passed, printed = run(checks.log_softmax, log_softmax_correct, capsys)
    assert passed and printed.startswith("✓ log_softmax: ")
    passed, _ = run(
        checks.log_softmax, lambda x, dim=-1: torch.log_softmax(x, dim), capsys
    )
    assert passed


def test_log_softmax_returns_probabilities(capsys):
    assert_hint(
        checks.log_softmax,
        lambda x, dim=-1: torch.softmax(x, dim),
        "you returned probabilities",
        capsys,
    )


def test_log_softmax_without_max_subtraction(capsys):
    def naive(x, dim=-1):
        return x - x.exp().sum(dim=dim, keepdim=True).log()

    assert_hint(checks.log_softmax, naive, "Subtract the max", capsys)


def test_log_softmax_as_log_of_probabilities(capsys):
    def log_of_probs(x, dim=-1):
        return torch.softmax(x, dim).log()

    assert_hint(
        checks.log_softmax, log_of_probs, "never take the log of probabilities", capsys
    )


def test_log_softmax_with_a_global_max(capsys):
    def global_max(x, dim=-1):
        m = x.max()
        return x - m - (x - m).exp().sum(dim=dim, keepdim=True).log()

    assert_hint(checks.log_softmax, global_max, "max of the whole tensor", capsys)


def test_log_softmax_ignoring_dim(capsys):
    def last_dim_only(x, dim=-1):
        return log_softmax_correct(x, -1)

    assert_hint(
        checks.log_softmax,
        last_dim_only,
        "right for dim=1, but dim=0 was asked",
        capsys,
    )


def test_log_softmax_summing_over_a_fixed_dim_with_keepdim(capsys):
    """keepdim is there, so the hint must name the fixed dimension, not keepdim."""

    def fixed_sum(x, dim=-1):
        m = x.amax(dim=dim, keepdim=True)
        return x - m - (x - m).exp().sum(dim=-1, keepdim=True).log()

    assert_hint(
        checks.log_softmax, fixed_sum, "sums to 1 along dim=1, not along dim=0", capsys
    )
    _, printed = run(checks.log_softmax, fixed_sum, capsys)
    assert "keepdim" not in printed


def test_log_softmax_with_the_max_over_a_fixed_dim(capsys):
    def fixed_max(x, dim=-1):
        m = x.amax(dim=-1, keepdim=True)
        return x - m - (x - m).exp().sum(dim=dim, keepdim=True).log()

    assert_hint(
        checks.log_softmax, fixed_max, "subtract the max taken over `dim` too", capsys
    )


def test_log_softmax_without_keepdim(capsys):
    def no_keepdim(x, dim=-1):
        m = x.amax(dim=dim)
        return x - m - (x - m).exp().sum(dim=dim).log()

    assert_hint(checks.log_softmax, no_keepdim, "keepdim=True", capsys)


# -------------------------------------------------------- masked_softmax


def masked_softmax_correct(scores, mask):
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.where(mask.any(dim=-1, keepdim=True), probs, 0.0)


def test_masked_softmax_accepts_correct_code(capsys):
    passed, printed = run(checks.masked_softmax, masked_softmax_correct, capsys)
    assert passed and printed.startswith("✓ masked_softmax: ")


def test_masked_softmax_accepts_a_large_finite_fill_with_empty_rows_handled(capsys):
    def finite_fill(scores, mask):
        probs = torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)
        return probs * mask.any(dim=-1, keepdim=True)

    passed, _ = run(checks.masked_softmax, finite_fill, capsys)
    assert passed


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda s, m: torch.softmax(s, -1), "the mask had no effect"),
        (lambda s, m: masked_softmax_correct(s, ~m), "your mask is inverted"),
        (lambda s, m: torch.softmax(s * m, -1), "exp(0) = 1"),
        (lambda s, m: torch.softmax(s, -1) * m, "zeroed probabilities after softmax"),
        (
            lambda s, m: torch.softmax(s.masked_fill(~m, -30.0), -1),
            "exactly 0, got tiny positive values",
        ),
        (
            lambda s, m: (
                s.masked_fill(~m, float("-inf")).exp()
                / s.masked_fill(~m, float("-inf")).exp().sum(-1, keepdim=True)
            ),
            "exp overflows float32",
        ),
        (
            lambda s, m: torch.softmax(s.masked_fill(~m, float("-inf")), -1),
            "a fully masked row gave nan",
        ),
        (lambda s, m: torch.softmax(s.masked_fill(~m, -1e9), -1), "came out uniform"),
    ],
    ids=[
        "ignored",
        "inverted",
        "zero-fill",
        "zero-after",
        "finite-fill",
        "naive-exp",
        "empty-row-nan",
        "empty-row-uniform",
    ],
)
def test_masked_softmax_mistakes(mistake, hint, capsys):
    assert_hint(checks.masked_softmax, mistake, hint, capsys)


def test_masked_softmax_by_indexing_fails_to_broadcast(capsys):
    def per_row_loop(scores, mask):
        out = torch.zeros_like(scores)
        for i in range(scores.shape[0]):
            kept = mask[i]
            if kept.any():
                out[i, kept] = torch.softmax(scores[i, kept], -1)
        return out

    assert_hint(
        checks.masked_softmax, per_row_loop, "should broadcast over the batch", capsys
    )


# -------------------------------------------------------- softmax_backward


def softmax_backward_correct(probs, grad_probs, dim=-1):
    return probs * (grad_probs - (grad_probs * probs).sum(dim=dim, keepdim=True))


def test_softmax_backward_accepts_correct_code(capsys):
    passed, printed = run(checks.softmax_backward, softmax_backward_correct, capsys)
    assert passed and printed.startswith("✓ softmax_backward: ")


def test_softmax_backward_accepts_an_explicit_jacobian(capsys):
    def via_jacobian(probs, grad_probs, dim=-1):
        p = probs.movedim(dim, -1)
        g = grad_probs.movedim(dim, -1)
        jacobian = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
        return (jacobian @ g.unsqueeze(-1)).squeeze(-1).movedim(-1, dim)

    passed, _ = run(checks.softmax_backward, via_jacobian, capsys)
    assert passed


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda p, g, dim=-1: p * (1 - p) * g, "only the diagonal of the Jacobian"),
        (
            lambda p, g, dim=-1: -softmax_backward_correct(p, g, dim),
            "the sign is flipped",
        ),
        (
            lambda p, g, dim=-1: g - (g * p).sum(dim, keepdim=True),
            "forgot the leading factor p",
        ),
        (
            lambda p, g, dim=-1: softmax_backward_correct(p, g, -1),
            "but dim=0 was asked",
        ),
        (lambda p, g, dim=-1: p * (g - (g * p).sum(dim)), "keepdim=True"),
        (
            lambda p, g, dim=-1: torch.diag(p) - torch.outer(p, p),
            "must have the input's shape",
        ),
    ],
    ids=["diagonal", "sign", "no-p", "wrong-dim", "no-keepdim", "returns-jacobian"],
)
def test_softmax_backward_mistakes(mistake, hint, capsys):
    assert_hint(checks.softmax_backward, mistake, hint, capsys)
