"""Where a phone's main thread goes while a page loads: prints figures, asserts nothing.

Lighthouse's performance score on the long pages is held down by Total Blocking Time,
the main-thread work of Material's bundle and of style and layout.  This script says which
functions that work is in: it loads each page in Chromium as Lighthouse's mobile run sees it
(412 x 823 px, device pixel ratio 1.75, touch, CPU slowed down 4x), records a sampling CPU
profile from navigation until 1.5 s after the load event, and prints the self time of the
busiest functions, averaged over --runs loads.  Positions in minified scripts are turned into
source file, line and function through the script's source map when the site has one
(Material ships bundle.*.min.js.map), so a row reads
``watchElementSize  browser/element/size/_/index.ts:133``.  "(program)" is the browser's own
work outside any script (parsing, style, layout, paint); time a script spends in a forced
layout is counted in that script's function.

The figures are for comparing two builds of the same page on the same machine, one right
after the other (absolute times depend on the machine and its load); Lighthouse itself,
in bench/site_bench.py, gives the scores.

Usage: python bench/page_profile.py [--pages disks/mount/ raid/] [--runs 3] [--top 12]
                                    [--site DIR]   (default: build the site first)
"""
from __future__ import annotations

import argparse
import bisect
import collections
import functools
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402  (the site build and Chromium, shared with the tests)

VIEWPORT = {"width": 412, "height": 823}
B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def vlq(segment: str) -> list[int]:
    """The signed numbers of one source-map segment (base64 VLQ, 5 bits per digit).

    >>> vlq("AAgBC"), vlq("D"), vlq("2H")
    ([0, 0, 16, 1], [-1], [123])
    """
    out, shift, value = [], 0, 0
    for ch in segment:
        digit = B64[ch]
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            continue
        out.append(-(value >> 1) if value & 1 else value >> 1)
        shift = value = 0
    return out


class SourceMap:
    """Generated (line, column) -> (source, line) through a version 3 source map."""

    def __init__(self, data: dict) -> None:
        self.sources = data["sources"]
        self.keys: list[tuple[int, int]] = []
        self.where: list[tuple[int, int]] = []
        src = line = 0
        for gen_line, text in enumerate(data["mappings"].split(";")):
            col = 0
            for seg in filter(None, text.split(",")):
                v = vlq(seg)
                col += v[0]
                if len(v) >= 4:
                    src += v[1]
                    line += v[2]
                    self.keys.append((gen_line, col))
                    self.where.append((src, line))

    def lookup(self, line: int, col: int) -> str | None:
        i = bisect.bisect_right(self.keys, (line, col)) - 1
        if i < 0:
            return None
        src, src_line = self.where[i]
        name = self.sources[src].split("javascripts/", 1)[-1]
        return f"{name}:{src_line + 1}"


@functools.cache
def source_map(script: Path) -> SourceMap | None:
    mapped = script.with_name(script.name + ".map")
    return SourceMap(json.loads(mapped.read_text(encoding="utf-8"))) if mapped.is_file() else None


def profile_page(browser, url: str, site: Path, runs: int) -> tuple[float, collections.Counter]:
    """Milliseconds of samples per load that were not idle, and self time per function."""
    per_function: collections.Counter = collections.Counter()
    busy = 0.0
    for _ in range(runs):
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1.75, is_mobile=True, has_touch=True)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        page.goto(url, wait_until="load")
        page.wait_for_timeout(1500)
        prof = cdp.send("Profiler.stop")["profile"]
        context.close()
        frames = {node["id"]: node["callFrame"] for node in prof["nodes"]}
        for sample, delta in zip(prof["samples"], prof["timeDeltas"]):
            frame = frames[sample]
            name = frame["functionName"] or "(anonymous)"
            if name == "(idle)":
                continue
            busy += delta
            where = ""
            if frame["url"]:
                local = site / frame["url"].split("/", 3)[-1]
                smap = source_map(local) if local.suffix == ".js" else None
                where = (smap.lookup(frame["lineNumber"], frame["columnNumber"]) if smap else None) \
                    or f"{frame['url'].split('/', 3)[-1] or '/'}:{frame['lineNumber'] + 1}"
            per_function[f"{name}  {where}".rstrip()] += delta
    return busy / 1000 / runs, collections.Counter({k: v / 1000 / runs for k, v in per_function.items()})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", nargs="+", default=["disks/mount/", "virtualization/qcow2-damage/", "raid/"],
                    metavar="PATH", help="site paths (default: the two slowest pages and raid/)")
    ap.add_argument("--runs", type=int, default=3, help="loads per page, averaged (default 3)")
    ap.add_argument("--top", type=int, default=12, help="functions to print per page (default 12)")
    ap.add_argument("--site", type=Path, help="a built site (default: build one now)")
    args = ap.parse_args()
    if not sitekit.chromium_available():
        print("page_profile.py: Debian's chromium is not installed (make test installs it)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            sitekit.build_site(site)
        elif not (site / "index.html").is_file():
            print(f"page_profile.py: {site} is not a built site (no index.html)", file=sys.stderr)
            return 2
        with sitekit.serve(site) as base, sitekit.chromium() as browser:
            for path in args.pages:
                busy, functions = profile_page(browser, base + path.lstrip("/"), site, args.runs)
                print(f"== {path}: {busy:.0f} ms of main-thread samples per load (4x CPU slowdown, "
                      f"{args.runs} loads)")
                for name, ms in functions.most_common(args.top):
                    print(f"{ms:8.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
