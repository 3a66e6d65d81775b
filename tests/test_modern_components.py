"""The components of chapter 11 against their definitions and PyTorch: rotary
positions, RMSNorm, the SwiGLU feed-forward network and grouped-query attention."""

import math

import pytest
import torch
from torch import nn

from tinytx import (
    FeedForward,
    MultiHeadAttention,
    RMSNorm,
    RotaryPositionalEmbedding,
    SwiGLUFeedForward,
    causal_mask,
    sinusoidal_positions,
)
from tinytx.nn.attention import KVCache
from tinytx.nn.ffn import swiglu_hidden
from tinytx.nn.norm import rms_norm
from tinytx.nn.positional import apply_rotary

# ---- rotary positions ------------------------------------------------------------

D_HEAD = 16
ROTARY = RotaryPositionalEmbedding(block_size=128, d_head=D_HEAD)


def rotate(x: torch.Tensor, position: int) -> torch.Tensor:
    """x (..., d) rotated as a token at `position`."""
    cos, sin = ROTARY(torch.tensor([position]))
    return apply_rotary(x[..., None, :], cos, sin)[..., 0, :]


def offset_gap(rotate_at) -> float:
    """Largest change of the score q.k when both positions move by the same shift."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 50, D_HEAD, generator=g)
    gap = 0.0
    for m, n, shift in [(0, 0, 7), (3, 1, 20), (1, 9, 50), (40, 2, 60), (5, 5, 100)]:
        score = (rotate_at(q, m) * rotate_at(k, n)).sum(-1)
        shifted = (rotate_at(q, m + shift) * rotate_at(k, n + shift)).sum(-1)
        gap = max(gap, (score - shifted).abs().max().item())
    return gap


def test_rope_scores_depend_only_on_the_offset_of_the_positions():
    # float32 angles of up to ~100 radians carry rounding near 1e-5
    tolerance = 1e-4
    assert offset_gap(rotate) < tolerance

    def absolute(x, position):  # the sinusoid added instead, as in chapter 03
        return x + sinusoidal_positions(128, D_HEAD)[position]

    def without_sine(x, position):  # half the rotation forgotten: x * cos only
        cos, sin = ROTARY(torch.tensor([position]))
        return apply_rotary(x[..., None, :], cos, 0 * sin)[..., 0, :]

    assert offset_gap(absolute) > 100 * tolerance
    assert offset_gap(without_sine) > 100 * tolerance


def test_rope_preserves_every_pairs_norm():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 128, D_HEAD, generator=g)  # (B, H, T, d_head)
    cos, sin = ROTARY(torch.arange(128))
    rotated = apply_rotary(x, cos, sin)
    pair_norms = x.unflatten(-1, (-1, 2)).norm(dim=-1)
    torch.testing.assert_close(rotated.unflatten(-1, (-1, 2)).norm(dim=-1), pair_norms)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    assert not torch.allclose(rotated[..., 1:, :], x[..., 1:, :])  # it did turn them
    # the default float32 tolerance sees a cosine 1e-4 too large
    with pytest.raises(AssertionError):
        stretched = apply_rotary(x, cos * (1 + 1e-4), sin)
        torch.testing.assert_close(stretched.norm(dim=-1), x.norm(dim=-1))


def rotation_matrix(position: int, d: int) -> torch.Tensor:
    """The (d, d) block-diagonal matrix of RoFormer's eq. 15, in float64: a 2-D
    rotation by position * theta_i acting on the pair (2i, 2i+1)."""
    matrix = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d // 2):
        angle = position * 10000.0 ** (-2 * i / d)
        c, s = math.cos(angle), math.sin(angle)
        matrix[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, -s], [s, c]])
    return matrix


def test_rope_turns_each_pair_by_position_times_the_sinusoidal_frequency():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, D_HEAD, generator=g)
    tolerance = dict(atol=2e-5, rtol=0)  # float32 angles up to 127 rad
    for position in [0, 1, 2, 17, 127]:
        expected = x.double() @ rotation_matrix(position, D_HEAD).T
        torch.testing.assert_close(rotate(x, position).double(), expected, **tolerance)
    # GPT-NeoX's "rotate half" pairs i with i + d/2: the same idea, not this layout
    half = D_HEAD // 2
    cos, sin = ROTARY(torch.tensor([17]))
    first, second = x[:, :half], x[:, half:]
    rotate_half = torch.cat(
        (first * cos - second * sin, first * sin + second * cos), dim=-1
    )
    with pytest.raises(AssertionError):
        expected = x.double() @ rotation_matrix(17, D_HEAD).T
        torch.testing.assert_close(rotate_half.double(), expected, **tolerance)


def test_rope_frequencies_are_the_sinusoidal_tables():
    table = sinusoidal_positions(128, D_HEAD)  # sin in even columns, cos in odd
    assert torch.equal(ROTARY.sin, table[:, 0::2])
    assert torch.equal(ROTARY.cos, table[:, 1::2])
    # the angle at position 1 is the frequency theta_i = 1 / 10000^(2i/d)
    theta = torch.atan2(ROTARY.sin[1], ROTARY.cos[1]).double()
    expected = 10000.0 ** (-torch.arange(0, D_HEAD, 2, dtype=torch.float64) / D_HEAD)
    torch.testing.assert_close(theta, expected, rtol=1e-6, atol=0)
    assert ROTARY.state_dict() == {}  # nothing learned, nothing saved


# ---- RMSNorm ---------------------------------------------------------------------


def test_rmsnorm_is_the_formula():
    x = torch.tensor([[3.0, 4.0], [1e-3, 0.0]])
    mean_squares = torch.tensor([[12.5], [5e-7]])
    expected = x / torch.sqrt(mean_squares + 1e-5)
    torch.testing.assert_close(RMSNorm(2)(x), expected)
    torch.testing.assert_close(rms_norm(x, None), expected)
    norm = RMSNorm(2)
    assert [name for name, _ in norm.named_parameters()] == ["weight"]  # no bias
    assert norm.eps == 1e-5


@pytest.mark.parametrize("implementation", ["module", "written out"])
def test_rmsnorm_matches_torch_forward_and_backward(implementation):
    torch.manual_seed(0)
    ours, theirs = RMSNorm(12), nn.RMSNorm(12, eps=1e-5)
    with torch.no_grad():
        ours.weight.normal_()
        theirs.weight.copy_(ours.weight)
    # a small scale too, where eps matters
    x = torch.cat([torch.randn(3, 5, 12) * 4 + 1, torch.randn(1, 5, 12) * 1e-3])
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = ours(x_ours) if implementation == "module" else rms_norm(x_ours, ours.weight)
    expected = theirs(x_theirs)
    torch.testing.assert_close(y, expected)
    upstream = torch.randn_like(y)
    (y * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)
    # torch's default eps (float32's machine epsilon) gives another result on the
    # small rows, and the comparison sees it
    default_eps = nn.RMSNorm(12)
    with torch.no_grad():
        default_eps.weight.copy_(ours.weight)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(y, default_eps(x))


# ---- SwiGLU ----------------------------------------------------------------------


def test_swiglu_is_w_out_of_silu_gate_times_up():
    torch.manual_seed(0)
    ffn = SwiGLUFeedForward(16, hidden=24)
    x = torch.randn(2, 5, 16)
    gate = x @ ffn.fc_gate.weight.T + ffn.fc_gate.bias
    up = x @ ffn.fc_in.weight.T + ffn.fc_in.bias
    hidden = gate * torch.sigmoid(gate) * up  # SiLU(z) = z * sigmoid(z)
    expected = hidden @ ffn.fc_out.weight.T + ffn.fc_out.bias
    record = {}
    torch.testing.assert_close(ffn(x, record=record), expected)
    torch.testing.assert_close(record["hidden"], hidden)
    assert SwiGLUFeedForward(16, hidden=24, bias=False).fc_gate.bias is None


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_embd", [8, 16, 32, 48, 64, 96, 128, 192, 256, 384])
def test_swiglu_default_hidden_keeps_the_4x_layers_parameter_count(n_embd, bias):
    hidden = swiglu_hidden(n_embd)
    assert hidden % 8 == 0 and abs(hidden - 8 * n_embd / 3) <= 4
    gelu = count(FeedForward(n_embd, activation="gelu", bias=bias))
    swiglu = count(SwiGLUFeedForward(n_embd, bias=bias))
    per_hidden_unit = 3 * n_embd + (2 if bias else 0)  # a row of W_gate, W_up, W_out
    assert abs(swiglu - gelu) <= 4 * per_hidden_unit  # within the rounding to 8
    # the bound is tight enough to see a SwiGLU left at 4x (a third more weights)
    wide = count(SwiGLUFeedForward(n_embd, hidden=4 * n_embd, bias=bias))
    assert abs(wide - gelu) > 4 * per_hidden_unit


def test_swiglu_hidden_sizes_of_common_widths():
    assert [swiglu_hidden(c) for c in (16, 64, 128, 192, 768)] == [
        40,
        168,
        344,
        512,
        2048,
    ]


def test_feed_forward_points_to_the_gated_class():
    with pytest.raises(ValueError, match="SwiGLUFeedForward"):
        FeedForward(8, activation="swiglu")


# ---- grouped-query attention -----------------------------------------------------


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    target.load_state_dict(source.state_dict())


@pytest.mark.parametrize("need_weights", [False, True])
def test_gqa_with_as_many_kv_heads_as_query_heads_is_multi_head_attention(
    need_weights,
):
    torch.manual_seed(0)
    grouped = MultiHeadAttention(16, 4, n_kv_head=4)
    theirs = nn.MultiheadAttention(16, 4, batch_first=True)
    today = MultiHeadAttention(16, 4)
    with torch.no_grad():
        for i, proj in enumerate((grouped.q_proj, grouped.k_proj, grouped.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * 16 : (i + 1) * 16])
            proj.bias.copy_(theirs.in_proj_bias[i * 16 : (i + 1) * 16])
        grouped.out_proj.load_state_dict(theirs.out_proj.state_dict())
    copy_weights(grouped, today)
    x = torch.randn(2, 7, 16)
    expected, expected_weights = theirs(
        x, x, x, attn_mask=~causal_mask(7), average_attn_weights=False
    )
    out, weights = grouped(x, causal=True, need_weights=need_weights)
    torch.testing.assert_close(out, expected)
    assert torch.equal(out, today(x, causal=True, need_weights=need_weights)[0])
    if need_weights:
        torch.testing.assert_close(weights, expected_weights)


def as_multi_head(grouped: MultiHeadAttention) -> MultiHeadAttention:
    """The MultiHeadAttention that gives query head h the key/value weights of
    grouped's head h // group: grouped-query attention spelled out."""
    full = MultiHeadAttention(grouped.n_head * grouped.d_head, grouped.n_head)
    d, group = grouped.d_head, grouped.n_head // grouped.n_kv_head
    with torch.no_grad():
        full.q_proj.load_state_dict(grouped.q_proj.state_dict())
        full.out_proj.load_state_dict(grouped.out_proj.state_dict())
        for shared, repeated in (
            (grouped.k_proj, full.k_proj),
            (grouped.v_proj, full.v_proj),
        ):
            for h in range(grouped.n_head):
                rows = slice((h // group) * d, (h // group + 1) * d)
                repeated.weight[h * d : (h + 1) * d] = shared.weight[rows]
                repeated.bias[h * d : (h + 1) * d] = shared.bias[rows]
    return full


@pytest.mark.parametrize("n_kv_head", [1, 2])
@pytest.mark.parametrize("need_weights", [False, True])
def test_gqa_shares_each_kv_head_with_its_group_of_query_heads(n_kv_head, need_weights):
    torch.manual_seed(0)
    grouped = MultiHeadAttention(16, 4, n_kv_head=n_kv_head)
    assert grouped.k_proj.weight.shape == (n_kv_head * 4, 16)
    x = torch.randn(2, 7, 16)
    out, weights = grouped(x, causal=True, need_weights=need_weights)
    expected, expected_weights = as_multi_head(grouped)(
        x, causal=True, need_weights=need_weights
    )
    torch.testing.assert_close(out, expected)
    if need_weights:
        assert weights.shape == (2, 4, 7, 7)
        torch.testing.assert_close(weights, expected_weights)
    if n_kv_head == 2:  # heads (0, 1) | (2, 3) share, not (0, 2) | (1, 3)
        interleaved = as_multi_head(grouped)
        with torch.no_grad():
            for proj in (interleaved.k_proj, interleaved.v_proj):
                proj.weight.copy_(proj.weight.view(4, 4, 16)[[0, 2, 1, 3]].view(16, 16))
                proj.bias.copy_(proj.bias.view(4, 4)[[0, 2, 1, 3]].view(16))
        assert not torch.allclose(interleaved(x, causal=True)[0], out, atol=1e-3)


def test_gqa_caches_only_its_kv_heads_and_extends_like_a_full_pass():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4, n_kv_head=2)
    x = torch.randn(2, 6, 16)
    full, _ = attn(x, causal=True)
    cache = KVCache()
    steps = [attn(x[:, :4], causal=True, kv_cache=cache)[0]]
    steps += [attn(x[:, t : t + 1], causal=True, kv_cache=cache)[0] for t in (4, 5)]
    assert cache.keys.shape == cache.values.shape == (2, 2, 6, 4)  # (B, H_kv, T, d)
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_rotary_angles_go_to_self_attention_only():
    attn = MultiHeadAttention(16, 4)
    rotary = RotaryPositionalEmbedding(8, 4)(torch.arange(3))
    with pytest.raises(ValueError, match="self-attention"):
        attn(torch.randn(1, 3, 16), context=torch.randn(1, 3, 16), rotary=rotary)


def test_gqa_module_needs_a_divisible_number_of_heads():
    with pytest.raises(ValueError, match="n_head=4 must be a multiple of n_kv_head=3"):
        MultiHeadAttention(16, 4, n_kv_head=3)
