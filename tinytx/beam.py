"""Beam search for the encoder-decoder (chapter 10).

Greedy decoding keeps one partial target and extends it with its most likely next
token. Beam search keeps the `beam_size` best partial targets of every source, scored
by their total log-probability log P(y_1..y_t | x), and at each step extends each of
them by every token and keeps the `beam_size` best of those candidates. A finished
hypothesis (one that wrote eos_id) stays in the beam with its score frozen, and
competes with the unfinished ones until the search ends.

Longer targets collect more negative log-probabilities, so a plain sum favours short
outputs. With `length_penalty` = alpha > 0, hypotheses are compared by

    score(y) = log P(y | x) / lp(y),    lp(y) = ((5 + |y|) / 6) ** alpha

the length penalty of Google's NMT system (Wu et al., 2016), which "Attention Is All
You Need" used with alpha = 0.6 and beam size 4 (section 6.1). |y| counts the
generated tokens, eos_id included. All unfinished hypotheses of a step have the same
length, so among them the ranking is by log-probability alone; the penalty decides
between finished targets of different lengths and the ones still growing.

The functions take any model with `config` (bos_id, eos_id, pad_id, block_size),
`encode(src) -> memory` and `decode(tgt, memory, src) -> logits`, such as
`tinytx.Seq2Seq`.
"""

from __future__ import annotations

import torch


def gnmt_length_penalty(lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT's lp(y) = ((5 + |y|) / 6) ** alpha, elementwise over `lengths`
    (any shape); 1 everywhere when alpha is 0."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


def check_decoding_args(
    beam_size: object, length_penalty: object, max_len: object, block_size: int
) -> int:
    """Validate translate's arguments; returns the length limit (max_len or
    block_size)."""
    limit = block_size if max_len is None else max_len
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 1 <= limit <= block_size
    ):
        raise ValueError(
            f"max_len must be an int in [1, block_size={block_size}], got {max_len!r}"
        )
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(
            "beam_size must be a positive int (1 is greedy decoding), got "
            f"{beam_size!r}"
        )
    check_length_penalty(length_penalty)
    return limit


def check_length_penalty(length_penalty: object) -> None:
    """A ValueError unless length_penalty (GNMT's alpha) is a number >= 0."""
    if (
        isinstance(length_penalty, bool)
        or not isinstance(length_penalty, (int, float))
        or not length_penalty >= 0
    ):
        raise ValueError(
            "length_penalty must be a number >= 0 (0 compares plain log-probabilities; "
            f"the paper used 0.6), got {length_penalty!r}"
        )


@torch.no_grad()
def sequence_scores(
    model, src: torch.Tensor, tgt: torch.Tensor, length_penalty: float = 0.0
) -> torch.Tensor:
    """The score beam search ranks by, of given targets: src (B, S), tgt (B, L) as
    `translate` returns them (bos_id first, then tokens up to eos_id, then pad_id) ->
    (B,) log P(tokens | src) / lp(number of tokens).

    A row without eos_id is scored over all its tokens (a target cut by max_len)."""
    cfg = model.config
    logp = model.decode(tgt[:, :-1], model.encode(src), src).log_softmax(-1)
    token_logp = logp.gather(-1, tgt[:, 1:, None])[..., 0]  # (B, L - 1)
    is_eos = (tgt[:, 1:] == cfg.eos_id).long()
    counted = is_eos.cumsum(1) - is_eos == 0  # no eos before it (eos itself counts)
    total = token_logp.masked_fill(~counted, 0.0).sum(1)
    return total / gnmt_length_penalty(counted.sum(1), length_penalty)


@torch.no_grad()
def beam_search(
    model,
    src: torch.Tensor,
    beam_size: int,
    max_len: int | None = None,
    length_penalty: float = 0.0,
) -> torch.Tensor:
    """Source ids (B, S) -> the best target of each source's beam, (B, L) with bos_id
    first and pad_id after eos_id, in the format of greedy `translate`.

    The search runs until every hypothesis of every source has written eos_id, or the
    targets reach max_len tokens (default and most: block_size); then each source's
    best hypothesis by score is returned. beam_size=1 is greedy decoding.
    """
    cfg = model.config
    limit = check_decoding_args(beam_size, length_penalty, max_len, cfg.block_size)
    alpha = float(length_penalty)
    B, k = src.shape[0], beam_size
    memory = model.encode(src)  # (B, S, C), computed once
    # every hypothesis reads its own source: rows b*k .. b*k + k-1 belong to source b
    memory_k = memory.repeat_interleave(k, dim=0)  # (B*k, S, C)
    src_k = src.repeat_interleave(k, dim=0)  # (B*k, S)
    tgt = torch.full((B, k, 1), cfg.bos_id, dtype=torch.long, device=src.device)
    # log P of each hypothesis; all start as the same <bos>, so only the first is
    # alive at step 1 and the k first candidates are k different tokens
    logp_sum = torch.full((B, k), float("-inf"), device=src.device)
    logp_sum[:, 0] = 0.0
    lengths = torch.zeros(B, k, dtype=torch.long, device=src.device)
    finished = torch.zeros(B, k, dtype=torch.bool, device=src.device)
    while tgt.shape[2] < limit and not finished.all():
        logits = model.decode(tgt.view(B * k, -1), memory_k, src_k)[:, -1]
        step_logp = logits.log_softmax(-1).view(B, k, -1)  # (B, k, V)
        V = step_logp.shape[-1]
        # a finished hypothesis has one continuation, pad_id, at no cost
        frozen = torch.full_like(step_logp[0, 0], float("-inf"))
        frozen[cfg.pad_id] = 0.0
        step_logp = torch.where(finished[..., None], frozen, step_logp)
        candidates = (logp_sum[..., None] + step_logp).view(B, k * V)
        cand_lengths = (lengths + (~finished).long())[..., None].expand(B, k, V)
        ranked = candidates / gnmt_length_penalty(cand_lengths, alpha).reshape(B, -1)
        best = ranked.topk(k, dim=1).indices  # (B, k) of the k * V candidates
        beam, token = best // V, best % V  # which hypothesis, which next token
        logp_sum = candidates.gather(1, best)
        lengths = cand_lengths.reshape(B, k * V).gather(1, best)
        was_finished = finished.gather(1, beam)
        finished = was_finished | (token == cfg.eos_id)
        kept = tgt.gather(1, beam[..., None].expand_as(tgt))  # (B, k, t)
        tgt = torch.cat([kept, token[..., None]], dim=2)
    final = logp_sum / gnmt_length_penalty(lengths, alpha)
    winner = final.argmax(dim=1)  # (B,)
    out = tgt[torch.arange(B, device=src.device), winner]  # (B, L)
    longest = int(lengths[torch.arange(B, device=src.device), winner].max())
    return out[:, : longest + 1]
