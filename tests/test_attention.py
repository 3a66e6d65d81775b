"""Attention against PyTorch's own: the fused kernel and nn.MultiheadAttention."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tinytx import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)


def qkv(B=2, H=3, T=5, S=5, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, H, T, d, generator=g),
        torch.randn(B, H, S, d, generator=g),
        torch.randn(B, H, S, d, generator=g),
    )


def test_causal_mask_is_lower_triangular():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [
        [True, False, False, False],
        [True, True, False, False],
        [True, True, True, False],
        [True, True, True, True],
    ]


def test_padding_mask_hides_pad_keys():
    ids = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    mask = padding_mask(ids, pad_id=0)
    assert mask.shape == (2, 1, 1, 4)
    assert mask[:, 0, 0].tolist() == [
        [True, True, False, False],
        [True, False, False, False],
    ]


def test_sdpa_matches_pytorch_unmasked():
    q, k, v = qkv()
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))


def test_sdpa_matches_pytorch_causal():
    q, k, v = qkv()
    out, weights = scaled_dot_product_attention(q, k, v, causal=True)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, is_causal=True)
    )
    assert (weights.triu(diagonal=1) == 0).all()


def test_sdpa_matches_pytorch_padded():
    q, k, v = qkv(T=4, S=6)
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [3, 4, 5, 6, 7, 0]])
    mask = padding_mask(ids, pad_id=0)[:, :, :, :]  # (B, 1, 1, S)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    )
    assert (weights[0, :, :, 3:] == 0).all() and (weights[1, :, :, 5:] == 0).all()


def test_sdpa_gives_zeros_to_a_query_with_no_visible_key_as_pytorch_does():
    q, k, v = qkv(T=4, S=4)
    left_padded = torch.tensor(
        [[0, 0, 7, 3]]
    )  # pads first: queries 0 and 1 see only pads
    mask = causal_mask(4) & padding_mask(left_padded, pad_id=0)  # (1, 1, 4, 4)
    q, k, v = (t.requires_grad_(True) for t in (q, k, v))
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert (weights[..., :2, :] == 0).all() and (out[..., :2, :] == 0).all()
    torch.testing.assert_close(
        weights[..., 2:, :].sum(-1), torch.ones_like(weights[..., 2:, 0])
    )
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    )
    out.sum().backward()
    assert all(
        t.grad.isfinite().all() for t in (q, k, v)
    )  # no nan reaches the gradients


def test_sdpa_rejects_bad_masks():
    q, k, v = qkv()
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(5, 5))
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="as many queries as keys"):
        scaled_dot_product_attention(*qkv(T=3, S=5), causal=True)


def copy_from_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    C = theirs.embed_dim
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * C : (i + 1) * C])
            proj.bias.copy_(theirs.in_proj_bias[i * C : (i + 1) * C])
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        ours.out_proj.bias.copy_(theirs.out_proj.bias)


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_self_attention_matches_torch(need_weights):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(16, 4, batch_first=True)
    ours = MultiHeadAttention(16, 4)
    copy_from_torch(ours, theirs)
    x = torch.randn(2, 7, 16)
    expected, expected_weights = theirs(
        x, x, x, attn_mask=~causal_mask(7), average_attn_weights=False
    )
    out, weights = ours(x, causal=True, need_weights=need_weights)
    torch.testing.assert_close(out, expected)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_cross_attention_with_padding_matches_torch(need_weights):
    torch.manual_seed(1)
    theirs = nn.MultiheadAttention(12, 3, batch_first=True)
    ours = MultiHeadAttention(12, 3)
    copy_from_torch(ours, theirs)
    x, memory = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    src = torch.tensor([[1, 2, 3, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    expected, _ = theirs(x, memory, memory, key_padding_mask=src == 0)
    out, _ = ours(
        x, context=memory, mask=padding_mask(src, 0), need_weights=need_weights
    )
    torch.testing.assert_close(out, expected)


def test_fused_and_explicit_paths_agree_with_mask_and_causal():
    torch.manual_seed(2)
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    mask = padding_mask(torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]), 0)
    fused, _ = attn(x, mask=mask, causal=True)
    explicit, _ = attn(x, mask=mask, causal=True, need_weights=True)
    torch.testing.assert_close(fused, explicit)


@settings(max_examples=30, deadline=None)
@given(
    T=st.integers(1, 8),
    H=st.sampled_from([1, 2, 4]),
    seed=st.integers(0, 10_000),
    causal=st.booleans(),
)
def test_attention_rows_sum_to_one_and_masked_weights_are_zero(T, H, seed, causal):
    q, k, v = qkv(B=1, H=H, T=T, S=T, d=4, seed=seed)
    _, weights = scaled_dot_product_attention(q, k, v, causal=causal)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, H, T))
    if causal:
        assert (weights.masked_select(~causal_mask(T)) == 0).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(2, 7))
def test_self_attention_without_positions_is_permutation_equivariant(seed, T):
    torch.manual_seed(seed)
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(1, T, 8)
    perm = torch.randperm(T)
    out, _ = attn(x)
    out_perm, _ = attn(x[:, perm])
    torch.testing.assert_close(out_perm, out[:, perm], rtol=1e-5, atol=1e-5)


def test_kv_cache_grows_past_its_capacity_and_keeps_every_token():
    cache, keys, values = KVCache(), torch.randn(2, 3, 40, 4), torch.randn(2, 3, 40, 4)
    assert len(cache) == 0 and cache.keys is None
    cache.append(
        keys[..., :5, :], values[..., :5, :]
    )  # a prefill of 5, then one token at a time
    for t in range(5, 40):
        got_keys, got_values = cache.append(
            keys[..., t : t + 1, :], values[..., t : t + 1, :]
        )
        assert torch.equal(got_keys, keys[..., : t + 1, :]) and torch.equal(
            got_values, values[..., : t + 1, :]
        )
    assert len(cache) == 40 and torch.equal(cache.keys, keys)
