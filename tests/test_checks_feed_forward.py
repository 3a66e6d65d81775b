"""The chapter 07 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_hint, assert_passes, run  # tests/checker_helpers.py
from torch import nn

from tinytx.teach import checks


def test_not_attempted_forward_is_friendly(capsys):
    class StubForward(nn.Module):
        def __init__(self, n_embd, activation="relu"):
            super().__init__()
            self.fc_in = nn.Linear(n_embd, 4 * n_embd)
            self.fc_out = nn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            raise NotImplementedError

    passed, printed = run(checks.ffn, StubForward, capsys)
    assert not passed and printed.startswith("… ffn: not attempted yet")


# -------------------------------------------------------- linear


def test_linear_accepts_correct_code(capsys):
    assert_passes(checks.linear, lambda x, w, b: x @ w.T + b, capsys)
    assert_passes(checks.linear, lambda x, w, b: F.linear(x, w, b), capsys)
    assert_passes(
        checks.linear, lambda x, w, b: torch.einsum("...i,oi->...o", x, w) + b, capsys
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda x, w, b: x @ w + b, "could not be multiplied"),
        (lambda x, w, b: w @ x + b, "could not be multiplied"),
        (lambda x, w, b: w @ x.T + b, "did you compute weight @ x.T"),
        (lambda x, w, b: x @ w.T, "the bias is missing"),
        (lambda x, w, b: x @ w.T - b, "the bias is subtracted"),
        (
            lambda x, w, b: (
                x @ w.T + b[:, None].T if x.dim() > 1 else x @ w.T + b[:, None]
            ),
            "Add the bias as a (5,) vector",
        ),
        (lambda x, w, b: x.reshape(-1, x.shape[-1]) @ w.T + b, "no reshape of x"),
        (
            lambda x, w, b: (
                x @ w.T + b if x.dim() < 3 else (x.reshape(-1, x.shape[-1]) @ w.T + b)
            ),
            "must give (2, 7, 5)",
        ),
        (lambda x, w, b: x @ w.T + 2 * b, "expected"),
    ],
    ids=[
        "x@W",
        "W@x",
        "W@x.T",
        "no-bias",
        "minus-bias",
        "bias-column",
        "flattened",
        "flattened-batch",
        "other",
    ],
)
def test_linear_mistakes(mistake, hint, capsys):
    assert_hint(checks.linear, mistake, hint, capsys)


def test_linear_square_weight_without_transpose(capsys):
    def transposes_only_when_needed(x, w, b):
        return (x @ w if w.shape[0] == w.shape[1] else x @ w.T) + b

    assert_hint(
        checks.linear, transposes_only_when_needed, "you computed x @ weight", capsys
    )


# -------------------------------------------------------- gelu


def test_gelu_accepts_correct_code(capsys):
    assert_passes(
        checks.gelu, lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), capsys
    )
    assert_passes(
        checks.gelu, lambda x: x * 0.5 * torch.erfc(-x / math.sqrt(2)), capsys
    )
    assert_passes(checks.gelu, F.gelu, capsys)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda x: (
                0.5
                * x
                * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
            ),
            "tanh approximation",
        ),
        (lambda x: F.gelu(x, approximate="tanh"), "tanh approximation"),
        (lambda x: x * torch.sigmoid(x), "SiLU"),
        (lambda x: x * torch.sigmoid(1.702 * x), "sigmoid approximation"),
        (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), "factor 0.5 is missing"),
        (lambda x: 0.5 * x * (1 + torch.erf(x)), "x / sqrt(2), not x"),
        (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), "you returned Phi(x)"),
        (F.relu, "you returned ReLU"),
        (lambda x: 0.5 * x * (1 + torch.erf(x / 2)), "GELU(x) = 0.5"),
        (lambda x: F.gelu(x).sum(-1), "output must have the input's shape"),
    ],
    ids=[
        "tanh-formula",
        "tanh-torch",
        "silu",
        "sigmoid-approx",
        "no-half",
        "erf-of-x",
        "phi-only",
        "relu",
        "other",
        "reduced",
    ],
)
def test_gelu_mistakes(mistake, hint, capsys):
    assert_hint(checks.gelu, mistake, hint, capsys)


def test_gelu_must_work_on_any_shape(capsys):
    def flat_only(x):
        if x.dim() != 1:
            return x.flatten()
        return F.gelu(x)

    assert_hint(checks.gelu, flat_only, "(2, 3, 4) tensor", capsys)


# -------------------------------------------------------- ffn


def make_ffn(
    hidden_factor=4,
    wiring="right",
    gelu_approximate="none",
    bias=True,
    names=("fc_in", "fc_out"),
):
    """A module class with one deliberate mistake (or none)."""

    class Candidate(nn.Module):
        def __init__(self, n_embd, activation="relu"):
            super().__init__()
            setattr(
                self, names[0], nn.Linear(n_embd, hidden_factor * n_embd, bias=bias)
            )
            setattr(
                self, names[1], nn.Linear(hidden_factor * n_embd, n_embd, bias=bias)
            )
            if activation == "relu":
                self.act = F.relu
            else:
                self.act = lambda h: F.gelu(h, approximate=gelu_approximate)
            self.activation = activation

        def forward(self, x):
            first, second = getattr(self, names[0]), getattr(self, names[1])
            if wiring == "right":
                return second(self.act(first(x)))
            if wiring == "no-activation":
                return second(first(x))
            if wiring == "after":
                return self.act(second(first(x)))
            if wiring == "twice":
                return self.act(second(self.act(first(x))))
            if wiring == "always-relu":
                return second(F.relu(first(x)))
            if wiring == "swapped":
                return second(
                    (F.gelu if self.activation == "relu" else F.relu)(first(x))
                )
            raise AssertionError(wiring)

    return Candidate


def test_ffn_accepts_correct_code(capsys):
    assert_passes(checks.ffn, make_ffn(), capsys)


@pytest.mark.parametrize(
    ("candidate", "hint"),
    [
        (make_ffn(hidden_factor=1), "it should be 4 * n_embd = 32"),
        (make_ffn(hidden_factor=2), "has 16 units"),
        (
            make_ffn(wiring="no-activation"),
            "there is no activation between the two linear layers",
        ),
        (make_ffn(wiring="after"), "the activation comes after fc_out"),
        (make_ffn(wiring="twice"), "the activation is applied twice"),
        (make_ffn(wiring="always-relu"), "you applied the other activation"),
        (make_ffn(wiring="swapped"), "you applied the other activation"),
        (make_ffn(gelu_approximate="tanh"), "tanh approximation"),
        (make_ffn(names=("up", "down")), "nn.Linear called self.fc_in"),
        (make_ffn(bias=False), "need their biases"),
    ],
    ids=[
        "hidden-1x",
        "hidden-2x",
        "no-activation",
        "after",
        "twice",
        "always-relu",
        "swapped",
        "tanh",
        "names",
        "no-bias",
    ],
)
def test_ffn_mistakes(candidate, hint, capsys):
    assert_hint(checks.ffn, candidate, hint, capsys)


def test_ffn_layer_name_misspelt_in_init(capsys):
    class MisspeltInInit(nn.Module):
        def __init__(self, n_embd, activation="relu"):
            super().__init__()
            self.fc_in = nn.Linear(n_embd, 4 * n_embd)
            self.fcout = nn.Linear(4 * n_embd, n_embd)  # the reader's typo

        def forward(self, x):
            return self.fc_out(F.relu(self.fc_in(x)))

    assert_hint(
        checks.ffn,
        MisspeltInInit,
        "nn.Linear called self.fc_out; it has self.fcout",
        capsys,
    )


def test_ffn_layer_name_misspelt_in_forward(capsys):
    class MisspeltInForward(nn.Module):
        def __init__(self, n_embd, activation="relu"):
            super().__init__()
            self.fc_in = nn.Linear(n_embd, 4 * n_embd)
            self.fc_out = nn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            return self.fcout(F.relu(self.fc_in(x)))  # the reader's typo

    assert_hint(
        checks.ffn,
        MisspeltInForward,
        "forward uses self.fcout, which __init__ never created",
        capsys,
    )


def test_ffn_constructor_errors_become_hints(capsys):
    class Crashes(nn.Module):
        def __init__(self, n_embd, activation="relu"):
            super().__init__()
            self.fc_in = nn.Linear(n_embd, undefined_size)  # noqa: F821  (the reader's typo)

    assert_hint(checks.ffn, Crashes, "NameError", capsys)


# -------------------------------------------------------- ffn_parameters


def ffn_parameters_correct(n_embd, hidden=None, bias=True):
    hidden = 4 * n_embd if hidden is None else hidden
    return 2 * n_embd * hidden + (hidden + n_embd if bias else 0)


def test_ffn_parameters_accepts_correct_code(capsys):
    assert_passes(checks.ffn_parameters, ffn_parameters_correct, capsys)
    assert_passes(
        checks.ffn_parameters,
        lambda n, hidden=None, bias=True: torch.tensor(
            ffn_parameters_correct(n, hidden, bias)
        ),
        capsys,
    )


def _h(n, hidden):
    return 4 * n if hidden is None else hidden


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda n, hidden=None, bias=True: 2 * n * _h(n, hidden),
            "you counted the weights only",
        ),
        (
            lambda n, hidden=None, bias=True: (
                2 * n * _h(n, hidden) + 2 * _h(n, hidden) * bias
            ),
            "the two biases differ in size",
        ),
        (
            lambda n, hidden=None, bias=True: n * _h(n, hidden) + _h(n, hidden) * bias,
            "you counted one of the two linear layers",
        ),
        (
            lambda n, hidden=None, bias=True: 2 * n * _h(n, hidden) + _h(n, hidden) + n,
            "with bias=False there are no biases",
        ),
        (
            lambda n, hidden=None, bias=True: ffn_parameters_correct(
                n, n if hidden is None else hidden, bias
            ),
            "hidden=None means the default 4 * n_embd",
        ),
        (
            lambda n, hidden=None, bias=True: ffn_parameters_correct(n, None, bias),
            "use `hidden` when it is given",
        ),
        (
            lambda n, hidden=None, bias=True: (
                ffn_parameters_correct(n, hidden, bias) + 1
            ),
            "expected",
        ),
        (
            lambda n, hidden=None, bias=True: (
                float(ffn_parameters_correct(n, hidden, bias)) + 0.5
            ),
            "return a whole number",
        ),
    ],
    ids=[
        "weights-only",
        "equal-biases",
        "one-layer",
        "bias-ignored",
        "no-4x",
        "hidden-ignored",
        "off-by-one",
        "float",
    ],
)
def test_ffn_parameters_mistakes(mistake, hint, capsys):
    assert_hint(checks.ffn_parameters, mistake, hint, capsys)
