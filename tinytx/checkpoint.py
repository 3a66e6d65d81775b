"""Saving and loading models safely.

A checkpoint is one file holding plain data only: the model's kind, its configuration
as a dict, the weights, and optional metadata (numbers, strings, lists, dicts; e.g. a
tokenizer's `to_dict()`). Loading uses `torch.load(weights_only=True)`, which refuses
to run any code stored in the file, and rebuilds the model from the stored
configuration. Writes go to a temporary file that is renamed over the target only when
complete, so a crash mid-save never destroys an earlier checkpoint.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinytx.config import GPTConfig, Seq2SeqConfig
from tinytx.model import GPT
from tinytx.seq2seq import Seq2Seq

FORMAT_VERSION = 1
PLAIN_TYPES = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError unless `value` is built from plain types only, which
    weights_only loading accepts."""
    if type(value) in PLAIN_TYPES:
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"metadata keys must be str, got {key!r} in {where}")
            _check_plain(item, f"{where}[{key!r}]")
    else:
        raise TypeError(
            f"metadata{where[len('metadata') :]} is a {type(value).__name__}; "
            "a checkpoint stores only str, int, float, bool, None, lists and dicts "
            "(convert it, e.g. str(value) or value.tolist()), so that it loads safely"
        )


KINDS = {"GPT": (GPT, GPTConfig), "Seq2Seq": (Seq2Seq, Seq2SeqConfig)}


def save(
    model: nn.Module,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    weights_dtype: torch.dtype | None = None,
) -> Path:
    """Write `model` (GPT or Seq2Seq) with its config and
    `metadata` to `path` atomically.

    weights_dtype=torch.float16 stores floating-point weights at half the size; `load`
    casts them back to the model's float32.
    """
    kind = type(model).__name__
    if kind not in KINDS:
        raise TypeError(f"save handles {' and '.join(KINDS)} models, got {kind}")
    _check_plain(metadata or {}, "metadata")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": model.config.to_dict(),
        "state_dict": {
            name: tensor.detach().cpu().to(weights_dtype)
            if weights_dtype and tensor.is_floating_point()
            else tensor.detach().cpu()
            for name, tensor in model.state_dict().items()
        },
        "metadata": metadata or {},
    }
    handle, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(
            tmp_name, 0o644
        )  # mkstemp makes the file private; a checkpoint is an ordinary file
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict of `path`, checked: format_version, kind,
    config, state_dict, metadata."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; check the path (save one with "
            "tinytx.save(model, path))"
        )
    with open(path, "rb") as f:
        starts_like_a_zip = (
            f.read(4) == b"PK\x03\x04"
        )  # torch.save writes a zip archive
    if not starts_like_a_zip:
        raise ValueError(
            f"{path} is not a checkpoint: tinytx.save (like torch.save) writes "
            "a zip archive, and this file is something else; pass the file "
            "that tinytx.save wrote"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is truncated or corrupted: it starts like a checkpoint but its "
            "end is missing (an interrupted copy or download?); copy or save it again"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} is not a plain tinytx checkpoint: it asks to run code or build "
            f"objects that safe loading refuses ({str(error).splitlines()[0]}). "
            "Load only files you trust, and re-save them with tinytx.save"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} could not be read as a checkpoint (truncated or corrupted?): "
            f"{str(error).splitlines()[0]}"
        ) from None
    required = {"format_version", "kind", "config", "state_dict", "metadata"}
    if not isinstance(checkpoint, dict) or not required <= checkpoint.keys():
        raise ValueError(
            f"{path} is not a tinytx checkpoint (expected the keys {sorted(required)})"
        )
    if checkpoint["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {checkpoint['format_version']}; "
            f"this tinytx reads {FORMAT_VERSION}"
        )
    if checkpoint["kind"] not in KINDS:
        raise ValueError(
            f"{path} holds a {checkpoint['kind']!r} model; tinytx knows {sorted(KINDS)}"
        )
    return checkpoint


def load(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the GPT or Seq2Seq saved at `path` from its stored
    config and weights (eval mode)."""
    checkpoint = read_checkpoint(path)
    model_class, config_class = KINDS[checkpoint["kind"]]
    try:
        config = config_class(**checkpoint["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path} stores an invalid {config_class.__name__}: {error}"
        ) from None
    model = model_class(config)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise ValueError(
            f"{path}: the weights do not match the stored config: "
            f"{str(error).splitlines()[0]}"
        ) from None
    return model.to(map_location).eval()


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict stored with the checkpoint at `path`."""
    return read_checkpoint(path)["metadata"]
