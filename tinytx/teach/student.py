"""The student edition of the book, and a summary of the checker results students hand back.

    python -m tinytx.teach.student build [--notebooks notebooks] [--out student]
    python -m tinytx.teach.student collect SUBMISSION... [--csv results.csv]

`build` copies every chapter notebook with each `solution` cell replaced by a stub that keeps
the solution's signatures and raises `NotImplementedError("Exercise 4.2 (title): ...")`,
and with every output cleared; everything else is unchanged. It writes the folder
`<out>/tinytx-student/` and the zip `<out>/tinytx-student.zip` to hand out.

`collect` reads the saved outputs of the checker cells in students' notebooks (it runs
nothing) and prints, per chapter, one row per notebook and one column per exercise.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

EDITION = "tinytx-student"
SOLUTION_TAG = "solution"
# An exercise opens with a MyST directive, fenced by backticks or colons: ```{exercise} Title
EXERCISE_RE = re.compile(r"^(?:`{3,}|:{3,})\{exercise\}[ \t]*(.*?)[ \t]*$", re.MULTILINE)
CHECKER_CALL_RE = re.compile(r"\bchecks\.(\w+)\(")
CHAPTER_RE = re.compile(r"(?<!\d)(\d{2})_")
# What a checker's one line starts with (see tinytx.teach.checks.core), as a result.
CHECKER_MARKS = {"✓": "passed", "✗": "failed", "…": "not attempted"}


@dataclass(frozen=True)
class Exercise:
    number: str  # "4.2": chapter 4, second exercise of the chapter, as the book numbers it
    title: str

    def stub_message(self) -> str:
        return f"Exercise {self.number} ({self.title}): write your solution here"


def chapter_number(path: Path) -> int | None:
    """The chapter of `notebooks/04_attention.ipynb` (4), or of a renamed copy such as
    `ada_04_attention (1).ipynb`; None when the name carries no `NN_`."""
    match = CHAPTER_RE.search(path.name)
    return int(match.group(1)) if match else None


def exercises_by_cell(cells: list[dict], chapter: int | str) -> list[Exercise | None]:
    """For each cell, the exercise it belongs to: the last `{exercise}` opened at or above it."""
    current, count, result = None, 0, []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for title in EXERCISE_RE.findall(_source(cell)):
                count += 1
                current = Exercise(f"{chapter}.{count}", title.rstrip(".") or "untitled")
        result.append(current)
    return result


# --- the stub -------------------------------------------------------------------------------

def stub_source(solution: str, exercise: Exercise) -> str:
    """The student's version of a solution cell: each top-level function (and each method of
    a top-level class) keeps its decorators, signature and docstring, and its body raises
    NotImplementedError naming the exercise. A cell that defines nothing is one `raise`."""
    tree = ast.parse(solution)
    lines = solution.splitlines()
    raise_line = f"raise NotImplementedError({json.dumps(exercise.stub_message(), ensure_ascii=False)})"
    header = f"# Exercise {exercise.number}: replace each `raise NotImplementedError` with your code,\n" \
             "# run this cell, then run the checker cell below it."
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(_function_stub(node, lines, raise_line))
        elif isinstance(node, ast.ClassDef):
            parts.append(_class_stub(node, lines, raise_line))
    if not parts:
        return f"{header}\n{raise_line}"
    return header + "\n" + "\n\n\n".join(parts)


def _function_stub(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], raise_line: str) -> str:
    if node.body[0].lineno == node.lineno:  # `def f(x): return x`: no signature line to keep
        raise ValueError(f"solution function {node.name!r} is on one line; put its body on the next line")
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    kept = node.body[0].end_lineno if ast.get_docstring(node) is not None else node.body[0].lineno - 1
    return "\n".join(lines[first - 1:kept] + [" " * (node.col_offset + 4) + raise_line])


def _class_stub(node: ast.ClassDef, lines: list[str], raise_line: str) -> str:
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    out = lines[first - 1:node.body[0].lineno - 1]
    methods = [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if ast.get_docstring(node, clean=False) is not None:
        out += lines[node.body[0].lineno - 1:node.body[0].end_lineno]
    if not methods:
        out.append(" " * (node.col_offset + 4) + raise_line)
    stubs = [_function_stub(m, lines, raise_line) for m in methods]
    return "\n".join(out) + ("\n" if out else "") + "\n\n".join(stubs)


# --- building the edition --------------------------------------------------------------------

def student_notebook(notebook: dict, chapter: int) -> dict:
    """A copy of `notebook` (nbformat 4 JSON) with solutions stubbed and outputs cleared."""
    notebook = json.loads(json.dumps(notebook))
    cells = notebook["cells"]
    owners = exercises_by_cell(cells, chapter)
    solved = {}
    for cell, exercise in zip(cells, owners):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            if exercise is None:
                raise ValueError(f"chapter {chapter}: a solution cell comes before any {{exercise}}")
            if exercise.number in solved:
                raise ValueError(f"exercise {exercise.number} has two solution cells; merge them")
            solved[exercise.number] = True
            cell["source"] = stub_source(_source(cell), exercise).splitlines(keepends=True)
    missing = sorted({e.number for e in owners if e} - solved.keys())
    if missing:
        raise ValueError(f"exercise(s) {', '.join(missing)} have no cell tagged {SOLUTION_TAG!r}")
    notebook.get("metadata", {}).pop("widgets", None)  # saved widget views are outputs too
    return notebook


STUDENT_README = """\
# tinytx: student edition

These are the chapters of the tinytx book with the exercises left for you. Each exercise is
a box in the notebook; the code cell under it holds a stub that raises
`NotImplementedError("Exercise 4.2 (...): write your solution here")`. Replace the `raise`
with your code, run the cell, then run the checker cell below it:

- `✓ name: ...` means your function passed every case;
- `✗ name: hint` names the first case it got wrong and the usual mistake behind it;
- `… name: not attempted yet` means the stub is still there.

Cells further down that use your function fail until that exercise is done.

Run the notebooks on Colab (File → Upload notebook; the first code cell installs tinytx) or
locally after `pip install "tinytx[book] @ git+{repository}@{branch}"`.
The book itself, with explanations and worked solutions, is at {repository}.
"""


def build(notebooks_dir: Path, out_dir: Path) -> Path:
    """Write `<out_dir>/tinytx-student/` and `<out_dir>/tinytx-student.zip`; return the zip."""
    paths = sorted(notebooks_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {notebooks_dir}; pass --notebooks to the chapter folder")
    edition = out_dir / EDITION
    (edition / "notebooks").mkdir(parents=True, exist_ok=True)
    for stale in (edition / "notebooks").glob("*.ipynb"):
        stale.unlink()
    for path in paths:
        chapter = chapter_number(path)
        if chapter is None:
            raise ValueError(f"{path.name}: chapter notebooks are named NN_slug.ipynb")
        notebook = student_notebook(json.loads(path.read_text(encoding="utf-8")), chapter)
        _write_atomic(edition / "notebooks" / path.name, _dumps(notebook))
    url, branch = _repository(notebooks_dir.parent / "_config.yml")
    _write_atomic(edition / "README.md", STUDENT_README.format(repository=url, branch=branch))
    archive = out_dir / f"{EDITION}.zip"
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".zip.tmp")
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(edition.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(out_dir).as_posix())
    os.replace(tmp, archive)
    return archive


def _repository(config: Path) -> tuple[str, str]:
    """The repository URL and branch from the book's `_config.yml` (its `repository:` block)."""
    text = config.read_text(encoding="utf-8")
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    fields = dict(re.findall(r"^[ \t]+(\w+):[ \t]*(\S+)", block.group(1), re.MULTILINE)) if block else {}
    if "url" not in fields:
        raise ValueError(f"{config}: no repository url (repository: url: ...)")
    return fields["url"].strip("\"'"), fields.get("branch", "main").strip("\"'")


def _dumps(notebook: dict) -> str:
    # nbformat's own layout, so a student's git diff shows only what they changed
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


# --- collecting results ------------------------------------------------------------------------

def checker_results(notebook: dict, chapter: int | str) -> dict[str, str]:
    """Exercise number -> passed / failed / not attempted / not run, read from saved outputs.

    An exercise whose checker cells print several lines passed only if every line passed."""
    cells = notebook.get("cells", [])
    found: dict[str, set[str]] = {}
    for cell, exercise in zip(cells, exercises_by_cell(cells, chapter)):
        if exercise is None:
            continue
        seen = found.setdefault(exercise.number, set())
        if cell["cell_type"] != "code" or not CHECKER_CALL_RE.search(_source(cell)):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":  # the checker cell itself crashed
                seen.add("failed")
            seen.update(CHECKER_MARKS[line[:1]] for line in _output_text(output).splitlines()
                        if line[:1] in CHECKER_MARKS)
    order = ("failed", "not attempted", "passed")  # the worst result wins
    return {number: next((r for r in order if r in seen), "not run") for number, seen in found.items()}


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return _source({"source": output.get("text", "")})
    return _source({"source": output.get("data", {}).get("text/plain", "")})


SYMBOLS = {"passed": "✓", "failed": "✗", "not attempted": "…", "not run": "–"}


def collect(paths: list[Path]) -> list[tuple[str, str, str, str]]:
    """(chapter, notebook, exercise, result) for every exercise of every submitted notebook."""
    files = sorted({f for p in paths for f in (sorted(p.rglob("*.ipynb")) if p.is_dir() else [p])
                    if ".ipynb_checkpoints" not in f.parts})
    if not files:
        raise FileNotFoundError(f"no .ipynb files in {', '.join(map(str, paths))}")
    rows = []
    for file in files:
        chapter = chapter_number(file)
        label = str(chapter) if chapter is not None else "?"
        try:
            notebook = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{file}: not a readable notebook ({error})") from None
        for number, result in checker_results(notebook, label).items():
            rows.append((label, str(file), number, result))
    return rows


def format_table(rows: list[tuple[str, str, str, str]]) -> str:
    """One table per chapter: a row per notebook, a column per exercise."""
    out = []
    for chapter in sorted({r[0] for r in rows}, key=lambda c: (not c.isdigit(), c.zfill(3))):
        mine = [r for r in rows if r[0] == chapter]
        exercises = sorted({r[2] for r in mine}, key=lambda n: int(n.split(".")[1]))
        files = sorted({r[1] for r in mine})
        width = max(len(f) for f in files)
        out.append(f"chapter {chapter}")
        out.append(" ".join([" " * width] + [f"{e:>5}" for e in exercises]))
        cell = {(r[1], r[2]): SYMBOLS[r[3]] for r in mine}
        for f in files:
            out.append(" ".join([f.ljust(width)] + [f"{cell.get((f, e), ''):>5}" for e in exercises]))
        out.append("")
    out.append("✓ passed  ✗ failed  … not attempted  – checker cell not run (read from saved outputs)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinytx.teach.student", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write the student edition and its zip")
    make.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    make.add_argument("--out", type=Path, default=Path("student"))
    gather = commands.add_parser("collect", help="tabulate the checker results of submitted notebooks")
    gather.add_argument("paths", type=Path, nargs="+", help="notebooks or folders of notebooks")
    gather.add_argument("--csv", type=Path, help="also write the results as CSV to this file")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            archive = build(args.notebooks, args.out)
            print(f"student edition: {args.out / EDITION}/ and {archive}")
        else:
            rows = collect(args.paths)
            print(format_table(rows))
            if args.csv:
                with open(args.csv, "w", newline="", encoding="utf-8") as f:
                    writer = csv.writer(f)
                    writer.writerow(["chapter", "notebook", "exercise", "result"])
                    writer.writerows(rows)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
