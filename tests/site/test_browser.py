"""Drive the built site in Debian's Chromium: every page loads with no outside request."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest

from conftest import html_pages

pytestmark = pytest.mark.site


def _page_urls(site_dir, site_url):
    for p in html_pages(site_dir):
        rel = p.relative_to(site_dir).as_posix()
        if rel == "404.html":
            continue
        yield site_url + (rel[: -len("index.html")] if rel.endswith("index.html") else rel)


def test_every_page_loads_without_requests_to_other_hosts(browser, site_dir, site_url):
    outside: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    context = browser.new_context()
    context.on("request", lambda r: outside.append(r.url)
               if urlparse(r.url).hostname not in ("127.0.0.1",) and not r.url.startswith(("data:", "blob:"))
               else None)
    # a request cancelled because the page moved on (net::ERR_ABORTED) is not a fault of the
    # site; a missing file shows up as an HTTP error status instead
    context.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}")
               if "ERR_ABORTED" not in (r.failure or "") else None)
    context.on("response", lambda r: failed.append(f"{r.url} HTTP {r.status}") if r.status >= 400 else None)
    tabs = [context.new_page() for _ in range(4)]
    for tab in tabs:
        tab.on("pageerror", lambda e: errors.append(str(e)))
    urls = list(_page_urls(site_dir, site_url))
    assert len(urls) >= 2
    # four tabs at a time: each waits for networkidle (no request for 500 ms, so lazy scripts
    # have finished before the tab moves on), and those idle waits overlap
    for start in range(0, len(urls), len(tabs)):
        batch = list(zip(tabs, urls[start:start + len(tabs)]))
        for tab, url in batch:
            resp = tab.goto(url, wait_until="commit")
            assert resp is not None and resp.status == 200, url
        for tab, url in batch:
            tab.wait_for_load_state("networkidle")
            assert tab.url == url
    context.close()
    assert outside == []
    assert failed == []
    assert errors == []


def test_mermaid_diagrams_are_inline_svg_rendered_at_build_time(browser, site_dir, site_url):
    """Every ```mermaid fence of the sources becomes an inline SVG; no page loads mermaid.js."""
    from pagekit import DOCS as docs, fences
    expected = {}
    for md in docs.rglob("*.md"):
        n = sum(f.lang == "mermaid" for f in fences(md.read_text(encoding="utf-8")))
        if n:
            rel = md.relative_to(docs).with_suffix("").as_posix()
            rel = rel.removesuffix("index").rstrip("/")
            expected[(rel + "/") if rel else ""] = n
    assert expected, "the book has diagrams"
    page = browser.new_page()
    for path, n in expected.items():
        html = (site_dir / path / "index.html").read_text(encoding="utf-8")
        assert html.count('<div class="mermaid-static"') == n, path
        assert 'class="mermaid"' not in html and "mermaid.min.js" not in html, path
        page.goto(site_url + path)
        sizes = page.eval_on_selector_all(".mermaid-static svg",
                                          "els => els.map(e => e.getBoundingClientRect().height)")
        assert len(sizes) == n and all(h > 20 for h in sizes), (path, sizes)
    page.close()


def test_chinese_query_in_the_search_box_finds_the_page(browser, site_url):
    context = browser.new_context()
    page = context.new_page()
    page.goto(site_url)
    page.keyboard.press("s")          # Material's search shortcut focuses the box
    page.fill("input.md-search__input", "分区表")
    page.keyboard.press("End")        # Material reads the query on key events, not on fill()
    page.wait_for_selector(".md-search-result__item", timeout=20000)
    hrefs = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
    context.close()
    assert any("disks/raw-disk/" in h for h in hrefs), hrefs
