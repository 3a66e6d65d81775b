"""Checkers for chapter 10, the encoder-decoder."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import torch

from tinytx.teach.checks.core import CheckFailed, checker, close, run, show

__all__ = ["decoder_io", "padding_mask", "greedy_decode", "beam_step"]


def _rows(t: torch.Tensor) -> str:
    return str(t.tolist())


# -------------------------------------------------------- decoder input and targets


def _reference_decoder_io(sequences, bos_id, eos_id, pad_id):
    length = max(len(s) for s in sequences) + 1
    inputs = [[bos_id] + list(s) + [pad_id] * (length - 1 - len(s)) for s in sequences]
    targets = [list(s) + [eos_id] + [pad_id] * (length - 1 - len(s)) for s in sequences]
    return torch.tensor(inputs), torch.tensor(targets)


@checker("decoder_io")
def decoder_io(fn: Callable) -> str:
    """Check `fn(sequences, bos_id, eos_id, pad_id) -> (decoder_input,
    targets)`, both (B, max_len + 1)."""
    cases = [
        ([[7, 3, 5], [4], [9, 9]], 1, 2, 0),
        ([[10, 11], [12, 13, 14, 15]], 5, 6, 4),
    ]
    for sequences, bos_id, eos_id, pad_id in cases:
        out = run(fn, [list(s) for s in sequences], bos_id, eos_id, pad_id)
        if not (
            isinstance(out, tuple)
            and len(out) == 2
            and all(torch.is_tensor(t) for t in out)
        ):
            raise CheckFailed("return a pair of tensors (decoder_input, targets)")
        got_in, got_out = (t.detach().long() for t in out)
        want_in, want_out = _reference_decoder_io(sequences, bos_id, eos_id, pad_id)
        where = (
            f"for sequences {sequences} with bos={bos_id}, eos={eos_id}, pad={pad_id}"
        )
        if got_in.shape != got_out.shape:
            raise CheckFailed(
                f"{where}, decoder_input has shape {tuple(got_in.shape)} but "
                f"targets {tuple(got_out.shape)}: they must line up, one target "
                "per input position"
            )
        if torch.equal(got_in, want_in) and torch.equal(got_out, want_out):
            continue
        if torch.equal(got_in, got_out):
            raise CheckFailed(
                "decoder_input and targets are identical, so the model would learn to "
                "copy its input. Shift by one: the input starts with bos, the targets "
                "are the same tokens one step ahead"
            )
        if (
            got_in.shape == want_in.shape
            and torch.equal(got_in, want_out)
            and torch.equal(got_out, want_in)
        ):
            raise CheckFailed(
                "you swapped them: the decoder input starts with bos, the "
                "targets end with eos"
            )
        if (got_in == eos_id).any() and not (want_in == eos_id).any():
            raise CheckFailed(
                f"{where}, your decoder input contains eos. The input is bos + tokens "
                "(padded); eos only appears in the targets"
            )
        if got_in.shape[1] == want_in.shape[1] - 1:
            raise CheckFailed(
                f"{where}, your tensors have {got_in.shape[1]} columns, expected "
                f"{want_in.shape[1]} (the longest sequence plus one for bos/eos). "
                "Did you forget the eos target?"
            )
        if bos_id != 1 and (
            (got_in == 1).any()
            or (got_out == 2).any()
            or (got_in[:, 0] != bos_id).any()
        ):
            raise CheckFailed(
                f"{where} you used fixed ids: take bos_id, eos_id and pad_id "
                "from the arguments"
            )
        if got_out.shape == want_out.shape and not (got_out == eos_id).any():
            raise CheckFailed(
                f"{where}, no target is eos: every sequence must end with an eos "
                "target, or the model never learns to stop"
            )
        if (
            got_in.shape == want_in.shape
            and torch.equal(got_in == pad_id, want_in == pad_id) is False
            and (torch.equal(got_out, want_out))
        ):
            raise CheckFailed(
                f"{where}, the targets are right but the decoder input is not: "
                f"expected {_rows(want_in)}, got {_rows(got_in)}"
            )
        raise CheckFailed(
            f"{where} expected decoder_input {_rows(want_in)} and targets "
            f"{_rows(want_out)}, got {_rows(got_in)} and {_rows(got_out)}"
        )
    return "bos-shifted inputs and eos-terminated targets, padded, on 2 batches."


# -------------------------------------------------------- padding mask


@checker("padding_mask")
def padding_mask(fn: Callable) -> str:
    """Check `fn(ids, pad_id) -> (B, 1, 1, S)` boolean, True
    where the key is a real token."""
    for ids, pad_id in [
        (torch.tensor([[5, 6, 7, 0, 0], [8, 0, 0, 0, 0], [3, 4, 5, 6, 7]]), 0),
        (torch.tensor([[9, 9, 3], [1, 3, 3]]), 3),
    ]:
        out = run(fn, ids.clone(), pad_id)
        if not torch.is_tensor(out):
            raise CheckFailed(f"return a torch.Tensor, got {type(out).__name__}")
        B, S = ids.shape
        real = ids != pad_id
        if out.dtype != torch.bool:
            raise CheckFailed(
                f"your mask has dtype {out.dtype}; attention masks are boolean "
                "(True = may attend). A comparison such as ids != pad_id is already "
                "boolean; do not convert it to numbers"
            )
        if out.shape == (B, S) or out.shape == (B, 1, S):
            raise CheckFailed(
                f"your mask has shape {tuple(out.shape)}, which does not broadcast "
                "against scores (B, H, T, S) the right way. Add the head and query "
                f"axes: shape (B, 1, 1, S) = ({B}, 1, 1, {S})"
            )
        if out.shape == (B, 1, S, 1):
            raise CheckFailed(
                "your mask has shape (B, 1, S, 1): it masks queries (rows), "
                "not keys (columns). Padding must be hidden as a key, so the S axis "
                "goes last: (B, 1, 1, S)"
            )
        if out.shape != (B, 1, 1, S):
            raise CheckFailed(
                f"expected shape (B, 1, 1, S) = ({B}, 1, 1, {S}), got "
                f"{tuple(out.shape)}"
            )
        if torch.equal(out[:, 0, 0], ~real):
            raise CheckFailed(
                "your mask is inverted: True must mark real tokens (may attend), "
                "False the padding"
            )
        if not torch.equal(out[:, 0, 0], real):
            if pad_id != 0 and torch.equal(out[:, 0, 0], ids != 0):
                raise CheckFailed(
                    "you compared with 0: use the pad_id argument, which "
                    "is not always 0"
                )
            raise CheckFailed(
                f"for ids {_rows(ids)} (pad_id={pad_id}) expected {_rows(real)}, "
                f"got {_rows(out[:, 0, 0])}"
            )
    return (
        "a boolean (B, 1, 1, S) mask, True on real tokens, that broadcasts "
        "over heads and queries."
    )


# -------------------------------------------------------- greedy decoding


class _ScriptedModel:
    """A stand-in for Seq2Seq whose answer is known: row b of the source has k_b real
    tokens, and the model writes 3, 4, 5, ... (each token one more than the one fed to
    it) for k_b tokens, then eos. Logits at position t depend only on the token at t and
    on t, like a causal decoder."""

    vocab = 16

    def __init__(self, block_size: int = 16) -> None:
        self.config = SimpleNamespace(
            pad_id=0, bos_id=1, eos_id=2, block_size=block_size
        )
        self.training = False
        self.calls = 0

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        return (src != self.config.pad_id).float()[:, :, None]  # (B, S, 1)

    def decode(
        self, tgt: torch.Tensor, memory: torch.Tensor, src: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.calls += 1
        if tgt.dim() != 2:
            raise ValueError(
                f"decode expects target ids of shape (B, T), got {tuple(tgt.shape)}"
            )
        B, T = tgt.shape
        lengths = memory[:, :, 0].sum(dim=1).long()  # (B,)
        positions = torch.arange(T)[None, :]
        nxt = torch.where(
            tgt == self.config.bos_id,
            torch.full_like(tgt, 3),
            (tgt + 1).clamp(max=self.vocab - 1),
        )
        nxt = torch.where(
            positions >= lengths[:, None], torch.full_like(tgt, self.config.eos_id), nxt
        )
        return 5.0 * torch.nn.functional.one_hot(nxt, self.vocab).float()  # (B, T, V)

    __call__ = decode


def _reference_greedy(lengths: list[int], max_len: int) -> torch.Tensor:
    rows = []
    for k in lengths:
        row = [1] + list(range(3, 3 + k)) + [2]
        rows.append(row[:max_len])
    width = max(len(r) for r in rows)
    return torch.tensor([r + [0] * (width - len(r)) for r in rows])


@checker("greedy_decode")
def greedy_decode(fn: Callable) -> str:
    """Check `fn(model, src, max_len) -> (B, L)` ids starting with bos,
    against a scripted model."""
    for lengths, max_len in [([3, 1, 5], 10), ([2, 2], 10), ([9, 1], 5)]:
        src = torch.tensor([[4] * k + [0] * (max(lengths) - k) for k in lengths])
        model = _ScriptedModel()
        out = run(fn, model, src.clone(), max_len)
        if not torch.is_tensor(out):
            raise CheckFailed(
                f"return a torch.Tensor of token ids, got {type(out).__name__}"
            )
        out = out.detach().long()
        want = _reference_greedy(lengths, max_len)
        case = f"a batch whose rows need {lengths} tokens before eos, max_len={max_len}"
        if torch.equal(out, want):
            continue
        if out.dim() != 2 or out.shape[0] != len(lengths):
            raise CheckFailed(
                f"on {case} expected shape {tuple(want.shape)}, got {tuple(out.shape)}"
            )
        if (out[:, 0] != 1).any():
            raise CheckFailed(
                "every row must start with the bos id it was seeded with; "
                "keep it in the output"
            )
        if out.shape[1] > max_len:
            raise CheckFailed(
                f"on {case} your output has {out.shape[1]} tokens; stop at "
                f"max_len={max_len} tokens (bos included)"
            )
        if out.shape[1] > 1 and (out[:, 1:] == out[:, 1:2]).all() and want.shape[1] > 2:
            raise CheckFailed(
                f"on {case} every step produced the same token {out[0, 1].item()}: "
                "you did not feed the prediction back. Append each new token to the "
                "target so far, decode the whole sequence, and read the logits at the "
                "last position [:, -1]"
            )
        if out.shape[1] > want.shape[1] and torch.equal(out[:, : want.shape[1]], want):
            if (out[:, want.shape[1] :] == 0).all():
                raise CheckFailed(
                    f"on {case} you kept decoding after every row had produced "
                    f"eos ({out.shape[1]} tokens instead of {want.shape[1]}). "
                    "Stop the loop once all rows are finished"
                )
        finished_late = False
        for row, w in zip(out.tolist(), want.tolist()):
            if 2 in w and 2 in row:
                end = w.index(2)
                if row[: end + 1] == w[: end + 1] and any(
                    t != 0 for t in row[end + 1 :]
                ):
                    finished_late = True
        if finished_late:
            raise CheckFailed(
                f"on {case} a row kept producing tokens after its eos, e.g. "
                f"{out.tolist()[1]}. Once a row has produced eos, append pad_id to it "
                "(track a `finished` flag per row)"
            )
        if 2 not in out[0].tolist() and out.shape[1] >= max_len:
            raise CheckFailed(
                f"on {case} the rows never ended: stop a row when it produces eos_id"
            )
        raise CheckFailed(f"on {case} expected {_rows(want)}, got {_rows(out)}")
    return (
        "seeds with bos, feeds each prediction back, pads finished rows and "
        "stops at eos or max_len."
    )


# -------------------------------------------------------- one step of beam search


def _reference_beam_step(
    scores: torch.Tensor, log_probs: torch.Tensor, beam_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    V = log_probs.shape[1]
    best, index = (scores[:, None] + log_probs).flatten().topk(beam_size)
    return best, index // V, index % V


def _beam_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, int]]:
    """(description, scores (k,), log_probs (k, V), beam_size). In the second case
    the running scores change the ranking, the best hypothesis gives two of the
    survivors, and a hypothesis gives none."""
    g = torch.Generator().manual_seed(0)
    first = torch.randn(1, 7, generator=g).log_softmax(-1)
    second = torch.tensor(
        [
            [-0.2, -1.9, -2.5, -3.0, -4.0],  # best so far: two good continuations
            [-0.1, -3.0, -3.5, -4.0, -4.5],  # one very likely continuation
            [-1.6, -1.7, -1.8, -1.9, -2.0],  # flat, and far behind
        ]
    )
    return [
        (
            "the first step (one hypothesis, 7 tokens, beam_size=3)",
            torch.zeros(1),
            first,
            3,
        ),
        (
            "3 hypotheses with scores [-1.0, -1.5, -3.0] and 5 tokens, beam_size=3",
            torch.tensor([-1.0, -1.5, -3.0]),
            second,
            3,
        ),
        ("the same with beam_size=2", torch.tensor([-1.0, -1.5, -3.0]), second, 2),
    ]


@checker("beam_step")
def beam_step(fn: Callable) -> str:
    """Check `fn(scores, log_probs, beam_size) -> (new_scores, beam, token)`:
    scores (k,), log_probs (k, V) -> the beam_size best of the k * V candidates, best
    first, with the hypothesis each extends and its token."""
    for case, scores, log_probs, beam_size in _beam_cases():
        out = run(fn, scores.clone(), log_probs.clone(), beam_size)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise CheckFailed(
                "return three tensors: (new_scores, beam, token), each of shape "
                "(beam_size,)"
            )
        if not all(torch.is_tensor(t) for t in out):
            raise CheckFailed("return (new_scores, beam, token) as three tensors")
        new_scores, beam, token = (t.detach() for t in out)
        want_scores, want_beam, want_token = _reference_beam_step(
            scores, log_probs, beam_size
        )
        one_each = (
            f"on {case} you kept the best token of each hypothesis; one hypothesis "
            "may deserve two places and another none: flatten the (k, V) candidates "
            "and take the beam_size best of all of them"
        )
        if new_scores.shape != (beam_size,):
            if new_scores.shape == scores.shape:
                raise CheckFailed(one_each)
            raise CheckFailed(
                f"on {case} new_scores should have shape ({beam_size},), got "
                f"{tuple(new_scores.shape)}: rank all k * V candidates together "
                "(flatten them) and keep beam_size of them"
            )
        got = sorted(zip(beam.tolist(), token.tolist()))
        want = sorted(zip(want_beam.tolist(), want_token.tolist()))
        if got == want and close(new_scores, want_scores.flip(0)):
            raise CheckFailed(
                "the right candidates, worst first: return them best first "
                "(topk sorts from the largest)"
            )
        if got == want and close(new_scores, want_scores):
            continue
        if close(new_scores, want_scores):
            raise CheckFailed(
                f"on {case} the scores are right but not the (beam, token) pairs: "
                f"index i of the flattened (k, V) candidates is hypothesis i // V and "
                f"token i % V, with V = log_probs.shape[1] = {log_probs.shape[1]}"
            )
        alone = log_probs.flatten().topk(beam_size).values
        if close(new_scores, alone) or close(new_scores, alone + scores[0]):
            raise CheckFailed(
                f"on {case} you ranked the next tokens by their own log-probability; "
                "a candidate's score is its hypothesis's score so far plus the token's "
                "log-probability: scores[:, None] + log_probs"
            )
        per_row = (scores[:, None] + log_probs).amax(dim=1).sort(descending=True)
        if new_scores.shape == per_row.values.shape and close(
            new_scores.sort(descending=True).values, per_row.values
        ):
            raise CheckFailed(one_each)
        raise CheckFailed(
            f"on {case} expected new_scores {show(want_scores)}, beam "
            f"{want_beam.tolist()}, token {want_token.tolist()}; got "
            f"{show(new_scores)}, {beam.tolist()}, {token.tolist()}"
        )
    return (
        "ranks all k × V candidates by score so far + log-probability and keeps the "
        "best, with the hypothesis and token of each."
    )
