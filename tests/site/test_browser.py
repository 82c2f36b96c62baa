"""Drive the built site in Debian's Chromium: every page loads with no outside request."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.site


def test_every_page_loads_without_requests_to_other_hosts(page_walk):
    assert len(page_walk.elements) >= 2
    assert page_walk.outside == []
    assert page_walk.failed == []
    assert page_walk.errors == []


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
