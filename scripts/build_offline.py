"""Build the offline edition: a zip of the site that works from file:// with no network.

Material's offline plugin (enabled by OFFLINE=true) turns off directory URLs
and inlines the search index into search/search_index.js (from the UTF-8 index
that hooks/search_fix.py writes); hooks/vendor_assets.py serves the iframe-worker
shim that lets search run from file://.  As online, a page opens without the
search worker and without that 1 MB script: overrides/partials/search-lazy.html
holds them back until the reader first uses the search box.
Usage: python scripts/build_offline.py [OUT_DIR]
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import sitekit

ROOT = Path(__file__).resolve().parent.parent


def build(out_dir: Path) -> Path:
    site = out_dir / "handbook-offline"
    if site.exists():
        shutil.rmtree(site)
    sitekit.build_site(site, env={"OFFLINE": "true"})
    archive = shutil.make_archive(str(out_dir / "handbook-offline"), "zip", root_dir=out_dir,
                                  base_dir="handbook-offline")
    return Path(archive)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        zip_path = build(out)
    except sitekit.SiteBuildError as e:
        sys.exit(f"build_offline: {e}")
    print(f"offline edition: {zip_path} ({zip_path.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.1f} s")
    print(f"open {out / 'handbook-offline' / 'index.html'} in a browser, or unzip it anywhere")
