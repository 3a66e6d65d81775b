"""nbval with three tiers of compared output (DESIGN §4): exact, approximate, ignored.

Trained numbers differ in their last digits between thread counts, CPU kernels,
GPUs and torch versions, so an exact text comparison of them fails on every
machine but the one that executed the notebook. nbval 0.11 compares text
exactly; this pytest plugin (loaded by `-p nbval_tiers` in pyproject.toml's
addopts) adds one tier to it:

- *exact*, the default: nbval's own comparison, unchanged.
- *approximate*: a cell tagged ``nbval-approx`` (relative tolerance 1%) or
  ``nbval-approx=0.02`` (2%). Every float in its text output (a number with a
  decimal point or an exponent) may differ from the stored one by ``rtol``
  times the stored value plus one unit in the stored value's last printed digit
  (both were rounded when printed). Integers and all other text stay exact, and
  so do the number and kind of outputs; images are not compared, as in nbval.
- *ignored*: nbval's own ``nbval-ignore-output`` tag, for chaotic results,
  timings and widgets; `tests/test_project.py` requires a reason and asserts.

An approximate cell must also still catch a real change: the plugin multiplies
every float of the fresh output by 1.05 and by 0.95, and the cell fails unless
both of those planted changes fail the comparison. So no tolerance can quietly
grow loose enough to let a 5% change to a trained result through.

Built on one piece of nbval 0.11's internals, `IPyNbCell.compare_outputs(test,
ref, skip_compare)`, which receives the fresh and the stored outputs of one
cell; `tests/test_nbval_tiers.py` runs the plugin on a small synthetic notebook,
so a change there fails loudly instead of silently comparing exactly.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable

import pytest
from nbval.plugin import IPyNbCell

APPROX_TAG = "nbval-approx"
IGNORE_TAG = "nbval-ignore-output"
DEFAULT_RTOL = 0.01
MAX_RTOL = 0.04  # with one printed unit on top, a 5% change must still fail
PLANTED_FACTORS = (1.05, 0.95)

# A float as printed: digits, a decimal point and digits, or an exponent. Not part
# of a longer word or dotted number ("v2.13.0", "x1.5"); a full stop may follow.
# One capturing group, so that FLOAT.split keeps the floats between the texts.
FLOAT = re.compile(
    r"(?<![\w.])([-+]?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+))(?!\w|\.\d)"
)

if list(inspect.signature(IPyNbCell.compare_outputs).parameters) != [
    "self",
    "test",
    "ref",
    "skip_compare",
]:
    raise ImportError(
        "nbval_tiers needs nbval 0.11's IPyNbCell.compare_outputs(test, ref, "
        "skip_compare); install the version requirements.txt pins (nbval==0.11.0)"
    )


def _printed_digits(token: str) -> tuple[int, int | None]:
    """(digits after the decimal point, exponent or None) of a float token."""
    mantissa, _, exponent = token.lower().partition("e")
    return len(mantissa.partition(".")[2]), int(exponent) if exponent else None


def last_digit_unit(token: str) -> float:
    """One unit in the last printed digit of a float token: '2.6934' -> 1e-4."""
    decimals, exponent = _printed_digits(token)
    return 10.0 ** ((exponent or 0) - decimals)


def floats_match(fresh: str, stored: str, rtol: float) -> bool:
    """Whether two printed floats agree within `rtol` plus one printed unit."""
    tolerance = rtol * abs(float(stored)) + last_digit_unit(stored)
    return abs(float(fresh) - float(stored)) <= tolerance


def match_floats(fresh: str, stored: str, rtol: float) -> str:
    """`fresh` with each float that agrees with `stored`'s float in the same place
    replaced by `stored`'s spelling of it.

    The text between the floats must be equal for any replacement; otherwise
    `fresh` comes back unchanged and nbval reports the difference.
    """
    fresh_parts, stored_parts = FLOAT.split(fresh), FLOAT.split(stored)
    if len(fresh_parts) != len(stored_parts) or fresh_parts[::2] != stored_parts[::2]:
        return fresh
    matched = list(fresh_parts)
    for i in range(1, len(matched), 2):
        if floats_match(fresh_parts[i], stored_parts[i], rtol):
            matched[i] = stored_parts[i]
    return "".join(matched)


def scale_floats(text: str, factor: float) -> str:
    """`text` with every float multiplied by `factor`, printed to the same digits."""

    def scaled(match: re.Match[str]) -> str:
        decimals, exponent = _printed_digits(match.group())
        value = float(match.group()) * factor
        return f"{value:.{decimals}{'f' if exponent is None else 'e'}}"

    return FLOAT.sub(scaled, text)


def _text_of(value):
    return "".join(value) if isinstance(value, list) else value


def _map_text(outputs, edit: Callable[[str, str | None], str], stored=None):
    """Copies of `outputs` with `edit(text, stored_text)` applied to every text.

    `stored` (the reference outputs) pairs each output with the stored one in the
    same place when both are of the same kind; `stored_text` is None otherwise.
    """
    edited = []
    for index, output in enumerate(outputs):
        output = copy.deepcopy(output)
        partner = None
        if stored is not None and index < len(stored):
            candidate = stored[index]
            same_kind = candidate.get("output_type") == output.get("output_type")
            if same_kind and candidate.get("name") == output.get("name"):
                partner = candidate
        if "text" in output:
            other = _text_of(partner["text"]) if partner and "text" in partner else None
            output["text"] = edit(_text_of(output["text"]), other)
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                other_data = partner.get("data", {}) if partner else {}
                other = _text_of(other_data[mime]) if mime in other_data else None
                output["data"][mime] = edit(_text_of(value), other)
        edited.append(output)
    return edited


class ApproxCell(IPyNbCell):
    """A notebook cell whose printed floats are compared with a relative tolerance."""

    rtol: float = DEFAULT_RTOL

    def _compare_matched(self, fresh, stored, skip_compare) -> bool:
        def match(text: str, other: str | None) -> str:
            return text if other is None else match_floats(text, other, self.rtol)

        matched = _map_text(fresh, match, stored)
        return IPyNbCell.compare_outputs(self, matched, stored, skip_compare)

    def compare_outputs(self, test, ref, skip_compare=None):
        if not self._compare_matched(test, ref, skip_compare):
            return False
        for factor in PLANTED_FACTORS:
            planted = _map_text(
                test, lambda text, _, factor=factor: scale_floats(text, factor)
            )
            if self._compare_matched(planted, ref, skip_compare):
                self.comparison_traceback = [
                    f"{APPROX_TAG}: with every float of its output multiplied by "
                    f"{factor}, this cell still matches the stored output within "
                    f"rtol={self.rtol:g}, so it would not catch a 5% change. Print "
                    "more digits, print a quantity of a useful size, or lower the "
                    "tolerance."
                ]
                return False
        return True


def approx_rtol(tags: list[str], where: str) -> float | None:
    """The cell's relative tolerance from its tags, or None for a cell without one."""
    approx = [tag for tag in tags if tag.startswith(APPROX_TAG)]
    if not approx:
        return None
    usage = (
        f"{where}: tag the cell '{APPROX_TAG}' (rtol {DEFAULT_RTOL:g}) or "
        f"'{APPROX_TAG}=R' with 0 < R <= {MAX_RTOL:g}, once"
    )
    if len(approx) > 1:
        raise pytest.UsageError(f"{usage}; it has {approx}")
    if IGNORE_TAG in tags:
        raise pytest.UsageError(f"{where}: tagged both {approx[0]} and {IGNORE_TAG}")
    tag = approx[0]
    if tag == APPROX_TAG:
        return DEFAULT_RTOL
    number = tag.removeprefix(f"{APPROX_TAG}=")
    try:
        rtol = float(number)
    except ValueError:
        raise pytest.UsageError(f"{usage}; it has '{tag}'") from None
    if number == tag or not 0 < rtol <= MAX_RTOL:
        raise pytest.UsageError(f"{usage}; it has '{tag}'")
    return rtol


TIER_COUNTS = pytest.StashKey[dict[str, int]]()


def pytest_collection_modifyitems(config, items) -> None:
    counts = {"exact": 0, "approximate": 0, "ignored": 0}
    for item in items:
        if not isinstance(item, IPyNbCell):
            continue
        where = f"{item.path.name}, code cell {item.cell_num}"
        rtol = approx_rtol(item.cell.metadata.get("tags", []), where)
        if rtol is not None:
            item.__class__ = ApproxCell
            item.rtol = rtol
            counts["approximate"] += 1
        elif item.options["check"]:
            counts["exact"] += 1
        else:
            counts["ignored"] += 1
    config.stash[TIER_COUNTS] = counts


def pytest_terminal_summary(terminalreporter, config) -> None:
    counts = config.stash.get(TIER_COUNTS, {})
    if sum(counts.values()):
        summary = ", ".join(f"{n} {tier}" for tier, n in counts.items())
        terminalreporter.write_line(
            f"nbval tiers of the collected code cells: {summary}"
        )
