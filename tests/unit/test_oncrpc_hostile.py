"""snippets/oncrpc.py against a hostile server on 127.0.0.1: every call ends, memory stays bounded.

Each server here misbehaves in one way RFC 5531 does not forbid outright (slow
replies, empty fragments, replies to other calls, endless lists and files); the
client must give up with one line naming the problem, within its time limit.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

import oncrpc as o

PMAP_DUMP_OK = struct.pack(">I4II", 1, 100000, 2, 6, 111, 0)


def accepted(xid: int) -> bytes:
    """REPLY, MSG_ACCEPTED, verifier AUTH_NONE, SUCCESS (RFC 5531 section 9)."""
    return struct.pack(">6I", xid, 1, 0, 0, 0, 0)


def tcp_server(behaviour) -> int:
    srv = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        with srv:
            srv.settimeout(20)
            conn, _ = srv.accept()
            with conn:
                call = o.read_record(conn)
                try:
                    behaviour(conn, struct.unpack(">I", call[:4])[0])
                except OSError:
                    pass                         # the client gave up and closed: that is the point
    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def timed_call(port: int, proto: str = "tcp", timeout: float = 0.6):
    start = time.monotonic()
    with pytest.raises((OSError, ValueError)) as err:
        o.pmap_dump("127.0.0.1", port, proto, timeout=timeout)
    return time.monotonic() - start, str(err.value)


def test_a_reply_trickled_byte_by_byte_hits_the_deadline_of_the_call():
    """One byte every 50 ms: each recv would succeed, so a per-recv timeout never fires."""
    def trickle(conn, xid):
        for byte in o.record_mark(accepted(xid) + PMAP_DUMP_OK):
            conn.sendall(bytes([byte]))
            time.sleep(0.05)
    elapsed, message = timed_call(tcp_server(trickle))
    assert "no reply within 0.6 s" in message and elapsed < 3


def test_endless_empty_fragments_are_counted():
    def empties(conn, xid):
        while True:
            conn.sendall(struct.pack(">I", 0))       # length 0, not the last fragment
            time.sleep(0.001)
    elapsed, message = timed_call(tcp_server(empties), timeout=5)
    assert f"more than {o.MAX_EMPTY_FRAGMENTS} empty fragments in one RPC record" in message
    assert elapsed < 3


def test_a_udp_flood_of_wrong_xids_hits_the_deadline():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def flood() -> None:
        with srv:
            srv.settimeout(20)
            call, peer = srv.recvfrom(65536)
            (xid,) = struct.unpack(">I", call[:4])
            while not stop.is_set():
                srv.sendto(accepted(xid ^ 1) + PMAP_DUMP_OK, peer)
                time.sleep(0.002)
    threading.Thread(target=flood, daemon=True).start()
    try:
        elapsed, message = timed_call(srv.getsockname()[1], "udp", timeout=0.6)
    finally:
        stop.set()
    assert "no reply within 0.6 s" in message and elapsed < 3


def test_a_portmapper_list_longer_than_the_bound_is_refused():
    body = struct.pack(">I4I", 1, 100000, 2, 6, 111) * (o.MAX_LIST + 1) + struct.pack(">I", 0)
    with pytest.raises(ValueError, match=f"lists more than {o.MAX_LIST} mappings"):
        o.unpack_pmaplist(o.Unpacker(body))

    def big(conn, xid):
        conn.sendall(o.record_mark(accepted(xid) + body))
    _, message = timed_call(tcp_server(big), timeout=10)
    assert f"lists more than {o.MAX_LIST} mappings" in message


def test_cat_stops_when_the_server_never_says_eof(monkeypatch):
    monkeypatch.setattr(o, "mount_mnt", lambda host, export: b"root")
    monkeypatch.setattr(o, "pmap_getport", lambda *args: 2049)
    monkeypatch.setattr(o, "nfs3_lookup", lambda host, fh, name, port: b"file")
    monkeypatch.setattr(o, "nfs3_read", lambda host, fh, offset, count, port: (b"x" * count, False))
    with pytest.raises(ValueError, match=r"READ of f gave 1048576 bytes without eof; stopped at the "
                                         r"limit of 1048576 bytes"):
        o.nfs3_cat("127.0.0.1", "/export", "f", limit=1 << 20)


def test_names_from_the_server_are_printed_escaped():
    text = o.format_showmount("srv", [("/srv/\x1b]0;pwned\x07a", ["h\x9b1", "ok"]), ("/b", [])])
    assert text == ("Export list for srv:\n"
                    "/srv/\\x1b]0;pwned\\x07a h\\x9b1,ok\n"
                    "/b                     (everyone)\n")
    assert all(c.isprintable() for line in text.splitlines() for c in line)
