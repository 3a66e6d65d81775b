"""The nbval tiers plugin (tests/nbval_tiers.py): its float matching, exactly, and
a real nbval run on a synthetic notebook whose stored outputs differ from what
its cells print by chosen amounts, so that a change in nbval's internals (which
the plugin builds on) fails here instead of silently comparing exactly."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbval_tiers import (
    APPROX_TAG,
    FLOAT,
    approx_rtol,
    floats_match,
    last_digit_unit,
    match_floats,
    scale_floats,
)

pytest_plugins = ["pytester"]
TESTS = Path(__file__).resolve().parent


def test_float_pattern_finds_printed_floats_and_nothing_else():
    text = "loss 2.6934, lr 3e-05, -0.5%; step 400 of 1,228; v2.13.0 x1.5 [0.0, 1.25]."
    assert FLOAT.findall(text) == ["2.6934", "3e-05", "-0.5", "0.0", "1.25"]


def test_last_digit_unit():
    assert last_digit_unit("2.6934") == pytest.approx(1e-4)
    assert last_digit_unit("1.9") == pytest.approx(0.1)
    assert last_digit_unit("3.25e-05") == pytest.approx(1e-7)
    assert last_digit_unit("3e-05") == pytest.approx(1e-5)


def test_floats_match_within_rtol_plus_one_printed_unit():
    assert floats_match("2.6934", "2.6931", 0.01)
    assert floats_match("1.0100", "1.0000", 0.01)  # exactly rtol away, plus 0
    assert floats_match("1.0101", "1.0000", 0.01)  # rtol plus one printed unit
    assert not floats_match("1.0102", "1.0000", 0.01)
    assert floats_match("0.0013", "0.0012", 0.01)  # one printed unit
    assert not floats_match("0.0014", "0.0012", 0.01)
    assert floats_match("-0.0000", "0.0000", 0.01)


def test_match_floats_replaces_only_close_floats_and_only_if_the_rest_is_equal():
    stored = "val 2.4546, gap 0.2389 after 400 steps"
    assert (
        match_floats("val 2.4550, gap 0.2392 after 400 steps", stored, 0.01) == stored
    )
    assert (
        match_floats("val 2.4550, gap 0.2500 after 400 steps", stored, 0.01)
        == "val 2.4546, gap 0.2500 after 400 steps"
    )
    changed_text = "val 2.4550, gap 0.2392 after 401 steps"
    assert match_floats(changed_text, stored, 0.01) == changed_text


def test_scale_floats_keeps_the_printed_digits():
    assert (
        scale_floats("loss 2.0000 lr 3e-04 n 12", 1.05) == "loss 2.1000 lr 3e-04 n 12"
    )
    assert scale_floats("loss 2.0000 lr 4.0e-04", 0.95) == "loss 1.9000 lr 3.8e-04"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [([], None), (["nbval-approx"], 0.01), (["solution", "nbval-approx=0.03"], 0.03)],
)
def test_approx_rtol_reads_the_tag(tags, expected):
    assert approx_rtol(tags, "nb, cell 1") == expected


@pytest.mark.parametrize(
    "tags",
    [
        ["nbval-approx=0.05"],  # too loose to catch a 5% change
        ["nbval-approx=0"],
        ["nbval-approx=1%"],
        ["nbval-approximate"],
        ["nbval-approx", "nbval-approx=0.02"],
        ["nbval-approx", "nbval-ignore-output"],
    ],
)
def test_approx_rtol_refuses_bad_tags_with_what_to_write(tags):
    with pytest.raises(pytest.UsageError, match="nb, cell 1"):
        approx_rtol(tags, "nb, cell 1")


# (name, tags, code the cell runs, output stored in the notebook, expected outcome)
CASES = [
    ("exact_equal", [], 'print("loss 2.6931")', "loss 2.6931\n", "PASSED"),
    ("exact_drift", [], 'print("loss 2.6934")', "loss 2.6931\n", "FAILED"),
    ("approx_drift", [APPROX_TAG], 'print("loss 2.6934")', "loss 2.6931\n", "PASSED"),
    ("approx_2pct", [APPROX_TAG], 'print("loss 2.7470")', "loss 2.6931\n", "FAILED"),
    ("rtol_3_2pct", [f"{APPROX_TAG}=0.03"], 'print("2.7470")', "2.6931\n", "PASSED"),
    (
        "approx_int",
        [APPROX_TAG],
        'print("66 units, 0.5000")',
        "69 units, 0.5000\n",
        "FAILED",
    ),
    ("approx_text", [APPROX_TAG], 'print("val 2.6931")', "loss 2.6931\n", "FAILED"),
    ("approx_repr", [APPROX_TAG], "[0.12345, -0.5]", "[0.12346, -0.5]", "PASSED"),
    (
        "approx_more",
        [APPROX_TAG],
        'print("a 1.0")\nprint("b 2.0")',
        "a 1.0\n",
        "FAILED",
    ),
    ("too_coarse", [APPROX_TAG], 'print("rate 0.1")', "rate 0.1\n", "FAILED"),
    ("ignored", ["nbval-ignore-output"], 'print("66 units")', "69 units\n", "PASSED"),
]


def _synthetic_notebook(path: Path) -> None:
    cells = []
    for count, (_, tags, code, stored, _) in enumerate(CASES, start=1):
        cell = nbformat.v4.new_code_cell(code, execution_count=count)
        cell.metadata["tags"] = tags
        if code.startswith("print"):
            cell.outputs = [
                nbformat.v4.new_output("stream", name="stdout", text=stored)
            ]
        else:
            cell.outputs = [
                nbformat.v4.new_output(
                    "execute_result", {"text/plain": stored}, execution_count=count
                )
            ]
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)


def test_nbval_with_the_plugin_compares_each_tier(pytester, monkeypatch):
    _synthetic_notebook(pytester.path / "synthetic.ipynb")
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    result = pytester.runpytest_subprocess(
        "-p", "nbval_tiers", "--nbval", "--nbval-current-env", "-v", "synthetic.ipynb"
    )
    outcomes = dict(re.findall(r"::Cell (\d+) (PASSED|FAILED)", result.stdout.str()))
    assert outcomes == {str(i): case[-1] for i, case in enumerate(CASES)}, (
        result.stdout.str()
    )
    assert "multiplied by 1.05, this cell still matches" in result.stdout.str()
    assert (
        "nbval tiers of the collected code cells: 2 exact, 8 approximate, 1 ignored"
        in result.stdout.str()
    )
