"""The chapter 12 checkers pass correct code and catch each usual mistake with its
own hint."""

from __future__ import annotations

import pytest
from checker_helpers import assert_hint, assert_passes, run  # tests/checker_helpers.py

from tinytx import distributed
from tinytx.distributed import World
from tinytx.teach import checks


def test_not_attempted_is_friendly(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    for checker in (checks.shard, checks.allreduce_bytes, checks.zero_memory):
        passed, printed = run(checker, stub, capsys)
        assert not passed
        assert printed.startswith(f"… {checker.__name__}: not attempted yet")


# -------------------------------------------------------- shard


def shard_correct(batch, rank, world_size):
    if len(batch) % world_size:
        raise ValueError(f"{len(batch)} rows do not split into {world_size} shards")
    rows = len(batch) // world_size
    return batch[rank * rows : (rank + 1) * rows]


def test_shard_accepts_correct_code(capsys):
    assert_passes(checks.shard, shard_correct, capsys)


def test_shard_accepts_code_that_calls_tinytx(capsys):
    """tinytx.distributed.shard itself is refused (test_checks_core.py); a function
    of the reader's that calls it passes, since it refuses uneven batches too."""

    def calls_tinytx(batch, rank, world_size):
        return distributed.shard(batch, World(batch.device, rank, world_size))

    assert_passes(checks.shard, calls_tinytx, capsys)


def test_shard_refuses_tinytx_own_function(capsys):
    passed, printed = run(checks.shard, distributed.shard, capsys)
    assert not passed and "tinytx's own shard" in printed


def test_shard_interleaved(capsys):
    def interleaved(batch, rank, world_size):
        if len(batch) % world_size:
            raise ValueError("uneven")
        return batch[rank::world_size]

    assert_hint(checks.shard, interleaved, "every world_size-th row", capsys)


def test_shard_whole_batch(capsys):
    assert_hint(
        checks.shard, lambda batch, rank, n: batch, "returned the whole batch", capsys
    )


def test_shard_one_row_too_many(capsys):
    def off_by_one(batch, rank, world_size):
        rows = len(batch) // world_size
        return batch[rank * rows : (rank + 1) * rows + 1]

    assert_hint(checks.shard, off_by_one, "one too many", capsys)


def test_shard_world_size_as_the_shard_size(capsys):
    def wrong_size(batch, rank, world_size):
        return batch[rank * world_size : (rank + 1) * world_size]

    assert_hint(checks.shard, wrong_size, "The shard size is B", capsys)


def test_shard_uneven_batch_not_refused(capsys):
    def drops_rows(batch, rank, world_size):
        rows = len(batch) // world_size
        return batch[rank * rows : (rank + 1) * rows]

    assert_hint(checks.shard, drops_rows, "Raise a ValueError", capsys)

    def keeps_the_rest(batch, rank, world_size):
        rows = len(batch) // world_size
        end = len(batch) if rank == world_size - 1 else (rank + 1) * rows
        return batch[rank * rows : end]

    assert_hint(checks.shard, keeps_the_rest, "does not split into equal", capsys)


def test_shard_uneven_batch_with_another_error(capsys):
    def asserts(batch, rank, world_size):
        assert len(batch) % world_size == 0, "uneven"
        return shard_correct(batch, rank, world_size)

    assert_hint(checks.shard, asserts, "raised AssertionError: uneven", capsys)


def test_shard_returns_a_list(capsys):
    def as_list(batch, rank, world_size):
        return shard_correct(batch, rank, world_size).tolist()

    assert_hint(checks.shard, as_list, "as a tensor", capsys)


# -------------------------------------------------------- allreduce_bytes


def test_allreduce_bytes_accepts_correct_code(capsys):
    assert_passes(
        checks.allreduce_bytes, lambda n, N, b: 2 * (N - 1) / N * n * b, capsys
    )
    assert_passes(
        checks.allreduce_bytes, lambda n, N, b: 2 * (N - 1) * n * b // N, capsys
    )


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda n, N, b: (N - 1) / N * n * b, "the reduce-scatter alone"),
        (lambda n, N, b: 2 * n * b, "twice the whole tensor"),
        (lambda n, N, b: (N - 1) * n * b, "to each of the N - 1 others"),
        (lambda n, N, b: 2 * (N - 1) * n * b, "twice the whole tensor"),
        (lambda n, N, b: 8 * 2 * (N - 1) / N * n * b, "that counts bits"),
        (lambda n, N, b: 2 * (N - 1) / N * n, "multiply by bytes_per_value"),
        (lambda n, N, b: 2 * ((N - 1) // N) * n * b, "integer division"),
        (lambda n, N, b: 2 * (N - 1) // N * n * b, "integer division"),
        (lambda n, N, b: 2 * max(N - 1, 1) / N * n * b, "on its own"),
    ],
)
def test_allreduce_bytes_mistakes(wrong, hint, capsys):
    assert_hint(checks.allreduce_bytes, wrong, hint, capsys)


# -------------------------------------------------------- zero_memory


def zero_correct(n_params, world_size, stage):
    weights, gradients, optimizer = 2 * n_params, 2 * n_params, 12 * n_params
    if stage >= 1:
        optimizer /= world_size
    if stage >= 2:
        gradients /= world_size
    if stage >= 3:
        weights /= world_size
    return weights + gradients + optimizer


def zero_with(per_param=(2, 2, 12), sharded=None):
    """zero_correct with other bytes per parameter, or other states sharded at each
    stage (sharded[stage]: which of weights, gradients, optimizer are divided)."""
    sharded = sharded or {0: "", 1: "o", 2: "go", 3: "wgo"}

    def zero(n_params, world_size, stage):
        total = 0.0
        for part, size in zip("wgo", per_param):
            total += size * n_params / (world_size if part in sharded[stage] else 1)
        return total

    return zero


def test_zero_memory_accepts_correct_code(capsys):
    assert_passes(checks.zero_memory, zero_correct, capsys)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (zero_with(sharded={0: "wgo", 1: "wgo", 2: "wgo", 3: "wgo"}), "divided every"),
        (zero_with(per_param=(2, 2, 8)), "master copy of the weights"),
        (zero_with(per_param=(2, 0, 2)), "you count 4 bytes per parameter"),
        (zero_with(per_param=(16, 16, 96)), "you counted bits"),
        (zero_with(sharded={0: "", 1: "go", 2: "go", 3: "wgo"}), "gradients too"),
        (zero_with(sharded={0: "", 1: "wgo", 2: "wgo", 3: "wgo"}), "sharded everyth"),
        (zero_with(sharded={0: "", 1: "o", 2: "wgo", 3: "wgo"}), "the weights too"),
        (zero_with(sharded={0: "", 1: "o", 2: "o", 3: "wgo"}), "same as stage 1"),
        (zero_with(sharded={0: "", 1: "o", 2: "go", 3: "go"}), "same as stage 2"),
        (zero_with(per_param=(4, 4, 8)), "you used float32's split"),
        (zero_with(per_param=(3, 3, 12)), "expected 16 bytes per parameter"),
    ],
)
def test_zero_memory_mistakes(wrong, hint, capsys):
    assert_hint(checks.zero_memory, wrong, hint, capsys)


def test_zero_memory_reproduces_the_papers_figure():
    """ZeRO (Rajbhandari et al. 2020), Figure 1: 7.5B parameters on 64 GPUs."""
    gigabytes = [zero_correct(7_500_000_000, 64, stage) / 1e9 for stage in range(4)]
    assert [round(g, 1) for g in gigabytes] == [120.0, 31.4, 16.6, 1.9]
