"""NFS lab: rpcbind and nfs-ganesha (FSAL VFS) on loopback, spoken to by snippets/oncrpc.py.

What it proves:

* `python snippets/oncrpc.py rpcinfo 127.0.0.1` prints byte for byte what
  `rpcinfo -p 127.0.0.1` prints, on rpcbind alone with many generated
  registrations (edge cases: program and version 2**32-1, port 0 and 65535,
  programs with and without a name in /etc/rpc) and with ganesha registered;
* `python snippets/oncrpc.py showmount 127.0.0.1` prints what
  `showmount -e 127.0.0.1` prints, for generated ganesha export lists;
* our NFSv3 client (MOUNT MNT -> file handle, LOOKUP, READ) reads files whose
  bytes equal the files on the server.  The kernel of this machine has no NFS
  client, so `mount -t nfs` cannot run here; the Python client is the proof
  that the server really serves the file.
"""
from __future__ import annotations

import hashlib
import random

import pytest

from nfs_fixtures import (PYTHON, SNIPPETS, loopback_namespace, registered_programs, start_ganesha,
                          start_rpcbind, stop_ganesha_and_unregister)



def _same(ns, real_cmd, ours_args):
    real = ns.run(real_cmd)
    ours = ns.snippet("oncrpc.py", *ours_args)
    assert ours.stdout == real.stdout, f"\n--- real\n{real.stdout}\n--- ours\n{ours.stdout}"
    return real.stdout


@pytest.fixture(scope="module")
def nfs_lab(tmp_path_factory):
    """rpcbind + ganesha exporting a temp dir with a text file and a multi-READ binary file."""
    wd = tmp_path_factory.mktemp("nfs")
    export = wd / "export"
    (export / "sub" / "dir").mkdir(parents=True)
    (export / "hello.txt").write_text("hello over NFSv3\n")
    rng = random.Random(5531)
    blob = bytes(rng.getrandbits(8) for _ in range(300_000))     # 5 READs of 64 KiB
    (export / "sub" / "dir" / "blob.bin").write_bytes(blob)
    (export / "empty").write_bytes(b"")
    with loopback_namespace(wd) as ns:
        start_rpcbind(ns)
        ganesha = start_ganesha(ns, [{"id": 1, "path": export, "pseudo": "/export",
                                      "clients": ["127.0.0.1"]}])
        yield ns, export, ganesha


@pytest.mark.twin
def test_rpcinfo_equals_real_rpcinfo_on_rpcbind_alone_with_generated_registrations(tmp_path):
    """rpcbind alone (no ganesha): register random mappings with PMAPPROC_SET and compare after each round."""
    rng = random.Random(1833)
    known = [100000, 100003, 100005, 100021, 100024, 100227, 150001, 300019, 545580417, 788585389]
    edges = [(4294967295, 4294967295, 6, 65535), (0, 0, 17, 0), (100024, 1, 17, 1),
             (1, 4294967295, 6, 65535)]
    with loopback_namespace(tmp_path) as ns:
        # before rpcbind runs, both fail; ours with a message and status 2, never a traceback
        down = ns.snippet("oncrpc.py", "rpcinfo", "127.0.0.1", check=False)
        assert down.returncode == 2 and "Connection refused" in down.stderr and "Traceback" not in down.stderr
        assert ns.run(["rpcinfo", "-p", "127.0.0.1"], check=False).returncode != 0
        start_rpcbind(ns)
        first = _same(ns, ["rpcinfo", "-p", "127.0.0.1"], ["rpcinfo", "127.0.0.1"])
        assert first.splitlines()[0] == "   program vers proto   port  service"
        registered = []
        for round_no in range(6):
            batch = edges if round_no == 0 else [
                (rng.choice(known) if rng.random() < 0.5 else rng.randrange(2**32),
                 rng.randrange(1, 6) if rng.random() < 0.8 else rng.randrange(2**32),
                 rng.choice([6, 17]), rng.randrange(65536)) for _ in range(rng.randrange(1, 8))]
            if round_no == 4:           # drop some again with UNSET (removes every transport)
                batch = []
                gone = [(m[0], m[1], 0, 0) for m in rng.sample(registered, k=min(3, len(registered)))]
                ns.python("import oncrpc as o\n"
                          f"for m in {gone!r}: o.pmap_set('127.0.0.1', o.Mapping(*m), unset=True)")
            out = ns.python("import oncrpc as o\n"
                            f"for m in {batch!r}: print(o.pmap_set('127.0.0.1', o.Mapping(*m)))").stdout
            registered += [m for m, ok in zip(batch, out.split()) if ok == "True"]
            text = _same(ns, ["rpcinfo", "-p", "127.0.0.1"], ["rpcinfo", "127.0.0.1"])
        assert "42949672954294967295   tcp  65535" in text      # %10ld%5ld runs together at 10 digits
        assert len(text.splitlines()) > 10


def test_rpcbind_saves_state_on_exit_and_warm_start_restores_it(tmp_path):
    """rpcbind(8): the state file is written when rpcbind terminates; -w reads it back."""
    line = "    300123    1   tcp   4242"
    with loopback_namespace(tmp_path) as ns:
        rb = start_rpcbind(ns)
        ns.python("import oncrpc as o\nassert o.pmap_set('127.0.0.1', o.Mapping(300123, 1, 6, 4242))")
        assert line in ns.run(["rpcinfo", "-p", "127.0.0.1"]).stdout
        ns.stop(rb)
        assert sorted(ns.run(["ls", "/run/rpcbind"]).stdout.split()) == ["portmap.xdr", "rpcbind.xdr"]
        rb = start_rpcbind(ns, warm=True)
        assert line in ns.run(["rpcinfo", "-p", "127.0.0.1"]).stdout      # warm start: still registered
        ns.stop(rb)
        start_rpcbind(ns)                                                  # cold start: forgotten
        assert line not in ns.run(["rpcinfo", "-p", "127.0.0.1"]).stdout


@pytest.mark.twin
def test_rpcinfo_equals_real_rpcinfo_with_ganesha_registered(nfs_lab):
    ns, _, _ = nfs_lab
    text = _same(ns, ["rpcinfo", "-p", "127.0.0.1"], ["rpcinfo", "127.0.0.1"])
    # ganesha registers NFS v3 and v4 on 2049 and MOUNT v1 and v3 on a port of its choice
    assert "    100003    3   tcp   2049  nfs" in text
    assert "    100003    4   tcp   2049  nfs" in text
    assert "    100005    3   tcp" in text


def test_udp_and_tcp_transports_give_the_same_answers(nfs_lab):
    """One datagram per message over UDP, record marking over TCP (RFC 5531 section 11): same results."""
    ns, _, _ = nfs_lab
    out = ns.python("import oncrpc as o\n"
                    "tcp = o.unpack_pmaplist(o.rpc_call('127.0.0.1', 111, 100000, 2, 4, proto='tcp'))\n"
                    "udp = o.unpack_pmaplist(o.rpc_call('127.0.0.1', 111, 100000, 2, 4, proto='udp'))\n"
                    "print(tcp == udp, len(tcp))\n"
                    "o.rpc_call('127.0.0.1', 2049, 100003, 3, 0, proto='udp')\n"     # NFSv3 NULL over UDP
                    "print('null ok')\n").stdout.split()
    assert out[0] == "True" and int(out[1]) >= 14 and out[2:] == ["null", "ok"]


def test_getport_answers_like_the_table(nfs_lab):
    ns, _, _ = nfs_lab
    out = ns.python("import oncrpc as o\n"
                    "print(o.pmap_getport('127.0.0.1', 100003, 3), o.pmap_getport('127.0.0.1', 100003, 4),"
                    " o.pmap_getport('127.0.0.1', 100099, 1))").stdout.split()
    assert out == ["2049", "2049", "0"]      # 0 = not registered (RFC 1833 section 3.2)


@pytest.mark.twin
def test_showmount_equals_real_showmount(nfs_lab):
    ns, _, _ = nfs_lab
    text = _same(ns, ["showmount", "-e", "127.0.0.1"], ["showmount", "127.0.0.1"])
    assert text.startswith("Export list for 127.0.0.1:\n/export ")


@pytest.mark.twin
def test_showmount_equals_real_showmount_for_generated_export_lists(tmp_path):
    """Restart ganesha with random export lists (lengths, client lists, none) and compare each time."""
    rng = random.Random(1813)
    client_pool = ["10.0.0.0/8", "192.168.122.0/24", "198.51.100.7", "203.0.113.0/25"]
    with loopback_namespace(tmp_path) as ns:
        start_rpcbind(ns)
        for round_no in range(5):
            exports = []
            for i in range(1, rng.randrange(2, 5)):
                d = tmp_path / f"r{round_no}e{i}"
                d.mkdir()
                pseudo = "/" + "/".join("x" * rng.randrange(1, 12) + str(j) for j in range(rng.randrange(1, 3)))
                # ganesha lists only exports the asking client (127.0.0.1) may use, so every
                # export either names 127.0.0.1 among others or has no CLIENT block (RO for all)
                clients = [] if rng.random() < 0.25 else ["127.0.0.1"] + rng.sample(client_pool, k=rng.randrange(0, 4))
                exports.append({"id": i, "path": d, "pseudo": f"{pseudo}{i}", "clients": clients})
            proc = start_ganesha(ns, exports, tag=f"ganesha{round_no}")
            try:
                text = _same(ns, ["showmount", "-e", "127.0.0.1"], ["showmount", "127.0.0.1"])
                assert len(text.splitlines()) == len(exports) + 1
            finally:
                stop_ganesha_and_unregister(ns, proc)


def test_nfs3_client_reads_files_byte_for_byte(nfs_lab):
    """MNT /export -> root handle; LOOKUP each component; READ in 64 KiB pieces until eof."""
    ns, export, _ = nfs_lab
    for rel in ["hello.txt", "sub/dir/blob.bin", "empty"]:
        out = ns.run(["sh", "-c", f"{PYTHON} {SNIPPETS / 'oncrpc.py'} cat 127.0.0.1 /export {rel}"
                                  " | sha256sum"])
        expected = hashlib.sha256((export / rel).read_bytes()).hexdigest()
        assert out.stdout.split()[0] == expected, rel
    text = ns.snippet("oncrpc.py", "cat", "127.0.0.1", "/export", "hello.txt").stdout
    assert text == "hello over NFSv3\n"


def test_nfs3_null_and_missing_file_errors(nfs_lab):
    ns, _, _ = nfs_lab
    out = ns.python("import oncrpc as o\n"
                    "o.nfs3_null('127.0.0.1')\n"
                    "fh = o.mount_mnt('127.0.0.1', '/export')\n"
                    "print(len(fh) <= 64)\n"                   # fhandle3 is opaque<FHSIZE3 = 64> (RFC 1813 appendix I)
                    "try:\n"
                    "    o.nfs3_lookup('127.0.0.1', fh, 'no-such-file')\n"
                    "except ValueError as e:\n"
                    "    print(e)\n").stdout.splitlines()
    assert out == ["True", "LOOKUP 'no-such-file' failed: nfsstat3 2"]     # NFS3ERR_NOENT = 2
    bad = ns.snippet("oncrpc.py", "cat", "127.0.0.1", "/nowhere", "x", check=False)
    assert bad.returncode == 2 and "MNT /nowhere failed" in bad.stderr and "Traceback" not in bad.stderr


def test_nfsv4_needs_only_port_2049(nfs_lab):
    """NFSv4 is one program on one port: the v4 entry is TCP 2049, no MOUNT needed (RFC 7530 section 3.1)."""
    ns, _, _ = nfs_lab
    assert {"100000", "100003", "100005"} <= registered_programs(ns)
    out = ns.run(["ss", "-ltn"]).stdout
    assert ":2049 " in out

