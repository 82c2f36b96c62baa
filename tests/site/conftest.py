"""Fixtures for the site tests: the session's strict build (tests/sitefixtures.py: site_build,
site_dir), served on 127.0.0.1, and one headless Chromium (scripts/sitekit.py)."""
from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sitefixtures import REPO_URL

import sitekit  # scripts/, which sitefixtures puts on sys.path

__all__ = ["REPO_URL", "html_pages"]      # imported by the test modules


@pytest.fixture(scope="session")
def site_url(site_dir):
    with sitekit.serve(site_dir) as url:
        yield url


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


@dataclasses.dataclass
class PageWalk:
    """What Chromium saw loading every built page once (page_walk)."""
    elements: dict[str, int]     # page (path in the site, e.g. raid/index.html) -> DOM elements
    outside: list[str]           # requests to any host but the site's
    failed: list[str]            # requests that failed or got an HTTP error
    errors: list[str]            # uncaught script errors


@pytest.fixture(scope="session")
def page_walk(browser, site_dir, site_url) -> PageWalk:
    """Every built page but 404.html, loaded once in Chromium for the tests that look at all of
    them (test_browser, test_page_budget): four tabs at a time, each waiting for networkidle
    (no request for 500 ms, so lazy scripts have run) before the DOM is counted; those idle
    waits overlap."""
    walk = PageWalk({}, [], [], [])
    context = browser.new_context()
    context.on("request", lambda r: walk.outside.append(r.url)
               if urlparse(r.url).hostname != "127.0.0.1" and not r.url.startswith(("data:", "blob:"))
               else None)
    # a request cancelled because the page moved on (net::ERR_ABORTED) is not a fault of the
    # site; a missing file shows up as an HTTP error status instead
    context.on("requestfailed", lambda r: walk.failed.append(f"{r.url} {r.failure}")
               if "ERR_ABORTED" not in (r.failure or "") else None)
    context.on("response", lambda r: walk.failed.append(f"{r.url} HTTP {r.status}") if r.status >= 400 else None)
    tabs = [context.new_page() for _ in range(4)]
    for tab in tabs:
        tab.on("pageerror", lambda e: walk.errors.append(str(e)))
    pages = [p.relative_to(site_dir).as_posix() for p in html_pages(site_dir)]
    pages = [rel for rel in pages if rel != "404.html"]
    try:
        for start in range(0, len(pages), len(tabs)):
            batch = list(zip(tabs, pages[start:start + len(tabs)]))
            urls = {}
            for tab, rel in batch:
                urls[rel] = site_url + rel.removesuffix("index.html")
                resp = tab.goto(urls[rel], wait_until="commit")
                if resp is None or resp.status != 200:           # one failing page fails the test
                    walk.failed.append(f"{urls[rel]} {resp.status if resp else 'no response'}")
            for tab, rel in batch:
                tab.wait_for_load_state("networkidle")
                if tab.url != urls[rel]:
                    walk.failed.append(f"{urls[rel]} ended at {tab.url}")
                walk.elements[rel] = tab.evaluate("document.getElementsByTagName('*').length")
    finally:
        context.close()
    return walk
