"""Performance of every built page: prints figures, asserts nothing.

Builds the site once (strict), serves it on 127.0.0.1 gzip-compressed as a static
host would, and prints one row per page:

* Lighthouse 12 (bench/lighthouse, npm) mobile performance / accessibility / best
  practices / SEO and desktop performance, each the best of --runs runs (a second
  run is skipped when the first already scored 100 everywhere);
* Lighthouse total-byte-weight (KiB) and element count (the dom-size audit) of the
  best mobile run (with --no-lighthouse: bytes on the wire and elements counted by
  Playwright instead, marked ~);
* search, in Chromium with Playwright: the first search of a visit (cold context, page
  settled, from focusing the box to the first result element) and the median time
  from the keystroke to the first result element over the --queries queries typed
  after it, once the index is loaded.

Then the first run of Pyodide: click 运行 on a pycon block to its output, and
whether any page fetched Pyodide (or the search index) before it was asked for.

Nothing is fetched from the network: the script re-runs itself in a network
namespace that has only loopback (unshare, as root or with unprivileged user
namespaces; --no-isolation, or no unshare, runs it unisolated and says so). Chromium
runs with the flags below both under Lighthouse and Playwright; even so Debian's
Chromium looks up accounts.google.com and update.googleapis.com, which the namespace
turns into an immediate "network unreachable".  Any request a page makes to another
host is printed as a note.

Usage: python bench/site_bench.py [--pages raid/ ceph/crush/] [--runs 1] [--queries 5]
                                  [--no-lighthouse] [--no-search] [--no-pyodide] [--reports DIR]
                                  [--no-isolation]
A full run takes about a minute per page (62 pages: 68 min on this 2-core machine
while other jobs kept its load between 6 and 16); --no-lighthouse a few seconds per page.
"""
from __future__ import annotations

import argparse
import doctest
import functools
import gzip
import http.server
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402  (the site build and Chromium's path and flags, shared with the tests)

LH = ROOT / "bench" / "lighthouse"
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
FIRST_QUERY = "分区表"
QUERIES = ["写惩罚", "归置组", "virbr0", "qcow2", "fstab", "纠删码", "热备盘", "rpcbind", "BlueStore", "交换分区"]
SEARCH_INPUT = "input.md-search__input"


class Quiet(http.server.SimpleHTTPRequestHandler):
    """A static host as the site would be published: text served gzip-compressed."""
    COMPRESS = (".html", ".css", ".js", ".mjs", ".json", ".svg", ".txt", ".xml")
    _gz: dict[str, tuple[float, bytes]] = {}     # compressed once, as a host's cache would

    def log_message(self, *a):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        if ("gzip" not in self.headers.get("Accept-Encoding", "") or not path.endswith(self.COMPRESS)
                or not os.path.isfile(path)):
            return super().send_head()
        mtime = os.stat(path).st_mtime
        cached = self._gz.get(path)
        if cached is None or cached[0] != mtime:
            cached = self._gz[path] = (mtime, gzip.compress(Path(path).read_bytes(), 6))
        body = cached[1]
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass          # the browser closing a connection early is not worth a traceback


def page_paths(site: Path) -> list[str]:
    out = []
    for p in sorted(site.rglob("index.html")):
        rel = p.relative_to(site).as_posix()
        if not rel.startswith("assets/"):
            out.append(rel.removesuffix("index.html"))
    return out


# ---------------------------------------------------------------- Lighthouse

def lighthouse(url: str, desktop: bool, out: Path) -> dict:
    """One Lighthouse run: category scores, total-byte-weight, dom-size, metrics, foreign URLs."""
    out.unlink(missing_ok=True)
    cmd = [str(LH / "node_modules" / ".bin" / "lighthouse"), url, "--quiet",
           f"--chrome-path={sitekit.CHROMIUM}", "--chrome-flags=" + " ".join(sitekit.CHROMIUM_FLAGS),
           "--output=json", f"--output-path={out}"] + (["--preset=desktop"] if desktop else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not out.exists():
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    lhr = json.loads(out.read_text(encoding="utf-8"))
    audits = lhr["audits"]
    scores = {k: (None if lhr["categories"][k]["score"] is None else round(lhr["categories"][k]["score"] * 100))
              for k in CATEGORIES}
    requests = (audits.get("network-requests", {}).get("details") or {}).get("items", [])
    host = urlsplit(url).netloc
    foreign = sorted({r["url"] for r in requests
                      if urlsplit(r["url"]).scheme in ("http", "https") and urlsplit(r["url"]).netloc != host})
    metrics = {k: audits[k].get("numericValue") for k in
               ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
                "cumulative-layout-shift", "speed-index") if k in audits}
    error = lhr.get("runtimeError", {}).get("message")
    if scores["performance"] is None and not error:
        refs = [a["id"] for a in lhr["categories"]["performance"]["auditRefs"] if a.get("weight")]
        error = next((f"{k}: {audits[k]['errorMessage']}" for k in refs if audits[k].get("errorMessage")), "no score")
    failing = {k: [a["id"] for a in lhr["categories"][k]["auditRefs"]
                   if a.get("weight") and audits[a["id"]].get("score") is not None and audits[a["id"]]["score"] < 1]
               for k in CATEGORIES[1:]}
    return {"scores": scores, "bytes": audits["total-byte-weight"].get("numericValue"),
            "dom": audits.get("dom-size", {}).get("numericValue"), "metrics": metrics,
            "foreign": foreign, "error": error, "failing": failing,
            "bootup": [(urlsplit(i["url"]).path, i.get("total", 0)) for i in
                       sorted((audits.get("bootup-time", {}).get("details") or {}).get("items", []),
                              key=lambda i: -i.get("total", 0))[:3]]}


def best_of(url: str, desktop: bool, runs: int, reports: Path) -> dict:
    """Best of `runs` runs: the run with the highest performance, with each category's best score."""
    results: list[dict] = []
    good: list[dict] = []
    for _ in range(runs + 2):             # a run Lighthouse could not score is tried again, twice at most
        slug = urlsplit(url).path.strip("/").replace("/", "_") or "home"
        r = lighthouse(url, desktop, reports / f"{slug}.{'desktop' if desktop else 'mobile'}.{len(results) + 1}.json")
        results.append(r)
        if "scores" in r and r["scores"]["performance"] is not None:
            good.append(r)
            if len(good) == runs or all(v == 100 for v in r["scores"].values()):
                break                     # enough runs, or one that a second cannot beat
    if not good:
        return {"error": results[-1].get("error") or "no score"}
    best = max(good, key=lambda r: r["scores"]["performance"])
    best = dict(best, scores={k: max((r["scores"][k] or 0) for r in good) for k in CATEGORIES})
    best["foreign"] = sorted({u for r in good for u in r["foreign"]})
    best["failed"] = len(results) - len(good)
    return best


# ---------------------------------------------------------------- search and page load in Chromium

ARM_JS = """trigger => {
  const b = window.__bench = {t0: null, t1: null};
  const input = document.querySelector('input.md-search__input');
  input.addEventListener(trigger, () => { if (b.t0 === null) b.t0 = performance.now(); },
                         {capture: true, once: true});
  const isItem = n => n.nodeType === 1 &&
      (n.matches('.md-search-result__item') || n.querySelector('.md-search-result__item'));
  const obs = new MutationObserver(records => {
    if (b.t0 === null) return;
    for (const r of records) for (const n of r.addedNodes)
      if (isItem(n)) { b.t1 = performance.now(); obs.disconnect(); return; }
  });
  obs.observe(document.body, {childList: true, subtree: true});
}"""


def _search_once(page, query: str, trigger: str, timeout: float = 30000) -> float | None:
    """Arm the timer on `trigger` (focus or keydown), type the query, end it with a keystroke
    (Material searches on keyup), return ms to the first result element or None."""
    page.evaluate(ARM_JS, trigger)
    box = page.locator(SEARCH_INPUT)
    if trigger == "focus":
        box.click()
    box.fill(query)
    page.keyboard.press("End")
    try:
        page.wait_for_function("() => window.__bench.t1 !== null", timeout=timeout)
    except Exception:
        return None
    return page.evaluate("() => window.__bench.t1 - window.__bench.t0")


def visit(browser, url: str, queries: list[str] | None) -> dict:
    """A cold visit: bytes and elements once the page settles, what it fetched unasked, search times."""
    ctx = browser.new_context()
    page = ctx.new_page()
    sizes: list[int] = []
    urls: list[str] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))   # bytes on the wire
    page.on("request", lambda r: urls.append(r.url))
    page.goto(url, wait_until="networkidle")
    out = {"bytes": sum(sizes), "dom": page.evaluate("document.getElementsByTagName('*').length"),
           "pyodide_on_load": any("pyodide" in u for u in urls),
           "index_on_load": any("search_index" in u for u in urls)}
    if queries is not None:
        out["first"] = _search_once(page, FIRST_QUERY, "focus")
        times = []
        for q in queries:
            page.fill(SEARCH_INPUT, "")
            page.keyboard.press("End")
            page.wait_for_timeout(100)
            t = _search_once(page, q, "keydown", 10000)
            if t is not None:
                times.append(t)
        out["median"] = statistics.median(times) if times else None
        out["answered"] = len(times)
    ctx.close()
    return out


def pyodide_first_run(browser, url: str) -> dict:
    """Click 运行 on the page's first pycon block with expected output; seconds to its output."""
    ctx = browser.new_context()
    page = ctx.new_page()
    sizes: list[int] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]))
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector(".runner-run")           # the buttons are added when the browser is idle
    before = sum(sizes)
    blocks = page.locator("div.language-pycon.highlight")
    chosen = None
    for i in range(blocks.count()):
        text = blocks.nth(i).locator("pre > code").text_content()
        want = "".join(ex.want for ex in doctest.DocTestParser().get_examples(text))
        if want and "Traceback" not in want and "subprocess" not in text:
            chosen = i
            break
    if chosen is None:
        ctx.close()
        return {"error": "no pycon block with expected output"}
    bar = blocks.nth(chosen).locator("xpath=following-sibling::div[contains(@class,'runner-bar')][1]")
    out = blocks.nth(chosen).locator("xpath=following-sibling::pre[contains(@class,'runner-output')][1]")
    t0 = time.monotonic()
    bar.locator(".runner-run").click()
    out.and_(page.locator("[data-done]")).wait_for(timeout=600_000)
    first = time.monotonic() - t0
    fetched = sum(sizes) - before
    ok = out.get_attribute("data-done") == "1"
    page.evaluate("el => { delete el.dataset.done; }", out.element_handle())
    t0 = time.monotonic()
    bar.locator(".runner-run").click()
    out.and_(page.locator("[data-done]")).wait_for(timeout=60_000)
    again = time.monotonic() - t0
    ctx.close()
    return {"first": first, "again": again, "bytes": fetched, "ok": ok, "block": chosen + 1}


# ---------------------------------------------------------------- isolation

NETNS_ENV = "SITE_BENCH_NETNS"


def rerun_isolated() -> int | None:
    """Run this script again in a network namespace with only loopback up; None if that is not possible."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return None
    ns = ["unshare", "--net", "--map-root-user"]
    if subprocess.run(ns + ["ip", "link", "set", "lo", "up"], capture_output=True).returncode != 0:
        return None
    cmd = ns + ["sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, str(Path(__file__).resolve()),
                *sys.argv[1:]]
    return subprocess.run(cmd, env=dict(os.environ, **{NETNS_ENV: "1"})).returncode


# ---------------------------------------------------------------- table

def _fmt(v, width: int, spec: str = "d") -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}{spec}}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", nargs="+", metavar="PATH", help="site paths, e.g. raid/ ceph/crush/ (/ is the home page)")
    ap.add_argument("--runs", type=int, default=2, help="Lighthouse runs per form factor, best kept (default 2)")
    ap.add_argument("--queries", type=int, default=len(QUERIES), help=f"queries for the median (max {len(QUERIES)})")
    ap.add_argument("--no-lighthouse", action="store_true")
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--no-pyodide", action="store_true")
    ap.add_argument("--pyodide-page", default="raid/parity/")
    ap.add_argument("--reports", type=Path, metavar="DIR", help="keep every Lighthouse report (JSON) in DIR")
    ap.add_argument("--no-isolation", action="store_true", help="do not run in a loopback-only network namespace")
    args = ap.parse_args()
    started = time.monotonic()
    if not os.environ.get(NETNS_ENV):
        if not args.no_lighthouse and not (LH / "node_modules" / ".bin" / "lighthouse").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=LH, check=True)
        if not args.no_isolation:
            rc = rerun_isolated()
            if rc is not None:
                return rc
        print("network: NOT isolated (" + ("--no-isolation" if args.no_isolation else "unshare --net failed")
              + "); Chromium may look up Google hosts")
    else:
        print("network: loopback only (own network namespace)")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        site = tmp / "site"
        t0 = time.monotonic()
        sitekit.build_site(site)
        secs = time.monotonic() - t0
        index = site / "search" / "search_index.json"
        raw = index.read_bytes()
        print(f"strict build: {secs:.1f} s")
        print(f"search index: {len(raw) / 1024:.0f} KiB ({len(gzip.compress(raw, 6)) / 1024:.0f} KiB gzip), "
              f"{len(json.loads(raw)['docs'])} sections")
        reports = args.reports.resolve() if args.reports else tmp
        reports.mkdir(parents=True, exist_ok=True)
        paths = page_paths(site)
        if args.pages:
            wanted = [p.strip("/") + "/" if p.strip("/") else "" for p in args.pages]
            unknown = [p for p in wanted if p not in paths]
            if unknown:
                print(f"not built pages: {' '.join(unknown)}", file=sys.stderr)
                return 2
            paths = wanted
        server = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        lh_on = not args.no_lighthouse
        kb_head, dom_head = ("KiB", "DOM") if lh_on else ("~KiB", "~DOM")
        print(f"{'page':34s} {'mobile p a11y bp seo':>20s} {'desk':>4s} {kb_head:>5s} {dom_head:>5s} "
              f"{'1st search':>10s} {'median':>7s}  notes")
        rows: dict[str, dict] = {}
        with sitekit.chromium() as browser:
            for path in paths:
                url = base + path
                row = visit(browser, url, None if args.no_search else QUERIES[:args.queries])
                notes = []
                if lh_on:
                    mob = best_of(url, False, args.runs, reports)
                    desk = best_of(url, True, args.runs, reports)
                    row["mobile"], row["desktop"] = mob, desk
                    if "scores" in mob:
                        s = mob["scores"]
                        cells = f"{s['performance']:>8d} {s['accessibility']:>4d} {s['best-practices']:>3d} {s['seo']:>3d}"
                        kb, dom = round(mob["bytes"] / 1024), mob["dom"]
                        notes += [f"{k} {s[k]}: {' '.join(mob['failing'][k])}" for k in CATEGORIES[1:] if s[k] < 100]
                    else:
                        cells, kb, dom = f"{'error':>20s}", None, None
                        notes.append(f"mobile: {mob['error']}")
                    if "scores" in desk:
                        dperf = desk["scores"]["performance"]
                        low = [f"{k} {v}: {' '.join(desk['failing'][k])}" for k, v in desk["scores"].items()
                               if k != "performance" and v < 100]
                        if low:
                            notes.append("desktop " + ", ".join(low))
                    else:
                        dperf = None
                        notes.append(f"desktop: {desk['error']}")
                    for ff, r in (("mobile", mob), ("desktop", desk)):
                        if r.get("failed"):
                            notes.append(f"{r['failed']} unscored {ff} run(s) repeated")
                    foreign = sorted(set(mob.get("foreign", [])) | set(desk.get("foreign", [])))
                    if foreign:
                        notes.append(f"{len(foreign)} non-local requests, e.g. {foreign[0]}")
                else:
                    cells, dperf, kb, dom = f"{'-':>20s}", None, round(row["bytes"] / 1024), row["dom"]
                if row["pyodide_on_load"]:
                    notes.append("Pyodide fetched on load")
                if not args.no_search and row.get("answered", 0) < args.queries:
                    notes.append(f"{args.queries - row.get('answered', 0)} queries unanswered")
                row.update(kb=kb, domn=dom)
                rows[path] = row
                print(f"/{path:33s} {cells} {_fmt(dperf, 4)} {_fmt(kb, 5)} {_fmt(dom, 5)} "
                      f"{_fmt(row.get('first'), 7, '.0f')} ms {_fmt(row.get('median'), 4, '.0f')} ms  {'; '.join(notes)}",
                      flush=True)
            py = None if args.no_pyodide else pyodide_first_run(browser, base + args.pyodide_page)
        server.shutdown()
    # ------------------------------------------------------------ summary
    print()
    firsts = [r["first"] for r in rows.values() if r.get("first") is not None]
    medians = [r["median"] for r in rows.values() if r.get("median") is not None]
    if firsts:
        print(f"first search of a visit (focus to first result): {min(firsts):.0f}-{max(firsts):.0f} ms, "
              f"median {statistics.median(firsts):.0f} ms")
    if medians:
        print(f"keystroke to first result once the index is loaded: median of the pages' medians "
              f"{statistics.median(medians):.0f} ms, worst page {max(medians):.0f} ms")
    eager = [p for p, r in rows.items() if r["index_on_load"]]
    print(f"search index fetched before the box was focused: on {len(eager)} of {len(rows)} pages")
    on_load = [p for p, r in rows.items() if r["pyodide_on_load"]]
    print(f"Pyodide fetched on page load: {'on ' + ' '.join('/' + p for p in on_load) if on_load else 'on no page'}")
    if py is not None:
        if "error" in py:
            print(f"Pyodide first run /{args.pyodide_page}: {py['error']}")
        else:
            print(f"Pyodide first run /{args.pyodide_page} (pycon block {py['block']}): click to output "
                  f"{py['first']:.1f} s, {py['bytes'] / 1048576:.1f} MiB fetched; run again {py['again'] * 1000:.0f} ms"
                  + ("" if py["ok"] else " (the block ended in an error)"))
    if lh_on:
        scored = {p: r for p, r in rows.items() if "scores" in r.get("mobile", {})}
        if scored:
            misses = {
                "mobile performance < 95": [p for p, r in scored.items() if r["mobile"]["scores"]["performance"] < 95],
                "mobile a11y/bp/seo < 100": [p for p, r in scored.items()
                                             if min(r["mobile"]["scores"][k] for k in CATEGORIES[1:]) < 100],
                "desktop < 100": [p for p, r in rows.items()
                                  if "scores" not in r["desktop"] or min(r["desktop"]["scores"].values()) < 100],
                "total-byte-weight > 300 KiB": [p for p, r in scored.items() if r["kb"] > 300],
            }
            for what, ps in misses.items():
                print(f"{what}: {len(ps)} pages" + (": " + " ".join("/" + p for p in ps) if ps else ""))
            worst = min(scored, key=lambda p: (scored[p]["mobile"]["scores"]["performance"], -scored[p]["kb"]))
            m = scored[worst]["mobile"]["metrics"]
            print(f"worst mobile performance: /{worst} {scored[worst]['mobile']['scores']['performance']} "
                  f"(FCP {m['first-contentful-paint'] / 1000:.1f} s, LCP {m['largest-contentful-paint'] / 1000:.1f} s, "
                  f"TBT {m['total-blocking-time']:.0f} ms, CLS {m['cumulative-layout-shift']:.3f}, "
                  f"SI {m['speed-index'] / 1000:.1f} s), {scored[worst]['kb']} KiB, {scored[worst]['domn']} elements; "
                  "main-thread time by script: " + ", ".join(f"{u} {ms:.0f} ms" for u, ms in scored[worst]["mobile"]["bootup"]))
    print(f"bench took {(time.monotonic() - started) / 60:.1f} min; load average now "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
