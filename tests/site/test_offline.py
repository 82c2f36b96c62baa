"""The offline edition works from file:// in Chromium: navigation, search, diagrams, no outside request.

Search loads on first use there too: the pages open without the search worker
and without search/search_index.js (1 MB of script), which come with the first
press of the search shortcut.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.site


def test_offline_zip_works_from_file_urls(browser, offline_zip):
    index = offline_zip / "index.html"
    assert index.is_file()
    requests: list[str] = []
    errors: list[str] = []
    ctx = browser.new_context()
    ctx.on("request", lambda r: requests.append(r.url))
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(index.as_uri())
    # navigation: follow the link to the first question (file:// links end in .html)
    page.click('article a[href$="raw-disk.html"]')
    page.wait_for_load_state("load")
    assert page.url.endswith("disks/raw-disk.html")
    # diagrams: inline SVG, rendered at build time, visible without any script
    heights = page.eval_on_selector_all(".mermaid-static svg", "els => els.map(e => e.getBoundingClientRect().height)")
    assert heights and all(h > 20 for h in heights)
    # the runner cannot load WebAssembly from file://: it says so and gives the one command
    page.locator(".runner-run").first.click()
    page.wait_for_selector(".runner-output[data-done]", timeout=20000)
    assert "python3 -m http.server" in page.locator(".runner-output[data-done]").first.text_content()
    # search: nothing of it loaded with the two pages
    search_files = ("search/search_index", "/workers/search.", "/javascripts/lunr/")
    assert [u for u in requests if any(f in u for f in search_files)] == []
    # search: runs in the iframe worker from the inlined index, loaded by the shortcut
    page.keyboard.press("s")
    page.fill("input.md-search__input", "分区表")
    page.keyboard.press("End")
    page.wait_for_selector(".md-search-result__item", timeout=20000)
    hrefs = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
    ctx.close()
    assert any("raw-disk.html" in h for h in hrefs), hrefs
    assert any(u.endswith("search/search_index.js") for u in requests)
    outside = [u for u in requests if not u.startswith(("file://", "data:", "blob:", "about:"))]
    assert outside == []
    assert errors == []
