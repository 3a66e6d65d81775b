"""Shared by the tests of every chapter's checkers: run one
and read the line it printed."""

from __future__ import annotations

from tinytx.teach.checks.core import Verdict


def run(checker, fn, capsys) -> tuple[Verdict, str]:
    """Run a checker; return its verdict and the one line it printed."""
    passed = checker(fn)
    assert isinstance(passed, Verdict), f"a checker returns a Verdict, got {passed!r}"
    printed = capsys.readouterr().out
    assert bool(passed) == printed.startswith("✓"), (passed, printed)
    assert printed.count("\n") == 1, (
        f"a checker prints exactly one line, got {printed!r}"
    )
    return passed, printed


def assert_passes(checker, fn, capsys) -> None:
    passed, printed = run(checker, fn, capsys)
    assert passed and printed.startswith(f"✓ {checker.__name__}: "), printed


def assert_hint(checker, fn, hint: str, capsys) -> None:
    passed, printed = run(checker, fn, capsys)
    assert not passed
    assert printed.startswith(f"✗ {checker.__name__}: "), printed
    assert hint in printed, printed
