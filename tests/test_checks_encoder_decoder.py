"""The chapter 10 checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import torch
from checker_helpers import assert_hint, assert_passes, run  # tests/checker_helpers.py

from tinytx import Seq2Seq
from tinytx.nn.attention import padding_mask as reference_padding_mask
from tinytx.teach import checks


def test_not_attempted_is_friendly(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    for checker in (
        checks.decoder_io,
        checks.padding_mask,
        checks.greedy_decode,
        checks.beam_step,
    ):
        passed, printed = run(checker, stub, capsys)
        assert not passed
        assert printed.startswith(f"… {checker.__name__}: not attempted yet")


# -------------------------------------------------------- decoder_io


def decoder_io_correct(sequences, bos_id, eos_id, pad_id):
    length = max(len(s) for s in sequences) + 1
    inputs = [[bos_id] + s + [pad_id] * (length - 1 - len(s)) for s in sequences]
    targets = [s + [eos_id] + [pad_id] * (length - 1 - len(s)) for s in sequences]
    return torch.tensor(inputs), torch.tensor(targets)


def test_decoder_io_accepts_correct_code(capsys):
    assert_passes(checks.decoder_io, decoder_io_correct, capsys)


def test_decoder_io_not_shifted(capsys):
    def same(sequences, bos_id, eos_id, pad_id):
        x, _ = decoder_io_correct(sequences, bos_id, eos_id, pad_id)
        return x, x.clone()

    assert_hint(checks.decoder_io, same, "identical", capsys)


def test_decoder_io_swapped(capsys):
    def swapped(sequences, bos_id, eos_id, pad_id):
        x, y = decoder_io_correct(sequences, bos_id, eos_id, pad_id)
        return y, x

    assert_hint(checks.decoder_io, swapped, "you swapped them", capsys)


def test_decoder_io_forgets_eos(capsys):
    def no_eos(sequences, bos_id, eos_id, pad_id):
        length = max(len(s) for s in sequences)
        inputs = [[bos_id] + s[:-1] + [pad_id] * (length - len(s)) for s in sequences]
        targets = [s + [pad_id] * (length - len(s)) for s in sequences]
        return torch.tensor(inputs), torch.tensor(targets)

    assert_hint(checks.decoder_io, no_eos, "forget the eos", capsys)


def test_decoder_io_eos_in_input(capsys):
    def eos_in_input(sequences, bos_id, eos_id, pad_id):
        length = max(len(s) for s in sequences) + 2
        inputs = [
            [bos_id] + s + [eos_id] + [pad_id] * (length - 2 - len(s))
            for s in sequences
        ]
        targets = [s + [eos_id] + [pad_id] * (length - 1 - len(s)) for s in sequences]
        return torch.tensor(inputs), torch.tensor(targets)

    assert_hint(checks.decoder_io, eos_in_input, "decoder input contains eos", capsys)


def test_decoder_io_hard_coded_ids(capsys):
    def fixed(sequences, bos_id, eos_id, pad_id):
        return decoder_io_correct(sequences, 1, 2, 0)

    assert_hint(checks.decoder_io, fixed, "fixed ids", capsys)


# -------------------------------------------------------- padding_mask


def test_padding_mask_accepts_correct_code(capsys):
    # tinytx's own function is refused (test_checks_core.py); its behaviour passes
    def calls_tinytx(ids, pad_id):
        return reference_padding_mask(ids, pad_id)

    assert_passes(checks.padding_mask, calls_tinytx, capsys)


def test_padding_mask_inverted(capsys):
    assert_hint(
        checks.padding_mask,
        lambda ids, pad: (ids == pad)[:, None, None, :],
        "inverted",
        capsys,
    )


def test_padding_mask_masks_queries(capsys):
    assert_hint(
        checks.padding_mask,
        lambda ids, pad: (ids != pad)[:, None, :, None],
        "masks queries",
        capsys,
    )


def test_padding_mask_flat_shape(capsys):
    assert_hint(
        checks.padding_mask, lambda ids, pad: ids != pad, "(B, 1, 1, S)", capsys
    )


def test_padding_mask_float(capsys):
    assert_hint(
        checks.padding_mask,
        lambda ids, pad: (ids != pad).float()[:, None, None, :],
        "boolean",
        capsys,
    )


def test_padding_mask_zero_instead_of_pad_id(capsys):
    assert_hint(
        checks.padding_mask,
        lambda ids, pad: (ids != 0)[:, None, None, :],
        "pad_id argument",
        capsys,
    )


# -------------------------------------------------------- greedy_decode


def greedy_correct(model, src, max_len):
    cfg = model.config
    memory = model.encode(src)
    tgt = torch.full((src.shape[0], 1), cfg.bos_id)
    finished = torch.zeros(src.shape[0], dtype=torch.bool)
    while tgt.shape[1] < max_len and not finished.all():
        nxt = (
            model.decode(tgt, memory, src)[:, -1]
            .argmax(-1)
            .masked_fill(finished, cfg.pad_id)
        )
        tgt = torch.cat([tgt, nxt[:, None]], dim=1)
        finished |= nxt == cfg.eos_id
    return tgt


def test_greedy_accepts_correct_code(capsys):
    assert_passes(checks.greedy_decode, greedy_correct, capsys)
    assert_passes(
        checks.greedy_decode,
        lambda model, src, max_len: Seq2Seq.translate(model, src, max_len),
        capsys,
    )


def test_greedy_does_not_feed_back(capsys):
    def bos_only(model, src, max_len):
        memory = model.encode(src)
        start = torch.full((src.shape[0], 1), model.config.bos_id)
        tgt = start
        while tgt.shape[1] < max_len:
            nxt = model.decode(start, memory, src)[:, -1].argmax(-1)
            tgt = torch.cat([tgt, nxt[:, None]], dim=1)
        return tgt

    assert_hint(
        checks.greedy_decode, bos_only, "did not feed the prediction back", capsys
    )


def test_greedy_ignores_eos(capsys):
    def no_stop(model, src, max_len):
        memory = model.encode(src)
        tgt = torch.full((src.shape[0], 1), model.config.bos_id)
        while tgt.shape[1] < max_len:
            nxt = model.decode(tgt, memory, src)[:, -1].argmax(-1)
            tgt = torch.cat([tgt, nxt[:, None]], dim=1)
        return tgt

    assert_hint(checks.greedy_decode, no_stop, "after its eos", capsys)


def test_greedy_does_not_stop_when_all_finished(capsys):
    def runs_on(model, src, max_len):
        cfg = model.config
        memory = model.encode(src)
        tgt = torch.full((src.shape[0], 1), cfg.bos_id)
        finished = torch.zeros(src.shape[0], dtype=torch.bool)
        while tgt.shape[1] < max_len:
            nxt = (
                model.decode(tgt, memory, src)[:, -1]
                .argmax(-1)
                .masked_fill(finished, cfg.pad_id)
            )
            tgt = torch.cat([tgt, nxt[:, None]], dim=1)
            finished |= nxt == cfg.eos_id
        return tgt

    assert_hint(
        checks.greedy_decode,
        runs_on,
        "Stop the loop once all rows are finished",
        capsys,
    )


def test_greedy_drops_bos(capsys):
    assert_hint(
        checks.greedy_decode,
        lambda m, s, n: greedy_correct(m, s, n)[:, 1:],
        "bos",
        capsys,
    )


# -------------------------------------------------------- beam_step


def beam_step_correct(scores, log_probs, beam_size):
    candidates = (scores[:, None] + log_probs).flatten()
    new_scores, index = candidates.topk(beam_size)
    V = log_probs.shape[1]
    return new_scores, index // V, index % V


def test_beam_step_accepts_correct_code(capsys):
    assert_passes(checks.beam_step, beam_step_correct, capsys)


def test_beam_step_accepts_a_sort_instead_of_topk(capsys):
    def by_sorting(scores, log_probs, beam_size):
        candidates = (scores[:, None] + log_probs).reshape(-1)
        order = candidates.argsort(descending=True)[:beam_size]
        V = log_probs.shape[1]
        return candidates[order], order // V, order % V

    assert_passes(checks.beam_step, by_sorting, capsys)


def test_beam_step_forgets_the_scores_so_far(capsys):
    def forgets(scores, log_probs, beam_size):
        return beam_step_correct(torch.zeros_like(scores), log_probs, beam_size)

    assert_hint(checks.beam_step, forgets, "scores[:, None] + log_probs", capsys)


def test_beam_step_keeps_the_best_token_of_each_hypothesis(capsys):
    def per_row(scores, log_probs, beam_size):
        best, token = (scores[:, None] + log_probs).max(dim=1)
        order = best.argsort(descending=True)[:beam_size]
        return best[order], order, token[order]

    assert_hint(checks.beam_step, per_row, "one hypothesis may deserve two", capsys)


def test_beam_step_divides_by_the_wrong_size(capsys):
    def wrong_index(scores, log_probs, beam_size):
        new_scores, index = (scores[:, None] + log_probs).flatten().topk(beam_size)
        k = scores.shape[0]
        return new_scores, index % k, index // k

    assert_hint(checks.beam_step, wrong_index, "hypothesis i // V", capsys)


def test_beam_step_worst_first(capsys):
    def ascending(scores, log_probs, beam_size):
        return tuple(t.flip(0) for t in beam_step_correct(scores, log_probs, beam_size))

    assert_hint(checks.beam_step, ascending, "best first", capsys)


def test_beam_step_returns_only_the_scores(capsys):
    def scores_only(scores, log_probs, beam_size):
        return beam_step_correct(scores, log_probs, beam_size)[0]

    assert_hint(checks.beam_step, scores_only, "return three tensors", capsys)
