"""A fast decode step for generation: a static KV cache and a GPT written as functions.

Generating one token with the KV cache does little arithmetic (one position through the
model) but many small calls: about 15 module calls a layer, each with Python's and
PyTorch's overhead, so on a CPU or a GPU the time goes to the calls, not the maths.
`Decoder` does the same computation as `GPT._forward` with far fewer of them:

- the query, key and value projections of each layer are one matrix multiplication
  (their weights stacked once per generation: (3C, C));
- the keys and values go into buffers of block_size positions allocated once
  (`StaticKVCache`), so a step never allocates or copies a cache;
- every step calls torch.nn.functional directly, with no nn.Module in between.

The switches of chapter 11 are mirrored: rotary positions turn the new queries and
keys before the keys are cached; with n_kv_head < n_head the cache holds n_kv_head
heads, repeated for their query heads only when attention reads them; RMSNorm replaces
LayerNorm; SwiGLU's gate and up projections are one stacked matrix, like QKV.

On a GPU even that is too many calls: a step of the 6-layer, 192-wide model is still
76 tensor operations of a few microseconds each, and launching them one by one from
Python takes longer than running them. So on CUDA the step is recorded once as a
CUDA graph and replayed, all its kernels in one launch. A graph replays fixed shapes
at fixed addresses, so the recorded step (`Decoder.static_step`) takes the position
as a tensor, writes the new key and value through a mask over all block_size slots,
and attends to every slot with the ones after the position masked out: the same
maths as `Decoder.step`, at a cost that does not grow with the position. The `mode`
argument picks the step: "eager" (the default off CUDA), "static" (the fixed-shape
step run directly, which is how the tests check it on a CPU) or "cuda-graph" (the
default on CUDA).

It reads the model's own parameters, so it needs no conversion and sees the same
weights; `tinytx.generate(..., fast=False)` runs the explicit path that chapter 9
teaches, and the tests assert that both write the same tokens.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F

from tinytx.nn.attention import repeat_kv_heads
from tinytx.nn.ffn import ACTIVATIONS
from tinytx.nn.positional import apply_rotary

if TYPE_CHECKING:  # the model imports tinytx.generate, which imports this module
    from tinytx.model import GPT


class StaticKVCache:
    """Keys and values of every layer for up to block_size positions, allocated once.

    keys, values: (n_layer, B, H_kv, block_size, d_head), H_kv the key/value heads;
    positions 0 .. length-1 are filled. `reset()` empties it for a new window without
    freeing anything.
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_kv_head: int,
        block_size: int,
        d_head: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (n_layer, batch_size, n_kv_head, block_size, d_head)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def reset(self) -> None:
        self.length = 0


def _layer_norm(x: torch.Tensor, norm: tuple) -> torch.Tensor:
    weight, bias, eps = norm
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def _rms_norm(x: torch.Tensor, norm: tuple) -> torch.Tensor:
    weight, _, eps = norm
    return F.rms_norm(x, x.shape[-1:], weight, eps)


def _norm_tensors(norm) -> tuple:
    """A LayerNorm's or RMSNorm's (weight, bias or None, eps)."""
    return norm.weight, getattr(norm, "bias", None), norm.eps


def _stack_linears(*layers) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weights (and biases) of linear layers reading the same input, stacked:
    one matrix multiplication computes all their outputs side by side."""
    weight = torch.cat([layer.weight for layer in layers]).detach()
    if layers[0].bias is None:
        return weight, None
    return weight, torch.cat([layer.bias for layer in layers]).detach()


DECODE_MODES = ("eager", "static", "cuda-graph")


class _StepTensors(NamedTuple):
    """What static_step computes once per step and every layer reads."""

    write: torch.Tensor  # (block_size, 1) bool: the slot of the new token
    visible: torch.Tensor  # (1, block_size) bool: the slots it may attend to
    cos: torch.Tensor | None  # (1, d_head/2) rotary angles, None without RoPE
    sin: torch.Tensor | None


class _Layer(NamedTuple):
    """The tensors of one block, looked up once: reading a module's attribute is a
    dictionary lookup in Python, and a step would do hundreds."""

    pre_norm: bool  # norm placement "pre" (else "post")
    residual: bool
    norm_attn: tuple  # (weight, bias, eps) of the norm around attention
    norm_ffn: tuple
    qkv: tuple  # (weight (C + 2 C_kv, C), bias or None): Q, K and V stacked
    out: tuple  # the attention's output projection (weight, bias)
    ffn_in: tuple  # fc_in, or for SwiGLU fc_gate and fc_in stacked
    ffn_out: tuple


def _layer(block) -> _Layer:
    attn, ffn = block.attn, block.ffn
    gated = hasattr(ffn, "fc_gate")
    return _Layer(
        pre_norm=block.norm_placement == "pre",
        residual=block.residual,
        norm_attn=_norm_tensors(block.ln_attn),
        norm_ffn=_norm_tensors(block.ln_ffn),
        qkv=_stack_linears(attn.q_proj, attn.k_proj, attn.v_proj),
        out=(attn.out_proj.weight, attn.out_proj.bias),
        ffn_in=(
            _stack_linears(ffn.fc_gate, ffn.fc_in)
            if gated
            else (ffn.fc_in.weight, ffn.fc_in.bias)
        ),
        ffn_out=(ffn.fc_out.weight, ffn.fc_out.bias),
    )


class Decoder:
    """GPT._forward for generation, as functions over a StaticKVCache.

    decoder = Decoder(model, batch_size)
    logits = decoder.prefill(ids)   # (B, T) from position 0 -> last logits (B, V)
    logits = decoder.step(next_ids) # (B, 1) at the next position -> (B, V)

    mode: "eager" (a step reads only the filled slots), "static" (`static_step`:
    fixed shapes, every slot read through a mask) or "cuda-graph" (static_step
    recorded as a CUDA graph at the first step and replayed; CUDA only). None picks
    "cuda-graph" on CUDA and "eager" elsewhere. All three compute the same logits.

    The model must be in eval mode (no dropout) and its weights must not change while
    the decoder is in use: the stacked weights are a copy taken here.
    """

    def __init__(self, model: GPT, batch_size: int, mode: str | None = None) -> None:
        config = model.config
        parameter = next(model.parameters())
        device = parameter.device
        if mode is None:
            mode = "cuda-graph" if device.type == "cuda" else "eager"
        if mode not in DECODE_MODES:
            raise ValueError(
                f"mode must be one of {', '.join(map(repr, DECODE_MODES))} "
                f"(or None to pick by device), got {mode!r}"
            )
        if mode == "cuda-graph" and device.type != "cuda":
            raise ValueError(
                f"the 'cuda-graph' decode step needs the model on a CUDA device, not "
                f"{device}; use 'static' for the same fixed-shape step without a "
                "graph, or None to pick by device"
            )
        self.mode = mode
        self.model = model
        self.n_head, self.d_head = config.n_head, config.n_embd // config.n_head
        self.n_kv_head = config.n_kv_head or config.n_head
        self.kv_group = self.n_head // self.n_kv_head
        self.cache = StaticKVCache(
            config.n_layer,
            batch_size,
            self.n_kv_head,
            config.block_size,
            self.d_head,
            device=parameter.device,
            dtype=parameter.dtype,
        )
        self.rotary = model.rotary  # cos and sin tables, or None
        self.positions = None  # the added position table, None with rotary
        if model.pos_embed is not None:
            positional = model.pos_embed
            self.positions = getattr(positional, "weight", None)
            if self.positions is None:  # sinusoidal: a fixed table, not a parameter
                self.positions = positional.table
        self.norm = _rms_norm if config.normalization == "rmsnorm" else _layer_norm
        self.layers = [_layer(block) for block in model.blocks]
        self.final_norm = None  # post-LN blocks end normalised already
        if config.norm == "pre":
            self.final_norm = _norm_tensors(model.final_norm)
        self.embedding, self.head = model.tok_embed.weight, model.head.weight
        if config.activation == "swiglu":
            self.feed_forward = self._gated_feed_forward
        else:
            self.feed_forward = self._feed_forward
            self.activation = ACTIVATIONS[config.activation]
        self.slots = torch.arange(config.block_size, device=device)  # 0 .. S-1
        self.captured: _CapturedStep | None = None  # made at the first graph step

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        """Read a whole window ids (B, T) into an empty cache -> last logits (B, V)."""
        self.cache.reset()
        return self._run(ids)

    @torch.no_grad()
    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """The next token ids (B, 1) at position cache.length -> logits (B, V)."""
        if ids.shape[1] != 1:
            raise ValueError(f"step takes one token per row, got shape {ids.shape}")
        if self.cache.length >= self.model.config.block_size:
            raise ValueError(
                "the cache is full (block_size tokens); prefill a shorter window"
            )
        if self.mode == "eager":
            return self._run(ids)
        position = self.cache.length
        if self.mode == "static":
            logits = self.static_step(ids, self.slots[position : position + 1])
        else:
            if self.captured is None:
                self.captured = _CapturedStep(self)
            logits = self.captured.replay(ids, position)
        self.cache.length = position + 1
        return logits

    @torch.no_grad()
    def static_step(self, ids: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """step with shapes and addresses that never change, the step a CUDA graph
        records: ids (B, 1) at position (1,), a tensor -> logits (B, V).

        It writes the new keys and values into the slot `position` of every layer's
        cache and attends to all block_size slots, those after `position` masked
        out. It leaves cache.length to the caller (a graph cannot change a Python
        int).
        """
        rotary = self.rotary
        where = _StepTensors(
            write=(self.slots == position)[:, None],
            visible=(self.slots <= position)[None],
            cos=None if rotary is None else rotary.cos.index_select(0, position),
            sin=None if rotary is None else rotary.sin.index_select(0, position),
        )
        added = None
        if self.positions is not None:
            added = self.positions.index_select(0, position)
        return self._run(ids, where, added)

    def _run(
        self,
        ids: torch.Tensor,
        where: _StepTensors | None = None,
        added: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """ids (B, T) after the cached positions -> last logits (B, V). where (and
        added, the position's row of the added table) given: static_step's one
        token, written and read through masks."""
        cache = self.cache
        B, T = ids.shape
        start, end = cache.length, cache.length + T
        x = F.embedding(ids, self.embedding)
        if where is None and self.positions is not None:
            added = self.positions[start:end]
        if added is not None:
            x = x + added
        attend = functools.partial(self._attend, where=where)
        for i, layer in enumerate(self.layers):
            x = self._sublayer(layer, layer.norm_attn, x, attend, i)
            x = self._sublayer(layer, layer.norm_ffn, x, self.feed_forward, i)
        if where is None:
            cache.length = end
        x = x[:, -1]
        if self.final_norm is not None:
            x = self.norm(x, self.final_norm)
        return F.linear(x, self.head)

    def _sublayer(self, layer: _Layer, norm, x: torch.Tensor, f, i: int):
        """_ResidualBlock._sublayer with f(i, h) for layer i: pre-LN x + f(LN(x)),
        post-LN LN(x + f(x)) (LN being the model's norm, LayerNorm or RMSNorm)."""
        if layer.pre_norm:
            out = f(i, self.norm(x, norm))
            return x + out if layer.residual else out
        out = f(i, x)
        return self.norm(x + out if layer.residual else out, norm)

    def _attend(
        self, i: int, h: torch.Tensor, where: _StepTensors | None
    ) -> torch.Tensor:
        """Causal self-attention of layer i for h (B, T, C), its keys and values
        written into the cache after the cached ones (or, given where, into the slot
        where.write, attending to the slots where.visible)."""
        cache, layer = self.cache, self.layers[i]
        B, T, C = h.shape
        start, end = cache.length, cache.length + T
        # (B, T, C + 2 C_kv) -> (B, H, T, d_head) queries, (B, H_kv, T, d_head) k and v
        q, k, v = (
            F.linear(h, *layer.qkv)
            .view(B, T, self.n_head + 2 * self.n_kv_head, self.d_head)
            .transpose(1, 2)
            .split((self.n_head, self.n_kv_head, self.n_kv_head), dim=1)
        )
        if self.rotary is not None:
            if where is None:
                cos, sin = self.rotary.cos[start:end], self.rotary.sin[start:end]
            else:
                cos, sin = where.cos, where.sin
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if where is None:
            cache.keys[i, :, :, start:end] = k
            cache.values[i, :, :, start:end] = v
            keys, values = cache.keys[i, :, :, :end], cache.values[i, :, :, :end]
        else:  # (B, H_kv, 1, d_head) broadcast into its slot of (B, H_kv, S, d_head)
            keys, values = cache.keys[i], cache.values[i]
            torch.where(where.write, k, keys, out=keys)
            torch.where(where.write, v, values, out=values)
        if self.kv_group > 1:
            keys = repeat_kv_heads(keys, self.kv_group)
            values = repeat_kv_heads(values, self.kv_group)
        # one new query sees every cached key; a prefill (start 0) is causal
        out = F.scaled_dot_product_attention(
            q,
            keys,
            values,
            attn_mask=None if where is None else where.visible,
            is_causal=T > 1,
        )
        out = out.transpose(1, 2).reshape(B, T, C)
        return F.linear(out, *layer.out)

    def _feed_forward(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """The feed-forward network of layer i, h (B, T, C) -> (B, T, C)."""
        layer = self.layers[i]
        return F.linear(self.activation(F.linear(h, *layer.ffn_in)), *layer.ffn_out)

    def _gated_feed_forward(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """SwiGLU of layer i, h (B, T, C) -> (B, T, C): gate and up in one product."""
        layer = self.layers[i]
        gate, up = F.linear(h, *layer.ffn_in).chunk(2, dim=-1)  # (B, T, hidden) each
        return F.linear(F.silu(gate) * up, *layer.ffn_out)


class _CapturedStep:
    """A Decoder's static_step recorded once as a CUDA graph and replayed.

    Recording (torch.cuda.graph) runs nothing: it notes every kernel the step
    launches, with the addresses it reads and writes. replay() then launches them all
    at once. So the step's inputs live in tensors made here, which replay() fills
    before each launch; the cache, the weights and the output are the same memory
    every time. If recording fails the decoder warns and runs static_step directly.
    """

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        keys = decoder.cache.keys
        self.ids = torch.zeros(keys.shape[1], 1, dtype=torch.long, device=keys.device)
        self.position = torch.full(
            (1,), decoder.cache.length, dtype=torch.long, device=keys.device
        )
        self.graph: torch.cuda.CUDAGraph | None = torch.cuda.CUDAGraph()
        try:
            self.logits = self._record(keys.device)
        except RuntimeError as error:
            warnings.warn(
                f"recording the decode step as a CUDA graph failed ({error}); "
                "decoding with the same step run directly (mode='static')",
                stacklevel=4,
            )
            self.graph = None

    def _record(self, device: torch.device) -> torch.Tensor:
        # PyTorch's recipe: warm up on a side stream (first calls allocate and pick
        # kernels), then record. The warm-up writes token 0's keys and values into
        # the slot the next real step overwrites.
        with torch.cuda.device(device):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self.decoder.static_step(self.ids, self.position)
            torch.cuda.current_stream().wait_stream(side)
            with torch.cuda.graph(self.graph):
                return self.decoder.static_step(self.ids, self.position)

    def replay(self, ids: torch.Tensor, position: int) -> torch.Tensor:
        """ids (B, 1) at `position` -> logits (B, V): a copy, since the next replay
        overwrites the recorded output."""
        self.ids.copy_(ids)
        self.position.fill_(position)
        if self.graph is None:
            return self.decoder.static_step(self.ids, self.position)
        self.graph.replay()
        return self.logits.clone()
