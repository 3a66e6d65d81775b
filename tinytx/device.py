"""Choosing where tensors live, and making runs repeatable."""

from __future__ import annotations

import random

import torch


def pick_device() -> torch.device:
    """The fastest available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed(n: int) -> torch.Generator:
    """Seed Python's, NumPy's (if installed) and PyTorch's random generators with `n`.

    Returns a `torch.Generator` seeded with `n` too, for code that wants its own stream
    of random numbers (batch sampling, for instance) that other cells cannot disturb.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"seed needs an int, got {type(n).__name__}")
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
