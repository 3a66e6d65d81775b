"""Checkers for chapter 01, tokenization."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from typing import Any

from tinytx.teach.checks.core import CheckFailed, checker
from tinytx.tokenizers import BPETokenizer, merge_pair, split_chunks

__all__ = ["bpe_encode", "bpe_decode", "encode_with_specials"]

# Text to train small BPE tokenizers on inside the checkers (Hamlet III.1, public
# domain), so that the checks need no corpus on disk.
_PASSAGE = """To be, or not to be, that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles
And by opposing end them. To die: to sleep;
No more; and by a sleep to say we end
The heart-ache and the thousand natural shocks
That flesh is heir to, 'tis a consummation
Devoutly to be wish'd. To die, to sleep;
To sleep: perchance to dream: ay, there's the rub;
For in that sleep of death what dreams may come
When we have shuffled off this mortal coil,
Must give us pause.
"""


@functools.cache
def _small_bpe() -> BPETokenizer:
    """A 320-token BPE (64 merges) shared by the checkers, trained on `_PASSAGE` with
    '<|endoftext|>' written as plain text after every line, so that it has learned
    merges such as '<|' and encodes that string differently from its pieces."""
    return BPETokenizer.train(_PASSAGE.replace("\n", "<|endoftext|>\n"), 320)


def _call(fn: Callable, *args: Any) -> Any:
    """Call the reader's `fn` on deep copies of `args` (so in-place edits cannot
    leak into the next case); turn its errors into hints. NotImplementedError
    and UnicodeDecodeError pass through: the first means "not attempted yet", the
    second has its own hints."""
    try:
        return fn(*copy.deepcopy(args))
    except (NotImplementedError, UnicodeDecodeError):
        raise
    except Exception as error:
        # the reader's code may raise anything; show it as a hint, not a traceback
        raise CheckFailed(
            f"your function raised {type(error).__name__}: {error}"
        ) from None


def _expect_ids(out: Any, what: str) -> list[int]:
    """`out` as a list of ints, or a hint saying what to return instead."""
    if not isinstance(out, list):
        raise CheckFailed(
            f"{what} must return a list of ints, got {type(out).__name__}"
        )
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in out):
        kinds = sorted({type(i).__name__ for i in out})
        raise CheckFailed(
            f"{what} must return a list of ints, got a list holding {', '.join(kinds)}"
        )
    return out


# -------------------------------------------------------- bpe_encode


def _encode_by_rank(ids: list[int], merges: list) -> list[int]:
    """The right answer: repeatedly merge the adjacent pair learned earliest."""
    rank = {pair: new_id for pair, new_id in merges}
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: rank.get(p, float("inf")))
        if pair not in rank:
            return ids
        ids = merge_pair(ids, pair, rank[pair])
    return ids


def _encode_most_frequent(ids: list[int], merges: list) -> list[int]:
    """The usual mistake: merge the most frequent known pair of
    the chunk, as in training."""
    rank = {pair: new_id for pair, new_id in merges}
    while True:
        known = [p for p in zip(ids, ids[1:]) if p in rank]
        if not known:
            return ids
        pair = max(known, key=lambda p: (known.count(p), -rank[p]))
        ids = merge_pair(ids, pair, rank[pair])


def _ids_of(text: str) -> list[int]:
    return list(text.encode("utf-8"))


@checker("bpe_encode")
def bpe_encode(fn: Callable) -> str:
    """Check `fn(ids, merges) -> ids`: encode one chunk by applying
    merges lowest rank first."""
    a, b, c, h, e, l, o = (ord(ch) for ch in "abchelo")  # noqa: E741  (the byte values of the letters)

    hello_merges = [((h, e), 256), ((l, l), 257), ((256, 257), 258), ((258, o), 259)]
    out = _expect_ids(_call(fn, _ids_of("hello"), hello_merges), "bpe_encode")
    if out != [259]:
        raise CheckFailed(
            "'hello' with merges he -> 256, ll -> 257, (256, 257) -> 258, "
            f"(258, o) -> 259 should become [259], got {out}. Keep merging until no "
            "adjacent pair has a merge: later merges join tokens made by earlier ones"
        )

    rank_vs_count = [((c, a), 256), ((a, b), 257)]
    ids = _ids_of("bcabab")
    out = _expect_ids(_call(fn, ids, rank_vs_count), "bpe_encode")
    if out != _encode_by_rank(ids, rank_vs_count):
        if out == _encode_most_frequent(ids, rank_vs_count):
            raise CheckFailed(
                "on 'bcabab' with merges ca -> 256 (rank 0), ab -> 257 (rank 1) "
                f"you got {out}: you merged ab, the most frequent pair here, "
                "before ca (rank 0). Frequency decides what training learns; "
                "encoding replays what was learned, in the same order: always merge "
                "the present pair with the lowest rank"
            )
        raise CheckFailed(
            f"on 'bcabab' with merges ca -> 256, ab -> 257 expected "
            f"{_encode_by_rank(ids, rank_vs_count)}, got {out}"
        )

    rank_vs_position = [((b, c), 256), ((a, b), 257)]
    out = _expect_ids(_call(fn, _ids_of("abc"), rank_vs_position), "bpe_encode")
    if out != [a, 256]:
        if out == [257, c]:
            raise CheckFailed(
                "on 'abc' with merges bc -> 256 (rank 0), ab -> 257 (rank 1) you "
                "got [257, 99]: you merged ab before bc, because it comes first in "
                "the text (or in sorted order). The rank decides: bc was learned "
                "first, so 'abc' -> [97, 256]. Pick min(pairs, key=rank), with "
                "rank = the merge's new id"
            )
        raise CheckFailed(
            f"on 'abc' with merges bc -> 256, ab -> 257 expected [97, 256], got {out}"
        )

    repeats = [((a, a), 256), ((256, a), 257)]
    ids = _ids_of("aaaaa")
    out = _expect_ids(_call(fn, ids, repeats), "bpe_encode")
    expected = _encode_by_rank(ids, repeats)
    if out != expected:
        raise CheckFailed(
            f"on 'aaaaa' with merges aa -> 256, (256, a) -> 257 expected {expected}, "
            f"got {out}. One merge scans left to right and, after replacing a pair, "
            "skips both of its tokens: 'aaa' with aa -> X gives [X, a], never [X, X] "
            "(overlapping) or [a, X] (right to left)"
        )

    bpe = _small_bpe()
    sentence = (
        "To sleep, perchance to dream of the sea, the arrows and the heart: "
        "there's the rub!"
    )
    chunks = split_chunks(sentence)
    for chunk in chunks:
        ids = _ids_of(chunk)
        out = _expect_ids(_call(fn, ids, bpe.merges), "bpe_encode")
        expected = bpe.encode(chunk)
        if out != expected:
            raise CheckFailed(
                f"with the {len(bpe.merges)} merges of a BPE trained on Hamlet's "
                f"soliloquy, the chunk {chunk!r} should encode to {expected}, got {out}"
            )
    out = _expect_ids(_call(fn, [], bpe.merges), "bpe_encode")
    if out != []:
        raise CheckFailed(f"an empty chunk should give [], got {out}")
    return (
        "merges applied lowest rank first; equal to tinytx.BPETokenizer on "
        f"{len(chunks)} chunks and on the tricky cases."
    )


# -------------------------------------------------------- bpe_decode


def _decode(ids: list[int], vocab: dict[int, bytes]) -> str:
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def _check_decoded(
    out: Any, ids: list[int], vocab: dict[int, bytes], case: str
) -> None:
    """Compare the reader's output with the right text; name the
    usual mistake if it is one."""
    expected = _decode(ids, vocab)
    if isinstance(out, (bytes, bytearray)):
        raise CheckFailed(
            "you returned bytes; return a str: decode the joined bytes with "
            ".decode('utf-8', errors='replace')"
        )
    if not isinstance(out, str):
        raise CheckFailed(f"return a str, got {type(out).__name__}")
    if out == expected:
        return
    if "b'" in out or 'b"' in out:
        raise CheckFailed(
            f"on {case} you got {out!r}: str(some_bytes) gives the repr \"b'...'\", "
            "not the text. Decode instead: some_bytes.decode('utf-8', errors='replace')"
        )
    if out == "".join(vocab[i].decode("utf-8", errors="replace") for i in ids):
        raise CheckFailed(
            f"on {case} you got {out!r}, expected {expected!r}: you decoded each token "
            "on its own, but a character of several UTF-8 bytes can be split across "
            "tokens (é is 0xC3 0xA9). Join all the bytes first, then decode once: "
            "b''.join(vocab[i] for i in ids).decode('utf-8', errors='replace')"
        )
    raw = b"".join(vocab[i] for i in ids)
    if out == raw.decode("latin-1"):
        raise CheckFailed(
            f"on {case} you got {out!r}, expected {expected!r}: the bytes are UTF-8, "
            "decode them with 'utf-8'"
        )
    if out == raw.decode("utf-8", errors="ignore"):
        raise CheckFailed(
            f"on {case} you got {out!r}, expected {expected!r}: errors='ignore' "
            "silently drops the broken bytes. Use errors='replace', so that the reader "
            "sees � where the text is broken"
        )
    raise CheckFailed(f"on {case} expected {expected!r}, got {out!r}")


@checker("bpe_decode")
def bpe_decode(fn: Callable) -> str:
    """Check `fn(ids, vocab) -> str`: join the tokens' bytes, then decode as
    UTF-8 with errors='replace'."""
    vocab = {i: bytes([i]) for i in range(256)}
    vocab.update(
        {256: b"To", 257: b" be", 258: b"caf", 259: b" \xf0\x9f", 260: b"\x99\x82"}
    )

    ascii_ids = [256, 257, ord(","), ord(" "), ord("o"), ord("r")]
    _check_decoded(
        _call(fn, ascii_ids, vocab),
        ascii_ids,
        vocab,
        "the tokens 'To', ' be', ',', ' ', 'o', 'r'",
    )

    split_e = [258, 0xC3, 0xA9]  # 'caf' + the two bytes of 'é' as separate tokens
    try:
        out = _call(fn, split_e, vocab)
    except UnicodeDecodeError:
        raise CheckFailed(
            "on 'caf' followed by the two bytes of é as two tokens, "
            "your function raised UnicodeDecodeError: you decoded each "
            "token on its own, and a lone half of a character is not "
            "valid UTF-8. Join all the bytes first, then decode once: "
            "b''.join(vocab[i] for i in ids).decode('utf-8', errors='replace')"
        ) from None
    _check_decoded(
        out, split_e, vocab, "'caf' followed by the two bytes of é as two tokens"
    )

    emoji = [256, 259, 260]  # 'To' + ' 🙂' split after its second byte
    _check_decoded(
        _call(fn, emoji, vocab),
        emoji,
        vocab,
        "'To' followed by ' 🙂' split across two tokens",
    )

    cut = [258, 0xC3]  # generation stopped in the middle of 'é'
    try:
        out = _call(fn, cut, vocab)
    except UnicodeDecodeError:
        raise CheckFailed(
            "on 'caf' followed by only the first byte of é, your function raised "
            "UnicodeDecodeError. A model can generate any ids, including bytes "
            "that are not valid UTF-8 (here a character cut in half); decode with "
            "errors='replace', which shows � (U+FFFD) instead of crashing"
        ) from None
    _check_decoded(out, cut, vocab, "'caf' followed by only the first byte of é")

    _check_decoded(_call(fn, [], vocab), [], vocab, "no ids at all")

    bpe = _small_bpe()
    text = "To be, or not to be: ça, c'est la question. 🙂"
    ids = bpe.encode(text)
    _check_decoded(
        _call(fn, ids, bpe.vocab), ids, bpe.vocab, f"the {len(ids)} ids of {text!r}"
    )
    return (
        "bytes joined before decoding, broken UTF-8 shown as �; equal to "
        "tinytx.BPETokenizer.decode."
    )


# -------------------------------------------------------- encode_with_specials


def _encode_with_specials(
    text: str, encode: Callable[[str], list[int]], specials: dict[str, int]
) -> list[int]:
    pattern = (
        "("
        + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True))
        + ")"
    )
    ids: list[int] = []
    for part in re.split(pattern, text):
        if part in specials:
            ids.append(specials[part])
        elif part:
            ids.extend(encode(part))
    return ids


def _split_unescaped(
    text: str, encode: Callable[[str], list[int]], specials: dict[str, int]
) -> list[int]:
    """The usual mistake: the special strings used as a regular
    expression without re.escape."""
    ids: list[int] = []
    for part in re.split("(" + "|".join(specials) + ")", text):
        if part in specials:
            ids.append(specials[part])
        elif part:
            ids.extend(encode(part))
    return ids


@checker("encode_with_specials")
def encode_with_specials(fn: Callable) -> str:
    """Check `fn(text, encode, special_tokens) -> ids`: specials become their ids, the
    rest goes through encode."""
    bpe = _small_bpe()
    end = "<|endoftext|>"
    end_id = bpe.vocab_size
    specials = {end: end_id}

    text = f"To be{end}To sleep"
    out = _expect_ids(_call(fn, text, bpe.encode, specials), "encode_with_specials")
    expected = _encode_with_specials(text, bpe.encode, specials)
    if out != expected:
        if out == bpe.encode(text):
            raise CheckFailed(
                f"on {text!r}, '{end}' came out as ordinary tokens ('<', '|', 'end', "
                f"...), not as its id {end_id}. Split the text at the special strings "
                "first, emit their ids, and encode only the text between them"
            )
        if out == bpe.encode("To be") + bpe.encode("To sleep"):
            raise CheckFailed(
                f"on {text!r}, the special token disappeared. str.split (and re.split "
                "without a group) drops the separators; re.split with a capturing "
                f"group, '(' + pattern + ')', keeps them so you can emit {end_id}"
            )
        if out == _split_unescaped(text, bpe.encode, specials):
            raise CheckFailed(
                "'|' is an operator in a regular expression (it means 'or'), so the "
                "pattern '<|endoftext|>' matched '<', 'endoftext' or '>' on their own. "
                "Escape each special string with re.escape(token)"
            )
        raise CheckFailed(
            f"on {text!r} expected {expected} (the special token is "
            f"{end_id}), got {out}"
        )

    text = f"{end}{end}To be{end}"
    out = _expect_ids(_call(fn, text, bpe.encode, specials), "encode_with_specials")
    expected = _encode_with_specials(text, bpe.encode, specials)
    if out != expected:
        raise CheckFailed(
            f"on {text!r} (specials at the start, side by side and at the end) "
            f"expected {expected}, got {out}. re.split gives empty strings between "
            "adjacent separators: skip them, keep every special"
        )

    text = "a|b < c > d, endoftext <|endoftext"
    out = _expect_ids(_call(fn, text, bpe.encode, specials), "encode_with_specials")
    expected = bpe.encode(text)
    if out != expected:
        hint = (
            (
                "'|' is an operator in a regular expression (it means 'or'); "
                "escape each special string with re.escape(token)"
            )
            if out == _split_unescaped(text, bpe.encode, specials)
            else (
                "text without a complete special token must be encoded exactly "
                "as encode(text) would"
            )
        )
        raise CheckFailed(
            f"on {text!r}, which holds no special token, expected {expected}, "
            f"got {out}: {hint}"
        )

    two = {end: end_id, "<|pad|>": end_id + 1}
    text = f"To be<|pad|>or not{end}"
    out = _expect_ids(_call(fn, text, bpe.encode, two), "encode_with_specials")
    expected = _encode_with_specials(text, bpe.encode, two)
    if out != expected:
        raise CheckFailed(
            f"with two special tokens {two}, {text!r} should give {expected}, "
            f"got {out}. Build the pattern from every special string: "
            "'(' + '|'.join(re.escape(t) for t in special_tokens) + ')'"
        )
    return (
        "special strings become their ids, everything between them is encoded "
        "normally, regex characters escaped."
    )
