"""Chinese copywriting lint (autocorrect) of every page: spacing and punctuation."""
from __future__ import annotations

import re
from pathlib import Path

import autocorrect_py
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
autocorrect_py.load_config((ROOT / ".autocorrectrc").read_text(encoding="utf-8"))


# Quotations of the seed in 「」 are reproduced verbatim, wrong spacing included: exempt them.
QUOTE = re.compile(r"「[^」\n]*」")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_passes_autocorrect_lint(page):
    text = QUOTE.sub("「引文」", page.read_text(encoding="utf-8"))
    result = autocorrect_py.lint_for(text, page.name)
    problems = [f"{page.relative_to(DOCS)}:{ln.line}:{ln.col}: {ln.old.strip()!r} -> {ln.new.strip()!r}"
                for ln in result.lines]
    assert problems == [], "\n".join(problems)
