"""Trained models that ship inside the package, so readers never wait for training.

    model, tokenizer = tinytx.pretrained("shakespeare-char")

Each checkpoint is made by the project's own script (`python -m tinytx.pretrain`) and
loaded with `torch.load(weights_only=True)`; its metadata records how it was trained and
its validation loss.
"""

from __future__ import annotations

from pathlib import Path

from tinytx.checkpoint import load, load_metadata
from tinytx.model import GPT
from tinytx.tokenizers import Tokenizer

CHECKPOINTS = {"shakespeare-char": Path(__file__).with_name("shakespeare-char.pt")}


def pretrained(name: str = "shakespeare-char") -> tuple[GPT, Tokenizer]:
    """The trained model called `name` (in eval mode, on the CPU) and its tokenizer."""
    if name not in CHECKPOINTS:
        raise ValueError(
            f"unknown pretrained model {name!r}; available: "
            f"{', '.join(sorted(CHECKPOINTS))}"
        )
    path = CHECKPOINTS[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"the checkpoint {path} is missing from this install; recreate it with "
            "python -m tinytx.pretrain"
        )
    return load(path), Tokenizer.from_dict(load_metadata(path)["tokenizer"])
