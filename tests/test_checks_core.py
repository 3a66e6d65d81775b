"""What every checker of every chapter promises, whoever wrote it."""

import pytest

from tinytx.teach import checks
from tinytx.teach.checks.core import CHECKERS

from checker_helpers import run  # tests/checker_helpers.py


def test_every_checker_is_reachable_as_checks_dot_name():
    assert len(CHECKERS) >= 20
    assert {name: getattr(checks, name, None) for name in CHECKERS} == CHECKERS


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_an_unattempted_exercise_gets_a_friendly_line(name, capsys):
    """The student edition's stubs raise NotImplementedError: no traceback, no hint, just 'not attempted yet'."""

    def stub(*args, **kwargs):
        raise NotImplementedError

    passed, printed = run(CHECKERS[name], stub, capsys)
    assert not passed
    assert printed.startswith(f"… {name}: not attempted yet")


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_passing_something_that_is_not_a_function_gets_a_hint(name, capsys):
    passed, printed = run(CHECKERS[name], 42, capsys)
    assert not passed and printed.startswith(f"✗ {name}: pass the function itself")
