"""Chinese copywriting lint (autocorrect) of every page: spacing and punctuation."""
from __future__ import annotations

from pathlib import Path

import autocorrect_py
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_passes_autocorrect_lint(page):
    result = autocorrect_py.lint_for(page.read_text(encoding="utf-8"), page.name)
    problems = [f"{page.relative_to(DOCS)}:{ln.line}:{ln.col}: {ln.old.strip()!r} -> {ln.new.strip()!r}"
                for ln in result.lines]
    assert problems == [], "\n".join(problems)
