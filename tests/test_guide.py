"""The guide's own pages: every example on them runs (pages with a test elsewhere excluded)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ["index.md", "analysis.md", "core.md", "optimize.md", "generate.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str) -> None:
    path = DOCS / page
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(path), module_relative=False, optionflags=flags)
    assert result.attempted > 0 and result.failed == 0


def test_every_page_in_the_navigation_exists() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    for line in nav.splitlines():
        if line.strip().startswith("- ") and line.strip().endswith(".md"):
            assert (DOCS / line.split(":")[-1].strip()).exists(), line
