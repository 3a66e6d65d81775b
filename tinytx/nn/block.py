"""Transformer blocks: attention and a feed-forward network, each wrapped in a residual
connection and a LayerNorm (chapter 06).

Where the norm sits is the difference between the two classic layouts:

    post-LN (Vaswani et al., 2017):  x = norm(x + sublayer(x))
    pre-LN  (GPT-2):                 x = x + sublayer(norm(x))

With `residual=False` the `x +` disappears, for the ablation of chapter 06. A GPT
`Block` also takes the switches of chapter 11: RMSNorm for LayerNorm, the SwiGLU
feed-forward network, grouped-query attention and rotary positions.

Every block can fill a `record` dict with its activations (keys such as "resid_pre",
"attn.weights", "ffn.hidden"); the models prefix them with the block's location.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tinytx.nn.attention import KVCache, MultiHeadAttention
from tinytx.nn.ffn import FeedForward, SwiGLUFeedForward
from tinytx.nn.norm import LayerNorm, make_norm


class _ResidualBlock(nn.Module):
    """Shared wiring: how a sublayer, its norm and the residual connection combine."""

    norm_placement: str
    residual: bool

    def _sublayer(
        self,
        x: torch.Tensor,
        norm: nn.Module,
        sublayer: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        if self.norm_placement == "pre":
            out = sublayer(norm(x))
            return x + out if self.residual else out
        out = sublayer(x)
        return norm(x + out if self.residual else out)

    def _attend(
        self,
        attn: MultiHeadAttention,
        name: str,
        record: dict[str, torch.Tensor] | None,
        x: torch.Tensor,
        **kwargs,
    ) -> torch.Tensor:
        """Run one attention sublayer, recording its weights
        (B, H, T, S) and output (B, T, C)."""
        out, weights = attn(x, need_weights=record is not None, **kwargs)
        out = self.dropout(out)
        if record is not None:
            record[f"{name}.weights"] = weights
            record[f"{name}.out"] = out
        return out

    def _feed_forward(
        self, record: dict[str, torch.Tensor] | None, x: torch.Tensor
    ) -> torch.Tensor:
        ffn_record: dict[str, torch.Tensor] | None = {} if record is not None else None
        out = self.ffn(x, record=ffn_record)
        if record is not None:
            record["ffn.hidden"] = ffn_record["hidden"]
            record["ffn.out"] = out
        return out


class Block(_ResidualBlock):
    """A GPT block: causal self-attention then a feed-forward
    network, (B, T, C) -> (B, T, C).

    normalization="rmsnorm" makes both norms RMSNorm (no bias); activation="swiglu"
    builds a `SwiGLUFeedForward`; n_kv_head (None: n_head) sets the attention's
    key/value heads.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        norm: str = "pre",
        residual: bool = True,
        bias: bool = True,
        activation: str = "gelu",
        ffn_hidden: int | None = None,
        normalization: str = "layernorm",
        n_kv_head: int | None = None,
    ) -> None:
        super().__init__()
        self.norm_placement = norm
        self.residual = residual
        self.ln_attn = make_norm(normalization, n_embd, bias)
        self.attn = MultiHeadAttention(
            n_embd, n_head, dropout=dropout, bias=bias, n_kv_head=n_kv_head
        )
        self.ln_ffn = make_norm(normalization, n_embd, bias)
        if activation == "swiglu":
            self.ffn = SwiGLUFeedForward(n_embd, ffn_hidden, dropout=dropout, bias=bias)
        else:
            self.ffn = FeedForward(
                n_embd, ffn_hidden, activation=activation, dropout=dropout, bias=bias
            )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        kv_cache: KVCache | None = None,
        record: dict[str, torch.Tensor] | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C). rotary: (cos, sin) of x's positions, each
        (T, d_head / 2), when the model uses rotary positions."""
        if record is not None:
            record["resid_pre"] = x
        x = self._sublayer(
            x,
            self.ln_attn,
            lambda h: self._attend(
                self.attn,
                "attn",
                record,
                h,
                causal=True,
                kv_cache=kv_cache,
                rotary=rotary,
            ),
        )
        if record is not None:
            record["resid_mid"] = x
        x = self._sublayer(x, self.ln_ffn, lambda h: self._feed_forward(record, h))
        if record is not None:
            record["resid_post"] = x
        return x


class EncoderBlock(_ResidualBlock):
    """An encoder layer: self-attention over the whole source,
    then a feed-forward network.

    (B, S, C) -> (B, S, C). Post-LN by default, as in the original paper.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        norm: str = "post",
        residual: bool = True,
        bias: bool = True,
        activation: str = "relu",
        ffn_hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.norm_placement = norm
        self.residual = residual
        self.self_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias)
        self.ln_attn = LayerNorm(n_embd, bias=bias)
        self.ffn = FeedForward(
            n_embd, ffn_hidden, activation=activation, dropout=dropout, bias=bias
        )
        self.ln_ffn = LayerNorm(n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        record: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """mask: boolean, broadcastable to (B, H, S, S), e.g.
        `padding_mask(src, pad_id)`."""
        if record is not None:
            record["resid_pre"] = x
        x = self._sublayer(
            x,
            self.ln_attn,
            lambda h: self._attend(self.self_attn, "self_attn", record, h, mask=mask),
        )
        x = self._sublayer(x, self.ln_ffn, lambda h: self._feed_forward(record, h))
        if record is not None:
            record["resid_post"] = x
        return x


class DecoderBlock(_ResidualBlock):
    """A decoder layer: masked self-attention, cross-attention
    to the encoder's output, FFN.

    (B, T, C) with memory (B, S, C) -> (B, T, C). Post-LN by default.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        norm: str = "post",
        residual: bool = True,
        bias: bool = True,
        activation: str = "relu",
        ffn_hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.norm_placement = norm
        self.residual = residual
        self.self_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias)
        self.ln_self = LayerNorm(n_embd, bias=bias)
        self.cross_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias)
        self.ln_cross = LayerNorm(n_embd, bias=bias)
        self.ffn = FeedForward(
            n_embd, ffn_hidden, activation=activation, dropout=dropout, bias=bias
        )
        self.ln_ffn = LayerNorm(n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        record: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """self_mask: extra mask on the target (the causal mask is always applied);
        memory_mask: which source positions may be attended to, e.g.
        `padding_mask(src, pad_id)`."""
        if record is not None:
            record["resid_pre"] = x
        x = self._sublayer(
            x,
            self.ln_self,
            lambda h: self._attend(
                self.self_attn, "self_attn", record, h, mask=self_mask, causal=True
            ),
        )
        x = self._sublayer(
            x,
            self.ln_cross,
            lambda h: self._attend(
                self.cross_attn,
                "cross_attn",
                record,
                h,
                context=memory,
                mask=memory_mask,
            ),
        )
        x = self._sublayer(x, self.ln_ffn, lambda h: self._feed_forward(record, h))
        if record is not None:
            record["resid_post"] = x
        return x
