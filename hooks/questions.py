"""Collect every question and every correction of the seed while the site builds.

Pages mark questions in a fixed way (CONTRIBUTING.md): a `##` heading per
question, with the class `.seed` when it comes from the original question set,
and follow-ups in `??? question "..."` blocks; corrections of the seed sit in
`!!! warning "原题勘误"` blocks.  This hook

* gives every follow-up <details> an id so it can be linked to,
* writes three generated pages after the build, into placeholders of the
  appendix pages: the question index (grouped by chapter, seed or follow-up,
  with tags), the errata (each correction, linking back to its question) and
  the drill page (today's review, a random question, a mock interview, the
  reader's progress: the forms; assets/js/practice.js does the rest),
* writes `assets/questions.json` for other tools (PDF question edition, Anki
  deck); each page also lists the `.moved` stubs it keeps (old id -> new id),
* writes two classic scripts for the browser's practice features (classic, not
  JSON or ES modules, so that they load from file:// in the offline zip):
  `assets/js/practice-data.js` (every question: id, title, page, chapter, and
  the map from moved anchors to their new ids, so a rating stored under an old
  anchor follows its question) and `assets/js/practice-answers.js` (each
  question's 面试回答, or a follow-up's answer, with links rebased for the drill
  page, which shows them).
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
    "today": '<div id="drill-today"></div>',
    "mock": '<div id="drill-mock"></div>',
    "progress": '<div id="drill-progress"></div>',
}
A_TAG = re.compile(r'<a\b([^>]*)>')
ABSTRACT_OPEN = re.compile(r'<div class="admonition abstract">\s*<p class="admonition-title">[^<]*</p>', re.S)
DETAILS_TAG = re.compile(r'<(/?)details\b[^>]*>')
IDS = re.compile(r'\s(?:id|aria-labelledby|aria-describedby)="[^"]*"')
HEADERLINK = re.compile(r'<a class="headerlink"[^>]*>.*?</a>', re.S)

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


_folder_chapter: dict[str, str] = {}


def _chapter(page) -> str:
    """The top nav section of a page; a page not (yet) in the nav takes its folder's section."""
    node = page.parent
    top = None
    while node is not None:
        top = node
        node = node.parent
    if top is not None:
        return top.title
    return _folder_chapter.get(page.file.src_uri.split("/")[0], "首页") if "/" in page.file.src_uri else "首页"


def on_pre_build(config, **kwargs):
    _pages.clear()
    _order.clear()


def on_nav(nav, config, files, **kwargs):
    _order[:] = [p.file.src_uri for p in nav.pages]
    _folder_chapter.clear()
    for p in nav.pages:
        if "/" in p.file.src_uri and p.parent is not None:
            _folder_chapter.setdefault(p.file.src_uri.split("/")[0], _chapter(p))


def _moved_stubs(html_text: str, page_url: str) -> list[dict]:
    """The `.moved` stubs of a split page (CONTRIBUTING.md): old id, new id, new page."""
    stubs = []
    for m in A_TAG.finditer(html_text):
        attrs = dict(ATTR.findall(m.group(1)))
        if "moved" not in attrs.get("class", "").split() or not attrs.get("id") or "#" not in attrs.get("href", ""):
            continue
        path, _, frag = html.unescape(attrs["href"]).partition("#")
        base = page_url if page_url.endswith("/") or not page_url else page_url.rsplit("/", 1)[0] + "/"
        target = posixpath.normpath(posixpath.join(base, path)) if path else page_url
        target = "" if target == "." else target + ("/" if path.endswith("/") and target != page_url else "")
        stubs.append({"id": attrs["id"], "to": frag, "url": target})
    return stubs


def _matching_div_end(text: str, start: int, tag: re.Pattern = DIV_TAG) -> int:
    depth = 0
    for m in tag.finditer(text, start):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return m.end()
    return len(text)


def on_page_content(html_text: str, page, config, files, **kwargs) -> str:
    if page.file.src_uri == "index.md" or page.file.src_uri.startswith("appendix/"):
        # the home page and the appendix hold no questions, but may hold placeholders
        _pages[page.file.src_uri] = {"url": page.url, "title": page.title, "chapter": _chapter(page),
                                     "tags": [], "questions": [], "errata": [], "moved": []}
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
        "moved": _moved_stubs(html_text, page.url),
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
            parts.append(f'<h2 class="qchapter">{html.escape(chapter)}</h2>')
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


def _scripts(from_url: str, *names: str) -> str:
    """Classic <script> tags for the practice scripts (parser-blocking: loaded before `load`)."""
    return "".join(f'<script src="{html.escape(get_relative_url("assets/js/" + n, from_url))}"></script>'
                   for n in names)


def _drill_html(from_url: str) -> str:
    """A random question (weighted towards weak and due ones): the ids the reader tests use."""
    return (_scripts(from_url, "practice-data.js", "practice.js") +
            '<div class="drill-box" id="drill-random"><p class="drill-meta" id="drill-meta"></p>'
            '<p class="drill-question" id="drill-question">（需要 JavaScript）</p>'
            '<p class="drill-actions"><button type="button" class="md-button md-button--primary" id="drill-next">换一题</button> '
            '<button type="button" class="md-button" id="drill-reveal">显示答案</button> '
            '<a class="md-button" id="drill-answer" href="#">在原页看答案</a> '
            '<label><input type="checkbox" id="drill-seed-only"> 只抽原题</label></p>'
            '<div class="drill-slot"></div></div>')


def _today_html(from_url: str) -> str:
    return ('<p class="drill-counts" id="today-counts">（需要 JavaScript）</p>'
            '<p><button type="button" class="md-button md-button--primary" id="today-start">开始今日复习</button></p>'
            '<div class="drill-box" id="today-card" hidden></div>')


def _mock_html(from_url: str) -> str:
    chapters = list(dict.fromkeys(p["chapter"] for p in _ordered() if p["questions"] and p["url"] != from_url))
    boxes = "".join(f'<label><input type="checkbox" name="mock-chapter" value="{html.escape(c, quote=True)}" checked> '
                    f'{html.escape(c)}</label>' for c in chapters)
    return ('<form class="mock-form" id="mock-form"><fieldset><legend>章节</legend>' + boxes + '</fieldset>'
            '<p><label>题数 <input type="number" id="mock-total" min="1" max="30" value="8"></label> '
            '<label>其中追问 <input type="number" id="mock-follow" min="0" max="20" value="3"></label> '
            '<label>每题限时（秒） <input type="number" id="mock-seconds" min="10" max="600" value="60"></label></p>'
            '<p><button type="submit" class="md-button md-button--primary" id="mock-start">开始模拟面试</button> '
            '<span class="mock-error" id="mock-error" role="alert"></span></p></form>'
            '<div class="drill-box mock-stage" id="mock-stage" hidden></div>')


def _progress_html(from_url: str) -> str:
    return ('<p class="progress-summary" id="progress-summary">（需要 JavaScript）</p>'
            '<p><button type="button" class="md-button" id="progress-export">导出进度</button> '
            '<button type="button" class="md-button" id="progress-import">导入进度</button> '
            '<input type="file" id="progress-file" accept=".json,application/json" hidden> '
            '<button type="button" class="md-button" id="progress-reset">清空进度</button></p>'
            '<p class="progress-msg" id="progress-msg" role="status"></p>')


def _index_scripts(from_url: str) -> str:
    return _scripts(from_url, "practice-data.js", "practice.js")


def _built_path(site: Path, url: str, use_dirs: bool) -> Path:
    return site / (url + "index.html" if use_dirs and (url.endswith("/") or url == "") else url or "index.html")


SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def _clean_answer(fragment: str, page_url: str, drill_url: str) -> str:
    """An answer copied into the drill page: no permalinks, no ids (outside diagrams), links rebased."""
    fragment = HEADERLINK.sub("", fragment)
    parts, last = [], 0
    for m in SVG.finditer(fragment):
        parts.append(IDS.sub("", fragment[last:m.start()]))
        parts.append(m.group(0))
        last = m.end()
    parts.append(IDS.sub("", fragment[last:]))
    return _rebase_links("".join(parts), page_url, drill_url).strip()


LEAD_P = re.compile(r"<p>.*?</p>", re.S)


def _answer(text: str, qid: str, followup: bool) -> str:
    """The 面试回答 of a question heading (or its first paragraphs), or a follow-up's body."""
    if followup:
        m = re.search(rf'<details class="question" id="{re.escape(qid)}"[^>]*>', text)
        if not m:
            return ""
        end = _matching_div_end(text, m.start(), DETAILS_TAG)
        body = text[m.end():end - len("</details>")]
        return body.split("</summary>", 1)[-1]
    m = re.search(rf'<h2\b[^>]*\sid="{re.escape(qid)}"[^>]*>.*?</h2>', text, re.S)
    if not m:
        return ""
    nxt = re.compile(r"<h2\b|</article>").search(text, m.end())
    section = text[m.end():nxt.start() if nxt else len(text)]
    a = ABSTRACT_OPEN.search(section)
    if a:
        end = _matching_div_end(section, a.start())
        return section[a.end():end - len("</div>")]
    lead = section.split("<h3", 1)[0]
    return "".join(LEAD_P.findall(lead)[:3])


def _practice_items() -> list[dict]:
    """Every question in book order, as the browser's practice scripts see it."""
    items = []
    for p in _ordered():
        for q in p["questions"]:
            items.append({"id": q["id"], "title": q["title"], "url": p["url"], "page": p["title"],
                          "chapter": p["chapter"], "seed": q["seed"], "kind": "q"})
            for f in q["followups"]:
                items.append({"id": f["id"], "title": f["title"], "url": p["url"], "page": p["title"],
                              "chapter": p["chapter"], "seed": False, "kind": "f", "parent": q["id"]})
    return items


def _moved_map(items: list[dict]) -> dict[str, str]:
    """Old anchor -> the id its question has now, for stubs whose id changed (chains followed).

    An old id that is again a live question's id is left alone: a rating stored under it
    cannot be told apart, and the live question keeps it."""
    live = {i["id"] for i in items}
    direct = {s["id"]: s["to"] for p in _ordered() for s in p.get("moved", []) if s["to"] and s["to"] != s["id"]}
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


def _js_assign(name: str, value) -> str:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"/* generated by hooks/questions.py */\nwindow.{name} = {data};\n"


def on_post_build(config, **kwargs):
    site = Path(config["site_dir"])
    use_dirs = config["use_directory_urls"]
    makers = {"index": lambda u: _index_scripts(u) + _index_html(u), "errata": _errata_html, "drill": _drill_html,
              "today": _today_html, "mock": _mock_html, "progress": _progress_html}
    drill_url = None
    for src_uri, page in list(_pages.items()):
        path = _built_path(site, page["url"], use_dirs)
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        changed = False
        for key, marker in PLACEHOLDERS.items():
            if marker in text:
                if key == "drill":
                    drill_url = page["url"]
                text = text.replace(marker, marker[:-len("</div>")] + makers[key](page["url"]) + "</div>")
                changed = True
        if changed:
            path.write_text(text, encoding="utf-8")
    dump = [{"chapter": p["chapter"], "page": p["title"], "url": p["url"],
             "questions": p["questions"], "errata": len(p["errata"]), "moved": p.get("moved", [])}
            for p in _ordered()]
    (site / "assets").mkdir(exist_ok=True)
    (site / "assets" / "questions.json").write_text(json.dumps(dump, ensure_ascii=False, indent=1), encoding="utf-8")

    items = _practice_items()
    js = site / "assets" / "js"
    js.mkdir(parents=True, exist_ok=True)
    (js / "practice-data.js").write_text(
        _js_assign("HandbookPracticeData", {"questions": items, "moved": _moved_map(items)}), encoding="utf-8")
    answers, texts = {}, {}
    for it in items:
        if it["url"] not in texts:
            path = _built_path(site, it["url"], use_dirs)
            texts[it["url"]] = path.read_text(encoding="utf-8") if path.is_file() else ""
        body = _answer(texts[it["url"]], it["id"], it["kind"] == "f")
        answers[it["url"] + "#" + it["id"]] = _clean_answer(body, it["url"], drill_url if drill_url is not None else "")
    (js / "practice-answers.js").write_text(_js_assign("HandbookPracticeAnswers", answers), encoding="utf-8")
