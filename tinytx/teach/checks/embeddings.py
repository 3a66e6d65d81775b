"""Checkers for chapter 02, embeddings."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

from tinytx.config import GPTConfig
from tinytx.model import GPT
from tinytx.nn.positional import sinusoidal_positions
from tinytx.teach.checks.core import CheckFailed, call, checker, close, run, show

__all__ = [
    "one_hot_embedding",
    "nearest_neighbours",
    "original_input_embedding",
    "gpt_num_parameters",
]


class _RecordCalls(TorchFunctionMode):
    """Record the names of the torch functions called inside the `with` block."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(getattr(func, "__name__", ""))
        return func(*args, **(kwargs or {}))


# Any of these multiplies the one-hot vectors into the table; a
# pure lookup calls none of them.
_PRODUCTS = {
    "matmul",
    "__matmul__",
    "mm",
    "bmm",
    "einsum",
    "tensordot",
    "linear",
    "mul",
    "__mul__",
    "addmm",
    "inner",
}


def _call_one_hot(
    fn: Callable, ids: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Call fn(ids, weight), turning the usual one-hot errors into pointed hints."""
    V, C = weight.shape
    try:
        return call(fn, ids, weight)
    except CheckFailed as failure:
        message = str(failure)
        if "dtype" in message or "scalar type" in message:
            raise CheckFailed(
                "the matrix product mixed integer and float tensors: F.one_hot returns "
                "int64 (Long). Convert it with .float() (or .to(weight.dtype)) before "
                "multiplying by the table"
            ) from None
        shapes = re.search(r"\((\d+)x(\d+) and (\d+)x(\d+)\)", message)
        if shapes:
            _, inner, rows, cols = (int(s) for s in shapes.groups())
            if inner == V and (rows, cols) == (C, V):
                raise CheckFailed(
                    f"the table is (V, C) = {(V, C)} and a one-hot row has V = {V} "
                    "entries, so multiply one_hot @ weight, not one_hot @ weight.T"
                ) from None
            if inner != V:
                raise CheckFailed(
                    f"your one-hot vectors have {inner} entries but the vocabulary "
                    f"has V = {V}. F.one_hot(ids) guesses num_classes = ids.max() + 1; "
                    "pass num_classes=weight.shape[0]"
                ) from None
        raise


@checker("one_hot_embedding")
def one_hot_embedding(fn: Callable) -> str:
    """Check `fn(ids, weight)` = one_hot(ids, V) @ weight for ids of any
    shape, computed as a product."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 4, generator=generator)
    ids = torch.tensor([5, 0, 2])
    with _RecordCalls() as recorder:
        out = _call_one_hot(fn, ids, weight)
    if out.shape != (3, 4):
        raise CheckFailed(
            "ids of shape (3,) and a (6, 4) table should give (3, 4), "
            f"got {tuple(out.shape)}"
        )
    if not close(out, weight[ids]):
        raise CheckFailed(
            f"row 0 should be weight[5] = {show(weight[5])}, got {show(out[0])}"
        )
    if not recorder.names & _PRODUCTS:
        raise CheckFailed(
            "the values are right, but you looked the rows up directly "
            "(that is what nn.Embedding does). This exercise asks for the product: "
            "build one-hot rows with F.one_hot and multiply them by the table"
        )

    ids = torch.tensor([1, 3, 1, 0])  # the largest id is below V - 1
    out = _call_one_hot(fn, ids, weight)
    if not close(out, weight[ids]):
        raise CheckFailed(
            f"on ids {ids.tolist()} expected rows {ids.tolist()} of the table, "
            "got other values"
        )

    square = torch.randn(5, 5, generator=generator)
    ids = torch.tensor([4, 1, 3])
    out = _call_one_hot(fn, ids, square)
    if not close(out, square[ids]):
        if close(out, square.T[ids]):
            raise CheckFailed(
                "with a square table you returned columns instead of rows: multiply "
                "one_hot @ weight, not one_hot @ weight.T (the table is (V, C): "
                "one row per token)"
            )
        raise CheckFailed(
            f"on a (5, 5) table and ids {ids.tolist()} expected rows {ids.tolist()}, "
            "got other values"
        )

    batch = torch.tensor([[5, 0, 2], [1, 1, 4]])
    out = _call_one_hot(fn, batch, weight)
    if out.shape != (2, 3, 4):
        raise CheckFailed(
            "ids of shape (B, T) = (2, 3) and a (6, 4) table should give "
            f"(B, T, C) = (2, 3, 4), got {tuple(out.shape)}. Do not flatten the ids: "
            "F.one_hot adds a last axis of size V and @ maps it to C"
        )
    if not close(out, weight[batch]):
        raise CheckFailed(
            "on a (2, 3) batch of ids your rows differ from the table's rows"
        )
    return (
        "one_hot(ids, V).float() @ weight picks row ids of the table, "
        "for ids of any shape."
    )


def _cosine_neighbours(weight: torch.Tensor, token_id: int, k: int) -> torch.Tensor:
    unit = weight / weight.norm(dim=-1, keepdim=True)
    similarity = unit @ unit[token_id]
    similarity[token_id] = -math.inf
    return similarity.topk(k).indices


def _neighbour_mistakes(
    weight: torch.Tensor, token_id: int, k: int
) -> dict[str, torch.Tensor]:
    """What each usual mistake returns, with the hint that explains it."""
    dots = weight @ weight[token_id]
    unit = weight / weight.norm(dim=-1, keepdim=True)
    cosines = unit @ unit[token_id]
    by_columns = weight / weight.norm(dim=0, keepdim=True)
    column_cosines = by_columns @ by_columns[token_id]
    distances = (weight - weight[token_id]).norm(dim=-1)
    excluded = lambda s, fill: s.index_fill(0, torch.tensor([token_id]), fill)  # noqa: E731
    return {
        "the token itself came first: its cosine similarity with itself is 1. Exclude "
        "it, e.g. set similarity[token_id] = -inf before topk": cosines.topk(k).indices,
        "you ranked by the raw dot product, which favours long vectors. Normalise "
        "every row to length 1 first (weight / weight.norm(dim=-1, keepdim=True)), "
        "then take dot products": excluded(dots, -math.inf).topk(k).indices,
        "with the token itself excluded you ranked by the raw dot "
        "product, which favours long vectors. Normalise every row "
        "to length 1 first": dots.topk(k).indices,
        "you normalised the columns (norm over dim=0). "
        "Each token is a row: take the norm over dim=-1, "
        "with keepdim=True": excluded(column_cosines, -math.inf).topk(k).indices,
        "these are the least similar tokens: topk picks the largest values "
        "by default, so rank the similarities themselves, not their negatives "
        "(or use largest=True)": excluded(cosines, math.inf)
        .topk(k, largest=False)
        .indices,
        "you ranked by Euclidean distance, which depends on the "
        "vectors' lengths. Use cosine similarity: normalise the rows, "
        "then take dot products": excluded(distances, math.inf)
        .topk(k, largest=False)
        .indices,
    }


@checker("nearest_neighbours")
def nearest_neighbours(fn: Callable) -> str:
    """Check `fn(weight, token_id, k)`: the k other rows most cosine-similar to row
    token_id, most similar first."""
    weight = torch.tensor(
        [
            [1.0, 0.0, 0.0],  # 0: the query
            [0.9, 0.3, 0.0],  # 1: cosine 0.949
            [10.0, 8.0, 0.0],  # 2: cosine 0.781, but by far the largest dot product
            [0.4, 0.4, 0.4],  # 3: cosine 0.577
            [-1.0, 0.0, 0.0],  # 4: cosine -1
            [0.99, -0.14, 0.0],  # 5: cosine 0.990
            [0.0, 0.2, 0.98],  # 6: cosine 0
        ]
    )
    generator = torch.Generator().manual_seed(0)
    cases = [
        (weight, 0, 3),
        (weight, 0, 5),
        (torch.randn(20, 8, generator=generator), 7, 4),
        (3 * torch.randn(30, 16, generator=generator) + 1, 12, 6),
    ]
    suspects: list[str] | None = (
        None  # the mistakes consistent with every failing case so far
    )
    first_failure = ""
    for table, token_id, k in cases:
        out = call(fn, table, token_id, k)
        expected = _cosine_neighbours(table, token_id, k)
        if out.dtype.is_floating_point:
            raise CheckFailed(
                "return the ids of the neighbours (the .indices of topk), "
                "not their similarities"
            )
        if out.shape != (k,):
            raise CheckFailed(
                f"with k={k} return a 1-D tensor of {k} ids, got shape "
                f"{tuple(out.shape)}"
            )
        if torch.equal(out, expected):
            continue
        matching = [
            hint
            for hint, mistake in _neighbour_mistakes(table, token_id, k).items()
            if torch.equal(out, mistake)
        ]
        suspects = (
            matching
            if suspects is None
            else [hint for hint in suspects if hint in matching]
        )
        if not first_failure:
            if set(out.tolist()) == set(expected.tolist()):
                first_failure = (
                    f"right neighbours, wrong order: expected {expected.tolist()} "
                    f"(most similar first), got {out.tolist()}"
                )
            else:
                first_failure = (
                    f"for token {token_id} of a {tuple(table.shape)} table expected "
                    f"{expected.tolist()}, got {out.tolist()}"
                )
        if not suspects:
            raise CheckFailed(first_failure)
        if len(suspects) == 1:  # one mistake explains every failing case so far
            raise CheckFailed(suspects[0])
    if suspects:
        raise CheckFailed(suspects[0])
    return (
        "cosine similarity of unit rows, the token itself excluded, most similar first."
    )


def _original_input(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    T, C = ids.shape[-1], weight.shape[1]
    return weight[ids] * math.sqrt(C) + sinusoidal_positions(T, C)


@checker("original_input_embedding")
def original_input_embedding(fn: Callable) -> str:
    """Check `fn(ids, weight)` = weight[ids] * sqrt(C) +
    sinusoidal_positions(T, C), for ids (B, T)."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(7, 6, generator=generator) / math.sqrt(6)
    ids = torch.tensor([[6, 0, 3, 3], [2, 5, 1, 4]])  # B = 2, T = 4, V = 7, C = 6
    V, C = weight.shape
    T = ids.shape[1]
    out = call(fn, ids, weight)
    if out.shape != (2, T, C):
        raise CheckFailed(
            f"ids (B, T) = (2, {T}) and a (V, C) = {(V, C)} table should give "
            f"(B, T, C) = (2, {T}, {C}), got {tuple(out.shape)}"
        )
    expected = _original_input(ids, weight)
    if close(out, expected):
        return (
            "token vectors scaled by sqrt(C), plus the sinusoidal encoding "
            "of each position t."
        )
    tokens, positions = weight[ids], sinusoidal_positions(T, C)
    mistakes = {
        "you multiplied by C; the paper multiplies by sqrt(C) = sqrt(d_model)": tokens
        * C
        + positions,
        "you divided by sqrt(C); the paper multiplies the embeddings "
        "by sqrt(d_model)": tokens / math.sqrt(C) + positions,
        "you scaled by sqrt(V), the vocabulary size; the scale is sqrt(C), the "
        "embedding width weight.shape[1]": tokens * math.sqrt(V) + positions,
        "the token vectors are not scaled: multiply weight[ids] by sqrt(C) before "
        "adding the positions": tokens + positions,
        "you scaled the sum: only the token embeddings are multiplied by sqrt(C), "
        "the positions are added as they are": (tokens + positions) * math.sqrt(C),
        "the positions are missing: add sinusoidal_positions(T, C), one row "
        "per position 0..T-1": tokens * math.sqrt(C),
        "you looked the position table up with the token ids. Position t of "
        "every sequence gets row t: add sinusoidal_positions(T, C), which "
        "broadcasts over the batch": tokens * math.sqrt(C)
        + sinusoidal_positions(V, C)[ids],
    }
    for hint, mistake in mistakes.items():
        if close(out, mistake):
            raise CheckFailed(hint)
    raise CheckFailed(
        f"the first vector should be {show(expected[0, 0])}, got {show(out[0, 0])}"
    )


def _as_int(value: object) -> int:
    """The reader's count as an int; a float must be a whole number."""
    if torch.is_tensor(value) and value.numel() == 1:
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise CheckFailed(f"return a whole number of parameters (an int), got {value!r}")


def _count_gpt(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    with torch.device("meta"):  # shapes only, no memory
        model = GPT(
            GPTConfig(
                vocab_size=vocab_size,
                block_size=block_size,
                n_layer=n_layer,
                n_head=1,
                n_embd=n_embd,
            )
        )
    return model.num_parameters()


@checker("gpt_num_parameters")
def gpt_num_parameters(fn: Callable) -> str:
    """Check `fn(vocab_size, block_size, n_layer, n_embd)` against a GPT
    built on the meta device."""
    configs = [(65, 128, 6, 192), (50257, 1024, 12, 768), (1000, 64, 3, 32)]
    for V, T, L, C in configs:
        out = run(fn, V, T, L, C)
        got, expected = _as_int(out), _count_gpt(V, T, L, C)
        if got == expected:
            continue
        hints = {
            V * C: (
                "you counted the output head's (V, C) matrix as well, but it is the "
                "token embedding itself (tied weights)"
            ),
            -T * C: "the learned position embedding (block_size, C) is missing",
            -2 * C: (
                "the final LayerNorm before the head (a weight and a bias of "
                "C each) is missing"
            ),
            -L * 4 * C: (
                "each block's two LayerNorms (2 x (weight + bias) = 4C per "
                "block) are missing"
            ),
            -L * 9 * C: (
                "the biases of the linear layers are missing: 4C in attention "
                "(q, k, v, out) and 4C + C in the FFN"
            ),
            -L * 13 * C: (
                "the vectors inside the blocks are missing: 9C of linear biases and 4C "
                "of LayerNorm per block"
            ),
            -L * 13 * C - 2 * C: (
                "every bias and LayerNorm is missing (13C per block and 2C at the end)"
            ),
            -L * (C * C + C): (
                "the attention output projection (C x C + C per block) is missing"
            ),
            -L * (6 * C * C + 3 * C): (
                "the FFN's hidden layer is 4C wide, not C: its two matrices "
                "hold 8C² weights"
            ),
        }
        difference = got - expected
        if difference in hints:
            raise CheckFailed(
                f"for V={V}, block_size={T}, n_layer={L}, n_embd={C}: "
                f"{hints[difference]}"
            )
        raise CheckFailed(
            f"for V={V}, block_size={T}, n_layer={L}, n_embd={C} expected "
            f"{expected:,}, got {got:,} (off by {difference:,}). Count per block: "
            "attention 4(C² + C), FFN 8C² + 5C, LayerNorms 4C"
        )
    return (
        "matches GPT(...).num_parameters() on three sizes, GPT-2 small's "
        "124,439,808 among them."
    )
