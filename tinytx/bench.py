"""Benchmarks: figures measured in one run, printed as tables (never timed tests).

    python -m tinytx.bench train-to-target --target 1.886 --data PATH [--device D]
    python -m tinytx.bench attention [--device D]
    python -m tinytx.bench generate [--device D]
    python -m tinytx.bench book [--notebooks notebooks]
    python -m tinytx.bench pages [--site _build/html] [--chromium PATH]

train-to-target trains a character GPT with tinytx.train and the project's best measured
recipe (`Recipe`: 2 layers, 4 heads, 128 dims, block 64, Muon) until the loss on the
whole validation split is at most the target; its last line is exactly
`train-to-target: val_loss=X wall_s=Y steps=N tokens_per_s=Z`. `--set field=value`
changes one field of the recipe, to measure what that choice buys: among them the
GPU speed choices, off by default (`--set precision=bf16`, `compile=true`,
`fused=true`, `tf32=true`, `dropout=0.2`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from tinytx.config import GPTConfig
from tinytx.data import train_val_split
from tinytx.device import pick_device, seed
from tinytx.generate import generate
from tinytx.model import GPT
from tinytx.nn.attention import scaled_dot_product_attention
from tinytx.tokenizers import CharTokenizer
from tinytx.train import evaluate, train


@dataclass(frozen=True)
class Recipe:
    """Everything train-to-target chooses; the defaults are the
    measured best on 2 CPU cores."""

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    batch_size: int = 24
    optimizer: str = "muon"
    muon_lr: float = 0.03  # the hidden weight matrices (Muon)
    lr: float = 1e-2  # embeddings, biases and norms (AdamW)
    min_lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    steps: int = (
        330  # the length of the cosine schedule; training stops at the target before
    )
    eval_interval: int = 100
    eval_windows: int = (
        0  # how many validation windows each evaluation reads; 0: all of them
    )
    dropout: float = 0.0  # GPTConfig.dropout (nanoGPT's 1.4697 recipe uses 0.2)
    # Speed choices for GPUs, off by default so that each can be measured on its own
    # (`--set precision=bf16`, ...); see tinytx.train for what each does.
    precision: str = "float32"  # or "bf16": autocast to bfloat16
    compile: bool = False  # torch.compile; the compilation counts in the wall time
    fused: bool = False  # AdamW's fused kernel
    tf32: bool = False  # float32 matrix products in TensorFloat-32 (CUDA only)


# nanoGPT's Shakespeare-char GPU configuration (6 layers, 6 heads, 384 dims, block 256).
GPU_RECIPE = Recipe(
    n_layer=6,
    n_head=6,
    n_embd=384,
    block_size=256,
    batch_size=64,
    optimizer="adamw",
    lr=1e-3,
    min_lr=1e-4,
    warmup_steps=100,
    steps=5000,
    eval_interval=250,
)


def describe_machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{os.cpu_count()} CPU cores ({cpu})"
    )
    return (
        f"{name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"Python {platform.python_version()}"
    )


def train_to_target(
    text: str, target: float, device: torch.device, recipe: Recipe, seed_value: int = 0
) -> dict:
    """Train until the validation loss reaches `target`; the wall time covers the whole
    run (model creation, every step and every evaluation), not the data preparation."""
    tokenizer = CharTokenizer.from_text(text)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_ids, val_ids = train_val_split(ids, 0.1)
    train_ids, val_ids = train_ids.to(device), val_ids.to(device)
    start = time.perf_counter()
    seed(seed_value)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=recipe.block_size,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        n_embd=recipe.n_embd,
        dropout=recipe.dropout,
    )
    model = GPT(config).to(device)
    matmul_precision = torch.get_float32_matmul_precision()
    if recipe.tf32:
        torch.set_float32_matmul_precision("high")
    try:
        history = _train_recipe(model, train_ids, val_ids, recipe, target, seed_value)
    finally:
        torch.set_float32_matmul_precision(matmul_precision)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    steps = len(history.steps)
    return {
        "val_loss": history.val_loss[-1],
        "reached": history.val_loss[-1] <= target,
        "wall_s": wall,
        "steps": steps,
        "tokens_per_s": steps * recipe.batch_size * recipe.block_size / wall,
        "curve": list(zip(history.val_steps, history.val_loss)),
        # When the evaluations read a sample, the whole split too, to
        # show how close the sample was.
        "full_val_loss": evaluate(model, val_ids) if recipe.eval_windows else None,
    }


def _train_recipe(model, train_ids, val_ids, recipe: Recipe, target, seed_value):
    return train(
        model,
        train_ids,
        val_ids,
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        min_lr=recipe.min_lr,
        weight_decay=recipe.weight_decay,
        optimizer=recipe.optimizer,
        muon_lr=recipe.muon_lr,
        warmup_steps=recipe.warmup_steps,
        eval_interval=recipe.eval_interval,
        eval_windows=recipe.eval_windows or None,
        stop_at_val_loss=target,
        seed=seed_value,
        progress=False,
        precision=recipe.precision,
        compile=recipe.compile,
        fused=recipe.fused,
    )


def _time(fn, repeats: int, device: torch.device) -> float:
    """Median seconds of `fn()` over `repeats` runs, after two warm-up runs."""
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def attention_table(
    device: torch.device,
    lengths=(64, 128, 256, 512, 1024),
    batch: int = 8,
    heads: int = 4,
    head_dim: int = 32,
) -> list[tuple[int, float, float]]:
    """(T, explicit ms, fused ms) for causal attention
    forward + backward at each length."""
    rows = []
    for T in lengths:
        q, k, v = (
            torch.randn(batch, heads, T, head_dim, device=device, requires_grad=True)
            for _ in range(3)
        )

        def explicit(q=q, k=k, v=v):
            out, _ = scaled_dot_product_attention(q, k, v, causal=True)
            out.sum().backward()

        def fused(q=q, k=k, v=v):
            F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

        repeats = 10 if T <= 256 else 5
        rows.append(
            (
                T,
                _time(explicit, repeats, device) * 1e3,
                _time(fused, repeats, device) * 1e3,
            )
        )
    return rows


def generate_table(
    device: torch.device, new_tokens=(100, 250, 500), block_size: int = 256
) -> list[tuple[int, float, float, float]]:
    """(new tokens, tokens/s with the decode step, with KVCache through the model's
    modules, recomputing) for a 6x6x192 GPT, greedy from a one-token prompt."""
    seed(0)
    model = GPT(
        GPTConfig(vocab_size=65, block_size=block_size, n_layer=6, n_head=6, n_embd=192)
    ).to(device)
    prompt = torch.zeros(1, 1, dtype=torch.long, device=device)
    paths = (dict(fast=True), dict(fast=False), dict(use_cache=False))
    rows = []
    for n in new_tokens:
        speeds = []
        for path in paths:
            t0 = time.perf_counter()
            generate(model, prompt, n, temperature=0.0, **path)
            if device.type == "cuda":
                torch.cuda.synchronize()
            speeds.append(n / (time.perf_counter() - t0))
        rows.append((n, *speeds))
    return rows


def book_table(notebooks: Path) -> list[tuple[str, float]]:
    """(notebook, seconds) for each chapter run top to bottom in
    a fresh kernel, in a copy."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in sorted(notebooks.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        t0 = time.perf_counter()
        client.execute()
        rows.append((path.stem, time.perf_counter() - t0))
    return rows


def _field_value(current, text: str):
    """text as the type of the recipe field's current value; booleans take
    true/false (bool("false") would be True)."""
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    return type(current)(text)


def _device(name: str | None) -> torch.device:
    return torch.device(name) if name else pick_device()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinytx.bench", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ttt = commands.add_parser(
        "train-to-target", help="train a char GPT until val loss <= target"
    )
    ttt.add_argument("--target", type=float, required=True)
    ttt.add_argument(
        "--data", type=Path, required=True, help="a text file, e.g. tinyshakespeare.txt"
    )
    ttt.add_argument("--device")
    ttt.add_argument("--seed", type=int, default=0)
    ttt.add_argument(
        "--threads",
        type=int,
        help="CPU threads for PyTorch (default: PyTorch's choice, one per core)",
    )
    ttt.add_argument(
        "--recipe", choices=("cpu", "gpu"), help="default: gpu on CUDA, else cpu"
    )
    ttt.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help=(
            "change one field of the recipe, e.g. --set batch_size=16 "
            "(to measure a choice)"
        ),
    )
    for name in ("attention", "generate"):
        commands.add_parser(name).add_argument("--device")
    book = commands.add_parser("book", help="execution time of every notebook")
    book.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    pages = commands.add_parser(
        "pages", help="weight and speed of the built book's live widgets"
    )
    pages.add_argument("--site", type=Path, default=Path("_build/html"))
    pages.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    if args.command == "pages":
        from tinytx.teach.pagebench import page_table

        print(f"pages: headless Chromium, {describe_machine(torch.device('cpu'))}")
        print(
            f"{'page':<24}{'HTML KB':>9}{'all KB':>8}{'ready ms':>10}"
            f"{'update ms':>11}{'model ms':>10}"
        )
        for row in page_table(args.site, args.chromium):
            model = "" if row["model_ms"] is None else f"{row['model_ms']:.1f}"
            print(
                f"{row['page']:<24}{row['html_kb']:>9.0f}{row['kb']:>8.0f}"
                f"{row['ready_ms']:>10.0f}"
                f"{row['update_ms']:>11.1f}{model:>10}"
            )
        return 0

    if args.command == "book":
        rows = book_table(args.notebooks)
        print(f"book: {describe_machine(torch.device('cpu'))}")
        print(f"{'notebook':<28}{'seconds':>9}")
        for name, seconds in rows:
            print(f"{name:<28}{seconds:>9.1f}")
        print(f"{'total':<28}{sum(s for _, s in rows):>9.1f}")
        return 0

    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            print(
                f"error: --threads must be at least 1, got {args.threads}",
                file=sys.stderr,
            )
            return 2
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    print(f"{args.command}: {describe_machine(device)}")
    if args.command == "attention":
        print(f"{'T':>6}{'explicit ms':>13}{'fused ms':>10}{'explicit/fused':>16}")
        for T, explicit, fused in attention_table(device):
            print(f"{T:>6}{explicit:>13.2f}{fused:>10.2f}{explicit / fused:>15.2f}x")
    elif args.command == "generate":
        print(
            f"{'new tokens':>11}{'decode step':>13}{'KVCache':>9}{'recompute':>11}"
            f"{'speed-ups':>16}   (tokens/s)"
        )
        for n, fast, cached, recompute in generate_table(device):
            print(
                f"{n:>11}{fast:>13.0f}{cached:>9.0f}{recompute:>11.0f}"
                f"{fast / recompute:>9.1f}x {cached / recompute:>4.1f}x"
            )
    else:
        if not args.data.is_file():
            print(
                f"error: --data {args.data} is not a file; pass the Tiny Shakespeare "
                "text, e.g. --data ../shared/data/tinyshakespeare.txt",
                file=sys.stderr,
            )
            return 2
        recipe_name = args.recipe or ("gpu" if device.type == "cuda" else "cpu")
        recipe = GPU_RECIPE if recipe_name == "gpu" else Recipe()
        try:
            recipe = dataclasses.replace(
                recipe,
                **{
                    k: _field_value(getattr(recipe, k), v)
                    for k, v in (item.split("=", 1) for item in args.set)
                },
            )
        except (ValueError, TypeError, AttributeError) as error:
            print(
                f"error: --set takes FIELD=VALUE with a field of {recipe}: {error}",
                file=sys.stderr,
            )
            return 2
        print(f"recipe {recipe_name}: {recipe}")
        result = train_to_target(
            args.data.read_text(encoding="utf-8"),
            args.target,
            device,
            recipe,
            args.seed,
        )
        for step, loss in result["curve"]:
            print(f"  step {step:>5}  val {loss:.4f}")
        if result["full_val_loss"] is not None:
            print(f"  whole validation split: {result['full_val_loss']:.4f}")
        if not result["reached"]:
            print(
                f"  target {args.target} not reached within the recipe's "
                f"{recipe.steps} steps"
            )
        print(
            f"train-to-target: val_loss={result['val_loss']:.4f} "
            f"wall_s={result['wall_s']:.1f} steps={result['steps']} "
            f"tokens_per_s={result['tokens_per_s']:.0f}"
        )
        return 0 if result["reached"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
