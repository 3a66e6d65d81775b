"""The GPT model: shapes, causality, the activation cache, generation and bad input."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytx import GPT, GPTConfig
from tinytx.generate import context_window_start, filter_logits, sample_next

SMALL = dict(vocab_size=20, block_size=12, n_layer=2, n_head=2, n_embd=16)


def make_gpt(seed=0, **overrides):
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**SMALL, **overrides}))


def test_forward_shapes_and_loss():
    model = make_gpt()
    idx = torch.randint(0, 20, (3, 7))
    logits, loss = model(idx)
    assert logits.shape == (3, 7, 20) and loss is None
    _, loss = model(idx, torch.randint(0, 20, (3, 7)))
    assert loss.shape == () and torch.isfinite(loss)


def test_initial_loss_is_close_to_ln_vocab():
    model = make_gpt(vocab_size=65, n_embd=32)
    g = torch.Generator().manual_seed(0)
    idx, targets = (
        torch.randint(0, 65, (8, 12), generator=g),
        torch.randint(0, 65, (8, 12), generator=g),
    )
    _, loss = model(idx, targets)
    assert loss.item() == pytest.approx(math.log(65), abs=0.1)


@pytest.mark.parametrize(
    "norm, positional", [("pre", "learned"), ("post", "sinusoidal")]
)
def test_future_tokens_never_change_earlier_logits(norm, positional):
    model = make_gpt(norm=norm, positional=positional)
    idx = torch.randint(0, 20, (2, 10))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    logits, _ = model(idx)
    logits_changed, _ = model(changed)
    torch.testing.assert_close(logits_changed[:, :6], logits[:, :6])
    assert not torch.allclose(logits_changed[:, 6:], logits[:, 6:])


def test_run_with_cache_names_every_activation():
    model = make_gpt()
    idx = torch.randint(0, 20, (2, 5))
    logits, cache = model.run_with_cache(idx)
    torch.testing.assert_close(logits, model(idx)[0])
    for key in ["embed.tok", "embed.pos", "final_norm", "logits"]:
        assert key in cache
    for i in range(2):
        for key in [
            "resid_pre",
            "attn.weights",
            "attn.out",
            "ffn.hidden",
            "resid_post",
        ]:
            assert f"blocks.{i}.{key}" in cache
    assert cache["blocks.0.attn.weights"].shape == (2, 2, 5, 5)
    assert cache["blocks.1.ffn.hidden"].shape == (2, 5, 64)
    torch.testing.assert_close(
        cache["blocks.0.resid_pre"], cache["embed.tok"] + cache["embed.pos"]
    )
    torch.testing.assert_close(
        cache["blocks.1.resid_pre"], cache["blocks.0.resid_post"]
    )
    torch.testing.assert_close(cache["logits"], logits)


def test_tied_weights_share_one_matrix():
    tied, untied = make_gpt(), make_gpt(tie_weights=False)
    assert tied.head.weight is tied.tok_embed.weight
    assert untied.num_parameters() - tied.num_parameters() == 20 * 16


def test_context_window_rule():
    assert [context_window_start(n, 8) for n in (1, 8)] == [0, 0]
    # past block_size the window restarts at 4 tokens and grows back to 8
    windows = [n - context_window_start(n, 8) for n in range(9, 20)]
    assert windows == [4, 5, 6, 7, 8, 4, 5, 6, 7, 8, 4]
    assert all(n - context_window_start(n, 1) == 1 for n in range(2, 6))


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "rope"])
def test_cached_generation_equals_recomputation_past_block_size(positional):
    model = make_gpt(positional=positional)
    prompt = torch.randint(0, 20, (2, 3))
    for kwargs in [
        dict(temperature=0),
        dict(temperature=1.0),
        dict(top_k=5, top_p=0.9, temperature=0.8),
    ]:
        torch.manual_seed(7)
        cached = model.generate(prompt, 40, use_cache=True, **kwargs)
        torch.manual_seed(7)
        recomputed = model.generate(prompt, 40, use_cache=False, **kwargs)
        assert cached.shape == (2, 43)
        assert torch.equal(cached, recomputed), kwargs


@settings(max_examples=15, deadline=None)
@given(
    n_layer=st.integers(1, 3),
    n_head=st.sampled_from([1, 2, 4]),
    block_size=st.integers(1, 9),
    prompt_len=st.integers(1, 12),
    new=st.integers(0, 25),
    seed=st.integers(0, 1000),
)
def test_kv_cache_equals_recompute_for_random_configs(
    n_layer, n_head, block_size, prompt_len, new, seed
):
    model = make_gpt(
        seed=seed, n_layer=n_layer, n_head=n_head, block_size=block_size, n_embd=8
    )
    prompt = torch.randint(0, 20, (1, prompt_len))
    torch.manual_seed(seed)
    cached = model.generate(prompt, new, use_cache=True)
    torch.manual_seed(seed)
    assert torch.equal(cached, model.generate(prompt, new, use_cache=False))


def test_top_k_one_is_greedy_and_generation_restores_training_mode():
    model = make_gpt(dropout=0.1)
    model.train()
    prompt = torch.randint(0, 20, (1, 4))
    greedy = model.generate(prompt, 15, temperature=0)
    assert torch.equal(model.generate(prompt, 15, top_k=1), greedy)
    assert model.training


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [
        [False, False, True, True]
    ]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [
        [False, False, True, True]
    ]
    assert torch.isinf(filter_logits(logits, top_p=0.5)).tolist() == [
        [False, True, True, True]
    ]
    assert torch.isinf(filter_logits(logits, top_p=0.81)).tolist() == [
        [False, False, False, True]
    ]
    assert not torch.isinf(filter_logits(logits, top_p=1.0)).any()


def test_sampling_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    g = torch.Generator().manual_seed(0)
    counts = (
        torch.bincount(sample_next(logits, generator=g).flatten(), minlength=3) / 20000
    )
    torch.testing.assert_close(
        counts, torch.tensor([0.7, 0.2, 0.1]), atol=0.015, rtol=0
    )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(temperature=-0.5), ValueError, "temperature must be >= 0"),
        (dict(top_k=0), ValueError, "top_k must be >= 1"),
        (dict(top_k=2.5), TypeError, "top_k must be an int"),
        (dict(top_p=0.0), ValueError, r"top_p must be in \(0, 1\]"),
        (dict(top_p=1.5), ValueError, r"top_p must be in \(0, 1\]"),
        (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
    ],
)
def test_bad_sampling_arguments(kwargs, error, message):
    model = make_gpt()
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(error, match=message):
        model.generate(torch.zeros(1, 2, dtype=torch.long), **kwargs)


@pytest.mark.parametrize(
    "idx, error, message",
    [
        (torch.tensor([[1, 2, 20]]), ValueError, "must be < vocab_size=20, got 20"),
        (torch.tensor([[1, -3]]), ValueError, "must be >= 0, got -3"),
        (torch.tensor([[1.0, 2.0]]), TypeError, "must be integers"),
        ([[1, 2]], TypeError, "torch.Tensor"),
        (torch.zeros(1, 13, dtype=torch.long), ValueError, "block_size=12"),
        (torch.tensor([1, 2, 3]), ValueError, r"shape \(B, T\)"),
    ],
)
def test_bad_token_ids_get_clear_errors(idx, error, message):
    with pytest.raises(error, match=message):
        make_gpt()(idx)


def test_bad_targets_get_clear_errors():
    model = make_gpt()
    idx = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="targets must have shape"):
        model(idx, torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must be < vocab_size"):
        model(idx, torch.full((1, 4), 99))


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (dict(n_embd=30, n_head=4), ValueError, "not divisible by n_head=4"),
        (dict(vocab_size=0), ValueError, "vocab_size must be positive"),
        (dict(block_size=-5), ValueError, "block_size must be positive"),
        (dict(n_layer=2.0), TypeError, "n_layer must be an int"),
        (dict(dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
        (dict(dropout=-0.1), ValueError, r"dropout must be in \[0, 1\)"),
        (dict(norm="middle"), ValueError, "norm must be 'pre' or 'post'"),
        (
            dict(positional="rotary"),
            ValueError,
            "positional must be 'learned' or 'sinusoidal' or 'rope', got 'rotary'",
        ),
        (dict(activation="tanh"), ValueError, "activation must be 'relu' or 'gelu'"),
        (dict(normalization="layer"), ValueError, "'layernorm' or 'rmsnorm'"),
        (dict(n_kv_head=3), ValueError, "n_head=2 is not a multiple of n_kv_head=3"),
        (dict(residual="yes"), TypeError, "residual must be True or False"),
    ],
)
def test_invalid_configs_say_what_to_change(overrides, error, message):
    with pytest.raises(error, match=message):
        GPTConfig(**{**SMALL, **overrides})


def test_gpt_needs_a_config():
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT(dict(SMALL))
