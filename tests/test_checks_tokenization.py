"""The tokenization checkers pass correct code and catch each usual
mistake with its own hint."""

from __future__ import annotations

import re

import pytest
from checker_helpers import assert_hint, assert_passes  # tests/checker_helpers.py

from tinytx.teach import checks
from tinytx.tokenizers import merge_pair


def test_errors_in_reader_code_become_hints(capsys):
    def crashes(ids, merges):
        return ids[undefined_name]  # noqa: F821  (the reader's typo)

    assert_hint(checks.bpe_encode, crashes, "NameError", capsys)


# -------------------------------------------------------- bpe_encode


def bpe_encode_correct(ids, merges):
    rank = dict(merges)
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: rank.get(p, float("inf")))
        if pair not in rank:
            break
        ids = merge_pair(ids, pair, rank[pair])
    return ids


def bpe_encode_replay(ids, merges):
    for pair, new_id in merges:
        ids = merge_pair(ids, pair, new_id)
    return ids


def test_bpe_encode_accepts_correct_code(capsys):
    assert_passes(checks.bpe_encode, bpe_encode_correct, capsys)
    assert_passes(checks.bpe_encode, bpe_encode_replay, capsys)  # slow but right


def most_frequent_first(ids, merges):
    rank = dict(merges)
    while True:
        known = [p for p in zip(ids, ids[1:]) if p in rank]
        if not known:
            return ids
        pair = max(set(known), key=known.count)
        ids = merge_pair(ids, pair, rank[pair])


def leftmost_first(ids, merges):
    rank = dict(merges)
    while True:
        known = [p for p in zip(ids, ids[1:]) if p in rank]
        if not known:
            return ids
        ids = merge_pair(ids, known[0], rank[known[0]])


def sorted_replay(ids, merges):
    for pair, new_id in sorted(merges):
        ids = merge_pair(ids, pair, new_id)
    return ids


def one_round(ids, merges):
    rank = dict(merges)
    pair = min(zip(ids, ids[1:]), key=lambda p: rank.get(p, float("inf")))
    return merge_pair(ids, pair, rank[pair]) if pair in rank else ids


def overlapping_merge(ids, pair, new_id):
    """Looks at neighbours instead of skipping matched tokens, so 'aaa' -> [X, X]."""
    out = []
    for i, x in enumerate(ids):
        if i + 1 < len(ids) and (x, ids[i + 1]) == pair:
            out.append(new_id)
        elif i > 0 and (ids[i - 1], x) == pair:
            continue
        else:
            out.append(x)
    return out


def right_to_left_merge(ids, pair, new_id):
    return merge_pair(ids[::-1], pair[::-1], new_id)[::-1]


def with_merge(merge_fn):
    def encode(ids, merges):
        rank = dict(merges)
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: rank.get(p, float("inf")))
            if pair not in rank:
                break
            ids = merge_fn(ids, pair, rank[pair])
        return ids

    return encode


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (one_round, "Keep merging until no adjacent pair has a merge"),
        (most_frequent_first, "the most frequent pair here, before ca (rank 0)"),
        (leftmost_first, "because it comes first in the text"),
        (sorted_replay, "before ca (rank 0)"),
        (with_merge(overlapping_merge), "never [X, X] (overlapping)"),
        (with_merge(right_to_left_merge), "or [a, X] (right to left)"),
        (
            lambda ids, merges: tuple(bpe_encode_correct(ids, merges)),
            "must return a list of ints, got tuple",
        ),
        (
            lambda ids, merges: [str(i) for i in bpe_encode_correct(ids, merges)],
            "a list holding str",
        ),
    ],
    ids=[
        "one-round",
        "most-frequent",
        "leftmost",
        "sorted",
        "overlap",
        "right-to-left",
        "tuple",
        "strings",
    ],
)
def test_bpe_encode_mistakes(mistake, hint, capsys):
    assert_hint(checks.bpe_encode, mistake, hint, capsys)


def test_bpe_encode_catches_wrong_results_on_trained_merges(capsys):
    def forgets_later_merges(ids, merges):
        return bpe_encode_correct(ids, merges[:20])

    assert_hint(
        checks.bpe_encode,
        forgets_later_merges,
        "a BPE trained on Hamlet's soliloquy",
        capsys,
    )


# -------------------------------------------------------- bpe_decode


def bpe_decode_correct(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def test_bpe_decode_accepts_correct_code(capsys):
    assert_passes(checks.bpe_decode, bpe_decode_correct, capsys)


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda ids, vocab: "".join(
                vocab[i].decode("utf-8", errors="replace") for i in ids
            ),
            "decoded each token on its own",
        ),
        (
            lambda ids, vocab: "".join(vocab[i].decode("utf-8") for i in ids),
            "raised UnicodeDecodeError: you decoded each token",
        ),
        (
            lambda ids, vocab: b"".join(vocab[i] for i in ids).decode("utf-8"),
            "decode with errors='replace'",
        ),
        (
            lambda ids, vocab: b"".join(vocab[i] for i in ids).decode(
                "utf-8", errors="ignore"
            ),
            "errors='ignore' silently drops",
        ),
        (
            lambda ids, vocab: b"".join(vocab[i] for i in ids).decode("latin-1"),
            "decode them with 'utf-8'",
        ),
        (lambda ids, vocab: b"".join(vocab[i] for i in ids), "you returned bytes"),
        (
            lambda ids, vocab: "".join(str(vocab[i]) for i in ids),
            "str(some_bytes) gives the repr",
        ),
        (
            lambda ids, vocab: bpe_decode_correct(ids[:-1], vocab),
            "expected 'To be, or'",
        ),
    ],
    ids=[
        "per-token-replace",
        "per-token-strict",
        "strict",
        "ignore",
        "latin-1",
        "bytes",
        "str-of-bytes",
        "drops-last",
    ],
)
def test_bpe_decode_mistakes(mistake, hint, capsys):
    assert_hint(checks.bpe_decode, mistake, hint, capsys)


# -------------------------------------------------------- encode_with_specials


def encode_with_specials_correct(text, encode, special_tokens):
    pattern = "(" + "|".join(re.escape(t) for t in special_tokens) + ")"
    ids = []
    for part in re.split(pattern, text):
        if part in special_tokens:
            ids.append(special_tokens[part])
        elif part:
            ids.extend(encode(part))
    return ids


def test_encode_with_specials_accepts_correct_code(capsys):
    assert_passes(checks.encode_with_specials, encode_with_specials_correct, capsys)


def test_encode_with_specials_accepts_a_loop_with_str_find(capsys):
    def by_find(text, encode, special_tokens):
        ids = []
        while text:
            found = [(text.find(t), t) for t in special_tokens if t in text]
            if not found:
                return ids + encode(text)
            start, token = min(found)
            ids += encode(text[:start]) + [special_tokens[token]]
            text = text[start + len(token) :]
        return ids

    assert_passes(checks.encode_with_specials, by_find, capsys)


def unescaped(text, encode, special_tokens):
    ids = []
    for part in re.split("(" + "|".join(special_tokens) + ")", text):
        if part in special_tokens:
            ids.append(special_tokens[part])
        elif part:
            ids.extend(encode(part))
    return ids


def dropped(text, encode, special_tokens):
    ids = []
    for part in re.split("|".join(re.escape(t) for t in special_tokens), text):
        ids.extend(encode(part))
    return ids


def first_special_only(text, encode, special_tokens):
    token, token_id = next(iter(special_tokens.items()))
    ids = []
    for part in re.split(f"({re.escape(token)})", text):
        ids.extend([token_id] if part == token else encode(part))
    return ids


def keeps_empty_parts_as_a_token(text, encode, special_tokens):
    ids = []
    for part in re.split(
        "(" + "|".join(re.escape(t) for t in special_tokens) + ")", text
    ):
        ids.extend(
            [special_tokens[part]] if part in special_tokens else (encode(part) or [0])
        )
    return ids


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        (
            lambda text, encode, special_tokens: encode(text),
            "came out as ordinary tokens",
        ),
        (dropped, "the special token disappeared"),
        (unescaped, "Escape each special string with re.escape(token)"),
        (
            keeps_empty_parts_as_a_token,
            "re.split gives empty strings between adjacent separators",
        ),
        (first_special_only, "Build the pattern from every special string"),
    ],
    ids=["ignored", "dropped", "unescaped", "empty-parts", "first-only"],
)
def test_encode_with_specials_mistakes(mistake, hint, capsys):
    assert_hint(checks.encode_with_specials, mistake, hint, capsys)
