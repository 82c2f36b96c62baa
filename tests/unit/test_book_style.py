"""The book's own rules for its pages: answer length, one vocabulary, Chinese quotes.

Answer length is measured by ``tests/pagekit.py`` (``python tests/pagekit.py``
prints every seed answer's count); the vocabulary comes from TERMINOLOGY.md.
"""
from __future__ import annotations

import re
import statistics

import pytest

from pagekit import CJK, DOCS, ROOT, book_answers, prose_lines, seed_answers, speakable_units

PAGES = sorted(DOCS.rglob("*.md"))
ANSWERS = book_answers()
MAX_UNITS = 200       # about a minute spoken (STYLE.md)
MAX_MEDIAN = 160      # docs/index.md promises 30～60 秒


def test_every_seed_question_has_its_answer_measured():
    seeds = [ln for ln in (ROOT / "tests" / "seed_questions.txt").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    headings = [m for p in PAGES for m in re.findall(r"^## .*\{[^}]*\.seed[^}]*\}", p.read_text(encoding="utf-8"), re.M)]
    assert len(ANSWERS) == len(headings), "a .seed heading without a 面试回答 box"
    assert len(ANSWERS) >= len(seeds) - 2   # two seed items are answered together with a neighbour


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: f"{a.page}:{a.line}")
def test_seed_answer_is_said_in_a_minute(answer):
    assert answer.body.strip(), f"empty 面试回答 under {answer.question}"
    assert answer.units <= MAX_UNITS, (
        f"{answer.page}:{answer.line} 「{answer.question}」 has {answer.units} speakable units "
        f"(limit {MAX_UNITS}); move depth to 深入/追问/原题勘误")


@pytest.mark.parametrize("answer", book_answers(seed_only=False), ids=lambda a: f"{a.page}:{a.line}")
def test_every_question_answer_is_said_in_a_minute(answer):
    """Not only the seed's: a ## question added later (operations, follow-ups) keeps the limit."""
    assert answer.units <= MAX_UNITS, (
        f"{answer.page}:{answer.line} 「{answer.question}」 has {answer.units} speakable units (limit {MAX_UNITS})")


def test_median_answer_length():
    median = statistics.median(a.units for a in ANSWERS)
    assert median <= MAX_MEDIAN, f"median answer is {median} units (limit {MAX_MEDIAN})"


def test_home_page_promises_what_the_answers_keep():
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    assert "30～60 秒" in home


def test_the_counter_on_a_known_answer():
    # 先 确 认 名 字 (5) + blkid (1) + LABEL (1) + 和 (1) + PARTLABEL (1) = 9
    page = '## Q {#q .seed}\n\n!!! abstract "面试回答"\n    先确认名字：`blkid` 看 LABEL 和 PARTLABEL。\n\n### 深入\n很长的正文不算。\n'
    [answer] = seed_answers(page)
    assert answer.units == 10   # the 9 above plus 看
    assert speakable_units("很长的正文不算") == 7


# ---- vocabulary ----------------------------------------------------------

def _terminology() -> list[tuple[str, str]]:
    """(preferred, banned) pairs from TERMINOLOGY.md's table."""
    pairs = []
    for line in (ROOT / "TERMINOLOGY.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("用", "") or set(cells[0]) <= set("-"):
            continue
        for banned in re.split(r"[、,，]", cells[1]):
            banned = banned.strip().strip("`")
            if banned and banned != '""':
                pairs.append((cells[0], banned))
    return pairs


TERMS = _terminology()
SEED_QUOTE = re.compile(r"「[^」\n]*」")   # quotations of the seed keep its words


def test_terminology_list_is_read():
    banned = {b for _, b in TERMS}
    assert {"来宾", "盘符", "物理扩展"} <= banned


def _prose(page):
    text = page.read_text(encoding="utf-8")
    return [(n, SEED_QUOTE.sub("「」", line)) for n, line in prose_lines(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_uses_the_books_terms(page):
    problems = []
    for n, line in _prose(page):
        for preferred, banned in TERMS:
            if banned == "勘误":
                continue   # checked as a heading rule below; 勘误 is fine inside running text
            if banned in line:
                problems.append(f"{page.relative_to(DOCS)}:{n}: 「{banned}」 -> 「{preferred}」")
    assert problems == [], "\n".join(problems)


ERRATUM = re.compile(r'^\s*(?:!!!|\?\?\?\+?)\s+\w+\s+"([^"]*(?:勘误|纠错|更正)[^"]*)"|^#{2,6}\s+(.*(?:勘误|纠错)\S*)')


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_erratum_heading_is_always_yuanti_kanwu(page):
    bad = []
    for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        m = ERRATUM.match(line)
        if not m:
            continue
        title = (m.group(1) or m.group(2) or "").split("{")[0].strip()
        if m.group(1) is not None and not re.match(r'^\s*!!!\s+warning\s+"原题勘误"', line):
            bad.append(f"{n}: {line.strip()}")
        elif m.group(2) is not None and page.name != "errata.md" and title != "原题勘误":
            bad.append(f"{n}: {line.strip()}")
    assert bad == [], f"{page.relative_to(DOCS)}: the erratum is `!!! warning \"原题勘误\"`:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_chinese_prose_has_no_ascii_quotes(page):
    bad = [f"{page.relative_to(DOCS)}:{n}: {line.strip()[:80]}"
           for n, line in prose_lines(page.read_text(encoding="utf-8"))
           if '"' in line and CJK.search(line)]
    assert bad == [], "use “” or 「」 in Chinese prose:\n" + "\n".join(bad)


MIRROR_SENSE = re.compile(r"镜像对|镜像伙伴|镜像份数|两盘镜像|多硬盘镜像|组成镜像|镜像阵列|RAID 1（镜像")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_mirror_is_told_apart_from_image(page):
    text = "\n".join(line for _, line in _prose(page))
    if MIRROR_SENSE.search(text):
        assert "镜像（mirror）" in text, (
            f"{page.relative_to(DOCS)} uses 镜像 for a RAID mirror: write 「镜像（mirror）」 at its first use")


CHAPTERS = ["disks", "raid", "network-storage", "ceph", "virtualization"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_has_one_version_note(chapter):
    """The text describes current upstream; one note per chapter says what the lab ran."""
    notes = {p.name: p.read_text(encoding="utf-8").count('!!! info "版本说明"')
             for p in sorted((DOCS / chapter).glob("*.md"))}
    assert sum(notes.values()) == 1, notes
    [(_, text)] = [(n, (DOCS / chapter / n).read_text(encoding="utf-8")) for n, c in notes.items() if c]
    body = text.split('!!! info "版本说明"', 1)[1][:1500]
    assert "Debian 12" in body or "实验" in body, "the note names the lab's versions"


NARRATION = re.compile(r"tests/(?:unit|twins|labs|site|pdf)/|在 CI 中|CI 中(?:执行|运行|检查)|\btwin\b")


@pytest.mark.parametrize("page", [p for p in PAGES if p.parent != DOCS / "appendix" and p != DOCS / "index.md"],
                         ids=lambda p: p.relative_to(DOCS).as_posix())
def test_chapter_prose_does_not_narrate_the_test_suite(page):
    """Which test checks what is told once, on appendix/verification.md."""
    bad = [f"{n}: {line.strip()[:80]}" for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
           if NARRATION.search(line)]
    assert bad == [], f"{page.relative_to(DOCS)}: move to appendix/verification.md:\n" + "\n".join(bad)


MAX_SOURCE_BYTES = 25_000   # page budget (CONTRIBUTING.md, "Splitting a page")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_source_within_budget(page):
    size = len(page.read_bytes())
    assert size <= MAX_SOURCE_BYTES, f"{page.relative_to(DOCS)} is {size} bytes; split it by topic"


def test_question_ids_are_unique_across_the_book():
    """Practice progress and the Anki deck key questions by their anchor: one id, one question."""
    seen: dict[str, str] = {}
    dupes = []
    for page in PAGES:
        for qid in re.findall(r"^## .*\{#([\w-]+)", page.read_text(encoding="utf-8"), re.M):
            if qid in seen:
                dupes.append(f"#{qid}: {seen[qid]} and {page.relative_to(DOCS)}")
            seen[qid] = str(page.relative_to(DOCS))
    assert dupes == []
