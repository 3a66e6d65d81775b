"""The notebooks read well on the page: issue 14's rules, checked on committed files.

- No echoes: a checker cell shows its one line and nothing under it (no `True`), and
  no cell stores an empty output (an empty box on the page).
- Figures fit where the book shows them: at 100 dpi a figure is at most 700 px wide
  (the article column shows about 680 px at 1280 px), or at most 980 px in a cell
  tagged `full-width` (about 975 px there), so nothing is scaled down.
- Text in figures is 9 points or more: no `fontsize=` or `labelsize=` below 9 in the
  notebooks' code; `tinytx.teach` is checked by tests/test_viz.py.
- Panels are at least ~400 px wide: never three or more side by side
  (`plt.subplots(1, 3)`); put them in rows of two in a full-width cell.
- Short cells that do one thing: a code cell in the reading flow has at most
  MAX_STATEMENTS statements. The bodies of functions and classes the chapter defines
  don't count (a definition is the subject), except in a cell that draws: plotting
  code belongs in `tinytx.teach.viz`. Solutions, the set-up cell and the cells in
  LONG_CELLS (each with its reason, found by cell id) are exempt.
"""

from __future__ import annotations

import ast
import base64
import re
import struct
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COLUMN_PX, FULL_WIDTH_PX = 700, 980
MAX_STATEMENTS = 15
CHECKER_CALL = re.compile(r"^checks\.\w+\(\w+\)$")
SMALL_FONT = re.compile(r"\b(?:fontsize|labelsize)=(\d+(?:\.\d+)?)\b")
THREE_ACROSS = re.compile(r"subplots\(\s*1\s*,\s*(\d+)")
# (notebook, cell id): why that cell may be longer than MAX_STATEMENTS. Cells that
# check the chapter's code against tinytx and PyTorch case by case are one argument.
LONG_CELLS = {
    ("02_embeddings.ipynb", "75567850"): "Embedding = TokenEmbedding = nn.Embedding "
    "= F.embedding, with and without scaling, outputs and gradients",
    ("04_attention.ipynb", "37733fde"): "padding changes no real token's output: "
    "the padded batch against each sequence alone",
    (
        "04_attention.ipynb",
        "f0d11ad6",
    ): "ours = tinytx = F.scaled_dot_product_attention "
    "for four masks, on the device, and rectangular",
    ("04_attention.ipynb", "176a2d33"): "three implementations of the layer compared "
    "weight for weight",
    ("10_encoder_decoder.ipynb", "e8edf991"): "greedy decoding written out step by "
    "step, printing each step: the section's subject",
}


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def _code_cells(path: Path) -> list[tuple[int, nbformat.NotebookNode]]:
    notebook = nbformat.read(path, as_version=4)
    return [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]


def _png_width(data: str) -> int:
    return struct.unpack(">I", base64.b64decode(data[:44])[16:20])[0]


def statements(source: str) -> int:
    """Statements in a cell; bodies of its definitions count only if it draws."""
    lines = source.split("\n")
    python = "\n".join(
        line.replace(line.lstrip(), "pass")
        if line.lstrip().startswith(("%", "!"))
        else line
        for line in lines
    )
    draws = "plt." in source or "subplots" in source
    count = 0

    def walk(node: ast.AST, in_definition: bool) -> None:
        nonlocal count
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt) and (draws or not in_definition):
                count += 1
            definition = isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            )
            walk(child, in_definition or definition)

    walk(ast.parse(python), False)
    return count


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_echo_and_no_empty_output(path: Path):
    for index, cell in _code_cells(path):
        for output in cell.outputs:
            where = f"{path.name} cell {index}"
            if CHECKER_CALL.match(cell.source.strip()):
                assert output.output_type == "stream", f"{where}: {output}"
            if output.output_type == "stream":
                assert output.text.strip(), f"{where}: an empty text output"
            elif output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                shown = [m for m in data if m != "text/plain"] or [
                    m for m in data if str(data[m]).strip()
                ]
                assert shown, f"{where}: an output with nothing to show"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_figures_fit_the_column_or_a_full_width_cell(path: Path):
    for index, cell in _code_cells(path):
        full_width = "full-width" in cell.metadata.get("tags", [])
        limit = FULL_WIDTH_PX if full_width else COLUMN_PX
        for output in cell.outputs:
            png = output.get("data", {}).get("image/png")
            if png:
                width = _png_width(png)
                assert width <= limit, (
                    f"{path.name} cell {index}: a figure {width} px wide, over {limit}"
                    + ("" if full_width else "; tag the cell full-width or narrow it")
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_figure_text_and_panels_are_big_enough(path: Path):
    for index, cell in _code_cells(path):
        small = [s for s in SMALL_FONT.findall(cell.source) if float(s) < 9]
        assert not small, f"{path.name} cell {index}: font size {small} under 9 pt"
        across = [n for n in THREE_ACROSS.findall(cell.source) if int(n) >= 3]
        assert not across, f"{path.name} cell {index}: {across} panels side by side"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_reading_flow_cells_are_short(path: Path):
    cells = _code_cells(path)
    long = []
    for index, cell in cells[1:]:  # the set-up cell imports what the chapter uses
        if "solution" in cell.metadata.get("tags", []):
            continue
        if (path.name, cell.get("id")) in LONG_CELLS:
            continue
        count = statements(cell.source)
        if count > MAX_STATEMENTS:
            first_line = cell.source.split("\n")[0]
            long.append(f"cell {index} ({count} statements): {first_line}")
    assert not long, (
        f"{path.name}: cells longer than {MAX_STATEMENTS} statements; move drawing "
        "into tinytx.teach.viz, split the cell, or list it in LONG_CELLS with a "
        f"reason: {long}"
    )


def test_every_listed_long_cell_exists_and_is_long():
    cells = {
        (path.name, c.get("id")): c for path in NOTEBOOKS for _, c in _code_cells(path)
    }
    for key in LONG_CELLS:
        assert key in cells, f"{key}: no such cell; remove it from LONG_CELLS"
        assert statements(cells[key].source) > MAX_STATEMENTS, f"{key} is short now"


def test_the_statement_count_sees_plotting_inside_definitions():
    definition = "def f(x):\n" + "".join(f"    y{i} = x\n" for i in range(20))
    assert statements(definition + "f(1)\n") == 2
    assert statements(definition + "plt.plot(f(1))\n") == 22
    assert statements("%pip install x\nimport sys\n") == 2
