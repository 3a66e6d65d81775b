"""The encoder-decoder: shapes, padding, label smoothing,
greedy decoding and learning."""

import pytest
import torch
import torch.nn.functional as F

from tinytx import Seq2Seq, Seq2SeqConfig

SMALL = dict(
    src_vocab_size=15, tgt_vocab_size=12, block_size=10, n_layer=2, n_head=2, n_embd=16
)


def make(seed=0, **overrides):
    torch.manual_seed(seed)
    return Seq2Seq(Seq2SeqConfig(**{**SMALL, **overrides}))


def test_defaults_follow_the_paper():
    config = Seq2SeqConfig(**SMALL)
    assert (
        config.norm,
        config.positional,
        config.activation,
        config.scale_embeddings,
    ) == (
        "post",
        "sinusoidal",
        "relu",
        True,
    )
    model = make()
    assert model.head.weight is model.tgt_embed.weight


def test_forward_shapes_and_padding_is_ignored_by_the_loss():
    model = make()
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    tgt = torch.tensor([[1, 4, 5, 0], [1, 6, 7, 8]])
    targets = torch.tensor([[4, 5, 2, 0], [6, 7, 8, 2]])
    logits, loss = model(src, tgt, targets)
    assert logits.shape == (2, 4, 12)
    expected = F.cross_entropy(
        logits.reshape(-1, 12), targets.reshape(-1), ignore_index=0
    )
    torch.testing.assert_close(loss, expected)


def test_source_padding_does_not_change_the_output():
    model = make().eval()
    tgt = torch.tensor([[1, 4, 5]])
    short, _ = model(torch.tensor([[3, 4, 5]]), tgt)
    padded, _ = model(torch.tensor([[3, 4, 5, 0, 0, 0]]), tgt)
    torch.testing.assert_close(short, padded, rtol=1e-5, atol=1e-5)


def test_label_smoothing_is_used():
    model = make(label_smoothing=0.1)
    src, tgt, targets = (
        torch.tensor([[3, 4]]),
        torch.tensor([[1, 5]]),
        torch.tensor([[5, 2]]),
    )
    logits, loss = model(src, tgt, targets)
    expected = F.cross_entropy(
        logits.reshape(-1, 12), targets.reshape(-1), ignore_index=0, label_smoothing=0.1
    )
    torch.testing.assert_close(loss, expected)


def test_decoder_is_causal():
    model = make()
    src = torch.tensor([[3, 4, 5]])
    a, _ = model(src, torch.tensor([[1, 4, 5, 6]]))
    b, _ = model(src, torch.tensor([[1, 4, 9, 9]]))
    torch.testing.assert_close(a[:, :2], b[:, :2])


def test_run_with_cache_returns_cross_attention_maps():
    model = make()
    src, tgt = torch.tensor([[3, 4, 5, 0]]), torch.tensor([[1, 4]])
    logits, cache = model.run_with_cache(src, tgt)
    weights = cache["decoder.1.cross_attn.weights"]
    assert weights.shape == (1, 2, 2, 4)
    assert (weights[..., 3] == 0).all()  # the padded source token gets no attention
    assert cache["encoder.0.self_attn.weights"].shape == (1, 2, 4, 4)
    torch.testing.assert_close(cache["logits"], logits)


def test_learns_to_copy_and_translates_greedily():
    """A reversal task small enough to learn in a second: the
    model must reach exact output."""
    model = make(seed=0, n_embd=32, n_head=4, block_size=8)
    g = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(250):
        src = torch.randint(3, 12, (32, 4), generator=g)
        out = src.flip(1)
        tgt_in = torch.cat([torch.ones(32, 1, dtype=torch.long), out], dim=1)
        targets = torch.cat([out, torch.full((32, 1), 2)], dim=1)
        _, loss = model(src, tgt_in, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    src = torch.tensor([[3, 5, 7, 9], [11, 4, 6, 8]])
    translated = model.translate(src)
    assert translated[:, 0].tolist() == [1, 1]
    assert translated[:, 1:6].tolist() == [[9, 7, 5, 3, 2], [8, 6, 4, 11, 2]]


def test_translate_pads_finished_rows_and_respects_max_len():
    model = make()
    out = model.translate(torch.tensor([[3, 4, 5]]), max_len=4)
    assert out.shape[1] <= 4 and out[0, 0] == 1
    with pytest.raises(ValueError, match="max_len"):
        model.translate(torch.tensor([[3]]), max_len=11)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(pad_id=1), "three different ids"),
        (dict(eos_id=12), "eos_id=12 must be a token id"),
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(n_embd=10, n_head=4), "not divisible"),
    ],
)
def test_invalid_configs(overrides, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqConfig(**{**SMALL, **overrides})


def test_bad_source_ids():
    model = make()
    with pytest.raises(ValueError, match="source token ids must be < vocab_size=15"):
        model(torch.tensor([[15]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match="source has 11 tokens but block_size=10"):
        model(torch.ones(1, 11, dtype=torch.long), torch.tensor([[1]]))
