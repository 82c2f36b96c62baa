"""One book from either builder: the same structural checks on the MkDocs build and the Zensical build.

MkDocs + Material (the session's site, tests/sitefixtures.py) and Zensical (built here once per
session, from the newest zensical that `make zensical-venv` installed into .venv-zensical) read
the same mkdocs.yml, run the same Markdown extensions (bookgen/) and publish the same generated
and vendored files.  For both: every page of the nav is there, the question index lists every
question of the sources (counted here from the Markdown, independently of the generator) and
every link of it lands on an element with that id, every diagram is inline SVG, no page asks
another host for a script, style sheet, image or frame, and the Pyodide runner with its
snippets is served.

What differs, and why (asserted below as what each builder produces):
* Zensical runs no MkDocs hooks.  Its search is its own (``search.json``, not
  ``search/search_index.json``), so hooks/search_fix.py's worker patch and smaller index do not
  apply, and its search dialog already has a name (hooks/a11y.py).
* The theme is Zensical's port of Material (another bundle, a skip link at the top of the
  article); the book's override (overrides/main.html) and its scripts are the same.
"""
from __future__ import annotations

import html
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import sitekit  # scripts/, which tests/sitefixtures.py puts on sys.path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bookgen import config as book_config  # noqa: E402
from bookgen import site as book_site  # noqa: E402

pytestmark = pytest.mark.site


@pytest.fixture(scope="session")
def zensical_dir():
    """The Zensical build, once per session, in build/ (Zensical writes only inside the project)."""
    if not book_site.ZENSICAL_PY.exists():
        pytest.fail(f"{book_site.ZENSICAL_PY} is missing: `make zensical-venv` installs Zensical "
                    "(make test does)", pytrace=False)
    out = ROOT / "build" / "zensical-test"
    shutil.rmtree(out, ignore_errors=True)
    try:
        book_site.build_zensical(out, timeout=1800)
    except book_site.BuildError as e:
        pytest.fail(str(e), pytrace=False)
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session", params=["mkdocs", "zensical"])
def built(request) -> tuple[str, Path]:
    return request.param, request.getfixturevalue("site_dir" if request.param == "mkdocs" else "zensical_dir")


NAV = book_config.load().pages
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def _source_lines(src: str):
    """The lines of a page outside fenced blocks, and the info strings of its fences."""
    text = (ROOT / "docs" / src).read_text(encoding="utf-8")
    prose, infos, fence = [], [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group("fence")
            infos.append(m.group("info").strip())
        elif fence is not None and m and m.group("fence").startswith(fence) and not m.group("info").strip():
            fence = None
        elif fence is None:
            prose.append(line)
    return prose, infos


def _source_counts() -> tuple[int, int]:
    """(seed questions, other questions and follow-ups) as the Markdown of the chapters has them."""
    seed = other = 0
    for page in NAV:
        if page.src_uri == "index.md" or page.src_uri.startswith("appendix/"):
            continue
        prose, _ = _source_lines(page.src_uri)
        for line in prose:
            if line.startswith("## "):
                if re.search(r"\{[^}]*\.seed\b[^}]*\}\s*$", line):
                    seed += 1
                else:
                    other += 1
            elif re.match(r"\s*\?\?\?\+? question\b", line) or re.match(r'\s*<details class="question"', line):
                other += 1
    return seed, other


def _page(site: Path, src: str) -> Path:
    return site / book_config.page_url(src) / "index.html"


def _ids(path: Path, cache: dict) -> set[str]:
    if path not in cache:
        cache[path] = set(re.findall(r'\sid="([^"]+)"', path.read_text(encoding="utf-8")))
    return cache[path]


def test_every_page_of_the_nav_is_built(built):
    builder, site = built
    assert len(NAV) > 60
    for page in NAV:
        path = _page(site, page.src_uri)
        assert path.is_file(), (builder, page.src_uri)
        assert "<h1" in path.read_text(encoding="utf-8"), (builder, page.src_uri)


def test_the_question_index_lists_every_question_of_the_sources(built):
    builder, site = built
    seed, other = _source_counts()
    assert seed >= 40 and other >= 300      # 47 and 334 (83 other ## questions, 251 follow-ups) when written
    index = _page(site, "appendix/questions.md")
    text = index.read_text(encoding="utf-8")
    assert f"共 {seed} 道原题、{other} 道追问。" in text
    links = re.findall(r'<li(?: class="qf")?>(?:<span[^>]*>[^<]*</span>)* ?<a href="([^"]+)"', text)
    assert len(links) == seed + other, builder
    cache: dict = {}
    for href in links:
        path, _, frag = href.partition("#")
        target = (index.parent / unquote(path)).resolve() / "index.html"
        assert frag and frag in _ids(target, cache), (builder, href)
    # the practice scripts that run the index, from the site itself
    assert re.search(r'<script src="(\.\./)+assets/js/practice-data\.js"></script>', text)
    assert re.search(r'<script src="(\.\./)+assets/js/practice\.js"></script>', text)


def test_the_errata_and_drill_pages_are_filled(built):
    builder, site = built
    errata = _page(site, "appendix/errata.md").read_text(encoding="utf-8")
    m = re.search(r"共 (\d+) 条勘误。", errata)
    sources = sum(line.strip() == '!!! warning "原题勘误"'
                  for p in NAV if not p.src_uri.startswith("appendix/") for line in _source_lines(p.src_uri)[0])
    assert m and int(m.group(1)) == sources > 30, builder
    assert errata.count('<div class="errata-item">') == sources
    drill = _page(site, "appendix/drill.md").read_text(encoding="utf-8")
    for element_id in ("drill-random", "today-start", "mock-form", "progress-export"):
        assert f'id="{element_id}"' in drill, (builder, element_id)
    assert drill.count('name="mock-chapter"') == 5      # the five chapters with questions


def test_every_diagram_is_inline_svg(built):
    builder, site = built
    pages = 0
    for page in NAV:
        fences = sum(info.split()[0] == "mermaid" for info in _source_lines(page.src_uri)[1] if info)
        if not fences:
            continue
        pages += 1
        text = _page(site, page.src_uri).read_text(encoding="utf-8")
        assert len(re.findall(r'<div class="mermaid-static"[^>]*><svg\b', text)) == fences, (builder, page.src_uri)
        assert '<pre class="mermaid">' not in text and "mermaid.min.js" not in text, (builder, page.src_uri)
    assert pages >= 15


REQUEST_ATTR = re.compile(r'<(script|img|iframe|source|audio|video|embed)\b[^>]*?\ssrc="([^"]*)"'
                          r'|<link\b(?=[^>]*\srel="(?:stylesheet|icon|preload|modulepreload|manifest)")[^>]*?\shref="([^"]*)"')


def test_no_page_asks_another_host_for_anything(built):
    builder, site = built
    outside = []
    for path in sorted(site.rglob("*.html")):
        for m in REQUEST_ATTR.finditer(path.read_text(encoding="utf-8")):
            url = html.unescape(m.group(2) or m.group(3))
            if urlsplit(url).scheme in ("http", "https") or url.startswith("//"):
                outside.append((path.relative_to(site).as_posix(), url))
    assert outside == [], (builder, outside[:5])


def test_the_python_runner_is_served_with_pyodide_and_the_snippets(built):
    builder, site = built
    home = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<script src="(\./)?assets/js/runner\.js"></script>', home)
    for name in ("pyodide.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "LICENSE"):
        assert (site / "assets" / "vendor" / "pyodide" / name).is_file(), (builder, name)
    manifest = (site / "assets" / "snippets" / "manifest.json").read_text(encoding="utf-8")
    names = sorted(p.name for p in (ROOT / "snippets").glob("*.py"))
    assert manifest == str(names).replace("'", '"')
    for name in names:
        assert (site / "assets" / "snippets" / name).read_bytes() == (ROOT / "snippets" / name).read_bytes()
    for lib in ("mermaid", "katex", "iframe-worker", "ts-fsrs", "pyodide"):     # licences shipped
        assert (site / "assets" / "vendor" / lib / "LICENSE").stat().st_size > 100, (builder, lib)


def test_what_differs_between_the_builders(site_dir, zensical_dir):
    # MkDocs + Material: its search index, rewritten by hooks/search_fix.py as UTF-8 (Material
    # writes every Han character as a \\u escape)
    index = (site_dir / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "归置组" in index and not re.search(r"\\u[4-9][0-9a-f]{3}", index)
    assert 'aria-label="站内搜索"' in (site_dir / "index.html").read_text(encoding="utf-8")
    # Zensical: its own search index and a search dialog named by the theme
    assert (zensical_dir / "search.json").is_file() and not (zensical_dir / "search").exists()
    assert 'role="dialog" aria-label="查找"' in (zensical_dir / "index.html").read_text(encoding="utf-8")


def test_pages_load_without_outside_requests_in_chromium(built, browser):
    builder, site = built
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    with sitekit.serve(site) as base:
        try:
            rows = 0
            for url in ("", "raid/parity/", "appendix/questions/", "appendix/calculators/"):
                page.goto(base + url, wait_until="networkidle")
                rows = rows or page.evaluate("document.querySelectorAll('#question-index li').length")
        finally:
            page.close()
    assert [r for r in requests if urlsplit(r).hostname not in ("127.0.0.1", None)] == [], builder
    assert rows == sum(_source_counts())


def test_the_light_dark_switch_works_on_the_zensical_build(zensical_dir, browser):
    # overrides/partials/palette.html and handbook.js, not Material's palette component; the
    # MkDocs build's switch is tested in tests/site/test_palette.py
    ctx = browser.new_context(color_scheme="dark")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    ready = "document.querySelector('form[data-hb-palette]').dataset.ready === '1'"
    with sitekit.serve(zensical_dir) as base:
        try:
            page.goto(base + "disks/lvm/", wait_until="load")
            page.wait_for_function(ready)
            assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
            page.click("form[data-hb-palette] label:not([hidden])")
            page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
            page.goto(base + "raid/", wait_until="load")
            page.wait_for_function(ready)
            assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "default"
        finally:
            ctx.close()
    assert errors == []
