"""The page budget (at most 1,500 elements per built page) and old anchors that keep working.

Split pages leave, for every heading or follow-up that moved, a link with the old id and the
class ``moved`` (CONTRIBUTING.md, "Splitting a page"); tests/site/anchors.txt lists every
question anchor as the pages stood before the split.
"""
from __future__ import annotations

import functools
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest


pytestmark = pytest.mark.site

MAX_ELEMENTS = 1500
ANCHORS = [ln.strip() for ln in (Path(__file__).with_name("anchors.txt")).read_text(encoding="utf-8").splitlines()
           if ln.strip() and not ln.startswith("#")]


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: dict[str, dict] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids[a["id"]] = {"tag": tag, **a}


@functools.cache     # each page is parsed once, not once per anchor
def _ids(site_dir: Path, page_url: str) -> dict[str, dict]:
    path = site_dir / page_url / "index.html"
    if not path.exists():
        return {}
    p = _Ids()
    p.feed(path.read_text(encoding="utf-8"))
    return p.ids


def test_every_old_question_anchor_still_lands(site_dir):
    lost = []
    for entry in ANCHORS:
        page, _, anchor = entry.partition("#")
        el = _ids(site_dir, page).get(anchor)
        if el is None:
            lost.append(f"{entry}: gone")
            continue
        if el["tag"] == "a" and "moved" in el.get("class", "").split():
            target = urlparse(urljoin("/" + page, el["href"]))
            if unquote(target.fragment) not in _ids(site_dir, target.path.strip("/") + "/" if target.path.strip("/") else ""):
                lost.append(f"{entry}: stub points at {el['href']}, which has no such anchor")
    assert len(ANCHORS) > 250
    assert lost == [], "\n".join(lost)


def test_a_link_to_a_moved_section_goes_on_to_its_new_page(browser, site_dir, site_url):
    stubs = [(page, anchor, el["href"]) for page, anchor, el in
             ((e.partition("#")[0], e.partition("#")[2], _ids(site_dir, e.partition("#")[0]).get(e.partition("#")[2]))
              for e in ANCHORS) if el and el["tag"] == "a" and "moved" in el.get("class", "").split()]
    if not stubs:
        pytest.skip("no section has moved")
    page_url, anchor, href = stubs[0]
    page = browser.new_page()
    try:
        page.goto(f"{site_url}{page_url}#{anchor}")
        want = urljoin(f"{site_url}{page_url}", href)
        page.wait_for_url(want, timeout=15000)
        assert page.url == want
    finally:
        page.close()


def test_every_page_within_the_element_budget(page_walk):
    """The DOM of every page once it has settled in Chromium (copy buttons and the like
    included); the print edition, one page of the whole book, is exempt."""
    counts = {rel: n for rel, n in page_walk.elements.items() if not rel.startswith("print")}
    over = {k: v for k, v in counts.items() if v > MAX_ELEMENTS}
    assert len(counts) > 30
    assert over == {}, f"pages over {MAX_ELEMENTS} elements: {over}"
