"""A real one-node Ceph cluster (and radosgw) on 127.0.0.1 for the Ceph labs.

The cluster is started by hand, the way the Ceph docs' "manual deployment"
describes, but with every path inside a temporary directory:

1. ``monmaptool --create`` writes a monitor map with one monitor on a free
   loopback port, ``ceph-mon --mkfs`` creates its store, ``ceph-mon -f`` runs it;
2. ``ceph-mgr -f`` runs one manager;
3. for each of 3 OSDs, ``ceph osd new UUID`` allocates an id, ``ceph-osd --mkfs``
   formats a *memstore* object store (kept in RAM, so no disk is needed) and
   ``ceph-osd -f`` runs it.

Every daemon runs in the foreground as a child of pytest, so teardown stops
each one by its PID (SIGTERM, then SIGKILL), also when a test failed or the
start itself failed half-way.

Settings that differ from the defaults, and why (the pages quote them):

* ``auth ... = none``: no cephx keys to distribute in a throw-away lab;
  ``ms mon client mode = crc`` is then needed for radosgw to talk to the mon.
* ``osd crush chooseleaf type = 0``: the failure domain of the default rule is
  the OSD, because all three OSDs sit on one host (the default, host, would
  leave every PG undersized on a single node).
* ``mon max pg per osd = 1000``: radosgw creates seven pools of 32 PGs; with
  size 3 on three OSDs every PG lands on every OSD, above the default 250.
* ``mon data avail warn = 5``: the build machine's disk may be fuller than the
  30 % the monitor wants free; the warning would only be noise here.
* ``osd recovery sleep hdd = 0``: memstore OSDs count as hdd, and the 0.1 s
  sleep between recovery ops would make the recovery lab slow.
* ``mon osd reporter subtree level = osd``: failure reports of OSDs on the
  same host count separately (default: one vote per host).

The fixtures ``ceph_cluster`` and ``ceph_rgw`` (tests/labs/conftest.py) wrap
``cluster_session`` and ``rgw_session``; the cluster is started once and shared by
every module of the session (the reference count below also keeps it single if a
module ever imports the generators directly).

Run this file directly (``python tests/labs/ceph_fixtures.py``, as root) to start
a cluster, print its start-up time and ``ceph -s``, and stop it again.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import pytest

try:  # imported by the test modules (tests/labs on sys.path) or run directly
    import labkit
    from labkit import need_root, need_tools, wait_for
except ImportError:  # pragma: no cover - running the file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import labkit
    from labkit import need_root, need_tools, wait_for

NUM_OSDS = 3
START_BUDGET_S = 120.0          # the promise: serving in under two minutes
CEPH_TOOLS = ("monmaptool", "ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "rados", "rbd",
              "crushtool", "osdmaptool")
RGW_TOOLS = ("radosgw", "radosgw-admin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONF_TEMPLATE = """\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{v2},v1:127.0.0.1:{v1}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
ms mon client mode = crc
run dir = {root}/run
admin socket = {root}/run/$name.asok
pid file = {root}/run/$name.pid
log file = {root}/log/$name.log
mon data = {root}/mon/$name
mgr data = {root}/mgr/$name
osd data = {root}/osd/$id
keyring = {root}/keyring
mgr initial modules = iostat
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
osd pool default size = 3
osd pool default min size = 2
osd crush chooseleaf type = 0
mon allow pool delete = true
mon max pg per osd = 1000
mon data avail warn = 5
mon osd reporter subtree level = osd
osd recovery sleep hdd = 0

[client]
# every `ceph`/`rados`/`rbd` call is a client.admin process: one socket each
admin socket = {root}/run/$name.$pid.asok
"""


class CephCluster:
    """One mon, one mgr and NUM_OSDS memstore OSDs under ``root``."""

    def __init__(self, root: Path, memstore_bytes: int = 1 << 30) -> None:
        self.root = Path(root)
        self.fsid = str(uuid.uuid4())
        self.conf = self.root / "ceph.conf"
        self.memstore_bytes = memstore_bytes
        self.procs: dict[str, subprocess.Popen] = {}
        self.startup_seconds: float | None = None
        self.rgw: RadosGateway | None = None

    # -- running the client tools -------------------------------------------
    def tool(self, name: str, *args: str, check: bool = True, input: str | bytes | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``name -c CONF args...`` and return the completed process (text output)."""
        cmd = [name, "-c", str(self.conf), *args]
        binary = isinstance(input, bytes)
        # errors="surrogateescape": Ceph 16.2's JSON formatter writes characters outside the
        # BMP (emoji) as UTF-8-encoded surrogate pairs, which strict UTF-8 rejects
        proc = subprocess.run(cmd, input=input, capture_output=True, text=not binary,
                              errors=None if binary else "surrogateescape", timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    def ceph(self, *args: str, **kw: Any) -> str:
        """stdout of ``ceph -c CONF args...``."""
        return self.tool("ceph", *args, **kw).stdout

    def ceph_json(self, *args: str) -> Any:
        """Parsed ``ceph -c CONF args... --format json``."""
        return json.loads(self.ceph(*args, "--format", "json"))

    def rados(self, *args: str, **kw: Any) -> str:
        return self.tool("rados", *args, **kw).stdout

    def rbd(self, *args: str, **kw: Any) -> str:
        return self.tool("rbd", *args, **kw).stdout

    # -- daemons -------------------------------------------------------------
    def _spawn(self, key: str, cmd: list[str]) -> subprocess.Popen:
        out = open(self.root / "log" / f"{key}.stdout", "ab")
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        self.procs[key] = proc
        _LIVE_PROCS.add(proc)
        return proc

    def start(self) -> None:
        t0 = time.monotonic()
        for sub in ("run", "log", "mon", "mgr/mgr.x", "osd"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        v2, v1 = free_port(), free_port()
        self.conf.write_text(CONF_TEMPLATE.format(
            fsid=self.fsid, v2=v2, v1=v1, root=self.root, memstore_bytes=self.memstore_bytes))
        monmap = self.root / "monmap"
        _check(["monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                f"[v2:127.0.0.1:{v2},v1:127.0.0.1:{v1}]", str(monmap)])
        _check(["ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a", "--monmap", str(monmap)])
        self._spawn("mon.a", ["ceph-mon", "-c", str(self.conf), "-i", "a", "-f"])
        wait_for(lambda: self.tool("ceph", "mon", "stat", check=False, timeout=10).returncode == 0,
                 timeout=30, what="ceph-mon to answer")
        self._spawn("mgr.x", ["ceph-mgr", "-c", str(self.conf), "-i", "x", "-f"])
        for _ in range(NUM_OSDS):
            self.add_osd()
        self.wait_osds_up(NUM_OSDS, timeout=60)
        wait_for(lambda: self.ceph_json("mgr", "stat").get("available"), timeout=60,
                 what="ceph-mgr to become available")
        self.wait_clean(timeout=60)
        self.startup_seconds = time.monotonic() - t0
        print(f"\nCeph 16.2 one-node lab cluster serving after {self.startup_seconds:.1f} s "
              f"(1 mon, 1 mgr, {NUM_OSDS} memstore OSDs, {self.root})", file=sys.stderr)

    def add_osd(self) -> int:
        """What ceph-volume does for a new disk, minus the disk: id, mkfs, start."""
        osd_uuid = str(uuid.uuid4())
        osd_id = int(self.ceph("osd", "new", osd_uuid).strip())
        (self.root / "osd" / str(osd_id)).mkdir()
        _check(["ceph-osd", "-c", str(self.conf), "-i", str(osd_id), "--mkfs",
                "--osd-uuid", osd_uuid])
        self.start_osd(osd_id)
        return osd_id

    def start_osd(self, osd_id: int) -> subprocess.Popen:
        return self._spawn(f"osd.{osd_id}",
                           ["ceph-osd", "-c", str(self.conf), "-i", str(osd_id), "-f"])

    def osd_pid(self, osd_id: int) -> int:
        return self.procs[f"osd.{osd_id}"].pid

    def kill_osd(self, osd_id: int, sig: int = signal.SIGKILL) -> int:
        """Kill one OSD by its PID (a crash: no goodbye to the monitor); return the PID."""
        proc = self.procs[f"osd.{osd_id}"]
        proc.send_signal(sig)
        proc.wait(timeout=30)
        _LIVE_PROCS.discard(proc)
        return proc.pid

    def osd_running(self, osd_id: int) -> bool:
        proc = self.procs.get(f"osd.{osd_id}")
        return proc is not None and proc.poll() is None

    # -- waiting -------------------------------------------------------------
    def osd_counts(self) -> tuple[int, int, int]:
        """(num_osds, num_up_osds, num_in_osds) from ``ceph osd stat``."""
        st = self.ceph_json("osd", "stat")
        return st["num_osds"], st["num_up_osds"], st["num_in_osds"]

    def wait_osds_up(self, n: int, timeout: float = 60) -> None:
        wait_for(lambda: self.osd_counts()[1:] == (n, n), timeout=timeout,
                 what=f"{n} OSDs up and in")

    def pg_states(self) -> dict[str, int]:
        """{'active+clean': 12, ...} from ``ceph pg stat --format json``."""
        summary = self.ceph_json("pg", "stat")["pg_summary"]
        return {s["name"]: s["num"] for s in summary.get("num_pg_by_state", [])}

    def all_clean(self) -> bool:
        summary = self.ceph_json("pg", "stat")["pg_summary"]
        states = {s["name"]: s["num"] for s in summary.get("num_pg_by_state", [])}
        return states.get("active+clean", 0) == summary["num_pgs"]

    def wait_clean(self, timeout: float = 90) -> None:
        wait_for(self.all_clean, timeout=timeout, interval=0.5,
                 what="every PG active+clean (`ceph pg stat`)")

    # -- teardown ------------------------------------------------------------
    def stop(self) -> None:
        """Stop every daemon we started, by PID: radosgw and OSDs first, mon last."""
        rank = {"rgw": 0, "osd": 1, "mgr": 2, "mon": 3}
        for key in sorted(self.procs, key=lambda k: (rank[k.split(".")[0]], k)):
            # radosgw waits long for in-flight requests on SIGTERM; 2 s is plenty here
            labkit.stop(self.procs[key], grace=2.0 if key.startswith("rgw.") else 8.0)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of every daemon log, for failure messages."""
        out = []
        for log in sorted((self.root / "log").glob("*")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)


class RadosGateway:
    """radosgw (beast frontend) on a loopback port, with one S3 user."""

    ACCESS_KEY = "LABACCESSKEY0000"
    SECRET_KEY = "lab-secret-key-not-for-production"

    def __init__(self, cluster: CephCluster) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.startup_seconds: float | None = None

    def start(self) -> None:
        t0 = time.monotonic()
        c = self.cluster
        data = c.root / "rgw"
        data.mkdir(exist_ok=True)
        c._spawn("rgw.lab", ["radosgw", "-c", str(c.conf), "-n", "client.rgw.lab", "-f",
                             f"--rgw-frontends=beast endpoint=127.0.0.1:{self.port}",
                             f"--rgw-data={data}"])

        def answers() -> bool:
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                if c.procs["rgw.lab"].poll() is not None:
                    raise AssertionError("radosgw exited:\n" + c.log_tail())
                return False

        wait_for(answers, timeout=60, interval=0.5, what="radosgw to answer HTTP")
        c.tool("radosgw-admin", "user", "create", "--uid=lab", "--display-name=Lab user",
               f"--access-key={self.ACCESS_KEY}", f"--secret={self.SECRET_KEY}")
        self.startup_seconds = time.monotonic() - t0

    def s3(self):
        """A boto3 S3 client for the lab user (SigV4, path-style addressing)."""
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.ACCESS_KEY, aws_secret_access_key=self.SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 2}))


# -- process helpers ----------------------------------------------------------
_LIVE_PROCS: set[subprocess.Popen] = set()   # every daemon spawned; labkit.stop() reaps them


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if pytest dies before fixture teardown: SIGKILL our own PIDs."""
    for proc in list(_LIVE_PROCS):
        if proc.poll() is None:          # not reaped yet: the PID is still ours
            proc.kill()


def _check(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                             f"{proc.stdout}\n{proc.stderr}")


# -- the shared, reference-counted instances ----------------------------------
class _Shared:
    def __init__(self) -> None:
        self.value: Any = None
        self.users = 0
        self.error: BaseException | None = None


_CLUSTER = _Shared()
_RGW = _Shared()


def _acquire(slot: _Shared, make: Callable[[], Any]) -> Any:
    if slot.error is not None:   # do not retry a start that already failed this session
        raise AssertionError(f"the lab failed to start earlier: {slot.error}")
    if slot.value is None:
        try:
            slot.value = make()
        except BaseException as exc:
            slot.error = exc
            raise
    slot.users += 1
    return slot.value


def _release(slot: _Shared, stop: Callable[[Any], None]) -> None:
    slot.users -= 1
    if slot.users == 0 and slot.value is not None:
        value, slot.value = slot.value, None
        stop(value)


def _make_cluster(root: Path) -> CephCluster:
    cluster = CephCluster(root)
    try:
        cluster.start()
    except BaseException as exc:
        logs = cluster.log_tail()
        cluster.stop()
        raise AssertionError(f"Ceph lab cluster failed to start: {exc}\n{logs}") from exc
    return cluster


def cluster_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    """A running 1 mon + 1 mgr + 3 OSD cluster on 127.0.0.1, shared by the session."""
    need_root()
    need_tools(*CEPH_TOOLS)
    cluster = _acquire(_CLUSTER, lambda: _make_cluster(tmp_path_factory.mktemp("ceph")))
    try:
        yield cluster
    finally:
        _release(_CLUSTER, lambda c: c.stop())


def _make_rgw(cluster: CephCluster) -> RadosGateway:
    rgw = RadosGateway(cluster)
    try:
        rgw.start()
    except BaseException:
        proc = cluster.procs.get("rgw.lab")
        if proc is not None:
            labkit.stop(proc, grace=8.0)
        raise
    cluster.rgw = rgw
    return rgw


def rgw_session(ceph_cluster: CephCluster) -> Iterator[RadosGateway]:
    """radosgw on a free 127.0.0.1 port with user 'lab'; started only by the S3 tests."""
    need_tools(*RGW_TOOLS)
    rgw = _acquire(_RGW, lambda: _make_rgw(ceph_cluster))
    try:
        yield rgw
    finally:
        def stop_rgw(r: RadosGateway) -> None:
            proc = r.cluster.procs.get("rgw.lab")
            if proc is not None:
                labkit.stop(proc, grace=2.0)
        _release(_RGW, stop_rgw)


if __name__ == "__main__":  # manual smoke run: start, show, stop
    if os.geteuid() != 0:
        sys.exit("run as root")
    tmp = Path(tempfile.mkdtemp(prefix="ceph-lab-"))
    c = CephCluster(tmp)
    try:
        c.start()
        print(c.ceph("-s"))
        if "--rgw" in sys.argv:
            g = RadosGateway(c)
            g.start()
            print(f"radosgw on {g.endpoint} after {g.startup_seconds:.1f} s")
        if "--hold" in sys.argv:
            print(f"conf: {c.conf}; press Enter to stop")
            input()
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
