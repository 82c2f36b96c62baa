"""Book assembly: the built site's pages in nav order, each article rewritten to live in one document.

`load_nav` reads the parts and the order of pages from mkdocs.yml's nav, `load_book` the
questions from ``assets/questions.json`` (hooks/questions.py) and each page's <article>
from the built HTML.  `transform` makes one article ready for print: headings shifted
under their part and classed, collapsed <details> opened, ids prefixed with the page
number and links pointing inside the PDF (`Linker`) or, for pages not printed, online.
"""
from __future__ import annotations

import html
import json
import os
import posixpath
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from . import ROOT
from .fonts import mark_missing_glyphs

ARTICLE = re.compile(r'<article class="md-content__inner md-typeset">(.*)</article>', re.S)
HEADING = re.compile(r'<h([1-6])\b([^>]*)>(.*?)</h\1>', re.S)
ATTR = re.compile(r'\s(id|href|src|for|aria-labelledby|aria-describedby)="([^"]*)"')
CLASS = re.compile(r'\sclass="([^"]*)"')


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


def norm(s: str) -> str:
    """Compare titles the way a reader would: NFKC, no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def load_nav():
    """(site_name, description, site_url, copyright, [(section title or None, [page url, ...])])."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    if str(ROOT) not in sys.path:     # mkdocs.yml names modules of bookgen/ (the Markdown extension)
        sys.path.insert(0, str(ROOT))
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
