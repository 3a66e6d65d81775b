"""The public API of DESIGN §3 is importable from `tinytx`,
and importing it stays light."""

import subprocess
import sys

import pytest
import torch

import tinytx

CONTRACT = [
    "CharTokenizer", "BPETokenizer", "load_corpus", "GPTConfig", "GPT",
    "scaled_dot_product_attention", "causal_mask", "MultiHeadAttention", "softmax",
    "sinusoidal_positions", "LayerNorm", "RMSNorm", "FeedForward", "Seq2SeqConfig",
    "Seq2Seq", "train", "evaluate", "save", "load", "pick_device", "seed",
]  # fmt: skip


@pytest.mark.parametrize("name", CONTRACT)
def test_contract_name_is_exported(name):
    assert name in tinytx.__all__ and hasattr(tinytx, name)


def test_every_exported_name_exists():
    missing = [name for name in tinytx.__all__ if not hasattr(tinytx, name)]
    assert missing == []


def test_public_names_are_the_objects_even_after_their_modules_are_imported():
    """`tinytx.train` is the function, also once `import tinytx.train` has run (which
    sets the package attribute `train` to the module), as with eager imports."""
    code = (
        "import tinytx.train, tinytx.pretrained, tinytx.nn.attention, tinytx\n"
        "from tinytx import checks, train\n"
        "print(tinytx.train.__name__,"
        " tinytx.pretrained.__name__, type(tinytx.nn).__name__, checks.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        "train",
        "pretrained",
        "module",
        "tinytx.teach.checks",
    ]
    assert callable(tinytx.train) and callable(tinytx.pretrained)


def test_import_tinytx_imports_no_torch():
    """The student edition is built on a bare Python (`make student`)."""
    code = "import sys, tinytx; print('torch' in sys.modules, len(tinytx.__all__))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", str(len(tinytx.__all__))]


def test_import_does_not_pull_in_the_heavy_optional_libraries():
    # (torch itself imports tqdm, so tqdm is not on the list)
    code = (
        "import sys, tinytx; [getattr(tinytx, name) for name in tinytx.__all__]; "
        "print(sorted(m for m in ('matplotlib', 'ipywidgets', 'tiktoken') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_seed_makes_runs_repeatable_and_returns_a_generator():
    generator = tinytx.seed(123)
    first = (torch.rand(3), torch.randint(0, 10, (3,), generator=generator))
    generator = tinytx.seed(123)
    second = (torch.rand(3), torch.randint(0, 10, (3,), generator=generator))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    with pytest.raises(TypeError, match="seed needs an int"):
        tinytx.seed(1.5)


def test_tinytx_deterministic_turns_on_deterministic_kernels(monkeypatch):
    before = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(False)
        monkeypatch.setenv("TINYTX_DETERMINISTIC", "0")
        tinytx.seed(0)
        assert not torch.are_deterministic_algorithms_enabled()
        monkeypatch.setenv("TINYTX_DETERMINISTIC", "1")
        tinytx.seed(0)
        assert torch.are_deterministic_algorithms_enabled()
        monkeypatch.setenv("TINYTX_DETERMINISTIC", "yes")
        with pytest.raises(ValueError, match="TINYTX_DETERMINISTIC='yes': set it to 1"):
            tinytx.seed(0)
    finally:
        torch.use_deterministic_algorithms(before)


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("TINYTX_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert tinytx.pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert tinytx.pick_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert tinytx.pick_device() == torch.device("cpu")


def test_tinytx_device_overrides_the_choice_and_never_falls_back(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("TINYTX_DEVICE", "cpu")
    assert tinytx.pick_device() == torch.device("cpu")
    monkeypatch.setenv("TINYTX_DEVICE", " CUDA ")
    assert tinytx.pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        RuntimeError, match="TINYTX_DEVICE=cuda but PyTorch sees no cuda device"
    ):
        tinytx.pick_device()
    monkeypatch.setenv("TINYTX_DEVICE", "gpu")
    with pytest.raises(
        ValueError, match="'gpu' is not a device; use one of cpu, cuda, mps"
    ):
        tinytx.pick_device()


def test_every_subpackage_is_listed_for_installation():
    """A sub-package missing from pyproject's `packages` installs fine in editable mode
    but is absent from a real install (Colab's `pip install git+...`)."""
    import pathlib

    import tomllib

    root = pathlib.Path(tinytx.__file__).parent
    found = {
        ".".join(("tinytx", *p.parent.relative_to(root).parts))
        for p in root.rglob("__init__.py")
    }
    listed = set(
        tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"][
            "setuptools"
        ]["packages"]
    )
    assert found == listed
