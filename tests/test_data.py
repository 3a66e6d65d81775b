"""Tests for tinytx.data: finding, downloading and
verifying corpora; splits; batches."""

from __future__ import annotations

import functools
import hashlib
import http.server
import math
import threading
import urllib.error

import pytest
import torch

import tinytx.data as data
from tinytx.data import (
    Corpus,
    count_baselines,
    get_batch,
    load_corpus,
    train_val_split,
)

SMALL_TEXT = "To be, or not to be: that is the question.\n" * 50
SMALL_BYTES = SMALL_TEXT.encode("utf-8")
SMALL_SHA256 = hashlib.sha256(SMALL_BYTES).hexdigest()
SMALL_SIZE = len(SMALL_BYTES)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No TINYTX_DATA, an empty cache directory, and no real network."""
    monkeypatch.delenv("TINYTX_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(url):
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(data, "_open_url", no_network)
    return tmp_path / "cache" / "tinytx"


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving
    tmp_path/served/; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "small.txt").write_bytes(SMALL_BYTES)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=served)
    )
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _register_small(monkeypatch, url, sha256=SMALL_SHA256, size=SMALL_SIZE):
    monkeypatch.setitem(data.CORPORA, "small", Corpus("small.txt", url, size, sha256))


def _real_open_url(monkeypatch):
    monkeypatch.setattr(
        data, "_open_url", lambda url: data.urllib.request.urlopen(url, timeout=5)
    )


# --- load_corpus -------------------------------------------------------------


def test_tiny_shakespeare_from_tinytx_data(monkeypatch, tmp_path):
    # a private copy of the corpus (found however this machine finds it) as TINYTX_DATA,
    # with an empty cache and no network, so the text can only come from there
    copy = tmp_path / "data" / "tinyshakespeare.txt"
    copy.parent.mkdir()
    copy.write_bytes(load_corpus("tinyshakespeare").encode("utf-8"))
    monkeypatch.setenv("TINYTX_DATA", str(copy.parent))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_open_url", lambda url: pytest.fail("tried to download"))
    text = load_corpus("tinyshakespeare")
    assert len(text) == 1115394
    assert text.startswith(
        "First Citizen:\nBefore we proceed any further, hear me speak."
    )
    assert load_corpus() is text  # read and hashed once, then cached
    assert not (tmp_path / "cache").exists()


def test_unknown_corpus_lists_known_names():
    with pytest.raises(
        ValueError, match="unknown corpus 'shakespeare'; known corpora: tinyshakespeare"
    ):
        load_corpus("shakespeare")


def test_offline_without_a_copy_says_where_to_put_the_file(
    monkeypatch, isolated, tmp_path
):
    monkeypatch.setenv("TINYTX_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as info:
        load_corpus("tinyshakespeare")
    message = str(info.value)
    assert "TINYTX_DATA" in message
    assert str(isolated / "tinyshakespeare.txt") in message
    assert data.CORPORA["tinyshakespeare"].url in message
    assert not isolated.exists() or list(isolated.iterdir()) == []


def test_download_verifies_and_caches(monkeypatch, isolated, server):
    _register_small(monkeypatch, f"{server}/small.txt")
    target = isolated / "small.txt"
    seen_during_download = []

    def watched_open_url(url):
        response = data.urllib.request.urlopen(url, timeout=5)
        real_read = response.read

        def read(n):
            seen_during_download.append(target.exists())
            return real_read(n)

        response.read = read
        return response

    monkeypatch.setattr(data, "_open_url", watched_open_url)
    assert load_corpus("small") == SMALL_TEXT
    # the target only appears once the whole, verified file is there
    assert seen_during_download and not any(seen_during_download)
    assert target.read_bytes() == SMALL_BYTES
    assert sorted(p.name for p in isolated.iterdir()) == ["small.txt"]

    # second call: served from the cache, no network needed
    monkeypatch.setattr(data, "_open_url", lambda url: pytest.fail("downloaded again"))
    assert load_corpus("small") == SMALL_TEXT


def test_download_with_wrong_hash_leaves_nothing(monkeypatch, isolated, server):
    _register_small(monkeypatch, f"{server}/small.txt", sha256="0" * 64)
    _real_open_url(monkeypatch)
    with pytest.raises(
        ValueError,
        match=f"not the expected file.*sha256 {SMALL_SHA256}.*nothing was saved",
    ):
        load_corpus("small")
    assert list(isolated.iterdir()) == []


def test_download_longer_than_expected_is_refused(monkeypatch, isolated, server):
    _register_small(monkeypatch, f"{server}/small.txt", size=100)
    _real_open_url(monkeypatch)
    with pytest.raises(ValueError, match="got more than 100 bytes"):
        load_corpus("small")
    assert list(isolated.iterdir()) == []


def test_download_http_error_is_file_not_found(monkeypatch, isolated, server):
    _register_small(monkeypatch, f"{server}/missing.txt")
    _real_open_url(monkeypatch)
    with pytest.raises(FileNotFoundError, match="HTTP Error 404.*TINYTX_DATA"):
        load_corpus("small")
    assert list(isolated.iterdir()) == []


def test_tinytx_data_takes_precedence_over_the_cache(monkeypatch, isolated, tmp_path):
    _register_small(monkeypatch, "http://127.0.0.1:9/unused")
    isolated.mkdir(parents=True)
    (isolated / "small.txt").write_bytes(b"a stale copy")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "small.txt").write_bytes(SMALL_BYTES)
    monkeypatch.setenv("TINYTX_DATA", str(tmp_path / "mine"))
    assert load_corpus("small") == SMALL_TEXT


def test_wrong_file_in_tinytx_data_is_reported_and_kept(
    monkeypatch, isolated, tmp_path
):
    _register_small(monkeypatch, "http://127.0.0.1:9/unused")
    bad = tmp_path / "mine" / "small.txt"
    bad.parent.mkdir()
    bad.write_bytes(b"not the play")
    monkeypatch.setenv("TINYTX_DATA", str(bad.parent))
    with pytest.raises(
        ValueError, match=f"{bad} is not the expected file.*{SMALL_SHA256}"
    ):
        load_corpus("small")
    assert bad.read_bytes() == b"not the play"


def test_wrong_file_in_cache_is_deleted(monkeypatch, isolated):
    _register_small(monkeypatch, "http://127.0.0.1:9/unused")
    bad = isolated / "small.txt"
    isolated.mkdir(parents=True)
    bad.write_bytes(b"truncated")
    with pytest.raises(
        ValueError,
        match=f"{bad} is not the expected file.*{SMALL_SHA256}.*has been deleted",
    ):
        load_corpus("small")
    assert not bad.exists()


def test_file_is_hashed_once(monkeypatch, isolated, tmp_path):
    _register_small(monkeypatch, "http://127.0.0.1:9/unused")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "small.txt").write_bytes(SMALL_BYTES)
    monkeypatch.setenv("TINYTX_DATA", str(tmp_path / "mine"))
    hashed = []
    real_sha256 = data.hashlib.sha256
    monkeypatch.setattr(
        data.hashlib, "sha256", lambda *a: hashed.append(1) or real_sha256(*a)
    )
    for _ in range(3):
        assert load_corpus("small") == SMALL_TEXT
    assert len(hashed) == 1


# --- train_val_split ---------------------------------------------------------


def test_split_tensor_list_and_str():
    ids = torch.arange(100)
    train, val = train_val_split(ids, 0.1)
    assert torch.equal(train, torch.arange(90)) and torch.equal(
        val, torch.arange(90, 100)
    )
    assert train_val_split(list(range(10)), 0.3) == (list(range(7)), [7, 8, 9])
    assert train_val_split("abcdefghij") == ("abcdefghi", "j")


def test_split_of_the_corpus_matches_the_usual_90_10():
    train, val = train_val_split(torch.zeros(1115394), 0.1)
    assert (len(train), len(val)) == (1003854, 111540)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True, "0.1"])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        train_val_split(list(range(10)), fraction)


def test_split_refuses_to_leave_a_part_empty():
    with pytest.raises(
        ValueError,
        match="3 items with val_fraction=0.9 would leave an empty training part",
    ):
        train_val_split([1, 2, 3], 0.9)
    with pytest.raises(ValueError, match="empty validation part"):
        train_val_split(list(range(10)), 1e-17)


# --- get_batch ---------------------------------------------------------------


def test_batch_shapes_and_shift():
    ids = torch.arange(1000)
    x, y = get_batch(
        ids, batch_size=8, block_size=16, generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == y.shape == (8, 16)
    assert x.dtype == y.dtype == torch.long
    starts = x[:, :1]
    assert torch.equal(x, starts + torch.arange(16))  # each row is a contiguous window
    assert torch.equal(y, x + 1)  # targets: the same window one token on
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_batch_offsets_cover_every_valid_start():
    ids = torch.arange(12, dtype=torch.int32)
    x, y = get_batch(
        ids, batch_size=2000, block_size=8, generator=torch.Generator().manual_seed(1)
    )
    assert set(x[:, 0].tolist()) == {0, 1, 2, 3}  # start 3: last target is ids[11]
    assert x.dtype == torch.long


def test_batch_with_exactly_one_window():
    ids = torch.tensor([5, 3, 8, 1])
    x, y = get_batch(ids, batch_size=2, block_size=3)
    assert x.tolist() == [[5, 3, 8]] * 2
    assert y.tolist() == [[3, 8, 1]] * 2


def test_batch_is_deterministic_with_a_seeded_generator():
    ids = torch.randint(0, 65, (5000,), generator=torch.Generator().manual_seed(0))
    first = get_batch(ids, 4, 32, generator=torch.Generator().manual_seed(42))
    again = get_batch(ids, 4, 32, generator=torch.Generator().manual_seed(42))
    other = get_batch(ids, 4, 32, generator=torch.Generator().manual_seed(43))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_batch_moves_to_device():
    x, y = get_batch(torch.arange(100), 2, 4, device="cpu")
    assert x.device.type == y.device.type == "cpu"


def test_batch_too_short_data():
    with pytest.raises(
        ValueError,
        match="ids has 8 tokens but block_size 8 needs at least 9.*lower block_size",
    ):
        get_batch(torch.arange(8), 4, 8)


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        ([1, 2, 3, 4], TypeError, "must be a torch.Tensor"),
        (torch.zeros(10), TypeError, "integer token ids, got dtype torch.float32"),
        (torch.zeros(2, 10, dtype=torch.long), ValueError, r"must be 1-D.*\(2, 10\)"),
    ],
)
def test_batch_rejects_bad_ids(ids, error, message):
    with pytest.raises(error, match=message):
        get_batch(ids, 2, 4)


@pytest.mark.parametrize(
    ("batch_size", "block_size"), [(0, 4), (2, 0), (2.0, 4), (2, True)]
)
def test_batch_rejects_bad_sizes(batch_size, block_size):
    with pytest.raises(ValueError, match="must be a positive int"):
        get_batch(torch.arange(100), batch_size, block_size)


def test_count_baselines_equal_the_counts_written_out():
    train = torch.tensor([0, 1, 2, 1, 2, 0, 1, 1, 2, 2])
    val = torch.tensor([1, 2, 0, 0, 1])  # (0, 0) never occurs in training
    V = 3
    freq = [train.tolist().count(t) / len(train) for t in range(V)]
    counts = [[1] * V for _ in range(V)]
    for a, b in zip(train.tolist(), train.tolist()[1:]):
        counts[a][b] += 1
    pairs = list(zip(val.tolist(), val.tolist()[1:]))
    bigram = sum(-math.log(counts[a][b] / sum(counts[a])) for a, b in pairs) / 4
    unigram = sum(-math.log(freq[t]) for t in val.tolist()) / len(val)
    got = count_baselines(train, val, V)
    assert math.isclose(got["unigram"], unigram, rel_tol=1e-12)
    assert math.isclose(got["bigram"], bigram, rel_tol=1e-12)


def test_count_baselines_needs_sequences_of_ids():
    with pytest.raises(ValueError, match="val_ids must be a 1-D tensor"):
        count_baselines(torch.tensor([0, 1, 2]), torch.tensor([[0, 1]]), 3)
