"""The light/dark switch (overrides/partials/palette.html, assets/js/handbook.js).

Material's own palette component rewrites <body>'s colour attributes on every page load,
which costs a phone two style recalculations of the whole page; ours follows the system
scheme until the reader chooses, remembers the choice across pages, and leaves <body>
alone on a load that changes nothing.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.site

PAGE = "disks/partitions/"

# Records every change of a data-md-color-* attribute of <body>, and whether the article had
# been parsed by then (a change before it costs next to nothing, only the header exists).
WATCH_BODY = """
window.__colorWrites = [];
new MutationObserver(function (records) {
  records.forEach(function (r) {
    if (r.target === document.body && /^data-md-color-/.test(r.attributeName))
      window.__colorWrites.push([r.attributeName, !!document.querySelector('.md-content')]);
  });
}).observe(document, {attributes: true, subtree: true});
"""


def _state(page) -> dict:
    return page.evaluate("""() => ({
        scheme: document.body.getAttribute('data-md-color-scheme'),
        shown: [...document.querySelectorAll('form[data-hb-palette] label')]
                 .filter(l => !l.hidden).map(l => l.getAttribute('for')),
        themeColor: (document.querySelector('meta[name=theme-color]') || {}).content || null,
        lateWrites: window.__colorWrites.filter(w => w[1]).map(w => w[0]),
    })""")


def _open(browser, url: str, scheme: str):
    ctx = browser.new_context(color_scheme=scheme)
    ctx.add_init_script(WATCH_BODY)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelector('form[data-hb-palette]').dataset.ready === '1'")
    page.wait_for_timeout(200)
    return ctx, page, errors


@pytest.mark.parametrize(("system", "scheme", "label"), [
    ("light", "default", "__palette_1"), ("dark", "slate", "__palette_0")])
def test_the_system_scheme_is_used_without_rewriting_the_page(browser, site_url, system, scheme, label):
    ctx, page, errors = _open(browser, site_url + PAGE, system)
    try:
        s = _state(page)
        assert s["scheme"] == scheme
        assert s["shown"] == [label]             # one switch, to the other scheme
        assert s["lateWrites"] == []             # set while only the header existed, never after
        assert s["themeColor"] and s["themeColor"].startswith("#")
        assert page.query_selector("[data-md-component=palette]") is None
        assert errors == []
    finally:
        ctx.close()


def test_a_switch_is_painted_remembered_and_not_redone_on_the_next_page(browser, site_url):
    ctx, page, errors = _open(browser, site_url + PAGE, "light")
    try:
        page.click("form[data-hb-palette] label:not([hidden])")
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
        page.wait_for_function("!document.body.classList.contains('hb-switching')")
        assert _state(page)["shown"] == ["__palette_0"]
        # the header's colour in slate, as the browser computes it
        assert page.evaluate("getComputedStyle(document.body).colorScheme") == "dark"

        page.goto(site_url + "raid/", wait_until="load")
        page.wait_for_function("document.querySelector('form[data-hb-palette]').dataset.ready === '1'")
        s = _state(page)
        assert s["scheme"] == "slate" and s["shown"] == ["__palette_0"]
        assert s["lateWrites"] == []             # Material's header script applied the stored choice

        # Enter on the focused switch goes back to the light scheme
        page.focus("#__palette_1")
        page.keyboard.press("Enter")
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
        assert errors == []
    finally:
        ctx.close()
