"""What every lab shares: the ``lab`` marker and the Ceph fixtures.

Every test collected under tests/labs carries the ``lab`` marker (``pytest -m lab`` runs
the labs alone, ``-m "not lab"`` leaves them out).  The Ceph cluster and radosgw are
session fixtures defined here, so a test module only names them as arguments.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import ceph_fixtures

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ceph_fixtures.CephCluster]:
    """A running 1 mon + 1 mgr + 3 OSD cluster on 127.0.0.1, shared by the session."""
    yield from ceph_fixtures.cluster_session(tmp_path_factory)


@pytest.fixture(scope="session")
def ceph_rgw(ceph_cluster: ceph_fixtures.CephCluster) -> Iterator[ceph_fixtures.RadosGateway]:
    """radosgw on a free 127.0.0.1 port with user 'lab'; started only by the S3 tests."""
    yield from ceph_fixtures.rgw_session(ceph_cluster)
