"""Each chapter, executed twice in fresh kernels, prints the same compared outputs.

Run by `make test-determinism` (about 10 minutes on 2 cores, so not part of
`make test`, whose nbval run already compares one fresh execution with the committed
outputs of another). Outputs nbval ignores (cells tagged nbval-ignore-output:
timings, progress bars, widgets) are ignored here too; the rest must match exactly
after tests/nbval_sanitize.cfg.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def sanitizers() -> list[tuple[re.Pattern, str]]:
    """The `regex:` / `replace:` pairs of
    tests/nbval_sanitize.cfg, as nbval reads them."""
    lines = (
        (ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8").splitlines()
    )
    pairs = []
    for line, following in zip(lines, lines[1:]):
        if line.startswith("regex:") and following.startswith("replace:"):
            pairs.append(
                (
                    re.compile(line[len("regex:") :].strip()),
                    following[len("replace:") :].strip(),
                )
            )
    return pairs


def compared_outputs(notebook) -> list[str]:
    """The text of every output nbval compares, sanitized, one string per code cell."""
    rules = sanitizers()
    result = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get(
            "tags", []
        ):
            continue
        texts = []
        for output in cell.outputs:
            if output.output_type == "stream":
                texts.append(output.text)
            elif output.output_type == "error":
                texts.append(f"{output.ename}: {output.evalue}")
            else:
                texts.extend(
                    v if isinstance(v, str) else "".join(v)
                    for k, v in output.get("data", {}).items()
                    if k.startswith("text/plain")
                )
        text = "".join(texts)
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        result.append(text)
    return result


def execute(path: Path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_two_fresh_runs_print_the_same(path):
    first, second = compared_outputs(execute(path)), compared_outputs(execute(path))
    assert first == second
    assert any(first), "no compared output at all"
