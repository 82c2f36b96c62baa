"""Fixtures for the network-storage labs: rpcbind, nfs-ganesha and tgtd on loopback.

Every daemon runs inside a private network namespace that holds only the
loopback interface, plus a private mount namespace with a tmpfs on /run.  So

* nothing listens on the machine's real interfaces (only 127.0.0.1 exists);
* rpcbind's state files (/run/rpcbind/*.xdr, /run/rpcbind.sock, .lock) and
  tgtd's control socket live in that tmpfs and vanish with the namespace:
  the lab leaves no state behind on the host.

Commands are run inside the namespaces with ``nsenter``; daemons are started
in the foreground and stopped by PID in teardown, even when a test fails.

Two facts measured on this machine shape the setup:

* rpcbind 1.2.6 (Debian 12) aborts with "free(): double free detected" when
  started with ``-h 127.0.0.1``, so it is started without ``-h``: inside the
  namespace its wildcard sockets can only be reached over loopback.
* nfs-ganesha 4.3 still listens on the wildcard address (``ss`` shows
  ``*:2049``) although ``Bind_addr = 127.0.0.1`` is set; the namespace is what
  keeps it on loopback.
* nfs-ganesha 4.3 refuses ``Bind_addr = 127.0.0.1`` with "No IP address found
  for 127.0.0.1" when 127.0.0.1 is the only address of the namespace; a second
  loopback address (127.0.0.2/8 on lo) makes the name lookup succeed.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from collections.abc import Iterator, Sequence

import labkit
from labkit import need_root, need_tools, run, wait_for

REPO = Path(__file__).resolve().parents[2]
SNIPPETS = REPO / "snippets"
PYTHON = sys.executable

_NS_SETUP = """
set -e
ip link set lo up
ip addr add 127.0.0.2/8 dev lo
mount -t tmpfs -o mode=0755 lab-run /run
mkdir -m 0755 /run/rpcbind
chown _rpc /run/rpcbind 2>/dev/null || true
touch "$1"
exec sleep 100000
"""


class LoopbackNamespace:
    """A network + mount namespace with only loopback and a private tmpfs /run."""

    def __init__(self, workdir: Path) -> None:
        need_root()
        need_tools("unshare", "nsenter", "ip", "ss")
        self.workdir = Path(workdir)
        self.daemons: list[subprocess.Popen] = []
        ready = self.workdir / "ns.ready"
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--",
             "sh", "-c", _NS_SETUP, "ns-setup", str(ready)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: ready.exists() or self.holder.poll() is not None,
                     timeout=15, what="network namespace setup")
            if not ready.exists():
                raise AssertionError("namespace setup failed: " + self.holder.stderr.read().decode())
        except BaseException:
            labkit.stop(self.holder)
            raise

    def prefix(self) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", "-m", f"--wd={self.workdir}", "--"]

    def run(self, cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
        return run(self.prefix() + list(cmd), **kw)

    def snippet(self, name: str, *args: str, **kw) -> subprocess.CompletedProcess:
        """Run snippets/NAME.py inside the namespace with this test's Python."""
        return self.run([PYTHON, str(SNIPPETS / name), *args], **kw)

    def python(self, code: str, **kw) -> subprocess.CompletedProcess:
        """Run a few lines of Python inside the namespace, with snippets/ importable."""
        return self.run([PYTHON, "-c", f"import sys; sys.path.insert(0, {str(SNIPPETS)!r})\n" + code], **kw)

    def spawn(self, cmd: Sequence[str], log: Path) -> subprocess.Popen:
        """Start a foreground daemon in the namespace; nsenter execs it, so the PID is the daemon's."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.prefix() + list(cmd), stdout=out, stderr=subprocess.STDOUT)
        self.daemons.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        labkit.stop(proc)
        if proc in self.daemons:
            self.daemons.remove(proc)

    def close(self) -> None:
        for proc in reversed(self.daemons):
            labkit.stop(proc)
        self.daemons.clear()
        labkit.stop(self.holder)


@contextlib.contextmanager
def loopback_namespace(workdir: Path) -> Iterator[LoopbackNamespace]:
    ns = LoopbackNamespace(workdir)
    try:
        yield ns
    finally:
        ns.close()


# ---------------------------------------------------------------- rpcbind

def start_rpcbind(ns: LoopbackNamespace, warm: bool = False) -> subprocess.Popen:
    """rpcbind -f (foreground; it switches to user _rpc itself); -w reads the saved state."""
    need_tools("rpcbind", "rpcinfo")
    proc = ns.spawn(["rpcbind", "-f"] + (["-w"] if warm else []), ns.workdir / "rpcbind.log")
    wait_for(lambda: proc.poll() is not None or
             ns.run(["rpcinfo", "-p", "127.0.0.1"], check=False).returncode == 0,
             timeout=15, what="rpcbind answering on 127.0.0.1:111")
    assert proc.poll() is None, (ns.workdir / "rpcbind.log").read_text()
    return proc


# ---------------------------------------------------------------- nfs-ganesha

def ganesha_plugins_dir() -> str:
    """Where Debian installs the FSAL plugins (multiarch path, e.g. /usr/lib/x86_64-linux-gnu/ganesha)."""
    found = sorted(Path("/usr/lib").glob("*/ganesha/libfsalvfs.so")) + \
        sorted(Path("/usr/lib").glob("ganesha/libfsalvfs.so"))
    if not found:
        raise AssertionError("libfsalvfs.so not found: install nfs-ganesha-vfs")
    return str(found[0].parent)


def ganesha_config(workdir: Path, exports: Sequence[dict]) -> str:
    """A ganesha.conf: NFSv3 + v4 on 127.0.0.1, no NLM/RQUOTA, recovery dir in workdir.

    Each export dict has: id, path, pseudo, and clients (a list of client
    specs; an empty list means an EXPORT without a CLIENT block).
    """
    blocks = [f"""NFS_CORE_PARAM {{
  Bind_addr = 127.0.0.1;
  Protocols = 3, 4;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  mount_path_pseudo = true;
  Plugins_Dir = {ganesha_plugins_dir()};
}}
NFSV4 {{
  RecoveryRoot = {workdir}/recovery;
  Graceless = true;
}}
NFS_KRB5 {{ Active_krb5 = false; }}
LOG {{ Default_Log_Level = EVENT; }}
"""]
    for e in exports:
        clients = "".join(
            f"  CLIENT {{ Clients = {c}; Access_Type = RW; }}\n" for c in e["clients"])
        access = "None" if e["clients"] else "RO"
        blocks.append(f"""EXPORT {{
  Export_Id = {e['id']};
  Path = {e['path']};
  Pseudo = {e['pseudo']};
  Access_Type = {access};
  Squash = Root_Squash;
  SecType = sys;
  Protocols = 3, 4;
  Transports = TCP, UDP;
{clients}  FSAL {{ Name = VFS; }}
}}
""")
    return "\n".join(blocks)


def start_ganesha(ns: LoopbackNamespace, exports: Sequence[dict], tag: str = "ganesha") -> subprocess.Popen:
    """ganesha.nfsd -F (foreground) with the given exports; waits until MOUNT is registered."""
    need_tools("ganesha.nfsd", "showmount")
    wd = ns.workdir
    (wd / "recovery").mkdir(exist_ok=True)
    conf = wd / f"{tag}.conf"
    conf.write_text(ganesha_config(wd, exports))
    log = wd / f"{tag}.log"
    proc = ns.spawn(["ganesha.nfsd", "-F", "-f", str(conf), "-L", str(log),
                     "-p", str(wd / f"{tag}.pid")], wd / f"{tag}.stdout")

    def registered() -> bool:
        if proc.poll() is not None:
            return True
        return {"100003", "100005"} <= registered_programs(ns)

    wait_for(registered, timeout=30, what="ganesha registering MOUNT and NFS with rpcbind")
    assert proc.poll() is None, f"ganesha exited:\n{log.read_text() if log.exists() else ''}"
    return proc


def registered_programs(ns: LoopbackNamespace) -> set[str]:
    """Program numbers in the first column of `rpcinfo -p 127.0.0.1`."""
    out = ns.run(["rpcinfo", "-p", "127.0.0.1"], check=False).stdout
    return {line.split()[0] for line in out.splitlines()[1:] if line.split()}


def stop_ganesha_and_unregister(ns: LoopbackNamespace, proc: subprocess.Popen) -> None:
    """Stop ganesha by PID and wait until rpcbind has forgotten its programs."""
    ns.stop(proc)

    def gone() -> bool:
        return not {"100003", "100005"} & registered_programs(ns)

    wait_for(gone, timeout=15, what="ganesha's programs leaving rpcbind")


# ---------------------------------------------------------------- tgtd

def start_tgtd(ns: LoopbackNamespace) -> subprocess.Popen:
    """tgtd -f bound to 127.0.0.1:3260 only."""
    need_tools("tgtd", "tgtadm")
    proc = ns.spawn(["tgtd", "-f", "--iscsi", "portal=127.0.0.1:3260"], ns.workdir / "tgtd.log")
    wait_for(lambda: proc.poll() is not None or
             ns.run(["tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "target"],
                    check=False).returncode == 0,
             timeout=15, what="tgtd control socket")
    assert proc.poll() is None, (ns.workdir / "tgtd.log").read_text()
    return proc


def stop_tgtd(ns: LoopbackNamespace, proc: subprocess.Popen, tids: Sequence[int]) -> None:
    """tgtd ignores SIGTERM while targets exist: delete them, then the system; SIGKILL as last resort."""
    for tid in tids:
        ns.run(["tgtadm", "--lld", "iscsi", "--op", "delete", "--force", "--mode", "target",
                "--tid", str(tid)], check=False)
    ns.run(["tgtadm", "--op", "delete", "--mode", "system"], check=False)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    ns.stop(proc)

