"""Train the character model that `tinytx.pretrained("shakespeare-char")` loads.

    python -m tinytx.pretrain                  # writes tinytx/shakespeare-char.pt
    python -m tinytx.pretrain --out model.pt   # somewhere else

Reproducible: the corpus is verified by its sha256, the tokenizer is built from the
whole text (65 characters), the model is trained on the first 90% and validated on the
last 10%, and every random choice is seeded. The weights are rounded to float16 before
the final validation, so the stored validation loss is the loss of the stored weights.
On the project's 2-core CPU it took 62 minutes while the machine was shared with
other work (about 37 minutes alone) and reached a validation loss of 1.526.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tinytx.checkpoint import save
from tinytx.config import GPTConfig
from tinytx.data import load_corpus, train_val_split
from tinytx.device import pick_device, seed
from tinytx.model import GPT
from tinytx.tokenizers import CharTokenizer
from tinytx.train import evaluate, train

DEFAULT_OUT = Path(__file__).with_name("shakespeare-char.pt")
MODEL = dict(block_size=128, n_layer=6, n_head=6, n_embd=192, dropout=0.0)
TRAINING = dict(
    steps=3500,
    batch_size=32,
    lr=2e-3,
    min_lr=2e-4,
    warmup_steps=100,
    weight_decay=0.1,
    grad_clip=1.0,
)
SEED = 1337


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="checkpoint path (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="cpu, cuda or mps (default: the fastest available)",
    )
    args = parser.parse_args(argv)

    device = torch.device(args.device) if args.device else pick_device()
    text = load_corpus("tinyshakespeare")
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(torch.tensor(tokenizer.encode(text)), 0.1)
    seed(SEED)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **MODEL)).to(device)
    print(
        f"training a {model.num_parameters():,}-parameter GPT on {len(train_ids):,} "
        f"characters ({device.type})"
    )
    started = time.perf_counter()
    history = train(model, train_ids, val_ids, eval_interval=250, seed=SEED, **TRAINING)
    train_seconds = time.perf_counter() - started
    if history.interrupted:
        raise SystemExit("interrupted: no checkpoint written")
    with torch.no_grad():  # store float16 weights, and validate exactly those
        for param in model.parameters():
            param.copy_(param.half().float())
    val_loss = evaluate(model, val_ids)
    metadata = {
        "name": "shakespeare-char",
        "val_loss": round(val_loss, 4),
        "val_tokens": len(val_ids),
        "train_tokens": len(train_ids),
        "tokenizer": tokenizer.to_dict(),
        "seed": SEED,
        "training": TRAINING,
        "val_curve": [
            [step, round(loss, 4)]
            for step, loss in zip(history.val_steps, history.val_loss)
        ],
        "train_seconds": round(train_seconds),
        "device": device.type,
        "torch": str(torch.__version__),  # a TorchVersion object would not load safely
    }
    save(model, args.out, metadata=metadata, weights_dtype=torch.float16)
    size_mb = args.out.stat().st_size / 1e6
    print(
        f"val_loss={val_loss:.4f} train_seconds={train_seconds:.0f} wrote {args.out} "
        f"({size_mb:.1f} MB)"
    )


if __name__ == "__main__":
    main()
