"""The machinery shared by every chapter's checkers: the `@checker`
decorator, `call`, `CheckFailed` and small comparison helpers. See
`tinytx.teach.checks` for the conventions."""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable

import torch


class CheckFailed(Exception):
    """A check found a mistake; the message is the hint shown to the reader."""


class Verdict:
    """What a checker returns: true when the reader's function passed.

    `if checks.softmax(softmax):` and `passed = checks.softmax(softmax)` work as with a
    bool. A notebook shows nothing for it (`_ipython_display_` displays nothing): the
    checker has printed its one line already, and a `True` under it would only echo it.
    """

    __slots__ = ("passed",)

    def __init__(self, passed: bool) -> None:
        self.passed = passed

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed})"

    def _ipython_display_(self) -> None:
        pass


CHECKERS: dict[str, Callable[[Callable], Verdict]] = {}  # every checker, by name


def say(line: str) -> None:
    """Print a checker's line in one write: `print` writes the text and the newline
    separately, and a kernel under load can send them as two outputs, the second an
    empty box on the page."""
    sys.stdout.write(line + "\n")


def checker(
    name: str,
) -> Callable[[Callable[[Callable], str]], Callable[[Callable], Verdict]]:
    """Turn `body(fn) -> success message` into a checker that prints one line and
    returns a `Verdict`.

    Before running `body`, the checker refuses (✗, not passed) anything that is not
    callable and anything that is or runs tinytx's own implementation (see
    `tinytx_original`).
    """

    def decorate(body: Callable[[Callable], str]) -> Callable[[Callable], Verdict]:
        @functools.wraps(body)
        def check(fn: Callable) -> Verdict:
            if not callable(fn):
                say(
                    f"✗ {name}: pass the function itself, e.g. checks.{name}({name}), "
                    f"not {type(fn).__name__}"
                )
                return Verdict(False)
            own = tinytx_original(fn)  # it would pass, but it is not the reader's work
            if own is not None:
                say(f"✗ {name}: {_not_yours(fn, own)}")
                return Verdict(False)
            try:
                message = body(fn)
            except NotImplementedError:
                say(
                    f"… {name}: not attempted yet. Replace `raise NotImplementedError` "
                    "with your code, run that cell, then run this one again."
                )
                return Verdict(False)
            except CheckFailed as failure:
                say(f"✗ {name}: {failure}")
                return Verdict(False)
            say(f"✓ {name}: {message}")
            return Verdict(True)

        CHECKERS[name] = check
        return check

    return decorate


def _defined_in_tinytx(obj: object) -> bool:
    """Whether the function or class `obj` was defined in a module of tinytx."""
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and (
        module == "tinytx" or module.startswith("tinytx.")
    )


def tinytx_original(fn: object) -> object | None:
    """The function or class of tinytx's own that `fn` is or runs; None if none.

    Looks through bound methods (`model.translate`), `functools.partial` and
    wrappers that keep `__wrapped__` (`functools.wraps`, `lru_cache`); for a class,
    at its bases (`class FFN(tinytx.FeedForward)`); for any other callable object,
    at its class (a `tinytx.LayerNorm(8)` module). It goes by the module in which a
    function or class was defined, so a function the reader writes in a notebook
    (module `__main__`) or in a file of their own is never tinytx's, even when it
    calls tinytx inside.
    """
    for _ in range(16):  # a few layers of wrapping at most; never loop on a cycle
        if isinstance(fn, type):
            return next((c for c in fn.__mro__ if _defined_in_tinytx(c)), None)
        if isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, (types.FunctionType, types.BuiltinFunctionType)):
            if _defined_in_tinytx(fn):
                return fn
            fn = getattr(fn, "__wrapped__", None)
            if fn is None:
                return None
        else:
            wrapped = getattr(fn, "__wrapped__", None)
            fn = type(fn) if wrapped is None else wrapped
    return None


def _public_name(own: object) -> str:
    """`tinytx.softmax` for what tinytx exports under that name (also
    `tinytx.Seq2Seq.translate`), else the full path, `tinytx.nn.norm.layer_norm`."""
    name = own.__qualname__
    found = sys.modules.get("tinytx")
    for part in name.split("."):
        found = getattr(found, part, None)
    return f"tinytx.{name}" if found is own else f"{own.__module__}.{name}"


def _not_yours(fn: object, own: object) -> str:
    """The hint for a checker handed `fn`, in which tinytx's own `own` was found."""
    name, where = own.__qualname__, _public_name(own)
    if isinstance(fn, type) and fn is not own:
        if issubclass(own, torch.nn.Module):
            advice = "derive it from nn.Module and write its methods yourself"
        else:
            advice = "write its methods yourself, without tinytx's class"
        return (
            f"your class derives from tinytx's own {name} ({where}), "
            f"so it runs tinytx's code; {advice}"
        )
    kind = "class" if isinstance(fn, type) else "function"
    if isinstance(own, type) and not isinstance(fn, type):
        what = f"a {where} object, tinytx's own code"
    else:
        what = f"tinytx's own {name} ({where})"
    return f"that is {what}; write your own {kind} and pass it"


def run(fn: Callable, *args, **kwargs):
    """Call the reader's `fn` and return whatever it returns; any exception but
    NotImplementedError (the exercise is not attempted yet) becomes a hint."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:
        # the reader's code may raise anything; show it as a hint, not a traceback
        raise CheckFailed(
            f"your function raised {type(error).__name__}: {error}"
        ) from None


def call(fn: Callable, *args: torch.Tensor, **kwargs) -> torch.Tensor:
    """Call the reader's `fn` on copies of `args`; turn its errors into hints.

    NotImplementedError passes through (the exercise is not attempted yet).
    Inputs are cloned so that a function which modifies its input in place
    cannot corrupt the next case.
    """
    args = tuple(a.clone() if torch.is_tensor(a) else a for a in args)
    try:
        out = fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        if "must match the size" in str(error):
            raise CheckFailed(
                "shapes did not broadcast. A reduction such as x.sum(dim) or "
                "x.amax(dim) drops that dimension; pass keepdim=True so the result "
                "lines up with x again"
            ) from None
        raise CheckFailed(f"your function raised RuntimeError: {error}") from None
    except Exception as error:
        # the reader's code may raise anything; show it as a hint, not a traceback
        raise CheckFailed(
            f"your function raised {type(error).__name__}: {error}"
        ) from None
    if not torch.is_tensor(out):
        raise CheckFailed(f"return a torch.Tensor, got {type(out).__name__}")
    return out.detach()


def call_for_number(fn: Callable, *args) -> float:
    """Call fn(*args) and return its result as a Python float,
    turning errors into hints."""
    out = run(fn, *args)
    if torch.is_tensor(out):
        if out.numel() != 1:
            raise CheckFailed(
                f"return one number, got a tensor of shape {tuple(out.shape)}"
            )
        return out.item()
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return float(out)
    raise CheckFailed(
        f"return a number (a float or a 1-element tensor), got {type(out).__name__}"
    )


def expect_shape(out: torch.Tensor, like: torch.Tensor, what: str) -> None:
    """Fail unless `out` has the shape of `like` (the input)."""
    if out.shape != like.shape:
        raise CheckFailed(
            f"{what} must have the input's shape {tuple(like.shape)}, "
            f"got {tuple(out.shape)}. Did a reduction drop a dimension "
            "(keepdim=True keeps it)?"
        )


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding, with matching infinities."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def show(t: torch.Tensor) -> str:
    """A short, rounded rendering of a tensor for hints."""
    return (
        str([round(v, 4) for v in t.flatten().tolist()])
        if t.numel() <= 8
        else f"a tensor of shape {tuple(t.shape)}"
    )


def wrong_dim(
    out: torch.Tensor,
    expected_along: Callable[[int], torch.Tensor],
    x: torch.Tensor,
    dim: int,
) -> None:
    """Fail with a pointed hint if `out` is the right answer along a
    dimension other than `dim`."""
    asked = dim % x.ndim
    for other in range(x.ndim):
        if other != asked and close(out, expected_along(other)):
            raise CheckFailed(
                f"your result is right for dim={other}, but dim={dim} was asked. "
                "Use the `dim` argument in every reduction (max, sum), "
                "not a fixed dimension"
            )
