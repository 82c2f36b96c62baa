"""The pre-build generator: question index, errata, drill page and practice data, from the sources.

Run before either builder (``python -m bookgen.pages``; ``make build``, ``make zensical`` and
bookgen.site do).  Pages mark questions in a fixed way (CONTRIBUTING.md): a ``##`` heading per
question, with the class ``.seed`` when it comes from the original question set, follow-ups in
``??? question "..."`` blocks (ids from bookgen.markdown_ext), corrections of the seed in
``!!! warning "原题勘误"`` blocks, and ``.moved`` stubs where a question went to another page.

The generator renders every chapter page with Python-Markdown and the extensions of mkdocs.yml
(the same ones the builders load, so it sees the same ids, titles and answers), reads those
marks from its own rendering, and writes (all git-ignored):

* ``includes/generated/ID.html``: the contents of the placeholders ``<div id="ID" markdown></div>``
  of the appendix pages (bookgen.markdown_ext puts them in): the question index (grouped by
  chapter, seed or follow-up, with the glossary's terms as tags), the errata (each correction,
  linking back to its question), and the drill page's forms (today's review, a random question,
  a mock interview, the reader's progress; assets/js/practice.js does the rest).  Their links
  are written as the including page's Markdown would write them (``../disks/raw-disk.md#id``),
  so each builder turns them into URLs of its own scheme and checks them.  They live outside
  docs/ so that no builder, page test or style check takes them for pages.
* ``docs/assets/questions.json`` for other tools (PDF question edition, Anki deck), with the
  ``.moved`` stubs of each page (old id -> new id);
* two classic scripts (classic, not JSON or ES modules, so that they load from file:// in the
  offline zip): ``docs/assets/js/practice-data.js`` (every question: id, title, page, chapter,
  and the map from moved anchors to their new ids, so a rating stored under an old anchor
  follows its question) and ``docs/assets/js/practice-answers.js`` (each question's 面试回答,
  or a follow-up's answer, with links rebased for the drill page, which shows them).

Files are rewritten only when their content changes, so repeated builds leave mtimes alone.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from pathlib import Path

from bookgen.config import (ROOT, BookConfig, load, page_url, relative_url, resolve_link, resolve_source,
                            source_relative, split_front_matter)
from bookgen.markdown_ext import GENERATED, PLACEHOLDERS

ABBR_FILE = ROOT / "includes" / "abbreviations.md"

H1 = re.compile(r"<h1\b[^>]*>(?P<body>.*?)</h1>", re.S)
H2 = re.compile(r'<h2(?P<attrs>[^>]*)>(?P<body>.*?)</h2>', re.S)
DETAILS_Q = re.compile(r'<details class="question"(?P<attrs>[^>]*)>\s*<summary>(?P<body>.*?)</summary>', re.S)
ERRATA_OPEN = re.compile(r'<div class="admonition warning">\s*<p class="admonition-title">原题勘误</p>', re.S)
ABSTRACT_OPEN = re.compile(r'<div class="admonition abstract">\s*<p class="admonition-title">[^<]*</p>', re.S)
DIV_TAG = re.compile(r'<(/?)div\b[^>]*>')
DETAILS_TAG = re.compile(r'<(/?)details\b[^>]*>')
A_TAG = re.compile(r'<a\b([^>]*)>')
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
TAGS = re.compile(r"<[^>]+>")
HEADERLINK = re.compile(r'<a class="headerlink"[^>]*>.*?</a>', re.S)
IDS = re.compile(r'\s(?:id|aria-labelledby|aria-describedby)="[^"]*"')
HREF = re.compile(r'(href|src)="([^"]*)"')
SVG = re.compile(r"<svg\b.*?</svg>", re.S)
LEAD_P = re.compile(r"<p>.*?</p>", re.S)


def matching_end(text: str, start: int, tag: re.Pattern = DIV_TAG) -> int:
    """The end of the element that opens at ``start`` (``tag`` matches its opening and closing tags)."""
    depth = 0
    for m in tag.finditer(text, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return m.end()
    return len(text)


def _text(fragment: str) -> str:
    return html.unescape(TAGS.sub("", HEADERLINK.sub("", fragment))).strip()


def glossary_terms() -> list[str]:
    """The glossary's abbreviations (includes/abbreviations.md), used as the index's tags."""
    if not ABBR_FILE.exists():
        return []
    return re.findall(r"^\*\[([^\]]+)\]:", ABBR_FILE.read_text(encoding="utf-8"), re.M)


def _tags(title: str, page_tags: list[str], terms: list[str]) -> list[str]:
    """Page tags (front matter ``tags:``) plus every glossary term the question names."""
    found = [t for t in terms if re.search(r"(?<![A-Za-z0-9])" + re.escape(t) + r"(?![A-Za-z0-9])", title, re.I)]
    return list(dict.fromkeys(list(page_tags) + found))


def _rebase(fragment: str, new_href) -> str:
    """Every href/src of ``fragment`` through ``new_href`` (None: left as it is)."""
    def fix(m: re.Match) -> str:
        target = new_href(html.unescape(m.group(2)))
        return m.group(0) if target is None else f'{m.group(1)}="{html.escape(target, quote=True)}"'
    return HREF.sub(fix, fragment)


# -- reading the pages ---------------------------------------------------------------------


class Book:
    """Every page of the nav, rendered once, with its questions, errata and moved stubs."""

    def __init__(self, cfg: BookConfig):
        import markdown
        self.cfg = cfg
        self.dirs = cfg.use_directory_urls
        self.terms = glossary_terms()
        names, configs = cfg.markdown_args()
        self._md = markdown.Markdown(extensions=names, extension_configs=configs)
        self.pages: list[dict] = []
        self.rendered: dict[str, str] = {}     # src_uri -> the page's HTML (chapter pages)
        for nav in cfg.pages:
            self.pages.append(self._read(nav))

    def url(self, src_uri: str) -> str:
        return page_url(src_uri, self.dirs)

    def _read(self, nav) -> dict:
        meta, body = split_front_matter((self.cfg.docs_dir / nav.src_uri).read_text(encoding="utf-8"))
        page = {"src": nav.src_uri, "url": self.url(nav.src_uri), "chapter": nav.chapter,
                "tags": list(meta.get("tags", []) or []), "questions": [], "errata": [], "moved": []}
        if nav.src_uri == "index.md" or nav.src_uri.startswith("appendix/"):
            # the home page and the appendix hold no questions (the appendix holds the
            # generated fragments, which this run writes); their title is their first heading
            h1 = re.search(r"^#[ \t]+(.+?)[ \t]*(?:\{[^}]*\})?[ \t]*$", body, re.M)
            page["title"] = nav.title or meta.get("title") or (h1.group(1).replace("`", "") if h1 else nav.src_uri)
            return page
        self._md.reset()
        try:
            text = self._md.convert(body)
        except Exception as e:     # a missing snippet section, a diagram that does not parse ...
            raise SystemExit(f"bookgen/pages.py: {nav.src_uri}: {type(e).__name__}: {e}") from None
        self.rendered[nav.src_uri] = text
        h1 = H1.search(text)
        page["title"] = nav.title or meta.get("title") or (_text(h1.group("body")) if h1 else nav.src_uri)
        self._marks(page, text)
        return page

    def _marks(self, page: dict, text: str) -> None:
        events = []   # (position, kind, data) in document order
        for m in H2.finditer(text):
            attrs = dict(ATTR.findall(m.group("attrs")))
            events.append((m.start(), "q", {"id": attrs.get("id", ""), "seed": "seed" in attrs.get("class", "").split(),
                                            "title": _text(m.group("body"))}))
        h2_positions = [(pos, d["id"]) for pos, _, d in events]
        for m in DETAILS_Q.finditer(text):
            parent = ""
            for pos, hid in h2_positions:
                if pos < m.start():
                    parent = hid
            fid = dict(ATTR.findall(m.group("attrs"))).get("id", "")
            events.append((m.start(), "f", {"id": fid, "title": _text(m.group("body")), "parent": parent}))
        for m in ERRATA_OPEN.finditer(text):
            end = matching_end(text, m.start())
            events.append((m.start(), "e", {"html": text[m.end():end - len("</div>")]}))
        events.sort(key=lambda e: e[0])
        current = ""
        questions, errata = page["questions"], page["errata"]
        for _, kind, data in events:
            if kind == "q":
                current = data["id"]
                questions.append({**data, "followups": []})
            elif kind == "f":
                target = next((q for q in reversed(questions) if q["id"] == data["parent"]), None)
                if target is not None:
                    target["followups"].append({"id": data["id"], "title": data["title"]})
                else:
                    questions.append({"id": data["id"], "seed": False, "title": data["title"], "followups": []})
            else:
                errata.append({"question": current, "html": data["html"]})
        titles = {q["id"]: q["title"] for q in questions}
        for e in errata:
            e["title"] = titles.get(e["question"], page["title"])
        page["moved"] = self._moved_stubs(text, page["src"])

    def _moved_stubs(self, text: str, src_uri: str) -> list[dict]:
        """The ``.moved`` stubs of a split page (CONTRIBUTING.md): old id, new id, new page."""
        stubs = []
        for m in A_TAG.finditer(text):
            attrs = dict(ATTR.findall(m.group(1)))
            if "moved" not in attrs.get("class", "").split() or not attrs.get("id") or "#" not in attrs.get("href", ""):
                continue
            target = resolve_link(html.unescape(attrs["href"]), src_uri, self.dirs) or ""
            url, _, frag = target.partition("#")
            stubs.append({"id": attrs["id"], "to": frag, "url": url})
        return stubs

    def with_questions(self, exclude_src: str | None = None) -> list[dict]:
        return [p for p in self.pages if p["questions"] and p["src"] != exclude_src]

    def rebase(self, fragment: str, src_uri: str, from_url: str) -> str:
        """Links of a fragment of ``src_uri`` (as written in its Markdown) as URLs for the built page
        at ``from_url`` (for the drill page's answers, which no builder sees)."""
        def url(href: str) -> str | None:
            target = resolve_link(href, src_uri, self.dirs)
            return None if target is None else relative_url(target, from_url)
        return _rebase(fragment, url)

    @staticmethod
    def rebase_source(fragment: str, src_uri: str, from_src: str) -> str:
        """Links of a fragment of ``src_uri`` as the source page ``from_src`` would write them
        (``../disks/x.md#a``): the builder that renders ``from_src`` makes them URLs."""
        def source(href: str) -> str | None:
            target = resolve_source(href, src_uri)
            return None if target is None else source_relative(target, from_src)
        return _rebase(fragment, source)

    @staticmethod
    def link(target_src: str, anchor: str, from_src: str) -> str:
        return html.escape(source_relative(target_src + (f"#{anchor}" if anchor else ""), from_src))


# -- the fragments the appendix pages include ----------------------------------------------


# Each maker returns the inner HTML of one placeholder of an appendix page (``from_src``),
# with links as that page's Markdown would write them.  The pages that hold the index or the
# drill load assets/js/practice-data.js and practice.js (overrides/main.html).

def index_html(book: Book, from_src: str) -> str:
    parts, chapter = [], None
    total_seed = total_follow = 0
    for p in book.with_questions(from_src):
        if p["chapter"] != chapter:
            chapter = p["chapter"]
            parts.append(f'<h2 class="qchapter">{html.escape(chapter)}</h2>')
        parts.append(f'<h3><a href="{book.link(p["src"], "", from_src)}">{html.escape(p["title"])}</a></h3><ul class="qindex">')
        for q in p["questions"]:
            # follow-ups are marked by the li's class and a CSS ::before, not a span: the index
            # lists ~300 of them and stays within the page budget (1,500 elements)
            mark = '<span class="qtag qtag-seed">原题</span>' if q["seed"] else ""
            total_seed += q["seed"]
            total_follow += not q["seed"]
            tags = "".join(f'<span class="qtag qtag-term">{html.escape(t)}</span>'
                           for t in _tags(q["title"], p["tags"], book.terms))
            li = "<li>" if q["seed"] else '<li class="qf">'
            parts.append(f'{li}{mark}{tags} <a href="{book.link(p["src"], q["id"], from_src)}">{html.escape(q["title"])}</a>')
            if q["followups"]:
                parts.append("<ul>")
                for f in q["followups"]:
                    total_follow += 1
                    parts.append(f'<li class="qf"><a href="{book.link(p["src"], f["id"], from_src)}">'
                                 f'{html.escape(f["title"])}</a></li>')
                parts.append("</ul>")
            parts.append("</li>")
        parts.append("</ul>")
    head = f'<p class="qcount">共 {total_seed} 道原题、{total_follow} 道追问。</p>'
    return head + "\n".join(parts)


def errata_html(book: Book, from_src: str) -> str:
    # one h2 per correction, right under the page's h1 (an h3 there skips a level: Lighthouse's
    # heading-order audit and screen readers' heading lists)
    parts, n = [], 0
    for p in book.pages:
        for e in p["errata"]:
            n += 1
            body = book.rebase_source(e["html"], p["src"], from_src)
            parts.append(f'<div class="errata-item"><h2 id="errata-{n}" data-search-exclude>{n}. <a href="{book.link(p["src"], e["question"], from_src)}">'
                         f'{html.escape(e["title"])}</a></h2><p class="errata-where">{html.escape(p["chapter"])} · '
                         f'{html.escape(p["title"])}</p>{body}</div>')
    return f'<p class="qcount">共 {n} 条勘误。</p>' + "\n".join(parts)


def drill_html(book: Book, from_src: str) -> str:
    """A random question (weighted towards weak and due ones): the ids the reader tests use."""
    return ('<div class="drill-box" id="drill-random"><p class="drill-meta" id="drill-meta"></p>'
            '<p class="drill-question" id="drill-question">（需要 JavaScript）</p>'
            '<p class="drill-actions"><button type="button" class="md-button md-button--primary" id="drill-next">换一题</button> '
            '<button type="button" class="md-button" id="drill-reveal">显示答案</button> '
            '<a class="md-button" id="drill-answer" href="#">在原页看答案</a> '
            '<label><input type="checkbox" id="drill-seed-only"> 只抽原题</label></p>'
            '<div class="drill-slot"></div></div>')


def today_html(book: Book, from_src: str) -> str:
    return ('<p class="drill-counts" id="today-counts">（需要 JavaScript）</p>'
            '<p><button type="button" class="md-button md-button--primary" id="today-start">开始今日复习</button></p>'
            '<div class="drill-box" id="today-card" hidden></div>')


def mock_html(book: Book, from_src: str) -> str:
    chapters = list(dict.fromkeys(p["chapter"] for p in book.with_questions(from_src)))
    boxes = "".join(f'<label><input type="checkbox" name="mock-chapter" value="{html.escape(c, quote=True)}" checked> '
                    f'{html.escape(c)}</label>' for c in chapters)
    return ('<form class="mock-form" id="mock-form"><fieldset><legend>章节</legend>' + boxes + '</fieldset>'
            '<p><label>题数 <input type="number" id="mock-total" min="1" max="30" value="8"></label> '
            '<label>其中追问 <input type="number" id="mock-follow" min="0" max="20" value="3"></label> '
            '<label>每题限时（秒） <input type="number" id="mock-seconds" min="10" max="600" value="60"></label></p>'
            '<p><button type="submit" class="md-button md-button--primary" id="mock-start">开始模拟面试</button> '
            '<span class="mock-error" id="mock-error" role="alert"></span></p></form>'
            '<div class="drill-box mock-stage" id="mock-stage" hidden></div>')


def progress_html(book: Book, from_src: str) -> str:
    return ('<p class="progress-summary" id="progress-summary">（需要 JavaScript）</p>'
            '<p><button type="button" class="md-button" id="progress-export">导出进度</button> '
            '<button type="button" class="md-button" id="progress-import">导入进度</button> '
            '<input type="file" id="progress-file" accept=".json,application/json" hidden> '
            '<button type="button" class="md-button" id="progress-reset">清空进度</button></p>'
            '<p class="progress-msg" id="progress-msg" role="status"></p>')


MAKERS = {"question-index": index_html, "errata-list": errata_html, "drill-today": today_html,
          "drill": drill_html, "drill-mock": mock_html, "drill-progress": progress_html}
assert set(MAKERS) == set(PLACEHOLDERS)


# -- the practice data ---------------------------------------------------------------------


def practice_items(book: Book) -> list[dict]:
    """Every question in book order, as the browser's practice scripts see it."""
    items = []
    for p in book.pages:
        for q in p["questions"]:
            items.append({"id": q["id"], "title": q["title"], "url": p["url"], "page": p["title"],
                          "chapter": p["chapter"], "seed": q["seed"], "kind": "q"})
            for f in q["followups"]:
                items.append({"id": f["id"], "title": f["title"], "url": p["url"], "page": p["title"],
                              "chapter": p["chapter"], "seed": False, "kind": "f", "parent": q["id"]})
    return items


def moved_map(book: Book, items: list[dict]) -> dict[str, str]:
    """Old anchor -> the id its question has now, for stubs whose id changed (chains followed).

    An old id that is again a live question's id is left alone: a rating stored under it
    cannot be told apart, and the live question keeps it."""
    live = {i["id"] for i in items}
    direct = {s["id"]: s["to"] for p in book.pages for s in p["moved"] if s["to"] and s["to"] != s["id"]}
    out = {}
    for old, new in direct.items():
        if old in live:
            continue
        seen = {old}
        while new in direct and new not in seen and new not in live:
            seen.add(new)
            new = direct[new]
        if new in live:
            out[old] = new
    return out


def answer(text: str, qid: str, followup: bool) -> str:
    """The 面试回答 of a question heading (or its first paragraphs), or a follow-up's body."""
    if followup:
        m = re.search(rf'<details class="question" id="{re.escape(qid)}"[^>]*>', text)
        if not m:
            return ""
        end = matching_end(text, m.start(), DETAILS_TAG)
        return text[m.end():end - len("</details>")].split("</summary>", 1)[-1]
    m = re.search(rf'<h2\b[^>]*\sid="{re.escape(qid)}"[^>]*>.*?</h2>', text, re.S)
    if not m:
        return ""
    nxt = re.compile(r"<h2\b").search(text, m.end())
    section = text[m.end():nxt.start() if nxt else len(text)]
    a = ABSTRACT_OPEN.search(section)
    if a:
        end = matching_end(section, a.start())
        return section[a.end():end - len("</div>")]
    return "".join(LEAD_P.findall(section.split("<h3", 1)[0])[:3])


def clean_answer(book: Book, fragment: str, src_uri: str, drill_url: str) -> str:
    """An answer copied into the drill page: no permalinks, no ids (outside diagrams), links rebased."""
    fragment = HEADERLINK.sub("", fragment)
    parts, last = [], 0
    for m in SVG.finditer(fragment):
        parts.append(IDS.sub("", fragment[last:m.start()]))
        parts.append(m.group(0))
        last = m.end()
    parts.append(IDS.sub("", fragment[last:]))
    return book.rebase("".join(parts), src_uri, drill_url).strip()


def _js_assign(name: str, value) -> str:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"/* generated by bookgen/pages.py */\nwindow.{name} = {data};\n"


# -- writing -------------------------------------------------------------------------------


def _write(path: Path, text: str) -> bool:
    """Write only when the content changes (an atomic rename); True if it did."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{id(text)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def outputs(book: Book) -> dict[Path, str]:
    out = {GENERATED / f"{div_id}.html": MAKERS[div_id](book, src) + "\n" for div_id, src in PLACEHOLDERS.items()}
    dump = [{"chapter": p["chapter"], "page": p["title"], "url": p["url"], "questions": p["questions"],
             "errata": len(p["errata"]), "moved": p["moved"]} for p in book.pages]
    assets = book.cfg.docs_dir / "assets"
    out[assets / "questions.json"] = json.dumps(dump, ensure_ascii=False, indent=1)
    items = practice_items(book)
    out[assets / "js" / "practice-data.js"] = _js_assign(
        "HandbookPracticeData", {"questions": items, "moved": moved_map(book, items)})
    drill_url = book.url(PLACEHOLDERS["drill"])
    srcs = {p["url"]: p["src"] for p in book.pages}
    answers = {}
    for it in items:
        src = srcs[it["url"]]
        body = answer(book.rendered.get(src, ""), it["id"], it["kind"] == "f")
        answers[it["url"] + "#" + it["id"]] = clean_answer(book, body, src, drill_url)
    out[assets / "js" / "practice-answers.js"] = _js_assign("HandbookPracticeAnswers", answers)
    return out


def generate(cfg: BookConfig | None = None) -> list[Path]:
    """Render the sources and write every generated file; return the ones that changed."""
    book = Book(cfg or load())
    return [path for path, text in outputs(book).items() if _write(path, text)]


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    t0 = time.monotonic()
    changed = generate()
    print(f"bookgen.pages: {len(changed)} generated file(s) changed in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
