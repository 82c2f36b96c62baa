"""One site build for both builders: the pre-build steps, then MkDocs or Zensical.

* :func:`prebuild`: the generator (bookgen.pages: question index, errata, drill, practice
  data; it also renders any diagram missing from .cache/mermaid/) and the vendor copy
  (bookgen.vendor).  Every build runs it first: ``make build`` / ``make zensical`` through
  ``python -m bookgen.site prebuild``, the test, bench and PDF builds through
  scripts/sitekit.py and :func:`build_zensical`.
* :func:`build_zensical`: ``python -m zensical build`` in its own venv (.venv-zensical, made by
  ``make zensical-venv`` so that MkDocs' pins stay untouched) into a folder inside the
  repository (Zensical takes ``site_dir`` from mkdocs.yml only, and only inside the project:
  HANDBOOK_SITE_DIR sets it).  Zensical runs no MkDocs hooks: the generated content, the inline
  diagrams and the vendored scripts are the same for both builders because they come from here.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZENSICAL_PY = ROOT / ".venv-zensical" / "bin" / "python"


class BuildError(RuntimeError):
    """A build failed; the message ends with the tail of its log."""


def prebuild() -> None:
    """Write the generated files and copy the vendored ones (each only when it changed)."""
    from bookgen import pages, vendor
    pages.generate()
    vendor.copy()


def zensical_version() -> str | None:
    if not ZENSICAL_PY.exists():
        return None
    proc = subprocess.run([str(ZENSICAL_PY), "-m", "zensical", "--version"], cwd=ROOT,
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def build_zensical(dest: Path, env: Mapping[str, str] | None = None, timeout: float = 1800,
                   prebuilt: bool = False) -> str:
    """Build the site with Zensical into ``dest`` (inside the repository); return the log."""
    dest = Path(dest).resolve()
    if not dest.is_relative_to(ROOT):
        raise BuildError(f"bookgen/site.py: Zensical builds only inside the project, not into {dest}")
    if not ZENSICAL_PY.exists():
        raise BuildError(f"bookgen/site.py: {ZENSICAL_PY} is missing; `make zensical-venv` installs Zensical")
    if not prebuilt:
        prebuild()
    full_env = dict(os.environ, HANDBOOK_SITE_DIR=str(dest.relative_to(ROOT)), NO_COLOR="1", **(env or {}))
    # mkdocs.yml has strict: true, which Zensical honours
    proc = subprocess.run([str(ZENSICAL_PY), "-m", "zensical", "build"], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BuildError(f"zensical build failed (exit status {proc.returncode}):\n{log[-4000:]}")
    return log


def main(argv: list[str]) -> int:
    if argv == ["prebuild"]:
        t0 = time.monotonic()
        prebuild()
        print(f"bookgen.site: generated and vendored files up to date in {time.monotonic() - t0:.1f} s",
              file=sys.stderr)
        return 0
    if len(argv) == 2 and argv[0] == "zensical":
        t0 = time.monotonic()
        try:
            log = build_zensical(ROOT / argv[1], prebuilt=True)
        except BuildError as e:
            print(e, file=sys.stderr)
            return 1
        print(log.rstrip())
        print(f"bookgen.site: {zensical_version()} built {argv[1]}/ in {time.monotonic() - t0:.1f} s",
              file=sys.stderr)
        return 0
    print("usage: python -m bookgen.site prebuild | zensical DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
