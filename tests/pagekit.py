"""Read the book's Markdown pages the way the tests need them.

* ``seed_answers(text)``: the 面试回答 box of every seed question (``## ... {.seed}``).
* ``speakable_units(markdown)``: how long an answer is to say aloud: each CJK
  character counts 1, each ASCII word or number counts 1, an inline ``code`` span
  counts 1 (a candidate says a command as one unit); markup, link targets and
  punctuation count nothing.
* ``prose_lines(text)``: the lines of a page a reader reads as prose, with fenced
  code blocks, inline code, HTML tags, attribute lists and admonition titles removed.

Run ``python tests/pagekit.py`` to print every seed answer's length, longest last
(``--all``: every ``##`` question's answer).
"""
from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

HEADING = re.compile(r"^(?P<level>#{1,6}) (?P<title>.+?)(?:\s*\{(?P<attrs>[^}]*)\})?\s*$")
ANSWER_OPEN = re.compile(r'^(?:!!!|\?\?\?\+?) abstract "面试回答"\s*$')
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z0-9]+(?:[._'/+:-][A-Za-z0-9]+)*")
CODE_SPAN = re.compile(r"`[^`\n]+`")
LINK_TARGET = re.compile(r"\]\([^)\n]*\)")
ATTR_LIST = re.compile(r"\{[:#.][^}\n]*\}")


@dataclass(frozen=True)
class Answer:
    page: str      # path under docs/
    line: int      # line of the question's heading (1-based)
    question: str
    body: str      # the box's text, indentation removed

    @property
    def units(self) -> int:
        return speakable_units(self.body)


def speakable_units(markdown: str) -> int:
    """Count what a candidate says: CJK characters, ASCII words, `code` spans.

    >>> # 用 建 默 认 (4) + `mdadm --create` (1) + RAID 5 chunk 512 KiB (5)
    >>> speakable_units("用 `mdadm --create` 建 RAID 5，chunk 默认 512 KiB。")
    10
    >>> # fstab 5 (2) + 的 第 六 列 (4); the link target is not said
    >>> speakable_units("[fstab(5)](https://man7.org/x.html) 的 **第六列**")
    6
    """
    text = CODE_SPAN.sub(" X ", markdown)
    text = LINK_TARGET.sub("]", text)
    text = ATTR_LIST.sub("", text)
    return len(CJK.findall(text)) + len(WORD.findall(text))


def _indented_block(lines: list[str], start: int) -> list[str]:
    """The lines after ``start`` that belong to an admonition (indented or blank)."""
    body = []
    for line in lines[start:]:
        if line.strip() == "" or line.startswith("    "):
            body.append(line[4:] if line.startswith("    ") else "")
        else:
            break
    while body and body[-1] == "":
        body.pop()
    return body


def seed_answers(text: str, page: str = "", *, seed_only: bool = True) -> list[Answer]:
    """The first 面试回答 box under each ``.seed`` heading of a page (every ``##`` question's
    with ``seed_only=False``)."""
    lines = text.split("\n")
    answers: list[Answer] = []
    current: tuple[str, int] | None = None
    in_fence = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = HEADING.match(line)
        if m and len(m.group("level")) <= 2:
            attrs = m.group("attrs") or ""
            current = (m.group("title"), i + 1) if ".seed" in attrs.split() or not seed_only else None
            continue
        if current and ANSWER_OPEN.match(line):
            answers.append(Answer(page, current[1], current[0], "\n".join(_indented_block(lines, i + 1))))
            current = None
    return answers


def book_answers(docs: Path = DOCS, *, seed_only: bool = True) -> list[Answer]:
    out: list[Answer] = []
    for path in sorted(docs.rglob("*.md")):
        out.extend(seed_answers(path.read_text(encoding="utf-8"), path.relative_to(docs).as_posix(),
                                seed_only=seed_only))
    return out


HTML_TAG = re.compile(r"<[^>\n]+>")
ADMONITION_TITLE = re.compile(r'^(\s*)(?:!!!|\?\?\?\+?)\s+[\w-]+(?:\s+"[^"\n]*")?\s*$')


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of prose: code fences, code spans, tags, titles and attributes removed."""
    out = []
    fence: str | None = None
    for n, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker
            elif marker.startswith(fence[0]) and len(marker) >= len(fence) and line.strip() == marker:
                fence = None
            continue
        if fence is not None or line.lstrip().startswith("--8<--"):
            continue
        if ADMONITION_TITLE.match(line):
            continue
        if line.startswith("*[") or line.lstrip().startswith("<!--"):
            continue  # abbreviation definitions, comments
        line = CODE_SPAN.sub("", line)
        line = HTML_TAG.sub("", line)
        line = ATTR_LIST.sub("", line)
        line = LINK_TARGET.sub("]", line)
        out.append((n, line))
    return out


def main() -> int:
    answers = book_answers(seed_only="--all" not in sys.argv[1:])
    for a in sorted(answers, key=lambda a: a.units):
        print(f"{a.units:4d}  {a.page}:{a.line}  {a.question}")
    units = [a.units for a in answers]
    print(f"{len(units)} answers; median {statistics.median(units)}, max {max(units)}, "
          f"over 200: {sum(u > 200 for u in units)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
