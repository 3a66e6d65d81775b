"""The shipped shakespeare-char model: small, safe to load, and as
good as its metadata says."""

import pytest
import torch

import tinytx
from tinytx import pretrain
from tinytx.pretrained import CHECKPOINTS

MAX_VAL_LOSS = 1.65  # issue 3: the chapters need a model that has really learned


@pytest.fixture(scope="module")
def shipped():
    model, tokenizer = tinytx.pretrained("shakespeare-char")
    return model, tokenizer, tinytx.load_metadata(CHECKPOINTS["shakespeare-char"])


def test_checkpoint_is_small():
    assert CHECKPOINTS["shakespeare-char"].stat().st_size <= 8_000_000


def test_metadata_matches_the_script_that_made_it(shipped):
    model, tokenizer, metadata = shipped
    assert (
        metadata["training"] == pretrain.TRAINING and metadata["seed"] == pretrain.SEED
    )
    assert {key: getattr(model.config, key) for key in pretrain.MODEL} == pretrain.MODEL
    assert metadata["val_loss"] <= MAX_VAL_LOSS


def test_tokenizer_is_the_corpus_character_set(shipped):
    _, tokenizer, _ = shipped
    text = tinytx.load_corpus("tinyshakespeare")
    assert tokenizer.chars == tinytx.CharTokenizer.from_text(text).chars
    assert tokenizer.vocab_size == 65


def test_validation_loss_recomputed_on_a_slice(shipped):
    model, tokenizer, metadata = shipped
    text = tinytx.load_corpus("tinyshakespeare")
    _, val_ids = tinytx.train_val_split(torch.tensor(tokenizer.encode(text)), 0.1)
    loss = tinytx.evaluate(
        model, val_ids, max_windows=200
    )  # every 4th window: 25,600 characters
    assert loss == pytest.approx(metadata["val_loss"], abs=0.05)
    assert loss <= MAX_VAL_LOSS


def test_it_writes_shakespeare(shipped):
    model, tokenizer, _ = shipped
    prompt = torch.tensor([tokenizer.encode("ROMEO:\n")])
    text = tokenizer.decode(
        model.generate(
            prompt, 200, temperature=0.8, generator=torch.Generator().manual_seed(0)
        )[0].tolist()
    )
    words = text.split()
    common = {
        "the",
        "and",
        "I",
        "to",
        "of",
        "my",
        "you",
        "a",
        "is",
        "that",
        "in",
        "not",
        "me",
        "thou",
    }
    assert sum(word.strip(",.;:!?") in common for word in words) >= 5


def test_unknown_model_name():
    with pytest.raises(ValueError, match="available: shakespeare-char"):
        tinytx.pretrained("gpt-5")
