"""The session's site build, shared by the site tests (tests/site) and the PDF tests (tests/pdf).

A pytest plugin (registered by the root conftest.py): one strict build per test run, in
the session's temporary folder, with scripts/sitekit.py's build_site, so that every test
that looks at the built site looks at the same one and the site is built once.  The build
gets a repository URL so that the pages carry their edit links (tests/site/test_reader.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import sitekit  # noqa: E402

REPO_URL = "https://git.example.org/storage-handbook"   # only ever written into hrefs
SITE_ENV = {"HANDBOOK_REPO_URL": REPO_URL, "HANDBOOK_EDIT_URI": "edit/main/docs/"}


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> tuple[Path, str]:
    """Build the site once with --strict; return (site_dir, build log)."""
    out = tmp_path_factory.mktemp("site")
    try:
        log = sitekit.build_site(out, env=SITE_ENV, timeout=600)
    except sitekit.SiteBuildError as e:
        pytest.fail(str(e), pytrace=False)
    return out, log


@pytest.fixture(scope="session")
def site_dir(site_build) -> Path:
    return site_build[0]
