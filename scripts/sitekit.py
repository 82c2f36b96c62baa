"""One headless Chromium and one site build, the same for every script, test and bench.

The PDF builder, the site tests, the PDF tests and the site benchmarks all build the
MkDocs site and drive Debian's Chromium through Playwright.  They do it here, so that
every site they look at is built with the same command and every browser starts with
the same flags:

* :func:`build_site` runs the pre-build steps (``python -m bookgen.site prebuild``: the
  generated pages and the vendored scripts) and then ``python -m mkdocs build --strict
  -d DEST``, both from the repository root and in one environment
  (``NO_MKDOCS_2_WARNING=1``, plus any variables a caller names, such as
  ``OFFLINE=true`` for the offline edition), and returns the log; a failed step raises
  :class:`SiteBuildError` with the log's tail.
* :func:`chromium` starts Playwright and Chromium (``CHROMIUM``, default
  ``/usr/bin/chromium``) with :data:`CHROMIUM_FLAGS` and closes both on exit.
  Lighthouse takes the same path and flags on its command line.

Import it the way the tests import the other scripts: put ``scripts/`` on
``sys.path`` first.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# headless without a GPU or a sandbox (root in a container); no update, sync, first-run or
# background traffic, and no QUIC, so that a page's own requests are the only ones
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


class SiteBuildError(RuntimeError):
    """The pre-build steps or ``mkdocs build --strict`` failed; the message ends with the log's tail."""


def build_site(dest: Path, env: Mapping[str, str] | None = None, timeout: float = 900) -> str:
    """Prepare and build the site into `dest` with ``--strict``; return the log (stdout and stderr)."""
    full_env = dict(os.environ, NO_MKDOCS_2_WARNING="1", **(env or {}))
    # first the generated pages and the vendored scripts (bookgen/site.py), in the same
    # environment: OFFLINE=true changes the URLs the generator writes
    pre = subprocess.run([sys.executable, "-m", "bookgen.site", "prebuild"],
                         cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    if pre.returncode != 0:
        raise SiteBuildError(f"python -m bookgen.site prebuild failed (exit status {pre.returncode}):\n"
                             f"{(pre.stdout + pre.stderr)[-4000:]}")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(dest)],
                          cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    log = pre.stderr + proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SiteBuildError(f"mkdocs build --strict failed (exit status {proc.returncode}):\n{log[-4000:]}")
    return log


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve a built site on 127.0.0.1 (a free port) from a thread; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM)


@contextmanager
def chromium() -> Iterator:
    """Playwright and a headless Chromium, both stopped on exit."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
