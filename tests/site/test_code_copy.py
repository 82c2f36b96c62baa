"""Code blocks are mounted lazily (mkdocs.yml: content.lazy): a block gets Material's copy
button when it scrolls into view (or its answer box is opened), so a long page does not lay
itself out once per block at load; the button is there by the time the reader sees it."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.site


def test_a_code_block_gets_its_copy_button_when_it_comes_into_view(browser, site_url):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(site_url + "disks/mount/", wait_until="networkidle")
        blocks = page.locator("article pre > code")
        total = blocks.count()
        assert total > 5
        copy = "nav.md-code__nav > button[data-md-type=copy]"
        assert page.locator(f"article pre > {copy}").count() < total   # not all at load
        last = blocks.nth(total - 1)
        last.evaluate("el => { const d = el.closest('details'); if (d) d.open = true; }")   # an answer box
        last.scroll_into_view_if_needed()
        button = last.locator("xpath=..").locator(copy)
        button.wait_for(state="attached", timeout=10000)
        assert button.get_attribute("title") and button.get_attribute("data-clipboard-target")
    finally:
        page.close()
