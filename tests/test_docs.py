"""README.md and docs/: the links hold, the README's figures come from the docs, and
every table of docs/benchmarks.md names the command that made it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def prose(path: Path) -> str:
    """The page without its fenced code blocks (links and headings there are code)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -N for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(path)):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_docs_pages_exist():
    names = {page.name for page in PAGES}
    assert {"cli.md", "benchmarks.md", "guarantees.md", "ismark.md", "training.md", "ray.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_at_files_and_headings(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme():
    readme_links = {target.partition("#")[0] for target in LINK.findall(prose(ROOT / "README.md"))}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme_links, page.name


def test_readme_tables_quote_figures_from_the_docs():
    """A figure in a README table is also in docs/ or the model card, where its command is."""
    sources = " ".join(prose(path) for path in [*PAGES[1:], ROOT / "models" / "MODEL_CARD.md"] if path.exists())
    known = set(NUMBER.findall(sources))
    rows = [line for line in prose(ROOT / "README.md").splitlines() if line.startswith("|")]
    assert rows
    missing = {number for row in rows for number in NUMBER.findall(row) if number not in known}
    assert not missing, f"README figures found in no docs page or MODEL_CARD.md: {sorted(missing)}"


def test_every_benchmark_table_names_its_command():
    text = prose(ROOT / "docs" / "benchmarks.md")
    tables = list(re.finditer(r"(?:^\|.*\n)+", text, re.M))
    assert len(tables) >= 8
    end = 0
    for table in tables:
        before = text[end:table.start()]
        assert re.search(r"`(wmark (bench|embed)|python benchmarks/|scripts/gpu_job\.sh)", before), (
            f"a table with no command before it: {table.group(0).splitlines()[0]}")
        end = table.end()
