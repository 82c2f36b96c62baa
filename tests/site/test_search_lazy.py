"""Search costs nothing until it is used (overrides/partials/search-lazy.html).

A cold page load fetches neither the search index nor the search worker (nor the
lunr language files the worker imports).  Focusing the search box, by a click, a
tap on the search icon, or Material's `/` and `s` shortcuts, loads them once,
and a Chinese query then finds its page.  Links that need search at once (a
shared `?q=` query, a result link with `?h=`) still work.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.site

SEARCH_FILES = ("search/search_index.json", "/workers/search.", "/javascripts/lunr/")
PAGES = ["", "disks/lvm/", "ceph/crush/"]


def _search_requests(urls: list[str]) -> list[str]:
    return [u for u in urls if any(part in u for part in SEARCH_FILES)]


def _open(browser, url: str, **context):
    """A fresh context (cold cache) with every request of the page and its workers recorded."""
    ctx = browser.new_context(**context)
    urls: list[str] = []
    errors: list[str] = []
    ctx.on("request", lambda r: urls.append(r.url))
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    page.wait_for_timeout(500)
    return ctx, page, urls, errors


def _results(page, query: str) -> list[str]:
    page.fill("input.md-search__input", query)
    page.keyboard.press("End")
    page.wait_for_function(
        "q => document.querySelector('input.md-search__input').value === q && "
        "document.querySelectorAll('.md-search-result__item').length > 0", arg=query, timeout=30000)
    return page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")


@pytest.mark.parametrize("path", PAGES)
def test_a_cold_page_load_fetches_no_search_file(browser, site_url, path):
    ctx, page, urls, errors = _open(browser, site_url + path)
    try:
        assert site_url + path in urls
        assert _search_requests(urls) == []
        # the search box is there and usable, not hidden by a broken setup
        assert page.is_visible("input.md-search__input")
        assert errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize("how", ["click", "/", "s"])
def test_using_the_search_box_loads_search_once_and_finds_the_page(browser, site_url, how):
    ctx, page, urls, errors = _open(browser, site_url + "disks/lvm/")
    try:
        assert _search_requests(urls) == []
        if how == "click":
            page.click("input.md-search__input")
        else:
            page.keyboard.press(how)
        assert page.evaluate("document.activeElement.matches('input.md-search__input')")
        hrefs = _results(page, "故障域")
        pages = (site_url + "ceph/failure-domains/", site_url + "ceph/crush/")
        assert any(h.startswith(pages) for h in hrefs[:3]), hrefs[:3]
        loaded = _search_requests(urls)
        assert sum("search/search_index.json" in u for u in loaded) == 1
        assert sum("/workers/search." in u for u in loaded) == 1
        assert errors == []
    finally:
        ctx.close()


def test_a_tap_on_the_search_icon_of_a_phone_loads_search(browser, site_url):
    ctx, page, urls, errors = _open(browser, site_url + "raid/", viewport={"width": 390, "height": 844},
                                    is_mobile=True, has_touch=True)
    try:
        assert _search_requests(urls) == []
        page.tap("header label[for=__search]")
        page.wait_for_function("document.getElementById('__search').checked")
        hrefs = _results(page, "写时复制")
        assert any("virtualization/" in h for h in hrefs[:3]), hrefs[:3]
        assert _search_requests(urls)
        assert errors == []
    finally:
        ctx.close()


def test_a_shared_query_link_searches_at_once(browser, site_url):
    ctx, page, _urls, errors = _open(browser, site_url + "?q=" + "归置组")
    try:
        page.wait_for_selector(".md-search-result__item", timeout=30000)
        hrefs = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
        assert any("/ceph/" in h for h in hrefs[:3]), hrefs[:3]
        assert errors == []
    finally:
        ctx.close()


def test_a_result_link_still_highlights_the_query_on_its_page(browser, site_url):
    ctx, page, _urls, errors = _open(browser, site_url + "ceph/crush/?h=straw2")
    try:
        page.wait_for_selector("article mark[data-md-highlight]", timeout=30000)
        marked = page.eval_on_selector_all("article mark[data-md-highlight]", "els => els.map(e => e.textContent)")
        assert marked and all(m.lower() == "straw2" for m in marked)
        assert errors == []
    finally:
        ctx.close()


def test_other_workers_and_requests_are_left_alone(browser, site_url):
    """The loader only holds back Material's search worker and index request; other code is unaffected."""
    ctx, page, urls, errors = _open(browser, site_url)
    try:
        same = page.evaluate("""async () => {
            const blob = new Blob(["onmessage = e => postMessage(e.data * 2)"], {type: "text/javascript"})
            const w = new Worker(URL.createObjectURL(blob))
            const doubled = await new Promise(r => { w.onmessage = e => r(e.data); w.postMessage(21) })
            const r = await new Promise(res => {
                const x = new XMLHttpRequest(); x.open("GET", "sitemap.xml"); x.onload = () => res(x.status); x.send()
            })
            return [w instanceof Worker, doubled, r]
        }""")
        assert same == [True, 42, 200]
        assert _search_requests(urls) == []
        assert errors == []
    finally:
        ctx.close()
