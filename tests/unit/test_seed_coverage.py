"""Every question of the seed question set has its `## ... {.seed}` heading in the book.

Headings use the seed's wording with typos fixed (NFS, LUN, IP SAN, KVM) and
spacing per the style guide, so both sides are compared after dropping case,
spaces, punctuation and the seed's 「问题:」 prefix.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^##\s+(.*?)\s*\{[^}]*\.seed[^}]*\}\s*$", re.M)
DROP = re.compile(r"[\s\-—_？?，,。．.、:：;；!！“”\"'「」（）()《》]+")


def normalize(text: str) -> str:
    text = re.sub(r"^问题\s*[:：]\s*", "", text.strip())
    return DROP.sub("", text).lower()


def seed_questions() -> list[str]:
    lines = (ROOT / "tests" / "seed_questions.txt").read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines if ln.strip() and not ln.startswith("#")]


def book_seed_headings() -> dict[str, str]:
    found = {}
    for md in sorted((ROOT / "docs").rglob("*.md")):
        for m in HEADING.finditer(md.read_text(encoding="utf-8")):
            found[normalize(m.group(1))] = f"{md.relative_to(ROOT / 'docs')}: {m.group(1)}"
    return found


def test_normalize_ignores_spacing_case_and_the_prefix():
    assert normalize("问题: 如何创建一个RAID 5阵列？") == normalize("如何创建一个 RAID 5 阵列？")
    assert normalize("什么是ipSAN?") == normalize("什么是 IP SAN？")
    assert normalize("什么是lun？") != normalize("什么是 iSCSI？")


def test_the_seed_list_is_complete():
    assert len(seed_questions()) == 47


def test_every_seed_question_has_a_seed_heading():
    headings = book_seed_headings()
    missing = [q for q in seed_questions() if normalize(q) not in headings]
    assert missing == []


def test_every_seed_heading_is_a_seed_question():
    wanted = {normalize(q) for q in seed_questions()}
    extra = [where for key, where in book_seed_headings().items() if key not in wanted]
    assert extra == []
