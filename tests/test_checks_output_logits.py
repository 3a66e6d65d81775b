"""The chapter 08 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_hint, assert_passes  # tests/checker_helpers.py
from torch import nn

from tinytx.teach import checks

# -------------------------------------------------------- cross_entropy


def cross_entropy_correct(logits, targets):
    logp = torch.log_softmax(logits, dim=-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).mean()


def cross_entropy_flattened(logits, targets):
    V = logits.shape[-1]
    logp = torch.log_softmax(logits.reshape(-1, V), dim=-1)
    flat = targets.reshape(-1)
    return -logp[torch.arange(len(flat)), flat].mean()


def test_cross_entropy_accepts_correct_code(capsys):
    assert_passes(checks.cross_entropy, cross_entropy_correct, capsys)
    assert_passes(checks.cross_entropy, cross_entropy_flattened, capsys)
    assert_passes(
        checks.cross_entropy, lambda x, y: F.cross_entropy(x.transpose(1, 2), y), capsys
    )


def _gather(logp, targets):
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda x, y: -_gather(torch.log_softmax(x, -1), y),
            "returned a loss for every position",
        ),
        (lambda x, y: -_gather(torch.log_softmax(x, -1), y).sum(), "you summed"),
        (
            lambda x, y: -_gather(torch.softmax(x, -1), y).mean(),
            "the probabilities themselves",
        ),
        (
            lambda x, y: -_gather(x, y).mean(),
            "the target's logit, not its log-probability",
        ),
        (
            lambda x, y: -torch.log_softmax(x, -1).amax(-1).mean(),
            "the most likely token (the argmax)",
        ),
        (
            lambda x, y: -torch.log_softmax(x, -1)[..., y].mean(),
            "picks every target for every position",
        ),
        (
            lambda x, y: F.cross_entropy(
                torch.softmax(x, -1).reshape(-1, x.shape[-1]), y.reshape(-1)
            ),
            "softmax ran twice",
        ),
        (lambda x, y: -_gather(torch.log_softmax(x, 0), y).mean(), "wrong dimension"),
        (
            lambda x, y: _gather(torch.log_softmax(x, -1), y).mean(),
            "the sign is flipped",
        ),
        (
            lambda x, y: (
                -_gather(torch.log(x.exp() / x.exp().sum(-1, keepdim=True)), y).mean()
            ),
            "exp(1000) overflows",
        ),
        (lambda x, y: -_gather(torch.softmax(x, -1).log(), y).mean(), "log(0) = -inf"),
    ],
    ids=[
        "per-position",
        "sum",
        "no-log",
        "raw-logit",
        "argmax",
        "fancy-index",
        "softmax-twice",
        "wrong-dim",
        "sign",
        "overflow",
        "underflow",
    ],
)
def test_cross_entropy_mistakes(mistake, hint, capsys):
    assert_hint(checks.cross_entropy, mistake, hint, capsys)


def test_cross_entropy_with_unflattened_targets_is_an_error_hint(capsys):
    def unflattened(x, y):
        V = x.shape[-1]
        logp = torch.log_softmax(x.reshape(-1, V), dim=-1)
        return -logp[torch.arange(logp.shape[0]), y].mean()  # y is still (B, T)

    assert_hint(checks.cross_entropy, unflattened, "flatten the targets too", capsys)


# -------------------------------------------------------- uniform_loss


def test_uniform_loss_accepts_floats_and_tensors(capsys):
    assert_passes(checks.uniform_loss, lambda V: math.log(V), capsys)
    assert_passes(
        checks.uniform_loss,
        lambda V: -torch.log(torch.tensor(1.0 / V, dtype=torch.float64)),
        capsys,
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda V: math.log2(V), "log base 2"),
        (lambda V: math.log10(V), "log base 10"),
        (lambda V: 1 / V, "the probability a uniform guess gives"),
        (lambda V: -math.log(V), "the sign is flipped"),
        (lambda V: V, "not the vocabulary size itself"),
        (lambda V: "ln V", "return a number"),
    ],
    ids=["log2", "log10", "probability", "sign", "V", "string"],
)
def test_uniform_loss_mistakes(mistake, hint, capsys):
    assert_hint(checks.uniform_loss, mistake, hint, capsys)


# -------------------------------------------------------- tie_weights


def tie_correct(model):
    model.head.weight = model.tok_embed.weight


def tie_the_other_way(model):
    model.tok_embed.weight = model.head.weight


def test_tie_weights_accepts_correct_code(capsys):
    assert_passes(checks.tie_weights, tie_correct, capsys)
    assert_passes(checks.tie_weights, tie_the_other_way, capsys)


def _tie_by_data(model):
    model.head.weight.data = model.tok_embed.weight.data


def _returns_new_model(model):
    import copy

    other = copy.deepcopy(model)
    other.head.weight = other.tok_embed.weight
    return other


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda m: None, "still its own matrix"),
        (
            lambda m: setattr(
                m.head, "weight", nn.Parameter(m.tok_embed.weight.clone())
            ),
            "copied the embedding's values",
        ),
        (_tie_by_data, "share memory but are still two Parameters"),
        (
            lambda m: setattr(m.head, "weight", nn.Parameter(m.tok_embed.weight.T)),
            "no transpose is needed",
        ),
        (
            lambda m: setattr(m.head, "weight", m.tok_embed.weight.T),
            "assign it as it is",
        ),
        (_returns_new_model, "tie the weights of the model you were given"),
    ],
    ids=[
        "nothing",
        "clone",
        "data",
        "transposed-parameter",
        "transposed-tensor",
        "new-model",
    ],
)
def test_tie_weights_mistakes(mistake, hint, capsys):
    assert_hint(checks.tie_weights, mistake, hint, capsys)


def test_tie_weights_misspelt_attribute_adds_a_parameter(capsys):
    def misspelt(model):
        model.head.weigth = (
            model.tok_embed.weight
        )  # registers a new parameter; the head keeps its own

    assert_hint(
        checks.tie_weights,
        misspelt,
        "created a new parameter, model.head.weigth",
        capsys,
    )


# -------------------------------------------------------- label_smoothed_cross_entropy


def smoothed_correct(logits, targets, eps):
    V = logits.shape[-1]
    logp = torch.log_softmax(logits, dim=-1)
    q = (1 - eps) * F.one_hot(targets, V) + eps / V
    return -(q * logp).sum(-1).mean()


def smoothed_two_terms(logits, targets, eps):
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return ((1 - eps) * nll - eps * logp.mean(-1)).mean()


def test_label_smoothing_accepts_correct_code(capsys):
    assert_passes(checks.label_smoothed_cross_entropy, smoothed_correct, capsys)
    assert_passes(checks.label_smoothed_cross_entropy, smoothed_two_terms, capsys)
    assert_passes(
        checks.label_smoothed_cross_entropy,
        lambda x, y, e: F.cross_entropy(x, y, label_smoothing=e),
        capsys,
    )


def _smoothed_with(q_fn, reduce=torch.mean, log=lambda x: torch.log_softmax(x, -1)):
    def loss(logits, targets, eps):
        one_hot = F.one_hot(targets, logits.shape[-1]).float()
        return reduce(-(q_fn(one_hot, eps, logits.shape[-1]) * log(logits)).sum(-1))

    return loss


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda x, y, e: F.cross_entropy(x, y), "ε had no effect"),
        (
            _smoothed_with(lambda h, e, V: (1 - e) * h + e / (V - 1) * (1 - h)),
            "over the V - 1 wrong tokens",
        ),
        (_smoothed_with(lambda h, e, V: h + e / V), "scale the one-hot part"),
        (_smoothed_with(lambda h, e, V: (1 - e) * h + e), "instead of ε / V"),
        (
            _smoothed_with(lambda h, e, V: (1 - e) * h + e / V, reduce=torch.sum),
            "you summed over the positions",
        ),
        (
            _smoothed_with(lambda h, e, V: (1 - e) * h + e / V, reduce=lambda t: t),
            "returned a loss for every position",
        ),
        (
            _smoothed_with(
                lambda h, e, V: (1 - e) * h + e / V,
                log=lambda x: torch.softmax(x, -1).log(),
            ),
            "never log(softmax)",
        ),
    ],
    ids=[
        "ignored",
        "v-minus-1",
        "no-one-minus-eps",
        "sum-over-vocab",
        "sum-over-positions",
        "per-position",
        "log-softmax",
    ],
)
def test_label_smoothing_mistakes(mistake, hint, capsys):
    assert_hint(checks.label_smoothed_cross_entropy, mistake, hint, capsys)
