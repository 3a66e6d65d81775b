"""Training on several processes with PyTorch's own engine: torchrun, DDP (chapter 12).

`torchrun --nproc_per_node N script.py` starts N copies of a script and tells each one
its place in environment variables: RANK (0 to N - 1 over all machines), WORLD_SIZE
(N), LOCAL_RANK (its index on this machine, which picks its GPU), MASTER_ADDR and
MASTER_PORT (where the ranks meet). `tinytx.train` reads them through `setup`, joins
the ranks in a process group (gloo on CPUs, NCCL on CUDA GPUs) and trains through
`torch.nn.parallel.DistributedDataParallel`, which averages the gradients over the
ranks during the backward pass. In a process on its own, `setup` returns a World of
one and every function here leaves its input alone.

The process group lives as long as the process. `setup` creates it once (a second
`train` reuses it) and destroys it when the interpreter exits, so a script written
for one process runs under torchrun unchanged and exits cleanly. It does not destroy
it earlier because re-creating the default group under torchrun is unreliable: the
new group can read the old one's addresses from torchrun's store. A group the caller
initialised is the caller's to destroy.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place among the processes that train together.

    rank: 0 to world_size - 1; rank 0 prints and saves. local_rank: its index on its
    machine (None when not known). device: where this rank trains.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int | None = None


def _int_variable(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is not a whole number; torchrun sets it for each "
            f"process, so unset {name} or start the script with torchrun"
        ) from None


def from_environment(device: torch.device | str = "cpu") -> World:
    """The World that torch.distributed describes: its process group if one is
    initialised, else the variables torchrun sets, else a World of one."""
    device = torch.device(device)
    if dist.is_available() and dist.is_initialized():
        return World(
            device, dist.get_rank(), dist.get_world_size(), _int_variable("LOCAL_RANK")
        )
    present = [name for name in LAUNCH_VARIABLES[:3] if name in os.environ]
    if not present:
        return World(device)
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        given = ", ".join(f"{name}={os.environ[name]}" for name in present)
        verb = "is" if len(missing) == 1 else "are"
        raise ValueError(
            f"torch.distributed's environment is incomplete: {given} but "
            f"{', '.join(missing)} {verb} not set; start the script with torchrun "
            "(e.g. torchrun --nproc_per_node 2 script.py), which sets them all, "
            f"or unset {', '.join(present)} to train in one process"
        )
    rank, world_size, local_rank = map(_int_variable, LAUNCH_VARIABLES[:3])
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"RANK={rank} with WORLD_SIZE={world_size}: ranks run from 0 to "
            "WORLD_SIZE - 1; let torchrun set both"
        )
    return World(device, rank, world_size, local_rank)


def is_main() -> bool:
    """True in the process that prints and saves: rank 0, or a process on its own."""
    return from_environment().rank == 0


def _destroy() -> None:
    """At exit: close the group `setup` made, unless the caller closed it already."""
    if dist.is_initialized():
        dist.destroy_process_group()


def setup(device: torch.device) -> World:
    """This process's World, joined to the other ranks (once per process).

    `device` is where the model is. Under torchrun a CUDA model trains on
    cuda:LOCAL_RANK (one GPU per process, over NCCL); CPU processes use gloo.
    """
    world = from_environment(device)
    if world.world_size == 1:
        return world
    if device.type not in ("cpu", "cuda"):
        raise ValueError(
            "training on several processes needs CPUs (gloo) or CUDA GPUs (NCCL), "
            f"but the model is on {device.type}; move it with model.to('cpu') or "
            "train in one process (without torchrun)"
        )
    if device.type == "cuda" and world.local_rank is not None:
        processes = _int_variable("LOCAL_WORLD_SIZE") or world.local_rank + 1
        gpus = torch.cuda.device_count()
        if gpus < processes:
            raise RuntimeError(
                f"{processes} processes train on this machine but PyTorch sees "
                f"{gpus} CUDA device(s), and each process needs its own; start at "
                f"most {gpus} (torchrun --nproc_per_node {gpus})"
            )
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
        world = World(device, world.rank, world.world_size, world.local_rank)
    if not dist.is_initialized():
        cuda = device.type == "cuda"
        dist.init_process_group(
            "nccl" if cuda else "gloo", device_id=device if cuda else None
        )
        atexit.register(_destroy)
    return world


def wrap(model: nn.Module, world: World) -> nn.Module:
    """`model` in DistributedDataParallel, which broadcasts rank 0's weights to every
    rank now and averages the gradients over the ranks in each backward pass; the
    model itself in a World of one."""
    if world.world_size == 1:
        return model
    cuda = world.device.type == "cuda"
    return DistributedDataParallel(model, device_ids=[world.device] if cuda else None)


def shard(batch: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's rows of a global batch: (world_size * B, ...) -> (B, ...), the rows
    rank * B to (rank + 1) * B.

    A batch whose rows do not split into world_size equal shards is refused: DDP
    averages the ranks' gradients with equal weights, which is the global batch's
    gradient only when every rank has as many rows (chapter 12)."""
    rows, left_over = divmod(len(batch), world.world_size)
    if left_over:
        raise ValueError(
            f"a global batch of {len(batch)} rows does not split into "
            f"{world.world_size} equal shards; draw a multiple of world_size rows "
            f"(world_size * batch_size)"
        )
    return batch[world.rank * rows : (world.rank + 1) * rows]


def all_reduce_sum(values: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of `values` over the ranks, the same on every rank."""
    if world.world_size == 1:
        return values
    total = values.detach().clone()
    dist.all_reduce(total)
    return total


def all_reduce_mean(values: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of `values` over the ranks, the same on every rank."""
    if world.world_size == 1:
        return values
    return all_reduce_sum(values, world) / world.world_size


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when `flag` is True on at least one of them."""
    if world.world_size == 1:
        return flag
    flags = torch.tensor([float(flag)], device=world.device)
    return all_reduce_sum(flags, world).item() > 0


def barrier(world: World) -> None:
    """Wait until every rank gets here."""
    if world.world_size > 1:
        dist.barrier()


# ---------------------------------------------------------------- what it costs
#
# The arithmetic of chapter 12 (and of its calculator widget): bytes on the wire per
# step and bytes of model state per rank. GB in the chapter are 10**9 bytes.

# Bytes per parameter of the model states that AdamW training keeps. "fp32": weights,
# gradients and both moments in float32 (tinytx.train, also with precision="bf16",
# whose autocast computes in bfloat16 but keeps weights and gradients in float32).
# "bf16": mixed precision as ZeRO (Rajbhandari et al. 2020) counts it: 16-bit weights
# and gradients, and the optimizer's float32 master copy of the weights, m and v.
STATE_BYTES = {
    "fp32": {"weights": 4, "gradients": 4, "optimizer": 8},
    "bf16": {"weights": 2, "gradients": 2, "optimizer": 12},
}
# ZeRO stage -> the states it shards over the ranks. Stage 0 is plain data
# parallelism (DDP); stage 3 shards everything, as FSDP does.
SHARDED = {
    0: (),
    1: ("optimizer",),
    2: ("optimizer", "gradients"),
    3: ("optimizer", "gradients", "weights"),
}


def _check_cost_arguments(n_values: int, world_size: int) -> None:
    if n_values < 0:
        raise ValueError(f"need a number of values >= 0, got {n_values}")
    if isinstance(world_size, bool) or not isinstance(world_size, int):
        raise TypeError(f"world_size must be an int, got {world_size!r}")
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")


def allreduce_bytes(n_values: int, world_size: int, bytes_per_value: int) -> float:
    """Bytes that each rank sends (and receives) in a ring all-reduce of a tensor of
    n_values values: 2 (world_size - 1) / world_size times the tensor's size.

    The ring cuts the tensor into world_size chunks and passes them around twice:
    world_size - 1 steps to add up every chunk (reduce-scatter), world_size - 1 steps
    to hand the sums round (all-gather), one chunk per rank and step.
    """
    _check_cost_arguments(n_values, world_size)
    return 2 * (world_size - 1) * n_values * bytes_per_value / world_size


def step_traffic(
    n_params: int, world_size: int, bytes_per_value: int, stage: int = 0
) -> float:
    """Bytes each rank sends per training step to keep the replicas in step.

    Stages 0 to 2 (DDP, ZeRO-1, ZeRO-2): one ring all-reduce of the gradients (ZeRO-1
    and 2 split it into the reduce-scatter and the all-gather, the same bytes). Stage 3
    (FSDP) gathers the weights twice, for the forward and the backward pass, and
    reduce-scatters the gradients: 3 (world_size - 1) / world_size times the size, 1.5
    times as much.
    """
    if stage not in SHARDED:
        raise ValueError(f"stage must be 0, 1, 2 or 3, got {stage!r}")
    ring = allreduce_bytes(n_params, world_size, bytes_per_value)
    return 1.5 * ring if stage == 3 else ring


def training_memory(
    n_params: int, world_size: int = 1, stage: int = 0, precision: str = "fp32"
) -> dict[str, float]:
    """Bytes per rank of the weights, the gradients and AdamW's states of a model
    of n_params parameters, under ZeRO stage `stage` over world_size ranks.

    Activations, temporary buffers and (under stage 3) the layer being gathered come
    on top. precision: "fp32" or "bf16" (see STATE_BYTES).
    """
    _check_cost_arguments(n_params, world_size)
    if stage not in SHARDED:
        raise ValueError(f"stage must be 0, 1, 2 or 3, got {stage!r}")
    if precision not in STATE_BYTES:
        raise ValueError(
            f"precision must be one of {sorted(STATE_BYTES)}, got {precision!r}"
        )
    return {
        part: n_params * size / (world_size if part in SHARDED[stage] else 1)
        for part, size in STATE_BYTES[precision].items()
    }
