"""Every named section of every snippet module is included by a page, and every include names one.

Pages include code with pymdownx.snippets (``--8<-- "raid.py:xor"``).  A section that no page
includes is dead weight in the teaching code (it belongs in a tool module, or unmarked); an
include of a section that does not exist breaks the build.  Includes are read from the pages and
from includes/ (text the pages pull in).
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r'--8<--\s+"([\w-]+\.py):([\w-]+)"')
MARKER = re.compile(r"^\s*# --8<-- \[start:([\w-]+)\]", re.M)


def _included() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for folder in ("docs", "includes"):
        for page in (ROOT / folder).rglob("*.md"):
            if "generated" in page.parts:
                continue
            found |= set(INCLUDE.findall(page.read_text(encoding="utf-8")))
    return found


def _marked() -> set[tuple[str, str]]:
    return {(p.name, name) for p in sorted((ROOT / "snippets").glob("*.py"))
            for name in MARKER.findall(p.read_text(encoding="utf-8"))}


def test_every_section_marker_is_included_by_a_page() -> None:
    unused = sorted(_marked() - _included())
    assert unused == [], "sections no page includes (remove the markers or include them):\n" + \
        "\n".join(f"  {m}:{s}" for m, s in unused)


def test_every_include_names_a_section_that_exists() -> None:
    missing = sorted(_included() - _marked())
    assert missing == [], "\n".join(f"  {m}:{s}" for m, s in missing)


def test_the_patterns_read_the_forms_the_pages_use() -> None:
    assert INCLUDE.findall('    --8<-- "raid.py:xor"\n') == [("raid.py", "xor")]
    assert MARKER.findall("x = 1\n# --8<-- [start:gf-tables]\ny = 2\n# --8<-- [end:gf-tables]\n") == ["gf-tables"]
