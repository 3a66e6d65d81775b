"""GPT: a decoder-only Transformer language model (chapters 08 and 09).

ids (B, T) -> token + position embeddings (B, T, C) -> n_layer Blocks
           -> final LayerNorm -> head (B, T, V) logits for the next token

With positional="rope" nothing is added to the token embeddings: each Block rotates
its queries and keys by their positions instead. normalization="rmsnorm" makes every
norm, the final one included, an RMSNorm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tinytx.config import GPTConfig
from tinytx.generate import generate as _generate
from tinytx.nn.attention import KVCache
from tinytx.nn.block import Block
from tinytx.nn.embedding import TokenEmbedding, check_token_ids
from tinytx.nn.norm import make_norm
from tinytx.nn.positional import (
    LearnedPositionalEmbedding,
    RotaryPositionalEmbedding,
    SinusoidalPositionalEmbedding,
)


def init_weights(model: nn.Module, n_layer: int, std: float = 0.02) -> None:
    """GPT-2's initialisation: N(0, 0.02) weights, zero biases, and the projections that
    write into the residual stream scaled by 1/sqrt(2 * n_layer), so the stream's
    variance does not grow with depth (Radford et al., 2019)."""
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            nn.init.zeros_(param)
        elif name.endswith("weight") and param.dim() == 2:
            is_residual_write = name.endswith(("out_proj.weight", "fc_out.weight"))
            nn.init.normal_(
                param,
                mean=0.0,
                std=std / math.sqrt(2 * n_layer) if is_residual_write else std,
            )


def cross_entropy_loss(
    logits: torch.Tensor, targets: torch.Tensor, vocab_size: int, **kwargs
) -> torch.Tensor:
    """Mean cross-entropy of logits (B, T, V) against targets (B, T);
    kwargs go to F.cross_entropy."""
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"targets must have shape {tuple(logits.shape[:-1])} "
            f"(one per input position), got {tuple(targets.shape)}"
        )
    ignore_index = kwargs.get("ignore_index")
    checked = targets if ignore_index is None else targets[targets != ignore_index]
    if checked.numel() > 0:
        check_token_ids(checked, vocab_size, what="targets")
    return F.cross_entropy(
        logits.reshape(-1, vocab_size), targets.reshape(-1), **kwargs
    )


class GPT(nn.Module):
    """A GPT-style language model. See `GPTConfig` for the knobs."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT needs a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.tok_embed = TokenEmbedding(config.vocab_size, config.n_embd)
        if config.positional == "rope":  # no table: positions turn queries and keys
            self.pos_embed = None
            self.rotary = RotaryPositionalEmbedding(
                config.block_size, config.n_embd // config.n_head
            )
        else:
            positional = (
                LearnedPositionalEmbedding
                if config.positional == "learned"
                else SinusoidalPositionalEmbedding
            )
            self.pos_embed = positional(config.block_size, config.n_embd)
            self.rotary = None
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(
                config.n_embd,
                config.n_head,
                dropout=config.dropout,
                norm=config.norm,
                residual=config.residual,
                bias=config.bias,
                activation=config.activation,
                ffn_hidden=config.ffn_hidden,
                normalization=config.normalization,
                n_kv_head=config.n_kv_head,
            )
            for _ in range(config.n_layer)
        )
        # Post-LN blocks already end in a LayerNorm; pre-LN ones
        # leave the stream unnormalised.
        self.final_norm = (
            make_norm(config.normalization, config.n_embd, bias=config.bias)
            if config.norm == "pre"
            else nn.Identity()
        )
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        init_weights(self, config.n_layer)
        if config.tie_weights:
            self.head.weight = (
                self.tok_embed.weight
            )  # one (V, C) matrix reads and writes tokens

    def num_parameters(self) -> int:
        """Number of trainable parameters (a tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def check_input(self, idx: torch.Tensor) -> None:
        """Raise a clear error unless idx is a (B, T) tensor of valid
        ids with T <= block_size."""
        check_token_ids(idx, self.config.vocab_size)
        if idx.dim() != 2:
            raise ValueError(
                f"token ids must have shape (B, T), got {tuple(idx.shape)}; "
                "add a batch dimension with idx[None]"
            )
        if idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"input has {idx.shape[1]} tokens but "
                f"block_size={self.config.block_size}; crop it, e.g. "
                f"idx[:, -{self.config.block_size}:], or build the model with "
                "a larger block_size"
            )

    def _forward(
        self,
        idx: torch.Tensor,
        kv_caches: list[KVCache] | None = None,
        start_pos: int = 0,
        record: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, V) for ids (B, T) already checked;
        positions start at `start_pos`."""
        T = idx.shape[1]
        positions = torch.arange(start_pos, start_pos + T, device=idx.device)
        tok = self.tok_embed(idx)  # (B, T, C)
        if record is not None:
            record["embed.tok"] = tok
        rotary = None
        if self.rotary is not None:
            rotary = self.rotary(positions)  # (cos, sin), each (T, d_head / 2)
            x = self.dropout(tok)
        else:
            pos = self.pos_embed(positions)  # (T, C), broadcast over the batch
            x = self.dropout(tok + pos)
            if record is not None:
                record["embed.pos"] = pos
        for i, block in enumerate(self.blocks):
            block_record: dict[str, torch.Tensor] | None = (
                {} if record is not None else None
            )
            x = block(
                x,
                kv_cache=kv_caches[i] if kv_caches is not None else None,
                record=block_record,
                rotary=rotary,
            )
            if record is not None:
                record.update(
                    {f"blocks.{i}.{key}": value for key, value in block_record.items()}
                )
        x = self.final_norm(x)
        logits = self.head(x)  # (B, T, V)
        if record is not None:
            record["final_norm"] = x
            record["logits"] = logits
        return logits

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """ids (B, T) -> (logits (B, T, V), mean cross-entropy against
        targets (B, T), or None)."""
        self.check_input(idx)
        logits = self._forward(idx)
        if targets is None:
            return logits, None
        return logits, cross_entropy_loss(logits, targets, self.config.vocab_size)

    def run_with_cache(
        self, idx: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward pass that also returns every intermediate
        activation, named by where it lives.

        Keys: embed.tok (B, T, C), embed.pos (T, C), blocks.{i}.resid_pre,
        blocks.{i}.attn.weights (B, H, T, T), blocks.{i}.attn.out, blocks.{i}.resid_mid,
        blocks.{i}.ffn.hidden (B, T, hidden), blocks.{i}.ffn.out, blocks.{i}.resid_post,
        final_norm, logits (B, T, V). With positional="rope" there is no embed.pos
        (positions enter attention); with n_kv_head the weights still have n_head
        heads.
        """
        self.check_input(idx)
        cache: dict[str, torch.Tensor] = {}
        logits = self._forward(idx, record=cache)
        return logits, cache

    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
        fast: bool = True,
        decode_mode: str | None = None,
    ) -> torch.Tensor:
        """Continue ids (B, T) by max_new_tokens sampled
        tokens -> (B, T + max_new_tokens).

        temperature=0 (or top_k=1) picks the most likely token every time (greedy).
        See `tinytx.generate.generate` for how the context is cropped past block_size
        and for `fast` and `decode_mode`.
        """
        return _generate(
            self,
            idx,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            use_cache,
            generator,
            fast,
            decode_mode,
        )
