"""Console blocks a page marks with ``<!-- console-check -->``, run again.

A page puts the comment on the line right above a ``console`` fence:

    <!-- console-check -->
    ```console
    $ truncate -s 8M gpt.img
    $ sfdisk -J gpt.img
    {
    ...

and every ``$`` command of the block must print exactly what the page shows under it
(its stderr, then its stdout; trailing line breaks aside).  The marked blocks of one
docs/ directory (a chapter) run in the book's reading order (mkdocs.yml's nav), one
after another in one empty temporary directory, so a page can use the files an earlier
page of its chapter made: docs/disks/partitions.md makes gpt.img and
partitions-repair.md damages it.  Commands run with bash as the test's user, with
LC_ALL=C, HOME set to that directory, ``python3`` being the test's Python, and
``snippets/`` linked into the directory; a block with a ``#`` (root) prompt is refused.
Pages and their fences are read by tests/pagekit.py.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pagekit import CONSOLE_CHECK, DOCS, ROOT, Fence, page_fences


def _reading_order() -> dict[str, int]:
    """Position of each page in mkdocs.yml (its nav lists them in reading order)."""
    order: dict[str, int] = {}
    for m in re.finditer(r"[\w./-]+\.md\b", (ROOT / "mkdocs.yml").read_text(encoding="utf-8")):
        order.setdefault(m.group(0), len(order))
    return order


def _checked_fences() -> dict[str, list[Fence]]:
    """The marked fences of the book, by chapter directory, in reading order."""
    order = _reading_order()
    pages = sorted(DOCS.rglob("*.md"), key=lambda p: (order.get(p.relative_to(DOCS).as_posix(), len(order)), p))
    chapters: dict[str, list[Fence]] = {}
    for path in pages:
        for fence in page_fences(path):
            if fence.checked:
                chapters.setdefault(path.parent.relative_to(DOCS).as_posix(), []).append(fence)
    return chapters


CHAPTERS = _checked_fences()


def test_every_marker_sits_on_a_console_block_of_dollar_commands():
    markers = sum(line.strip() == CONSOLE_CHECK for p in DOCS.rglob("*.md")
                  for line in p.read_text(encoding="utf-8").splitlines())
    fences = [f for chapter in CHAPTERS.values() for f in chapter]
    assert len(fences) == markers, f"{markers} {CONSOLE_CHECK} lines, but {len(fences)} sit right above a fence"
    assert len(fences) >= 6           # the partition pages' blocks (gpt.img, mbr.img, damage, grown, ext4, wipefs)
    for f in fences:
        assert f.lang == "console", f"{f.where()}: {CONSOLE_CHECK} above a {f.lang or 'plain'} fence"
        runs = f.runs()
        assert runs and runs[0].line == f.line + 1, f"{f.where()}: a checked block starts with a `$` command"
        assert all(r.prompt == "$" for r in runs), f"{f.where()}: checked blocks run as a user: `$` prompts only"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_marked_console_blocks_print_what_the_page_shows(chapter: str, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    (tmp_path / "snippets").symlink_to(ROOT / "snippets")
    env = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "HOME": str(tmp_path)}
    for fence in CHAPTERS[chapter]:
        for run in fence.runs():
            proc = subprocess.run(["bash", "-c", run.command], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=60)
            got = (proc.stderr + proc.stdout).rstrip("\n")
            assert got == run.output.rstrip("\n"), (
                f"{fence.page}:{run.line}: $ {run.command}\n--- page\n{run.output}\n--- got\n{got}")
