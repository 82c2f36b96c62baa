"""Every page's footer names the commit and date the site was built from (BOOK_BUILD, which
make exports from `git log -1 --format='%h %cs'`), readable on a phone and on a desktop.

A build outside make (no BOOK_BUILD) leaves the line out; this test then skips, which
under CI=true, where make test runs it, is a failure.
"""
from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import html_pages

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(r'<div class="md-copyright__build">版本：<span class="build-stamp">([^<]*)</span></div>')


def head() -> tuple[str, str]:
    """(short commit, commit date) of HEAD, asked of git here, not taken from the build."""
    out = subprocess.run(["git", "log", "-1", "--format=%h %cs"], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, check=True).stdout.split()
    return out[0], out[1]


@pytest.fixture(scope="module")
def stamp() -> str:
    if not os.environ.get("BOOK_BUILD"):
        pytest.skip("BOOK_BUILD is not set: the site was built outside make (make test exports it)")
    return os.environ["BOOK_BUILD"]


def test_make_stamps_the_build_with_the_commit_and_date_of_head(stamp):
    commit, date = head()
    assert stamp == f"{commit} {date}"
    assert re.fullmatch(r"[0-9a-f]{7,} \d{4}-\d\d-\d\d", stamp)


def test_every_page_footer_shows_the_stamp(site_dir, stamp):
    pages = html_pages(site_dir)
    assert len(pages) > 50
    for page in pages:
        found = STAMP.findall(page.read_text(encoding="utf-8"))
        assert [html.unescape(s) for s in found] == [stamp], page.relative_to(site_dir)


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 800)])
def test_the_stamp_is_visible_on_a_phone_and_a_desktop(browser, site_url, stamp, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(site_url + "disks/raw-disk/")
        line = page.locator(".md-copyright__build")
        line.scroll_into_view_if_needed()
        assert line.is_visible()
        box = line.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width    # not cut off at the side
        assert box["height"] < 2 * 24                                          # one line, not wrapped char by char
        assert line.inner_text() == f"版本：{stamp}"
    finally:
        page.close()
