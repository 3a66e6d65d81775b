"""Model configurations, validated when they are built.

A wrong size usually surfaces deep inside a matrix multiply as an unreadable shape
error. Checking the configuration up front turns it into one sentence that says what
to change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

NORMS = ("pre", "post")
POSITIONALS = ("learned", "sinusoidal")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh")
# The switches of chapter 11 ("today's Transformer"), for GPTConfig only: the
# encoder-decoder of chapter 10 stays the 2017 model.
GPT_POSITIONALS = (*POSITIONALS, "rope")
GPT_ACTIVATIONS = (*ACTIVATIONS, "swiglu")
NORMALIZATIONS = ("layernorm", "rmsnorm")


def _check_positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{owner}.{name} must be an int, got {value!r} ({type(value).__name__})"
        )
    if value <= 0:
        raise ValueError(f"{owner}.{name} must be positive, got {value}")


def _check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        options = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{owner}.{name} must be {options}, got {value!r}")


def _check_common(
    config: Any,
    positionals: tuple[str, ...] = POSITIONALS,
    activations: tuple[str, ...] = ACTIVATIONS,
) -> None:
    """Checks shared by GPTConfig and Seq2SeqConfig: sizes, heads, dropout, choices.

    positionals and activations are the choices the config's model can build.
    """
    owner = type(config).__name__
    for name in ("block_size", "n_layer", "n_head", "n_embd"):
        _check_positive_int(owner, name, getattr(config, name))
    if config.n_embd % config.n_head != 0:
        divisors = [
            h for h in range(1, config.n_embd + 1) if config.n_embd % h == 0 and h <= 64
        ]
        raise ValueError(
            f"{owner}: n_embd={config.n_embd} is not divisible by "
            f"n_head={config.n_head}; each head gets n_embd // n_head dimensions, "
            f"so pick n_head from {divisors} or change n_embd"
        )
    if isinstance(config.dropout, bool) or not isinstance(config.dropout, (int, float)):
        raise TypeError(
            f"{owner}.dropout must be a number in [0, 1), got {config.dropout!r}"
        )
    if not 0.0 <= config.dropout < 1.0:
        raise ValueError(
            f"{owner}.dropout must be in [0, 1), got {config.dropout}; "
            "0.0 turns dropout off"
        )
    if config.ffn_hidden is not None:
        _check_positive_int(owner, "ffn_hidden", config.ffn_hidden)
    _check_choice(owner, "norm", config.norm, NORMS)
    _check_choice(owner, "positional", config.positional, positionals)
    _check_choice(owner, "activation", config.activation, activations)
    for name in ("bias", "tie_weights"):
        if not isinstance(getattr(config, name), bool):
            raise TypeError(
                f"{owner}.{name} must be True or False, got {getattr(config, name)!r}"
            )


@dataclass(frozen=True)
class GPTConfig:
    """A decoder-only language model (GPT-2 style).

    vocab_size: number of token ids. block_size: the longest context the model reads.
    n_layer blocks, each with n_head attention heads over n_embd-dimensional vectors.
    ffn_hidden defaults to 4 * n_embd. norm="pre" puts LayerNorm before each sublayer
    (GPT-2); "post" after the residual add (the original Transformer). residual=False
    removes `x = x + f(x)`, for the ablation of chapter 06. tie_weights shares the token
    embedding with the output head. activation is the feed-forward network's: "gelu"
    (exact), "relu", or "gelu_tanh", the tanh approximation of GELU that GPT-2 was
    trained with (what `tinytx.load_gpt2` builds).

    The switches of chapter 11, all off by default (the defaults build GPT-2):
    positional="rope" rotates queries and keys by their position inside every attention
    layer instead of adding a position table (Su et al., 2021); normalization="rmsnorm"
    replaces every LayerNorm by RMSNorm (Zhang & Sennrich, 2019), wherever `norm` puts
    it; activation="swiglu" makes the feed-forward network gated (Shazeer, 2020), with
    a hidden size that keeps its parameter count unless ffn_hidden is given; n_kv_head
    below n_head shares each key/value head among n_head // n_kv_head query heads
    (grouped-query attention, Ainslie et al., 2023; n_kv_head=1 is multi-query
    attention, Shazeer, 2019). None means n_head: one key/value head per query head.
    """

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    norm: str = "pre"
    positional: str = "learned"
    residual: bool = True
    tie_weights: bool = True
    bias: bool = True
    activation: str = "gelu"
    ffn_hidden: int | None = None
    normalization: str = "layernorm"
    n_kv_head: int | None = None

    def __post_init__(self) -> None:
        _check_positive_int("GPTConfig", "vocab_size", self.vocab_size)
        _check_common(self, GPT_POSITIONALS, GPT_ACTIVATIONS)
        if not isinstance(self.residual, bool):
            raise TypeError(
                f"GPTConfig.residual must be True or False, got {self.residual!r}"
            )
        _check_choice("GPTConfig", "normalization", self.normalization, NORMALIZATIONS)
        if self.n_kv_head is not None:
            _check_positive_int("GPTConfig", "n_kv_head", self.n_kv_head)
            if self.n_head % self.n_kv_head != 0:
                divisors = [h for h in range(1, self.n_head + 1) if not self.n_head % h]
                raise ValueError(
                    f"GPTConfig: n_head={self.n_head} is not a multiple of "
                    f"n_kv_head={self.n_kv_head}; each key/value head serves "
                    f"n_head // n_kv_head query heads, so pick n_kv_head from "
                    f"{divisors} (None means n_head)"
                )
        d_head = self.n_embd // self.n_head
        if self.positional == "rope" and d_head % 2 != 0:
            even_heads = [
                h
                for h in range(1, min(self.n_embd, 64) + 1)
                if self.n_embd % h == 0 and (self.n_embd // h) % 2 == 0
            ]
            change = (
                f"pick n_head from {even_heads} or change n_embd"
                if even_heads
                else "make n_embd even"
            )
            raise ValueError(
                f"GPTConfig: positional='rope' rotates pairs of dimensions, so each "
                f"head needs an even size, but n_embd // n_head = {self.n_embd} // "
                f"{self.n_head} = {d_head}; {change}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Seq2SeqConfig:
    """The encoder-decoder of "Attention Is All You Need" (Vaswani et al., 2017).

    Defaults follow the paper: post-LN, sinusoidal positions, embeddings scaled by
    sqrt(n_embd), ReLU feed-forward, the target embedding tied to the output head.
    label_smoothing is used by the loss (the paper used 0.1). pad_id, bos_id and eos_id
    are the target-side special ids (pad_id also pads the source); block_size bounds
    both source and target lengths.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    norm: str = "post"
    positional: str = "sinusoidal"
    tie_weights: bool = True
    bias: bool = True
    activation: str = "relu"
    ffn_hidden: int | None = None
    scale_embeddings: bool = True
    label_smoothing: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        _check_positive_int("Seq2SeqConfig", "src_vocab_size", self.src_vocab_size)
        _check_positive_int("Seq2SeqConfig", "tgt_vocab_size", self.tgt_vocab_size)
        _check_common(self)
        if not isinstance(self.scale_embeddings, bool):
            raise TypeError(
                "Seq2SeqConfig.scale_embeddings must be True or False, got "
                f"{self.scale_embeddings!r}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                "Seq2SeqConfig.label_smoothing must be in [0, 1), got "
                f"{self.label_smoothing}"
            )
        for name in ("pad_id", "bos_id", "eos_id"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value < self.tgt_vocab_size
            ):
                raise ValueError(
                    f"Seq2SeqConfig.{name}={value!r} must be a token id in "
                    f"[0, tgt_vocab_size={self.tgt_vocab_size})"
                )
        if len({self.pad_id, self.bos_id, self.eos_id}) != 3:
            raise ValueError(
                "Seq2SeqConfig: pad_id, bos_id and eos_id must be three different ids"
            )
        if not self.pad_id < self.src_vocab_size:
            raise ValueError(
                f"Seq2SeqConfig.pad_id={self.pad_id} must also be a source id "
                "(< src_vocab_size)"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
