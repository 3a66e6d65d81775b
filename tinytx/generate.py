"""Sampling text from a language model, with and without a KV cache (chapter 09).

Each step turns the last position's logits into a distribution (temperature, then
top-k and/or top-p filtering) and draws the next token from it.

The context window. A model with learned or sinusoidal absolute positions has seen
positions 0 .. block_size-1 only, so once the text is longer than block_size the model
must read a cropped window. Sliding the window by one token every step would shift
every position, and with it every cached key and value, so a cache could never be
reused. Instead the window restarts: when it is full it is cut back to its last
`block_size // 2` tokens, which are re-encoded once (a "prefill"), and then grows again
one token at a time. Cached and uncached generation crop by the same rule
(`context_window_start`), so they read the same tokens and give the same output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from tinytx.decode import DECODE_MODES, Decoder
from tinytx.nn.attention import KVCache
from tinytx.nn.embedding import check_token_ids
from tinytx.nn.functional import softmax

if TYPE_CHECKING:  # the model imports this module, so only type checkers import it back
    from tinytx.model import GPT


def check_sampling_args(
    temperature: float, top_k: int | None, top_p: float | None
) -> None:
    """Raise a ValueError/TypeError saying what to change for a bad sampling setting."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number >= 0, got {temperature!r}")
    if not temperature >= 0:
        raise ValueError(
            f"temperature must be >= 0 (0 means greedy), got {temperature}"
        )
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise TypeError(f"top_k must be an int >= 1 or None, got {top_k!r}")
        if top_k < 1:
            raise ValueError(
                f"top_k must be >= 1 (1 means greedy) or None for no limit, got {top_k}"
            )
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise TypeError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")
        if not 0 < top_p <= 1:
            raise ValueError(
                f"top_p must be in (0, 1] (1 keeps every token), got {top_p}"
            )


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and/or the
    top-p nucleus. (B, V) -> (B, V).

    top-k keeps the k largest logits. top-p (Holtzman et al., 2020) keeps the smallest
    set of most likely tokens whose probabilities add up to at least p.
    """
    check_sampling_args(1.0, top_k, top_p)
    if top_k is not None and top_k < logits.shape[-1]:
        kept = torch.topk(logits, top_k, dim=-1).indices
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, kept, True)
        logits = logits.masked_fill(~keep, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probs = softmax(sorted_logits, dim=-1)
        # A token stays if the tokens ranked above it add up to less than top_p, so the
        # most likely token always stays and the kept mass reaches top_p.
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        keep_sorted = mass_before < top_p
        keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
        logits = logits.masked_fill(~keep, float("-inf"))
    return logits


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from the last-position logits (B, V) -> ids (B, 1)."""
    check_sampling_args(temperature, top_k, top_p)
    if temperature == 0 or top_k == 1:
        return logits.argmax(dim=-1, keepdim=True)
    probs = softmax(
        filter_logits(logits.float(), top_k, top_p), dim=-1, temperature=temperature
    )
    return torch.multinomial(probs, num_samples=1, generator=generator)


def context_window_start(length: int, block_size: int) -> int:
    """Index of the first token the model reads when `length` tokens exist.

    Up to block_size tokens the whole text is read. Past it the window holds
    keep = block_size // 2 tokens right after a restart and grows by one per token up
    to block_size, then restarts.
    """
    if length <= block_size:
        return 0
    keep = max(1, block_size // 2)
    window = keep + (length - block_size - 1) % (block_size - keep + 1)
    return length - window


@torch.no_grad()
def generate(
    model: GPT,
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
    """Append max_new_tokens sampled tokens to idx (B, T);
    returns (B, T + max_new_tokens).

    With use_cache=True each step feeds only the newest token and reuses the keys and
    values of the window's earlier tokens; the output equals use_cache=False's.
    fast=True runs those steps through `tinytx.decode.Decoder` (a static cache and
    fused projections, the same maths in fewer calls); fast=False through the model's
    own modules and a `KVCache` per layer, the path chapter 9 explains. decode_mode
    picks how the fast step runs (`Decoder`'s mode: None is a CUDA graph on CUDA and
    "eager" elsewhere).
    The model is put in eval mode (no dropout) while generating, then restored.
    """
    check_sampling_args(temperature, top_k, top_p)
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if decode_mode not in (None, *DECODE_MODES):
        raise ValueError(
            f"decode_mode must be None or one of {', '.join(DECODE_MODES)}, "
            f"got {decode_mode!r}"
        )
    check_token_ids(idx, model.config.vocab_size, what="prompt token ids")
    if idx.dim() != 2:
        raise ValueError(
            f"prompt ids must have shape (B, T), got {tuple(idx.shape)}; add a batch "
            "dimension with idx[None]"
        )
    block_size = model.config.block_size
    was_training = model.training
    model.eval()
    try:
        decoder = None
        if use_cache and fast:
            decoder = Decoder(model, idx.shape[0], mode=decode_mode)
        caches: list[KVCache] | None = None
        cache_start = -1
        for _ in range(max_new_tokens):
            length = idx.shape[1]
            start = context_window_start(length, block_size)
            reuse = use_cache and start == cache_start
            if decoder is not None:
                logits = (
                    decoder.step(idx[:, -1:])
                    if reuse
                    else decoder.prefill(idx[:, start:])
                )
            elif reuse:
                logits = model._forward(
                    idx[:, -1:], kv_caches=caches, start_pos=length - 1 - start
                )[:, -1]
            else:  # first step, a window restart, or no cache: read the whole window
                caches = [KVCache() for _ in model.blocks] if use_cache else None
                logits = model._forward(idx[:, start:], kv_caches=caches)[:, -1]
            cache_start = start
            next_id = sample_next(logits, temperature, top_k, top_p, generator)
            idx = torch.cat([idx, next_id], dim=1)
    finally:
        model.train(was_training)
    return idx
