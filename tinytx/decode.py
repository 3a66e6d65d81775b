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

It reads the model's own parameters, so it needs no conversion and sees the same
weights; `tinytx.generate(..., fast=False)` runs the explicit path that chapter 9
teaches, and the tests assert that both write the same tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from tinytx.nn.ffn import ACTIVATIONS

if TYPE_CHECKING:  # the model imports tinytx.generate, which imports this module
    from tinytx.model import GPT


class StaticKVCache:
    """Keys and values of every layer for up to block_size positions, allocated once.

    keys, values: (n_layer, B, H, block_size, d_head); positions 0 .. length-1 are
    filled. `reset()` empties it for a new window without freeing anything.
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        block_size: int,
        d_head: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (n_layer, batch_size, n_head, block_size, d_head)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def reset(self) -> None:
        self.length = 0


def _layer_norm(x: torch.Tensor, norm) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


class Decoder:
    """GPT._forward for generation, as functions over a StaticKVCache.

    decoder = Decoder(model, batch_size)
    logits = decoder.prefill(ids)   # (B, T) from position 0 -> last logits (B, V)
    logits = decoder.step(next_ids) # (B, 1) at the next position -> (B, V)

    The model must be in eval mode (no dropout) and its weights must not change while
    the decoder is in use: the stacked QKV weights are a copy taken here.
    """

    def __init__(self, model: GPT, batch_size: int) -> None:
        config = model.config
        self.model = model
        self.n_head, self.d_head = config.n_head, config.n_embd // config.n_head
        parameter = next(model.parameters())
        self.cache = StaticKVCache(
            config.n_layer,
            batch_size,
            config.n_head,
            config.block_size,
            self.d_head,
            device=parameter.device,
            dtype=parameter.dtype,
        )
        positional = model.pos_embed
        self.positions = getattr(positional, "weight", None)
        if self.positions is None:  # sinusoidal: a fixed table, not a parameter
            self.positions = positional.table
        self.qkv = []
        for block in model.blocks:
            attn = block.attn
            projections = (attn.q_proj, attn.k_proj, attn.v_proj)
            weight = torch.cat([p.weight for p in projections]).detach()
            bias = (
                None
                if attn.q_proj.bias is None
                else torch.cat([p.bias for p in projections]).detach()
            )
            self.qkv.append((weight, bias))

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
        x = F.embedding(ids, model.tok_embed.weight) + self.positions[start:end]
        for i, block in enumerate(model.blocks):
            x = self._sublayer(block, block.ln_attn, x, self._attend, i)
            x = self._sublayer(block, block.ln_ffn, x, self._feed_forward, i)
        cache.length = end
        x = x[:, -1]
        if model.config.norm == "pre":
            x = _layer_norm(x, model.final_norm)
        return F.linear(x, model.head.weight)

    @staticmethod
    def _sublayer(block, norm, x: torch.Tensor, f, i: int) -> torch.Tensor:
        """_ResidualBlock._sublayer with f(i, h) for layer i: pre-LN x + f(LN(x)),
        post-LN LN(x + f(x))."""
        if block.norm_placement == "pre":
            out = f(i, _layer_norm(x, norm))
            return x + out if block.residual else out
        out = f(i, x)
        return _layer_norm(x + out if block.residual else out, norm)

    def _attend(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Causal self-attention of layer i for h (B, T, C), its keys and values
        written into the cache after the cached ones."""
        cache, (weight, bias) = self.cache, self.qkv[i]
        B, T, C = h.shape
        start, end = cache.length, cache.length + T
        # (B, T, 3C) -> three (B, H, T, d_head)
        q, k, v = (
            F.linear(h, weight, bias)
            .view(B, T, 3, self.n_head, self.d_head)
            .permute(2, 0, 3, 1, 4)
        )
        cache.keys[i, :, :, start:end] = k
        cache.values[i, :, :, start:end] = v
        keys, values = cache.keys[i, :, :, :end], cache.values[i, :, :, :end]
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
