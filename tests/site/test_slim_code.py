"""bookgen/markdown_ext.py drops token spans from code blocks; check it changes neither text nor look."""
from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bookgen import markdown_ext as slim_code  # noqa: E402


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


@pytest.mark.parametrize("source", sorted((ROOT / "snippets").glob("*.py")), ids=lambda p: p.name)
def test_slimming_keeps_every_character_of_the_code(source):
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    pre = highlight(source.read_text(encoding="utf-8"), PythonLexer(), HtmlFormatter(nowrap=False))
    slim = slim_code.slim(pre)
    assert _text(slim) == _text(pre)
    before, after = pre.count("<span"), slim.count("<span")
    assert after < 0.75 * before, (before, after)
    for cls in slim_code.UNWRAPPED:
        assert f'<span class="{cls}">' not in slim


def test_the_built_pages_carry_no_unwrapped_class(site_dir):
    pres = [pre for name in ("disk-images", "qcow2-internals")       # the qcow2 reader's code and its doctests
            for pre in re.findall(r"<pre\b.*?</pre>",
                                  (site_dir / "virtualization" / name / "index.html").read_text(encoding="utf-8"), re.S)]
    assert len(pres) > 10
    for cls in slim_code.UNWRAPPED:
        assert not any(f'<span class="{cls}">' in p for p in pres), cls
    assert any('<span class="k">' in p for p in pres)       # keywords keep their colour


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_an_unwrapped_token_has_the_colour_of_the_code_around_it(browser, site_url, scheme):
    page = browser.new_page()
    try:
        page.goto(site_url + "raid/parity/", wait_until="networkidle")
        colours = page.evaluate("""([scheme, classes]) => {
            const still = document.createElement('style');      // no colour transitions
            still.textContent = '* { transition: none !important; }';
            document.head.appendChild(still);
            document.body.setAttribute('data-md-color-scheme', scheme);
            const code = document.querySelector('.highlight pre code');
            const out = {code: getComputedStyle(code).color};
            for (const c of classes.concat(['k'])) {
                const s = document.createElement('span'); s.className = c; s.textContent = 'x';
                code.appendChild(s); out[c] = getComputedStyle(s).color;
            }
            return out;
        }""", [scheme, list(slim_code.UNWRAPPED)])
    finally:
        page.close()
    for cls in slim_code.UNWRAPPED:
        assert colours[cls] == colours["code"], (scheme, cls, colours)
    assert colours["k"] != colours["code"]          # the check can tell colours apart
