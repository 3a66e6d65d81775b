"""What every checker of every chapter promises, whoever wrote it."""

import functools

import pytest
import torch
from checker_helpers import assert_passes, run  # tests/checker_helpers.py

import tinytx
from tinytx import distributed
from tinytx.nn.attention import repeat_kv_heads
from tinytx.nn.norm import layer_norm, rms_norm
from tinytx.nn.positional import apply_rotary
from tinytx.teach import checks
from tinytx.teach.checks.core import CHECKERS


def test_every_checker_is_reachable_as_checks_dot_name():
    assert len(CHECKERS) >= 20
    assert {name: getattr(checks, name, None) for name in CHECKERS} == CHECKERS


def test_a_verdict_is_true_or_false_and_a_notebook_shows_nothing_for_it():
    """No `True` box under the checker's line: IPython's formatter (what Jupyter and
    Colab use to show a cell's value) produces no output for a Verdict."""
    from IPython.core.formatters import DisplayFormatter

    from tinytx.teach.checks.core import Verdict

    assert Verdict(True) and not Verdict(False)
    assert (
        Verdict(True).passed is True and repr(Verdict(False)) == "Verdict(passed=False)"
    )
    assert DisplayFormatter().format(Verdict(True)) == ({}, {})
    assert DisplayFormatter().format(True)[0] == {
        "text/plain": "True"
    }  # what it replaces


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_an_unattempted_exercise_gets_a_friendly_line(name, capsys):
    """The student edition's stubs raise NotImplementedError: no traceback, no hint,
    just 'not attempted yet'."""

    def stub(*args, **kwargs):
        raise NotImplementedError

    passed, printed = run(CHECKERS[name], stub, capsys)
    assert not passed
    assert printed.startswith(f"… {name}: not attempted yet")


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_passing_something_that_is_not_a_function_gets_a_hint(name, capsys):
    passed, printed = run(CHECKERS[name], 42, capsys)
    assert not passed and printed.startswith(f"✗ {name}: pass the function itself")


# -------------------------------------------------------- tinytx's own code


def _refused(checker, fn, capsys) -> str:
    """Run `checker` on `fn`, assert that it failed, return what follows '✗ name: '."""
    passed, printed = run(checker, fn, capsys)
    prefix = f"✗ {checker.__name__}: "
    assert not passed and printed.startswith(prefix), printed
    return printed[len(prefix) :].strip()


def _own(name, own, what):
    hint = f"that is tinytx's own {what}; write your own function and pass it"
    return pytest.param(name, own, hint, id=name)


@pytest.mark.parametrize(
    ("name", "own", "hint"),
    [
        _own("padding_mask", tinytx.padding_mask, "padding_mask (tinytx.padding_mask)"),
        _own("layer_norm", layer_norm, "layer_norm (tinytx.nn.norm.layer_norm)"),
        _own("shard", distributed.shard, "shard (tinytx.distributed.shard)"),
        _own("rms_norm", rms_norm, "rms_norm (tinytx.nn.norm.rms_norm)"),
        _own(
            "repeat_kv",
            repeat_kv_heads,
            "repeat_kv_heads (tinytx.nn.attention.repeat_kv_heads)",
        ),
        _own(
            "apply_rope",
            apply_rotary,
            "apply_rotary (tinytx.nn.positional.apply_rotary)",
        ),
        _own("masked_softmax", tinytx.softmax, "softmax (tinytx.softmax)"),
        _own(
            "greedy_decode",
            tinytx.Seq2Seq.translate,
            "Seq2Seq.translate (tinytx.Seq2Seq.translate)",
        ),
        pytest.param(
            "ffn",
            tinytx.FeedForward,
            "that is tinytx's own FeedForward (tinytx.FeedForward); "
            "write your own class and pass it",
            id="ffn",
        ),
    ],
)
def test_tinytx_own_implementation_is_refused(name, own, hint, capsys):
    """All but softmax pass every case when run; the checker must not run them."""
    assert _refused(CHECKERS[name], own, capsys) == hint


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_every_checker_refuses_tinytx_code(name, capsys):
    hint = _refused(CHECKERS[name], tinytx.softmax, capsys)
    assert hint.startswith("that is tinytx's own softmax")


def test_tinytx_code_is_found_in_methods_partials_subclasses_and_modules(capsys):
    class SubclassedFFN(tinytx.FeedForward):
        """A reader's class that inherits everything from tinytx."""

    config = tinytx.Seq2SeqConfig(
        src_vocab_size=8, tgt_vocab_size=8, block_size=8, n_layer=1, n_head=1, n_embd=4
    )
    bound_method = tinytx.Seq2Seq(config).translate
    hint = _refused(checks.greedy_decode, bound_method, capsys)
    assert hint.startswith("that is tinytx's own Seq2Seq.translate")
    partial = functools.partial(tinytx.softmax, dim=-1)
    hint = _refused(checks.log_softmax, partial, capsys)
    assert hint.startswith("that is tinytx's own softmax (tinytx.softmax)")
    hint = _refused(checks.layer_norm, functools.lru_cache(layer_norm), capsys)
    assert hint.startswith("that is tinytx's own layer_norm")
    assert _refused(checks.ffn, SubclassedFFN, capsys) == (
        "your class derives from tinytx's own FeedForward (tinytx.FeedForward), so it "
        "runs tinytx's code; derive it from nn.Module and write its methods yourself"
    )
    assert _refused(checks.layer_norm, tinytx.LayerNorm(4), capsys) == (
        "that is a tinytx.LayerNorm object, tinytx's own code; "
        "write your own function and pass it"
    )


MASK = "def mask(ids, pad_id):\n    return (ids != pad_id)[:, None, None, :]\n"
MASK_VIA_TINYTX = "def mask(ids, pad):\n    return tinytx.padding_mask(ids, pad)\n"


def _defined_in(module: str | None, source: str):
    """Run `source` as module `module` would (None: no module name, as when the tests of
    the student edition exec a stub) and return the function `mask` it defines."""
    namespace = {"torch": torch, "tinytx": tinytx}
    if module is not None:
        namespace["__name__"] = module
    exec(source, namespace)
    return namespace["mask"]


@pytest.mark.parametrize("module", ["__main__", "my_answers", "tinytx_homework", None])
def test_a_readers_function_defined_outside_tinytx_is_checked(module, capsys):
    """A notebook's functions live in __main__. Calling tinytx inside is not refused:
    the checker judges what was handed to it, and the teacher reads the code."""
    for source in (MASK, MASK_VIA_TINYTX):
        fn = _defined_in(module, source)
        assert fn.__module__ == module
        assert_passes(checks.padding_mask, fn, capsys)


def test_a_readers_decorated_function_is_checked(capsys):
    @torch.no_grad()
    def log_softmax(x, dim=-1):
        m = x.amax(dim=dim, keepdim=True)
        return x - m - (x - m).exp().sum(dim=dim, keepdim=True).log()

    assert_passes(checks.log_softmax, log_softmax, capsys)
