"""tests/gpu: what only a CUDA device can check (CUDA graphs, bf16 autocast, fused
AdamW and Muon there, evaluation's GPU batch). `make test-gpu` runs them on a GPU
machine; `make test` leaves this folder out. On a machine without CUDA every test
here fails with a message that says so: none is skipped."""

import pytest
import torch


@pytest.fixture(autouse=True)
def cuda_device() -> torch.device:
    if not torch.cuda.is_available():
        pytest.fail(
            "tests/gpu needs a CUDA device and torch sees none; run them with "
            "`make test-gpu` on a GPU machine (`make test` leaves them out)"
        )
    return torch.device("cuda")
