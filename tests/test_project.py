"""Project-level checks that keep the book, the notebooks and CI honest.

These read the committed files; nbval (run by `make test`) separately re-runs
each notebook and compares its outputs with the committed ones.

Rules checked here (README.md, "Notebook rules", says the same):

- The table of contents and notebooks/ agree: every page `_toc.yml` lists
  exists, and every notebooks/NN_slug.ipynb is listed.
- Each notebook was executed top to bottom in a fresh kernel: its code cells
  carry execution counts 1, 2, ..., N in order (an empty code cell is never
  executed, so it shows up as a gap: delete it).
- No stored error output, except in a cell tagged `raises-exception`, the nbval
  tag for a cell that is meant to raise.
- No device in compared outputs: outside cells tagged `nbval-ignore-output`,
  no output mentions a CUDA or MPS device (print rounded, device-free values).
- Three tiers of compared output (DESIGN §4, tests/nbval_tiers.py): every cell
  whose output is compared approximately (`nbval-approx`) or not at all
  (`nbval-ignore-output`) says why in one line, its `nbval_reason` metadata;
  exact cells carry no such reason; and an ignored cell that shows numbers
  (other than a widget or a figure) asserts what the chapter claims about them.
- Every widget shown in an output has its state stored in the notebook, so
  the rendered book can draw it (`make execute` stores it).
- The Colab set-up cell: the first code cell contains
  `if "google.colab" in sys.modules:` and, indented below it, the line
  `%pip install -q "tinytx @ git+<URL>@<BRANCH>"` (extras such as
  `tinytx[book]` allowed), where URL and BRANCH are `repository.url` and
  `repository.branch` in _config.yml, the one place they are written down;
  the launch buttons open notebooks from that same branch.
- `.ci/run` runs `make test`, and the README's quick start is exactly
  `make book` and `make test`, both of which the Makefile defines.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nbval_tiers import APPROX_TAG, approx_rtol

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IGNORE_OUTPUT_TAG = "nbval-ignore-output"
RAISES_TAG = "raises-exception"
REASON_KEY = "nbval_reason"
FIGURE_REPR = re.compile(r"^<Figure size \d+x\d+ with \d+ Axes>$")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
DEVICE_PATTERN = re.compile(r"device='(?:cuda|mps)|device\(type='(?:cuda|mps)'")
COLAB_GUARD = 'if "google.colab" in sys.modules:'
COLAB_INSTALL = re.compile(
    r'^[ \t]+%pip install -q "tinytx(?:\[[a-z0-9_,-]+\])? @ '
    r'git\+(?P<url>[^"\s]+)"[ \t]*$',
    re.MULTILINE,
)


def _config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _toc_entries() -> list[str]:
    """Every document `_toc.yml` names (root and all `file:` entries), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    entries = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                entries.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in toc.items() if key != "root"})
    return entries


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _output_texts(output: nbformat.NotebookNode) -> list[str]:
    """The human-readable text an output carries (stream, rich text, error)."""
    texts = []
    if output.output_type == "stream":
        texts.append(output.text)
    elif output.output_type == "error":
        texts.append(output.evalue)
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/"):
            texts.append(value if isinstance(value, str) else "".join(value))
    return texts


def _section(markdown: str, heading: str) -> str:
    """The text under a `## heading` up to the next heading of level 1 or 2."""
    match = re.search(
        rf"^## {re.escape(heading)}\s*$(.*?)(?=^#{{1,2}} |\Z)",
        markdown,
        re.MULTILINE | re.DOTALL,
    )
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def _shell_commands(text: str) -> list[str]:
    """Non-comment lines of the fenced code blocks in `text`."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    lines = (line.strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_toc_pages_exist():
    missing = [
        entry
        for entry in _toc_entries()
        if not any(
            (ROOT / f"{entry}{suffix}").is_file() for suffix in (".md", ".ipynb")
        )
    ]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = {entry for entry in _toc_entries() if entry.startswith("notebooks/")}
    on_disk = {f"notebooks/{path.stem}" for path in NOTEBOOKS}
    assert on_disk - listed == set(), (
        f"add these notebooks to _toc.yml: {sorted(on_disk - listed)}"
    )
    assert listed - on_disk == set(), (
        f"_toc.yml lists notebooks that do not exist: {sorted(listed - on_disk)}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_named_nn_slug(path: Path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), (
        f"{path.name}: name chapters NN_slug.ipynb (two digits, lower-case slug)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_valid(path: Path):
    nbformat.validate(_read(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_ran_top_to_bottom_in_a_fresh_kernel(path: Path):
    counts = [cell.execution_count for cell in _code_cells(_read(path))]
    expected = list(range(1, len(counts) + 1))
    assert counts == expected, (
        f"{path.name}: execution counts {counts}, expected {expected}. "
        "Delete empty code cells, then re-run the notebook from a fresh kernel: "
        f"NB={path.relative_to(ROOT)} make execute"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_no_unexpected_errors(path: Path):
    failing = [
        (index, output.ename, output.evalue)
        for index, cell in enumerate(_code_cells(_read(path)), start=1)
        if RAISES_TAG not in cell.metadata.get("tags", [])
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not failing, (
        f"{path.name}: code cells (numbered from 1) with stored errors {failing}; "
        f"fix them, or tag a cell that is meant to raise '{RAISES_TAG}'"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_compared_outputs_name_no_device(path: Path):
    offending = [
        (index, match.group(0))
        for index, cell in enumerate(_code_cells(_read(path)), start=1)
        if IGNORE_OUTPUT_TAG not in cell.metadata.get("tags", [])
        for output in cell.outputs
        for text in _output_texts(output)
        for match in DEVICE_PATTERN.finditer(text)
    ]
    assert not offending, (
        f"{path.name}: outputs mention a GPU device {offending}; print "
        "device-free values (e.g. .cpu() or .tolist(), rounded) so the same output "
        "passes on every machine"
    )


def _tier(cell: nbformat.NotebookNode, where: str) -> str:
    tags = cell.metadata.get("tags", [])
    if approx_rtol(tags, where) is not None:
        return "approximate"
    return "ignored" if IGNORE_OUTPUT_TAG in tags else "exact"


def _shown_numbers(cell: nbformat.NotebookNode) -> list[str]:
    """Lines of a cell's text output with digits, leaving
    out widget and figure reprs."""
    lines = []
    for output in cell.outputs:
        if WIDGET_VIEW in output.get("data", {}):
            continue
        for text in _output_texts(output):
            lines += [line for line in text.splitlines() if re.search(r"\d", line)]
    return [line for line in lines if not FIGURE_REPR.match(line.strip())]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_non_exact_cells_say_why_in_one_line(path: Path):
    problems = []
    for index, cell in enumerate(_code_cells(_read(path))):
        tier = _tier(cell, f"{path.name}, code cell {index}")
        reason = cell.metadata.get(REASON_KEY)
        if tier == "exact" and reason is not None:
            problems.append(f"code cell {index} is exact but has a {REASON_KEY}")
        elif tier != "exact" and not (isinstance(reason, str) and reason.strip()):
            problems.append(f"code cell {index} is {tier} with no {REASON_KEY}")
        elif tier != "exact" and "\n" in reason:
            problems.append(f"code cell {index}: {REASON_KEY} must be one line")
    assert not problems, (
        f"{path.name}: {problems}. Give every cell tagged {APPROX_TAG} or "
        f"{IGNORE_OUTPUT_TAG} a one-line metadata['{REASON_KEY}'] saying why its "
        "output cannot be compared exactly (DESIGN §4)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_ignored_cells_that_show_numbers_assert_them(path: Path):
    unchecked = [
        (index, _shown_numbers(cell)[0])
        for index, cell in enumerate(_code_cells(_read(path)))
        if IGNORE_OUTPUT_TAG in cell.metadata.get("tags", [])
        and _shown_numbers(cell)
        and not re.search(r"^\s*assert\s|assert_close\(", cell.source, re.MULTILINE)
    ]
    assert not unchecked, (
        f"{path.name}: cells whose output nbval ignores show numbers but assert "
        f"nothing about them: {unchecked}. Assert what the prose claims, in bands "
        "that hold on every machine"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_widget_outputs_have_stored_state(path: Path):
    nb = _read(path)
    stored = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    shown = [
        output.data[WIDGET_VIEW]["model_id"]
        for cell in _code_cells(nb)
        for output in cell.outputs
        if WIDGET_VIEW in output.get("data", {})
    ]
    missing = [model_id for model_id in shown if model_id not in stored]
    assert not missing, (
        f"{path.name}: {len(missing)} widget(s) without stored state; the book "
        f"cannot draw them. Re-run with NB={path.relative_to(ROOT)} make execute "
        "(it stores widget state)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_colab_setup_cell_installs_from_the_configured_repository(path: Path):
    repository = _config()["repository"]
    expected = f"{repository['url']}@{repository['branch']}"
    cells = _code_cells(_read(path))
    assert cells, f"{path.name} has no code cells"
    setup = cells[0].source
    assert COLAB_GUARD in setup, (
        f"{path.name}: the first code cell must contain `{COLAB_GUARD}`"
    )
    installs = COLAB_INSTALL.findall(setup[setup.index(COLAB_GUARD) :])
    assert installs, (
        f"{path.name}: under `{COLAB_GUARD}` the set-up cell must run `%pip install -q "
        f'"tinytx @ git+{expected}"`'
    )
    assert installs == [expected], (
        f"{path.name}: installs from {installs}, _config.yml says {expected}"
    )


def test_ci_runs_the_readme_test_command():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    lines = [line.strip() for line in script.read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert "set -euo pipefail" in commands
    assert commands[-1] in {"make test", "exec make test"}, (
        f".ci/run must end by running `make test`, ends with {commands[-1]!r}"
    )
    runs_make = [
        command for command in commands if re.match(r"(?:exec\s+)?make\b", command)
    ]
    assert len(runs_make) == 1, f".ci/run must run make exactly once, runs {runs_make}"


def test_readme_quick_start_is_make_book_and_make_test():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _shell_commands(_section(readme, "Quick start")) == [
        "make book",
        "make test",
    ]


def test_make_test_runs_unit_tests_nbval_twice_the_strict_book_build_and_browser_test():
    dry_run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "--always-make", "test", "book"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pytest tests" in dry_run
    assert "--nbval --nbval-current-env" in dry_run
    assert "--nbval-sanitize-with tests/nbval_sanitize.cfg" in dry_run
    assert "-p nbval_tiers" in dry_run  # approximate cells compared within tolerance
    # ...again as another machine: one thread, PyTorch's portable CPU kernels
    other_machine = (
        "OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=default .venv/bin/pytest notebooks"
    )
    assert other_machine in dry_run
    assert "jupyter-book build . -W -n --keep-going" in dry_run
    # ...and then drives the built site in Chromium, after the build
    assert "pytest tests/browser" in dry_run
    assert dry_run.index("pytest tests/browser") > dry_run.index("jupyter-book build")
