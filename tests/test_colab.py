"""The Colab set-up logic, run in a simulated Colab: the pip call is captured, not run.

Each chapter's first code cell starts with `import sys` and an `if "google.colab" in
sys.modules:` block that installs tinytx from the repository in `_config.yml`. Here that
block is turned into Python the way IPython does it (`%pip` becomes a `run_line_magic`
call) and run once with a fake `google.colab` module and once without.
"""

import sys
import types
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Versions Colab preinstalls (its runtime as of late 2025; ipywidgets has long stayed at
# 7.7.1 there): the install must accept them as they are, never upgrade them.
COLAB_PREINSTALLED = {
    "torch": "2.8.0",
    "numpy": "2.0.2",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "tqdm": "4.67.1",
}


class FakeShell:
    """Stands in for IPython's shell: records line magics instead of running them."""

    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line, _stack_depth=1):
        self.magics.append((name, line))


def colab_block(path: Path) -> str:
    """The first code cell up to the end of its
    `if "google.colab"` block, as plain Python."""
    setup = next(
        c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
    ).source
    lines = setup.splitlines()
    guard = next(
        i
        for i, line in enumerate(lines)
        if line.startswith('if "google.colab" in sys.modules:')
    )
    end = guard + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    block = lines[:end]
    return TransformerManager().transform_cell("\n".join(block) + "\n")


def run_setup(path: Path, on_colab: bool, monkeypatch) -> list[tuple[str, str]]:
    shell = FakeShell()
    if on_colab:
        monkeypatch.setitem(
            sys.modules, "google.colab", types.ModuleType("google.colab")
        )
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(colab_block(path), {"get_ipython": lambda: shell})
    return shell.magics


def repository() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))[
        "repository"
    ]
    return f"git+{config['url']}@{config['branch']}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_on_colab_the_setup_cell_installs_tinytx_from_the_repository_once(
    path, monkeypatch
):
    magics = run_setup(path, on_colab=True, monkeypatch=monkeypatch)
    assert len(magics) == 1 and magics[0][0] == "pip", magics
    args = magics[0][1].split()
    assert args[:2] == ["install", "-q"], args
    requirement = Requirement(magics[0][1].split('"')[1])
    assert requirement.name == "tinytx" and requirement.url == repository()
    # Never force versions: no upgrade, reinstall or pin that would
    # replace Colab's torch or widgets.
    assert not {"-U", "--upgrade", "--force-reinstall", "--no-deps"} & set(args), args
    assert "torch" not in magics[0][1] and "ipywidgets" not in magics[0][1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_elsewhere_the_setup_cell_installs_nothing(path, monkeypatch):
    assert run_setup(path, on_colab=False, monkeypatch=monkeypatch) == []


def test_the_requirements_accept_what_colab_already_has():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    needed = [
        Requirement(r)
        for r in project["dependencies"] + project["optional-dependencies"]["book"]
    ]
    for requirement in needed:
        if requirement.name in COLAB_PREINSTALLED:
            version = COLAB_PREINSTALLED[requirement.name]
            assert requirement.specifier.contains(version), (
                f"{requirement} would replace Colab's {version}"
            )
    assert {"torch", "ipywidgets"} <= {r.name for r in needed}
