"""The README and the guide: every Python example runs, and every page is reachable.

Each ```` ```python ```` block (or ``py``, ``pycon``) of ``README.md`` and of every
page under ``docs/`` runs here, and only here: a block of doctest examples (``>>>``)
through doctest, any other block by ``exec``. The blocks of one page share one
namespace, in page order, so a page runs as it reads, top to bottom (in a temporary
working directory, so files an example writes go nowhere). A block that cannot run
in a test says why on the line before its fence::

    <!-- not run: needs a multi-host cluster -->

and ``test_marked_block_is_not_run`` reports it as skipped with that reason.
"""

from __future__ import annotations

import doctest
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    """A ```` ```python ```` block: where its first line is, its text, why it is not run."""

    path: Path
    line: int  # 1-based line of the block's first line of code
    code: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_doctest(self) -> bool:
        return self.code.lstrip().startswith(">>>")


def blocks(path: Path) -> list[Block]:
    """The Python blocks of a Markdown page, in order, each with its not-run reason if any."""
    text = path.read_text()
    found = []
    for fence in FENCE.finditer(text):
        if fence["info"].split()[:1] not in (["python"], ["py"], ["pycon"]):
            continue
        before = text[: fence.start()].rstrip().rsplit("\n", 1)[-1]
        marker = NOT_RUN.fullmatch(before.strip())
        line = text.count("\n", 0, fence.start("body")) + 1
        code = textwrap.dedent(fence["body"])
        found.append(Block(path, line, code, marker["reason"] if marker else None))
    return found


PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
RUN = [p for p in PAGES if any(b.not_run is None for b in blocks(p))]
MARKED = [b for p in PAGES for b in blocks(p) if b.not_run is not None]


def run(block: Block, namespace: dict[str, object]) -> int:
    """Run one block in ``namespace``; return how many examples it held (a code block: 1)."""
    if not block.is_doctest:
        # blank lines first, so a traceback names the page's own line numbers
        code = compile("\n" * (block.line - 1) + block.code, str(block.path), "exec")
        exec(code, namespace)
        return 1
    test = doctest.DocTestParser().get_doctest(
        block.code, namespace, block.where, str(block.path), block.line - 1
    )
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failed, attempted = runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)  # a DocTest runs in a copy of the namespace it is given
    assert failed == 0, "".join(report)
    return attempted


@pytest.mark.parametrize("page", RUN, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = [run(b, namespace) for b in blocks(page) if b.not_run is None]
    assert all(n > 0 for n in ran)


@pytest.mark.parametrize("block", MARKED, ids=lambda b: b.where)
def test_marked_block_is_not_run(block: Block) -> None:
    assert block.not_run, f"{block.where}: a block not run says why"
    pytest.skip(f"{block.where}: {block.not_run}")


def test_a_marker_applies_to_the_python_block_right_after_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```python\n>>> 1 + 1\n2\n```\n\n<!-- not run: needs a cluster -->\n"
        "```python\nimport cluster\n```\n\n<!-- not run: a shell block -->\n```bash\nls\n```\n"
        "\n```python\nx = 1\n```\n"
    )
    found = blocks(page)
    assert [(b.line, b.not_run, b.is_doctest) for b in found] == [
        (4, None, True),
        (10, "needs a cluster", False),
        (19, None, False),
    ]


def test_every_marker_precedes_a_python_block() -> None:
    for page in PAGES:
        text = page.read_text()
        markers = len(NOT_RUN.findall(text))
        assert markers == sum(b.not_run is not None for b in blocks(page)), page


def _nav() -> list[str]:
    nav = (ROOT / "mkdocs.yml").read_text()
    return [
        line.split(":")[-1].strip()
        for line in nav.splitlines()
        if line.strip().startswith("- ") and line.strip().endswith(".md")
    ]


def test_every_page_in_the_navigation_exists_and_every_page_is_in_it() -> None:
    nav = _nav()
    for page in nav:
        assert (DOCS / page).exists(), page
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(nav) == on_disk


def test_home_page_and_readme_list_every_guide_page() -> None:
    guide = [p for p in _nav() if "/" not in p and p != "index.md"]
    home = (DOCS / "index.md").read_text()
    readme = (ROOT / "README.md").read_text().split("## Documentation", 1)[1]
    for page in guide:
        assert f"]({page})" in home, f"docs/index.md does not link {page}"
        assert f"](docs/{page})" in readme, f"README's Documentation does not link {page}"
