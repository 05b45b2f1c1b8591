"""docs/backend.md: every example on the page runs."""

from __future__ import annotations

import doctest
from pathlib import Path


def test_docs_backend_md_examples_run() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "backend.md"
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(page), module_relative=False, optionflags=flags)
    assert result.attempted > 30 and result.failed == 0
