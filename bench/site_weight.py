"""What a cold page load costs, and what search costs when it is first used: prints figures, asserts nothing.

* the search index (search/search_index.json) and the search worker: raw and gzip size;
* for every built page, the bytes a cold load transfers (Chromium, served on
  127.0.0.1 with gzip for text, as a static host would) and how much of it is
  search (index, worker, lunr);
* on the home page: what opening the search box with `/` then loads, and the time
  from that key to the first result of the visit.

Bytes are counted by the server (response bodies as sent, gzip where the host
compresses), so what the search worker fetches is counted too.

Usage: python bench/site_weight.py [--site DIR] [--pages all|N]
(without --site it builds the site into a temporary directory first)
"""
from __future__ import annotations

import argparse
import functools
import gzip
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

from site_bench import Quiet, Server  # the static gzip host of the site benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import sitekit  # noqa: E402

SEARCH_PARTS = ("search/search_index", "workers/search.", "javascripts/lunr/")


class Counting(Quiet):
    """Quiet, logging every response in ``sent`` as (path, body bytes sent)."""
    sent: ClassVar[list[tuple[str, int]]] = []

    def send_header(self, keyword, value):
        if keyword.lower() == "content-length":
            self.sent.append((self.path.split("?")[0], int(value)))
        super().send_header(keyword, value)


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def page_paths(site: Path) -> list[str]:
    return [p.relative_to(site).as_posix().removesuffix("index.html") for p in sorted(site.rglob("index.html"))
            if p.relative_to(site).parts[0] not in ("assets", "search")]


def is_search(path: str) -> bool:
    return any(part in path for part in SEARCH_PARTS)


def sizes(site: Path) -> None:
    index = site / "search" / "search_index.json"
    raw = index.read_bytes()
    sections = raw.count(b'"location"')
    print(f"search index: {kib(len(raw))} raw, {kib(len(gzip.compress(raw, 6)))} gzip, {sections} sections")
    for w in (site / "assets" / "javascripts" / "workers").glob("search.*.min.js"):
        b = w.read_bytes()
        print(f"search worker: {kib(len(b))} raw, {kib(len(gzip.compress(b, 6)))} gzip")


def settle(page, sent: list) -> None:
    """Wait until the page is loaded and the server has been quiet for a second."""
    page.wait_for_load_state("load")
    n, quiet = -1, 0
    while quiet < 4:
        page.wait_for_timeout(250)
        quiet = quiet + 1 if len(sent) == n else 0
        n = len(sent)


def measure(site: Path, pages: str) -> None:
    sizes(site)
    sent = Counting.sent
    server = Server(("127.0.0.1", 0), functools.partial(Counting, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    paths = page_paths(site)
    if pages != "all":
        paths = paths[:int(pages)]
    try:
        with sitekit.chromium() as browser:
            weights: dict[str, tuple[int, int, int]] = {}
            for path in paths:
                ctx = browser.new_context()
                page = ctx.new_page()
                mark = len(sent)
                page.goto(base + path)
                settle(page, sent)
                got = sent[mark:]
                weights["/" + path] = (sum(b for _, b in got), len(got), sum(b for u, b in got if is_search(u)))
                ctx.close()
            print(f"cold load of {len(weights)} pages (bytes sent, requests, of which search), largest first:")
            for path, (total, n, srch) in sorted(weights.items(), key=lambda kv: -kv[1][0])[:8]:
                print(f"  {kib(total):>11}  {n:3d} requests  search {kib(srch):>10}  {path}")
            totals = sorted(w[0] for w in weights.values())
            print(f"  median {kib(totals[len(totals) // 2])}, largest {kib(totals[-1])}; "
                  f"pages whose load fetches any search file: {sum(1 for w in weights.values() if w[2])}")
            # first use of search on the home page
            ctx = browser.new_context()
            page = ctx.new_page()
            page.goto(base)
            settle(page, sent)
            mark = len(sent)
            t0 = time.monotonic()
            page.keyboard.press("/")
            page.fill("input.md-search__input", "归置组")
            page.keyboard.press("End")
            page.wait_for_selector(".md-search-result__item", timeout=30000)
            first = (time.monotonic() - t0) * 1000
            settle(page, sent)
            later = sent[mark:]
            print(f"first search of a visit ('/', then 归置组, to the first result): {first:.0f} ms; it fetched "
                  f"{kib(sum(b for _, b in later))} in {len(later)} requests:")
            for url, b in later:
                print(f"  {kib(b):>11}  {url}")
            ctx.close()
    finally:
        server.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, help="a built site (default: build one)")
    ap.add_argument("--pages", default="all", help="'all' or the number of pages to load")
    args = ap.parse_args()
    if args.site:
        measure(args.site, args.pages)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        sitekit.build_site(site)
        measure(site, args.pages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
