"""Every internal link of the built site points at a file that exists, and at an anchor it has."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import html_pages

pytestmark = pytest.mark.site


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _parse(path: Path) -> _Collect:
    c = _Collect()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def test_internal_links_and_anchors_resolve(site_dir):
    parsed = {p: _parse(p) for p in html_pages(site_dir)}
    broken = []
    checked = 0
    for page, info in parsed.items():
        if page.name == "404.html":      # uses absolute URLs from site_url by design
            continue
        for href in info.links:
            u = urlparse(href)
            if u.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue
            target = page if not u.path else (page.parent / unquote(u.path))
            if target.is_dir() or u.path.endswith("/"):
                target = target / "index.html"
            target = target.resolve()
            checked += 1
            if not target.exists():
                broken.append(f"{page.relative_to(site_dir)}: {href} (no file)")
                continue
            if u.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(u.fragment) not in ids:
                    broken.append(f"{page.relative_to(site_dir)}: {href} (no anchor)")
    assert checked > 10
    assert broken == []
