"""The CRUSH page's demo: crush_sim.py in Pyodide, served by the site itself, started by the reader.

The form on ceph/crush/ runs ``crush_sim.main([...])`` with the reader's choices; its
output must be the script's output for the same arguments, byte for byte.  Nothing
outside the served site is reachable (every other request is aborted and must not
be made), and Pyodide is not fetched before the reader presses 计算.  The times
from click to output are printed (pytest -s), never asserted.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.site

PYODIDE_TIMEOUT = 180_000   # the first click loads and compiles 13 MB of WebAssembly
SIM = Path(__file__).resolve().parents[2] / "snippets" / "crush_sim.py"


def _cli(osds: str, change: str, target: str, size: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SIM), "--osds", osds, "--change", change,
                           "--target", target, "--size", size, "--show-pgs"],
                          capture_output=True, text=True, timeout=120)


def test_crush_demo_runs_crush_sim_offline_like_the_cli(browser, site_url):
    add = _cli("2 2 2 2", "add", "3", "3")
    out = _cli("2 2 2 1", "out", "0", "2")
    bad = _cli("2 2 2 2", "remove", "8", "3")
    assert add.returncode == out.returncode == 0 and bad.returncode == 2
    assert "1024 PGs:" in add.stdout and "osd.0 marked out" in out.stdout
    message = bad.stderr.strip().split("crush_sim.py: ", 1)[1]
    assert message == "osd.8 does not exist (OSDs 0 to 7)"

    ctx = browser.new_context()
    requests: list[str] = []
    ctx.on("request", lambda r: requests.append(r.url))
    ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site_url)
              else route.abort())
    page = ctx.new_page()
    try:
        page.goto(site_url + "ceph/crush/", wait_until="networkidle")
        form = page.locator(".pycalc", has=page.locator('input[name="osds"]'))
        go = form.locator(".pycalc-run")
        go.wait_for()                            # the button comes when the browser is idle
        page.wait_for_timeout(300)
        assert [u for u in requests if "pyodide" in u] == []

        # the defaults: 4 hosts x 2 OSDs, one OSD added to host 3, 3 replicas
        start = time.monotonic()
        go.click()
        result = form.locator(".pycalc-output[data-done]")
        result.wait_for(timeout=PYODIDE_TIMEOUT)
        first = time.monotonic() - start
        assert result.text_content() == add.stdout

        # another cluster and change, now that Pyodide is loaded
        form.locator('input[name="osds"]').fill("2 2 2 1")
        form.locator('select[name="change"]').select_option("out")
        form.locator('input[name="target"]').fill("0")
        form.locator('input[name="size"]').fill("2")
        start = time.monotonic()
        go.click()
        page.wait_for_function("([el, want]) => el.textContent === want",
                               arg=[result.element_handle(), out.stdout], timeout=60_000)
        second = time.monotonic() - start

        # bad input: the script's one-line message, no traceback
        form.locator('input[name="osds"]').fill("2 2 2 2")
        form.locator('select[name="change"]').select_option("remove")
        form.locator('input[name="target"]').fill("8")
        form.locator('input[name="size"]').fill("3")
        go.click()
        page.wait_for_function("([el, m]) => el.textContent.includes(m)",
                               arg=[result.element_handle(), message], timeout=60_000)
        text = result.text_content()
    finally:
        ctx.close()
    assert "Traceback" not in text and text.strip().splitlines() == [f"crush_sim.py: {message}"]
    outside = [u for u in requests if not u.startswith(site_url)]
    assert outside == [], f"requests outside the served site: {outside[:5]}"
    print(f"\nCRUSH demo: first run {first:.1f} s (loading Pyodide), second run {second:.1f} s")
