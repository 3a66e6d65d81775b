"""A one-process training script, run by tests/test_distributed.py under torchrun.

    python -m torch.distributed.run --standalone --nproc_per_node 2 \\
        tests/torchrun_train.py OUT

OUT/setup.pt holds the GPT's config, the token ids and "runs": a list of `tinytx.train`
keyword arguments, one call each, one after the other in this process; a run's
"ctrl_c": {"rank": r, "forward": n} presses Ctrl-C (sends SIGINT) in rank r only,
during its model's n-th forward pass. Each rank writes what it prints (stdout and
stderr, C++ warnings at exit included) to OUT/rank{RANK}.log, works in the folder
OUT/rank{RANK} (so a relative checkpoint path lands there) and saves each run's
weights and history to OUT/rank{RANK}-run{i}.pt.
"""

import dataclasses
import itertools
import os
import signal
import sys
from pathlib import Path

import torch

import tinytx


def ctrl_c_during(forward: int):
    """A forward hook that sends this process SIGINT during its forward-th call."""
    calls = itertools.count(1)

    def press_ctrl_c(module, inputs, output):
        if next(calls) == forward:
            os.kill(os.getpid(), signal.SIGINT)

    return press_ctrl_c


out = Path(sys.argv[1])
rank = int(os.environ["RANK"])
log = os.open(out / f"rank{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(log, 1)
os.dup2(log, 2)
setup = torch.load(out / "setup.pt", weights_only=True)
(out / f"rank{rank}").mkdir()
os.chdir(out / f"rank{rank}")

for i, options in enumerate(setup["runs"]):
    # Rank 1 starts from other weights on purpose: DDP copies rank 0's at the start.
    torch.manual_seed(rank)
    model = tinytx.GPT(tinytx.GPTConfig(**setup["config"]))
    ctrl_c = options.pop("ctrl_c", None)
    if ctrl_c is not None and ctrl_c["rank"] == rank:
        model.register_forward_hook(ctrl_c_during(ctrl_c["forward"]))
    history = tinytx.train(model, setup["train_ids"], setup["val_ids"], **options)
    result = {"weights": model.state_dict(), "history": dataclasses.asdict(history)}
    torch.save(result, out / f"rank{rank}-run{i}.pt")
