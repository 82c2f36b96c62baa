#!/usr/bin/env python3
"""Build the Anki deck of the handbook: dist/handbook.apkg, one note per question.

    make anki                                            # builds the site (make build), then:
    .venv/bin/python scripts/build_anki.py [--site site] [--out dist]

The notes are the questions of the question index (appendix/questions/): every
seed question and every follow-up, in the book's order.  Which questions there
are comes from ``assets/questions.json`` (bookgen/pages.py); their text comes
from the built pages, so a card says what the site says:

* front: the question (the seed ``h2`` or the follow-up's ``<summary>``), its
  chapter and page, 原题 or 追问, and for a follow-up the question it follows;
* back: the 面试回答 admonition after a question's ``h2``, or the body of the
  follow-up's ``<details class="question">``; a question heading without a
  面试回答 gets the start of its section, cut at a block boundary.  The HTML is
  reduced to plain tags: Pygments' highlight spans go (their text stays, inside
  ``<pre><code>``), diagrams become a pointer to the page, links become absolute;
* a link to the question on the online site (``site_url`` of mkdocs.yml, or
  the environment variable HANDBOOK_SITE_URL, as for the PDF question edition);
* tags: the chapter and 原题 or 追问.

Re-importing a newer deck updates the cards already in a collection instead of
adding copies: the deck id and the note type id are constants, and a note's guid
is derived from the page's site-relative URL and the question's anchor (anchors
alone repeat across pages).  A question moved to another page leaves a stub
``<a class="moved" id=OLD href=NEW#ID>`` on the old page (CONTRIBUTING.md); the
moved question keeps the guid of where it first was, so a split does not
duplicate cards either.  The site URL is not part of the guid.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import genanki

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bookgen.pages import ATTR, DETAILS_TAG, DIV_TAG, TAGS  # noqa: E402  (one matcher for site and deck)
from bookgen.pages import matching_end as _matching_end  # noqa: E402

# Chosen once at random; never change them, or a re-import makes a second deck / note type.
DECK_ID = 1_736_205_611
MODEL_ID = 1_507_934_288
DECK_NAME = "存储与虚拟化面试手册"
SEED, FOLLOW = "原题", "追问"
EXCERPT_CHARS = 600          # a question without a 面试回答: its section up to about this much text,
EXCERPT_PRE_LINES = 12       # with at most this many lines of each code block

ARTICLE = re.compile(r'<article class="md-content__inner md-typeset">(.*)</article>', re.S)
H2_START = re.compile(r'<h2\b')
QUESTION_DETAILS = re.compile(r'<details class="question"[^>]*>')
ANSWER_OPEN = re.compile(r'<div class="admonition abstract">\s*<p class="admonition-title">面试回答</p>')
MOVED = re.compile(r'<a\b(?=[^>]*\bclass="moved")[^>]*>')

CSS = """\
.card { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
  font-size: 18px; line-height: 1.6; text-align: left; color: #1f2328; background: #fff;
  max-width: 46em; margin: 0 auto; padding: 0 .6em; }
.nightMode.card, .night_mode .card { color: #e6e6e6; background: #1e1e1e; }
.meta { font-size: .8em; color: #59636e; }
.nightMode .meta, .night_mode .meta { color: #a0a8b0; }
.kind { display: inline-block; padding: 0 .4em; border-radius: .3em; background: #e7f0ff; color: #0b4a9c; }
.kind-追问 { background: #eef5ea; color: #2f5d1e; }
.nightMode .kind, .night_mode .kind { background: #1f3553; color: #cfe1ff; }
.nightMode .kind-追问, .night_mode .kind-追问 { background: #233a1c; color: #d6ecc9; }
.context { font-size: .85em; color: #59636e; margin-top: .3em; }
.question { font-size: 1.15em; font-weight: 600; margin: .4em 0; }
.answer blockquote { margin: .6em 0; padding: .2em .8em; border-left: 3px solid #8aa4c8; }
code { font-family: "JetBrains Mono", "DejaVu Sans Mono", Consolas, monospace; font-size: .88em;
  background: rgba(128,128,128,.14); padding: 0 .2em; border-radius: .2em; }
pre { background: #f4f5f7; padding: .6em .8em; border-radius: .3em; overflow-x: auto;
  white-space: pre; line-height: 1.4; }
pre code { background: none; padding: 0; font-size: .8em; }
.nightMode pre, .night_mode pre { background: #2a2c30; }
.filename { font-size: .75em; color: #59636e; margin-top: .6em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid rgba(128,128,128,.4); padding: .2em .5em; vertical-align: top; }
abbr { text-decoration: none; border-bottom: 1px dotted; }
.link { margin-top: 1em; font-size: .85em; }
a { color: #0b57d0; }
.nightMode a, .night_mode a { color: #8ab4f8; }
"""

FRONT = """\
<div class="meta">{{章节}} › {{页面}} <span class="kind kind-{{类型}}">{{类型}}</span></div>
{{#上文}}<div class="context">追问自：{{上文}}</div>{{/上文}}
<div class="question">{{题目}}</div>
"""

BACK = """\
{{FrontSide}}
<hr id="answer">
<div class="answer">{{答案}}</div>
<div class="link">{{链接}}</div>
"""

MODEL = genanki.Model(
    MODEL_ID, "存储与虚拟化面试手册 · 问答",
    fields=[{"name": n} for n in ("题目", "答案", "章节", "页面", "类型", "上文", "链接")],
    templates=[{"name": "问答", "qfmt": FRONT, "afmt": BACK}],
    css=CSS, sort_field_index=0)


# -- HTML of a page -> plain HTML for a card ---------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
KEEP = {"p", "br", "hr", "ul", "ol", "li", "strong", "em", "b", "i", "s", "del", "ins", "mark", "u", "small",
        "sub", "sup", "kbd", "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
        "dl", "dt", "dd", "abbr", "a"}
DROP = {"svg", "script", "style", "button", "input", "nav", "noscript", "template", "form", "select", "textarea"}
BLOCK = KEEP - {"br", "strong", "em", "b", "i", "s", "del", "ins", "mark", "u", "small", "sub", "sup", "kbd",
                "code", "abbr", "a"}


class CardHTML(HTMLParser):
    """A whitelist: the tags a card needs, their text, and nothing of the theme's markup.

    ``base`` is the absolute URL of the page (for links); ``budget``, if given, stops after
    the top-level block in which the text reaches that many characters and shortens each
    code block to ``pre_lines`` lines.
    """

    def __init__(self, base: str, budget: int | None = None, pre_lines: int = EXCERPT_PRE_LINES):
        super().__init__(convert_charrefs=True)
        self.base, self.budget, self.pre_lines = base, budget, pre_lines
        self.pre_seen = 0                        # lines of the current code block written
        self.out: list[str] = []
        self.stack: list[tuple[str, str]] = []   # (tag, what to write when it closes)
        self.skip_at: int | None = None          # stack depth at which a dropped element began
        self.pre = 0
        self.chars = 0
        self.done = self.cut = False

    # a top-level element closed: stop here when the budget is spent
    def _boundary(self) -> None:
        if not self.stack and self.budget is not None and self.chars >= self.budget:
            self.done = True

    def handle_starttag(self, tag, attrs):
        if self.done:
            self.cut = True
            return
        a = {k: (v or "") for k, v in attrs}
        cls = a.get("class", "").split()
        if tag in VOID:
            if self.skip_at is None:
                if tag in ("br", "hr"):
                    self.out.append(f"<{tag}>")
                elif tag == "img" and a.get("alt"):
                    self.out.append(f"［{html.escape(a['alt'], quote=False)}］")
            return
        if self.skip_at is not None:
            self.stack.append((tag, ""))
            return
        close = ""
        if tag in DROP or (tag == "a" and "headerlink" in cls) or "linenos" in cls or "md-clipboard" in cls:
            self.skip_at = len(self.stack)
        elif tag == "div" and any("mermaid" in c for c in cls):
            self.out.append('<p class="figure">（示意图见手册原页）</p>')
            self.skip_at = len(self.stack)
        elif tag == "span" and "filename" in cls:
            self.out.append('<div class="filename">')
            close = "</div>"
        elif tag == "div" and "admonition" in cls:
            self.out.append("<blockquote>")
            close = "</blockquote>"
        elif (tag == "p" and "admonition-title" in cls) or tag == "summary" or re.fullmatch(r"h[1-6]", tag):
            self.out.append("<p><strong>")
            close = "</strong></p>"
        elif tag == "details":
            self.out.append("<div>")
            close = "</div>"
        elif tag == "a":
            href = a.get("href")
            if href:
                self.out.append(f'<a href="{html.escape(urljoin(self.base, href))}">')
                close = "</a>"
        elif tag == "abbr" and a.get("title"):
            self.out.append(f'<abbr title="{html.escape(a["title"])}">')
            close = "</abbr>"
        elif tag in KEEP:
            self.out.append(f"<{tag}>")
            close = f"</{tag}>"
            if tag == "pre":
                self.pre += 1
                self.pre_seen = 0
        self.stack.append((tag, close))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.done or tag in VOID or not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            t, close = self.stack.pop()
            if self.skip_at is not None and len(self.stack) == self.skip_at:
                self.skip_at = None
            else:
                self.out.append(close)
                self.pre -= t == "pre"
            if t == tag:
                break
        self._boundary()

    def handle_data(self, data):
        if self.done:
            self.cut = self.cut or bool(data.strip())
            return
        if self.skip_at is not None:
            return
        self.chars += len(data.strip())
        if not self.pre:
            data = re.sub(r"[ \t\r\n]+", " ", data)
        elif self.budget is not None:
            room = self.pre_lines - self.pre_seen
            lines = data.split("\n")
            if room <= 0:
                return
            if len(lines) - 1 >= room:
                data = "\n".join(lines[:room]) + "\n…\n"
                self.pre_seen = self.pre_lines
                self.cut = True
            else:
                self.pre_seen += len(lines) - 1
        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        while self.stack:
            self.out.append(self.stack.pop()[1])
        text = "".join(self.out)
        text = re.sub(r"<(p|li|strong|em|code|div|blockquote)>\s*</\1>", "", text)   # empty leftovers
        text = re.sub(r" ?(</?(?:p|ul|ol|li|table|thead|tbody|tr|th|td|blockquote|div|pre|dl|dt|dd)>) ?", r"\1", text)
        return text.strip()


def card_html(fragment: str, base: str, budget: int | None = None) -> tuple[str, bool]:
    """(clean HTML, whether the budget cut it short)."""
    p = CardHTML(base, budget)
    p.feed(fragment)
    out = p.result()
    return out, p.cut


def text_of(fragment: str) -> str:
    return html.unescape(TAGS.sub("", fragment)).strip()


# -- finding a question and its answer in a built page -----------------------------

def _element_end(text: str, start: int, pattern: re.Pattern) -> int:
    """End of the element opening at `start`: the question index hook's own matcher."""
    return _matching_end(text, start, pattern)


def _without_followups(fragment: str) -> str:
    parts, pos = [], 0
    for m in QUESTION_DETAILS.finditer(fragment):
        if m.start() < pos:
            continue
        parts.append(fragment[pos:m.start()])
        pos = _element_end(fragment, m.start(), DETAILS_TAG)
    parts.append(fragment[pos:])
    return "".join(parts)


@dataclass
class Found:
    title_html: str
    answer_html: str      # raw HTML of the page
    excerpt: bool         # no 面试回答: the start of the section


def find_question(article: str, anchor: str) -> Found | None:
    m = re.search(r'<details class="question"[^>]*\bid="' + re.escape(html.escape(anchor)) + r'"[^>]*>', article)
    if m:
        end = _element_end(article, m.start(), DETAILS_TAG)
        body = article[m.end():end - len("</details>")]
        s = re.match(r"\s*<summary>(.*?)</summary>", body, re.S)
        title, body = (s.group(1), body[s.end():]) if s else ("", body)
        return Found(title, body, False)
    m = re.search(r'<h2\b[^>]*\bid="' + re.escape(html.escape(anchor)) + r'"[^>]*>(.*?)</h2>', article, re.S)
    if not m:
        return None
    nxt = H2_START.search(article, m.end())
    section = article[m.end():nxt.start() if nxt else len(article)]
    a = ANSWER_OPEN.search(section)
    if a:
        end = _element_end(section, a.start(), DIV_TAG)
        return Found(m.group(1), section[a.end():end - len("</div>")], False)
    return Found(m.group(1), _without_followups(section), True)


# -- the deck --------------------------------------------------------------------

@dataclass
class Question:
    page_url: str
    anchor: str
    seed: bool
    follow_up: bool       # a follow-up <details> (else a question heading)
    title: str            # text, from questions.json
    chapter: str
    page: str
    parent: str           # the question a follow-up follows ('' for a heading)


def page_file(site: Path, url: str) -> Path:
    return site / (url + "index.html" if url.endswith("/") or url == "" else url)


def load_questions(site: Path) -> list[Question]:
    """Every question of the index, in its order (the same walk as bookgen/pages.py's index)."""
    data = json.loads((site / "assets" / "questions.json").read_text(encoding="utf-8"))
    out = []
    for p in data:
        for q in p["questions"]:
            out.append(Question(p["url"], q["id"], bool(q["seed"]), False, q["title"], p["chapter"], p["page"], ""))
            for f in q.get("followups", []):
                out.append(Question(p["url"], f["id"], False, True, f["title"], p["chapter"], p["page"], q["title"]))
    return out


def moved_origins(site: Path) -> dict[str, str]:
    """'page#id' of a moved question -> 'page#id' where it first was (following chains of moves)."""
    came_from: dict[str, str] = {}
    for path in sorted(site.glob("**/index.html")):
        if "assets" in path.relative_to(site).parts:
            continue
        url = path.parent.relative_to(site).as_posix() + "/"
        url = "" if url == "./" else url
        for m in MOVED.finditer(path.read_text(encoding="utf-8")):
            a = {k: html.unescape(v) for k, v in ATTR.findall(m.group(0))}
            if not a.get("id") or "#" not in a.get("href", ""):
                continue
            target = urlsplit(urljoin("/" + url, a["href"]))
            if target.scheme or target.netloc:
                continue
            key = target.path.lstrip("/") + "#" + unquote(target.fragment)
            came_from.setdefault(key, f"{url}#{a['id']}")
    origins = {}
    for key in came_from:
        seen, k = {key}, key
        while k in came_from and came_from[k] not in seen:
            k = came_from[k]
            seen.add(k)
        origins[key] = k
    return origins


def note_key(q: Question, origins: dict[str, str]) -> str:
    here = f"{q.page_url}#{q.anchor}"
    return origins.get(here, here)


def online(site_url: str, page_url: str, anchor: str = "") -> str:
    return site_url.rstrip("/") + "/" + quote(page_url, safe="/%") + (f"#{quote(anchor, safe='')}" if anchor else "")


def make_notes(site: Path, site_url: str) -> tuple[list[genanki.Note], list[str]]:
    """(notes in book order, problems: questions whose card would be empty or whose guid repeats)."""
    questions = load_questions(site)
    origins = moved_origins(site)
    articles: dict[str, str] = {}
    notes, problems, guids = [], [], {}
    for n, q in enumerate(questions):
        if q.page_url not in articles:
            m = ARTICLE.search(page_file(site, q.page_url).read_text(encoding="utf-8"))
            articles[q.page_url] = m.group(1) if m else ""
        found = find_question(articles[q.page_url], q.anchor)
        base = online(site_url, q.page_url)
        where = f"{q.page_url}#{q.anchor}"
        if found is None:
            problems.append(f"{where}: not in the built page")
            continue
        title = card_html(found.title_html, base)[0] or html.escape(q.title)
        answer, cut = card_html(found.answer_html, base, EXCERPT_CHARS if found.excerpt else None)
        if found.excerpt and cut:
            answer += '<p class="more">……（全文见手册原页）</p>'
        if not text_of(answer):
            problems.append(f"{where}: no answer text")
            continue
        guid = genanki.guid_for(note_key(q, origins))
        if guid in guids:
            problems.append(f"{where}: same note id as {guids[guid]}")
            continue
        guids[guid] = where
        kind = SEED if q.seed else FOLLOW
        link = f'<a href="{html.escape(online(site_url, q.page_url, q.anchor))}">在手册中打开：{html.escape(q.page)}</a>'
        notes.append(genanki.Note(
            model=MODEL, guid=guid, due=n,
            fields=[title, answer, html.escape(q.chapter), html.escape(q.page), kind, html.escape(q.parent), link],
            tags=[tag(q.chapter), kind]))
    return notes, problems


def tag(name: str) -> str:
    """Anki tags cannot hold spaces."""
    return re.sub(r"\s+", "_", name.strip())


def index_counts(site: Path) -> tuple[int, int]:
    """「共 N 道原题、M 道追问」 as the question index page prints it."""
    text = page_file(site, "appendix/questions/").read_text(encoding="utf-8")
    m = re.search(r"共 (\d+) 道原题、(\d+) 道追问", text)
    if not m:
        raise SystemExit("build_anki: the question index has no count line")
    return int(m.group(1)), int(m.group(2))


def site_url_of() -> str:
    override = os.environ.get("HANDBOOK_SITE_URL")
    if override:
        return override
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.config import load_config
    return load_config(str(ROOT / "mkdocs.yml")).site_url or ""


def write_deck(site: Path, out: Path) -> dict:
    site_url = site_url_of()
    notes, problems = make_notes(site, site_url)
    if problems:
        raise SystemExit("build_anki: " + "\n  ".join(["questions without a card:"] + problems))
    seed, follow = index_counts(site)
    deck = genanki.Deck(DECK_ID, DECK_NAME, description=(
        f'<p>《存储与虚拟化面试手册》的全部题目：{seed} 道原题、{follow} 道追问，每题一张卡片，'
        f'背面是面试回答和原页链接。在线版：<a href="{html.escape(site_url)}">{html.escape(site_url)}</a></p>'))
    for note in notes:
        deck.add_note(note)
    out.parent.mkdir(parents=True, exist_ok=True)
    genanki.Package(deck).write_to_file(str(out))
    return {"notes": len(notes), "seed": seed, "follow": follow, "site_url": site_url,
            "excerpts": sum(1 for n in notes if "全文见手册原页" in n.fields[1])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=ROOT / "site", help="the built site (default: site/, from make build)")
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    site = args.site.resolve()
    if not (site / "assets" / "questions.json").is_file():
        print(f"build_anki: {site} is not a built site (no assets/questions.json); `make anki` builds it",
              file=sys.stderr)
        return 2
    out = args.out / "handbook.apkg"
    r = write_deck(site, out)
    print(f"题目索引：共 {r['seed']} 道原题、{r['follow']} 道追问（{r['seed'] + r['follow']} 道）")
    print(f"{out}: {r['notes']} 张卡片，{out.stat().st_size / 1024:.0f} KiB，链接指向 {r['site_url']}，"
          f"{time.monotonic() - t0:.1f} s")
    if r["notes"] != r["seed"] + r["follow"]:
        print("build_anki: the deck and the question index count different questions", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
