"""The glossary and the bibliography are linked both ways.

Reads the files directly (no Sphinx run): book/glossary.md, references.bib, the markdown
pages in book/ and the markdown cells of the chapters.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = sorted(p for p in (ROOT / "book").glob("*.md") if p.name != "glossary.md")

# {term}`text` or {term}`text <target>`; {cite:p}`key`,
# {cite:t}`{pre}key{post},other`, ...
TERM_ROLE = re.compile(r"\{term\}`([^`<]*?)\s*(?:<([^<>`]+)>)?`")
CITE_ROLE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
BIB_KEY = re.compile(r"^@\w+\{([^,\s]+),", re.MULTILINE)


def markdown_of(path):
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    return path.read_text(encoding="utf-8")


def glossary_entries():
    """Each entry of the {glossary} directive as the list of its names (the
    lines above its definition)."""
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    entries, names = [], []
    for line in body.splitlines()[1:]:
        if line.startswith(":"):
            continue
        if line.strip() and not line[0].isspace():
            names.append(line.strip())
        elif names:
            entries.append(names)
            names = []
    if names:
        entries.append(names)
    return entries


def term_targets(text):
    """Glossary names that `text` links to, lower-cased as Sphinx compares them."""
    return [
        (target or label).strip().lower() for label, target in TERM_ROLE.findall(text)
    ]


def cited_keys(text):
    keys = []
    for targets in CITE_ROLE.findall(text):
        # pre- and post-text in braces may hold commas: drop
        # them before splitting the keys
        keys += [key.strip() for key in re.sub(r"\{[^{}]*\}", "", targets).split(",")]
    return keys


ENTRIES = glossary_entries()
ENTRY_OF = {name.lower(): names[0] for names in ENTRIES for name in names}


def test_glossary_has_its_terms_once():
    names = [name.lower() for names in ENTRIES for name in names]
    assert len(ENTRIES) >= 50
    assert len(names) == len(set(names)), sorted(
        {n for n in names if names.count(n) > 1}
    )


def test_every_glossary_term_is_linked_from_the_book():
    linked = {
        ENTRY_OF.get(t)
        for path in CHAPTERS + PAGES
        for t in term_targets(markdown_of(path))
    }
    unlinked = [names[0] for names in ENTRIES if names[0] not in linked]
    assert not unlinked, f"glossary terms no chapter or page links to: {unlinked}"


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=lambda p: p.name)
def test_every_term_link_has_a_glossary_entry(path):
    missing = sorted({t for t in term_targets(markdown_of(path)) if t not in ENTRY_OF})
    assert not missing, (
        f"{path.name} links to terms the glossary does not define: {missing}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_each_chapter_links_its_terms_once(path):
    entries = [ENTRY_OF[t] for t in term_targets(markdown_of(path)) if t in ENTRY_OF]
    assert len(set(entries)) >= 10, (
        f"{path.name} links only {len(set(entries))} glossary terms"
    )
    twice = sorted({e for e in entries if entries.count(e) > 1})
    assert not twice, (
        f"{path.name} links these terms more than once (only the first use): {twice}"
    )


def test_every_reference_is_cited_and_every_citation_exists():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = BIB_KEY.findall(bib)
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    cited = {key for path in CHAPTERS + PAGES for key in cited_keys(markdown_of(path))}
    assert not cited - set(keys), (
        f"cited but not in references.bib: {sorted(cited - set(keys))}"
    )
    assert not set(keys) - cited, (
        f"in references.bib but never cited: {sorted(set(keys) - cited)}"
    )


def test_bibliography_page_and_config():
    assert "```{bibliography}" in (ROOT / "book" / "references.md").read_text(
        encoding="utf-8"
    )
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert re.search(
        r"^bibtex_bibfiles:\s*\n\s*-\s*references\.bib", config, re.MULTILINE
    )
