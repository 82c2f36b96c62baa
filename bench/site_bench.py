"""Performance budgets of the built site: prints figures, asserts nothing.

* strict build time and search-index size;
* bytes transferred on a cold first load of each page (Chromium, served on 127.0.0.1
  with gzip for text, as a static host would);
* time from typing a Chinese query to the first search result;
* Lighthouse 12 (bench/lighthouse, npm) mobile and desktop scores for the home page
  and the heaviest chapter page.
Usage: python bench/site_bench.py [--no-lighthouse]
"""
from __future__ import annotations

import functools
import gzip
import io
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LH = ROOT / "bench" / "lighthouse"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    """A static host as the site would be published: text served gzip-compressed."""
    COMPRESS = (".html", ".css", ".js", ".mjs", ".json", ".svg", ".txt", ".xml")

    def log_message(self, *a):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        if ("gzip" not in self.headers.get("Accept-Encoding", "") or not path.endswith(self.COMPRESS)
                or not os.path.isfile(path)):
            return super().send_head()
        body = gzip.compress(Path(path).read_bytes(), 6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass          # the browser closing a connection early is not worth a traceback


def build(out: Path) -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)], cwd=ROOT,
                   check=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), capture_output=True)
    return time.monotonic() - t0


def page_paths(site: Path) -> list[str]:
    out = []
    for p in sorted(site.rglob("index.html")):
        rel = p.relative_to(site).as_posix()
        if not rel.startswith("assets/"):
            out.append(rel.removesuffix("index.html"))
    return out


def main() -> int:
    lighthouse = "--no-lighthouse" not in sys.argv
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        secs = build(site)
        index = site / "search" / "search_index.json"
        print(f"strict build: {secs:.1f} s")
        print(f"search index: {index.stat().st_size / 1024:.0f} KiB, "
              f"{len(json.loads(index.read_text(encoding='utf-8'))['docs'])} sections")
        server = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        weights: dict[str, int] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROME_FLAGS)
            for path in page_paths(site):
                ctx = browser.new_context()
                page = ctx.new_page()
                total = 0
                sizes: list[int] = []
                page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))  # bytes on the wire
                page.goto(base + path, wait_until="networkidle")
                total = sum(sizes)
                weights[path or "/"] = total
                ctx.close()
            heaviest = max(weights, key=weights.get)
            print("bytes on a cold first load (largest first):")
            for path, size in sorted(weights.items(), key=lambda kv: -kv[1])[:12]:
                print(f"  {size / 1024:8.0f} KiB  {path}")
            print(f"  median {sorted(weights.values())[len(weights) // 2] / 1024:.0f} KiB over {len(weights)} pages")
            page = browser.new_page()
            page.goto(base, wait_until="networkidle")
            times = []
            for q in ["分区表", "写惩罚", "归置组", "精简置备", "virbr0"]:
                page.fill("input.md-search__input", "")
                page.keyboard.press("s")
                t0 = time.monotonic()
                page.fill("input.md-search__input", q)
                page.keyboard.press("End")
                page.wait_for_selector(".md-search-result__item", timeout=20000)
                times.append((q, (time.monotonic() - t0) * 1000))
            print("typing to first result: " + ", ".join(f"{q} {ms:.0f} ms" for q, ms in times))
            browser.close()
        if lighthouse:
            if not (LH / "node_modules" / ".bin" / "lighthouse").exists():
                subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=LH, check=True)
            for path in ["", heaviest.strip("/") + "/"]:
                for ff in ["mobile", "desktop"]:
                    out = Path(tmp) / "lh.json"
                    cmd = [str(LH / "node_modules" / ".bin" / "lighthouse"), base + path, "--quiet",
                           "--chrome-path=/usr/bin/chromium", "--chrome-flags=" + " ".join(CHROME_FLAGS),
                           "--output=json", f"--output-path={out}"] + (["--preset=desktop"] if ff == "desktop" else [])
                    subprocess.run(cmd, check=True, capture_output=True)
                    cats = json.loads(out.read_text())["categories"]
                    scores = " ".join(f"{k}={round(v['score'] * 100)}" for k, v in cats.items())
                    print(f"lighthouse {ff:7s} /{path}: {scores}")
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
