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
    context.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    urls = list(_page_urls(site_dir, site_url))
    assert len(urls) >= 2
    for url in urls:
        # networkidle: let the search worker and lazy scripts finish before leaving the page
        resp = page.goto(url, wait_until="networkidle")
        assert resp is not None and resp.status == 200, url
    context.close()
    assert outside == []
    assert failed == []
    assert errors == []


def test_mermaid_diagrams_render_to_svg(browser, site_dir, site_url):
    pages = [p for p in html_pages(site_dir) if 'class="mermaid"' in p.read_text(encoding="utf-8")]
    assert pages, "the book has at least one diagram"
    context = browser.new_context()
    page = context.new_page()
    for p in pages:
        rel = p.relative_to(site_dir).as_posix().removesuffix("index.html")
        page.goto(site_url + rel)
        # Material swaps each <pre class="mermaid"> for a <div> whose closed shadow root holds
        # the rendered SVG: a diagram that failed stays a <pre> or has no height
        page.wait_for_function(
            "[...document.querySelectorAll('.mermaid')].every("
            "d => d.tagName === 'DIV' && d.getBoundingClientRect().height > 40)",
            timeout=20000)
    context.close()


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
