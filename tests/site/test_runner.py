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
    page.wait_for_selector(".runner-run")      # the buttons are added when the browser is idle
    assert page.locator(".runner-run").count() > 0
    page.wait_for_timeout(500)
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


def test_calculator_form_gives_the_same_answer_as_the_snippet_cli(browser, site_url):
    import subprocess
    import sys
    from pathlib import Path
    raid_py = Path(__file__).resolve().parents[2] / "snippets" / "raid.py"
    cli = subprocess.run([sys.executable, str(raid_py), "calc", "--level", "5", "8TB", "8TB", "8TB", "8TB",
                          "--disk-iops", "150", "--rebuild-mb-s", "100", "--ure", "1e-14"],
                         capture_output=True, text=True, check=True).stdout
    bad = subprocess.run([sys.executable, str(raid_py), "calc", "--level", "5", "8TB", "8TB"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    page = browser.new_page()
    page.goto(site_url + "appendix/calculators/", wait_until="networkidle")
    form = page.locator(".pycalc").first
    form.locator(".pycalc-run").click()
    out = form.locator(".pycalc-output[data-done]")
    out.wait_for(timeout=PYODIDE_TIMEOUT)
    assert out.text_content() == cli
    # bad input: the same rule message as the CLI, not a traceback
    form.locator('input[name="sizes"]').fill("8TB 8TB")
    form.locator(".pycalc-run").click()
    message = bad.stderr.strip().splitlines()[-1].split("error: ", 1)[-1]
    assert "at least 3 disks" in message
    page.wait_for_function("([el, m]) => el.textContent.includes(m)", arg=[out.element_handle(), message],
                           timeout=60000)
    text = out.text_content()
    page.close()
    assert "Traceback" not in text
