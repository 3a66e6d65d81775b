"""GPT-2's real weights in tinytx's GPT.

tinytx's GPT is GPT-2's architecture (Radford et al., 2019): pre-LN blocks, learned
positions, the token embedding tied to the head, biases everywhere, GELU in its tanh
approximation. So the weights OpenAI published fit it tensor for tensor, once three
differences of layout in Hugging Face's copy are undone:

- GPT-2's layers are `Conv1D`s, which store a weight as (in, out) and compute
  x @ W + b; `nn.Linear` stores (out, in) and computes x @ W.T + b. Every projection
  matrix is transposed.
- The query, key and value projections are one fused `c_attn`, (C, 3C): q, then k,
  then v. tinytx has three (C, C) projections, so it is cut in three.
- The names: wte -> tok_embed, wpe -> pos_embed, h.{i}.ln_1 -> blocks.{i}.ln_attn,
  h.{i}.attn.c_proj -> blocks.{i}.attn.out_proj, h.{i}.mlp.c_fc -> blocks.{i}.ffn.fc_in,
  ln_f -> final_norm, and so on (`_tinytx_state_dict`).

    from transformers import GPT2LMHeadModel
    model = tinytx.load_gpt2(GPT2LMHeadModel.from_pretrained("gpt2"))   # 124M
    model = tinytx.load_gpt2("path/to/gpt2")    # config.json + model.safetensors
    ids = torch.tensor([tinytx.gpt2_tokenizer().encode("Hello, my name is")])
    model.generate(ids, 20, temperature=0)

The loaded model's logits equal the Hugging Face model's to within 1e-5
(tests/test_gpt2.py). Reading a folder needs `safetensors` (or only torch, for a
`pytorch_model.bin`); tinytx itself never imports `transformers` and downloads nothing.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinytx.config import GPTConfig
from tinytx.model import GPT
from tinytx.nn.norm import LayerNorm

INSTALL = 'pip install "tinytx[gpt2]"'
SOURCES = (
    "a Hugging Face GPT-2 model (GPT2LMHeadModel), its state_dict() (with n_head=), "
    "or a folder with config.json and model.safetensors"
)

# Hugging Face's name of each activation -> tinytx's. "gelu_new" and
# "gelu_pytorch_tanh" are two implementations of the same tanh approximation.
ACTIVATIONS = {
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu": "gelu",
    "relu": "relu",
}

# GPT2Config's defaults, for the keys a config.json may leave out.
DEFAULTS: dict[str, Any] = {
    "vocab_size": 50257,
    "n_positions": 1024,
    "n_embd": 768,
    "n_layer": 12,
    "n_head": 12,
    "n_inner": None,
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-5,
    "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "add_cross_attention": False,
    "tie_word_embeddings": True,
}

# GPT-2 options whose other value changes what the model computes: the value tinytx's
# GPT computes, and why it cannot compute the other.
FIXED_OPTIONS = {
    "scale_attn_weights": (
        True,
        "tinytx always divides attention scores by sqrt(d_head)",
    ),
    "scale_attn_by_inverse_layer_idx": (
        False,
        "tinytx does not divide layer i's attention scores by i + 1",
    ),
    "reorder_and_upcast_attn": (
        False,
        "tinytx has no reordered, upcast attention",
    ),
    "add_cross_attention": (
        False,
        "tinytx's GPT has no cross-attention (tinytx.Seq2Seq has, in its own layout)",
    ),
}

# tinytx's name in block i <- GPT-2's, for the tensors that keep their layout ...
BLOCK_RENAMES = {
    "ln_attn.weight": "ln_1.weight",
    "ln_attn.bias": "ln_1.bias",
    "attn.out_proj.bias": "attn.c_proj.bias",
    "ln_ffn.weight": "ln_2.weight",
    "ln_ffn.bias": "ln_2.bias",
    "ffn.fc_in.bias": "mlp.c_fc.bias",
    "ffn.fc_out.bias": "mlp.c_proj.bias",
}
# ... and for the Conv1D weights, (in, out), which nn.Linear stores as (out, in).
# c_attn, the fused q, k and v, is cut in three by _tinytx_state_dict.
BLOCK_TRANSPOSED = {
    "attn.out_proj.weight": "attn.c_proj.weight",
    "ffn.fc_in.weight": "mlp.c_fc.weight",
    "ffn.fc_out.weight": "mlp.c_proj.weight",
}

# tinytx's GPT builds every LayerNorm with LayerNorm's default eps.
LAYER_NORM_EPS = inspect.signature(LayerNorm).parameters["eps"].default

# Older checkpoints (OpenAI's upload among them) store each layer's causal mask as a
# buffer named like a bias: a constant, not a weight, so it is skipped.
MASK_BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")


def load_gpt2(source: Any, *, n_head: int | None = None) -> GPT:
    """A tinytx GPT (float32, on the CPU, in eval mode) with a GPT-2's weights.

    source is one of
      - a `transformers` GPT-2 model (`GPT2LMHeadModel` or `GPT2Model`): its
        `.config` and `.state_dict()` are read;
      - such a state dict, {name: tensor}, with or without the "transformer." prefix.
        The weights' shapes give every size but the number of heads, so pass n_head
        (12 for the 124M GPT-2, 16 for 355M, 20 for 774M, 25 for 1.5B); the rest,
        the activation included, is GPT-2's own;
      - a folder (str or Path) as `save_pretrained` writes it: config.json and
        model.safetensors (or a sharded model.safetensors.index.json, or a
        pytorch_model.bin, read with torch.load(weights_only=True)).

    Shapes, for vocab V, n_positions P, width C and hidden width H = n_inner or 4C:
    wte (V, C), wpe (P, C), c_attn.weight (C, 3C), attn.c_proj.weight (C, C),
    mlp.c_fc.weight (C, H), mlp.c_proj.weight (H, C), biases and LayerNorms (out,).

    Raises ValueError naming the option for a GPT-2 that tinytx cannot compute exactly,
    and naming the key (and both shapes) for a missing, extra or mis-shaped tensor;
    FileNotFoundError naming the file a folder lacks; TypeError for any other source;
    ImportError saying what to install when safetensors is missing.
    """
    hf_config, source_weights = _read_source(source, n_head)
    # GPT2LMHeadModel's names ("transformer.h.0...") as GPT2Model's ("h.0..."),
    # remembering the source's own names for the error messages
    names = {
        key.removeprefix("transformer."): key
        for key in source_weights
        if not MASK_BUFFER.fullmatch(key.removeprefix("transformer."))
    }
    weights = {name: source_weights[key] for name, key in names.items()}
    if hf_config is None:  # a bare state dict
        hf_config = _config_from_weights(weights, n_head)
    config = gpt_config(hf_config)
    _check_weights(weights, config, names)
    model = GPT(config)
    # strict: a tensor left out would stay randomly initialised without a word
    model.load_state_dict(_tinytx_state_dict(weights, config), strict=True)
    return model.eval()


def gpt_config(hf_config: Mapping[str, Any]) -> GPTConfig:
    """The GPTConfig of a GPT-2 described by `hf_config` (GPT2Config.to_dict() or a
    config.json), or a ValueError naming what tinytx's GPT cannot compute."""
    hf = {**DEFAULTS, **hf_config}
    model_type = hf.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise ValueError(
            f"the config describes a {model_type!r} model, not GPT-2 ('gpt2'); "
            "load_gpt2 reads GPT-2 checkpoints only"
        )
    activation = ACTIVATIONS.get(hf["activation_function"])
    if activation is None:
        raise ValueError(
            f"GPT-2 config: activation_function={hf['activation_function']!r} is not "
            f"supported; tinytx has {', '.join(repr(a) for a in ACTIVATIONS)}"
        )
    for option, (value, reason) in FIXED_OPTIONS.items():
        if hf[option] != value:
            raise ValueError(
                f"GPT-2 config: {option}={hf[option]!r} is not supported ({reason})"
            )
    if not math.isclose(hf["layer_norm_epsilon"], LAYER_NORM_EPS, rel_tol=1e-6):
        raise ValueError(
            f"GPT-2 config: layer_norm_epsilon={hf['layer_norm_epsilon']!r} is not "
            f"supported: tinytx's LayerNorms use eps={LAYER_NORM_EPS}"
        )
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        block_size=hf["n_positions"],
        n_layer=hf["n_layer"],
        n_head=hf["n_head"],
        n_embd=hf["n_embd"],
        dropout=0.0,  # a loaded model is for inference; training can rebuild it
        norm="pre",
        positional="learned",
        tie_weights=hf["tie_word_embeddings"],
        bias=True,
        activation=activation,
        ffn_hidden=hf["n_inner"],
    )


def _read_source(
    source: Any, n_head: int | None
) -> tuple[dict[str, Any] | None, dict[str, torch.Tensor]]:
    """(the GPT-2 config as a dict, or None for a bare state dict; the weights)."""
    if isinstance(source, (str, os.PathLike)):
        hf_config, weights = _read_folder(Path(source))
    elif isinstance(source, nn.Module):
        config = getattr(source, "config", None)
        if getattr(config, "model_type", None) != "gpt2":
            raise TypeError(
                f"a {type(source).__name__} is not a Hugging Face GPT-2 model (its "
                f"config's model_type is not 'gpt2'); load_gpt2 takes {SOURCES}"
            )
        hf_config, weights = config.to_dict(), source.state_dict()
    elif isinstance(source, Mapping):
        if n_head is None:
            raise ValueError(
                "load_gpt2 needs n_head= with a state dict: the weights' shapes are "
                "the same for any number of heads (GPT-2 124M has n_head=12, 355M 16, "
                "774M 20, 1.5B 25)"
            )
        for key, value in source.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"a state dict maps names to tensors; {key!r} is a "
                    f"{type(value).__name__}"
                )
        return None, dict(source)
    else:
        raise TypeError(f"load_gpt2 takes {SOURCES}; got a {type(source).__name__}")
    config_n_head = hf_config.get("n_head", DEFAULTS["n_head"])
    if n_head is not None and n_head != config_n_head:
        raise ValueError(
            f"n_head={n_head} contradicts the config's n_head={config_n_head}; "
            "leave n_head out (it is needed for a bare state dict only)"
        )
    return hf_config, weights


def _read_folder(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """config.json and the weights of a folder written by `save_pretrained`."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; load_gpt2 reads a folder with config.json and "
            "model.safetensors (as save_pretrained writes it) and downloads nothing; "
            "for the hub's GPT-2 pass "
            'load_gpt2(GPT2LMHeadModel.from_pretrained("gpt2"))'
        )
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json with GPT-2's sizes; "
            "model.save_pretrained(folder) writes it next to the weights"
        )
    hf_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file() or index.is_file():
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(
                f"reading {folder}'s model.safetensors needs the safetensors package: "
                f"{INSTALL}"
            ) from None
        if single.is_file():
            return hf_config, load_file(single)
        # a sharded checkpoint: the index maps each tensor to the file that holds it
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        weights: dict[str, torch.Tensor] = {}
        for shard in shards:
            weights.update(load_file(folder / shard))
        return hf_config, weights
    if (folder / "pytorch_model.bin").is_file():
        return hf_config, torch.load(
            folder / "pytorch_model.bin", map_location="cpu", weights_only=True
        )
    raise FileNotFoundError(
        f"{folder} has no model.safetensors (nor pytorch_model.bin) with GPT-2's "
        "weights; model.save_pretrained(folder) writes it next to config.json"
    )


def _config_from_weights(
    weights: Mapping[str, torch.Tensor], n_head: int
) -> dict[str, Any]:
    """The config of a bare state dict: sizes from the shapes, the rest (activation
    included) GPT-2's own."""
    for key in ("wte.weight", "wpe.weight", "h.0.mlp.c_fc.bias"):
        if key not in weights:
            raise ValueError(f"the GPT-2 state dict has no {key!r}")
    vocab_size, n_embd = weights["wte.weight"].shape
    n_inner = weights["h.0.mlp.c_fc.bias"].shape[0]
    layers = {int(m[1]) for key in weights if (m := re.match(r"h\.(\d+)\.", key))}
    lm_head = weights.get("lm_head.weight")
    return {
        "vocab_size": vocab_size,
        "n_positions": weights["wpe.weight"].shape[0],
        "n_embd": n_embd,
        "n_layer": max(layers) + 1,  # a missing layer in between is named below
        "n_head": n_head,
        "n_inner": None if n_inner == 4 * n_embd else n_inner,  # None: the default
        # a separate head only if one is stored and it differs from the embedding
        "tie_word_embeddings": lm_head is None
        or torch.equal(lm_head, weights["wte.weight"]),
    }


def _expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a GPT-2 of this config has, with its shape in Hugging Face's
    layout (Conv1D weights (in, out))."""
    V, P, C = config.vocab_size, config.block_size, config.n_embd
    H = config.ffn_hidden or 4 * C
    shapes = {"wte.weight": (V, C), "wpe.weight": (P, C)}
    for i in range(config.n_layer):
        shapes.update(
            {
                f"h.{i}.ln_1.weight": (C,),
                f"h.{i}.ln_1.bias": (C,),
                f"h.{i}.attn.c_attn.weight": (C, 3 * C),
                f"h.{i}.attn.c_attn.bias": (3 * C,),
                f"h.{i}.attn.c_proj.weight": (C, C),
                f"h.{i}.attn.c_proj.bias": (C,),
                f"h.{i}.ln_2.weight": (C,),
                f"h.{i}.ln_2.bias": (C,),
                f"h.{i}.mlp.c_fc.weight": (C, H),
                f"h.{i}.mlp.c_fc.bias": (H,),
                f"h.{i}.mlp.c_proj.weight": (H, C),
                f"h.{i}.mlp.c_proj.bias": (C,),
            }
        )
    shapes.update({"ln_f.weight": (C,), "ln_f.bias": (C,)})
    if not config.tie_weights:
        shapes["lm_head.weight"] = (V, C)
    return shapes


def _check_weights(
    weights: Mapping[str, torch.Tensor], config: GPTConfig, names: Mapping[str, str]
) -> None:
    """ValueError naming the first missing, mis-shaped or unexpected tensor (by its
    name in the source, `names[name]`)."""
    expected = _expected_shapes(config)
    sizes = (
        f"vocab_size={config.vocab_size}, n_positions={config.block_size}, "
        f"n_embd={config.n_embd}, n_inner={config.ffn_hidden or 4 * config.n_embd}"
    )
    for key, shape in expected.items():
        if key not in weights:
            raise ValueError(
                f"the GPT-2 weights have no {key!r}, which a GPT-2 of "
                f"n_layer={config.n_layer} has"
            )
        if tuple(weights[key].shape) != shape:
            raise ValueError(
                f"GPT-2 weight {names[key]!r} has shape {tuple(weights[key].shape)}, "
                f"but a GPT-2 with {sizes} has {shape} there"
            )
    # a tied model's lm_head.weight is wte.weight again (GPT2LMHeadModel.state_dict()
    # lists both); Hugging Face ignores it too
    unexpected = sorted(set(weights) - set(expected) - {"lm_head.weight"})
    if unexpected:
        raise ValueError(
            f"the GPT-2 weights have tensors tinytx's GPT has no place for: "
            f"{', '.join(names[k] for k in unexpected[:5])}"
            f"{' ...' if len(unexpected) > 5 else ''}"
        )


def _tinytx_state_dict(
    weights: Mapping[str, torch.Tensor], config: GPTConfig
) -> dict[str, torch.Tensor]:
    """GPT-2's tensors, already checked, under tinytx's names and in nn.Linear's
    (out, in) layout."""
    C = config.n_embd
    # tied: the same (V, C) matrix as the embedding; GPT shares the parameter itself
    head = "wte.weight" if config.tie_weights else "lm_head.weight"
    state = {
        "tok_embed.weight": weights["wte.weight"],  # (V, C)
        "pos_embed.weight": weights["wpe.weight"],  # (P, C)
        "final_norm.weight": weights["ln_f.weight"],
        "final_norm.bias": weights["ln_f.bias"],
        "head.weight": weights[head],  # (V, C)
    }
    for i in range(config.n_layer):
        ours, theirs = f"blocks.{i}.", f"h.{i}."
        for name, gpt2_name in BLOCK_RENAMES.items():
            state[ours + name] = weights[theirs + gpt2_name]
        for name, gpt2_name in BLOCK_TRANSPOSED.items():
            state[ours + name] = weights[theirs + gpt2_name].t()
        # (C, 3C) in (in, out): columns 0..C-1 make q, C..2C-1 k, 2C..3C-1 v
        qkv_weight = weights[theirs + "attn.c_attn.weight"].split(C, dim=1)
        qkv_bias = weights[theirs + "attn.c_attn.bias"].split(C)
        for name, weight, bias in zip(("q", "k", "v"), qkv_weight, qkv_bias):
            state[f"{ours}attn.{name}_proj.weight"] = weight.t()  # (C, C), (out, in)
            state[f"{ours}attn.{name}_proj.bias"] = bias
    return state
