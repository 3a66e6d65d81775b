"""Corpora, train/validation splits and random training batches.

`load_corpus` finds a corpus file (your copy, then the cache, then a verified
download); `train_val_split` cuts a sequence into its first and last part;
`get_batch` samples the (input, target) windows a language model trains on;
`count_baselines` gives the losses of the unigram and bigram models, for scale.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple, TypeVar

import torch

__all__ = ["load_corpus", "train_val_split", "get_batch", "cache_dir", "CORPORA"]

DOWNLOAD_TIMEOUT_S = 30


class Corpus(NamedTuple):
    filename: str
    url: str
    size: int
    sha256: str


CORPORA: dict[str, Corpus] = {
    "tinyshakespeare": Corpus(
        filename="tinyshakespeare.txt",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        size=1115394,
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
}


def cache_dir() -> Path:
    """Where downloaded corpora are kept:
    `$XDG_CACHE_HOME/tinytx`, else `~/.cache/tinytx`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "tinytx"


@functools.lru_cache(maxsize=8)
def _read_if_hash_matches(
    path: str, mtime_ns: int, size: int, sha256: str
) -> str | None:
    """Text of `path` if its sha256 is `sha256`, else None. Cached per file
    version (path, mtime, size), so repeated calls hash the file only once."""
    raw = Path(path).read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha256:
        return None
    return raw.decode("utf-8")


def _verified_text(path: Path, corpus: Corpus, in_our_cache: bool) -> str:
    stat = path.stat()
    text = _read_if_hash_matches(
        str(path), stat.st_mtime_ns, stat.st_size, corpus.sha256
    )
    if text is not None:
        return text
    message = (
        f"{path} is not the expected file: its sha256 differs from {corpus.sha256} "
        f"({corpus.size} bytes)."
    )
    if in_our_cache:
        path.unlink(missing_ok=True)
        message += (
            " It was in tinytx's cache and has been deleted; call load_corpus again "
            "to download it afresh."
        )
    else:
        message += f" Replace it with the file from {corpus.url}."
    raise ValueError(message)


def _open_url(url: str):
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)


def _download(corpus: Corpus, directory: Path) -> Path:
    """Download `corpus` into `directory`, verified, and return its path.

    The bytes stream into a temporary file beside the target, which is renamed
    over the target (atomic) only after its sha256 checks out, so a partial or
    corrupt download never sits where load_corpus would find it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / corpus.filename
    digest = hashlib.sha256()
    received = 0
    fd, tmp_name = tempfile.mkstemp(
        dir=directory, prefix=corpus.filename + ".", suffix=".part"
    )
    try:
        with os.fdopen(fd, "wb") as tmp, _open_url(corpus.url) as response:
            while block := response.read(1 << 16):
                received += len(block)
                if received > corpus.size:
                    break
                digest.update(block)
                tmp.write(block)
        if received != corpus.size or digest.hexdigest() != corpus.sha256:
            got = (
                f"more than {corpus.size} bytes"
                if received > corpus.size
                else f"{received} bytes with sha256 {digest.hexdigest()}"
            )
            raise ValueError(
                f"the download from {corpus.url} is not the expected file (expected "
                f"{corpus.size} bytes with sha256 {corpus.sha256}, got {got}); "
                "nothing was saved, try again later"
            )
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def load_corpus(name: str = "tinyshakespeare") -> str:
    """The text of a known corpus, verified by its sha256.

    Looks for the file in `$TINYTX_DATA/`, then in the cache directory
    (`cache_dir()`), and otherwise downloads it into the cache.

    Raises:
        ValueError: unknown name, or a file whose hash is wrong.
        FileNotFoundError: no copy and the download failed (e.g. offline);
            the message says where to put the file.
    """
    if name not in CORPORA:
        raise ValueError(
            f"unknown corpus {name!r}; known corpora: {', '.join(sorted(CORPORA))}"
        )
    corpus = CORPORA[name]

    data_dir = os.environ.get("TINYTX_DATA")
    if data_dir:
        path = Path(data_dir) / corpus.filename
        if path.is_file():
            return _verified_text(path, corpus, in_our_cache=False)

    cached = cache_dir() / corpus.filename
    if cached.is_file():
        return _verified_text(cached, corpus, in_our_cache=True)

    where = (
        f"Put the file {corpus.filename} (from {corpus.url}) in a directory "
        "and set the environment variable TINYTX_DATA to that directory, "
        f"or save it as {cached}."
    )
    try:
        downloaded = _download(corpus, cached.parent)
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        TimeoutError,
        ConnectionError,
    ) as error:
        raise FileNotFoundError(
            f"could not download corpus {name!r} ({error}). {where}"
        ) from error
    except PermissionError as error:
        raise FileNotFoundError(
            f"cannot write to the cache directory {cached.parent} ({error}). {where}"
        ) from error
    return _verified_text(downloaded, corpus, in_our_cache=True)


Sliceable = TypeVar("Sliceable", torch.Tensor, list, str)


def train_val_split(
    data: Sliceable, val_fraction: float = 0.1
) -> tuple[Sliceable, Sliceable]:
    """Split `data` (a 1-D tensor, list or str) into (first part, last part).

    The first `int(len(data) * (1 - val_fraction))` items are for training,
    the rest for validation. Keeping the validation text contiguous (not
    shuffled) means it is text the model has truly never seen.
    """
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, (int, float))
        or not 0 < val_fraction < 1
    ):
        raise ValueError(
            "val_fraction must be a number strictly between 0 and 1, "
            f"got {val_fraction!r}"
        )
    if torch.is_tensor(data) and data.dim() != 1:
        raise ValueError(
            f"train_val_split expects a 1-D tensor, got shape {tuple(data.shape)}"
        )
    n_train = int(len(data) * (1 - val_fraction))
    if n_train == 0 or n_train == len(data):
        raise ValueError(
            f"{len(data)} items with val_fraction={val_fraction} would leave an empty "
            f"{'training' if n_train == 0 else 'validation'} part; use more data "
            "or change val_fraction"
        )
    return data[:n_train], data[n_train:]


def get_batch(
    ids: torch.Tensor,
    batch_size: int,
    block_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` random windows of `block_size` tokens and their next tokens.

    Args:
        ids: 1-D integer tensor of token ids, shape (N,), N >= block_size + 1.
        batch_size, block_size: B and T below.
        generator: a `torch.Generator` for reproducible offsets (on the device
            it belongs to); None uses the global RNG.
        device: where x and y go; None keeps them on `ids`'s device.

    Returns:
        x, y: int64 tensors of shape (B, T); y[b, t] = x[b, t + 1] inside a
        window, i.e. y is the text one token further on: the targets.
    """
    if not torch.is_tensor(ids):
        raise TypeError(
            f"ids must be a torch.Tensor, got {type(ids).__name__}; "
            "use torch.tensor(ids, dtype=torch.long)"
        )
    if ids.dim() != 1:
        raise ValueError(
            "ids must be 1-D (one long sequence of token ids), got shape "
            f"{tuple(ids.shape)}"
        )
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(
            f"ids must hold integer token ids, got dtype {ids.dtype}; use ids.long()"
        )
    for label, value in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive int, got {value!r}")
    n = ids.numel()
    if n < block_size + 1:
        raise ValueError(
            f"ids has {n} tokens but block_size {block_size} needs at least "
            f"{block_size + 1} (a window plus its next token); lower block_size "
            "or use more data"
        )

    rng_device = generator.device if generator is not None else torch.device("cpu")
    # last valid start is n - block_size - 1, so that the target window fits too
    starts = torch.randint(
        n - block_size, (batch_size,), generator=generator, device=rng_device
    )
    if starts.device != ids.device:
        # move the B starts, not the (B, T) index; to a GPU from pinned memory, so
        # the copy need not wait for the work already queued there
        if ids.is_cuda and not starts.is_cuda:
            starts = starts.pin_memory().to(ids.device, non_blocking=True)
        else:
            starts = starts.to(ids.device)
    index = starts[:, None] + torch.arange(block_size, device=ids.device)  # (B, T)
    x = ids[index].long()
    y = ids[index + 1].long()
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


def count_baselines(
    train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int
) -> dict[str, float]:
    """The validation loss (nats per token) of two models counted on `train_ids`:
    "unigram", each token's frequency, and "bigram", P(next | previous) from the
    counts of neighbouring pairs plus one (add-one smoothing, so that a pair never
    seen in training does not cost an infinite loss; the unigram loss is infinite
    if a validation token never occurs in training). A language model that does not
    beat the bigram line uses no more than the previous token.

    train_ids (N,), val_ids (M,): 1-D integer token ids below vocab_size.
    """
    for name, ids in (("train_ids", train_ids), ("val_ids", val_ids)):
        if not torch.is_tensor(ids) or ids.dim() != 1 or ids.numel() < 2:
            raise ValueError(f"{name} must be a 1-D tensor of at least 2 token ids")
    unigram = torch.bincount(train_ids, minlength=vocab_size).double()
    pairs = torch.ones(vocab_size, vocab_size, dtype=torch.float64)
    ones = torch.ones(len(train_ids) - 1, dtype=torch.float64)
    pairs.index_put_((train_ids[:-1], train_ids[1:]), ones, accumulate=True)
    bigram = pairs / pairs.sum(dim=1, keepdim=True)  # row: the previous token
    return {
        "unigram": -(unigram / unigram.sum()).log()[val_ids].mean().item(),
        "bigram": -bigram.log()[val_ids[:-1], val_ids[1:]].mean().item(),
    }
