"""Copy the site's third-party scripts, with their licences, and the snippets into docs/assets/.

``make vendor`` (which ``make build`` and ``make zensical`` depend on) and bookgen.site run
this before a build; both builders then publish docs/assets/ as it is, so the scripts are
served from the site itself, pinned, never from a CDN.  The destinations are git-ignored.

* docs/assets/vendor/: from the pinned npm packages of package.json (``make venv`` runs
  ``npm ci``): Mermaid (the fallback when diagrams are not rendered at build time), KaTeX,
  the iframe-worker shim (search from file:// in the offline edition), ts-fsrs (the FSRS
  scheduler behind the self-ratings, its UMD build: a classic script that works from file://;
  assets/js/practice.js loads it on the first rating) and Pyodide (fetched only when a reader
  clicks 运行, assets/js/runner.js).  overrides/main.html adds the Mermaid and KaTeX tags only
  to pages that have a diagram left for the browser or a formula.
* docs/assets/snippets/: the snippet modules the pages include, for the in-browser runner,
  with a manifest.json of their names.

Files are copied only when missing or different; files no longer on the list are removed.
"""
from __future__ import annotations

import filecmp
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
ASSETS = ROOT / "docs" / "assets"
VENDOR = ASSETS / "vendor"
SNIPPETS = ASSETS / "snippets"

# (source inside node_modules, destination under docs/assets/vendor)
FILES = [
    ("mermaid/dist/mermaid.min.js", "mermaid/mermaid.min.js"),
    ("mermaid/LICENSE", "mermaid/LICENSE"),
    ("katex/dist/katex.min.js", "katex/katex.min.js"),
    ("katex/dist/katex.min.css", "katex/katex.min.css"),
    ("katex/LICENSE", "katex/LICENSE"),
    ("iframe-worker/shim/index.js", "iframe-worker/shim.js"),
    ("iframe-worker/LICENSE", "iframe-worker/LICENSE"),
    ("ts-fsrs/dist/index.umd.js", "ts-fsrs/index.umd.js"),
    ("ts-fsrs/dist/index.umd.js.map", "ts-fsrs/index.umd.js.map"),
    ("ts-fsrs/LICENSE", "ts-fsrs/LICENSE"),
    ("pyodide/pyodide.mjs", "pyodide/pyodide.mjs"),
    ("pyodide/pyodide.asm.mjs", "pyodide/pyodide.asm.mjs"),
    ("pyodide/pyodide.asm.wasm", "pyodide/pyodide.asm.wasm"),
    ("pyodide/python_stdlib.zip", "pyodide/python_stdlib.zip"),
    ("pyodide/pyodide-lock.json", "pyodide/pyodide-lock.json"),
    ("pyodide/package.json", "pyodide/package.json"),
]
DIRS = [("katex/dist/fonts", "katex/fonts")]
# Pyodide's npm package carries no licence file; its package.json says MPL-2.0.
PYODIDE_LICENSE = Path("/usr/share/common-licenses/MPL-2.0")
PYODIDE_LICENSE_NOTE = "Pyodide is distributed under the Mozilla Public License 2.0 (https://mozilla.org/MPL/2.0/).\n"


def missing() -> list[str]:
    return [src for src, _ in FILES + DIRS if not (NODE / src).exists()]


def _copy(src: Path, dst: Path, wanted: set[Path]) -> int:
    wanted.add(dst)
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)
    return 1


def _write(dst: Path, text: str, wanted: set[Path]) -> int:
    wanted.add(dst)
    if dst.is_file() and dst.read_text(encoding="utf-8") == text:
        return 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text, encoding="utf-8")
    return 1


def _prune(folder: Path, wanted: set[Path]) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def copy() -> int:
    """Bring docs/assets/vendor and docs/assets/snippets up to date; return how many files changed."""
    lost = missing()
    if lost:
        raise SystemExit("bookgen/vendor.py: missing " + ", ".join(f"node_modules/{p}" for p in lost) +
                         " — run `make venv` (it runs `npm ci`) first")
    changed, wanted = 0, set()
    for src, dst in FILES:
        changed += _copy(NODE / src, VENDOR / dst, wanted)
    for src, dst in DIRS:
        for f in sorted((NODE / src).rglob("*")):
            if f.is_file():
                changed += _copy(f, VENDOR / dst / f.relative_to(NODE / src), wanted)
    if PYODIDE_LICENSE.is_file():
        changed += _copy(PYODIDE_LICENSE, VENDOR / "pyodide" / "LICENSE", wanted)
    else:
        changed += _write(VENDOR / "pyodide" / "LICENSE", PYODIDE_LICENSE_NOTE, wanted)
    _prune(VENDOR, wanted)

    wanted = set()
    names = sorted(p.name for p in (ROOT / "snippets").glob("*.py"))
    for name in names:
        changed += _copy(ROOT / "snippets" / name, SNIPPETS / name, wanted)
    changed += _write(SNIPPETS / "manifest.json", json.dumps(names), wanted)
    _prune(SNIPPETS, wanted)
    return changed


if __name__ == "__main__":
    n = copy()
    print(f"bookgen.vendor: {n} file(s) copied into docs/assets/vendor and docs/assets/snippets", file=sys.stderr)
