"""Collect every question and every correction of the seed while the site builds.

Pages mark questions in a fixed way (CONTRIBUTING.md): a `##` heading per
question, with the class `.seed` when it comes from the original question set,
and follow-ups in `??? question "..."` blocks; corrections of the seed sit in
`!!! warning "原题勘误"` blocks.  This hook

* gives every follow-up <details> an id so it can be linked to,
* writes three generated pages after the build, into placeholders of the
  appendix pages: the question index (grouped by chapter, seed or follow-up,
  with tags), the errata (each correction, linking back to its question) and
  the drill page (a random question), and
* writes `assets/questions.json` for other tools (PDF question edition).
"""
from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path

from mkdocs.utils import get_relative_url

H2 = re.compile(r'<h2(?P<attrs>[^>]*)>(?P<body>.*?)</h2>', re.S)
DETAILS_Q = re.compile(r'<details class="question"(?P<attrs>[^>]*)>\s*<summary>(?P<body>.*?)</summary>', re.S)
ERRATA_OPEN = re.compile(r'<div class="admonition warning">\s*<p class="admonition-title">原题勘误</p>', re.S)
DIV_TAG = re.compile(r'<(/?)div\b[^>]*>')
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
TAGS = re.compile(r"<[^>]+>")

PLACEHOLDERS = {
    "index": '<div id="question-index"></div>',
    "errata": '<div id="errata-list"></div>',
    "drill": '<div id="drill"></div>',
}

_pages: dict[str, dict] = {}
_order: list[str] = []


def _text(fragment: str) -> str:
    fragment = re.sub(r'<a class="headerlink".*?</a>', "", fragment, flags=re.S)
    return html.unescape(TAGS.sub("", fragment)).strip()


ABBR_FILE = Path(__file__).resolve().parent.parent / "includes" / "abbreviations.md"
_terms: list[str] = []


def _load_terms() -> list[str]:
    """Glossary abbreviations (includes/abbreviations.md), used as the index's tags."""
    if not _terms and ABBR_FILE.exists():
        _terms.extend(m.group(1) for m in re.finditer(r"^\*\[([^\]]+)\]:", ABBR_FILE.read_text(encoding="utf-8"), re.M))
    return _terms


def _tags(title: str, page_tags: list[str]) -> list[str]:
    """Page tags (front matter `tags:`) plus every glossary term the question names."""
    found = [t for t in _load_terms() if re.search(r"(?<![A-Za-z0-9])" + re.escape(t) + r"(?![A-Za-z0-9])", title, re.I)]
    return list(dict.fromkeys(list(page_tags) + found))


def _chapter(page) -> str:
    node = page.parent
    top = None
    while node is not None:
        top = node
        node = node.parent
    return top.title if top is not None else "首页"


def on_pre_build(config, **kwargs):
    _pages.clear()
    _order.clear()


def on_nav(nav, config, files, **kwargs):
    _order[:] = [p.file.src_uri for p in nav.pages]


def _matching_div_end(text: str, start: int) -> int:
    depth = 0
    for m in DIV_TAG.finditer(text, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return m.end()
    return len(text)


def on_page_content(html_text: str, page, config, files, **kwargs) -> str:
    if page.file.src_uri == "index.md" or page.file.src_uri.startswith("appendix/"):
        # the home page and the appendix hold no questions, but may hold placeholders
        _pages[page.file.src_uri] = {"url": page.url, "title": page.title, "chapter": _chapter(page),
                                     "tags": [], "questions": [], "errata": []}
        return html_text
    events = []   # (position, kind, data) in document order
    for m in H2.finditer(html_text):
        attrs = dict(ATTR.findall(m.group("attrs")))
        events.append((m.start(), "q", {"id": attrs.get("id", ""), "seed": "seed" in attrs.get("class", "").split(),
                                        "title": _text(m.group("body"))}))
    counter: dict[str, int] = {}
    out, last = [], 0
    current = ""
    h2_positions = [(pos, d["id"]) for pos, k, d in events]
    for m in DETAILS_Q.finditer(html_text):
        parent = ""
        for pos, hid in h2_positions:
            if pos < m.start():
                parent = hid
        counter[parent] = counter.get(parent, 0) + 1
        fid = f"{parent or 'q'}-f{counter[parent]}"
        attrs = m.group("attrs")
        if "id=" not in attrs:
            out.append(html_text[last:m.start()])
            out.append(f'<details class="question" id="{fid}"{attrs}>\n<summary>{m.group("body")}</summary>')
            last = m.end()
        else:
            fid = dict(ATTR.findall(attrs))["id"]
        events.append((m.start(), "f", {"id": fid, "title": _text(m.group("body")), "parent": parent}))
    out.append(html_text[last:])
    new_html = "".join(out)
    for m in ERRATA_OPEN.finditer(html_text):
        end = _matching_div_end(html_text, m.start())
        body = html_text[m.end():end - len("</div>")]
        events.append((m.start(), "e", {"html": body}))
    events.sort(key=lambda e: e[0])
    questions, errata = [], []
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
        e["title"] = titles.get(e["question"], page.title)
    _pages[page.file.src_uri] = {
        "url": page.url, "title": page.title, "chapter": _chapter(page),
        "tags": list(page.meta.get("tags", [])), "questions": questions, "errata": errata,
    }
    return new_html


def _ordered():
    seen = [u for u in _order if u in _pages] + [u for u in _pages if u not in _order]
    return [_pages[u] for u in seen]


def _link(target_url: str, anchor: str, from_url: str) -> str:
    return html.escape(get_relative_url(target_url, from_url) + (f"#{anchor}" if anchor else ""))


def _index_html(from_url: str) -> str:
    parts, chapter = [], None
    total_seed = total_follow = 0
    for p in _ordered():
        if not p["questions"] or p["url"] == from_url:
            continue
        if p["chapter"] != chapter:
            chapter = p["chapter"]
            parts.append(f"<h2>{html.escape(chapter)}</h2>")
        parts.append(f'<h3><a href="{_link(p["url"], "", from_url)}">{html.escape(p["title"])}</a></h3><ul class="qindex">')
        for q in p["questions"]:
            # follow-ups are marked by the li's class and a CSS ::before, not a span: the index
            # lists ~300 of them and stays within the page budget (1,500 elements)
            mark = '<span class="qtag qtag-seed">原题</span>' if q["seed"] else ""
            total_seed += q["seed"]
            total_follow += not q["seed"]
            tags = "".join(f'<span class="qtag qtag-term">{html.escape(t)}</span>' for t in _tags(q["title"], p["tags"]))
            li = "<li>" if q["seed"] else '<li class="qf">'
            parts.append(f'{li}{mark}{tags} <a href="{_link(p["url"], q["id"], from_url)}">{html.escape(q["title"])}</a>')
            if q["followups"]:
                parts.append("<ul>")
                for f in q["followups"]:
                    total_follow += 1
                    parts.append(f'<li class="qf"><a href="{_link(p["url"], f["id"], from_url)}">'
                                 f'{html.escape(f["title"])}</a></li>')
                parts.append("</ul>")
            parts.append("</li>")
        parts.append("</ul>")
    head = f'<p class="qcount">共 {total_seed} 道原题、{total_follow} 道追问。</p>'
    return head + "\n".join(parts)


HREF = re.compile(r'(href|src)="([^"]*)"')


def _rebase_links(fragment: str, page_url: str, from_url: str) -> str:
    """Links copied from a page keep pointing where they did: rebase relative ones."""
    def fix(m: re.Match) -> str:
        attr, url = m.group(1), m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^//|^/", url):
            return m.group(0)
        if url.startswith("#"):
            target = page_url + url
        else:
            base = page_url if page_url.endswith("/") or not page_url else page_url.rsplit("/", 1)[0] + "/"
            target = posixpath.normpath(posixpath.join(base, url.split("#")[0] or "."))
            if target == ".":
                target = ""
            if url.split("#")[0].endswith("/") and target:
                target += "/"
            if "#" in url:
                target += "#" + url.split("#", 1)[1]
        return f'{attr}="{html.escape(get_relative_url(target, from_url), quote=True)}"'
    return HREF.sub(fix, fragment)


def _errata_html(from_url: str) -> str:
    parts, n = [], 0
    for p in _ordered():
        for e in p["errata"]:
            e = {**e, "html": _rebase_links(e["html"], p["url"], from_url)}
            n += 1
            parts.append(f'<div class="errata-item"><h3 id="errata-{n}">{n}. <a href="{_link(p["url"], e["question"], from_url)}">'
                         f'{html.escape(e["title"])}</a></h3><p class="errata-where">{html.escape(p["chapter"])} · '
                         f'{html.escape(p["title"])}</p>{e["html"]}</div>')
    return f'<p class="qcount">共 {n} 条勘误。</p>' + "\n".join(parts)


def _all_questions(from_url: str) -> list[dict]:
    items = []
    for p in _ordered():
        if p["url"] == from_url:
            continue
        for q in p["questions"]:
            items.append({"title": q["title"], "href": get_relative_url(p["url"], from_url) + "#" + q["id"],
                          "chapter": p["chapter"], "seed": q["seed"]})
            for f in q["followups"]:
                items.append({"title": f["title"], "href": get_relative_url(p["url"], from_url) + "#" + f["id"],
                              "chapter": p["chapter"], "seed": False})
    return items


def _drill_html(from_url: str) -> str:
    data = json.dumps(_all_questions(from_url), ensure_ascii=False).replace("</", "<\\/")
    return (f'<script type="application/json" id="drill-data">{data}</script>'
            '<div class="drill-box"><p class="drill-meta" id="drill-meta"></p>'
            '<p class="drill-question" id="drill-question">（需要 JavaScript）</p>'
            '<p><button class="md-button md-button--primary" id="drill-next">换一题</button> '
            '<a class="md-button" id="drill-answer" href="#">看答案</a> '
            '<label><input type="checkbox" id="drill-seed-only"> 只抽原题</label></p></div>')


def on_post_build(config, **kwargs):
    site = Path(config["site_dir"])
    use_dirs = config["use_directory_urls"]
    makers = {"index": _index_html, "errata": _errata_html, "drill": _drill_html}
    for src_uri, page in list(_pages.items()):
        path = site / (page["url"] + "index.html" if use_dirs and (page["url"].endswith("/") or page["url"] == "")
                       else page["url"] or "index.html")
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        changed = False
        for key, marker in PLACEHOLDERS.items():
            if marker in text:
                text = text.replace(marker, f'<div id="{marker[9:-8]}">{makers[key](page["url"])}</div>')
                changed = True
        if changed:
            path.write_text(text, encoding="utf-8")
    dump = [{"chapter": p["chapter"], "page": p["title"], "url": p["url"],
             "questions": p["questions"], "errata": len(p["errata"])} for p in _ordered()]
    (site / "assets").mkdir(exist_ok=True)
    (site / "assets" / "questions.json").write_text(json.dumps(dump, ensure_ascii=False, indent=1), encoding="utf-8")
