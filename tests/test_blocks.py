"""Post-LN encoder and decoder layers against
nn.TransformerEncoderLayer/DecoderLayer."""

import pytest
import torch
from torch import nn

from tinytx import Block, DecoderBlock, EncoderBlock, padding_mask
from tinytx.nn.attention import causal_mask

C, H, HIDDEN = 16, 4, 32


def copy_attention(ours, theirs):
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * C : (i + 1) * C])
            proj.bias.copy_(theirs.in_proj_bias[i * C : (i + 1) * C])
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())


def copy_ffn_and_norms(ours, theirs, norm_pairs):
    ours.ffn.fc_in.load_state_dict(theirs.linear1.state_dict())
    ours.ffn.fc_out.load_state_dict(theirs.linear2.state_dict())
    for our_norm, their_norm in norm_pairs:
        our_norm.load_state_dict(their_norm.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_matches_torch(norm_first):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(
        C, H, HIDDEN, dropout=0.0, batch_first=True, norm_first=norm_first
    ).eval()
    ours = EncoderBlock(
        C, H, ffn_hidden=HIDDEN, norm="pre" if norm_first else "post"
    ).eval()
    copy_attention(ours.self_attn, theirs.self_attn)
    copy_ffn_and_norms(
        ours, theirs, [(ours.ln_attn, theirs.norm1), (ours.ln_ffn, theirs.norm2)]
    )
    src_ids = torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]])
    x = torch.randn(2, 5, C)
    expected = theirs(x, src_key_padding_mask=src_ids == 0)
    out = ours(x, mask=padding_mask(src_ids, 0))
    # torch's fast path fills padded query rows with zeros; compare the real tokens.
    real = src_ids != 0
    torch.testing.assert_close(out[real], expected[real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_matches_torch(norm_first):
    torch.manual_seed(1)
    theirs = nn.TransformerDecoderLayer(
        C, H, HIDDEN, dropout=0.0, batch_first=True, norm_first=norm_first
    ).eval()
    ours = DecoderBlock(
        C, H, ffn_hidden=HIDDEN, norm="pre" if norm_first else "post"
    ).eval()
    copy_attention(ours.self_attn, theirs.self_attn)
    copy_attention(ours.cross_attn, theirs.multihead_attn)
    copy_ffn_and_norms(
        ours,
        theirs,
        [
            (ours.ln_self, theirs.norm1),
            (ours.ln_cross, theirs.norm2),
            (ours.ln_ffn, theirs.norm3),
        ],
    )
    src_ids = torch.tensor([[4, 5, 0, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    x, memory = torch.randn(2, 4, C), torch.randn(2, 6, C)
    expected = theirs(
        x, memory, tgt_mask=~causal_mask(4), memory_key_padding_mask=src_ids == 0
    )
    out = ours(x, memory, memory_mask=padding_mask(src_ids, 0))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_gpt_block_records_named_activations_and_is_causal():
    torch.manual_seed(2)
    block = Block(C, H)
    x = torch.randn(1, 6, C)
    record = {}
    out = block(x, record=record)
    assert set(record) == {
        "resid_pre",
        "attn.weights",
        "attn.out",
        "resid_mid",
        "ffn.hidden",
        "ffn.out",
        "resid_post",
    }
    assert record["attn.weights"].shape == (1, H, 6, 6)
    torch.testing.assert_close(record["resid_post"], out)
    changed = x.clone()
    changed[:, 4:] += 1.0
    torch.testing.assert_close(block(changed)[:, :4], out[:, :4])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_block_without_residual_drops_the_identity_path(norm):
    torch.manual_seed(3)
    with_res, without = Block(C, H, norm=norm), Block(C, H, norm=norm, residual=False)
    without.load_state_dict(with_res.state_dict())
    x = torch.randn(1, 3, C)
    record = {}
    without(x, record=record)
    if norm == "pre":
        torch.testing.assert_close(record["resid_mid"], record["attn.out"])
    else:
        torch.testing.assert_close(
            record["resid_mid"], without.ln_attn(record["attn.out"])
        )
    assert not torch.allclose(with_res(x), without(x))
