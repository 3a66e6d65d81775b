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

It reads the model's own parameters, so it needs no conversion and sees the same
weights; `tinytx.generate(..., fast=False)` runs the explicit path that chapter 9
teaches, and the tests assert that both write the same tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def _layer_norm(x: torch.Tensor, norm) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


def _rms_norm(x: torch.Tensor, norm) -> torch.Tensor:
    return F.rms_norm(x, x.shape[-1:], norm.weight, norm.eps)


def _stack_linears(*layers) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weights (and biases) of linear layers reading the same input, stacked:
    one matrix multiplication computes all their outputs side by side."""
    weight = torch.cat([layer.weight for layer in layers]).detach()
    if layers[0].bias is None:
        return weight, None
    return weight, torch.cat([layer.bias for layer in layers]).detach()


class Decoder:
    """GPT._forward for generation, as functions over a StaticKVCache.

    decoder = Decoder(model, batch_size)
    logits = decoder.prefill(ids)   # (B, T) from position 0 -> last logits (B, V)
    logits = decoder.step(next_ids) # (B, 1) at the next position -> (B, V)

    The model must be in eval mode (no dropout) and its weights must not change while
    the decoder is in use: the stacked weights are a copy taken here.
    """

    def __init__(self, model: GPT, batch_size: int) -> None:
        config = model.config
        self.model = model
        self.n_head, self.d_head = config.n_head, config.n_embd // config.n_head
        self.n_kv_head = config.n_kv_head or config.n_head
        self.kv_group = self.n_head // self.n_kv_head
        parameter = next(model.parameters())
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
        self.qkv = [
            _stack_linears(block.attn.q_proj, block.attn.k_proj, block.attn.v_proj)
            for block in model.blocks
        ]
        if config.activation == "swiglu":
            self.gate_up = [
                _stack_linears(block.ffn.fc_gate, block.ffn.fc_in)
                for block in model.blocks
            ]
            self.feed_forward = self._gated_feed_forward
        else:
            self.feed_forward = self._feed_forward

    def prefill(self, ids: torch.Tensor) -> torch.Tensor:
        """Read a whole window ids (B, T) into an empty cache -> last logits (B, V)."""
        self.cache.reset()
        return self._run(ids)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """The next token ids (B, 1) at position cache.length -> logits (B, V)."""
        if ids.shape[1] != 1:
            raise ValueError(f"step takes one token per row, got shape {ids.shape}")
        if self.cache.length >= self.model.config.block_size:
            raise ValueError(
                "the cache is full (block_size tokens); prefill a shorter window"
            )
        return self._run(ids)

    def _run(self, ids: torch.Tensor) -> torch.Tensor:
        model, cache = self.model, self.cache
        B, T = ids.shape
        start, end = cache.length, cache.length + T
        x = F.embedding(ids, model.tok_embed.weight)
        if self.positions is not None:
            x = x + self.positions[start:end]
        for i, block in enumerate(model.blocks):
            x = self._sublayer(block, block.ln_attn, x, self._attend, i)
            x = self._sublayer(block, block.ln_ffn, x, self.feed_forward, i)
        cache.length = end
        x = x[:, -1]
        if model.config.norm == "pre":
            x = self.norm(x, model.final_norm)
        return F.linear(x, model.head.weight)

    def _sublayer(self, block, norm, x: torch.Tensor, f, i: int) -> torch.Tensor:
        """_ResidualBlock._sublayer with f(i, h) for layer i: pre-LN x + f(LN(x)),
        post-LN LN(x + f(x)) (LN being the model's norm, LayerNorm or RMSNorm)."""
        if block.norm_placement == "pre":
            out = f(i, self.norm(x, norm))
            return x + out if block.residual else out
        out = f(i, x)
        return self.norm(x + out if block.residual else out, norm)

    def _attend(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Causal self-attention of layer i for h (B, T, C), its keys and values
        written into the cache after the cached ones."""
        cache, (weight, bias) = self.cache, self.qkv[i]
        B, T, C = h.shape
        start, end = cache.length, cache.length + T
        # (B, T, C + 2 C_kv) -> (B, H, T, d_head) queries, (B, H_kv, T, d_head) k and v
        q, k, v = (
            F.linear(h, weight, bias)
            .view(B, T, self.n_head + 2 * self.n_kv_head, self.d_head)
            .transpose(1, 2)
            .split((self.n_head, self.n_kv_head, self.n_kv_head), dim=1)
        )
        if self.rotary is not None:
            cos, sin = self.rotary.cos[start:end], self.rotary.sin[start:end]
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        cache.keys[i, :, :, start:end] = k
        cache.values[i, :, :, start:end] = v
        keys, values = cache.keys[i, :, :, :end], cache.values[i, :, :, :end]
        if self.kv_group > 1:
            keys = repeat_kv_heads(keys, self.kv_group)
            values = repeat_kv_heads(values, self.kv_group)
        # one new query sees every cached key; a prefill (start 0) is causal
        out = F.scaled_dot_product_attention(q, keys, values, is_causal=T > 1)
        attn = self.model.blocks[i].attn
        out = out.transpose(1, 2).reshape(B, T, C)
        return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)

    def _feed_forward(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """The feed-forward network of layer i, h (B, T, C) -> (B, T, C)."""
        ffn = self.model.blocks[i].ffn
        hidden = ACTIVATIONS[ffn.activation](
            F.linear(h, ffn.fc_in.weight, ffn.fc_in.bias)
        )
        return F.linear(hidden, ffn.fc_out.weight, ffn.fc_out.bias)

    def _gated_feed_forward(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """SwiGLU of layer i, h (B, T, C) -> (B, T, C): gate and up in one product."""
        ffn, (weight, bias) = self.model.blocks[i].ffn, self.gate_up[i]
        gate, up = F.linear(h, weight, bias).chunk(2, dim=-1)  # (B, T, hidden) each
        hidden = F.silu(gate) * up
        return F.linear(hidden, ffn.fc_out.weight, ffn.fc_out.bias)
