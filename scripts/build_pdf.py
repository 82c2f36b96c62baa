#!/usr/bin/env python3
"""Build the two PDF editions of the handbook with Debian's Chromium.

    .venv/bin/python scripts/build_pdf.py            # what `make pdf` runs
    .venv/bin/python scripts/build_pdf.py --site DIR # print an existing build

Outputs ``dist/handbook-full.pdf`` (完整版: cover, numbered contents, every page
with all answers and follow-ups open, diagrams, running headers) and
``dist/handbook-questions.pdf`` (题目版: the questions only, each linking to its
answer on the online site).

How it works.  The site is built with ``mkdocs build --strict``; the nav gives the
parts and the order of pages, ``assets/questions.json`` (hooks/questions.py) the
questions.  Each page's <article> is taken from the built HTML, its ids are
prefixed with the page number and its links rewritten to point inside the PDF;
all pages are joined into one print page at the root of the site, which loads
Material's CSS, our print CSS and scripts/pdf/print.js (Mermaid to inline SVG,
KaTeX, tabs).  Chromium prints it twice: the first print's outline (bookmarks,
one per heading) tells the page of every heading; those numbers go into the
table of contents and the second print is the result.  Running headers are CSS
margin boxes of a named page per chapter (Chromium supports both).

Environment: HANDBOOK_SITE_URL overrides site_url (links of the question
edition); CHROMIUM (default /usr/bin/chromium).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pdfdoc  # noqa: E402
import pdf_fonts  # noqa: E402

ASSETS = Path(__file__).resolve().parent / "pdf"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
# pages that only work with JavaScript or repeat the contents: left out of the full edition
SKIP_MARKERS = ('<div id="drill">', '<div id="question-index">')

ARTICLE = re.compile(r'<article class="md-content__inner md-typeset">(.*)</article>', re.S)
HEADING = re.compile(r'<h([1-6])\b([^>]*)>(.*?)</h\1>', re.S)
ATTR = re.compile(r'\s(id|href|src|for|aria-labelledby|aria-describedby)="([^"]*)"')
CLASS = re.compile(r'\sclass="([^"]*)"')
TAGS = re.compile(r"<[^>]+>")


@dataclass
class Page:
    n: int
    url: str
    title: str
    chapter: str
    questions: list
    html: str = ""
    title_id: str = ""


@dataclass
class Part:
    n: int
    title: str | None          # None: a page that stands alone at the top of the nav (the home page)
    pages: list = field(default_factory=list)


def text_of(fragment: str) -> str:
    return html.unescape(TAGS.sub("", fragment)).strip()


def norm(s: str) -> str:
    """Compare titles the way a reader would: NFKC, no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


# -- the site -----------------------------------------------------------------

def build_site(dest: Path) -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(dest)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("build_pdf: mkdocs build --strict failed")


def load_nav():
    """(site_name, description, site_url, copyright, [(section title or None, [page url, ...])])."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files
    from mkdocs.structure.nav import Section, get_navigation

    cfg = load_config(str(ROOT / "mkdocs.yml"))
    nav = get_navigation(get_files(cfg), cfg)

    def pages_under(item) -> list[str]:
        if isinstance(item, Section):
            return [u for child in item.children for u in pages_under(child)]
        return [item.url] if getattr(item, "is_page", False) else []

    top = [(item.title, pages_under(item)) if isinstance(item, Section) else (None, pages_under(item))
           for item in nav.items]
    site_url = os.environ.get("HANDBOOK_SITE_URL") or cfg.site_url or ""
    return cfg.site_name, cfg.site_description or "", site_url, cfg.copyright or "", top


def load_book(site: Path, top) -> list[Part]:
    """Parts in nav order; pages built but not in the nav join the part of their folder."""
    data = json.loads((site / "assets" / "questions.json").read_text(encoding="utf-8"))
    by_url = {p["url"]: p for p in data}
    parts: list[Part] = []
    placed: set[str] = set()
    n = 0
    for title, urls in top:
        part = Part(len(parts) + 1, title)
        for u in urls:
            if u in by_url and u not in placed:
                n += 1
                p = by_url[u]
                part.pages.append(Page(n, u, p["page"], p["chapter"], p["questions"]))
                placed.add(u)
        if part.pages:
            parts.append(part)
    for p in data:   # outside the nav (a chapter still being written): place by folder
        if p["url"] in placed:
            continue
        folder = p["url"].split("/")[0]
        home = next((pt for pt in parts if pt.title and any(x.url.split("/")[0] == folder for x in pt.pages)), None)
        if home is None:
            home = Part(len(parts) + 1, folder or "其他")
            parts.append(home)
        n += 1
        home.pages.append(Page(n, p["url"], p["page"], p["chapter"], p["questions"]))
        placed.add(p["url"])
    for part in parts:
        for page in part.pages:
            path = site / (page.url + "index.html" if page.url.endswith("/") or page.url == "" else page.url)
            m = ARTICLE.search(path.read_text(encoding="utf-8"))
            if m is None:
                raise SystemExit(f"build_pdf: no <article> in {path}")
            page.html = m.group(1)
    return parts


# -- joining the pages ----------------------------------------------------------

class Linker:
    """Rewrite ids and links of one page so that all pages can live in one document."""

    def __init__(self, pages: dict[str, Page], site_url: str):
        self.pages = pages
        self.site_url = site_url.rstrip("/") + "/"

    def online(self, path: str, frag: str = "") -> str:
        return self.site_url + quote(path, safe="/%") + (f"#{quote(frag, safe='')}" if frag else "")

    def rewrite(self, page: Page, text: str) -> str:
        prefix = f"p{page.n}-"

        def attr(m: re.Match) -> str:
            name, value = m.group(1), html.unescape(m.group(2))
            if name in ("id", "for"):
                return f' {name}="{html.escape(prefix + value)}"'
            if name.startswith("aria-"):
                return f' {name}="{html.escape(" ".join(prefix + v for v in value.split()))}"'
            parts = urlsplit(value)
            if parts.scheme or value.startswith("//"):
                return m.group(0)                       # http(s), mailto, data: untouched
            if name == "href" and value.startswith("#"):
                return f' href="#{html.escape(prefix + unquote(value[1:]))}"'
            target = posixpath.normpath(posixpath.join("/" + page.url, unquote(parts.path) or "."))
            target = target.lstrip("/")
            if target == ".":
                target = ""
            if unquote(parts.path).endswith("/") and target:
                target += "/"
            if name == "src":
                return f' src="{html.escape(target)}"'
            key = target[: -len("index.html")] if target.endswith("index.html") else target
            if key in self.pages or key + "/" in self.pages:
                other = self.pages.get(key) or self.pages[key + "/"]
                frag = unquote(parts.fragment)
                return f' href="#p{other.n}-{html.escape(frag)}"' if frag else f' href="#p{other.n}"'
            return f' href="{html.escape(self.online(target, unquote(parts.fragment)))}"'

        # inline SVG (diagrams rendered at build time by hooks/mermaid_svg.py) keeps its ids:
        # its <style> and url(#...) references are scoped by them, and they are unique already
        out, last = [], 0
        for start, end in svg_regions(text):
            out.append(ATTR.sub(attr, text[last:start]))
            out.append(text[start:end])
            last = end
        out.append(ATTR.sub(attr, text[last:]))
        return "".join(out)


SVG_TAG = re.compile(r"<(/?)svg\b[^>]*?(/?)>")


def svg_regions(text: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost <svg>...</svg> element."""
    regions, depth, start = [], 0, 0
    for m in SVG_TAG.finditer(text):
        if m.group(2):          # <svg ... /> opens and closes
            if depth == 0:
                regions.append((m.start(), m.end()))
            continue
        if not m.group(1):
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                regions.append((start, m.end()))
    return regions


def transform(page: Page, linker: Linker, shift: int) -> str:
    """One page's article, ready for print: headings shifted and classed, details open."""
    text = page.html
    text = re.sub(r'<a\b[^>]*class="(?:md-content__button|headerlink)[^"]*"[^>]*>.*?</a>', "", text, flags=re.S)
    text = re.sub(r'<a\b[^>]*class="headerlink"[^>]*>.*?</a>', "", text, flags=re.S)
    text = re.sub(r'<aside class="md-source-file">.*?</aside>', "", text, flags=re.S)
    text = re.sub(r"<details(?![^>]*\bopen\b)", "<details open", text)
    text = re.sub(r"<abbr\b[^>]*>(.*?)</abbr>", r"\1", text, flags=re.S)   # tooltips mean nothing on paper
    text = mark_missing_glyphs(text)
    role = {1: "page-title", 2: "q", 3: "sec"}
    first = [True]

    def heading(m: re.Match) -> str:
        level, attrs, body = int(m.group(1)), m.group(2), m.group(3)
        classes = CLASS.search(attrs)
        cls = (classes.group(1).split() if classes else []) + [role.get(level, "sub")]
        attrs = CLASS.sub("", attrs)
        if level == 1 and first[0]:
            first[0] = False
            if 'id="' not in attrs:
                attrs += ' id="title"'
        new = min(6, level + shift)
        return f'<h{new}{attrs} class="{" ".join(cls)}">{body}</h{new}>'

    text = HEADING.sub(heading, text)
    if first[0]:   # no h1 in the article: give the page one
        text = f'<h{1 + shift} id="title" class="page-title">{html.escape(page.title)}</h{1 + shift}>' + text
    text = linker.rewrite(page, text)
    m = re.search(r'<h[1-6][^>]*\bid="([^"]+)"[^>]*class="[^"]*page-title', text)
    page.title_id = html.unescape(m.group(1)) if m else f"p{page.n}"
    return text


_coverage: list[tuple[int, int]] | None = None


def font_coverage() -> list[tuple[int, int]]:
    """Code point ranges that some installed font can draw (fontconfig's charsets), merged."""
    global _coverage
    if _coverage is None:
        out = subprocess.run(["fc-list", "--format", "%{charset}\n"], capture_output=True, text=True).stdout
        ranges = []
        for token in out.split():
            lo, _, hi = token.partition("-")
            try:
                ranges.append((int(lo, 16), int(hi or lo, 16)))
            except ValueError:
                continue
        ranges.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in ranges:
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        _coverage = merged
    return _coverage


def covered(cp: int) -> bool:
    import bisect
    ranges = font_coverage()
    i = bisect.bisect_right(ranges, (cp, 0x10FFFF)) - 1
    return cp < 0x80 or (i >= 0 and ranges[i][0] <= cp <= ranges[i][1])


def mark_missing_glyphs(text: str) -> str:
    """Characters no installed font can draw (an emoji on a Debian without emoji fonts) would print
    as empty boxes: print their code point instead, visibly marked."""
    def fix(m: re.Match) -> str:
        return "".join(c if c in "\n\t" or covered(ord(c)) else f'<span class="nofont">[U+{ord(c):04X}]</span>'
                       for c in m.group(0))
    if not font_coverage():
        return text
    return re.sub(r"(?<=>)[^<]+", fix, text)


def css_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def head(site: Path, title: str, extra_css: str, katex: bool) -> str:
    index = (site / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<link rel="stylesheet" href="(assets/[^"]+\.css)"', index)
    tags = "".join(f'<link rel="stylesheet" href="{html.escape(h)}">' for h in links)
    if katex:
        tags += '<link rel="stylesheet" href="assets/vendor/katex/katex.min.css">'
    css = (ASSETS / "print.css").read_text(encoding="utf-8")
    return (f'<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'{tags}<style>{css}\n{extra_css}</style></head>')


def scripts(diagrams: bool, katex: bool) -> str:
    out = ""
    if diagrams:
        out += '<script src="assets/vendor/mermaid/mermaid.min.js"></script>'
    if katex:
        out += '<script src="assets/vendor/katex/katex.min.js"></script>'
    return out + "<script>" + (ASSETS / "print.js").read_text(encoding="utf-8") + "</script>"


def toc_item(cls: str, target: str, title: str) -> str:
    return (f'<li class="{cls}"><a href="#{html.escape(target)}" data-target="{html.escape(target)}">'
            f'<span class="t">{html.escape(title)}</span><span class="fill"></span><span class="pn">000</span></a>')


def cover(name: str, edition: str, desc: str, meta: list[str]) -> str:
    return (f'<section class="pdf-cover"><h1>{html.escape(name)}</h1><p class="edition">{html.escape(edition)}</p>'
            f'<p class="desc">{html.escape(desc)}</p><div class="meta">'
            + "".join(f"<p>{m}</p>" for m in meta) + "</div></section>")


def build_meta(site_url: str, copyright_: str) -> list[str]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""
    date = git("log", "-1", "--format=%cs") or time.strftime("%Y-%m-%d")
    rev = git("rev-parse", "--short", "HEAD")
    meta = [f"在线版：<a href=\"{html.escape(site_url)}\">{html.escape(site_url)}</a>",
            html.escape(f"版本：{date}" + (f"（{rev}）" if rev else ""))]
    if copyright_:
        meta.append(html.escape(copyright_))
    return meta


def full_html(site: Path, parts: list[Part], info) -> str:
    name, desc, site_url, copyright_, _ = info
    pages = {p.url: p for part in parts for p in part.pages}
    linker = Linker(pages, site_url)
    body, toc, page_css = [], [], []
    any_diagram = any_math = False
    for part in parts:
        shift = 0 if part.title is None else 1
        if part.title is not None:
            pid = f"part{part.n}"
            toc.append(toc_item("lv-part", pid, part.title) + "<ol>")
            listing = "".join(f'<li><a href="#p{p.n}">{html.escape(p.title)}</a></li>' for p in part.pages)
            body.append(f'<section class="pdf-part"><h1 class="part-title" id="{pid}">{html.escape(part.title)}</h1>'
                        f"<ol>{listing}</ol></section>")
        for page in part.pages:
            any_diagram |= 'class="mermaid"' in page.html   # not rendered at build time: print.js does it
            any_math |= 'class="arithmatex"' in page.html
            article = transform(page, linker, shift)
            page_css.append(f"@page pg{page.n} {{ @top-left {{ content: {css_string(part.title or page.title)}; }} "
                            f"@top-right {{ content: {css_string(page.title if part.title else '')}; }} }}")
            # md-typeset goes on an inner element: on the paginated section itself it makes Chromium 156
            # anchor the first heading on the previous page and repeat its text in the bookmark
            body.append(f'<section class="pdf-doc" id="p{page.n}" style="page: pg{page.n}">'
                        f'<div class="md-typeset">{article}</div></section>')
            toc.append(toc_item("lv-page" if part.title else "lv-part solo", page.title_id, page.title) + "<ol>")
            for q in page.questions:
                toc.append(toc_item("lv-q", f"p{page.n}-{q['id']}", q["title"]) + "</li>")
            toc.append("</ol></li>")
        if part.title is not None:
            toc.append("</ol></li>")
    meta = build_meta(site_url, copyright_)
    nq = sum(len(p.questions) for p in pages.values())
    return (head(site, f"{name}（完整版）", "\n".join(page_css), any_math)
            + '<body dir="ltr" class="pdf pdf-full" data-md-color-scheme="default" data-md-color-primary="indigo" '
              'data-md-color-accent="indigo">'
            + cover(name, "完整版", desc, [html.escape(f"{len(pages)} 个页面，{nq} 道题")] + meta)
            + f'<nav class="pdf-toc"><div class="md-typeset"><h1 id="toc">目录</h1><ol>{"".join(toc)}</ol></div></nav>'
            + "".join(body) + scripts(any_diagram, any_math) + "</body></html>")


def questions_html(site: Path, parts: list[Part], info) -> str:
    name, desc, site_url, copyright_, _ = info
    linker = Linker({}, site_url)
    body, toc, page_css = [], [], []
    qno = nseed = 0
    for part in parts:
        pages = [p for p in part.pages if p.questions]
        if not pages:
            continue
        title = part.title or pages[0].title
        pid = f"qpart{part.n}"
        page_css.append(f"@page {pid} {{ @top-left {{ content: {css_string(title)}; }} "
                        f"@top-right {{ content: \"题目版\"; }} }}")
        toc.append(toc_item("lv-part", pid, title) + "<ol>")
        chunks = [f'<section class="pdf-qpart" style="page: {pid}; break-before: page"><div class="md-typeset">'
                  f'<h1 id="{pid}" class="page-title">{html.escape(title)}</h1>']
        for page in pages:
            hid = f"qp{page.n}"
            toc.append(toc_item("lv-page", hid, page.title) + "</li>")
            url = linker.online(page.url)
            chunks.append(f'<div class="qpage"><h2 class="qpage-title" id="{hid}">{html.escape(page.title)}</h2>'
                          f'<p class="qpage-url">答案在线阅读：<a href="{html.escape(url)}">{html.escape(url)}</a></p>')
            for q in page.questions:
                qno += 1
                nseed += q["seed"]
                link = html.escape(linker.online(page.url, q["id"]))
                badge = '<span class="badge">原题</span>' if q["seed"] else ""
                fups = "".join(f'<li><a href="{html.escape(linker.online(page.url, f["id"]))}">'
                               f'{html.escape(f["title"])}</a></li>' for f in q["followups"])
                chunks.append(f'<div class="qitem"><h3 class="qq" id="q{qno}"><span class="qno">{qno}.</span>'
                              f'<a href="{link}">{html.escape(q["title"])}</a>{badge}</h3>'
                              + (f'<ul class="fups">{fups}</ul>' if fups else "")
                              + f'<a class="ans" href="{link}">看答案 →</a></div>')
            chunks.append("</div>")
        chunks.append("</div></section>")
        body.append("".join(chunks))
        toc.append("</ol></li>")
    meta = build_meta(site_url, copyright_)
    intro = ("只有题目，用来自测：先自己回答，再点题目或「看答案」跳到在线版的答案。"
             f"共 {qno} 道题，其中 {nseed} 道来自原题集（标「原题」）。")
    return (head(site, f"{name}（题目版）", "\n".join(page_css), False)
            + '<body dir="ltr" class="pdf pdf-questions" data-md-color-scheme="default" data-md-color-primary="indigo" '
              'data-md-color-accent="indigo">'
            + cover(name, "题目版", intro, meta)
            + f'<nav class="pdf-toc"><div class="md-typeset"><h1 id="toc">目录</h1><ol>{"".join(toc)}</ol></div></nav>'
            + "".join(body) + scripts(False, False) + "</body></html>")


# -- printing -------------------------------------------------------------------

def same_title(outline_title: str, heading_text: str) -> bool:
    """Chromium 156 sometimes repeats text runs of a heading that opens a page in the
    bookmark title: all of them ("目录目录", "GPTGPT") or only some, such as the first line of
    a heading that wraps ("…的镜" + "…的镜像").  Accept a title that holds every character of
    the heading once or twice and nothing else (fix_outline_titles repairs it)."""
    a, b = norm(outline_title), norm(heading_text)
    if a == b:
        return True
    ca, cb = Counter(a), Counter(b)
    return len(b) < len(a) <= 2 * len(b) and not (cb - ca) and not (ca - cb - cb)


def align(outline: list, headings: list[dict]) -> list[tuple[int, dict]]:
    """Pair outline entries with DOM headings (both in reading order)."""
    pairs, k = [], 0
    for h in headings:
        for j in range(k, min(len(outline), k + 50)):
            if same_title(outline[j][-2], h["text"]):
                pairs.append((j, h))
                k = j + 1
                break
    return pairs


PAGE_H, MARGIN_TOP, MARGIN_BOTTOM = 841.92, 18 * 72 / 25.4, 16 * 72 / 25.4   # A4 and print.css, in pt
XYZ = re.compile(rb"\[(\d+) 0 R /XYZ ([\d.]+) ([\d.]+) 0\]")


def heading_pages(pdf: Path, headings: list[dict]) -> dict[str, int]:
    """Page number (1-based) of each heading id, read from the PDF outline."""
    outline = pdfdoc.PdfDoc(pdf).outline()
    found = {id(h): outline[j][2] for j, h in align(outline, headings) if outline[j][2] is not None}
    pages: dict[str, int] = {}
    last = 1
    for h in headings:
        if id(h) in found:
            last = found[id(h)] + 1
        if h["id"]:
            pages[h["id"]] = last
    return pages


def fix_destinations(pdf: Path) -> int:
    """Move destinations that Chromium 156 puts in the bottom margin to the top of the next page.

    A heading pushed to the next page (break-after: avoid, or a page break) sometimes gets its
    bookmark and link target at the foot of the page before, below the text area, where no
    heading can be.  Rewritten in place, padded with spaces, so byte offsets stay valid."""
    doc = pdfdoc.PdfDoc(pdf)
    index = {num: i for i, num in enumerate(doc.pages)}
    data = bytearray(doc.data)
    fixed = 0
    for m in XYZ.finditer(doc.data):
        page, y = int(m.group(1)), float(m.group(3))
        if page not in index or y >= MARGIN_BOTTOM + 3 or index[page] + 1 >= len(doc.pages):
            continue
        before = doc.data.rfind(b"endstream", 0, m.start())
        if doc.data.rfind(b" stream\n", 0, m.start()) > before:
            continue                      # inside a content stream, not a destination
        new = b"[%d 0 R /XYZ %.0f %.0f 0]" % (doc.pages[index[page] + 1], 16 * 72 / 25.4, PAGE_H - MARGIN_TOP + 2)
        room = m.end() - m.start()
        if len(new) <= room:
            data[m.start():m.end()] = new[:-1] + b" " * (room - len(new)) + b"]"
            fixed += 1
    pdf.write_bytes(bytes(data))
    return fixed


def pdf_text_string(text: str, room: int) -> bytes | None:
    """A PDF string for `text` padded to exactly `room` bytes (whitespace inside <hex> is ignored)."""
    try:
        raw = text.encode("latin-1") if text.isascii() else b"\xfe\xff" + text.encode("utf-16-be")
    except UnicodeEncodeError:
        raw = b"\xfe\xff" + text.encode("utf-16-be")
    body = b"<" + raw.hex().upper().encode() + b">"
    if len(body) > room:
        return None
    return body[:-1] + b" " * (room - len(body)) + b">"


def fix_outline_titles(pdf: Path, headings: list[dict]) -> int:
    """Replace doubled bookmark titles with the heading's text, in place (offsets unchanged)."""
    doc = pdfdoc.PdfDoc(pdf)
    items = doc.outline_items()
    data = bytearray(doc.data)
    fixed = 0
    for j, h in align(items, headings):
        title = re.sub(r"\s+", " ", h["text"]).strip()
        if norm(items[j][2]) == norm(title):
            continue
        start, end = doc.title_span(items[j][0])
        new = pdf_text_string(title, end - start)
        if new is not None:
            data[start:end] = new
            fixed += 1
    pdf.write_bytes(bytes(data))
    return fixed


def print_pdf(browser, html_file: Path, out: Path, label: str) -> dict:
    t0 = time.monotonic()
    page = browser.new_page(viewport={"width": 680, "height": 1000})
    page.set_default_timeout(300_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed to load {r.url}"))
    page.emulate_media(media="print")
    page.goto(html_file.as_uri(), wait_until="load")
    page.wait_for_function("window.__pdfReady === true")
    errors += page.evaluate("window.__pdfErrors")
    if errors:
        raise SystemExit(f"build_pdf: {label}: " + "\n".join(errors))
    checks = page.evaluate("""() => {
        const px = el => parseFloat(getComputedStyle(el).fontSize);
        const codes = [...document.querySelectorAll('pre code')];
        const wide = [...document.querySelectorAll('.md-typeset pre, .md-typeset table, .md-typeset svg, .md-typeset img')]
            .filter(el => {
                const col = el.closest('.md-typeset').getBoundingClientRect();
                const r = el.getBoundingClientRect();
                return r.right > col.right + 1 || (el.tagName === 'PRE' && el.scrollWidth > el.clientWidth + 1);
            })
            .map(el => el.tagName + ': ' + (el.textContent || '').replace(/\\s+/g, ' ').slice(0, 60));
        return {min_code_pt: codes.length ? Math.min(...codes.map(px)) * 0.75 : null,
                diagrams: document.querySelectorAll('.pdf-diagram > svg, .mermaid-static > svg').length,
                closed_details: document.querySelectorAll('details:not([open])').length,
                too_wide: wide};
    }""")
    headings = page.evaluate("""() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
        .map(h => ({id: h.id, text: h.textContent}))""")
    opts = dict(outline=True, tagged=True, print_background=True, prefer_css_page_size=True)
    first = out.with_suffix(".pass1.pdf")
    checks["render_seconds"] = round(time.monotonic() - t0, 1)
    page.pdf(path=str(first), **opts)
    fix_destinations(first)
    checks["pass1_seconds"] = round(time.monotonic() - t0 - checks["render_seconds"], 1)
    numbers = heading_pages(first, headings)
    for attempt in range(3):
        missing = page.evaluate("""(numbers) => {
            let missing = [];
            document.querySelectorAll('.pdf-toc a[data-target]').forEach(a => {
                const n = numbers[a.dataset.target];
                if (n === undefined) missing.push(a.dataset.target);
                a.querySelector('.pn').textContent = n === undefined ? '' : String(n);
            });
            return missing;
        }""", numbers)
        if missing:
            raise SystemExit(f"build_pdf: {label}: contents entries without a heading: {missing[:5]}")
        page.pdf(path=str(out), **opts)
        checks["destinations_fixed"] = fix_destinations(out)
        again = heading_pages(out, headings)
        if again == numbers:
            break
        numbers = again   # the numbers moved a heading: print once more
    else:
        raise SystemExit(f"build_pdf: {label}: page numbers of the contents do not settle")
    os.replace(first, out.with_suffix(".pass1.keep.pdf")) if os.environ.get("PDF_DEBUG") else first.unlink()
    checks["bookmarks_fixed"] = fix_outline_titles(out, headings)
    page.close()
    checks["seconds"] = round(time.monotonic() - t0, 1)
    checks["pages"] = len(pdfdoc.PdfDoc(out).pages)
    return checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, help="print this built site instead of building one")
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    ap.add_argument("--keep-html", action="store_true", help="keep the print pages in the site directory")
    args = ap.parse_args(argv)
    exe = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(exe).exists():
        print(f"build_pdf: {exe} not found (Debian package chromium; `make deps` installs it)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    tmp = None
    if args.site is None:
        tmp = Path(tempfile.mkdtemp(prefix="handbook-pdf-"))
        site = tmp / "site"
        build_site(site)
    else:
        site = args.site.resolve()
        if not (site / "assets" / "questions.json").is_file():
            print(f"build_pdf: {site} is not a built site (no assets/questions.json)", file=sys.stderr)
            return 2
    t_site = time.monotonic() - t0
    try:
        info = load_nav()
        parts = load_book(site, info[4])
        skipped = [p.url for part in parts for p in part.pages if any(s in p.html for s in SKIP_MARKERS)]
        full_parts = [Part(pt.n, pt.title, [p for p in pt.pages if p.url not in skipped]) for pt in parts]
        full_parts = [pt for pt in full_parts if pt.pages]
        args.out.mkdir(parents=True, exist_ok=True)
        files = {"full": site / "_print-full.html", "questions": site / "_print-questions.html"}
        files["full"].write_text(full_html(site, full_parts, info), encoding="utf-8")
        files["questions"].write_text(questions_html(site, parts, info), encoding="utf-8")
        t_fonts = time.monotonic()
        used = "".join(f.read_text(encoding="utf-8") for f in files.values())
        faces = pdf_fonts.font_css(used, site / "_pdf-fonts", "_pdf-fonts/")
        for f in files.values():
            f.write_text(f.read_text(encoding="utf-8").replace("<head>", f"<head><style>{faces}</style>", 1),
                         encoding="utf-8")
        t_fonts = time.monotonic() - t_fonts
        from playwright.sync_api import sync_playwright
        report = {"site_seconds": round(t_site, 1), "font_seconds": round(t_fonts, 1), "skipped_pages": skipped, "site_url": info[2],
                  "parts": [{"title": pt.title, "pages": [{"url": p.url, "title": p.title} for p in pt.pages]}
                            for pt in full_parts]}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            try:
                report["full"] = print_pdf(browser, files["full"], args.out / "handbook-full.pdf", "完整版")
                report["questions"] = print_pdf(browser, files["questions"], args.out / "handbook-questions.pdf", "题目版")
            finally:
                browser.close()
        report["total_seconds"] = round(time.monotonic() - t0, 1)
        (args.out / "pdf-report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        for key in ("full", "questions"):
            r = report[key]
            print(f"{args.out / ('handbook-' + key + '.pdf')}: {r['pages']} pages, {r['seconds']} s")
        if report["full"]["too_wide"]:
            print("build_pdf: wider than the page: " + "; ".join(report["full"]["too_wide"][:10]), file=sys.stderr)
        if not args.keep_html and args.site is not None:
            for f in files.values():
                f.unlink()
            shutil.rmtree(site / "_pdf-fonts", ignore_errors=True)
    finally:
        if tmp is not None and not args.keep_html:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"build_pdf: done in {report['total_seconds']} s (site build {report['site_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
