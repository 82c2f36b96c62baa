"""The in-browser runner: Pyodide from the site itself, loaded only on the first click."""
from __future__ import annotations

import doctest

import pytest

pytestmark = pytest.mark.site

PYODIDE_TIMEOUT = 180_000   # first load compiles 13 MB of WebAssembly on a 2-core machine


def _expected(block_text: str) -> str:
    return "".join(ex.want for ex in doctest.DocTestParser().get_examples(block_text))


def test_first_page_load_fetches_no_pyodide(browser, site_url):
    ctx = browser.new_context()
    urls: list[str] = []
    ctx.on("request", lambda r: urls.append(r.url))
    page = ctx.new_page()
    page.goto(site_url + "raid/parity/", wait_until="networkidle")
    assert page.locator(".runner-run").count() > 0
    ctx.close()
    assert [u for u in urls if "pyodide" in u] == []


@pytest.mark.parametrize("path", ["raid/parity/", "ceph/crush/"])
def test_run_button_prints_what_the_doctest_expects(browser, site_url, path):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(site_url + path, wait_until="networkidle")
    blocks = page.locator("div.language-pycon.highlight")
    chosen = None
    for i in range(blocks.count()):
        text = blocks.nth(i).locator("pre > code").text_content()
        want = _expected(text)
        if want and "Traceback" not in want and "subprocess" not in text:
            chosen = i, want
            break
    assert chosen is not None, f"{path} has a pycon example with expected output"
    i, want = chosen
    bar = blocks.nth(i).locator("xpath=following-sibling::div[contains(@class,'runner-bar')][1]")
    bar.locator(".runner-run").click()
    out = page.locator(".runner-output[data-done]")
    out.first.wait_for(timeout=PYODIDE_TIMEOUT)
    got = out.first.text_content()
    ctx.close()
    assert doctest.OutputChecker().check_output(want, got, doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE), (want, got)


def test_edit_and_reset(browser, site_url):
    page = browser.new_page()
    page.goto(site_url + "raid/parity/", wait_until="networkidle")
    bar = page.locator(".runner-bar").first
    bar.locator(".runner-edit").click()
    editor = page.locator("textarea.runner-editor").first
    original = editor.input_value()
    editor.fill("print('edited')")
    bar.locator(".runner-reset").click()
    assert page.locator("textarea.runner-editor").count() == 0
    bar.locator(".runner-edit").click()
    assert page.locator("textarea.runner-editor").first.input_value() == original
    page.close()
