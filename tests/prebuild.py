"""Build the site and the PDFs in the background while the first tests run.

A test run spends its first minutes in the fuzz campaigns and the labs, which mostly wait
for daemons and subprocesses; the site build (about 20 s on an idle 2-core machine) and the
PDF build (over a minute: two Chromium prints of each edition) then have a core to
themselves.  When the collected tests need them, a thread started at the end of collection
builds the site (scripts/sitekit.py) and, if tests/pdf is collected, starts the PDF script on
a hard-linked copy of it; the fixtures in tests/sitefixtures.py and tests/pdf wait for the
results instead of building.  Both are built exactly as the fixtures would build them.

HANDBOOK_PREBUILD chooses: ``1`` always, ``0`` never (the fixtures build when first asked,
one after another), ``auto`` (the default) only when the machine is otherwise idle, i.e. the
one-minute load average is below half the number of CPUs; on a busy machine a build beside
the labs would only make both slower.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402

PDF_SITE_URL = "https://handbook.example.org/interview/"   # tests/pdf/test_pdf.py SITE_URL


def wanted(mode: str, load1: float, cpus: int) -> bool:
    """Whether to build in the background.

    >>> wanted("auto", 0.3, 2), wanted("auto", 1.0, 2), wanted("1", 9.0, 2), wanted("0", 0.0, 2)
    (True, False, True, False)
    """
    if mode not in ("auto", "0", "1"):
        raise ValueError(f"HANDBOOK_PREBUILD={mode!r}: use auto, 1 or 0")
    return mode == "1" or (mode == "auto" and load1 < cpus / 2)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class Prebuild:
    """The background builds of one test session (at most one of each)."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.site: Path | None = None
        self.log = ""
        self.error: BaseException | None = None
        self.pdf_dir: Path | None = None
        self.pdf_proc: subprocess.Popen | None = None

    def start(self, site_out: Path, site_env: dict[str, str], pdf_out: Path | None) -> None:
        def run() -> None:
            try:
                self.log = sitekit.build_site(site_out, env=site_env, timeout=600)
                self.site = site_out
                if pdf_out is not None:
                    self.pdf_dir = pdf_out
                    shutil.copytree(site_out, pdf_out / "site", copy_function=_link_or_copy)
                    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", HANDBOOK_SITE_URL=PDF_SITE_URL)
                    self.pdf_proc = subprocess.Popen(
                        [sys.executable, str(ROOT / "scripts" / "build_pdf.py"), "--site", str(pdf_out / "site"),
                         "--out", str(pdf_out / "dist")], cwd=ROOT, env=env, text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except BaseException as exc:      # handed to the fixture that waits for it
                self.error = exc
        self.thread = threading.Thread(target=run, name="prebuild", daemon=True)
        self.thread.start()

    def site_result(self) -> tuple[Path, str] | None:
        """(site_dir, log) of the background build, None if none was started; re-raises its error."""
        if self.thread is None:
            return None
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.site, self.log

    def pdf_result(self, timeout: float = 900) -> tuple[Path, int, str] | None:
        """(folder, exit status, output) of the background PDF build, None if none was started."""
        if self.thread is None:
            return None
        self.thread.join()
        if self.pdf_proc is None:
            if self.error is not None:
                raise self.error
            return None
        try:
            out, _ = self.pdf_proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.pdf_proc.kill()
            out, _ = self.pdf_proc.communicate()
            return self.pdf_dir, -9, (out or "") + f"\n(killed after {timeout} s)"
        return self.pdf_dir, self.pdf_proc.returncode, out or ""

    def stop(self) -> None:
        if self.pdf_proc is not None and self.pdf_proc.poll() is None:
            self.pdf_proc.kill()
            self.pdf_proc.communicate()


PREBUILD = Prebuild()
