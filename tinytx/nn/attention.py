"""Attention: every token takes a weighted average of the others (chapter 04).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V        (Vaswani et al., 2017)

Masks are boolean with True = "may attend" (the convention of
`torch.nn.functional.scaled_dot_product_attention`). A causal mask lets position t see
positions <= t; a padding mask hides padding tokens of the keys.

Two changes of chapter 11 live in `MultiHeadAttention`: rotary positions (queries and
keys turned by their position, see `tinytx.nn.positional`) and grouped-query
attention, fewer key/value heads than query heads (Ainslie et al., 2023), whose
extreme of one key/value head is multi-query attention (Shazeer, 2019). Fewer
key/value heads mean a smaller KV cache, which is what limits long generation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tinytx.nn.functional import softmax
from tinytx.nn.positional import apply_rotary


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (T, T) lower-triangular mask: entry [t, s] is True when query
    t may see key s (s <= t)."""
    if isinstance(T, bool) or not isinstance(T, int) or T <= 0:
        raise ValueError(f"causal_mask needs a positive int T, got {T!r}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Boolean (B, 1, 1, S) mask from token ids (B, S): True
    where the key is a real token.

    The two singleton dimensions broadcast over heads and queries, so the same mask
    serves a (B, H, T, S) score tensor.
    """
    if ids.dim() != 2:
        raise ValueError(
            f"padding_mask expects ids of shape (B, S), got shape {tuple(ids.shape)}"
        )
    return (ids != pad_id)[:, None, None, :]


def _check_mask(mask: torch.Tensor, scores_shape: torch.Size) -> None:
    if mask.dtype != torch.bool:
        raise TypeError(
            "attention masks must be boolean (True = may attend), got dtype "
            f"{mask.dtype}; use mask.bool()"
        )
    try:
        torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention "
            f"scores {tuple(scores_shape)} (batch, heads, queries, keys); a causal "
            "mask is (T, T), a padding mask (B, 1, 1, S)"
        ) from None


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention written out, returning the weights too.

    Args:
        q: queries (..., T, d_k); k: keys (..., S, d_k); v: values (..., S, d_v).
        mask: optional boolean mask broadcastable to (..., T, S), True = may attend.
        causal: also forbid query t to see keys s > t (T must equal S).
        dropout_p: dropout on the weights (training only; 0 gives exact results).

    Returns:
        out (..., T, d_v) and weights (..., T, S), each row of weights summing to 1,
        except the rows of a query that may attend to no key at all (every key masked,
        as for a pad query under left padding): those weights and outputs are 0, as in
        PyTorch's fused `F.scaled_dot_product_attention`, instead of softmax's nan.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys need the same last dimension, got {q.shape[-1]} "
            f"and {k.shape[-1]}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"keys and values need the same length, got {k.shape[-2]} and {v.shape[-2]}"
        )
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if mask is not None:
        _check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, float("-inf"))
    if causal:
        T, S = scores.shape[-2:]
        if T != S:
            raise ValueError(
                f"causal=True needs as many queries as keys, got {T} and {S}; "
                "pass an explicit mask"
            )
        scores = scores.masked_fill(
            ~causal_mask(T, device=scores.device), float("-inf")
        )
    weights = softmax(scores, dim=-1)  # (..., T, S)
    # A row of only -inf scores has no distribution (softmax gives nan): give it zeros.
    weights = weights.masked_fill(scores.isneginf().all(dim=-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


def repeat_kv_heads(x: torch.Tensor, group: int) -> torch.Tensor:
    """(B, H_kv, S, d_head) -> (B, H_kv * group, S, d_head), each head repeated
    `group` times in place: query head h reads key/value head h // group, so
    neighbouring query heads share one (as Llama's `repeat_kv`, and PyTorch's
    `enable_gqa`)."""
    return x.repeat_interleave(group, dim=1)


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer.

    During generation each new token only needs its own query; its keys and values are
    appended here so earlier tokens are never recomputed. Shapes
    (B, H_kv, T_seen, d_head), with H_kv the layer's key/value heads (n_kv_head).
    """

    def __init__(self) -> None:
        self._keys: torch.Tensor | None = (
            None  # (B, H, capacity, d_head), filled up to len(self)
        )
        self._values: torch.Tensor | None = None
        self._length = 0

    def __len__(self) -> int:
        return self._length

    @property
    def keys(self) -> torch.Tensor | None:
        return None if self._keys is None else self._keys[..., : self._length, :]

    @property
    def values(self) -> torch.Tensor | None:
        return None if self._values is None else self._values[..., : self._length, :]

    def append(
        self, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add (B, H, T_new, d_head) keys and values; return all of them so far.

        The buffers grow by doubling, so appending one token copies one token, where
        `torch.cat` would copy the whole cache every step (the values are the same).
        """
        end = self._length + keys.shape[-2]
        if self._keys is None or end > self._keys.shape[-2]:
            capacity = max(
                end, 2 * (0 if self._keys is None else self._keys.shape[-2]), 16
            )
            grown_keys = keys.new_empty(*keys.shape[:-2], capacity, keys.shape[-1])
            grown_values = values.new_empty(
                *values.shape[:-2], capacity, values.shape[-1]
            )
            if self._keys is not None:
                grown_keys[..., : self._length, :] = self.keys
                grown_values[..., : self._length, :] = self.values
            self._keys, self._values = grown_keys, grown_values
        self._keys[..., self._length : end, :] = keys
        self._values[..., self._length : end, :] = values
        self._length = end
        return self.keys, self.values


class MultiHeadAttention(nn.Module):
    """n_head attention heads side by side, (B, T, C) -> (B, T, C).

    Self-attention when `context` is None; cross-attention (queries from `x`, keys and
    values from `context`, e.g. the encoder's output) otherwise. With
    `need_weights=False` it calls PyTorch's fused kernel; with `need_weights=True` the
    explicit path above, which also returns the weights (B, H, T, S). Both give the
    same output.

    n_kv_head (default n_head) below n_head is grouped-query attention: keys and
    values are projected to n_kv_head heads of d_head = C / n_head dimensions, and each
    serves n_head // n_kv_head neighbouring query heads (`repeat_kv_heads`); the KV
    cache keeps the n_kv_head heads only.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = True,
        n_kv_head: int | None = None,
    ) -> None:
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        n_kv_head = n_head if n_kv_head is None else n_kv_head
        if n_head % n_kv_head != 0:
            raise ValueError(
                f"n_head={n_head} must be a multiple of n_kv_head={n_kv_head}"
            )
        self.n_head = n_head
        self.n_kv_head = n_kv_head
        self.kv_group = n_head // n_kv_head  # query heads per key/value head
        self.d_head = n_embd // n_head
        self.q_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.k_proj = nn.Linear(n_embd, n_kv_head * self.d_head, bias=bias)
        self.v_proj = nn.Linear(n_embd, n_kv_head * self.d_head, bias=bias)
        self.out_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = dropout

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n * d_head) -> (B, n, T, d_head): each head gets its own slice of the
        channels; n is n_head for queries, n_kv_head for keys and values."""
        B, T, _ = x.shape
        return x.view(B, T, -1, self.d_head).transpose(1, 2)

    @staticmethod
    def merge_heads(x: torch.Tensor) -> torch.Tensor:
        """(B, H, T, d_head) -> (B, T, H * d_head): the heads'
        outputs side by side again."""
        B, H, T, d_head = x.shape
        return x.transpose(1, 2).reshape(B, T, H * d_head)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        kv_cache: KVCache | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Args:
            x: (B, T, C) the queries' source.
            context: (B, S, C) the keys' and values' source; None
                means x (self-attention).
            mask: boolean, broadcastable to (B, H, T, S), True = may attend.
            causal: forbid attending to later positions (self-attention).
            need_weights: also return the attention weights (B, H, T, S).
            kv_cache: during generation, the keys and values of earlier tokens; this
                call's keys and values are appended and attention covers them all.
            rotary: (cos, sin), each (T, d_head / 2), the angles of x's positions
                (`RotaryPositionalEmbedding`): queries and keys are rotated by them
                before the keys are cached. Self-attention only.

        Returns:
            (out (B, T, C), weights (B, H, T, S) or None).
        """
        source = x if context is None else context
        q = self.split_heads(self.q_proj(x))  # (B, H, T, d_head)
        k = self.split_heads(self.k_proj(source))  # (B, H_kv, S, d_head)
        v = self.split_heads(self.v_proj(source))
        if rotary is not None:
            if context is not None:
                raise ValueError(
                    "rotary positions are for self-attention: queries and keys from "
                    "different sequences have no common positions"
                )
            cos, sin = rotary
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if kv_cache is not None:
            if causal and len(kv_cache) > 0 and q.shape[-2] > 1:
                raise ValueError(
                    "a KV cache extends one new token at a time; prefill it with the "
                    "whole prompt first"
                )
            if len(kv_cache) > 0:
                causal = False  # one new query may see every cached key, and itself
            k, v = kv_cache.append(k, v)
        if self.kv_group > 1:
            k, v = repeat_kv_heads(k, self.kv_group), repeat_kv_heads(v, self.kv_group)
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = scaled_dot_product_attention(
                q, k, v, mask=mask, causal=causal, dropout_p=dropout_p
            )
        else:
            if mask is not None:
                _check_mask(mask, torch.Size((*q.shape[:-1], k.shape[-2])))
                if causal:  # the fused kernel takes one mask or causal, not both
                    mask = mask & causal_mask(q.shape[-2], device=q.device)
                    causal = False
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal
            )
            weights = None
        return self.out_proj(self.merge_heads(out)), weights
