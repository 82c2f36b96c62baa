"""Serve the site's browser scripts from the site itself, and load them only where needed.

ts-fsrs (the FSRS scheduler behind the self-ratings, its UMD build: a classic script that
works from file://) is copied too; assets/js/practice.js loads it on the first rating.
Mermaid (3.5 MB) and KaTeX come from the pinned npm packages in package.json
(`make venv` runs `npm ci`).  This hook copies them, with their licences, into
`site/assets/vendor/`, and adds their <script> tags only to pages that contain a
diagram or a formula.  Material would otherwise fetch Mermaid from a CDN: it
only does so when `window.mermaid` is undefined, so our tag goes before
Material's bundle.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"

# (source inside node_modules, destination under site/assets/vendor)
FILES = [
    ("mermaid/dist/mermaid.min.js", "mermaid/mermaid.min.js"),
    ("mermaid/LICENSE", "mermaid/LICENSE"),
    ("katex/dist/katex.min.js", "katex/katex.min.js"),
    ("katex/dist/katex.min.css", "katex/katex.min.css"),
    ("katex/LICENSE", "katex/LICENSE"),
    ("iframe-worker/shim/index.js", "iframe-worker/shim.js"),
    ("iframe-worker/LICENSE", "iframe-worker/LICENSE"),
    # ts-fsrs (MIT): the spaced-repetition scheduler, loaded by assets/js/practice.js on the first rating
    ("ts-fsrs/dist/index.umd.js", "ts-fsrs/index.umd.js"),
    ("ts-fsrs/dist/index.umd.js.map", "ts-fsrs/index.umd.js.map"),
    ("ts-fsrs/LICENSE", "ts-fsrs/LICENSE"),
    # Pyodide (MPL-2.0): fetched only when a reader clicks 运行 (assets/js/runner.js)
    ("pyodide/pyodide.mjs", "pyodide/pyodide.mjs"),
    ("pyodide/pyodide.asm.mjs", "pyodide/pyodide.asm.mjs"),
    ("pyodide/pyodide.asm.wasm", "pyodide/pyodide.asm.wasm"),
    ("pyodide/python_stdlib.zip", "pyodide/python_stdlib.zip"),
    ("pyodide/pyodide-lock.json", "pyodide/pyodide-lock.json"),
    ("pyodide/package.json", "pyodide/package.json"),
]
# Pyodide's npm package carries no licence file; its package.json says MPL-2.0.
LICENSE_COPIES = [(Path("/usr/share/common-licenses/MPL-2.0"), "pyodide/LICENSE")]
DIRS = [("katex/dist/fonts", "katex/fonts")]

BUNDLE = re.compile(r'<script src="[^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js"></script>')


def _missing() -> list[str]:
    return [src for src, _ in FILES + DIRS if not (NODE / src).exists()]


@event_priority(100)   # before Material's offline plugin, which would add a CDN shim otherwise
def on_config(config, **kwargs):
    """In the offline edition, search runs in an iframe worker: serve its shim ourselves."""
    offline = config.plugins.get("material/offline") or config.plugins.get("offline")
    if offline is not None and offline.config.enabled:
        config.extra["polyfills"] = [u for u in config.extra.get("polyfills", []) if "iframe-worker" not in u]
        config.extra["polyfills"].append("assets/vendor/iframe-worker/shim.js")
    return config


def on_pre_build(config, **kwargs):
    missing = _missing()
    if missing:
        raise SystemExit(
            "hooks/vendor_assets.py: missing " + ", ".join(missing) +
            " — run `make venv` (it runs `npm ci`) before building the site")


def on_post_page(output: str, page, config, **kwargs) -> str:
    base = get_relative_url("assets/vendor/", page.url)
    tags = []
    if 'class="mermaid"' in output:
        tags.append(f'<script src="{base}mermaid/mermaid.min.js"></script>')
    if 'class="arithmatex"' in output:
        output = output.replace(
            "</head>", f'<link rel="stylesheet" href="{base}katex/katex.min.css"></head>', 1)
        tags.append(f'<script src="{base}katex/katex.min.js"></script>')
        tags.append(f'<script src="{get_relative_url("assets/js/katex-init.js", page.url)}"></script>')
    if not tags:
        return output
    match = BUNDLE.search(output)
    if match is None:
        raise SystemExit(f"hooks/vendor_assets.py: no Material bundle script in {page.file.src_uri}")
    return output[:match.start()] + "".join(tags) + output[match.start():]


def on_post_build(config, **kwargs):
    dest = Path(config["site_dir"]) / "assets" / "vendor"
    for src, dst in FILES:
        target = dest / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE / src, target)
    for src, dst in DIRS:
        shutil.copytree(NODE / src, dest / dst, dirs_exist_ok=True)
    for src_path, dst in LICENSE_COPIES:
        if src_path.exists():
            shutil.copyfile(src_path, dest / dst)
        else:
            (dest / dst).write_text("Pyodide is distributed under the Mozilla Public License 2.0 "
                                    "(https://mozilla.org/MPL/2.0/).\n", encoding="utf-8")
    # the snippets the pages include, for the in-browser runner, with a manifest
    snip_dest = Path(config["site_dir"]) / "assets" / "snippets"
    snip_dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (ROOT / "snippets").glob("*.py"))
    for name in names:
        shutil.copyfile(ROOT / "snippets" / name, snip_dest / name)
    (snip_dest / "manifest.json").write_text(json.dumps(names), encoding="utf-8")
