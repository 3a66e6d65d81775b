"""The GPT with the switches of chapter 11 (rotary positions, RMSNorm, SwiGLU,
grouped-query attention): validated configs, shapes, parameter counts, cached
generation, checkpoints, and the page export that refuses them."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytx
from tinytx import GPT, GPTConfig, RMSNorm, Seq2SeqConfig
from tinytx.checkpoint import load, save
from tinytx.decode import Decoder
from tinytx.nn.attention import KVCache
from tinytx.nn.positional import apply_rotary
from tinytx.teach import export

SMALL = dict(vocab_size=20, block_size=12, n_layer=2, n_head=4, n_embd=16)
EVERY_SWITCH = dict(
    positional="rope", normalization="rmsnorm", activation="swiglu", n_kv_head=2
)
SWITCHES = {
    "rope": dict(positional="rope"),
    "rmsnorm": dict(normalization="rmsnorm"),
    "swiglu": dict(activation="swiglu"),
    "gqa": dict(n_kv_head=2),
    "mqa": dict(n_kv_head=1),
    "every switch": EVERY_SWITCH,
    "every switch, post-LN, no bias, untied": dict(
        EVERY_SWITCH, norm="post", bias=False, tie_weights=False, n_kv_head=1
    ),
}


def make_gpt(seed=0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**SMALL, **overrides}))


def sharpen(model: GPT, std: float = 0.3) -> GPT:
    """Redraw the matrices with a larger spread. GPT-2's N(0, 0.02) start makes
    attention almost uniform, so an untrained model's next tokens barely depend on
    positions or heads, and a cache that got them wrong could still write the same
    tokens (test_the_comparison_sees_a_decoder_that_forgets_to_rotate_keys)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(std=std)
    return model


# ---- configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (
            dict(n_kv_head=3),
            ValueError,
            r"n_head=4 is not a multiple of n_kv_head=3; .* pick n_kv_head from "
            r"\[1, 2, 4\]",
        ),
        (dict(n_kv_head=8), ValueError, "n_head=4 is not a multiple of n_kv_head=8"),
        (dict(n_kv_head=0), ValueError, "n_kv_head must be positive"),
        (dict(n_kv_head=2.0), TypeError, "n_kv_head must be an int"),
        (
            dict(normalization="batchnorm"),
            ValueError,
            "normalization must be 'layernorm' or 'rmsnorm', got 'batchnorm'",
        ),
        (
            dict(positional="rope", n_embd=36, n_head=4),
            ValueError,
            r"rotates pairs .* n_embd // n_head = 36 // 4 = 9; pick n_head from "
            r"\[1, 2, 3, 6, 9, 18\]",
        ),
        (
            dict(positional="rope", n_embd=9, n_head=3),
            ValueError,
            "= 3; make n_embd even",
        ),
        (
            dict(positional="alibi"),
            ValueError,
            "positional must be 'learned' or 'sinusoidal' or 'rope', got 'alibi'",
        ),
        (
            dict(activation="geglu"),
            ValueError,
            "activation must be 'relu' or 'gelu' or 'gelu_tanh' or 'swiglu'",
        ),
    ],
)
def test_invalid_switches_say_what_to_change(overrides, error, message):
    with pytest.raises(error, match=message):
        GPTConfig(**{**SMALL, **overrides})


def test_the_defaults_are_gpt2s():
    config = GPTConfig(**SMALL)
    assert (config.positional, config.normalization, config.activation) == (
        "learned",
        "layernorm",
        "gelu",
    )
    assert config.n_kv_head is None
    assert GPTConfig(**SMALL, n_kv_head=4).n_kv_head == 4  # n_head itself is valid


def test_seq2seq_keeps_the_2017_choices():
    sizes = dict(
        src_vocab_size=20, tgt_vocab_size=13, block_size=16, n_layer=1, n_head=2
    )
    with pytest.raises(ValueError, match="must be 'learned' or 'sinusoidal', got"):
        Seq2SeqConfig(**sizes, n_embd=16, positional="rope")
    with pytest.raises(ValueError, match="'gelu' or 'gelu_tanh', got 'swiglu'"):
        Seq2SeqConfig(**sizes, n_embd=16, activation="swiglu")
    for field in ("normalization", "n_kv_head"):
        assert field not in Seq2SeqConfig(**sizes, n_embd=16).to_dict()


# ---- the model's structure -------------------------------------------------------


def test_rope_has_no_position_table_and_no_embed_pos_activation():
    rope, learned = make_gpt(positional="rope"), make_gpt()
    assert not any("pos" in name for name in rope.state_dict())
    assert learned.num_parameters() - rope.num_parameters() == 12 * 16
    idx = torch.randint(0, 20, (2, 5))
    logits, cache = rope.run_with_cache(idx)
    assert "embed.pos" not in cache
    torch.testing.assert_close(cache["blocks.0.resid_pre"], cache["embed.tok"])
    assert cache["blocks.0.attn.weights"].shape == (2, 4, 5, 5)
    torch.testing.assert_close(logits, rope(idx)[0])  # explicit == fused attention


def test_a_rope_model_sees_only_relative_positions(monkeypatch):
    """Shifting every position by the same amount leaves a RoPE model's outputs
    unchanged: its scores depend on offsets only, in every layer."""
    import tinytx.nn.attention

    def shift_gap(model: GPT) -> float:
        idx = torch.randint(0, 20, (2, 10), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            at_zero, at_twenty = model._forward(idx), model._forward(idx, start_pos=20)
        return (at_zero - at_twenty).abs().max().item()

    tolerance = 1e-4  # logits of size ~4; float32 angles round near 1e-6
    rope = sharpen(make_gpt(positional="rope", block_size=32)).eval()
    assert shift_gap(rope) < tolerance
    assert shift_gap(sharpen(make_gpt(block_size=32)).eval()) > 100 * tolerance

    def rotate_queries_only(x, cos, sin):  # a planted mistake: keys left unrotated
        return apply_rotary(x, cos, sin) if x.shape[1] == 4 else x

    monkeypatch.setattr(tinytx.nn.attention, "apply_rotary", rotate_queries_only)
    grouped = sharpen(make_gpt(positional="rope", block_size=32, n_kv_head=2)).eval()
    assert shift_gap(grouped) > 100 * tolerance


def test_rope_gives_order_to_a_model_without_a_position_table():
    model = sharpen(make_gpt(positional="rope")).eval()
    idx = torch.tensor([[1, 2, 3, 4, 5]])
    swapped = torch.tensor([[2, 1, 3, 4, 5]])  # same tokens, two swapped
    assert not torch.allclose(model(idx)[0][:, -1], model(swapped)[0][:, -1])


def test_rmsnorm_replaces_every_norm():
    model = make_gpt(normalization="rmsnorm")
    norms = [model.final_norm] + [
        norm for block in model.blocks for norm in (block.ln_attn, block.ln_ffn)
    ]
    assert all(type(norm) is RMSNorm for norm in norms)
    assert not any(
        name.endswith("bias") and ("ln_" in name or "final_norm" in name)
        for name in model.state_dict()
    )
    post = make_gpt(normalization="rmsnorm", norm="post")
    assert type(post.blocks[0].ln_ffn) is RMSNorm
    assert isinstance(post.final_norm, torch.nn.Identity)


def test_swiglu_hidden_size_and_its_override():
    model = make_gpt(activation="swiglu")
    assert model.blocks[0].ffn.fc_gate.weight.shape == (40, 16)  # 8/3 * 16 -> 40
    _, cache = model.run_with_cache(torch.zeros(1, 3, dtype=torch.long))
    assert cache["blocks.1.ffn.hidden"].shape == (1, 3, 40)
    wide = make_gpt(activation="swiglu", ffn_hidden=24)
    assert wide.blocks[0].ffn.fc_in.weight.shape == (24, 16)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_kv_head", [2, 1])
def test_fewer_kv_heads_remove_their_projection_weights(n_kv_head, bias):
    full, grouped = make_gpt(bias=bias), make_gpt(bias=bias, n_kv_head=n_kv_head)
    C, C_kv = 16, n_kv_head * 4  # d_head = 4
    per_projection = C * (C - C_kv) + (C - C_kv if bias else 0)
    assert full.num_parameters() - grouped.num_parameters() == 2 * 2 * per_projection


@pytest.mark.parametrize("switch", SWITCHES)
def test_future_tokens_never_change_earlier_logits(switch):
    model = make_gpt(**SWITCHES[switch]).eval()
    idx = torch.randint(0, 20, (2, 10))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    logits, changed_logits = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(changed_logits[:, :6], logits[:, :6])
    assert not torch.allclose(changed_logits[:, 6:], logits[:, 6:])


def test_weights_path_and_fused_path_agree_with_every_switch():
    model = make_gpt(**EVERY_SWITCH).eval()
    idx = torch.randint(0, 20, (3, 12))
    logits, cache = model.run_with_cache(idx)
    torch.testing.assert_close(logits, model(idx)[0])
    assert cache["blocks.1.attn.weights"].shape == (3, 4, 12, 12)  # n_head heads


# ---- the KV cache and generation -------------------------------------------------


@pytest.mark.parametrize("n_kv_head", [4, 2, 1])
def test_the_caches_hold_only_the_kv_heads(n_kv_head):
    model = make_gpt(n_kv_head=n_kv_head, positional="rope").eval()
    caches = [KVCache() for _ in model.blocks]
    with torch.no_grad():
        model._forward(torch.zeros(3, 7, dtype=torch.long), kv_caches=caches)
    assert all(c.keys.shape == c.values.shape == (3, n_kv_head, 7, 4) for c in caches)
    decoder = Decoder(model, batch_size=3)
    # (n_layer, B, H_kv, block_size, d_head)
    assert decoder.cache.keys.shape == (2, 3, n_kv_head, 12, 4)
    assert decoder.cache.values.shape == decoder.cache.keys.shape


def generations(model: GPT, **kwargs) -> dict[str, torch.Tensor]:
    """40 tokens after a fixed prompt (past block_size=12), written three ways."""
    prompt = torch.randint(0, 20, (2, 3), generator=torch.Generator().manual_seed(3))
    runs = {}
    for name, options in {
        "recomputed": dict(use_cache=False),
        "explicit cache": dict(use_cache=True, fast=False),
        "fast cache": dict(use_cache=True, fast=True),
    }.items():
        torch.manual_seed(7)  # the same draws for every run
        runs[name] = model.generate(prompt, 40, **options, **kwargs)
    return runs


@pytest.mark.parametrize("switch", SWITCHES)
def test_cached_generation_equals_recomputation_past_block_size(switch):
    model = sharpen(make_gpt(**SWITCHES[switch]))
    for kwargs in [dict(temperature=0), dict(temperature=0.9, top_k=8)]:
        runs = generations(model, **kwargs)
        assert runs["recomputed"].shape == (2, 43)
        assert torch.equal(runs["explicit cache"], runs["recomputed"]), kwargs
        assert torch.equal(runs["fast cache"], runs["recomputed"]), kwargs


def test_the_comparison_sees_a_decoder_that_forgets_to_rotate_keys(monkeypatch):
    import tinytx.decode

    def rotate_queries_only(x, cos, sin):
        rotated = apply_rotary(x, cos, sin)
        return rotated if x.shape[1] == 4 else x  # keys have n_kv_head=2 heads

    monkeypatch.setattr(tinytx.decode, "apply_rotary", rotate_queries_only)
    model = sharpen(make_gpt(positional="rope", n_kv_head=2))
    for kwargs in [dict(temperature=0), dict(temperature=0.9, top_k=8)]:
        runs = generations(model, **kwargs)
        assert torch.equal(runs["explicit cache"], runs["recomputed"])
        assert not torch.equal(runs["fast cache"], runs["recomputed"])


@settings(max_examples=10, deadline=None)
@given(
    n_layer=st.integers(1, 2),
    n_head=st.sampled_from([1, 2, 4]),
    kv_share=st.sampled_from([1, 2, 4]),
    block_size=st.integers(1, 9),
    prompt_len=st.integers(1, 12),
    new=st.integers(0, 25),
    seed=st.integers(0, 1000),
)
def test_kv_cache_equals_recompute_for_random_modern_configs(
    n_layer, n_head, kv_share, block_size, prompt_len, new, seed
):
    model = make_gpt(
        seed=seed,
        **(EVERY_SWITCH | dict(n_kv_head=max(1, n_head // kv_share))),
        n_layer=n_layer,
        n_head=n_head,
        block_size=block_size,
        n_embd=8,
    )
    sharpen(model)
    prompt = torch.randint(0, 20, (1, prompt_len))
    runs = []
    for options in [dict(use_cache=False), dict(fast=False), dict(fast=True)]:
        torch.manual_seed(seed)
        runs.append(model.generate(prompt, new, **options))
    assert torch.equal(runs[1], runs[0]) and torch.equal(runs[2], runs[0])


# ---- checkpoints and the page export ---------------------------------------------


def test_a_checkpoint_round_trips_every_switch(tmp_path):
    model = make_gpt(**EVERY_SWITCH, tie_weights=False).eval()
    save(model, tmp_path / "modern.pt")
    loaded = load(tmp_path / "modern.pt")
    assert loaded.config == model.config
    assert loaded.state_dict().keys() == model.state_dict().keys()
    idx = torch.randint(0, 20, (2, 12))
    assert torch.equal(loaded(idx)[0], model(idx)[0])
    prompt = idx[:, :3]
    assert torch.equal(
        loaded.generate(prompt, 30, temperature=0),
        model.generate(prompt, 30, temperature=0),
    )


def test_a_checkpoint_saved_before_the_switches_still_loads(tmp_path):
    """Older checkpoints store configs without the new fields; they get the
    defaults, which build the model they were saved from."""
    model = make_gpt().eval()
    path = save(model, tmp_path / "old.pt")
    checkpoint = torch.load(path, weights_only=True)
    for field in ("normalization", "n_kv_head"):
        del checkpoint["config"][field]
    torch.save(checkpoint, path)
    loaded = load(path)
    assert loaded.config == model.config
    idx = torch.randint(0, 20, (2, 12))
    assert torch.equal(loaded(idx)[0], model(idx)[0])


@pytest.mark.parametrize(
    "switch, named",
    [
        (dict(positional="rope"), "positional='rope'"),
        (dict(normalization="rmsnorm"), "normalization='rmsnorm'"),
        (dict(activation="swiglu"), "activation='swiglu'"),
        (dict(n_kv_head=2), "n_kv_head=2"),
        (dict(n_kv_head=1), "n_kv_head=1"),
    ],
)
def test_the_page_export_refuses_each_switch_by_name(switch, named):
    with pytest.raises(ValueError, match=f"cannot run this GPT's {named} "):
        export.to_bytes(make_gpt(**switch), {})


def test_the_page_export_names_every_refused_setting_at_once():
    with pytest.raises(ValueError) as error:
        export.to_bytes(make_gpt(**EVERY_SWITCH), {})
    for named in ("positional", "normalization", "activation", "n_kv_head"):
        assert f"{named}=" in str(error.value)


def test_the_page_export_takes_as_many_kv_heads_as_query_heads():
    model = make_gpt(n_kv_head=4)  # plain multi-head attention, said explicitly
    back, _ = export.from_bytes(export.to_bytes(model, {}))
    assert back.config == model.config
    for (name, p), (_, q) in zip(model.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(q, p.half().float(), rtol=0, atol=0, msg=name)


def test_the_chapter_11_components_are_public():
    for name in ("RMSNorm", "SwiGLUFeedForward", "RotaryPositionalEmbedding"):
        assert name in tinytx.__all__ and hasattr(tinytx, name)
