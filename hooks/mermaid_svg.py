"""Render Mermaid diagrams to inline SVG at build time.

Mermaid is 3.5 MB of JavaScript; running it in every reader's browser costs
seconds of main-thread time on a phone.  When Playwright and Debian's Chromium
are available (they are whenever `make test` has run), this hook renders every
```mermaid fence once, in one headless Chromium session, with the pinned
mermaid from node_modules, and puts the SVG in the page: no script at all is
needed to see a diagram, in the site, the offline zip and the PDF.  SVGs are
cached in .cache/mermaid/ by a hash of the mermaid version and the source.

Without Chromium (a bare `make serve`), the fences are left for Material to
render in the browser with the site's own copy of mermaid (hooks/vendor_assets.py).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CACHE = ROOT / ".cache" / "mermaid"
CHROMIUM = "/usr/bin/chromium"
FENCE = re.compile(r'<pre class="mermaid"><code>(.*?)</code></pre>', re.S)
PLACEHOLDER = '<div class="mermaid-static" data-mermaid-key="{key}"></div>'
CONFIG = {"startOnLoad": False, "theme": "neutral", "securityLevel": "strict",
          "fontFamily": '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif',
          "flowchart": {"htmlLabels": False}, "sequence": {"useMaxWidth": True}}

_enabled = False
_sources: dict[str, str] = {}


def _version() -> str:
    pkg = ROOT / "node_modules" / "mermaid" / "package.json"
    return json.loads(pkg.read_text())["version"] if pkg.exists() else "none"


def _key(source: str) -> str:
    h = hashlib.sha256((_version() + json.dumps(CONFIG, sort_keys=True) + source).encode()).hexdigest()
    return h[:16]


def on_config(config, **kwargs):
    global _enabled
    if os.environ.get("HANDBOOK_MERMAID") == "browser":
        _enabled = False
        return config
    try:
        import playwright.sync_api  # noqa: F401
        _enabled = MERMAID_JS.exists() and os.path.exists(CHROMIUM)
    except ImportError:
        _enabled = False
    return config


def on_pre_build(config, **kwargs):
    _sources.clear()


def on_page_content(html_text: str, page, config, files, **kwargs) -> str:
    if not _enabled:
        return html_text

    def swap(m: re.Match) -> str:
        source = html.unescape(m.group(1))
        key = _key(source)
        _sources[key] = source
        return PLACEHOLDER.format(key=key)
    return FENCE.sub(swap, html_text)


def _render_missing(keys: list[str]) -> None:
    from playwright.sync_api import sync_playwright
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><html><body></body></html>")
            page.add_script_tag(path=str(MERMAID_JS))
            page.evaluate("cfg => mermaid.initialize(cfg)", CONFIG)
            for key in keys:
                try:
                    svg = page.evaluate("async ([id, src]) => (await mermaid.render(id, src)).svg",
                                        ["m" + key, _sources[key]])
                except Exception as e:  # a syntax error in a diagram must fail the build
                    raise SystemExit(f"hooks/mermaid_svg.py: diagram does not render: {e}\n{_sources[key]}")
                (CACHE / f"{key}.svg").write_text(svg, encoding="utf-8")
        finally:
            browser.close()


def on_post_build(config, **kwargs):
    if not _enabled or not _sources:
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    missing = [k for k in _sources if not (CACHE / f"{k}.svg").exists()]
    if missing:
        _render_missing(missing)
    site = Path(config["site_dir"])
    pattern = re.compile(r'<div class="mermaid-static" data-mermaid-key="([0-9a-f]{16})"></div>')
    for path in site.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if "mermaid-static" not in text:
            continue

        def fill(m: re.Match) -> str:
            svg = (CACHE / f"{m.group(1)}.svg").read_text(encoding="utf-8")
            return f'<div class="mermaid-static" role="img" aria-label="示意图">{svg}</div>'
        path.write_text(pattern.sub(fill, text), encoding="utf-8")
