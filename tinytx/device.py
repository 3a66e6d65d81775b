"""Choosing where tensors live, and making runs repeatable."""

from __future__ import annotations

import os
import random

import torch

DEVICE_VARIABLE = "TINYTX_DEVICE"
DEVICE_CHOICES = ("cpu", "cuda", "mps")
DETERMINISTIC_VARIABLE = "TINYTX_DETERMINISTIC"


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return True


def pick_device() -> torch.device:
    """The fastest available device: CUDA, then Apple's MPS, then the CPU.

    The environment variable TINYTX_DEVICE=cpu|cuda|mps overrides the choice (to run
    the book on the CPU of a GPU machine, say); asking for one that is not there is an
    error, not a silent fall-back, so a GPU test run cannot quietly use the CPU.
    """
    wanted = os.environ.get(DEVICE_VARIABLE, "").strip().lower()
    if wanted:
        if wanted not in DEVICE_CHOICES:
            raise ValueError(
                f"{DEVICE_VARIABLE}={wanted!r} is not a device; use one of "
                f"{', '.join(DEVICE_CHOICES)}"
            )
        if not _available(wanted):
            raise RuntimeError(
                f"{DEVICE_VARIABLE}={wanted} but PyTorch sees no {wanted} device here; "
                f"unset {DEVICE_VARIABLE} to let tinytx pick, or install a "
                f"{wanted} build of torch"
            )
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _available("mps"):
        return torch.device("mps")
    return torch.device("cpu")


def seed(n: int) -> torch.Generator:
    """Seed Python's, NumPy's (if installed) and PyTorch's random generators with `n`.

    Returns a `torch.Generator` seeded with `n` too, for code that wants its own stream
    of random numbers (batch sampling, for instance) that other cells cannot disturb.

    With the environment variable TINYTX_DETERMINISTIC=1 it also makes PyTorch use
    deterministic kernels only (`torch.use_deterministic_algorithms`), so that reruns
    on one GPU repeat exactly; an operation without one then raises. `make test-gpu`
    sets it, with CUBLAS_WORKSPACE_CONFIG=:4096:8, which cuBLAS needs for this.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"seed needs an int, got {type(n).__name__}")
    deterministic = os.environ.get(DETERMINISTIC_VARIABLE, "").strip()
    if deterministic not in ("", "0", "1"):
        raise ValueError(
            f"{DETERMINISTIC_VARIABLE}={deterministic!r}: set it to 1 (on) or 0 (off)"
        )
    if deterministic == "1":
        torch.use_deterministic_algorithms(True)
    random.seed(n)
    torch.manual_seed(n)  # also seeds every CUDA device
    try:
        import numpy
    except ImportError:  # NumPy is optional for tinytx itself
        pass
    else:
        numpy.random.seed(n % 2**32)
    generator = torch.Generator()
    generator.manual_seed(n)
    return generator
