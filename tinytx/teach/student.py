"""The student edition of the book: the chapters with the exercises left to the reader.

    python -m tinytx.teach.student build [--notebooks notebooks] [--out student]
                                         [--ref TAG_OR_COMMIT]
    python -m tinytx.teach.student collect SUBMISSION... [--csv FILE]
                                           [--rerun DIR [--timeout SECONDS]]

`build` copies every chapter notebook with each `solution` cell replaced by a stub that
keeps only the solution's signatures and docstrings and raises
`NotImplementedError("Exercise 4.2 (title): ...")`, and with every output cleared. The
set-up cell asks for the student's name and installs tinytx at `--ref` (by default the
commit checked out), so the checkers cannot change during a course, and a note at the
top says how to work on Colab and hand the notebook back. It writes the folder
`<out>/tinytx-student/` and the zip `<out>/tinytx-student.zip` to hand out.

`collect` (in `tinytx.teach.collect`) tabulates the checker results of handed-in
notebooks. Building needs nothing beyond the standard library: no torch, no Jupyter.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

EDITION = "tinytx-student"
SOLUTION_TAG = "solution"
# An exercise opens with a MyST directive, fenced by backticks or colons:
# ```{exercise} Title
EXERCISE_RE = re.compile(
    r"^(?:`{3,}|:{3,})\{exercise\}[ \t]*(.*?)[ \t]*$", re.MULTILINE
)
CHAPTER_RE = re.compile(r"(?<!\d)(\d{2})_")
# The Colab install in every chapter's set-up cell ends in @<branch>"; the student
# edition pins it to one tag or commit.
INSTALL_RE = re.compile(
    r'^([ \t]+%pip install -q "tinytx\S* @ git\+[^"@\s]+@)([^"\s]+)"', re.MULTILINE
)
# The line of the set-up cell where students write their name; collect reads it back.
NAME_FIELD = "STUDENT_NAME"
NAME_LINES = (
    "# Your name, as your teacher's table of results should show it:",
    f'{NAME_FIELD} = ""',
)
REF_RE = re.compile(r"^[\w.+/-]+$")


@dataclass(frozen=True)
class Exercise:
    number: (
        str  # "4.2": chapter 4, second exercise of the chapter, as the book numbers it
    )
    title: str

    def stub_message(self) -> str:
        return f"Exercise {self.number} ({self.title}): write your solution here"


def chapter_number(path: Path) -> int | None:
    """The chapter of `notebooks/04_attention.ipynb` (4), or of a renamed copy such as
    `ada_04_attention (1).ipynb`; None when the name carries no `NN_`."""
    match = CHAPTER_RE.search(path.name)
    return int(match.group(1)) if match else None


def exercises_by_cell(cells: list[dict], chapter: int | str) -> list[Exercise | None]:
    """For each cell, the exercise it belongs to: the last `{exercise}` opened at or
    above it."""
    current, count, result = None, 0, []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for title in EXERCISE_RE.findall(source_of(cell)):
                count += 1
                current = Exercise(
                    f"{chapter}.{count}", title.rstrip(".") or "untitled"
                )
        result.append(current)
    return result


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


# --- the stub ------------------------------------------------------------------------


def stub_source(solution: str, exercise: Exercise) -> str:
    """The student's version of a solution cell.

    Each top-level function (and each method of a top-level class) keeps its
    decorators, signature and docstring, and its body becomes a `raise
    NotImplementedError` naming the exercise. Everything else goes: the body, comments
    anywhere (a comment can give the answer away), statements outside functions. A cell
    that defines nothing becomes one `raise`."""
    tree = ast.parse(solution)
    lines = _without_comments(solution)
    message = json.dumps(exercise.stub_message(), ensure_ascii=False)
    raise_line = f"raise NotImplementedError({message})"
    header = (
        f"# Exercise {exercise.number}: replace each `raise NotImplementedError` with "
        "your\n# code, run this cell, then run the checker cell below it."
    )
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(_function_stub(node, lines, raise_line))
        elif isinstance(node, ast.ClassDef):
            parts.append(_class_stub(node, lines, raise_line))
    if not parts:
        return f"{header}\n{raise_line}"
    return header + "\n" + "\n\n\n".join(parts)


def _without_comments(source: str) -> list[str]:
    """The lines of `source` with every comment cut off (line numbers unchanged)."""
    lines = source.splitlines()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col].rstrip()
    return lines


def _kept(lines: list[str], start: int, stop: int) -> list[str]:
    """Lines start..stop (1-based, inclusive) without those left empty by a comment."""
    return [line for line in lines[start - 1 : stop] if line.strip()]


def _function_stub(
    node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], raise_line: str
) -> str:
    if node.body[0].lineno == node.lineno:  # `def f(x): return x`: no signature line
        raise ValueError(
            f"solution function {node.name!r} is on one line; put its "
            "body on the next line"
        )
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    signature = _kept(lines, first, node.body[0].lineno - 1)
    docstring = []
    if ast.get_docstring(node) is not None:
        docstring = lines[node.body[0].lineno - 1 : node.body[0].end_lineno]
    indent = " " * (node.col_offset + 4)
    return "\n".join(signature + docstring + [indent + raise_line])


def _class_stub(node: ast.ClassDef, lines: list[str], raise_line: str) -> str:
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    out = _kept(lines, first, node.body[0].lineno - 1)
    if ast.get_docstring(node) is not None:
        out += lines[node.body[0].lineno - 1 : node.body[0].end_lineno]
    methods = [
        m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    if not methods:
        return "\n".join(out + [" " * (node.col_offset + 4) + raise_line])
    stubs = [_function_stub(m, lines, raise_line) for m in methods]
    return "\n".join(out) + "\n" + "\n\n".join(stubs)


# --- the student's notebook ----------------------------------------------------------


def student_notebook(notebook: dict, chapter: int, ref: str) -> dict:
    """A copy of `notebook` (nbformat 4 JSON) for students: solutions stubbed, outputs
    cleared, the set-up cell pinned to `ref` and asking for a name, a note on how to
    work and hand in, and `metadata.tinytx` saying which chapter it is."""
    notebook = json.loads(json.dumps(notebook))
    cells = notebook["cells"]
    owners = exercises_by_cell(cells, chapter)
    exercises = {e.number: e.title for e in owners if e}
    solved: dict[str, str] = {}
    for cell, exercise in zip(cells, owners):
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            if exercise is None:
                raise ValueError(
                    f"chapter {chapter}: a solution cell comes before any {{exercise}}"
                )
            if exercise.number in solved:
                raise ValueError(
                    f"exercise {exercise.number} has two solution cells; merge them"
                )
            solved[exercise.number] = source_of(cell)
            cell["source"] = _lines(stub_source(source_of(cell), exercise))
    missing = sorted(exercises.keys() - solved.keys())
    if missing:
        raise ValueError(
            f"exercise(s) {', '.join(missing)} have no cell tagged {SOLUTION_TAG!r}"
        )
    setup = next((c for c in cells if c["cell_type"] == "code"), None)
    if setup is None or len(INSTALL_RE.findall(source_of(setup))) != 1:
        raise ValueError(
            f"chapter {chapter}: the first code cell must hold one Colab install line "
            '(%pip install -q "tinytx @ git+URL@BRANCH")'
        )
    pinned = INSTALL_RE.sub(lambda m: f'{m.group(1)}{ref}"', source_of(setup))
    setup["source"] = _lines("\n".join(NAME_LINES) + "\n" + pinned)
    first_later_use = _used_later(cells, owners, solved)
    note = {
        "cell_type": "markdown",
        "id": "tinytx-student-note",
        "metadata": {},
        "source": _lines(_student_note(chapter, ref, first_later_use)),
    }
    cells.insert(cells.index(setup), note)
    metadata = notebook.setdefault("metadata", {})
    metadata.pop("widgets", None)  # saved widget views are outputs too
    metadata["tinytx"] = {
        "edition": "student",
        "chapter": chapter,
        "ref": ref,
        "exercises": exercises,
    }
    return notebook


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _used_later(
    cells: list[dict], owners: list[Exercise | None], solved: dict[str, str]
) -> dict[str, list[str]]:
    """Exercise number -> the names its solution defines that a later cell, other than
    its checker, uses: until the exercise is solved that cell raises, and *Run all*
    stops there."""
    used: dict[str, list[str]] = {}
    seen: dict[
        str, set[str]
    ] = {}  # the exercises solved above the cell, and their names
    for cell, owner in zip(cells, owners):
        if cell["cell_type"] != "code":
            continue
        if SOLUTION_TAG in cell["metadata"].get("tags", []):
            seen[owner.number] = _defined_names(solved[owner.number])
            continue
        names = _names_used(source_of(cell))
        for number, defined in seen.items():
            checker = owner.number == number and "checks." in source_of(cell)
            for name in sorted(defined & names) if not checker else ():
                if name not in used.setdefault(number, []):
                    used[number].append(name)
    return {number: names for number, names in used.items() if names}


def _exercise_order(number: str) -> int:
    return int(number.split(".")[1])


def _defined_names(code: str) -> set[str]:
    return {
        node.name
        for node in ast.parse(code).body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _names_used(code: str) -> set[str]:
    # IPython lines (%pip, !ls) are not Python; blank them before parsing
    python = "\n".join(
        "" if line.lstrip()[:1] in "%!" else line for line in code.splitlines()
    )
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return set(re.findall(r"\b\w+\b", python))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _student_note(chapter: int, ref: str, used_later: dict[str, list[str]]) -> str:
    # Plain Markdown: the note is read in Colab and JupyterLab, not in the book
    version = ref[:12] if re.fullmatch(r"[0-9a-f]{40}", ref) else ref
    note = f"""\
**Student edition** of chapter {chapter}, for tinytx `{version}`.

1. Write your name in `{NAME_FIELD}` in the next cell.
2. Run the cells from the top. Under each exercise a cell raises
   `NotImplementedError`: replace the `raise` with your code, run the cell, then the
   checker cell below it. `✓` means your code passed, `✗` gives a hint, `…` means not
   attempted yet.
3. Before handing in, run everything once more from a fresh start (Colab:
   *Runtime → Restart session and run all*; JupyterLab: *Kernel → Restart Kernel and
   Run All Cells*) and save. The checker lines saved in the file are what your teacher
   reads.
4. Hand in the `.ipynb` file. On Colab: *File → Download → Download .ipynb*. Locally:
   the file itself.

On Colab, open this file with *File → Upload notebook*; the next cell installs tinytx
`{version}` when it runs there.
"""
    if used_later:
        order = sorted(used_later, key=_exercise_order)
        uses = [
            f"{n} ({', '.join(f'`{name}`' for name in used_later[n])})" for n in order
        ]
        listed = (
            uses[0] if len(uses) == 1 else ", ".join(uses[:-1]) + " and " + uses[-1]
        )
        plural = "Exercise" if len(uses) == 1 else "Exercises"
        note += (
            f"\nLater cells of this chapter use your code from {plural} {listed}. "
            "Until that code is written, such a cell raises and *Run all* stops there: "
            f"solve {'it' if len(uses) == 1 else 'them'} first, in this order.\n"
        )
    return note


# --- the edition ---------------------------------------------------------------------

STUDENT_README = """\
# tinytx: student edition

These are the chapters of the tinytx book with the exercises left for you, pinned to
tinytx `{ref}`. The book itself, with the explanations and worked solutions, is at
{site}.

Under each exercise a code cell holds a stub that raises
`NotImplementedError("Exercise 4.2 (...): write your solution here")`. Replace the
`raise` with your code, run the cell, then run the checker cell below it:

- `✓ name: ...` means your function passed every case;
- `✗ name: hint` names the first case it got wrong and the usual mistake behind it;
- `… name: not attempted yet` means the stub is still there.

Most chapters run from top to bottom before anything is solved: later cells use the
book's own version of what an exercise asks for. Where a later cell does use your
function (chapter 10: `decoder_io`, `padding_mask`, `greedy_decode`), the note at the
top of the notebook says which exercises to solve first.

Write your name in `STUDENT_NAME` in the first code cell of each notebook you hand in.

## On Colab

Open a notebook with *File → Upload notebook*. Its first code cell installs tinytx
`{ref}` when it runs on Colab. Colab keeps your work in your browser session: save a
copy to Drive (*File → Save a copy in Drive*) to keep it. To hand in, run everything
from a fresh start (*Runtime → Restart session and run all*), then choose
*File → Download → Download .ipynb* and hand in that file.

## On your own machine

With Python 3.10 or newer:

    python -m venv .venv && . .venv/bin/activate
    pip install jupyterlab "tinytx[book] @ git+{repository}@{ref}"
    jupyter lab notebooks

The chapters read Tiny Shakespeare through `tinytx.load_corpus`, which downloads it
once (about 1 MB). To hand in, run everything from a fresh start (*Kernel → Restart
Kernel and Run All Cells*), save, and hand in the `.ipynb` file.
"""


def build(notebooks_dir: Path, out_dir: Path, ref: str | None = None) -> Path:
    """Write `<out_dir>/tinytx-student/` and `<out_dir>/tinytx-student.zip`; return the
    zip. `ref` is the tag or commit the notebooks install on Colab; by default the
    commit checked out in `notebooks_dir`'s repository."""
    paths = sorted(notebooks_dir.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(
            f"no notebooks in {notebooks_dir}; pass --notebooks to the chapter folder"
        )
    ref = ref or git_commit(notebooks_dir)
    if not REF_RE.match(ref):
        raise ValueError(f"--ref {ref!r}: give a tag, branch or commit, such as v0.1.0")
    config = _book_config(notebooks_dir.parent / "_config.yml")
    edition = out_dir / EDITION
    (edition / "notebooks").mkdir(parents=True, exist_ok=True)
    for stale in (edition / "notebooks").glob("*.ipynb"):
        stale.unlink()
    for path in paths:
        chapter = chapter_number(path)
        if chapter is None:
            raise ValueError(f"{path.name}: chapter notebooks are named NN_slug.ipynb")
        original = json.loads(path.read_text(encoding="utf-8"))
        write_atomic(
            edition / "notebooks" / path.name,
            dumps(student_notebook(original, chapter, ref)),
        )
    readme = STUDENT_README.format(ref=ref, **config)
    write_atomic(edition / "README.md", readme)
    archive = out_dir / f"{EDITION}.zip"
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".zip.tmp")
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(edition.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(out_dir).as_posix())
    os.replace(tmp, archive)
    return archive


def git_commit(folder: Path) -> str:
    """The commit checked out in `folder`'s git repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            text=True,
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise ValueError(
            f"cannot read the git commit of {folder} ({error}); pass --ref with the "
            "tag or commit of tinytx that students should install"
        ) from None
    return done.stdout.strip()


def _book_config(config: Path) -> dict[str, str]:
    """The repository URL and the published site's URL from the book's `_config.yml`."""
    text = config.read_text(encoding="utf-8")
    fields = {}
    for block in ("repository", "html"):
        match = re.search(rf"^{block}:\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
        if match:
            pairs = re.findall(
                r"^[ \t]+(\w+):[ \t]*(\S+)", match.group(1), re.MULTILINE
            )
            fields[block] = {key: value.strip("\"'") for key, value in pairs}
    repository = fields.get("repository", {}).get("url")
    site = fields.get("html", {}).get("baseurl")
    if not repository or not site:
        raise ValueError(f"{config}: needs repository: url: ... and html: baseurl: ...")
    return {"repository": repository, "site": site}


def dumps(notebook: dict) -> str:
    # nbformat's own layout, so a student's git diff shows only what they changed
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write text (UTF-8) or bytes to path through a temporary file, so a reader never
    sees half a file and an interrupted write leaves the old one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)  # mkstemp makes the file private
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tinytx.teach.student", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write the student edition and its zip")
    make.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    make.add_argument("--out", type=Path, default=Path("student"))
    make.add_argument("--ref", help="tag or commit students install (default: HEAD)")
    gather = commands.add_parser(
        "collect", help="tabulate the checker results of handed-in notebooks"
    )
    gather.add_argument("paths", type=Path, nargs="+", help="notebooks or folders")
    gather.add_argument("--csv", type=Path, help="also write the table to this file")
    gather.add_argument(
        "--rerun",
        type=Path,
        metavar="DIR",
        help="first re-run each notebook, errors allowed, into DIR",
    )
    gather.add_argument(
        "--timeout",
        type=int,
        default=600,
        help="with --rerun: seconds a cell may run (default 600)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            archive = build(args.notebooks, args.out, args.ref)
            print(f"student edition: {args.out / EDITION}/ and {archive}")
            return 0
        from tinytx.teach import collect

        return collect.main(args.paths, args.csv, args.rerun, args.timeout)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
