"""Build the two PDF editions of the handbook with Debian's Chromium.

    .venv/bin/python scripts/build_pdf.py            # what `make pdf` runs
    .venv/bin/python scripts/build_pdf.py --site DIR # print an existing build

Outputs ``handbook-full.pdf`` (完整版), ``handbook-questions.pdf`` (题目版) and
``pdf-report.json`` (timings and checks) in --out.  Environment: HANDBOOK_SITE_URL
overrides site_url (links of the question edition); CHROMIUM (default /usr/bin/chromium).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import sitekit

from . import ROOT
from .assemble import load_book, load_nav
from .editions import full_edition_parts, full_html, questions_html
from .fonts import font_css
from .outline import print_pdf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, help="print this built site instead of building one")
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    ap.add_argument("--keep-html", action="store_true", help="keep the print pages in the site directory")
    args = ap.parse_args(argv)
    if not sitekit.chromium_available():
        print(f"build_pdf: {sitekit.CHROMIUM} not found (Debian package chromium; `make deps` installs it)",
              file=sys.stderr)
        return 2
    t0 = time.monotonic()
    tmp = None
    if args.site is None:
        tmp = Path(tempfile.mkdtemp(prefix="handbook-pdf-"))
        site = tmp / "site"
        try:
            sitekit.build_site(site)
        except sitekit.SiteBuildError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"build_pdf: {e}", file=sys.stderr)
            return 1
    else:
        site = args.site.resolve()
        if not (site / "assets" / "questions.json").is_file():
            print(f"build_pdf: {site} is not a built site (no assets/questions.json)", file=sys.stderr)
            return 2
    t_site = time.monotonic() - t0
    files = {"full": site / "_print-full.html", "questions": site / "_print-questions.html"}
    fonts_dir = site / "_pdf-fonts"
    try:
        info = load_nav()
        parts = load_book(site, info[4])
        full_parts, skipped = full_edition_parts(parts)
        args.out.mkdir(parents=True, exist_ok=True)
        files["full"].write_text(full_html(site, full_parts, info), encoding="utf-8")
        files["questions"].write_text(questions_html(site, parts, info), encoding="utf-8")
        t_fonts = time.monotonic()
        used = "".join(f.read_text(encoding="utf-8") for f in files.values())
        faces = font_css(used, fonts_dir, "_pdf-fonts/")
        for f in files.values():
            f.write_text(f.read_text(encoding="utf-8").replace("<head>", f"<head><style>{faces}</style>", 1),
                         encoding="utf-8")
        t_fonts = time.monotonic() - t_fonts
        report = {"site_seconds": round(t_site, 1), "font_seconds": round(t_fonts, 1), "skipped_pages": skipped,
                  "site_url": info[2],
                  "parts": [{"title": pt.title, "pages": [{"url": p.url, "title": p.title} for p in pt.pages]}
                            for pt in full_parts]}
        with sitekit.chromium() as browser:
            report["full"] = print_pdf(browser, files["full"], args.out / "handbook-full.pdf", "完整版")
            report["questions"] = print_pdf(browser, files["questions"], args.out / "handbook-questions.pdf", "题目版")
        report["total_seconds"] = round(time.monotonic() - t0, 1)
        (args.out / "pdf-report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        for key in ("full", "questions"):
            r = report[key]
            print(f"{args.out / ('handbook-' + key + '.pdf')}: {r['pages']} pages, {r['seconds']} s")
        if report["full"]["too_wide"]:
            print("build_pdf: wider than the page: " + "; ".join(report["full"]["too_wide"][:10]), file=sys.stderr)
    finally:
        if not args.keep_html:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            else:     # a site we were given: leave it as we found it, also when printing failed
                for f in files.values():
                    f.unlink(missing_ok=True)
                shutil.rmtree(fonts_dir, ignore_errors=True)
    print(f"build_pdf: done in {report['total_seconds']} s (site build {report['site_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
