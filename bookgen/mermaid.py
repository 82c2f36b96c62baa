"""Mermaid diagrams as inline SVG: a pymdownx.superfences formatter both builders call.

mkdocs.yml names :func:`fence_svg` as the ``format`` of the ``mermaid`` custom fence.  Mermaid
is 3.5 MB of JavaScript; running it in every reader's browser costs seconds of main-thread time
on a phone.  So each ```mermaid fence is rendered once, in headless Chromium (Debian's, driven
by Playwright) with the pinned mermaid from node_modules, and the SVG goes into the page: no
script at all is needed to see a diagram, in the site, the offline zip and the PDF.  SVGs are
cached in .cache/mermaid/ by a hash of the mermaid version, the settings and the source; one
Chromium session, started on the first diagram that is not cached, serves the whole build.

The pre-build generator (bookgen.pages) renders every page first, so the cache is complete
before a builder runs; Zensical's venv, which has no Playwright, only reads it.  Without a
renderer and a cached SVG (a bare ``mkdocs serve`` on a machine without Chromium), or with
HANDBOOK_MERMAID=browser, the fence is left as ``<pre class="mermaid">`` for Material to draw
in the browser with the site's own copy of mermaid (assets/vendor/, see overrides/main.html).
A diagram that does not parse stops the build.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402  (the one Chromium launcher: scripts/sitekit.py)

MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CACHE = ROOT / ".cache" / "mermaid"
CONFIG = {"startOnLoad": False, "theme": "neutral", "securityLevel": "strict",
          "fontFamily": '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif',
          "flowchart": {"htmlLabels": False}, "sequence": {"useMaxWidth": True}}


class DiagramError(Exception):
    pass


def _version() -> str:
    pkg = ROOT / "node_modules" / "mermaid" / "package.json"
    return json.loads(pkg.read_text())["version"] if pkg.exists() else "none"


def key(source: str) -> str:
    """The cache key of a diagram: mermaid's version, the settings and the source."""
    h = hashlib.sha256((_version() + json.dumps(CONFIG, sort_keys=True) + source).encode()).hexdigest()
    return h[:16]


def can_render() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return MERMAID_JS.exists() and sitekit.chromium_available()


class _Renderer:
    """One headless Chromium with mermaid loaded, started on first use, closed at exit."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._page = None

    def render(self, k: str, source: str) -> str:
        with self._lock:
            if self._page is None:
                self._stack = contextlib.ExitStack()
                browser = self._stack.enter_context(sitekit.chromium())
                self._page = browser.new_page()
                self._page.set_content("<!doctype html><html><body></body></html>")
                self._page.add_script_tag(path=str(MERMAID_JS))
                self._page.evaluate("cfg => mermaid.initialize(cfg)", CONFIG)
                atexit.register(self.close)
            try:
                return self._page.evaluate("async ([id, src]) => (await mermaid.render(id, src)).svg", ["m" + k, source])
            except Exception as e:
                raise DiagramError(f"bookgen/mermaid.py: diagram does not render: {e}\n{source}") from None

    def close(self) -> None:
        with self._lock:
            if self._stack is not None:
                self._stack.close()
            self._stack = self._page = None


_renderer = _Renderer()


def svg(source: str) -> str | None:
    """The diagram's SVG, from the cache or rendered now; None when it can be neither."""
    if os.environ.get("HANDBOOK_MERMAID") == "browser":
        return None
    k = key(source)
    cached = CACHE / f"{k}.svg"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    if not can_render():
        return None
    text = _renderer.render(k, source)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{k}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(cached)
    return text


def fence_svg(source: str, language: str, css_class: str, options: dict, md, **kwargs) -> str:
    """superfences ``format``: the diagram as inline SVG, or the fence for the browser to draw."""
    drawn = svg(source)
    if drawn is None:
        from pymdownx.superfences import fence_code_format
        return fence_code_format(source, language, css_class, options, md, **kwargs)
    # The labels are no search text (they never were).  Material's search skips an element
    # marked data-search-exclude up to its closing tag; on the <svg>, as an outer <div> would be
    # closed early by the first </div> inside the diagram's labels.
    drawn = drawn.replace("<svg", "<svg data-search-exclude", 1)
    return f'<div class="mermaid-static" role="img" aria-label="示意图">{drawn}</div>'
