"""The student edition (`make student`) and the collection of students' checker results."""

import contextlib
import io
import json
import math
import re
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tinytx import checks
from tinytx.teach import student

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def source(cell):
    return "".join(cell["source"])


def is_solution(cell):
    return "solution" in cell["metadata"].get("tags", [])


def cleared(notebook):
    """What the student edition promises for everything but the solutions."""
    notebook = json.loads(json.dumps(notebook))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    return notebook


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    archive = student.build(ROOT / "notebooks", out)
    return out, archive


def student_copy(edition, path):
    out, _ = edition
    return json.loads((out / student.EDITION / "notebooks" / path.name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_putting_the_solutions_back_gives_the_original(edition, path):
    original = json.loads(path.read_text(encoding="utf-8"))
    copy = student_copy(edition, path)
    assert [c.get("id") for c in copy["cells"]] == [c.get("id") for c in original["cells"]]
    solutions = {c["id"]: c["source"] for c in original["cells"] if is_solution(c)}
    assert solutions, f"{path.name} has no solution cells"
    for cell in copy["cells"]:
        if cell["id"] in solutions:
            assert source(cell) != "".join(solutions[cell["id"]])
            cell["source"] = solutions[cell["id"]]
    assert copy == cleared(original)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_stub_names_its_exercise_and_raises(edition, path):
    chapter = int(path.name[:2])
    original = json.loads(path.read_text(encoding="utf-8"))
    titles = [t for c in original["cells"] if c["cell_type"] == "markdown"
              for t in re.findall(r"^(?:`{3,}|:{3,})\{exercise\} (.+)$", source(c), re.MULTILINE)]
    cells = student_copy(edition, path)["cells"]
    stubs = [(i, source(c)) for i, c in enumerate(cells) if is_solution(c)]
    assert len(stubs) == len(titles)
    for number, ((index, stub), title) in enumerate(zip(stubs, titles), start=1):
        message = f"Exercise {chapter}.{number} ({title.rstrip('.')}): write your solution here"
        assert f'raise NotImplementedError("{message}")' in stub
        namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
        exec(compile(stub, f"{path.name} stub {number}", "exec"), namespace)
        defined = [v for k, v in namespace.items() if callable(v) and k not in ("torch", "nn", "F", "math")]
        assert defined, f"exercise {chapter}.{number}: the stub defines nothing for the checker to call"
        # the checker cell right below answers the stub with "not attempted yet"
        checker_cell = source(cells[index + 1])
        namespace["checks"] = checks
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(checker_cell, namespace)
        assert "not attempted yet" in printed.getvalue(), (checker_cell, printed.getvalue())


def test_the_zip_holds_exactly_the_folder(edition):
    out, archive = edition
    folder = {p.relative_to(out).as_posix() for p in (out / student.EDITION).rglob("*") if p.is_file()}
    with zipfile.ZipFile(archive) as zf:
        assert set(zf.namelist()) == folder
    assert {f"{student.EDITION}/notebooks/{p.name}" for p in NOTEBOOKS} | {f"{student.EDITION}/README.md"} == folder
    readme = (out / student.EDITION / "README.md").read_text(encoding="utf-8")
    assert "https://github.com/tinytx/tinytx" in readme and "NotImplementedError" in readme


def test_the_edition_holds_no_page_of_the_book(edition):
    """Teachers' material, above all the concept questions and answers, stays out."""
    out, archive = edition
    pages = sorted((ROOT / "book").glob("*.md"))
    questions = ROOT / "book" / "concept_questions.md"
    assert questions in pages
    files = [p for p in (out / student.EDITION).rglob("*") if p.is_file()]
    with zipfile.ZipFile(archive) as zf:
        names = {Path(name).name for name in zf.namelist()}
    assert not {p.name for p in pages} & ({f.name for f in files} | names)
    assert [f.name for f in files if f.suffix != ".ipynb"] == ["README.md"]
    title = questions.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
    assert not [f.name for f in files if title in f.read_text(encoding="utf-8")]


def test_building_again_removes_notebooks_left_from_before(tmp_path):
    student.build(ROOT / "notebooks", tmp_path)
    (tmp_path / student.EDITION / "notebooks" / "99_left_over.ipynb").write_text("{}")
    archive = student.build(ROOT / "notebooks", tmp_path)
    assert sorted(p.name for p in (tmp_path / student.EDITION / "notebooks").iterdir()) == [p.name for p in NOTEBOOKS]
    with zipfile.ZipFile(archive) as zf:
        assert not [n for n in zf.namelist() if "left_over" in n]


def notebook_of(*cells):
    def cell(kind, text, tags=()):
        extra = {"outputs": [], "execution_count": None} if kind == "code" else {}
        return {"cell_type": kind, "id": str(abs(hash(text)))[:8], "metadata": {"tags": list(tags)},
                "source": text, **extra}
    return {"cells": [cell(*c) for c in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_stub_keeps_decorators_docstrings_and_methods():
    exercise = student.Exercise("3.1", "Title")
    stub = student.stub_source(
        '@torch.no_grad()\ndef f(x,\n      y=2):\n    """Doc."""\n    return x\n\n'
        'class M:\n    """Doc."""\n    def __init__(self, n):\n        self.n = n\n\n    def forward(self, x):\n        return x\n',
        exercise)
    assert '@torch.no_grad()\ndef f(x,\n      y=2):\n    """Doc."""\n    raise NotImplementedError(' in stub
    assert 'class M:\n    """Doc."""\n    def __init__(self, n):\n        raise NotImplementedError(' in stub
    assert "def forward(self, x):\n        raise NotImplementedError(" in stub
    assert "return x" not in stub and "self.n = n" not in stub
    statements = student.stub_source("answer = 42\n", exercise)
    with pytest.raises(NotImplementedError, match=r"Exercise 3\.1 \(Title\)"):
        exec(statements, {})


def test_malformed_chapters_get_errors_that_say_what_to_fix():
    with pytest.raises(ValueError, match="before any"):
        student.student_notebook(notebook_of(("code", "def f(x):\n    return x", ["solution"])), 1)
    with pytest.raises(ValueError, match=r"1\.1 have no cell tagged"):
        student.student_notebook(notebook_of(("markdown", "```{exercise} A\n:label: a\n```")), 1)
    with pytest.raises(ValueError, match="two solution cells"):
        student.student_notebook(notebook_of(("markdown", "```{exercise} A\n```"),
                                             ("code", "def f(x):\n    return x", ["solution"]),
                                             ("code", "def g(x):\n    return x", ["solution"])), 1)
    with pytest.raises(ValueError, match="on one line"):
        student.stub_source("def f(x): return x\n", student.Exercise("1.1", "A"))
    with pytest.raises(FileNotFoundError, match="--notebooks"):
        student.build(Path("/nonexistent"), Path("/tmp"))


def test_collect_reads_each_exercise_from_saved_outputs(tmp_path, capsys):
    def submission(name, *checker_outputs):
        cells = []
        for number, outputs in enumerate(checker_outputs, start=1):
            cells += [("markdown", f"```{{exercise}} E{number}\n```"),
                      ("code", f"def f{number}(x):\n    return x", ["solution"]),
                      ("code", f"checks.f{number}(f{number})")]
        notebook = notebook_of(*cells)
        for cell, outputs in zip(notebook["cells"][2::3], checker_outputs):
            cell["outputs"] = outputs
        (tmp_path / name).write_text(json.dumps(notebook))

    stream = lambda text: {"output_type": "stream", "name": "stdout", "text": [text]}  # noqa: E731
    submission("ada_04_attention.ipynb", [stream("✓ f1: right\n")], [stream("✗ f2: the mask is inverted\n")],
               [stream("… f3: not attempted yet\n")], [])
    submission("bob_04_attention.ipynb", [stream("✓ f1: right\n")],
               [{"output_type": "error", "ename": "NameError", "evalue": "f2", "traceback": []}],
               [stream("✓ f3: right\n")], [stream("✓ f4: right\n")])
    rows = student.collect([tmp_path])
    result = {(Path(r[1]).name, r[2]): r[3] for r in rows}
    assert result == {
        ("ada_04_attention.ipynb", "4.1"): "passed", ("ada_04_attention.ipynb", "4.2"): "failed",
        ("ada_04_attention.ipynb", "4.3"): "not attempted", ("ada_04_attention.ipynb", "4.4"): "not run",
        ("bob_04_attention.ipynb", "4.1"): "passed", ("bob_04_attention.ipynb", "4.2"): "failed",
        ("bob_04_attention.ipynb", "4.3"): "passed", ("bob_04_attention.ipynb", "4.4"): "passed",
    }
    assert student.main(["collect", str(tmp_path), "--csv", str(tmp_path / "out.csv")]) == 0
    table = capsys.readouterr().out
    assert "chapter 4" in table and re.search(r"ada_04_attention\.ipynb\s+✓\s+✗\s+…\s+–", table)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0] == "chapter,notebook,exercise,result"


def test_collect_on_the_full_edition_finds_every_exercise_passed():
    rows = student.collect([ROOT / "notebooks"])
    assert len(rows) == sum(len(re.findall(r"\{exercise\}", p.read_text(encoding="utf-8"))) for p in NOTEBOOKS)
    assert {r[3] for r in rows} == {"passed"}


def test_collect_explains_a_missing_or_broken_submission(tmp_path, capsys):
    assert student.main(["collect", str(tmp_path)]) == 1
    assert "no .ipynb files" in capsys.readouterr().err
    (tmp_path / "01_x.ipynb").write_text("{not json")
    assert student.main(["collect", str(tmp_path)]) == 1
    assert "not a readable notebook" in capsys.readouterr().err
