"""book/errors.md: every bad input it lists gives exactly the message it shows.

Each `python` block on the page is run in a fresh folder (with torch, tinytx and Path
imported, and TINYTX_DEVICE unset); what it raises ("Type: message") or, when it raises
nothing, what it prints must equal the `text` block that follows it.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

import tinytx

PAGE = Path(__file__).resolve().parents[1] / "book" / "errors.md"
ENTRY = re.compile(
    r"^### (?P<title>.+?)\n\n```python\n(?P<code>.*?)```\n\n```text\n"
    r"(?P<shown>.*?)\n```",
    re.M | re.S,
)
ENTRIES = [m.groupdict() for m in ENTRY.finditer(PAGE.read_text(encoding="utf-8"))]


def test_the_page_lists_the_mistakes():
    assert len(ENTRIES) >= 15
    assert PAGE.read_text(encoding="utf-8").count("```python") == len(ENTRIES), (
        "a python block without its text block"
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["title"] for e in ENTRIES])
def test_each_mistake_gets_the_message_the_page_shows(entry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TINYTX_DEVICE", raising=False)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(entry["code"], {"torch": torch, "tinytx": tinytx, "Path": Path})
    except (
        Exception
    ) as error:  # the page shows what a reader sees: the exception's type and message
        shown = f"{type(error).__name__}: {error}"
    else:
        shown = printed.getvalue().strip()
        assert shown, "the code neither raised nor printed anything"
    assert shown == entry["shown"]
