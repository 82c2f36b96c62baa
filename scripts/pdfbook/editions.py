"""The two editions, each as one print page at the root of the built site.

完整版 (`full_html`): cover, numbered contents, every page of the book with all answers
and follow-ups open, a named CSS page per book page for the running headers.  题目版
(`questions_html`): cover, contents and the questions only, each linking to its answer
online.  Both load Material's CSS, scripts/pdf/print.css and scripts/pdf/print.js
(Mermaid left for the browser, KaTeX, tabs); the contents' page numbers are filled in
after the first print (outline.py).
"""
from __future__ import annotations

import html
import re
import subprocess
import time
from pathlib import Path

from . import ASSETS, ROOT
from .assemble import Linker, Part, transform

# pages that only work with JavaScript or repeat the contents: left out of the full edition
SKIP_MARKERS = ('<div id="drill">', '<div id="question-index">')


def full_edition_parts(parts: list[Part]) -> tuple[list[Part], list[str]]:
    """The parts of the full edition, without the pages of SKIP_MARKERS; and those pages' urls."""
    skipped = [p.url for part in parts for p in part.pages if any(s in p.html for s in SKIP_MARKERS)]
    full_parts = [Part(pt.n, pt.title, [p for p in pt.pages if p.url not in skipped]) for pt in parts]
    return [pt for pt in full_parts if pt.pages], skipped


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
