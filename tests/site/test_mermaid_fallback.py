"""The fallback of bookgen/mermaid.py (the diagram formatter): without build-time rendering (HANDBOOK_MERMAID=browser,
what a machine without Chromium gets), diagrams are drawn in the reader's browser by the
site's own pinned copy of mermaid, only on pages that have one, with no outside request."""
from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fallback_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site-mermaid-browser")
    sitekit.build_site(out, env={"HANDBOOK_MERMAID": "browser"}, timeout=600)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_diagrams_render_in_the_browser_from_the_sites_own_mermaid(fallback_site, browser):
    site, url = fallback_site
    source = (site / "raid" / "parity" / "index.html").read_text(encoding="utf-8")
    fences = source.count('<pre class="mermaid">')
    assert fences >= 2 and "mermaid-static" not in source         # nothing was rendered at build time
    assert "assets/vendor/mermaid/mermaid.min.js" in source
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(url + "raid/parity/", wait_until="networkidle")
        # Material swaps each <pre class="mermaid"> for a <div class="mermaid"> holding the SVG in
        # a closed shadow root: what can be seen from outside is the drawn height.
        page.wait_for_function(f"document.querySelectorAll('div.mermaid').length === {fences}", timeout=30000)
        page.wait_for_function("[...document.querySelectorAll('div.mermaid')]"
                               ".every(d => d.getBoundingClientRect().height > 100)", timeout=30000)
        left = page.evaluate("document.querySelectorAll('pre.mermaid').length")
    finally:
        page.close()
    assert left == 0
    outside = [r for r in requests if urlsplit(r).hostname not in ("127.0.0.1", None)]
    assert outside == []
    assert any(r.endswith("/assets/vendor/mermaid/mermaid.min.js") for r in requests)


def test_pages_without_diagrams_do_not_load_mermaid(fallback_site):
    site, _ = fallback_site
    page = (site / "appendix" / "calculators" / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid">' not in page
    assert "mermaid.min.js" not in page
