"""Read the book's Markdown pages the way the tests need them.

Every test that reads a page goes through this module: Sybil (conftest.py), the labs
that replay a page's ``console`` blocks, the twins that take examples from a page and
the style checks.

* ``fences(text)``: every fenced code block, as a ``Fence``: its indentation (fences
  inside admonitions, tabs and lists), the info string split into language and
  attributes (``title="..."``), the body with the fence's indentation removed, its line
  number, the ``##`` question section it sits under, and whether the line above is the
  ``<!-- console-check -->`` comment.  ``page_fences(path)`` reads a page first.
* ``console_runs(body)`` / ``Fence.runs()``: a ``console`` block as ``Run`` objects: the prompt
  (``$``, ``#`` or a named one such as ``guest#``), the command with its continuation
  lines (after a trailing backslash, or the shell's ``> `` prompt), and the output lines up
  to the next prompt.  ``find_run(fences, command)`` finds one command on a page.
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
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z0-9]+(?:[._'/+:-][A-Za-z0-9]+)*")
CODE_SPAN = re.compile(r"`[^`\n]+`")
LINK_TARGET = re.compile(r"\]\([^)\n]*\)")
ATTR_LIST = re.compile(r"\{[:#.][^}\n]*\}")


# ---------------------------------------------------------------- fenced code blocks

# An opening fence: three or more backticks or tildes at any indentation, then the info
# string (language first).  The closing fence has the same indentation and at least as
# many of the same character; an unclosed fence runs to the end of the page, and what is
# inside a fence (another fence shown as an example) is not parsed.
FENCE_OPEN = re.compile(
    r"^(?P<indent>[ \t]*)(?P<marker>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)(?P<rest>[^\n]*)\n", re.M)
INFO_ATTR = re.compile(r"""(?P<key>[\w-]+)=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s}]+))""")
CONSOLE_CHECK = "<!-- console-check -->"


@dataclass(frozen=True)
class Run:
    """One command of a ``console`` block and the output shown under it."""
    prompt: str                 # "$", "#", or a named prompt such as "guest#"
    command: str                # continuation lines joined with "\n" (a "> " prompt removed)
    output_lines: tuple[str, ...]
    line: int                   # page line of the prompt (1-based)

    @property
    def output(self) -> str:
        return "\n".join(self.output_lines)

    @property
    def root(self) -> bool:
        """True for a ``#`` prompt (root), False for ``$``."""
        return self.prompt.endswith("#")


@dataclass(frozen=True)
class Fence:
    """One fenced code block of a page."""
    page: str                   # the path it was read from ("" for a string)
    line: int                   # page line of the opening fence (1-based)
    start: int                  # offset of the opening line's first character
    end: int                    # offset after the closing fence (the end of the text if unclosed)
    indent: str                 # the opening line's indentation
    marker: str                 # the opening run of backticks or tildes
    lang: str                   # first word of the info string, lower case ("" if none)
    info: str                   # the whole info string, stripped
    raw: str                    # the text between the fence lines, as on the page
    section: str                # title of the ``##`` heading above ("" before the first)
    checked: bool               # the line above is <!-- console-check -->

    @property
    def attrs(self) -> dict[str, str]:
        """``key="value"`` attributes of the info string (``title``, ...)."""
        return {m.group("key"): next(v for v in m.group("dq", "sq", "bare") if v is not None)
                for m in INFO_ATTR.finditer(self.info)}

    @property
    def title(self) -> str | None:
        return self.attrs.get("title")

    @property
    def body(self) -> str:
        """The text between the fence lines with the fence's indentation removed from each line."""
        out = []
        for line in self.raw.split("\n"):
            if not line.strip(" \t"):
                line = ""                          # a blank line keeps only its line break
            elif line.startswith(self.indent):
                line = line[len(self.indent):]
            out.append(line)
        return "\n".join(out)

    def runs(self, *, also_output: tuple[str, ...] = ()) -> list[Run]:
        """The commands of a ``console`` block (see ``console_runs``)."""
        return console_runs(self.body, self.line + 1, also_output=also_output)

    def where(self) -> str:
        return f"{self.page}:{self.line}"


def fences(text: str, page: str = "") -> list[Fence]:
    """Every fenced code block of a Markdown page, in order."""
    found: list[Fence] = []
    pos = 0
    spans = []
    while True:
        m = FENCE_OPEN.search(text, pos)
        if not m:
            break
        indent, marker = m.group("indent"), m.group("marker")
        close = re.compile("^" + re.escape(indent) + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$",
                           re.M)
        c = close.search(text, m.end())
        end = c.start() if c else len(text)
        stop = c.end() if c else len(text)
        spans.append((m, end, stop))
        pos = stop
    headings = _section_headings(text, [(m.start(), stop) for m, _, stop in spans])
    for m, end, stop in spans:
        before = text[:m.start()]
        above = before[:-1].rsplit("\n", 1)[-1] if before.endswith("\n") else ""
        section = ""
        for offset, title in headings:
            if offset > m.start():
                break
            section = title
        found.append(Fence(
            page=page, line=before.count("\n") + 1, start=m.start(), end=stop, indent=m.group("indent"),
            marker=m.group("marker"), lang=m.group("lang").lower(),
            info=(m.group("lang") + m.group("rest")).strip(), raw=text[m.end():end], section=section,
            checked=above.strip() == CONSOLE_CHECK))
    return found


def _section_headings(text: str, code: list[tuple[int, int]]) -> list[tuple[int, str]]:
    """(offset, title) of every ``#`` and ``##`` heading outside the code spans; a ``#`` title has no section."""
    out = []
    for m in re.finditer(r"^#{1,2} .*$", text, re.M):
        if any(a <= m.start() < b for a, b in code):
            continue
        h = HEADING.match(m.group(0))
        out.append((m.start(), h.group("title") if h and len(h.group("level")) == 2 else ""))
    return out


def page_fences(path: str | Path) -> list[Fence]:
    """The fences of a page: an absolute path, or a path under docs/ (``"disks/luks.md"``)."""
    path = Path(path)
    full = path if path.is_absolute() else DOCS / path
    try:
        name = full.relative_to(DOCS).as_posix()
    except ValueError:
        name = str(full)
    return fences(full.read_text(encoding="utf-8"), name)


def code_lines(text: str) -> set[int]:
    """Line numbers (1-based) inside fenced code blocks, the fence lines included."""
    lines: set[int] = set()
    for f in fences(text):
        last = f.line + text.count("\n", f.start, f.end)
        lines.update(range(f.line, last + 1))
    return lines


PROMPT = re.compile(r"^(?P<prompt>(?:[A-Za-z][\w-]*)?[#$]) (?P<command>.*)$")


def console_runs(body: str, first_line: int = 1, *, also_output: tuple[str, ...] = ()) -> list[Run]:
    """The commands of a console block's body and the output shown under each.

    A line ``$ CMD``, ``# CMD`` or ``NAME# CMD`` starts a command; a line ending in a
    backslash continues it on the next line, and so do the lines that start with the
    shell's ``> `` prompt right after it.  Every other line up to the next prompt is
    output.  A line that looks like a prompt but is output (a ``# comment`` printed by
    ``cat``) cannot be told apart: pass its start in ``also_output``.  Lines before the
    first prompt belong to no command and are dropped.
    """
    runs: list[Run] = []
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        m = PROMPT.match(lines[i])
        if not m or lines[i].startswith(also_output):
            i += 1
            continue
        start = i
        command = [m.group("command")]
        i += 1
        while i < len(lines) and (command[-1].endswith("\\") or lines[i].startswith("> ")):
            command.append(lines[i][2:] if lines[i].startswith("> ") else lines[i])
            i += 1
        output = []
        while i < len(lines):
            nxt = PROMPT.match(lines[i])
            if nxt and not lines[i].startswith(also_output):
                break
            output.append(lines[i])
            i += 1
        runs.append(Run(m.group("prompt"), "\n".join(command), tuple(output), first_line + start))
    return runs


def find_run(blocks: list[Fence], command: str, *, prompt: str | None = None,
             also_output: tuple[str, ...] = ()) -> Run:
    """The first run of `command` (exactly) in the console blocks; AssertionError naming the page if none."""
    for f in blocks:
        if f.lang != "console":
            continue
        for run in f.runs(also_output=also_output):
            if run.command == command and (prompt is None or run.prompt == prompt):
                return run
    pages = sorted({f.page for f in blocks}) or ["the page"]
    raise AssertionError(f"no console command {command!r} on {', '.join(pages)}")


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
    code = code_lines(text)
    answers: list[Answer] = []
    current: tuple[str, int] | None = None
    for i, line in enumerate(lines):
        if i + 1 in code:
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
    code = code_lines(text)
    for n, line in enumerate(text.split("\n"), 1):
        if n in code or line.lstrip().startswith("--8<--"):
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
