"""The chapter 02 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_hint, assert_passes  # tests/checker_helpers.py

from tinytx import sinusoidal_positions
from tinytx.teach import checks

# -------------------------------------------------------- one_hot_embedding


def one_hot_correct(ids, weight):
    return F.one_hot(ids, num_classes=weight.shape[0]).float() @ weight


def test_one_hot_embedding_accepts_correct_code(capsys):
    assert_passes(checks.one_hot_embedding, one_hot_correct, capsys)
    assert_passes(
        checks.one_hot_embedding,
        lambda ids, w: (ids.unsqueeze(-1) == torch.arange(w.shape[0])).to(w.dtype) @ w,
        capsys,
    )
    assert_passes(
        checks.one_hot_embedding,
        lambda ids, w: torch.einsum(
            "...v,vc->...c", F.one_hot(ids, w.shape[0]).float(), w
        ),
        capsys,
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda ids, w: F.one_hot(ids).float() @ w, "pass num_classes=weight.shape[0]"),
        (lambda ids, w: F.one_hot(ids, w.shape[0]) @ w, "Convert it with .float()"),
        (
            lambda ids, w: F.one_hot(ids, w.shape[0]).float() @ w.T,
            "not one_hot @ weight.T",
        ),
        (lambda ids, w: w[ids], "you looked the rows up directly"),
        (lambda ids, w: F.embedding(ids, w), "you looked the rows up directly"),
        (
            lambda ids, w: F.one_hot(ids.flatten(), w.shape[0]).float() @ w,
            "should give (B, T, C) = (2, 3, 4)",
        ),
        (
            lambda ids, w: F.one_hot(ids, w.shape[0]).float() @ w * 2,
            "row 0 should be weight[5]",
        ),
    ],
    ids=[
        "num-classes",
        "no-float",
        "transposed",
        "indexing",
        "f-embedding",
        "flattened",
        "wrong-values",
    ],
)
def test_one_hot_embedding_mistakes(mistake, hint, capsys):
    assert_hint(checks.one_hot_embedding, mistake, hint, capsys)


def test_one_hot_embedding_transposed_square_table(capsys):
    def transposed_when_it_fits(ids, w):
        one_hot = F.one_hot(ids, w.shape[0]).float()
        return one_hot @ (w.T if w.shape[0] == w.shape[1] else w)

    assert_hint(
        checks.one_hot_embedding,
        transposed_when_it_fits,
        "returned columns instead of rows",
        capsys,
    )


# -------------------------------------------------------- nearest_neighbours


def neighbours_correct(weight, token_id, k):
    unit = weight / weight.norm(dim=-1, keepdim=True)
    similarity = unit @ unit[token_id]
    similarity[token_id] = -float("inf")
    return similarity.topk(k).indices


def test_nearest_neighbours_accepts_correct_code(capsys):
    assert_passes(checks.nearest_neighbours, neighbours_correct, capsys)

    def with_torch_cosine(weight, token_id, k):
        similarity = F.cosine_similarity(weight, weight[token_id].unsqueeze(0), dim=-1)
        return similarity.argsort(descending=True)[1 : k + 1]

    assert_passes(checks.nearest_neighbours, with_torch_cosine, capsys)


def _dots(weight, token_id):
    return weight @ weight[token_id]


def _with_self_excluded(similarity, token_id, fill=-float("inf")):
    similarity = similarity.clone()
    similarity[token_id] = fill
    return similarity


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda w, i, k: (
                F.normalize(w, dim=-1).matmul(F.normalize(w, dim=-1)[i]).topk(k).indices
            ),
            "Exclude it",
        ),
        (
            lambda w, i, k: _with_self_excluded(_dots(w, i), i).topk(k).indices,
            "raw dot product",
        ),
        (lambda w, i, k: _dots(w, i).topk(k).indices, "raw dot product"),
        (
            lambda w, i, k: (
                _with_self_excluded(F.normalize(w, dim=0) @ F.normalize(w, dim=0)[i], i)
                .topk(k)
                .indices
            ),
            "normalised the columns",
        ),
        (
            lambda w, i, k: (
                _with_self_excluded(
                    F.normalize(w, dim=-1) @ F.normalize(w, dim=-1)[i], i, float("inf")
                )
                .topk(k, largest=False)
                .indices
            ),
            "least similar",
        ),
        (
            lambda w, i, k: (
                _with_self_excluded((w - w[i]).norm(dim=-1), i, float("inf"))
                .topk(k, largest=False)
                .indices
            ),
            "Euclidean distance",
        ),
        (lambda w, i, k: neighbours_correct(w, i, k).float(), "not their similarities"),
        (
            lambda w, i, k: neighbours_correct(w, i, k + 1),
            "return a 1-D tensor of 3 ids",
        ),
        (lambda w, i, k: neighbours_correct(w, i, k).flip(0), "wrong order"),
    ],
    ids=[
        "self",
        "dot",
        "dot-with-self",
        "columns",
        "least",
        "euclidean",
        "similarities",
        "k-plus-one",
        "reversed",
    ],
)
def test_nearest_neighbours_mistakes(mistake, hint, capsys):
    assert_hint(checks.nearest_neighbours, mistake, hint, capsys)


# -------------------------------------------------------- original_input_embedding


def original_correct(ids, weight):
    C = weight.shape[1]
    return weight[ids] * math.sqrt(C) + sinusoidal_positions(ids.shape[1], C)


def test_original_input_embedding_accepts_correct_code(capsys):
    assert_passes(checks.original_input_embedding, original_correct, capsys)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda ids, w: (
                w[ids] * w.shape[1] + sinusoidal_positions(ids.shape[1], w.shape[1])
            ),
            "you multiplied by C",
        ),
        (
            lambda ids, w: (
                w[ids] / math.sqrt(w.shape[1])
                + sinusoidal_positions(ids.shape[1], w.shape[1])
            ),
            "you divided",
        ),
        (
            lambda ids, w: (
                w[ids] * math.sqrt(w.shape[0])
                + sinusoidal_positions(ids.shape[1], w.shape[1])
            ),
            "sqrt(V)",
        ),
        (
            lambda ids, w: w[ids] + sinusoidal_positions(ids.shape[1], w.shape[1]),
            "not scaled",
        ),
        (
            lambda ids, w: (
                (w[ids] + sinusoidal_positions(ids.shape[1], w.shape[1]))
                * math.sqrt(w.shape[1])
            ),
            "you scaled the sum",
        ),
        (lambda ids, w: w[ids] * math.sqrt(w.shape[1]), "the positions are missing"),
        (
            lambda ids, w: (
                w[ids] * math.sqrt(w.shape[1])
                + sinusoidal_positions(w.shape[0], w.shape[1])[ids]
            ),
            "with the token ids",
        ),
        (lambda ids, w: w[ids[0]] * math.sqrt(w.shape[1]), "should give (B, T, C)"),
        (lambda ids, w: original_correct(ids, w) + 1, "the first vector should be"),
    ],
    ids=[
        "times-C",
        "divided",
        "sqrt-V",
        "unscaled",
        "scaled-sum",
        "no-positions",
        "positions-by-id",
        "shape",
        "other",
    ],
)
def test_original_input_embedding_mistakes(mistake, hint, capsys):
    assert_hint(checks.original_input_embedding, mistake, hint, capsys)


# -------------------------------------------------------- gpt_num_parameters


def count_correct(V, T, L, C):
    return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C


def test_gpt_num_parameters_accepts_correct_code(capsys):
    assert (
        count_correct(50257, 1024, 12, 768) == 124_439_808
    )  # GPT-2 small, as released
    assert_passes(checks.gpt_num_parameters, count_correct, capsys)
    assert_passes(
        checks.gpt_num_parameters,
        lambda V, T, L, C: float(count_correct(V, T, L, C)),
        capsys,
    )


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (lambda V, T, L, C: count_correct(V, T, L, C) + V * C, "tied weights"),
        (lambda V, T, L, C: count_correct(V, T, L, C) - T * C, "position embedding"),
        (lambda V, T, L, C: count_correct(V, T, L, C) - 2 * C, "final LayerNorm"),
        (lambda V, T, L, C: count_correct(V, T, L, C) - 4 * L * C, "two LayerNorms"),
        (
            lambda V, T, L, C: count_correct(V, T, L, C) - 9 * L * C,
            "biases of the linear layers",
        ),
        (
            lambda V, T, L, C: V * C + T * C + 12 * L * C * C + 2 * C,
            "vectors inside the blocks",
        ),
        (lambda V, T, L, C: V * C + T * C + 12 * L * C * C, "every bias and LayerNorm"),
        (
            lambda V, T, L, C: count_correct(V, T, L, C) - L * (C * C + C),
            "output projection",
        ),
        (
            lambda V, T, L, C: V * C + T * C + L * (6 * C * C + 10 * C) + 2 * C,
            "4C wide",
        ),
        (lambda V, T, L, C: count_correct(V, T, L, C) + 1, "off by 1"),
        (lambda V, T, L, C: count_correct(V, T, L, C) + 0.5, "a whole number"),
        (lambda V, T, L, C: 1 / 0, "ZeroDivisionError"),
    ],
    ids=[
        "head-twice",
        "no-positions",
        "no-final-norm",
        "no-block-norms",
        "no-biases",
        "no-vectors",
        "matrices-only",
        "no-out-proj",
        "narrow-ffn",
        "off-by-one",
        "fraction",
        "raises",
    ],
)
def test_gpt_num_parameters_mistakes(mistake, hint, capsys):
    assert_hint(checks.gpt_num_parameters, mistake, hint, capsys)
