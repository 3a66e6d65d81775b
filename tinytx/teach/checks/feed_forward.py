"""Checkers for chapter 07, the feed-forward network."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from tinytx.nn.ffn import FeedForward
from tinytx.teach.checks.core import CheckFailed, call, checker, close, run, show

__all__ = ["linear", "gelu", "ffn", "ffn_parameters"]


def _call_linear(
    fn: Callable, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """`call`, with hints for the two shape errors a hand-written
    linear layer usually hits."""
    try:
        return call(fn, x, weight, bias)
    except CheckFailed as failure:
        message = str(failure)
        if "cannot be multiplied" in message:
            raise CheckFailed(
                f"x {tuple(x.shape)} and weight {tuple(weight.shape)} could not be "
                "multiplied. nn.Linear stores weight as (out_features, in_features) "
                "and x holds one input per row: compute x @ weight.T"
            ) from None
        if "did not broadcast" in message:
            raise CheckFailed(
                "the product and the bias did not broadcast. x @ weight.T has "
                f"shape {tuple(x.shape[:-1]) + (weight.shape[0],)} and the bias "
                f"{tuple(bias.shape)} adds to every row; did you compute weight @ x.T, "
                "or reshape the bias?"
            ) from None
        raise


@checker("linear")
def linear(fn: Callable) -> str:
    """Check `fn(x, weight, bias)` = x @ weight.T + bias, with weight
    (out, in) as nn.Linear stores it."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 10, generator=generator)
    weight = torch.randn(5, 10, generator=generator)
    bias = torch.randn(5, generator=generator)
    out = _call_linear(fn, x, weight, bias)
    expected = F.linear(x, weight, bias)
    if out.shape != expected.shape:
        raise CheckFailed(
            f"x (3, 10) with weight (5, 10) must give (3, 5), got {tuple(out.shape)}"
        )
    if not close(out, expected):
        if close(out, x @ weight.T):
            raise CheckFailed("the bias is missing: y = x @ weight.T + bias")
        if close(out, x @ weight.T - bias):
            raise CheckFailed("the bias is subtracted: y = x @ weight.T + bias")
        raise CheckFailed(
            f"expected {show(expected[0])} in the first row, got {show(out[0])}"
        )

    square_x = torch.randn(4, 6, generator=generator)
    square_weight = torch.randn(6, 6, generator=generator)
    square_bias = torch.randn(6, generator=generator)
    out = _call_linear(fn, square_x, square_weight, square_bias)
    expected = F.linear(square_x, square_weight, square_bias)
    if out.shape == expected.shape and close(
        out, square_x @ square_weight + square_bias
    ):
        raise CheckFailed(
            "with a square (6, 6) weight you computed x @ weight: nn.Linear stores "
            "weight as (out_features, in_features), so each output is a dot product "
            "with a ROW of weight: x @ weight.T"
        )
    if not close(out, expected):
        raise CheckFailed(
            "wrong result with a square (6, 6) weight; compute x @ weight.T + bias"
        )

    one_token = torch.randn(10, generator=generator)
    out = _call_linear(fn, one_token, weight, bias)
    if out.shape != (5,) and out.numel() == 5:
        raise CheckFailed(
            f"a single vector x of shape (10,) must give (5,), got {tuple(out.shape)}. "
            "Work on the last dimension only (x @ weight.T), with no reshape "
            "of x or of the result"
        )
    if out.shape != (5,):
        raise CheckFailed(
            f"a single vector x of shape (10,) must give (5,), got {tuple(out.shape)}. "
            "Add the bias as a (5,) vector: broadcasting then lines it up with the "
            "last dimension for any leading shape"
        )
    if not close(out, F.linear(one_token, weight, bias)):
        raise CheckFailed("wrong result for a single vector x of shape (10,)")

    batch = torch.randn(2, 7, 10, generator=generator)
    out = _call_linear(fn, batch, weight, bias)
    if out.shape != (2, 7, 5):
        raise CheckFailed(
            "a (B, T, C) = (2, 7, 10) batch must give (2, 7, 5), got "
            f"{tuple(out.shape)}. Work on the last dimension only (x @ weight.T), "
            "with no reshape of x or of the result"
        )
    if not close(out, F.linear(batch, weight, bias)):
        raise CheckFailed(
            "wrong result on a (2, 7, 10) batch; the same x @ weight.T + bias must "
            "work for any leading shape"
        )
    return (
        "matches nn.Linear (x @ W.T + b) on a vector, a matrix and a (B, T, C) batch."
    )


def _gelu_exact(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


@checker("gelu")
def gelu(fn: Callable) -> str:
    """Check `fn(x)` against the exact GELU 0.5 x
    (1 + erf(x / sqrt 2)) = F.gelu(x), elementwise."""
    x = torch.linspace(
        -4, 4, 81
    )  # includes x = ±2.7, where the tanh approximation is furthest off
    out = call(fn, x)
    if out.shape != x.shape:
        raise CheckFailed(
            "GELU is elementwise: the output must have the input's shape "
            f"{tuple(x.shape)}, got {tuple(out.shape)}"
        )
    expected = F.gelu(x)
    if torch.allclose(out, expected, rtol=0, atol=2e-5):
        pass
    elif torch.allclose(out, F.gelu(x, approximate="tanh"), rtol=0, atol=2e-5):
        raise CheckFailed(
            "you wrote the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) "
            "(x + 0.044715 x^3))). It is off by up to "
            f"{(F.gelu(x, approximate='tanh') - expected).abs().max():.1e} near "
            "|x| = 2.7; the exact GELU is 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))"
        )
    elif close(out, F.silu(x)):
        raise CheckFailed(
            "that is x * sigmoid(x), the SiLU (or swish), a cousin of GELU. "
            "GELU is x * Phi(x), with Phi the standard normal CDF: "
            "0.5 * x * (1 + erf(x / sqrt(2)))"
        )
    elif close(out, x * torch.sigmoid(1.702 * x)):
        raise CheckFailed(
            "x * sigmoid(1.702 x) is the sigmoid approximation of GELU; write the "
            "exact form 0.5 * x * (1 + erf(x / sqrt(2)))"
        )
    elif close(out, 2 * expected):
        raise CheckFailed(
            "your values are twice GELU's: the factor 0.5 is missing (Phi(x) = 0.5 "
            "(1 + erf(x / sqrt 2)))"
        )
    elif close(out, 0.5 * x * (1 + torch.erf(x))):
        raise CheckFailed(
            "the argument of erf must be x / sqrt(2), not x: Phi(x) = 0.5 "
            "(1 + erf(x / sqrt(2)))"
        )
    elif close(out, 0.5 * (1 + torch.erf(x / math.sqrt(2)))):
        raise CheckFailed(
            "you returned Phi(x), the normal CDF; GELU multiplies it by x: x * Phi(x)"
        )
    elif close(out, F.relu(x)):
        raise CheckFailed(
            "you returned ReLU; GELU is the smooth x * Phi(x), slightly "
            "negative for x < 0"
        )
    else:
        i = int((out - expected).abs().argmax())
        raise CheckFailed(
            f"at x = {x[i]:.2f} expected {expected[i]:.4f}, got {out[i]:.4f}. "
            "GELU(x) = 0.5 * x * (1 + erf(x / sqrt(2)))"
        )

    matrix = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    out = call(fn, matrix)
    if out.shape != matrix.shape or not close(out, F.gelu(matrix)):
        raise CheckFailed(
            "on a (2, 3, 4) tensor the result must be GELU applied to every "
            "entry, same shape"
        )
    return "equals F.gelu (the exact erf form) to 2e-5, elementwise on any shape."


def _make(cls: Callable, *args, **kwargs) -> nn.Module:
    """Build the reader's module, turning its errors into hints."""
    try:
        module = cls(*args, **kwargs)
    except NotImplementedError:
        raise
    except (
        Exception
    ) as error:  # the reader's code may raise anything; show it as a hint
        raise CheckFailed(
            f"{getattr(cls, '__name__', 'your class')}{args} raised "
            f"{type(error).__name__}: {error}"
        ) from None
    if not isinstance(module, nn.Module):
        raise CheckFailed(
            f"calling it must build an nn.Module, got {type(module).__name__}"
        )
    return module


def _forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`call(module, x)`, with a hint when forward reads an attribute
    that __init__ never created."""
    try:
        return call(module, x)
    except CheckFailed as failure:
        pattern = (
            "AttributeError: '"
            + re.escape(type(module).__name__)
            + r"' object has no attribute '(\w+)'"
        )
        missing = re.search(pattern, str(failure))
        if missing:
            created = ", ".join(f"self.{child}" for child, _ in module.named_children())
            raise CheckFailed(
                f"forward uses self.{missing.group(1)}, which __init__ never created "
                f"(it created {created}). An attribute must be spelt the same way in "
                "__init__ and in forward"
            ) from None
        raise


@checker("ffn")
def ffn(cls: Callable) -> str:
    """Check a module class `cls(n_embd, activation="relu")` with fc_in, fc_out
    against tinytx.FeedForward."""
    n_embd = 8
    module = _make(cls, n_embd)
    for name in ("fc_in", "fc_out"):
        if not isinstance(getattr(module, name, None), nn.Linear):
            linears = [
                child
                for child, layer in module.named_children()
                if isinstance(layer, nn.Linear)
            ]
            near = difflib.get_close_matches(name, linears, n=1)
            typo = f"; it has self.{near[0]}, a misspelling?" if near else ""
            raise CheckFailed(f"the module needs an nn.Linear called self.{name}{typo}")
    if module.fc_in.bias is None or module.fc_out.bias is None:
        raise CheckFailed(
            "fc_in and fc_out need their biases: leave nn.Linear's default bias=True"
        )
    hidden = module.fc_in.out_features
    if module.fc_in.in_features != n_embd or module.fc_out.out_features != n_embd:
        raise CheckFailed(
            f"with n_embd={n_embd}, fc_in must read {n_embd} features and fc_out "
            f"must write {n_embd}"
        )
    if hidden != 4 * n_embd:
        raise CheckFailed(
            f"with n_embd={n_embd} the hidden layer has {hidden} units; it should be "
            f"4 * n_embd = {4 * n_embd}"
        )
    if module.fc_out.in_features != hidden:
        raise CheckFailed(
            f"fc_out must read the {hidden} hidden units: nn.Linear({hidden}, {n_embd})"
        )

    x = torch.randn(2, 5, n_embd, generator=torch.Generator().manual_seed(0))
    for activation, act in (("relu", F.relu), ("gelu", F.gelu)):
        module = _make(cls, n_embd, activation=activation)
        reference = FeedForward(n_embd, activation=activation)
        try:
            with torch.no_grad():
                module.fc_in.weight.copy_(reference.fc_in.weight)
                module.fc_in.bias.copy_(reference.fc_in.bias)
                module.fc_out.weight.copy_(reference.fc_out.weight)
                module.fc_out.bias.copy_(reference.fc_out.bias)
        except (AttributeError, RuntimeError, TypeError) as error:
            raise CheckFailed(
                "could not copy tinytx.FeedForward's weights into yours "
                f"(fc_in, fc_out with biases): {error}"
            ) from None
        module.eval()
        with torch.no_grad():
            out = _forward(module, x)
            expected = reference(x)
            fc_in, fc_out = reference.fc_in, reference.fc_out
            if out.shape != expected.shape:
                raise CheckFailed(
                    f"(B, T, C) = {tuple(x.shape)} must come out as {tuple(x.shape)}, "
                    f"got {tuple(out.shape)}"
                )
            if close(out, expected):
                continue
            if close(out, fc_out(fc_in(x))):
                raise CheckFailed(
                    "there is no activation between the two linear layers, so they "
                    "collapse into one linear map: fc_out(act(fc_in(x)))"
                )
            if close(out, act(fc_out(fc_in(x)))):
                raise CheckFailed(
                    "the activation comes after fc_out; it belongs between the layers: "
                    "fc_out(act(fc_in(x)))"
                )
            if close(out, act(fc_out(act(fc_in(x))))):
                raise CheckFailed(
                    "the activation is applied twice; the output of fc_out is not "
                    "passed through it"
                )
            other = F.gelu if activation == "relu" else F.relu
            if close(out, fc_out(other(fc_in(x)))):
                raise CheckFailed(
                    f"with activation={activation!r} you applied the other activation; "
                    "pick F.relu or F.gelu from the `activation` argument"
                )
            if activation == "gelu" and close(
                out, fc_out(F.gelu(fc_in(x), approximate="tanh"))
            ):
                raise CheckFailed(
                    "you used GELU's tanh approximation; tinytx uses the exact "
                    "F.gelu (erf form)"
                )
            raise CheckFailed(
                f"with activation={activation!r} and tinytx.FeedForward's weights "
                "copied in, your output differs; compute fc_out(act(fc_in(x)))"
            )
    return (
        "4x hidden layer, activation in the right place, equal to tinytx.FeedForward "
        "(relu and gelu)."
    )


def _int_result(fn: Callable, *args, **kwargs) -> int:
    out = run(fn, *args, **kwargs)
    if torch.is_tensor(out) and out.numel() == 1:
        out = out.item()
    if isinstance(out, float) and out.is_integer():
        out = int(out)
    if isinstance(out, bool) or not isinstance(out, int):
        raise CheckFailed(f"return a whole number (an int), got {out!r}")
    return out


@checker("ffn_parameters")
def ffn_parameters(fn: Callable) -> str:
    """Check `fn(n_embd, hidden=None, bias=True)` against the parameter
    count of tinytx.FeedForward."""
    cases = [
        (8, None, True),
        (192, None, True),
        (512, 2048, True),
        (64, 100, True),
        (64, None, False),
        (10, 3, False),
    ]
    for n_embd, hidden, bias in cases:
        out = _int_result(fn, n_embd, hidden=hidden, bias=bias)
        expected = sum(
            p.numel() for p in FeedForward(n_embd, hidden, bias=bias).parameters()
        )
        if out == expected:
            continue
        h = 4 * n_embd if hidden is None else hidden
        where = f"with n_embd={n_embd}, hidden={hidden}, bias={bias}"
        if bias and out == 2 * n_embd * h:
            raise CheckFailed(
                f"{where} you counted the weights only; add the biases: {h} for fc_in "
                f"and {n_embd} for fc_out"
            )
        if bias and out in (2 * n_embd * h + 2 * h, 2 * n_embd * h + 2 * n_embd):
            raise CheckFailed(
                f"{where}: the two biases differ in size, fc_in has one per hidden "
                f"unit ({h}) and fc_out one per output ({n_embd})"
            )
        if out in (n_embd * h, n_embd * h + h, n_embd * h + n_embd):
            raise CheckFailed(
                f"{where} you counted one of the two linear layers; there are "
                "two, fc_in and fc_out"
            )
        if not bias and out == 2 * n_embd * h + h + n_embd:
            raise CheckFailed(
                f"{where}: with bias=False there are no biases, only the "
                "two weight matrices"
            )
        if hidden is None and out in (
            2 * n_embd * n_embd,
            2 * n_embd * n_embd + 2 * n_embd,
        ):
            raise CheckFailed(
                f"{where}: hidden=None means the default 4 * n_embd = {4 * n_embd} "
                "hidden units"
            )
        if (
            hidden is not None
            and out
            == expected - 2 * n_embd * (h - 4 * n_embd) - (h - 4 * n_embd) * bias
        ):
            raise CheckFailed(
                f"{where} you used 4 * n_embd hidden units; use `hidden` "
                "when it is given"
            )
        raise CheckFailed(
            f"{where} expected {expected:,} parameters, got {out:,}: fc_in is n_embd x "
            "h weights + h biases, fc_out is h x n_embd weights + n_embd biases"
        )
    return (
        "counts both weight matrices and both biases, for default and custom hidden "
        "sizes, with and without bias."
    )
