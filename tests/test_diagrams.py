"""The chapters' diagrams render, fit the book's column, use readable text, and show
what the package computes (shapes from the config, merges from the tokenizer)."""

import io
import struct

import matplotlib
import pytest

import tinytx
from tinytx.teach import diagrams

matplotlib.use("Agg")

GPT = tinytx.GPTConfig(vocab_size=65, block_size=128, n_layer=6, n_head=6, n_embd=192)
SEQ2SEQ = tinytx.Seq2SeqConfig(
    src_vocab_size=33, tgt_vocab_size=13, block_size=16, n_layer=2, n_head=4, n_embd=64
)
TEXT = "the brother and the other brothers gathered together; " * 40


@pytest.fixture(scope="module")
def bpe():
    return tinytx.BPETokenizer.train(TEXT, 275)


def rendered(fig):
    """(width, height) in pixels of the PNG the book shows, and every text's content."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    width, height = struct.unpack(">II", buffer.getvalue()[16:24])
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
    matplotlib.pyplot.close(fig)
    return (width, height), texts


def all_diagrams(bpe):
    return {
        "bpe": diagrams.bpe_merge_tree(bpe, " brothers"),
        "sinusoid": diagrams.sinusoid_pair_circle(64, 6),
        "heads": diagrams.attention_heads_diagram(2, 16, 64, 4),
        "gpt": diagrams.gpt_diagram(GPT),
        "encoder-decoder": diagrams.encoder_decoder_diagram(SEQ2SEQ),
    }


def test_every_diagram_renders_at_column_width_with_readable_text(bpe):
    for name, fig in all_diagrams(bpe).items():
        (width, _), texts = rendered(fig)
        assert 600 <= width <= 700, f"{name}: {width} px, the column shows about 680"
        small = [
            (t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 9
        ]
        assert not small, f"{name}: text under 9 pt: {small}"


def test_the_shapes_come_from_the_config(bpe):
    _, texts = rendered(diagrams.gpt_diagram(GPT))
    words = " ".join(t.get_text() for t in texts)
    for shape in ["(B, T)", "(B, T, 192)", "(B, T, 65)", "(65, 192)", "(128, 192)"]:
        assert shape in words, shape
    assert "192 → 768 → 192, gelu" in words and "6 heads of 32" in words
    _, texts = rendered(diagrams.attention_heads_diagram(2, 16, 64, 4))
    words = " ".join(t.get_text() for t in texts)
    for shape in ["(2, 16, 64)", "(2, 16, 4, 16)", "(2, 4, 16, 16)", "√16"]:
        assert shape in words, shape
    _, texts = rendered(diagrams.encoder_decoder_diagram(SEQ2SEQ))
    words = " ".join(t.get_text() for t in texts)
    for shape in ["(B, S, 64)", "(B, T, 13)", "(33, 64)", "encoder × 2", "decoder × 2"]:
        assert shape in words, shape


def test_the_merge_tree_replays_encode(bpe):
    for word in [" brothers", " together", " the", "x"]:
        ids = list(word.encode("utf-8"))
        for left, right, new_id in diagrams.bpe_merge_steps(bpe, word):
            at = next(i for i in range(len(ids) - 1) if ids[i : i + 2] == [left, right])
            assert bpe.vocab[new_id] == bpe.vocab[left] + bpe.vocab[right]
            while at is not None:
                ids[at : at + 2] = [new_id]
                at = next(
                    (i for i in range(len(ids) - 1) if ids[i : i + 2] == [left, right]),
                    None,
                )
        assert ids == bpe.encode(word), word
    _, texts = rendered(diagrams.bpe_merge_tree(bpe, " brothers"))
    title = next(t.get_text() for t in texts if "→" in t.get_text())
    assert f"9 bytes → {len(bpe.encode(' brothers'))} token" in title


def test_the_sinusoid_points_are_the_table():
    fig = diagrams.sinusoid_pair_circle(64, 6, positions=8)
    table = tinytx.sinusoidal_positions(8, 64)
    tips = [a.xy for a in fig.axes[0].texts if hasattr(a, "xy") and a.xy != (0, 0)]
    assert len(tips) == 8
    for pos, (x, y) in enumerate(tips):
        assert (x, y) == pytest.approx((table[pos, 13].item(), table[pos, 12].item()))
    matplotlib.pyplot.close(fig)


def test_bad_sizes_get_clear_errors():
    with pytest.raises(ValueError, match="pair must be in 0..31"):
        diagrams.sinusoid_pair_circle(64, 32)
    with pytest.raises(ValueError, match="multiple of n_head"):
        diagrams.attention_heads_diagram(2, 16, 60, 8)


def test_gpt_diagram_draws_the_modern_switches():
    """RoPE has no position table to add, RMSNorm replaces every LayerNorm, SwiGLU's
    hidden size is swiglu_hidden(C) for two matrices, and GQA's key/value heads show."""
    from tinytx.nn.ffn import swiglu_hidden

    modern = tinytx.GPTConfig(
        vocab_size=65,
        block_size=128,
        n_layer=6,
        n_head=6,
        n_embd=192,
        positional="rope",
        normalization="rmsnorm",
        activation="swiglu",
        n_kv_head=2,
    )
    _, texts = rendered(diagrams.gpt_diagram(modern))
    words = " ".join(t.get_text() for t in texts)
    assert f"192 → 2 × {swiglu_hidden(192)} → 192, swiglu" in words
    assert "6 q, 2 KV heads of 32, RoPE" in words
    assert "RoPE inside attention" in words and "positions (" not in words
    assert "final RMSNorm" in words and "LayerNorm" not in words
    _, texts = rendered(diagrams.gpt_diagram(GPT))
    assert "learned positions" in " ".join(t.get_text() for t in texts)
