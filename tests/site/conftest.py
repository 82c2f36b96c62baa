"""Fixtures for the site tests: the session's strict build (tests/sitefixtures.py: site_build,
site_dir), served on 127.0.0.1, and one headless Chromium (scripts/sitekit.py)."""
from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from pathlib import Path

import pytest
from sitefixtures import REPO_URL

import sitekit  # scripts/, which sitefixtures puts on sys.path

__all__ = ["REPO_URL", "html_pages"]      # imported by the test modules


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url(site_dir):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not sitekit.chromium_available():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    with sitekit.chromium() as b:
        yield b


@pytest.fixture(scope="session")
def offline_zip(tmp_path_factory) -> Path:
    """The offline edition (scripts/build_offline.py), built and unpacked once per session."""
    import build_offline  # scripts/, like sitekit
    out = tmp_path_factory.mktemp("offline")
    archive = build_offline.build(out)
    unpacked = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(archive) as z:
        z.extractall(unpacked)
    return unpacked / "handbook-offline"


def html_pages(site_dir: Path) -> list[Path]:
    return sorted(p for p in site_dir.rglob("*.html") if "assets" not in p.parts)
