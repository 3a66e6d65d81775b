"""tinytx.load_gpt2: a GPT-2 from Hugging Face computes the same logits and writes the
same tokens as a tinytx GPT; and activation="gelu_tanh", which it needs.

Everything runs offline on a small GPT-2 built here with random weights; nothing is
downloaded. GPT-2's own initialisation (weights N(0, 0.02), LayerNorms 1 and 0, biases
0) keeps every activation so small that GELU and its tanh approximation agree to
within 1e-5, and leaves every bias at zero, so the comparison would miss a wrong
activation or a misplaced bias. `hf_model` therefore draws every parameter at the
scale of a trained model (pre-activations of standard deviation about 1), and
`test_the_tolerance_catches_a_wrong_activation_or_layout` checks that 1e-5 still
catches both kinds of mistake.
"""

import dataclasses
import json
import math
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from tinytx import GPT, FeedForward, GPTConfig, load_gpt2

VOCAB, BLOCK, N_HEAD = 101, 32, 4
TOLERANCE = dict(atol=1e-5, rtol=1e-5)


def gpt2(**changes) -> GPT2LMHeadModel:
    """A small GPT-2 in eval mode, every parameter random at a trained model's scale."""
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=BLOCK,
        n_embd=48,
        n_layer=3,
        n_head=N_HEAD,
        bos_token_id=None,  # GPT-2's 50256 is outside this vocabulary
        eos_token_id=None,
        **changes,
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                param.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.1)
            else:  # (in, out) or (V, C): unit-variance outputs for unit inputs
                param.normal_(0.0, 1 / math.sqrt(param.shape[0]))
    return model


@pytest.fixture(scope="module")
def hf_model() -> GPT2LMHeadModel:
    return gpt2()


@pytest.fixture(scope="module")
def hf_folder(hf_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    hf_model.save_pretrained(folder)  # config.json and model.safetensors
    return folder


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, VOCAB, (4, BLOCK), generator=generator)


def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if isinstance(model, GPT):
            return model(ids)[0]
        return model(ids).logits


# ------------------------------------------------------------------ gelu_tanh


def test_gelu_tanh_is_the_formula_gpt2_was_trained_with():
    torch.manual_seed(0)
    ffn = FeedForward(8, activation="gelu_tanh")
    x = 3 * torch.randn(2, 5, 8)
    h = ffn.fc_in(x)
    gelu = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    torch.testing.assert_close(ffn(x), ffn.fc_out(gelu), atol=1e-6, rtol=1e-6)
    assert not torch.allclose(ffn(x), ffn.fc_out(F.gelu(h)), atol=1e-5)  # not exact


# ------------------------------------------------------------------ the same model


@pytest.mark.parametrize("form", ["model", "state dict", "folder"])
def test_logits_equal_the_hugging_face_models(form, hf_model, hf_folder, ids):
    source = {
        "model": hf_model,
        "state dict": hf_model.state_dict(),
        "folder": str(hf_folder),
    }[form]
    model = load_gpt2(source, n_head=N_HEAD if form == "state dict" else None)
    assert isinstance(model, GPT) and not model.training
    assert model.config == GPTConfig(
        vocab_size=VOCAB, block_size=BLOCK, n_layer=3, n_head=N_HEAD, n_embd=48,
        activation="gelu_tanh",
    )  # fmt: skip
    assert model.head.weight is model.tok_embed.weight
    expected = logits_of(hf_model, ids)
    torch.testing.assert_close(logits_of(model, ids), expected, **TOLERANCE)


def test_the_original_uploads_layout_loads_from_pytorch_model_bin(
    hf_model, hf_folder, ids, tmp_path
):
    """OpenAI's GPT-2 on the hub: names without "transformer.", a causal-mask buffer
    per layer stored as attn.bias, no lm_head, in a pytorch_model.bin."""
    weights = {
        key.removeprefix("transformer."): tensor
        for key, tensor in hf_model.state_dict().items()
        if key != "lm_head.weight"
    }
    for i in range(3):
        weights[f"h.{i}.attn.bias"] = torch.tril(torch.ones(BLOCK, BLOCK))[None, None]
        weights[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(weights, tmp_path / "pytorch_model.bin")
    shutil.copy(hf_folder / "config.json", tmp_path)
    model = load_gpt2(tmp_path)
    expected = logits_of(hf_model, ids)
    torch.testing.assert_close(logits_of(model, ids), expected, **TOLERANCE)


VARIANTS = {
    "wider FFN, untied head": dict(n_inner=100, tie_word_embeddings=False),
    "exact GELU": dict(activation_function="gelu"),
    "gelu_pytorch_tanh": dict(activation_function="gelu_pytorch_tanh"),
}
EXPECTED = {
    "wider FFN, untied head": dict(ffn_hidden=100, tie_weights=False),
    "exact GELU": dict(activation="gelu"),
    "gelu_pytorch_tanh": dict(activation="gelu_tanh"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_other_gpt2_configs_tinytx_can_compute_load_too(variant, ids):
    """A state dict does not say which activation it was trained with (load_gpt2
    assumes GPT-2's), so the activations are checked through the model only."""
    hf_model = gpt2(**VARIANTS[variant])
    sources = [(hf_model, None)]
    if "activation_function" not in VARIANTS[variant]:
        sources.append((hf_model.state_dict(), N_HEAD))
    for source, n_head in sources:
        model = load_gpt2(source, n_head=n_head)
        for name, value in EXPECTED[variant].items():
            assert getattr(model.config, name) == value
        torch.testing.assert_close(
            logits_of(model, ids), logits_of(hf_model, ids), **TOLERANCE
        )


def test_greedy_generation_writes_the_hugging_face_models_tokens(hf_model, ids):
    model = load_gpt2(hf_model)
    prompt = ids[:2, :5]
    expected = hf_model.generate(prompt, max_new_tokens=20, do_sample=False)
    assert expected.shape == (2, 25)
    assert torch.equal(model.generate(prompt, 20, temperature=0), expected)
    assert torch.equal(model.generate(prompt, 20, temperature=0, fast=False), expected)


def test_the_tolerance_catches_a_wrong_activation_or_layout(hf_model, ids):
    """The 1e-5 of these tests is honest only if a real mistake exceeds it: the exact
    GELU in place of GPT-2's approximation, or one square weight left untransposed."""
    model = load_gpt2(hf_model)
    expected = logits_of(hf_model, ids)
    exact_gelu = GPT(dataclasses.replace(model.config, activation="gelu")).eval()
    exact_gelu.load_state_dict(model.state_dict())
    untransposed = GPT(model.config).eval()
    state = model.state_dict()
    state["blocks.1.attn.out_proj.weight"] = state["blocks.1.attn.out_proj.weight"].t()
    untransposed.load_state_dict(state)
    for wrong in (exact_gelu, untransposed):
        with pytest.raises(AssertionError):
            torch.testing.assert_close(logits_of(wrong, ids), expected, **TOLERANCE)


def test_importing_tinytx_imports_neither_transformers_nor_safetensors():
    code = (
        "import sys, tinytx\n"
        "tinytx.load_gpt2\n"
        "print(sorted({'transformers', 'safetensors'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ clear errors


def test_without_safetensors_a_folder_says_what_to_install(hf_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match=r'pip install "tinytx\[gpt2\]"'):
        load_gpt2(hf_folder)


def test_a_state_dict_needs_n_head_and_a_model_needs_none(hf_model):
    with pytest.raises(ValueError, match="needs n_head= with a state dict"):
        load_gpt2(hf_model.state_dict())
    with pytest.raises(ValueError, match="n_head=2 contradicts the config's n_head=4"):
        load_gpt2(hf_model, n_head=2)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_a_folder_without_its_config_or_weights_names_the_file(
    hf_folder, tmp_path, missing
):
    for name in ("config.json", "model.safetensors"):
        if name != missing:
            shutil.copy(hf_folder / name, tmp_path)
    with pytest.raises(FileNotFoundError, match=f"has no {missing}"):
        load_gpt2(tmp_path)


def test_a_hub_name_is_not_a_folder_and_nothing_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="gpt2 is not a folder.*downloads"):
        load_gpt2("gpt2")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx"),
        (dict(reorder_and_upcast_attn=True), "reorder_and_upcast_attn=True"),
        (dict(scale_attn_weights=False), "scale_attn_weights=False"),
        (dict(add_cross_attention=True), "add_cross_attention=True"),
        (dict(activation_function="silu"), "activation_function='silu'"),
        (dict(layer_norm_epsilon=1e-6), "layer_norm_epsilon=1e-06"),
        (dict(model_type="llama"), "describes a 'llama' model, not GPT-2"),
    ],
)
def test_a_config_tinytx_cannot_compute_is_refused(
    hf_folder, tmp_path, change, message
):
    config = json.loads((hf_folder / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
    shutil.copy(hf_folder / "model.safetensors", tmp_path)
    with pytest.raises(ValueError, match=message):
        load_gpt2(tmp_path)


def test_the_same_flag_on_a_model_is_refused_before_any_weight_is_read():
    hf_model = gpt2(scale_attn_by_inverse_layer_idx=True)
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx=True is not"):
        load_gpt2(hf_model)


@pytest.mark.parametrize("source", [42, torch.zeros(3), "tinytx GPT"])
def test_any_other_source_is_a_type_error_listing_the_three_forms(source):
    if source == "tinytx GPT":
        config = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)
        source = GPT(config)
    forms = r"GPT-2 model \(GPT2LMHeadModel\), its state_dict\(\).*or a folder"
    with pytest.raises(TypeError, match=f"load_gpt2 takes a Hugging Face {forms}"):
        load_gpt2(source)


def test_a_mapping_of_something_else_is_a_type_error():
    with pytest.raises(TypeError, match="'wte.weight' is a list"):
        load_gpt2({"wte.weight": [1, 2]}, n_head=2)


def test_a_mis_shaped_tensor_is_named_with_both_shapes(hf_model):
    weights = hf_model.state_dict()
    weights["transformer.h.1.attn.c_proj.weight"] = torch.zeros(48, 40)
    message = (
        r"'transformer.h.1.attn.c_proj.weight' has shape \(48, 40\), but a GPT-2 "
        r"with vocab_size=101, n_positions=32, n_embd=48, n_inner=192 has \(48, 48\)"
    )
    with pytest.raises(ValueError, match=message):
        load_gpt2(weights, n_head=N_HEAD)


def test_a_missing_or_an_extra_tensor_is_named(hf_model):
    weights = hf_model.state_dict()
    del weights["transformer.h.2.ln_2.bias"]
    with pytest.raises(ValueError, match="have no 'h.2.ln_2.bias'"):
        load_gpt2(weights, n_head=N_HEAD)
    weights = hf_model.state_dict()
    weights["transformer.h.0.attn.q_attn.weight"] = torch.zeros(48, 48)
    with pytest.raises(ValueError, match="no place for: transformer.h.0.attn.q_attn"):
        load_gpt2(weights, n_head=N_HEAD)
