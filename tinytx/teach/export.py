"""Trained models as files the book's pages read, so its model widgets run in the page.

    python -m tinytx.teach.export _build/assets/models

writes `shakespeare-char.bin` there: the pretrained GPT in the format below, which
`tinytx/teach/js/transformer.js` reads. `make book` runs this; the file goes into the
built site (`_static/models/`), never into git. A Seq2Seq trained in a notebook
travels the same way, base64-encoded inside its widget's state (`to_bytes`).

Format, little-endian: the 4 bytes ``TTX1``; the header's length n (uint32); n bytes of
UTF-8 JSON ``{"kind", "config", "vocab", "tensors": [[name, shape], ...]}``; zeros up
to a multiple of 4 bytes; then each tensor's values as float16, in the header's order.
Float16 halves the download (2.7 M weights: 5.4 MB) and moves the model's next-token
probabilities by less than 1e-3 (tests/test_live.py measures it).

The page computes the models of chapters 1-10 only: a GPT built with a switch of
chapter 11 (rotary positions, RMSNorm, SwiGLU, fewer key/value heads) is refused with a
ValueError naming the setting, rather than written to a file the page would misread.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import torch
from torch import nn

from tinytx.config import GPTConfig, Seq2SeqConfig
from tinytx.model import GPT
from tinytx.pretrained import pretrained
from tinytx.seq2seq import Seq2Seq
from tinytx.teach.student import write_atomic

MAGIC = b"TTX1"
# Positional modules whose table the page reads as "<name>.table" (block_size, C):
# sinusoids are a buffer outside the state dict, so every table is written out whole.
POSITIONAL = {GPT: ("pos_embed",), Seq2Seq: ("src_pos", "tgt_pos")}
# GPTConfig settings the page's JavaScript model (tinytx/teach/js/transformer.js)
# cannot compute, each with the values it can.
UNSUPPORTED = {
    "positional": (("rope",), "'learned' or 'sinusoidal'"),
    "normalization": (("rmsnorm",), "'layernorm'"),
    "activation": (("swiglu",), "'relu', 'gelu' or 'gelu_tanh'"),
}


def check_page_can_run(model: GPT | Seq2Seq) -> None:
    """Raise a ValueError naming every setting of `model` the page cannot compute."""
    if not isinstance(model, GPT):
        return  # Seq2SeqConfig has none of the switches
    config = model.config
    problems = [
        f"{name}={getattr(config, name)!r} (it runs {supported})"
        for name, (refused, supported) in UNSUPPORTED.items()
        if getattr(config, name) in refused
    ]
    if config.n_kv_head not in (None, config.n_head):
        problems.append(
            f"n_kv_head={config.n_kv_head} (it runs n_kv_head=None, one key/value "
            "head per query head)"
        )
    if problems:
        raise ValueError(
            f"the book's in-page model cannot run this GPT's {', '.join(problems)}; "
            "show a model built without these settings, or run this one in Python"
        )


def tensors_of(model: GPT | Seq2Seq) -> dict[str, torch.Tensor]:
    """{name: tensor} that the page needs: the parameters (a tied matrix once, under
    its embedding's name) and each positional table as "<module>.table"."""
    kind = type(model)
    if kind not in POSITIONAL:
        raise TypeError(f"export handles GPT and Seq2Seq models, got {kind.__name__}")
    check_page_can_run(model)
    tables = POSITIONAL[kind]
    out = {
        name: p.detach()
        for name, p in model.named_parameters()
        if name.split(".")[0] not in tables
    }
    positions = torch.arange(model.config.block_size)
    with torch.no_grad():
        for name in tables:
            out[f"{name}.table"] = getattr(model, name)(positions)
    return out


def to_bytes(model: nn.Module, vocab: dict) -> bytes:
    """The model in the page's format; `vocab` (JSON-able) tells the page its tokens."""
    tensors = tensors_of(model)
    header = json.dumps(
        {
            "kind": type(model).__name__,
            "config": model.config.to_dict(),
            "vocab": vocab,
            "tensors": [[name, list(t.shape)] for name, t in tensors.items()],
        }
    ).encode()
    start = MAGIC + struct.pack("<I", len(header)) + header
    padding = b"\0" * (-len(start) % 4)
    values = [t.to("cpu", torch.float16).flatten() for t in tensors.values()]
    return start + padding + torch.cat(values).numpy().astype("<f2").tobytes()


def from_bytes(data: bytes) -> tuple[GPT | Seq2Seq, dict]:
    """(model, vocab) from `to_bytes`'s output: the page's model, on the CPU in eval
    mode, its weights the float16 values widened to float32."""
    if data[:4] != MAGIC:
        raise ValueError(f"not a tinytx page model: it starts {data[:4]!r}, not TTX1")
    (length,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8 : 8 + length])
    kind = {"GPT": (GPT, GPTConfig), "Seq2Seq": (Seq2Seq, Seq2SeqConfig)}
    model_class, config_class = kind[header["kind"]]
    model = model_class(config_class(**header["config"])).eval()
    start = 8 + length + (-(8 + length) % 4)
    values = torch.frombuffer(bytearray(data[start:]), dtype=torch.float16).float()
    params = dict(model.named_parameters())
    for name, shape in header["tensors"]:
        size = torch.Size(shape).numel()
        tensor, values = values[:size].view(shape), values[size:]
        module = name.removesuffix(".table")
        if name.endswith(".table") and f"{module}.weight" in params:  # learned
            params[f"{module}.weight"].data.copy_(tensor)
        elif name in params:  # sinusoidal tables are rebuilt by the model itself
            params[name].data.copy_(tensor)
    return model, header["vocab"]


def export_pretrained(out_dir: Path, name: str = "shakespeare-char") -> Path:
    """Write the pretrained model `name` to out_dir/<name>.bin; returns the path."""
    model, tokenizer = pretrained(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.bin"
    write_atomic(path, to_bytes(model, {"chars": list(tokenizer.chars)}))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinytx.teach.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the model into")
    args = parser.parse_args(argv)
    path = export_pretrained(args.out_dir)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
