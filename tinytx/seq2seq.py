"""The encoder-decoder Transformer of "Attention Is All You Need" (chapter 10).

    src (B, S) -> embed * sqrt(C) + positions -> n_layer EncoderBlocks
                  -> memory (B, S, C)
    tgt (B, T) -> embed * sqrt(C) + positions -> n_layer DecoderBlocks
                  (masked self-attention, cross-attention to memory, FFN)
                  -> head (B, T, V_tgt)

Post-LN, sinusoidal positions, ReLU, the target embedding tied to the output head and
label smoothing, as in the paper (Vaswani et al., 2017, sections 3 and 5.4).
"""

from __future__ import annotations

import torch
from torch import nn

from tinytx.beam import (
    beam_search,
    check_decoding_args,
    check_length_penalty,
    sequence_scores,
)
from tinytx.config import Seq2SeqConfig
from tinytx.model import cross_entropy_loss
from tinytx.nn.attention import padding_mask
from tinytx.nn.block import DecoderBlock, EncoderBlock
from tinytx.nn.embedding import TokenEmbedding, check_token_ids
from tinytx.nn.norm import LayerNorm
from tinytx.nn.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
)


class Seq2Seq(nn.Module):
    """An encoder-decoder Transformer. See `Seq2SeqConfig` for the knobs."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(
                f"Seq2Seq needs a Seq2SeqConfig, got {type(config).__name__}"
            )
        self.config = config
        C = config.n_embd
        self.src_embed = TokenEmbedding(
            config.src_vocab_size, C, scale=config.scale_embeddings
        )
        self.tgt_embed = TokenEmbedding(
            config.tgt_vocab_size, C, scale=config.scale_embeddings
        )
        positional = (
            LearnedPositionalEmbedding
            if config.positional == "learned"
            else SinusoidalPositionalEmbedding
        )
        self.src_pos = positional(config.block_size, C)
        self.tgt_pos = positional(config.block_size, C)
        self.dropout = nn.Dropout(config.dropout)
        layer_args = dict(
            dropout=config.dropout,
            norm=config.norm,
            bias=config.bias,
            activation=config.activation,
            ffn_hidden=config.ffn_hidden,
        )
        self.encoder = nn.ModuleList(
            EncoderBlock(C, config.n_head, **layer_args) for _ in range(config.n_layer)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock(C, config.n_head, **layer_args) for _ in range(config.n_layer)
        )
        pre_ln = (
            config.norm == "pre"
        )  # pre-LN stacks end unnormalised, so they get a final norm
        self.encoder_norm = LayerNorm(C, bias=config.bias) if pre_ln else nn.Identity()
        self.decoder_norm = LayerNorm(C, bias=config.bias) if pre_ln else nn.Identity()
        self.head = nn.Linear(C, config.tgt_vocab_size, bias=False)
        # Xavier-uniform matrices, as in the paper's code and nn.Transformer:
        # GPT-2's smaller N(0, 0.02) start leaves a small post-LN model's
        # cross-attention uniform for long.
        for name, param in self.named_parameters():
            if param.dim() == 2 and "embed" not in name:
                nn.init.xavier_uniform_(param)
            elif name.endswith("bias"):
                nn.init.zeros_(param)
        for embed in (self.src_embed, self.tgt_embed):
            # Embeddings are multiplied by sqrt(C) when scale_embeddings;
            # starting them at std 1/sqrt(C) makes those vectors unit-sized, like
            # the sinusoids they meet.
            nn.init.normal_(
                embed.weight, std=C**-0.5 if config.scale_embeddings else 1.0
            )
        if config.tie_weights:
            self.head.weight = self.tgt_embed.weight

    def num_parameters(self) -> int:
        """Number of trainable parameters (a tied matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def _check(self, ids: torch.Tensor, vocab_size: int, side: str) -> None:
        check_token_ids(ids, vocab_size, what=f"{side} token ids")
        if ids.dim() != 2:
            raise ValueError(
                f"{side} ids must have shape (B, length), got {tuple(ids.shape)}"
            )
        if ids.shape[1] > self.config.block_size:
            raise ValueError(
                f"{side} has {ids.shape[1]} tokens but "
                f"block_size={self.config.block_size}; shorten it or build the model "
                "with a larger block_size"
            )

    def encode(
        self, src: torch.Tensor, record: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Source ids (B, S) -> memory (B, S, C). Padding positions
        are hidden from attention."""
        self._check(src, self.config.src_vocab_size, "source")
        mask = padding_mask(src, self.config.pad_id)  # (B, 1, 1, S)
        positions = torch.arange(src.shape[1], device=src.device)
        x = self.dropout(self.src_embed(src) + self.src_pos(positions))
        for i, block in enumerate(self.encoder):
            block_record: dict[str, torch.Tensor] | None = (
                {} if record is not None else None
            )
            x = block(x, mask=mask, record=block_record)
            if record is not None:
                record.update(
                    {f"encoder.{i}.{key}": value for key, value in block_record.items()}
                )
        return self.encoder_norm(x)

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        src: torch.Tensor,
        record: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Target ids so far (B, T) and the encoded source
        (B, S, C) -> logits (B, T, V_tgt)."""
        self._check(tgt, self.config.tgt_vocab_size, "target")
        memory_mask = padding_mask(src, self.config.pad_id)  # (B, 1, 1, S)
        positions = torch.arange(tgt.shape[1], device=tgt.device)
        x = self.dropout(self.tgt_embed(tgt) + self.tgt_pos(positions))
        for i, block in enumerate(self.decoder):
            block_record: dict[str, torch.Tensor] | None = (
                {} if record is not None else None
            )
            x = block(x, memory, memory_mask=memory_mask, record=block_record)
            if record is not None:
                record.update(
                    {f"decoder.{i}.{key}": value for key, value in block_record.items()}
                )
        logits = self.head(self.decoder_norm(x))
        if record is not None:
            record["logits"] = logits
        return logits

    def forward(
        self, src: torch.Tensor, tgt: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: src (B, S), decoder input tgt (B, T) ->
        (logits (B, T, V_tgt), loss).

        targets (B, T) are the next target tokens; positions holding pad_id are ignored
        by the loss, which uses the config's label smoothing.
        """
        logits = self.decode(tgt, self.encode(src), src)
        if targets is None:
            return logits, None
        loss = cross_entropy_loss(
            logits,
            targets,
            self.config.tgt_vocab_size,
            ignore_index=self.config.pad_id,
            label_smoothing=self.config.label_smoothing,
        )
        return logits, loss

    def run_with_cache(
        self, src: torch.Tensor, tgt: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward pass returning the activations too, e.g.
        "decoder.{i}.cross_attn.weights" (B, H, T, S), "encoder.{i}.self_attn.weights"
        (B, H, S, S), "decoder.{i}.self_attn.weights" (B, H, T, T)."""
        cache: dict[str, torch.Tensor] = {}
        memory = self.encode(src, record=cache)
        cache["memory"] = memory
        logits = self.decode(tgt, memory, src, record=cache)
        return logits, cache

    @torch.no_grad()
    def translate(
        self,
        src: torch.Tensor,
        max_len: int | None = None,
        beam_size: int = 1,
        length_penalty: float = 0.0,
    ) -> torch.Tensor:
        """Decoding: source ids (B, S) -> target ids (B, L) starting with bos_id.

        beam_size=1 (the default) decodes greedily: each step feeds the target so far
        and appends the most likely next token. A row that has produced eos_id is
        padded with pad_id; decoding stops when every row has finished or the target
        reaches max_len tokens (default and most: block_size).

        beam_size > 1 runs beam search (`tinytx.beam.beam_search`): it keeps the
        beam_size most likely partial targets of each source and returns the best,
        compared by log-probability divided by GNMT's length penalty
        ((5 + length) / 6) ** length_penalty; the paper used beam 4 and 0.6.
        """
        limit = check_decoding_args(
            beam_size, length_penalty, max_len, self.config.block_size
        )
        was_training = self.training
        self.eval()
        try:
            if beam_size > 1:
                return beam_search(self, src, beam_size, limit, length_penalty)
            memory = self.encode(src)
            tgt = torch.full(
                (src.shape[0], 1),
                self.config.bos_id,
                dtype=torch.long,
                device=src.device,
            )
            finished = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
            while tgt.shape[1] < limit and not finished.all():
                next_id = self.decode(tgt, memory, src)[:, -1].argmax(dim=-1)  # (B,)
                next_id = next_id.masked_fill(finished, self.config.pad_id)
                tgt = torch.cat([tgt, next_id[:, None]], dim=1)
                finished |= next_id == self.config.eos_id
        finally:
            self.train(was_training)
        return tgt

    @torch.no_grad()
    def score(
        self, src: torch.Tensor, tgt: torch.Tensor, length_penalty: float = 0.0
    ) -> torch.Tensor:
        """What beam search ranks by: src (B, S) and targets tgt (B, L) as `translate`
        returns them -> (B,) log P(target tokens | source) / GNMT's length penalty."""
        check_length_penalty(length_penalty)
        was_training = self.training
        self.eval()
        try:
            return sequence_scores(self, src, tgt, length_penalty)
        finally:
            self.train(was_training)

    generate = translate
