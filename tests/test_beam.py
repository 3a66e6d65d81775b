"""Beam search (tinytx.beam, Seq2Seq.translate(beam_size=...)): greedy when the beam
is 1, exact when it holds every hypothesis, better than greedy where greedy is
short-sighted, and batched."""

import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from tinytx import Seq2Seq, Seq2SeqConfig
from tinytx.beam import beam_search, gnmt_length_penalty, sequence_scores

PAD, BOS, EOS = 0, 1, 2
SMALL = dict(
    src_vocab_size=15, tgt_vocab_size=8, block_size=8, n_layer=2, n_head=2, n_embd=16
)


def make(seed=0, **overrides):
    torch.manual_seed(seed)
    return Seq2Seq(Seq2SeqConfig(**{**SMALL, **overrides})).eval()


def sources(seed=0, n=32, length=5):
    """n random sources of 1..length real tokens, right-padded with pad_id."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 15, (n, length), generator=g)
    lengths = torch.randint(1, length + 1, (n,), generator=g)
    return src.masked_fill(torch.arange(length) >= lengths[:, None], PAD)


class ScriptedModel:
    """A hand-built decoder: the next-token distribution is a table of the target
    prefix, whatever the source. Tokens: 0 pad, 1 bos, 2 eos, 3 A, 4 B, 5 C."""

    config = SimpleNamespace(pad_id=PAD, bos_id=BOS, eos_id=EOS, block_size=6)
    # Greedy takes A (0.5), then A (0.36), then eos: P = 0.18. Going through the
    # less likely B (0.4) leads to eos at 0.9: P = 0.36, twice as likely.
    TABLE = {
        (BOS,): {3: 0.5, 4: 0.4, 5: 0.1},
        (BOS, 3): {3: 0.36, 4: 0.34, EOS: 0.3},
        (BOS, 4): {EOS: 0.9, 3: 0.1},
    }
    OTHERWISE = {EOS: 1.0}

    def encode(self, src):
        return torch.zeros(src.shape[0], src.shape[1], 1)

    def decode(self, tgt, memory, src):
        logits = torch.full((*tgt.shape, 6), -1e9)  # (B, T, V): ~zero probability
        for b, t in itertools.product(range(tgt.shape[0]), range(tgt.shape[1])):
            probs = self.TABLE.get(tuple(tgt[b, : t + 1].tolist()), self.OTHERWISE)
            for token, p in probs.items():
                logits[b, t, token] = math.log(p)
        return logits


def greedy(model, src, max_len=None):
    return beam_search(model, src, beam_size=1, max_len=max_len)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("max_len", [None, 3])
def test_beam_of_one_is_greedy_decoding(seed, max_len):
    """The beam machinery with one hypothesis per source reproduces translate's
    greedy loop exactly, including rows padded after eos and rows cut by max_len."""
    model = make(seed)
    src = sources(seed)
    expected = model.translate(src, max_len=max_len)
    assert torch.equal(greedy(model, src, max_len), expected)
    assert torch.equal(model.translate(src, max_len=max_len, beam_size=1), expected)


def test_translate_runs_beam_search_for_larger_beams():
    model = make(1)
    src = sources(1)
    for beam_size, alpha in [(2, 0.0), (4, 0.6)]:
        assert torch.equal(
            model.translate(src, beam_size=beam_size, length_penalty=alpha),
            beam_search(model, src, beam_size, length_penalty=alpha),
        )


@pytest.mark.parametrize("alpha", [0.0, 0.6])
@pytest.mark.parametrize("seed", range(4))
def test_beam_is_never_worse_than_greedy(seed, alpha):
    """On untrained models, whose outputs run to max_len or stop anywhere, the best
    hypothesis of beams of 2, 4 and 8 scores at least greedy's."""
    model = make(seed)
    src = sources(seed, n=64)
    greedy_scores = model.score(src, model.translate(src), alpha)
    for beam_size in (2, 4, 8):
        out = model.translate(src, beam_size=beam_size, length_penalty=alpha)
        beam_scores = model.score(src, out, alpha)
        assert (beam_scores >= greedy_scores - 1e-5).all(), beam_size
    # and the test can see a difference: the beam found better targets somewhere
    assert (beam_scores > greedy_scores + 1e-3).any()


def test_beam_search_beats_greedy_where_greedy_is_short_sighted():
    model = ScriptedModel()
    src = torch.tensor([[5, 6]])
    assert greedy(model, src).tolist() == [[BOS, 3, 3, EOS]]  # A A eos, P = 0.18
    best = beam_search(model, src, beam_size=2)
    assert best.tolist() == [[BOS, 4, EOS]]  # B eos, P = 0.36
    greedy_score = sequence_scores(model, src, greedy(model, src)).item()
    assert math.isclose(greedy_score, math.log(0.5 * 0.36 * 1.0), rel_tol=1e-6)
    assert math.isclose(
        sequence_scores(model, src, best).item(), math.log(0.4 * 0.9), rel_tol=1e-6
    )


class CloseCall(ScriptedModel):
    """Greedy and the plain beam take B eos (P = 0.55 * 0.6 = 0.33); A A eos is a
    little less likely (0.45 * 0.7 = 0.315) and one token longer."""

    TABLE = {
        (BOS,): {3: 0.45, 4: 0.55},
        (BOS, 3): {3: 0.7, EOS: 0.3},
        (BOS, 4): {EOS: 0.6, 3: 0.4},
    }


def test_length_penalty_lets_a_longer_target_win_a_close_call():
    model, src = CloseCall(), torch.tensor([[5]])
    assert beam_search(model, src, 3).tolist() == [[BOS, 4, EOS]]
    # with alpha = 1 the longer target's loss is divided by 8/6, the shorter's by 7/6
    short = math.log(0.33) / gnmt_length_penalty(torch.tensor(2), 1.0)
    long = math.log(0.315) / gnmt_length_penalty(torch.tensor(3), 1.0)
    assert long > short  # the arithmetic the test relies on
    assert beam_search(model, src, 3, length_penalty=1.0).tolist() == [[BOS, 3, 3, EOS]]


def all_targets(vocab_size, limit):
    """Every target translate can return, bos first, at most `limit` tokens: ended
    by eos, or cut at the limit. Any token may be generated, pad and bos too."""
    for n in range(1, limit):
        for tokens in itertools.product(range(vocab_size), repeat=n):
            if EOS in tokens[:-1] or (n < limit - 1 and tokens[-1] != EOS):
                continue
            yield [BOS, *tokens]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_holding_every_hypothesis_finds_the_best_target(alpha):
    """With V = 5 and 4 tokens (bos and 3 generated), at most 5 * 5 = 25 partial
    targets exist before the last step; a beam of 40 drops none of them, so the search
    is exhaustive: it must return the best-scoring target of all. A beam of 2 misses
    it on some of these sources, so the comparison can tell."""
    model = make(2, tgt_vocab_size=5, block_size=4)
    src = sources(2, n=6, length=4)
    candidates = list(all_targets(5, 4))
    width = max(map(len, candidates))
    padded = torch.tensor([c + [PAD] * (width - len(c)) for c in candidates])
    best = torch.stack(
        [
            model.score(src[row : row + 1].expand(len(padded), -1), padded, alpha).max()
            for row in range(src.shape[0])
        ]
    )
    wide = model.translate(src, beam_size=40, length_penalty=alpha)
    torch.testing.assert_close(model.score(src, wide, alpha), best)
    narrow = model.translate(src, beam_size=2, length_penalty=alpha)
    assert (model.score(src, narrow, alpha) < best - 1e-3).any()


def test_each_source_is_searched_as_if_alone():
    """Batching and source padding change nothing: each row equals its search alone."""
    model = make(4)
    src = sources(4, n=8)
    batch = model.translate(src, beam_size=3, length_penalty=0.6)
    for row in range(src.shape[0]):
        real = src[row : row + 1, : int((src[row] != PAD).sum())]
        alone = model.translate(real, beam_size=3, length_penalty=0.6)
        width = alone.shape[1]
        assert torch.equal(batch[row, :width], alone[0])
        assert (batch[row, width:] == PAD).all()


def test_outputs_end_with_eos_then_padding():
    model = make(5)
    out = model.translate(sources(5), beam_size=4)
    assert (out[:, 0] == BOS).all()
    for row in out.tolist():
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1 :])
    assert out.shape[1] <= model.config.block_size


def test_score_is_the_sum_of_the_tokens_log_probabilities():
    model = make(6)
    src = torch.tensor([[3, 4, 0]])
    tgt = torch.tensor([[BOS, 5, 6, EOS, PAD, PAD]])
    logp = model(src, tgt[:, :-1])[0].log_softmax(-1)[0]
    expected = sum(logp[t, tgt[0, t + 1]] for t in range(3))  # 5, 6 and eos
    torch.testing.assert_close(model.score(src, tgt)[0], expected)
    lp = ((5 + 3) / 6) ** 0.6
    torch.testing.assert_close(model.score(src, tgt, 0.6)[0], expected / lp)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beam_size=0), "beam_size must be a positive int"),
        (dict(beam_size=2.0), "beam_size must be a positive int"),
        (dict(beam_size=True), "beam_size must be a positive int"),
        (dict(beam_size=2, length_penalty=-0.5), "length_penalty must be a number"),
        (dict(beam_size=2, length_penalty="0.6"), "length_penalty must be a number"),
        (dict(beam_size=2, max_len=0), r"max_len must be an int in \[1, block_size"),
        (dict(beam_size=2, max_len=99), r"max_len must be an int in \[1, block_size"),
    ],
)
def test_bad_decoding_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make().translate(sources(), **kwargs)
