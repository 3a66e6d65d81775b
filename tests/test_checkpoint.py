"""Checkpoints: round trips, atomic writes, safe loading, clear errors."""

import os
import pickle

import pytest
import torch

from tinytx import (
    GPT,
    CharTokenizer,
    GPTConfig,
    Seq2Seq,
    Seq2SeqConfig,
    load,
    load_metadata,
    save,
)
from tinytx.tokenizers import Tokenizer


def gpt(**overrides):
    torch.manual_seed(0)
    return GPT(
        GPTConfig(
            **{
                **dict(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8),
                **overrides,
            }
        )
    )


def test_gpt_round_trip_with_metadata(tmp_path):
    model = gpt(positional="sinusoidal", tie_weights=True)
    tokenizer = CharTokenizer.from_text("hello world")
    path = save(
        model,
        tmp_path / "model.pt",
        metadata={"val_loss": 1.5, "tokenizer": tokenizer.to_dict()},
    )
    loaded = load(path)
    assert loaded.config == model.config and not loaded.training
    assert (
        loaded.head.weight is loaded.tok_embed.weight
    )  # tying survives the round trip
    idx = torch.randint(0, 11, (2, 8))
    torch.testing.assert_close(loaded(idx)[0], model.eval()(idx)[0])
    metadata = load_metadata(path)
    assert metadata["val_loss"] == 1.5
    assert Tokenizer.from_dict(metadata["tokenizer"]).encode(
        "hello"
    ) == tokenizer.encode("hello")


def test_seq2seq_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Seq2Seq(
        Seq2SeqConfig(
            src_vocab_size=9,
            tgt_vocab_size=7,
            block_size=6,
            n_layer=1,
            n_head=2,
            n_embd=8,
        )
    )
    loaded = load(save(model, tmp_path / "s2s.pt"))
    src, tgt = torch.tensor([[3, 4, 5]]), torch.tensor([[1, 4]])
    torch.testing.assert_close(loaded(src, tgt)[0], model.eval()(src, tgt)[0])


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save(gpt(), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save(gpt(n_embd=16), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary file left behind


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_never_executes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as file:
        pickle.dump({"kind": "GPT", "payload": Exploit()}, file)
    with pytest.raises(
        ValueError, match="evil.pt is not a checkpoint"
    ):  # refused before unpickling
        load(path)
    assert not (tmp_path / "PWNED").exists()
    torch.save({"kind": "GPT", "payload": Exploit()}, path)
    with pytest.raises(ValueError, match="not a plain tinytx checkpoint"):
        load(path)
    assert not (tmp_path / "PWNED").exists()


def test_truncated_and_foreign_files_get_clear_errors(tmp_path):
    path = save(gpt(), tmp_path / "model.pt")
    truncated = tmp_path / "truncated.pt"
    for cut in (200, len(path.read_bytes()) // 2, len(path.read_bytes()) - 10):
        truncated.write_bytes(path.read_bytes()[:cut])
        with pytest.raises(
            ValueError,
            match="truncated.pt is truncated or corrupted: it starts like a checkpoint",
        ):
            load(truncated)
    corrupted = tmp_path / "corrupted.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(
        64
    )  # zeros in the middle: the directory survives
    corrupted.write_bytes(bytes(data))
    with pytest.raises(
        ValueError,
        match="corrupted.pt (could not be read as a checkpoint|.*do not match)",
    ):
        load(corrupted)
    text = tmp_path / "notes.pt"
    text.write_text("my notes")
    with pytest.raises(
        ValueError,
        match="notes.pt is not a checkpoint: tinytx.save .* writes a zip archive",
    ):
        load(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="foreign.pt is not a tinytx checkpoint"):
        load(foreign)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path / "missing.pt")


def test_invalid_stored_config_is_reported(tmp_path):
    path = save(gpt(), tmp_path / "model.pt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["n_head"] = 3
    torch.save(checkpoint, path)
    with pytest.raises(
        ValueError, match="stores an invalid GPTConfig: .*not divisible by n_head=3"
    ):
        load(path)


def test_weights_that_do_not_match_the_config(tmp_path):
    path = save(gpt(), tmp_path / "model.pt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["n_layer"] = 2
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="weights do not match the stored config"):
        load(path)


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"torch": torch.__version__}, r"metadata\['torch'\] is a TorchVersion"),
        (
            {"loss": torch.tensor(1.0)},
            r"metadata\['loss'\] is a Tensor.*value.tolist\(\)",
        ),
        ({"curve": [1.0, object()]}, r"metadata\['curve'\]\[1\] is a object"),
        ({1: "a"}, "metadata keys must be str"),
    ],
)
def test_metadata_must_be_plain_so_it_loads_safely(tmp_path, metadata, message):
    with pytest.raises(TypeError, match=message):
        save(gpt(), tmp_path / "model.pt", metadata=metadata)
    assert not (tmp_path / "model.pt").exists()
