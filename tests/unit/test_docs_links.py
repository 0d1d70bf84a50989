"""Every relative link in README.md and docs/*.md resolves inside the repository.

A clone has only the repository: a link to a sibling checkout (``../shared/...``)
or to a file that was moved is a dead end for its reader. Anchors (``#section``)
are checked too, against the target's headings as GitHub turns them into ids.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [text](target "title"); images too. Code spans are removed first.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    return CODE_SPAN.sub("", CODE_BLOCK.sub("", text))


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = CODE_SPAN.sub(lambda m: m.group(0).strip("`"), heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(h) for h in HEADING.findall(CODE_BLOCK.sub("", path.read_text()))}


def _links(path: Path) -> list[str]:
    return LINK.findall(_prose(path.read_text()))


def test_the_documents_exist() -> None:
    assert (ROOT / "README.md").is_file()
    assert (ROOT / "docs" / "contracts.md").is_file()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    problems = []
    for target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved):
            problems.append(f"{target}: no heading #{fragment}")
    assert not problems, f"{doc.relative_to(ROOT)}: {problems}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_documents_outside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert "../shared" not in text and "/work/shared" not in text
    assert "shared documents" not in text


def test_the_checker_finds_bad_links(tmp_path: Path) -> None:
    """The link pattern and anchor rule on known cases (so the tests above can fail)."""
    sample = (
        "See [a](docs/contracts.md), [b](../shared/CONTRACTS.md 'x'), `[c](nope.md)`, "
        "[d](#raw-event-values), [e](https://example.com/x)."
    )
    assert _links_in(sample) == ["docs/contracts.md", "../shared/CONTRACTS.md", "#raw-event-values"]
    assert _anchor("History beyond the RPC's retention") == "history-beyond-the-rpcs-retention"
    assert _anchor("Raw event values") == "raw-event-values"


def _links_in(text: str) -> list[str]:
    return [t for t in LINK.findall(_prose(text)) if not t.startswith("http")]
