"""Benchmarks: figures measured in one run, printed as tables (never timed tests).

    python -m tinytx.bench train-to-target --target 1.886 --data PATH [--device D]
    python -m tinytx.bench attention [--device D]
    python -m tinytx.bench generate [--device D]
    python -m tinytx.bench book [--notebooks notebooks]
    python -m tinytx.bench pages [--site _build/html] [--chromium PATH]
    python -m tinytx.bench choices [CHOICE ...] --data PATH [--device D] [--steps N]

train-to-target trains a character GPT with tinytx.train until the loss on the whole
validation split is at most the target; its last line is exactly
`train-to-target: val_loss=X wall_s=Y steps=N tokens_per_s=Z`. On a CPU it uses the
project's best measured recipe (`Recipe`: 2 layers, 4 heads, 128 dims, block 64, Muon),
on CUDA nanoGPT's GPU recipe and speed choices (`GPU_RECIPE`). `--set field=value`
changes one field of the recipe, to measure what that choice buys (e.g.
`--set precision=float32`, `compile=false`, `dropout=0.0`).

choices times the GPU speed choices (TF32, bf16 autocast, fused AdamW,
torch.compile) one at a time: the recipe for a fixed number of steps with none of
them, with each alone, and with all, a line each.
"""

from __future__ import annotations

import argparse
import contextlib
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
    # Speed choices for GPUs, off on a CPU (TF32 is CUDA's; bf16 products are slow
    # on CPUs without native bfloat16) and on in GPU_RECIPE; see tinytx.train for
    # what each does and `bench choices` for what each buys.
    precision: str = "float32"  # or "bf16": autocast to bfloat16
    compile: bool = False  # torch.compile; the compilation counts in the wall time
    fused: bool = False  # AdamW's fused kernel
    tf32: bool = False  # float32 matrix products in TensorFloat-32 (CUDA only)


# nanoGPT's Shakespeare-char GPU recipe (config/train_shakespeare_char.py: 6 layers,
# 6 heads, 384 dims, block 256, batch 64, dropout 0.2, AdamW at 1e-3 with beta2 0.99,
# 100 warm-up steps, a cosine to 1e-4 over 5,000 steps), whose published validation
# loss is 1.4697, with nanoGPT's speed choices on its GPU (bf16 autocast, TF32, fused
# AdamW, torch.compile). Without dropout neither trainer gets under about 1.52
# (measured on an H200, both overfit after step ~750). `bench choices` times each
# speed choice on its own.
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
    dropout=0.2,
    precision="bf16",
    compile=True,
    fused=True,
    tf32=True,
)

# The speed choices `bench choices` measures one at a time: field -> value when on.
SPEED_CHOICES = {
    "tf32": ("tf32", True),
    "bf16": ("precision", "bf16"),
    "fused": ("fused", True),
    "compile": ("compile", True),
}
_ALL_OFF = dict(tf32=False, precision="float32", fused=False, compile=False)


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
    model = GPT(_gpt_config(recipe, tokenizer.vocab_size)).to(device)
    with _matmul_precision(recipe.tf32):
        history = _train_recipe(model, train_ids, val_ids, recipe, target, seed_value)
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


def _gpt_config(recipe: Recipe, vocab_size: int) -> GPTConfig:
    return GPTConfig(
        vocab_size=vocab_size,
        block_size=recipe.block_size,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        n_embd=recipe.n_embd,
        dropout=recipe.dropout,
    )


@contextlib.contextmanager
def _matmul_precision(tf32: bool):
    """float32 matrix products in TensorFloat-32 (on CUDA) while inside, if tf32."""
    previous = torch.get_float32_matmul_precision()
    if tf32:
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


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


def generate_paths(device: torch.device) -> dict[str, dict]:
    """The generation paths `generate_table` times, name -> generate's keywords: the
    decode step (recorded as a CUDA graph, on CUDA, and run directly), chapter 9's
    KVCache path through the modules, and recomputing the window every step."""
    paths = {"decode step": dict(decode_mode="eager")}
    if device.type == "cuda":
        paths = {"CUDA graph": dict(decode_mode="cuda-graph"), **paths}
    return {**paths, "KVCache": dict(fast=False), "recompute": dict(use_cache=False)}


def generate_table(
    device: torch.device,
    new_tokens=(100, 250, 500),
    block_size: int = 256,
    repeats: int = 3,
) -> list[tuple[int, dict[str, float]]]:
    """(new tokens, {path: tokens/s}) for a 6x6x192 GPT, greedy from a one-token
    prompt, for each of `generate_paths`, the median of `repeats` runs; every path
    first generates 8 tokens untimed (the first call pays for allocations and
    kernel choices)."""
    seed(0)
    model = GPT(
        GPTConfig(vocab_size=65, block_size=block_size, n_layer=6, n_head=6, n_embd=192)
    ).to(device)
    prompt = torch.zeros(1, 1, dtype=torch.long, device=device)
    paths = generate_paths(device)
    for path in paths.values():
        generate(model, prompt, 8, temperature=0.0, **path)
    rows = []
    for n in new_tokens:
        seconds = {name: [] for name in paths}
        for _ in range(repeats):  # the paths take turns, so a slow spell hits all
            for name, path in paths.items():
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                generate(model, prompt, n, temperature=0.0, **path)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[name].append(time.perf_counter() - t0)
        rows.append((n, {k: n / statistics.median(v) for k, v in seconds.items()}))
    return rows


def choices_table(
    text: str, device: torch.device, recipe: Recipe, steps: int, names: list[str]
) -> list[dict]:
    """Each speed choice measured on its own: the recipe trained for `steps` steps
    with every choice off, with each of `names` alone, and with all of them, after
    two untimed steps. Per row: the first step's seconds (compilation included),
    the median seconds of a step over the second half, tokens/s at that pace, and
    the validation loss on the whole split at the end."""
    tokenizer = CharTokenizer.from_text(text)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_ids, val_ids = (part.to(device) for part in train_val_split(ids, 0.1))
    base = dataclasses.replace(
        recipe, steps=steps, eval_interval=steps, eval_windows=0, **_ALL_OFF
    )
    runs = {"none": base}
    for name in names:
        field_name, value = SPEED_CHOICES[name]
        runs[f"+ {name}"] = dataclasses.replace(base, **{field_name: value})
    if len(names) > 1:
        on = dict(SPEED_CHOICES[name] for name in names)
        runs["all of them"] = dataclasses.replace(base, **on)
    # two untimed steps first: the process's first steps pay for starting up
    # (allocator, kernel choices, CUDA's context), which is no choice's cost
    warm_up = dataclasses.replace(base, steps=2, eval_interval=2, eval_windows=1)
    _train_recipe(
        GPT(_gpt_config(base, tokenizer.vocab_size)).to(device),
        train_ids,
        val_ids,
        warm_up,
        None,
        0,
    )
    rows = []
    for label, run in runs.items():
        seed(0)
        model = GPT(_gpt_config(run, tokenizer.vocab_size)).to(device)
        with _matmul_precision(run.tf32):
            history = _train_recipe(model, train_ids, val_ids, run, None, 0)
        times = history.elapsed
        step_s = statistics.median(
            b - a for a, b in zip(times[steps // 2 - 1 :], times[steps // 2 :])
        )
        rows.append(
            {
                "choice": label,
                "first_step_s": times[0],
                "step_ms": step_s * 1e3,
                "tokens_per_s": run.batch_size * run.block_size / step_s,
                "val_loss": history.val_loss[-1],
            }
        )
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


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The options train-to-target and choices share: data, device, threads,
    recipe and --set."""
    parser.add_argument(
        "--data", type=Path, required=True, help="a text file, e.g. tinyshakespeare.txt"
    )
    parser.add_argument("--device")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for PyTorch (default: PyTorch's choice, one per core)",
    )
    parser.add_argument(
        "--recipe", choices=("cpu", "gpu"), help="default: gpu on CUDA, else cpu"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help=(
            "change one field of the recipe, e.g. --set batch_size=16 "
            "(to measure a choice)"
        ),
    )


def _recipe(args, device: torch.device) -> tuple[str, Recipe]:
    """The recipe the arguments name, with their --set changes; ValueError says
    what is wrong with a --set."""
    name = args.recipe or ("gpu" if device.type == "cuda" else "cpu")
    recipe = GPU_RECIPE if name == "gpu" else Recipe()
    try:
        changes = {
            k: _field_value(getattr(recipe, k), v)
            for k, v in (item.split("=", 1) for item in args.set)
        }
        return name, dataclasses.replace(recipe, **changes)
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(
            f"--set takes FIELD=VALUE with a field of {recipe}: {error}"
        ) from error


def _print_pages(args) -> None:
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


def _print_book(args) -> None:
    rows = book_table(args.notebooks)
    print(f"book: {describe_machine(torch.device('cpu'))}")
    print(f"{'notebook':<28}{'seconds':>9}")
    for name, seconds in rows:
        print(f"{name:<28}{seconds:>9.1f}")
    print(f"{'total':<28}{sum(s for _, s in rows):>9.1f}")


def _print_generate(device: torch.device) -> None:
    rows = generate_table(device)
    names = list(rows[0][1])
    cached = names[:-1]  # every path but recompute, the last
    print(
        "".join(f"{name:>13}" for name in ["new tokens", *names])
        + "   tokens/s; speed-up over recompute: "
        + ", ".join(cached)
    )
    for n, speeds in rows:
        recompute = speeds["recompute"]
        print(
            f"{n:>13}"
            + "".join(f"{speeds[name]:>13.0f}" for name in names)
            + "   "
            + " ".join(f"{speeds[name] / recompute:>5.1f}x" for name in cached)
        )


def _print_choices(args, device: torch.device, recipe_name: str, recipe) -> None:
    print(f"recipe {recipe_name}, {args.steps} steps: {recipe}")
    print(
        f"{'choice':<14}{'first step s':>14}{'ms/step':>10}{'tokens/s':>11}"
        f"{'val loss':>10}"
    )
    text = args.data.read_text(encoding="utf-8")
    names = args.choices or list(SPEED_CHOICES)
    for row in choices_table(text, device, recipe, args.steps, names):
        print(
            f"{row['choice']:<14}{row['first_step_s']:>14.2f}{row['step_ms']:>10.1f}"
            f"{row['tokens_per_s']:>11.0f}{row['val_loss']:>10.4f}"
        )


def _print_train_to_target(args, device: torch.device, recipe_name, recipe) -> int:
    print(f"recipe {recipe_name}: {recipe}")
    result = train_to_target(
        args.data.read_text(encoding="utf-8"), args.target, device, recipe, args.seed
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


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinytx.bench", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ttt = commands.add_parser(
        "train-to-target", help="train a char GPT until val loss <= target"
    )
    ttt.add_argument("--target", type=float, required=True)
    ttt.add_argument("--seed", type=int, default=0)
    _add_training_arguments(ttt)
    choices = commands.add_parser(
        "choices", help="time each speed choice of the recipe on its own"
    )
    choices.add_argument(
        "choices",
        nargs="*",
        metavar="CHOICE",
        help=f"which to time (default: all of {', '.join(SPEED_CHOICES)})",
    )
    choices.add_argument("--steps", type=int, default=200)
    _add_training_arguments(choices)
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
        _print_pages(args)
        return 0
    if args.command == "book":
        _print_book(args)
        return 0
    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            return _error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if getattr(args, "steps", None) is not None and args.steps < 2:
        return _error(
            "--steps must be at least 2 (a step's time is the difference of two), "
            f"got {args.steps}"
        )
    unknown = set(getattr(args, "choices", None) or ()) - set(SPEED_CHOICES)
    if unknown:
        return _error(
            f"no speed choice {', '.join(sorted(unknown))}; the choices are "
            f"{', '.join(SPEED_CHOICES)}"
        )
    device = _device(args.device)
    recipe_name = recipe = None
    if args.command in ("train-to-target", "choices"):
        if not args.data.is_file():
            return _error(
                f"--data {args.data} is not a file; pass the Tiny Shakespeare "
                "text, e.g. --data ../shared/data/tinyshakespeare.txt"
            )
        try:
            recipe_name, recipe = _recipe(args, device)
        except ValueError as error:
            return _error(str(error))
    print(f"{args.command}: {describe_machine(device)}")
    if args.command == "attention":
        print(f"{'T':>6}{'explicit ms':>13}{'fused ms':>10}{'explicit/fused':>16}")
        for T, explicit, fused in attention_table(device):
            print(f"{T:>6}{explicit:>13.2f}{fused:>10.2f}{explicit / fused:>15.2f}x")
    elif args.command == "generate":
        _print_generate(device)
    elif args.command == "choices":
        _print_choices(args, device, recipe_name, recipe)
    else:
        return _print_train_to_target(args, device, recipe_name, recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
