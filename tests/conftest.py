"""Shared pytest set-up: Hypothesis profiles and a report header.

Hypothesis profiles (pick one with HYPOTHESIS_PROFILE=...; CI=true picks "ci"):

- "dev": the default. Random examples, but no per-example deadline: the first
  call into a torch kernel can take far longer than later ones, and a deadline
  would turn that warm-up into a flaky failure.
- "ci": the same, plus derandomize=True, so a CI run tries the same examples
  every time and a red run can be reproduced exactly on a laptop
  (HYPOTHESIS_PROFILE=ci make test).

Nothing here skips a test. Tests that need Tiny Shakespeare read it through
tinytx.load_corpus, which finds it via TINYTX_DATA or its cache, and otherwise
fails with a message saying where to put the file.
"""

from __future__ import annotations

import os

import torch
from hypothesis import settings

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
_on_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if _on_ci else "dev"))


def pytest_report_header(config) -> list[str]:
    """Print what a failing run's reader needs first: torch, threads, data, profile."""
    return [
        f"tinytx: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"cuda available: {torch.cuda.is_available()}",
        f"tinytx: TINYTX_DATA={os.environ.get('TINYTX_DATA', '(unset)')}, "
        f"hypothesis profile {settings.get_current_profile_name()}",
    ]
