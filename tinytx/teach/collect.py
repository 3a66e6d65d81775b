"""The checker results of handed-in notebooks, as one table per chapter.

    python -m tinytx.teach.student collect SUBMISSION... [--csv FILE]
                                           [--rerun DIR [--timeout SECONDS]]

`collect` reads the saved output of every checker cell (it runs nothing) and prints,
per chapter, one row per notebook and one column per exercise: ✓ passed, ✗ failed
(with the checker's hint), … not attempted, – not run. A file that is not a readable
notebook is reported and skipped.

For each notebook it finds
- the chapter in `metadata.tinytx.chapter` (written by the student-edition build), else
  in the `# Exercise N.M` line at the top of a stub cell, else in an `NN_` in the file
  name;
- the student in the `STUDENT_NAME = "..."` line of the set-up cell, else the folder
  the notebook is in (below the folder given on the command line), else nobody (the
  file name then says who it is).

`--rerun DIR` first executes each notebook again in a fresh kernel, one at a time, with
errors allowed (so one broken cell does not hide the later exercises) and a time limit
per cell, writes the executed copies under DIR and tabulates those. The handed-in files
are never changed. Re-running executes the students' code: do it where that is safe.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinytx.teach.student import (
    NAME_FIELD,
    chapter_number,
    exercises_by_cell,
    source_of,
    write_atomic,
)

CHECKER_CALL_RE = re.compile(r"\bchecks\.(\w+)\(")
# A checker's one line starts with its result (see tinytx.teach.checks.core).
CHECKER_MARKS = {"✓": "passed", "✗": "failed", "…": "not attempted"}
SYMBOLS = {"passed": "✓", "failed": "✗", "not attempted": "…", "not run": "–"}
LEGEND = "✓ passed  ✗ failed  … not attempted  – checker cell not run"
STUB_HEADER_RE = re.compile(r"^# Exercise (\d+)\.\d+:", re.MULTILINE)
NAME_RE = re.compile(rf"^{NAME_FIELD}\s*=\s*([\"'])(.*?)\1", re.MULTILINE)


@dataclass
class Submission:
    path: Path  # as given or found, for the table
    chapter: str  # "4", or "?" when nothing says
    student: str  # "" when nothing says
    results: dict[str, str] = field(default_factory=dict)  # "4.2" -> "failed"
    hints: dict[str, str] = field(default_factory=dict)  # "4.2" -> the checker's line


def checker_results(notebook: dict, chapter: int | str) -> tuple[dict, dict]:
    """(exercise -> passed / failed / not attempted / not run, exercise -> hint), read
    from the saved outputs. An exercise whose checker cells print several lines passed
    only if every line passed. The hint of a failed exercise is its first error (in
    the student's cell, say a SyntaxError, or in the checker cell) or failing line."""
    cells = notebook.get("cells", [])
    found: dict[str, set[str]] = {}
    hints: dict[str, str] = {}
    for cell, exercise in zip(cells, exercises_by_cell(cells, chapter)):
        if exercise is None:
            continue
        seen = found.setdefault(exercise.number, set())
        if cell["cell_type"] != "code":
            continue
        is_checker = CHECKER_CALL_RE.search(source_of(cell))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                hints.setdefault(exercise.number, error)
                if is_checker:  # the checker cell itself crashed
                    seen.add("failed")
            if not is_checker:
                continue
            for line in _output_text(output).splitlines():
                if line[:1] in CHECKER_MARKS:
                    seen.add(CHECKER_MARKS[line[:1]])
                    if line[:1] == "✗":
                        hints.setdefault(exercise.number, line[1:].strip())
    order = ("failed", "not attempted", "passed")  # the worst result wins
    results = {
        number: next((r for r in order if r in seen), "not run")
        for number, seen in found.items()
    }
    return results, {n: h for n, h in hints.items() if results[n] == "failed"}


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return source_of({"source": output.get("text", "")})
    return source_of({"source": output.get("data", {}).get("text/plain", "")})


def find_chapter(notebook: dict, path: Path) -> int | None:
    """The chapter from the notebook's metadata, its stubs, or its file name."""
    chapter = notebook.get("metadata", {}).get("tinytx", {}).get("chapter")
    if isinstance(chapter, int):
        return chapter
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            match = STUB_HEADER_RE.search(source_of(cell))
            if match:
                return int(match.group(1))
    return chapter_number(path)


def find_student(notebook: dict, path: Path, root: Path) -> str:
    """The name in the set-up cell, else the folder below `root` holding `path`."""
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    match = NAME_RE.search(source_of(code[0])) if code else None
    if match and match.group(2).strip():
        return match.group(2).strip()
    folders = path.parent.relative_to(root).parts if path.is_relative_to(root) else ()
    return folders[0] if folders else ""


def submissions(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(notebook, the folder it was found under) for every notebook in `paths`."""
    found = {}
    for given in paths:
        if given.is_dir():
            for file in sorted(given.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in file.parts:
                    found.setdefault(file, given)
        elif given.exists():
            found.setdefault(given, given.parent)
        else:
            raise FileNotFoundError(f"{given}: no such file or folder")
    if not found:
        raise FileNotFoundError(f"no .ipynb files in {', '.join(map(str, paths))}")
    return sorted(found.items())


def read(
    path: Path, root: Path, warn=print, executed: Path | None = None
) -> Submission | None:
    """The submission `path` found under `root` (its outputs read from `executed`, a
    re-run copy, if given), or None after a warning if it is not a readable notebook."""
    try:
        notebook = json.loads((executed or path).read_text(encoding="utf-8"))
        if not isinstance(notebook, dict) or not isinstance(
            notebook.get("cells"), list
        ):
            raise ValueError("no list of cells")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        warn(f"warning: skipped {path}: not a readable notebook ({error})")
        return None
    chapter = find_chapter(notebook, path)
    if chapter is None:
        warn(
            f"warning: {path}: no chapter in its metadata, stubs or file name; "
            "listed under chapter ?"
        )
    label = "?" if chapter is None else str(chapter)
    results, hints = checker_results(notebook, label)
    return Submission(path, label, find_student(notebook, path, root), results, hints)


def rerun(path: Path, out: Path, timeout: int) -> None:
    """Execute `path` in a fresh kernel, errors allowed, into `out` (atomically)."""
    import nbformat  # the notebook stack, needed only to re-run
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": f"the cell ran longer than {timeout} s",
        },
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    # no one is there to press Ctrl-C: every KeyboardInterrupt is the time limit's
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("ename") == "KeyboardInterrupt":
                output["evalue"] = f"stopped after {timeout} s (collect --timeout)"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, nbformat.writes(notebook) + "\n")


def collect(
    paths: list[Path], rerun_into: Path | None = None, timeout: int = 600, warn=print
) -> tuple[list[Submission], int]:
    """Every readable submission in `paths` (re-run into `rerun_into` first, if given),
    and how many files were skipped."""
    found, skipped = [], 0
    for path, root in submissions(paths):
        executed = None
        if rerun_into is not None:
            # DIR/handed_in/ada/04_attention.ipynb for handed_in/ada/04_attention.ipynb:
            # two students' files of the same name stay two files
            executed = rerun_into / root.resolve().name / path.relative_to(root)
            start = time.perf_counter()
            try:
                rerun(path, executed, timeout)
            except Exception as error:  # a dead kernel, a file nbformat rejects, ...
                warn(f"warning: skipped {path}: re-running it failed ({error!r})")
                skipped += 1
                continue
            warn(f"re-ran {path} in {time.perf_counter() - start:.1f} s: {executed}")
        submission = read(path, root, warn, executed)
        if submission is None:
            skipped += 1
        else:
            found.append(submission)
    return found, skipped


def _exercise_key(number: str) -> tuple[int, int]:
    chapter, index = number.split(".")
    return (int(chapter) if chapter.isdigit() else 10**6, int(index))


def _columns(found: list[Submission]) -> list[str]:
    return sorted({n for s in found for n in s.results}, key=_exercise_key)


def format_table(
    found: list[Submission], skipped: int = 0, read_from: str = "the saved outputs"
) -> str:
    """One table per chapter: a row per notebook, a column per exercise."""
    out = []
    chapters = sorted({s.chapter for s in found}, key=lambda c: _exercise_key(f"{c}.0"))
    for chapter in chapters:
        mine = [s for s in found if s.chapter == chapter]
        numbers = _columns(mine)
        names = [s.student or "(no name)" for s in mine]
        files = [str(s.path) for s in mine]
        name_width = max(len("student"), *map(len, names))
        file_width = max(len("notebook"), *map(len, files))
        out.append(f"chapter {chapter}")
        heading = ["student".ljust(name_width), "notebook".ljust(file_width)]
        out.append(" ".join(heading + [f"{n:>5}" for n in numbers]).rstrip())
        for submission, name, file in zip(mine, names, files):
            marks = [
                f"{SYMBOLS.get(submission.results.get(n), ''):>5}" for n in numbers
            ]
            row = [name.ljust(name_width), file.ljust(file_width)] + marks
            out.append(" ".join(row).rstrip())
        out.append("")
    out.append(f"{LEGEND} (read from {read_from})")
    if skipped:
        out.append(f"{skipped} file(s) skipped: see the warnings above")
    return "\n".join(out)


def write_csv(found: list[Submission], path: Path) -> None:
    """The printed table as CSV: chapter, student, notebook, a symbol per exercise,
    then each exercise's hint (for ✗) in a column of its own."""
    numbers = _columns(found)
    header = (
        ["chapter", "student", "notebook"] + numbers + [f"{n} hint" for n in numbers]
    )
    rows = [header]
    for s in sorted(
        found, key=lambda s: (_exercise_key(f"{s.chapter}.0"), str(s.path))
    ):
        symbols = [SYMBOLS[s.results[n]] if n in s.results else "" for n in numbers]
        rows.append(
            [s.chapter, s.student, str(s.path)]
            + symbols
            + [s.hints.get(n, "") for n in numbers]
        )
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def main(
    paths: list[Path], csv_path: Path | None, rerun_into: Path | None, timeout: int
) -> int:
    def warn(message: str) -> None:
        print(message, file=sys.stderr)

    found, skipped = collect(paths, rerun_into, timeout, warn)
    if not found:
        raise ValueError("no readable notebook among the files given")
    read_from = (
        f"the re-run copies in {rerun_into}" if rerun_into else "the saved outputs"
    )
    print(format_table(found, skipped, read_from))
    if csv_path is not None:
        write_csv(found, csv_path)
    return 0
