"""Checkers for chapter 12, distributed training."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tinytx.distributed import allreduce_bytes as _allreduce_bytes
from tinytx.distributed import training_memory
from tinytx.teach.checks.core import CheckFailed, call_for_number, checker, run

__all__ = ["shard", "allreduce_bytes", "zero_memory"]


# -------------------------------------------------------- a rank's shard of the batch


def _batch(rows: int) -> torch.Tensor:
    """(rows, 3) with row i = [10 i, 10 i + 1, 10 i + 2], so a row names itself."""
    return torch.arange(rows)[:, None] * 10 + torch.arange(3)


def _row_ids(out: torch.Tensor) -> list[int]:
    return (out[:, 0] // 10).tolist()


def _got_rows(fn: Callable, batch: torch.Tensor, rank: int, world_size: int) -> list:
    out = run(fn, batch.clone(), rank, world_size)
    if not torch.is_tensor(out):
        raise CheckFailed(
            f"return the rank's rows as a tensor (a slice of batch), got "
            f"{type(out).__name__}"
        )
    if out.dim() != 2 or out.shape[1:] != batch.shape[1:]:
        raise CheckFailed(
            f"for a batch of shape {tuple(batch.shape)} return whole rows, shape "
            f"(B, {batch.shape[1]}); got {tuple(out.shape)}"
        )
    return _row_ids(out)


@checker("shard")
def shard(fn: Callable) -> str:
    """Check `fn(batch, rank, world_size) -> rows rank * B to (rank + 1) * B` with
    B = len(batch) // world_size, and a ValueError when the rows do not split into
    equal shards."""
    for rows, world_size in [(8, 2), (12, 3), (12, 4), (5, 1)]:
        batch = _batch(rows)
        B = rows // world_size
        for rank in range(world_size):
            got = _got_rows(fn, batch, rank, world_size)
            want = list(range(rank * B, (rank + 1) * B))
            if got == want:
                continue
            case = f"with {rows} rows, world_size={world_size} and rank={rank}"
            if got == list(range(rows)) and world_size > 1:
                raise CheckFailed(
                    f"{case} you returned the whole batch: every rank would train on "
                    "the same rows, doing world_size times the work for one batch. "
                    f"Keep rank's B = len(batch) // world_size = {B} rows"
                )
            if got == list(range(rank, rows, world_size)):
                raise CheckFailed(
                    f"{case} you took every world_size-th row, batch[rank::world_size]"
                    f" = rows {got}. That also splits the batch into equal shards, "
                    "and the average gradient would be the same, but the ranks of "
                    "tinytx.train take contiguous blocks: rows rank * B to "
                    f"(rank + 1) * B, here {want}"
                )
            if got == list(range(rank * B, (rank + 1) * B + 1))[: rows - rank * B]:
                raise CheckFailed(
                    f"{case} you returned rows {got}, one too many: a slice excludes "
                    f"its end, so batch[rank * B:(rank + 1) * B] gives {want}"
                )
            if got == list(range(rank * world_size, (rank + 1) * world_size)):
                raise CheckFailed(
                    f"{case} you returned rows {got}: world_size rows from "
                    "rank * world_size. The shard size is B = len(batch) // "
                    f"world_size = {B}, and the shard starts at rank * B: {want}"
                )
            raise CheckFailed(f"{case} expected rows {want}, got rows {got}")
    for rows, world_size in [(7, 2), (10, 4)]:
        try:
            out = fn(_batch(rows), world_size - 1, world_size)
        except NotImplementedError:
            raise
        except ValueError:
            continue
        except Exception as error:  # the reader's code may raise anything
            message = (str(error).splitlines() or [""])[0]
            raise CheckFailed(
                f"a batch of {rows} rows over {world_size} ranks raised "
                f"{type(error).__name__}: {message}; raise a ValueError that says the "
                "rows do not split into equal shards"
            ) from None
        shown = _row_ids(out) if torch.is_tensor(out) and out.dim() == 2 else out
        raise CheckFailed(
            f"a batch of {rows} rows over {world_size} ranks does not split into "
            f"equal shards, but the last rank got {shown} and no error. Raise a "
            "ValueError when len(batch) % world_size != 0: with a mean loss, the "
            "average of unequal shards' gradients is not the batch's gradient, and "
            "dropping rows trains on fewer than asked"
        )
    return (
        "each rank gets its contiguous block of B = len(batch) // world_size rows, "
        "and a batch that does not split evenly is refused."
    )


# -------------------------------------------------------- the ring's traffic


def _same(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


@checker("allreduce_bytes")
def allreduce_bytes(fn: Callable) -> str:
    """Check `fn(n_values, world_size, bytes_per_value) -> bytes each rank sends` in
    a ring all-reduce: 2 (N - 1) / N * n_values * bytes_per_value."""
    cases = [(1000, 2, 4), (1000, 4, 2), (124_439_808, 8, 4), (3000, 3, 2), (10, 1, 4)]
    for n, world_size, size in cases:
        got = call_for_number(fn, n, world_size, size)
        want = _allreduce_bytes(n, world_size, size)
        if _same(got, want):
            continue
        case = (
            f"for {n:,} values of {size} bytes over {world_size} rank"
            f"{'s' if world_size > 1 else ''}"
        )
        if world_size == 1:
            raise CheckFailed(
                f"{case} you return {got:,.0f}: a rank on its own has no one to send "
                "to, so 0 bytes (the factor N - 1 gives it)"
            )
        if _same(got, 8 * want):
            raise CheckFailed(
                f"{case} you return {got:,.0f}, 8 times the answer: that counts bits. "
                "bytes_per_value is already in bytes"
            )
        if _same(got, want / 2):
            raise CheckFailed(
                f"{case} you return {got:,.0f}, half the answer: that is the "
                "reduce-scatter alone. The all-gather then passes the summed chunks "
                "round the ring, and sends as much again: the factor 2"
            )
        if _same(got, 2 * n * size):
            raise CheckFailed(
                f"{case} you return {got:,.0f}, twice the whole tensor: each of the "
                "two phases sends N - 1 chunks of n_values / N values, not the whole "
                "tensor; multiply by (N - 1) / N"
            )
        if _same(got, 2 * (world_size - 1) * n * size) or _same(
            got, (world_size - 1) * n * size
        ):
            raise CheckFailed(
                f"{case} you return {got:,.0f}: that sends the whole tensor to each "
                "of the N - 1 others. The ring sends chunks of n_values / N values: "
                "2 (N - 1) / N times the size in all"
            )
        if _same(got, want / size):
            raise CheckFailed(
                f"{case} you return {got:,.0f}, a number of values: multiply by "
                "bytes_per_value"
            )
        if got == 0 or _same(got, 2 * (world_size - 1) // world_size * n * size):
            raise CheckFailed(
                f"{case} you return {got:,.0f}: (N - 1) // N is 0 in integer "
                "division. Use / (true division), or multiply before dividing"
            )
        raise CheckFailed(f"{case} expected {want:,.0f} bytes, got {got:,.0f}")
    return "2 (N - 1) / N times the tensor's bytes, and 0 for a rank on its own."


# -------------------------------------------------------- memory under ZeRO


def _zero_bytes(n_params: int, world_size: int, stage: int) -> float:
    return sum(training_memory(n_params, world_size, stage, "bf16").values())


@checker("zero_memory")
def zero_memory(fn: Callable) -> str:
    """Check `fn(n_params, world_size, stage) -> bytes per GPU` of the model states of
    mixed-precision AdamW (2 + 2 + 12 bytes per parameter) under ZeRO stage 0 to 3."""
    cases = [
        (7_500_000_000, 64),  # ZeRO's Figure 1: 120, 31.4, 16.6 and 1.9 GB
        (1000, 4),
        (124_439_808, 8),
        (1000, 1),
    ]
    for n, world_size in cases:
        got = {s: call_for_number(fn, n, world_size, s) for s in range(4)}
        want = {s: _zero_bytes(n, world_size, s) for s in range(4)}
        wrong = [s for s in range(4) if not _same(got[s], want[s])]
        if not wrong:
            continue
        s = wrong[0]
        case = f"for {n:,} parameters over {world_size} GPUs at stage {s}"
        per_param = got[0] / n
        fp32 = [sum(training_memory(n, world_size, t, "fp32").values()) for t in got]
        if all(_same(got[t], fp32[t]) for t in got):
            raise CheckFailed(
                f"{case} you used float32's split, 4 + 4 + 8 bytes per parameter. "
                "In mixed precision the 16 bytes are 2 (16-bit weights) + 2 (16-bit "
                "gradients) + 12 (the optimizer's float32 master weights, m and v), "
                "so sharding the optimizer states saves 12 of them"
            )
        if s == 0 and _same(got[0], want[0] / world_size):
            raise CheckFailed(
                f"{case} you divided everything by N: stage 0 is plain data "
                "parallelism, where every GPU holds all 16 bytes per parameter"
            )
        if s == 0 and _same(per_param, 12):
            raise CheckFailed(
                f"{case} you count 12 bytes per parameter: 2 (16-bit weights) + 2 "
                "(16-bit gradients) + 12 for the optimizer, whose states are three "
                "float32 tensors: the master copy of the weights, m and v"
            )
        if s == 0 and (_same(per_param, 8) or _same(per_param, 4)):
            raise CheckFailed(
                f"{case} you count {per_param:g} bytes per parameter; mixed-precision "
                "AdamW keeps 16: 2 + 2 for the 16-bit weights and gradients, 4 + 4 + "
                "4 for the float32 master weights, m and v"
            )
        if s == 0 and _same(per_param, 128):
            raise CheckFailed(f"{case} you counted bits: 16 bytes per parameter")
        if s == 0:
            raise CheckFailed(
                f"{case} expected 16 bytes per parameter ({want[0]:,.0f} bytes), got "
                f"{got[0]:,.0f}"
            )
        if s == 1 and _same(got[1], _zero_bytes(n, world_size, 2)):
            raise CheckFailed(
                f"{case} you sharded the gradients too: stage 1 shards only the "
                "optimizer states (12 bytes per parameter); gradients come at stage 2"
            )
        if s == 1 and _same(got[1], want[0] / world_size):
            raise CheckFailed(
                f"{case} you sharded everything: stage 1 divides only the optimizer's "
                "12 bytes per parameter by N, the 2 + 2 of weights and gradients stay"
            )
        if s == 2 and _same(got[2], want[3]):
            raise CheckFailed(
                f"{case} you sharded the weights too: stage 2 shards the optimizer "
                "states and the gradients; the 16-bit weights are sharded at stage 3"
            )
        if s == 2 and _same(got[2], want[1]):
            raise CheckFailed(
                f"{case} stage 2 gives the same as stage 1: shard the 2 bytes of "
                "gradients per parameter too"
            )
        if s == 3 and _same(got[3], want[2]):
            raise CheckFailed(
                f"{case} stage 3 gives the same as stage 2: shard the 16-bit "
                "weights too, so that all 16 bytes per parameter are divided by N"
            )
        raise CheckFailed(
            f"{case} expected {want[s]:,.0f} bytes, got {got[s]:,.0f}; the stages "
            f"give {', '.join(f'{v:,.0f}' for v in want.values())}"
        )
    return (
        "16 bytes per parameter, the optimizer states, then the gradients, then the "
        "weights divided by N: ZeRO's 120, 31.4, 16.6 and 1.9 GB for 7.5B parameters "
        "on 64 GPUs."
    )
