"""LayerNorm, feed-forward, positions and embeddings against
their definitions and PyTorch."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from tinytx import (
    FeedForward,
    LayerNorm,
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    TokenEmbedding,
    sinusoidal_positions,
)
from tinytx.nn.norm import layer_norm


def test_layernorm_matches_torch_with_affine_parameters():
    torch.manual_seed(0)
    ours, theirs = LayerNorm(10), nn.LayerNorm(10)
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        theirs.weight.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)
    x = torch.randn(3, 4, 10) * 5 + 2
    torch.testing.assert_close(ours(x), theirs(x))


def test_layernorm_eps_sits_inside_the_square_root():
    x = torch.tensor([[1e-3, -1e-3]])  # variance 1e-6, comparable to eps
    expected = x / math.sqrt(1e-6 + 1e-5)
    torch.testing.assert_close(LayerNorm(2)(x), expected)
    torch.testing.assert_close(layer_norm(x, None, None), expected)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=2),
    d=st.integers(2, 64),
    bias=st.booleans(),
    scale=st.floats(0.01, 100),
    seed=st.integers(0, 1000),
)
@example(
    shape=[], d=3, bias=False, scale=0.01, seed=0
)  # the float32 case that once differed by 1.4e-5
def test_the_written_out_formula_equals_the_fused_module(shape, d, bias, scale, seed):
    # In float64: a row with a small spread around 1 loses float32 digits to x - mean,
    # and the two paths round differently; the formula, not the rounding, is under test.
    g = torch.Generator().manual_seed(seed)
    module = LayerNorm(d, bias=bias).double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(*shape, d, generator=g, dtype=torch.float64) * scale + 1
    torch.testing.assert_close(layer_norm(x, module.weight, module.bias), module(x))


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 6),
    d=st.integers(2, 32),
    scale=st.floats(0.1, 100),
    seed=st.integers(0, 1000),
)
def test_layernorm_rows_have_mean_zero_and_variance_one(rows, d, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, d, generator=g, dtype=torch.float64) * scale + 3
    y = LayerNorm(d).double()(x)
    torch.testing.assert_close(
        y.mean(-1), torch.zeros(rows, dtype=torch.float64), atol=1e-6, rtol=0
    )
    # Exactly var / (var + eps): 1 for any row whose spread dwarfs eps = 1e-5.
    var = x.var(-1, unbiased=False)
    torch.testing.assert_close(y.var(-1, unbiased=False), var / (var + 1e-5))


@pytest.mark.parametrize("activation, fn", [("relu", F.relu), ("gelu", F.gelu)])
def test_feed_forward_is_two_linears_around_the_activation(activation, fn):
    torch.manual_seed(0)
    ffn = FeedForward(8, activation=activation)
    assert ffn.fc_in.weight.shape == (32, 8)  # 4x expansion by default
    x = torch.randn(2, 3, 8)
    expected = (
        fn(x @ ffn.fc_in.weight.T + ffn.fc_in.bias) @ ffn.fc_out.weight.T
        + ffn.fc_out.bias
    )
    record = {}
    torch.testing.assert_close(ffn(x, record=record), expected)
    assert record["hidden"].shape == (2, 3, 32)


def test_feed_forward_rejects_unknown_activation():
    with pytest.raises(ValueError, match="relu"):
        FeedForward(8, activation="swish")


def test_sinusoidal_positions_follow_the_formula():
    T, d = 50, 16
    table = sinusoidal_positions(T, d)
    assert table.shape == (T, d)
    for pos in (0, 1, 17, 49):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert table[pos, 2 * i + 1].item() == pytest.approx(
                math.cos(angle), abs=1e-5
            )


def test_sinusoidal_positions_reject_odd_dimension():
    with pytest.raises(ValueError, match="even d"):
        sinusoidal_positions(10, 7)
    with pytest.raises(ValueError, match="positive int T"):
        sinusoidal_positions(0, 8)


def test_positional_modules_return_rows_of_their_tables():
    positions = torch.arange(5)
    sin = SinusoidalPositionalEmbedding(8, 4)
    torch.testing.assert_close(sin(positions), sinusoidal_positions(8, 4)[:5])
    assert list(sin.parameters()) == [] and "table" not in sin.state_dict()
    learned = LearnedPositionalEmbedding(8, 4)
    torch.testing.assert_close(learned(positions), learned.weight[:5])


def test_token_embedding_is_one_hot_times_matrix_and_scales():
    torch.manual_seed(0)
    emb = TokenEmbedding(10, 6)
    ids = torch.tensor([[1, 4, 4, 9]])
    one_hot = F.one_hot(ids, 10).float()
    torch.testing.assert_close(emb(ids), one_hot @ emb.weight)
    scaled = TokenEmbedding(10, 16, scale=True)
    torch.testing.assert_close(scaled(ids), scaled.weight[ids] * 4.0)


def test_embedding_gradients_are_bitwise_reproducible():
    """Plain indexing (weight[ids]) accumulates repeated ids' gradients in a
    thread-dependent order on the CPU, which made training runs differ in the
    last bits from run to run."""
    torch.manual_seed(0)
    emb = TokenEmbedding(65, 64)
    ids = torch.randint(0, 65, (32, 64))
    upstream = torch.randn(32, 64, 64)
    grads = []
    for _ in range(5):
        emb.weight.grad = None
        (emb(ids) * upstream).sum().backward()
        grads.append(emb.weight.grad.clone())
    assert all(torch.equal(grads[0], g) for g in grads[1:])
