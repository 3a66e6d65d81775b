"""The student edition (`make student`): stubs that give nothing away, a set-up cell
pinned to one version and asking for a name, and a build that needs no torch."""

import ast
import contextlib
import io
import json
import math
import re
import subprocess
import sys
import tokenize
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
REF = "0123456789abcdef0123456789abcdef01234567"


def source(cell):
    return "".join(cell["source"])


def is_solution(cell):
    return "solution" in cell["metadata"].get("tags", [])


def cleared(notebook):
    """What the student edition promises for everything but the solutions, the set-up
    cell, the note above it and the notebook's `tinytx` metadata."""
    notebook = json.loads(json.dumps(notebook))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    return notebook


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    archive = student.build(ROOT / "notebooks", out, ref=REF)
    return out, archive


def student_copy(edition, path):
    out, _ = edition
    folder = out / student.EDITION / "notebooks"
    return json.loads((folder / path.name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_putting_the_solutions_back_gives_the_original(edition, path):
    original = json.loads(path.read_text(encoding="utf-8"))
    copy = student_copy(edition, path)
    note = copy["cells"].pop(1)
    assert note["id"] == "tinytx-student-note" and note["cell_type"] == "markdown"
    original_ids = [c.get("id") for c in original["cells"]]
    assert [c.get("id") for c in copy["cells"]] == original_ids
    solutions = {c["id"]: c["source"] for c in original["cells"] if is_solution(c)}
    assert solutions, f"{path.name} has no solution cells"
    for cell in copy["cells"]:
        if cell["id"] in solutions:
            assert source(cell) != "".join(solutions[cell["id"]])
            cell["source"] = solutions[cell["id"]]
    setup, original_setup = copy["cells"][1], original["cells"][1]
    pinned = source(original_setup).replace('@main"', f'@{REF}"')
    assert source(setup) == "\n".join(student.NAME_LINES) + "\n" + pinned
    setup["source"] = original_setup["source"]
    metadata = copy["metadata"].pop("tinytx")
    assert metadata["edition"] == "student" and metadata["ref"] == REF
    assert metadata["chapter"] == int(path.name[:2])
    markdown = "\n".join(
        source(c) for c in original["cells"] if c["cell_type"] == "markdown"
    )
    titles = re.findall(r"\{exercise\} (.+)", markdown)
    assert list(metadata["exercises"].values()) == [t.rstrip(".") for t in titles]
    assert copy == cleared(original)


def test_the_set_up_cell_pins_the_version_and_asks_for_a_name(edition):
    for path in NOTEBOOKS:
        cells = student_copy(edition, path)["cells"]
        setup = source(next(c for c in cells if c["cell_type"] == "code"))
        assert setup.count(f'git+https://github.com/tinytx/tinytx@{REF}"') == 1, setup
        assert "@main" not in setup
        assert re.search(r'^STUDENT_NAME = ""$', setup, re.MULTILINE)
        note = source(cells[1])
        assert "File → Download → Download .ipynb" in note
        assert "File → Upload notebook" in note and f"`{REF[:12]}`" in note


def test_the_note_names_exactly_the_exercises_later_cells_depend_on(edition):
    """Only chapter 10 calls a student's function outside its checker (teachers.md)."""
    notes = {
        p.name[:2]: source(student_copy(edition, p)["cells"][1]) for p in NOTEBOOKS
    }
    assert {chapter for chapter, note in notes.items() if "Later cells" in note} == {
        "10"
    }
    assert (
        "Exercises 10.1 (`decoder_io`), 10.2 (`padding_mask`), 10.3 "
        "(`greedy_decode`) and 10.4 (`beam_step`)" in notes["10"]
    )


def solution_body_lines(solution: str) -> set[str]:
    """The stripped lines of a solution other than def/class headers, decorators and
    docstrings, plus every comment: what a stub must not show."""
    tree = ast.parse(solution)
    kept = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            kept |= set(range(first, node.body[0].lineno))
            if ast.get_docstring(node) is not None:
                kept |= set(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    lines = solution.splitlines()
    secret = {line.strip() for i, line in enumerate(lines, start=1) if i not in kept}
    for token in tokenize.generate_tokens(io.StringIO(solution).readline):
        if token.type == tokenize.COMMENT:  # also those on a signature line
            secret.add(token.string.strip())
    return {line for line in secret if line}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_line_survives_in_the_edition(edition, path):
    """No line of a solution's code and no comment of it appears anywhere in the
    edition, unless the full edition shows it outside its solutions too."""
    original = json.loads(path.read_text(encoding="utf-8"))
    elsewhere = set()
    for cell in original["cells"]:
        if not is_solution(cell):
            elsewhere |= {line.strip() for line in source(cell).splitlines()}
            elsewhere |= set(re.findall(r"#.*", source(cell)))
    secret = set()
    for cell in original["cells"]:
        if is_solution(cell):
            mine = solution_body_lines(source(cell)) - elsewhere
            assert mine, f"{path.name}: a solution with no line of its own to look for"
            secret |= mine
    out, _ = edition
    texts = [source(c) for c in student_copy(edition, path)["cells"]]
    texts.append((out / student.EDITION / "README.md").read_text(encoding="utf-8"))
    lines = [line.strip() for text in texts for line in text.splitlines()]
    leaked = {line for line in lines if line in secret}
    comments = {line for line in secret if line.startswith("#")}
    leaked |= {c for c in comments if any(c in text for text in texts)}
    assert not leaked, f"{path.name}: solution lines in the student edition: {leaked}"


def test_the_leak_test_sees_a_kept_comment():
    """The check above fails on the stubs of the old builder, which kept comments
    between `def` and the first statement (Exercise 5.3 gave the derivation away)."""
    solution = (
        'def f(p, g):\n    """Doc."""\n    # J is symmetric, so J g = p * g\n'
        "    return p\n"
    )
    secret = solution_body_lines(solution)
    assert secret == {"# J is symmetric, so J g = p * g", "return p"}
    old_stub = solution.replace("    return p\n", "    raise NotImplementedError\n")
    assert {line.strip() for line in old_stub.splitlines()} & secret
    new_stub = student.stub_source(solution, student.Exercise("5.3", "T"))
    assert not {line.strip() for line in new_stub.splitlines()} & secret


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_stub_is_header_signature_docstring_and_raise(edition, path):
    stubs = [source(c) for c in student_copy(edition, path)["cells"] if is_solution(c)]
    assert stubs
    for stub in stubs:
        comments = [
            token.string
            for token in tokenize.generate_tokens(io.StringIO(stub).readline)
            if token.type == tokenize.COMMENT
        ]
        assert comments == stub.splitlines()[:2], f"comments beyond the header: {stub}"
        for node in ast.parse(stub).body:
            assert isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Raise)), stub
            if isinstance(node, ast.ClassDef):
                methods = body_after_docstring(node)
                assert methods and all(isinstance(m, ast.FunctionDef) for m in methods)
                for method in methods:
                    assert body_after_docstring(method) == [method.body[-1]], stub
                    assert isinstance(method.body[-1], ast.Raise), stub
            elif isinstance(node, ast.FunctionDef):
                assert body_after_docstring(node) == [node.body[-1]], stub
                assert isinstance(node.body[-1], ast.Raise), stub


def body_after_docstring(node):
    return node.body[1:] if ast.get_docstring(node) is not None else node.body


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_stub_names_its_exercise_and_raises(edition, path):
    chapter = int(path.name[:2])
    original = json.loads(path.read_text(encoding="utf-8"))
    titles = [
        t
        for c in original["cells"]
        if c["cell_type"] == "markdown"
        for t in re.findall(
            r"^(?:`{3,}|:{3,})\{exercise\} (.+)$", source(c), re.MULTILINE
        )
    ]
    cells = student_copy(edition, path)["cells"]
    stubs = [(i, source(c)) for i, c in enumerate(cells) if is_solution(c)]
    assert len(stubs) == len(titles)
    for number, ((index, stub), title) in enumerate(zip(stubs, titles), start=1):
        message = (
            f"Exercise {chapter}.{number} ({title.rstrip('.')}): "
            "write your solution here"
        )
        assert f'raise NotImplementedError("{message}")' in stub
        namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
        exec(compile(stub, f"{path.name} stub {number}", "exec"), namespace)
        modules = ("torch", "nn", "F", "math")
        defined = [v for k, v in namespace.items() if callable(v) and k not in modules]
        assert defined, (
            f"exercise {chapter}.{number}: the stub defines nothing to check"
        )
        # the checker cell right below answers the stub with "not attempted yet"
        checker_cell = source(cells[index + 1])
        namespace["checks"] = checks
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(checker_cell, namespace)
        assert "not attempted yet" in printed.getvalue(), (
            checker_cell,
            printed.getvalue(),
        )


def test_the_zip_holds_exactly_the_folder_and_the_readme_says_what_to_do(edition):
    out, archive = edition
    folder = {
        p.relative_to(out).as_posix()
        for p in (out / student.EDITION).rglob("*")
        if p.is_file()
    }
    with zipfile.ZipFile(archive) as zf:
        assert set(zf.namelist()) == folder
    notebooks = {f"{student.EDITION}/notebooks/{p.name}" for p in NOTEBOOKS}
    assert notebooks | {f"{student.EDITION}/README.md"} == folder
    readme = (out / student.EDITION / "README.md").read_text(encoding="utf-8")
    assert "NotImplementedError" in readme and "STUDENT_NAME" in readme
    assert (
        "book itself, with the explanations and worked solutions, is at\nhttps://tinytx.github.io/tinytx/"
        in readme
    )
    assert (
        f'pip install jupyterlab "tinytx[book] @ git+https://github.com/tinytx/tinytx@{REF}"'
        in readme
    )
    assert "File → Download → Download .ipynb" in readme
    assert "decoder_io" in readme and "Cells further down" not in readme


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
    student.build(ROOT / "notebooks", tmp_path, ref=REF)
    (tmp_path / student.EDITION / "notebooks" / "99_left_over.ipynb").write_text("{}")
    archive = student.build(ROOT / "notebooks", tmp_path, ref=REF)
    built = sorted(p.name for p in (tmp_path / student.EDITION / "notebooks").iterdir())
    assert built == [p.name for p in NOTEBOOKS]
    with zipfile.ZipFile(archive) as zf:
        assert not [n for n in zf.namelist() if "left_over" in n]


def test_the_build_needs_neither_torch_nor_jupyter(tmp_path):
    """`make student` runs on a bare Python: importing torch, numpy, matplotlib,
    IPython or nbformat during the build fails this test."""
    blocked = ["torch", "numpy", "matplotlib", "IPython", "ipywidgets", "nbformat"]
    script = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None  # `import name` now raises ImportError\n"
        "from tinytx.teach.student import main\n"
        f"sys.exit(main(['build', '--out', {str(tmp_path)!r}, '--ref', 'v0.1.0']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    built = sorted((tmp_path / student.EDITION / "notebooks").glob("*.ipynb"))
    assert [p.name for p in built] == [p.name for p in NOTEBOOKS]
    assert "tinytx@v0.1.0" in built[0].read_text(encoding="utf-8")


def test_the_version_defaults_to_the_commit_checked_out(tmp_path):
    repo = tmp_path / "book"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "notebooks" / NOTEBOOKS[4].name).write_bytes(NOTEBOOKS[4].read_bytes())
    (repo / "_config.yml").write_bytes((ROOT / "_config.yml").read_bytes())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "x"], check=True)
    commit = subprocess.run(
        git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    student.build(repo / "notebooks", tmp_path / "out")
    built = tmp_path / "out" / student.EDITION / "notebooks" / NOTEBOOKS[4].name
    setup = json.loads(built.read_text(encoding="utf-8"))["cells"][2]
    assert f'tinytx@{commit}"' in source(setup)
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / NOTEBOOKS[4].name).write_bytes(NOTEBOOKS[4].read_bytes())
    with pytest.raises(ValueError, match="pass --ref"):
        student.build(tmp_path / "bare", tmp_path / "out2")
    with pytest.raises(ValueError, match="give a tag, branch or commit"):
        student.build(repo / "notebooks", tmp_path / "out3", ref="main; rm -rf /")


def notebook_of(*cells):
    def cell(kind, text, tags=()):
        extra = {"outputs": [], "execution_count": None} if kind == "code" else {}
        identifier = str(abs(hash(text)))[:8]
        return {
            "cell_type": kind,
            "id": identifier,
            "metadata": {"tags": list(tags)},
            "source": text,
            **extra,
        }

    setup = (
        'import sys\nif "google.colab" in sys.modules:\n'
        '    %pip install -q "tinytx @ git+https://github.com/tinytx/tinytx@main"\n'
    )
    return {
        "cells": [cell("code", setup)] + [cell(*c) for c in cells],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_stub_keeps_decorators_docstrings_and_methods_but_no_comment():
    exercise = student.Exercise("3.1", "Title")
    stub = student.stub_source(
        "# the trick: reuse x\n"
        "@torch.no_grad()\ndef f(x,  # the input, which we return\n      y=2):\n"
        "    # return x unchanged\n"
        '    """Doc."""\n    return x\n\n'
        "class M:  # hint\n"
        "    # a class comment\n"
        '    """Doc."""\n'
        "    size = 3\n"
        "    def __init__(self, n):\n        # keep n\n        self.n = n\n\n"
        "    def forward(self, x):\n        return x\n",
        exercise,
    )
    assert (
        '@torch.no_grad()\ndef f(x,\n      y=2):\n    """Doc."""\n    raise '
        "NotImplementedError(" in stub
    )
    assert (
        'class M:\n    """Doc."""\n    def __init__(self, n):\n        raise '
        "NotImplementedError(" in stub
    )
    assert "def forward(self, x):\n        raise NotImplementedError(" in stub
    for secret in (
        "return x",
        "self.n = n",
        "size = 3",
        "trick",
        "input",
        "unchanged",
        "hint",
        "class comment",
        "keep n",
    ):
        assert secret not in stub, secret
    statements = student.stub_source("answer = 42  # the answer\n", exercise)
    assert "answer" not in statements.replace("NotImplementedError", "")
    with pytest.raises(NotImplementedError, match=r"Exercise 3\.1 \(Title\)"):
        exec(statements, {})


def test_malformed_chapters_get_errors_that_say_what_to_fix():
    def build(*cells):
        return student.student_notebook(notebook_of(*cells), 1, REF)

    with pytest.raises(ValueError, match="before any"):
        build(("code", "def f(x):\n    return x", ["solution"]))
    with pytest.raises(ValueError, match=r"1\.1 have no cell tagged"):
        build(("markdown", "```{exercise} A\n:label: a\n```"))
    with pytest.raises(ValueError, match="two solution cells"):
        build(
            ("markdown", "```{exercise} A\n```"),
            ("code", "def f(x):\n    return x", ["solution"]),
            ("code", "def g(x):\n    return x", ["solution"]),
        )
    no_install = notebook_of(
        ("markdown", "```{exercise} A\n```"),
        ("code", "def f(x):\n    return x", ["solution"]),
    )
    no_install["cells"][0]["source"] = "import torch\n"
    with pytest.raises(ValueError, match="one Colab install line"):
        student.student_notebook(no_install, 1, REF)
    with pytest.raises(ValueError, match="on one line"):
        student.stub_source("def f(x): return x\n", student.Exercise("1.1", "A"))
    with pytest.raises(FileNotFoundError, match="--notebooks"):
        student.build(Path("/nonexistent"), Path("/tmp"), ref=REF)
