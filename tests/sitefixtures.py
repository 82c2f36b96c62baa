"""The session's site build, shared by the site tests (tests/site) and the PDF tests (tests/pdf).

A pytest plugin (registered by the root conftest.py): one strict build per test run, in
the session's temporary folder, with scripts/sitekit.py's build_site, so that every test
that looks at the built site looks at the same one and the site is built once.  The build
gets a repository URL so that the pages carry their edit links (tests/site/test_reader.py).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402
from prebuild import PREBUILD, wanted  # noqa: E402

REPO_URL = "https://git.example.org/storage-handbook"   # only ever written into hrefs
SITE_ENV = {"HANDBOOK_REPO_URL": REPO_URL, "HANDBOOK_EDIT_URI": "edit/main/docs/"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an idle machine, start the site (and PDF) builds beside the first tests (tests/prebuild.py)."""
    under = [Path(str(item.path)).resolve() for item in session.items]
    need_site = any(ROOT / "tests" / d in p.parents for p in under for d in ("site", "pdf"))
    need_pdf = any(ROOT / "tests" / "pdf" in p.parents for p in under)
    mode = os.environ.get("HANDBOOK_PREBUILD", "auto")
    try:
        start = wanted(mode, os.getloadavg()[0], os.cpu_count() or 1)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    if need_site and start and session.config.getoption("collectonly") is False:
        factory = session.config._tmp_path_factory
        reuse = os.environ.get("HANDBOOK_PDF_TEST_REUSE")
        PREBUILD.start(factory.mktemp("site"), SITE_ENV,
                       factory.mktemp("pdf") if need_pdf and not reuse else None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    PREBUILD.stop()


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> tuple[Path, str]:
    """Build the site once with --strict; return (site_dir, build log)."""
    try:
        done = PREBUILD.site_result()
    except sitekit.SiteBuildError as e:
        pytest.fail(str(e), pytrace=False)
    if done is not None:
        return done
    out = tmp_path_factory.mktemp("site")
    try:
        log = sitekit.build_site(out, env=SITE_ENV, timeout=600)
    except sitekit.SiteBuildError as e:
        pytest.fail(str(e), pytrace=False)
    return out, log


@pytest.fixture(scope="session")
def site_dir(site_build) -> Path:
    return site_build[0]
