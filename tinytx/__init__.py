"""tinytx: a small, readable Transformer you can run, poke and break.

Every component the book explains is importable from here:

    import tinytx
    probs = tinytx.softmax(torch.tensor([2.0, 1.0, 0.1]))
    model = tinytx.GPT(
        tinytx.GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128)
    )

The layout: components of the chapters in `tinytx.nn`, models and training at the top,
teaching aids (exercise checkers, plots, widgets) in `tinytx.teach`.

The public names are imported on first use (PEP 562), so `import tinytx` itself
imports no torch: the student-edition build (`python -m tinytx.teach.student build`),
which only rewrites notebook JSON, runs on a bare Python with the standard library.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

__version__ = "0.1.0"

# The module that defines each public name.
_EXPORTS = {
    "tinytx.checkpoint": ("load", "load_metadata", "save"),
    "tinytx.config": ("GPTConfig", "Seq2SeqConfig"),
    "tinytx.data": ("get_batch", "load_corpus", "train_val_split"),
    "tinytx.device": ("pick_device", "seed"),
    "tinytx.generate": ("filter_logits", "sample_next"),
    "tinytx.gpt2": ("load_gpt2",),
    "tinytx.model": ("GPT",),
    "tinytx.optim": ("Muon",),
    "tinytx.nn.attention": (
        "KVCache",
        "MultiHeadAttention",
        "causal_mask",
        "padding_mask",
        "scaled_dot_product_attention",
    ),
    "tinytx.nn.block": ("Block", "DecoderBlock", "EncoderBlock"),
    "tinytx.nn.embedding": ("TokenEmbedding",),
    "tinytx.nn.ffn": ("FeedForward", "SwiGLUFeedForward"),
    "tinytx.nn.functional": ("softmax",),
    "tinytx.nn.norm": ("LayerNorm", "RMSNorm"),
    "tinytx.nn.positional": (
        "LearnedPositionalEmbedding",
        "RotaryPositionalEmbedding",
        "SinusoidalPositionalEmbedding",
        "sinusoidal_positions",
    ),
    "tinytx.pretrained": ("pretrained",),
    "tinytx.seq2seq": ("Seq2Seq",),
    "tinytx.teach": ("checks",),
    "tinytx.tokenizers": ("BPETokenizer", "CharTokenizer", "gpt2_tokenizer"),
    "tinytx.train": ("TrainHistory", "evaluate", "train"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    """`tinytx.GPT`, `from tinytx import softmax`, `tinytx.nn`: import what is asked
    for the first time it is asked for, then keep it as an ordinary attribute."""
    if name in _MODULE_OF:
        module = importlib.import_module(_MODULE_OF[name])
        value = getattr(module, name, None)
        if value is None:  # a submodule not imported yet, such as tinytx.teach.checks
            value = importlib.import_module(f"{module.__name__}.{name}")
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(ModuleType):
    """The package's module type. Importing a submodule sets the package attribute of
    its name to the module; where a public name is also a submodule's name (`train`,
    `pretrained`), the attribute stays the function that `from tinytx import train`
    promises."""

    def __setattr__(self, name: str, value: object) -> None:
        submodule = f"{__name__}.{name}"
        if isinstance(value, ModuleType) and value.__name__ == submodule:
            if _MODULE_OF.get(name) == submodule:
                value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
