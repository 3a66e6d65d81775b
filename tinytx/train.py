"""Training a language model on a stream of token ids (chapter 09).

One step: draw a batch of random windows, forward, loss, backward, clip the gradient
norm, AdamW step, with the learning rate warmed up linearly and then decayed along a
cosine. Validation runs every `eval_interval` steps on a fixed set of windows, so
the numbers are comparable from one evaluation to the next. Under torchrun the same
call trains on several processes at once (see `tinytx.distributed`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tinytx import distributed
from tinytx.checkpoint import save
from tinytx.data import get_batch
from tinytx.device import seed as seed_everything
from tinytx.distributed import World
from tinytx.optim import Muon


@dataclass
class TrainHistory:
    """What happened during `train`: losses per step, validation losses, learning rates.

    grad_norms maps a parameter name to its gradient norm at each step of
    grad_norm_steps (filled only when `train(grad_norm_every=...)` is given).
    interrupted is True when training stopped early on Ctrl-C. elapsed holds the
    seconds from the start of `train` to the end of each step, as Python saw them (on
    a GPU the step's last kernels may still be running; each step waits for the one
    before it to finish its loss).
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    grad_norm_steps: list[int] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    interrupted: bool = False


def learning_rate(
    step: int, *, lr: float, steps: int, warmup_steps: int, min_lr: float
) -> float:
    """Linear warmup from 0 to lr over warmup_steps, then a cosine
    decay to min_lr at `steps`."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


@contextlib.contextmanager
def _stop_requested_on_ctrl_c() -> Iterator[threading.Event]:
    """While training, Ctrl-C (SIGINT) sets the event instead
    of raising KeyboardInterrupt.

    An interrupt that raised inside `optimizer.step()` could leave some parameters
    updated and others not; checking the event between steps stops on a whole step. Only
    the main thread can own signal handlers; elsewhere the event is never set and a
    KeyboardInterrupt still stops training (caught in `train`).
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: requested.set())
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_ids(ids: torch.Tensor, name: str, block_size: int) -> None:
    if not torch.is_tensor(ids) or ids.dim() != 1 or ids.dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a 1-D tensor of token ids, e.g. "
            "torch.tensor(tokenizer.encode(text))"
        )
    if len(ids) < block_size + 1:
        raise ValueError(
            f"{name} has {len(ids)} tokens but a window needs block_size + 1 = "
            f"{block_size + 1} (inputs plus the shifted targets); use more data "
            "or a smaller block_size"
        )


def _window_starts(
    ids: torch.Tensor, block_size: int, max_windows: int | None
) -> torch.Tensor:
    """Where `evaluate`'s windows start in `ids`: (W,), non-overlapping, or
    max_windows of them spread evenly."""
    n_windows = (len(ids) - 1) // block_size
    starts = torch.arange(n_windows) * block_size
    if max_windows is not None and max_windows < n_windows:
        starts = starts[torch.linspace(0, n_windows - 1, max_windows).round().long()]
    return starts


# How many logits `evaluate` may hold at once on a GPU: 2**26 numbers, 256 MiB in
# float32 (the loss makes a second copy of that size).
_GPU_LOGITS_BUDGET = 2**26


def eval_batch_size(device: torch.device, block_size: int, vocab_size: int) -> int:
    """How many windows `evaluate` reads per forward pass when not told: 32 on a CPU;
    on a GPU as many as keep the batch's (windows, block_size, vocab_size) logits
    within 2**26 numbers, so a GPU reads a small validation split in one pass (435
    windows of 256 for Tiny Shakespeare) instead of waiting on many small ones."""
    if device.type != "cuda":
        return 32
    return max(1, _GPU_LOGITS_BUDGET // (block_size * vocab_size))


@torch.no_grad()
def _summed_loss(
    model: nn.Module,
    ids: torch.Tensor,
    starts: torch.Tensor,
    *,
    batch_size: int | None,
    block_size: int,
) -> tuple[float, int]:
    """The windows' losses summed (each window's mean over its tokens) and their
    count, in eval mode; the model's mode is restored afterwards. The sum stays on
    the device until the end (one synchronisation, not one per batch), in float64 as
    Python's floats would be, so the result does not depend on where it is summed."""
    offsets = torch.arange(block_size)
    device = next(model.parameters()).device
    if batch_size is None:
        batch_size = eval_batch_size(device, block_size, model.config.vocab_size)
    was_training = model.training
    model.eval()
    # float64 needs a device that has it: Apple's MPS has not, so there the sum is
    # kept on the CPU (and each batch waits for its loss, as before)
    sum_device = torch.device("cpu") if device.type == "mps" else device
    total = torch.zeros((), dtype=torch.float64, device=sum_device)
    try:
        for batch_starts in starts.split(batch_size):
            index = batch_starts[:, None] + offsets  # (b, T)
            x, y = ids[index].to(device), ids[index + 1].to(device)
            _, loss = model(x, y)
            total += loss.to(sum_device).double() * len(batch_starts)
    finally:
        model.train(was_training)
    return total.item(), len(starts)


def evaluate(
    model: nn.Module,
    ids: torch.Tensor,
    *,
    batch_size: int | None = None,
    block_size: int | None = None,
    max_windows: int | None = None,
) -> float:
    """Mean next-token loss on non-overlapping windows of `ids` (1-D), deterministic.

    With max_windows, that many windows spread evenly over the data are used instead of
    all of them. batch_size windows go through the model at once (None:
    `eval_batch_size`, 32 on a CPU and more on a GPU). The model is evaluated in eval
    mode (no dropout), then restored.
    """
    block_size = model.config.block_size if block_size is None else block_size
    _check_ids(ids, "evaluation data", block_size)
    starts = _window_starts(ids, block_size, max_windows)
    total, count = _summed_loss(
        model, ids, starts, batch_size=batch_size, block_size=block_size
    )
    return total / count


def _evaluate_on_all_ranks(
    model: nn.Module, ids: torch.Tensor, world: World, max_windows: int | None
) -> float:
    """`evaluate`, with the windows shared out among the ranks: each sums the losses
    of its share and an all_reduce adds up the sums and counts, so every rank gets
    the mean one process would compute (up to the order of the additions)."""
    if world.world_size == 1:
        return evaluate(model, ids, max_windows=max_windows)
    block_size = model.config.block_size
    starts = _window_starts(ids, block_size, max_windows)
    total, count = _summed_loss(
        model,
        ids,
        starts.tensor_split(world.world_size)[world.rank],
        batch_size=None,
        block_size=block_size,
    )
    sums = torch.tensor([total, count], dtype=torch.float64, device=world.device)
    total, count = distributed.all_reduce_sum(sums, world).tolist()
    return total / count


PRECISIONS = {"float32": None, "bf16": torch.bfloat16}


def _autocast(
    device: torch.device, precision: str
) -> contextlib.AbstractContextManager:
    """torch.autocast to the precision's dtype on the model's device; nothing for
    float32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _optimizers(
    model: nn.Module,
    name: str,
    *,
    lr: float,
    muon_lr: float,
    weight_decay: float,
    fused: bool = False,
) -> list[torch.optim.Optimizer]:
    """AdamW over every parameter, or Muon for the hidden nn.Linear
    weights plus AdamW for the rest.

    Each param group records "lr_scale", its peak learning rate over lr: the schedule's
    learning rate for the step is multiplied by it (1.0 for AdamW's groups, exactly).
    fused=True uses PyTorch's fused AdamW kernel (one kernel for all parameters).
    """
    if name not in ("adamw", "muon"):
        raise ValueError(f"optimizer must be 'adamw' or 'muon', got {name!r}")
    muon_params = []
    if name == "muon":
        if not muon_lr > 0:
            raise ValueError(f"muon_lr must be > 0, got {muon_lr}")
        # The head reads out tokens (and may share its matrix with the
        # token embedding): AdamW's job.
        muon_params = [
            module.weight
            for path, module in model.named_modules()
            if isinstance(module, nn.Linear) and path != "head"
        ]
    in_muon = {id(p) for p in muon_params}
    rest = [p for p in model.parameters() if id(p) not in in_muon]
    adamw = torch.optim.AdamW(
        [
            {
                "params": [p for p in rest if p.dim() >= 2],
                "weight_decay": weight_decay,
                "lr_scale": 1.0,
            },
            {
                "params": [p for p in rest if p.dim() < 2],
                "weight_decay": 0.0,
                "lr_scale": 1.0,
            },
        ],
        lr=lr,
        betas=(0.9, 0.99),
        fused=fused or None,  # None: PyTorch's default (the foreach loop)
    )
    if not muon_params:
        return [adamw]
    muon = Muon(muon_params, lr=muon_lr)
    muon.param_groups[0]["lr_scale"] = muon_lr / lr
    return [muon, adamw]


def train(
    model: nn.Module,
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float = 1e-3,
    min_lr: float | None = None,
    warmup_steps: int | None = None,
    weight_decay: float = 0.1,
    optimizer: str = "adamw",
    muon_lr: float = 0.02,
    grad_clip: float | None = 1.0,
    eval_interval: int | None = None,
    eval_windows: int | None = 200,
    grad_norm_every: int | None = None,
    stop_at_val_loss: float | None = None,
    seed: int = 0,
    progress: bool = True,
    precision: str = "float32",
    compile: bool = False,
    fused: bool = False,
    checkpoint: str | os.PathLike | None = None,
) -> TrainHistory:
    """Train `model` (a GPT) on random windows of train_ids; returns a TrainHistory.

    Args:
        train_ids, val_ids: 1-D tensors of token ids.
        steps: optimizer steps. batch_size: windows per step (each block_size long).
        lr: peak learning rate; min_lr: final one (default lr / 10).
        warmup_steps: linear warmup length (default: 5% of the steps, at most 200).
        weight_decay: AdamW decay, applied to weight matrices
            only (not biases or norms).
        optimizer: "adamw" trains everything with AdamW. "muon" trains the weight
            of every nn.Linear except the output head with `tinytx.optim.Muon`
            at muon_lr (same warmup and decay), and the rest (embeddings,
            biases, norms) with AdamW at lr.
        grad_clip: clip the total gradient norm to this (None: no clipping).
        eval_interval: validate every this many steps and at the end
            (default: 10 times in all).
        eval_windows: how many validation windows each evaluation uses
            (fixed, spread evenly); None: every window of val_ids.
        grad_norm_every: record every parameter's gradient norm every this many steps.
        stop_at_val_loss: stop at the first evaluation whose validation loss is <= this.
        seed: seeds the batch sampler, so the same call sees the same batches.
        progress: show a tqdm progress bar.
        precision: "float32", or "bf16" to run the forward pass and the loss under
            torch.autocast with bfloat16 (matrix products in bfloat16, weights,
            gradients and the optimizer in float32). Evaluation stays float32.
        compile: train through torch.compile(model) (the first steps pay for the
            compilation; the model's weights are shared with the compiled one).
        fused: AdamW's fused kernel (see `_optimizers`).
        checkpoint: after each evaluation, save the model there with `tinytx.save`
            (metadata: step and val_loss), replacing the previous save.

    Under torchrun (see `tinytx.distributed`) every process runs this same call: each
    rank trains a copy of the model through DistributedDataParallel on its own
    batch_size windows, so a step sees world_size * batch_size windows, exactly those
    one process would draw with that batch_size. A CUDA model moves to cuda:LOCAL_RANK.
    The losses in the history are averaged over the ranks; only rank 0 shows progress
    and saves the checkpoint, and every rank returns once it is written. The model
    passed in ends with the trained weights on every rank. compile=True compiles the
    DistributedDataParallel model (Dynamo splits the graph at DDP's gradient buckets).

    Ctrl-C stops training after the step in progress and returns the history so far
    (interrupted=True); the model keeps the weights of its last complete step.
    A loss that is not finite stops training with a ValueError naming the step, before
    that step changes any weight.
    """
    if isinstance(model, DistributedDataParallel):
        raise TypeError(
            "pass the model itself (model.module), not DistributedDataParallel(model): "
            "under torchrun, train wraps it"
        )
    block_size = model.config.block_size
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    _check_ids(train_ids, "train_ids", block_size)
    _check_ids(val_ids, "val_ids", block_size)
    min_lr = lr / 10 if min_lr is None else min_lr
    warmup_steps = (
        min(200, max(1, steps // 20)) if warmup_steps is None else warmup_steps
    )
    eval_interval = max(1, steps // 10) if eval_interval is None else eval_interval

    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}"
        )
    start_time = time.perf_counter()
    world = distributed.setup(next(model.parameters()).device)
    device = world.device
    model.to(device)  # a no-op in one process; under torchrun, this rank's GPU
    optimizers = _optimizers(
        model,
        optimizer,
        lr=lr,
        muon_lr=muon_lr,
        weight_decay=weight_decay,
        fused=fused,
    )
    trained = distributed.wrap(model, world)
    forward = torch.compile(trained) if compile else trained
    generator = seed_everything(seed)
    history = TrainHistory()
    bar = None
    if progress and world.rank == 0:
        from tqdm.auto import tqdm  # imported here: tqdm is needed only when training

        bar = tqdm(total=steps, desc="training", unit="step")
    model.train()
    with _stop_requested_on_ctrl_c() as stop:
        try:
            for step in range(steps):
                # Ctrl-C may reach one rank only; they all stop at the same step
                if distributed.any_rank(stop.is_set(), world):
                    history.interrupted = True
                    break
                step_lr = learning_rate(
                    step, lr=lr, steps=steps, warmup_steps=warmup_steps, min_lr=min_lr
                )
                for opt in optimizers:
                    for group in opt.param_groups:
                        group["lr"] = step_lr * group["lr_scale"]
                # Every rank draws the same global batch and keeps its own rows,
                # so the ranks together see what one process would see.
                rows = world.world_size * batch_size
                x, y = get_batch(train_ids, rows, block_size, generator=generator)
                x, y = distributed.shard(x, world), distributed.shard(y, world)
                with _autocast(device, precision):
                    _, loss = forward(x.to(device), y.to(device))
                # the global batch's loss, so that every rank stops on a bad one
                loss_value = distributed.all_reduce_mean(loss.detach(), world).item()
                if not math.isfinite(loss_value):
                    raise ValueError(
                        f"training loss became {loss_value} at step {step}; "
                        f"lower the learning rate (lr={lr}) or keep gradient clipping "
                        f"on (grad_clip={grad_clip})"
                    )
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                if grad_norm_every is not None and step % grad_norm_every == 0:
                    history.grad_norm_steps.append(step)
                    for name, param in model.named_parameters():
                        if param.grad is not None:
                            history.grad_norms.setdefault(name, []).append(
                                param.grad.norm().item()
                            )
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                for opt in optimizers:
                    opt.step()
                history.steps.append(step)
                history.train_loss.append(loss_value)
                history.lr.append(step_lr)
                history.elapsed.append(time.perf_counter() - start_time)
                if (step + 1) % eval_interval == 0 or step + 1 == steps:
                    history.val_steps.append(step + 1)
                    history.val_loss.append(
                        _evaluate_on_all_ranks(model, val_ids, world, eval_windows)
                    )
                    if checkpoint is not None and world.rank == 0:
                        metadata = {"step": step + 1, "val_loss": history.val_loss[-1]}
                        save(model, checkpoint, metadata=metadata)
                if bar is not None:
                    bar.update(1)
                    postfix = {"loss": f"{loss_value:.3f}"}
                    if history.val_loss:
                        postfix["val"] = f"{history.val_loss[-1]:.3f}"
                    bar.set_postfix(postfix)
                if (
                    stop_at_val_loss is not None
                    and history.val_steps
                    and history.val_steps[-1] == step + 1
                    and history.val_loss[-1] <= stop_at_val_loss
                ):
                    break
        except (
            KeyboardInterrupt
        ):  # raised only off the main thread, where no handler can be set
            history.interrupted = True
        finally:
            if bar is not None:
                bar.close()
    if checkpoint is not None:
        distributed.barrier(world)  # no rank returns before the checkpoint is written
    return history
