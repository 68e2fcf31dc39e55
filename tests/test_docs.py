"""The README stays short, and every relative link in it and in docs/ leads somewhere that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def headings(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings (lower case, punctuation dropped, spaces to hyphens)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    titles = re.findall(r"^#+\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", t.lower().replace("`", "")).replace(" ", "-") for t in titles}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [
        link
        for link in LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", link)  # http:, https:, mailto: ...
    ]


def test_readme_reads_in_two_minutes():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/"
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text


def test_docs_pages_exist_and_link_back():
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert len(pages) >= 6
    readme = (ROOT / "README.md").read_text()
    for page in pages:
        assert "](../README.md)" in page.read_text(), (
            f"{page.name} does not link back to the README"
        )
        assert f"](docs/{page.name}" in readme, f"the README does not link to docs/{page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert relative_links(page), f"{page.name} has no relative links"
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.relative_to(ROOT)} links to {link}: no such file"
        if anchor and path.suffix == ".md":
            assert anchor in headings(path), (
                f"{page.relative_to(ROOT)} links to {link}: no such heading"
            )
