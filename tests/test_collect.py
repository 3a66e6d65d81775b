"""`collect`: the checker results of handed-in notebooks, as a teacher's real folder of
submissions holds them (renamed files, subfolders, broken files, unfinished runs)."""

import csv
import json
import re
from pathlib import Path

from tinytx.teach import collect, student

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": [text]}


def error(name, value):
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": []}


def cell(kind, text, outputs=()):
    extra = (
        {"outputs": list(outputs), "execution_count": None} if kind == "code" else {}
    )
    return {
        "cell_type": kind,
        "id": str(abs(hash(text)))[:8],
        "metadata": {},
        "source": text,
        **extra,
    }


def submission(folder, name, checker_outputs, *, setup="import sys\n", metadata=None):
    """A notebook with one exercise per entry of `checker_outputs`: its heading, a
    solution, and a checker cell with those saved outputs."""
    cells = [cell("code", setup)]
    for number, outputs in enumerate(checker_outputs, start=1):
        cells += [
            cell("markdown", f"```{{exercise}} E{number}\n```"),
            cell("code", f"def f{number}(x):\n    return x"),
            cell("code", f"checks.f{number}(f{number})", outputs),
        ]
    notebook = {
        "cells": cells,
        "metadata": metadata or {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def results(found):
    return {(s.path.name, n): r for s in found for n, r in s.results.items()}


def test_each_exercise_read_from_saved_outputs(tmp_path, capsys):
    submission(
        tmp_path,
        "ada_04_attention.ipynb",
        [
            [stream("✓ f1: right\n")],
            [stream("✗ f2: the mask is inverted\n")],
            [stream("… f3: not attempted yet\n")],
            [],
        ],
    )
    submission(
        tmp_path,
        "bob_04_attention.ipynb",
        [
            [stream("✓ f1: right\n")],
            [error("NameError", "name 'f2' is not defined")],
            [stream("✓ f3: right\n")],
            [stream("✓ f4: right\n")],
        ],
    )
    found, skipped = collect.collect([tmp_path])
    assert skipped == 0
    assert results(found) == {
        ("ada_04_attention.ipynb", "4.1"): "passed",
        ("ada_04_attention.ipynb", "4.2"): "failed",
        ("ada_04_attention.ipynb", "4.3"): "not attempted",
        ("ada_04_attention.ipynb", "4.4"): "not run",
        ("bob_04_attention.ipynb", "4.1"): "passed",
        ("bob_04_attention.ipynb", "4.2"): "failed",
        ("bob_04_attention.ipynb", "4.3"): "passed",
        ("bob_04_attention.ipynb", "4.4"): "passed",
    }
    hints = {s.path.name: s.hints for s in found}
    assert hints == {
        "ada_04_attention.ipynb": {"4.2": "f2: the mask is inverted"},
        "bob_04_attention.ipynb": {"4.2": "NameError: name 'f2' is not defined"},
    }
    assert student.main(["collect", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "chapter 4" in table
    assert re.search(r"ada_04_attention\.ipynb\s+✓\s+✗\s+…\s+–\n", table), table


def test_the_csv_is_the_printed_table_with_the_hints(tmp_path, capsys):
    submission(
        tmp_path / "in" / "ada",
        "04_attention.ipynb",
        [[stream("✓ f1: right\n")], [stream("✗ f2: the mask is inverted\n")]],
    )
    submission(
        tmp_path / "in" / "bob",
        "05_softmax.ipynb",
        [[stream("… f1: not attempted yet\n")]],
    )
    out = tmp_path / "results.csv"
    assert student.main(["collect", str(tmp_path / "in"), "--csv", str(out)]) == 0
    capsys.readouterr()
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        [
            "chapter",
            "student",
            "notebook",
            "4.1",
            "4.2",
            "5.1",
            "4.1 hint",
            "4.2 hint",
            "5.1 hint",
        ],
        [
            "4",
            "ada",
            str(tmp_path / "in" / "ada" / "04_attention.ipynb"),
            "✓",
            "✗",
            "",
            "",
            "f2: the mask is inverted",
            "",
        ],
        [
            "5",
            "bob",
            str(tmp_path / "in" / "bob" / "05_softmax.ipynb"),
            "",
            "",
            "…",
            "",
            "",
            "",
        ],
    ]


def test_chapter_from_metadata_then_stubs_then_file_name(tmp_path, capsys):
    ok = [[stream("✓ f1: right\n")]]
    submission(tmp_path, "softmax_carol.ipynb", ok, metadata={"tinytx": {"chapter": 5}})
    submission(
        tmp_path,
        "attention_dan.ipynb",
        ok,
        setup="# Exercise 4.1: replace each `raise NotImplementedError` with your\n",
    )
    submission(tmp_path, "erin 07_feed_forward (1).ipynb", ok)
    submission(tmp_path, "untitled.ipynb", ok)
    warnings = []
    found, _ = collect.collect([tmp_path], warn=warnings.append)
    assert {s.path.name: s.chapter for s in found} == {
        "softmax_carol.ipynb": "5",
        "attention_dan.ipynb": "4",
        "erin 07_feed_forward (1).ipynb": "7",
        "untitled.ipynb": "?",
    }
    assert results(found)[("softmax_carol.ipynb", "5.1")] == "passed"
    assert warnings == [
        f"warning: {tmp_path / 'untitled.ipynb'}: no chapter in its "
        "metadata, stubs or file name; listed under chapter ?"
    ]


def test_student_from_the_name_field_then_the_folder(tmp_path):
    ok = [[stream("✓ f1: right\n")]]
    named = '# Your name:\nSTUDENT_NAME = "Ada Lovelace"\nimport sys\n'
    submission(tmp_path / "group-a", "04_attention.ipynb", ok, setup=named)
    submission(tmp_path / "bob", "04_attention.ipynb", ok, setup='STUDENT_NAME = ""\n')
    submission(tmp_path, "carol_04_attention.ipynb", ok)
    found, _ = collect.collect([tmp_path])
    students = {str(s.path.relative_to(tmp_path)): s.student for s in found}
    assert students == {
        "group-a/04_attention.ipynb": "Ada Lovelace",
        "bob/04_attention.ipynb": "bob",
        "carol_04_attention.ipynb": "",
    }


def test_an_unreadable_file_is_reported_and_the_rest_tabulated(tmp_path, capsys):
    submission(tmp_path, "ada_04_attention.ipynb", [[stream("✓ f1: right\n")]])
    (tmp_path / "bob_04_attention.ipynb").write_text("{not json")
    (tmp_path / "carol_04_attention.ipynb").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "dan_04_attention.ipynb").write_text("[]")
    assert student.main(["collect", str(tmp_path)]) == 0
    printed = capsys.readouterr()
    assert re.search(r"ada_04_attention\.ipynb\s+✓", printed.out)
    assert "3 file(s) skipped" in printed.out
    for name in ("bob", "carol", "dan"):
        assert (
            f"skipped {tmp_path / f'{name}_04_attention.ipynb'}: "
            "not a readable notebook" in printed.err
        )


def test_nothing_readable_is_an_error_that_says_so(tmp_path, capsys):
    assert student.main(["collect", str(tmp_path)]) == 1
    assert "no .ipynb files" in capsys.readouterr().err
    (tmp_path / "01_x.ipynb").write_text("{not json")
    assert student.main(["collect", str(tmp_path)]) == 1
    assert "no readable notebook" in capsys.readouterr().err
    assert student.main(["collect", str(tmp_path / "missing.ipynb")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_collect_on_the_full_edition_finds_every_exercise_passed():
    found, skipped = collect.collect([ROOT / "notebooks"])
    count = sum(
        len(re.findall(r"\{exercise\}", p.read_text(encoding="utf-8")))
        for p in NOTEBOOKS
    )
    assert skipped == 0 and sum(len(s.results) for s in found) == count
    assert {r for s in found for r in s.results.values()} == {"passed"}


def test_rerun_runs_past_a_broken_cell_and_a_hung_one(tmp_path):
    """Saved outputs say – (the run stopped at a broken cell); re-running with errors
    allowed and a time limit reaches every checker, and the handed-in file is kept."""
    checks = "class checks:\n    f1 = f2 = f3 = staticmethod(lambda f: print(f(1)))\n"
    path = submission(
        tmp_path / "in" / "ada", "04_attention.ipynb", [[], [], []], setup=checks
    )
    notebook = json.loads(path.read_text(encoding="utf-8"))
    solutions = notebook["cells"][2::3]
    solutions[0]["source"] = 'def f1(x):\n    return "✓ f1: right"'
    solutions[1]["source"] = "def f2(x):\n    return undefined_name"  # ✗ when checked
    solutions[2]["source"] = "import time\nwhile True:\n    time.sleep(0.1)"  # hangs
    notebook["cells"].append(cell("code", 'print("✓ after the hang")'))
    path.write_text(json.dumps(notebook), encoding="utf-8")
    handed_in = path.read_bytes()

    found, skipped = collect.collect(
        [tmp_path / "in"], rerun_into=tmp_path / "rerun", timeout=5
    )
    assert skipped == 0 and path.read_bytes() == handed_in
    [ada] = found
    assert ada.student == "ada" and ada.path == path
    assert ada.results == {"4.1": "passed", "4.2": "failed", "4.3": "failed"}
    assert ada.hints["4.2"] == "NameError: name 'undefined_name' is not defined"
    assert (
        ada.hints["4.3"] == "KeyboardInterrupt: stopped after 5 s (collect --timeout)"
    )
    executed = tmp_path / "rerun" / "in" / "ada" / "04_attention.ipynb"
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    assert [o.get("ename") for o in cells[-3]["outputs"]] == ["KeyboardInterrupt"]
    assert "".join(cells[-1]["outputs"][0]["text"]) == "✓ after the hang\n"


def test_the_hint_of_a_failed_exercise_is_its_first_error(tmp_path):
    """A SyntaxError in the student's cell explains the checker's NameError below it."""
    path = submission(
        tmp_path, "05_softmax.ipynb", [[error("NameError", "name 'f1' is not defined")]]
    )
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook["cells"][2]["outputs"] = [error("SyntaxError", "invalid syntax (line 2)")]
    path.write_text(json.dumps(notebook), encoding="utf-8")
    [found], _ = collect.collect([path])
    assert found.results == {"5.1": "failed"}
    assert found.hints == {"5.1": "SyntaxError: invalid syntax (line 2)"}
