"""Fuzz: `oncrpc.py rpcinfo` against a hostile portmapper on 127.0.0.1 (TCP and UDP).

Each case starts its own server thread with one behaviour: a valid or mutated reply, a reply
trickled byte by byte, endless empty fragments, a record length it never sends, garbage, a
denial, silence, a list longer than the client takes, a flood of replies to other calls.
The client runs with --timeout 0.5 and must end within the case deadline either way.
"""
from __future__ import annotations

import random
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

import fuzzkit
import oncrpc

SERVER_LIFETIME = 12.0


@pytest.fixture(scope="module")
def pool():
    p = fuzzkit.Pool()
    yield p
    p.close()


def accepted(xid: int) -> bytes:
    return struct.pack(">6I", xid, 1, 0, 0, 0, 0)


def pmaplist(rng: random.Random, n: int) -> bytes:
    out = b"".join(struct.pack(">I4I", 1, rng.choice([100000, 100003, 100005, rng.randrange(2**32)]),
                               rng.randrange(5), rng.choice([6, 17, 0, 2**32 - 1]), rng.randrange(65536))
                   for _ in range(n))
    return out + struct.pack(">I", 0)


def reply_for(xid: int, rng: random.Random, behaviour: str) -> bytes:
    if behaviour == "denied":
        return struct.pack(">5I", xid, 1, 1, rng.choice([0, 1, 7]), rng.randrange(16))
    if behaviour == "not-accepted":
        return struct.pack(">8I", xid, 1, 0, 0, 0, rng.randrange(8), 2, 4)
    body = accepted(xid) + pmaplist(rng, 70000 if behaviour == "big-list" else rng.randrange(0, 12))
    if behaviour == "wrong-xid":
        body = accepted(xid ^ 0x5A5A) + body[24:]
    if behaviour == "mutated":
        body = fuzzkit.mutate(body, rng, [(0, 48)], wide=rng.random() < 0.3)[0]
    return body


TCP = ["valid", "mutated", "mutated", "mutated", "trickle", "empty-fragments", "huge-length", "garbage", "close",
       "silence", "big-list", "denied", "not-accepted", "wrong-xid", "fragments"]
UDP = ["valid", "mutated", "mutated", "flood", "flood-then-valid", "garbage", "silence", "big-list", "denied"]


def serve_tcp(srv: socket.socket, rng: random.Random, behaviour: str) -> None:
    end = time.monotonic() + SERVER_LIFETIME
    srv.settimeout(SERVER_LIFETIME)
    try:
        conn, _ = srv.accept()
    except OSError:
        return
    with conn:
        conn.settimeout(SERVER_LIFETIME)
        try:
            call = oncrpc.read_record(conn)
            xid = struct.unpack(">I", call[:4])[0]
            reply = reply_for(xid, rng, behaviour)
            if behaviour in ("valid", "mutated", "big-list", "denied", "not-accepted", "wrong-xid"):
                conn.sendall(oncrpc.record_mark(reply))
            elif behaviour == "fragments":
                conn.sendall(oncrpc.record_mark(reply, rng.choice([1, 3, 7, 64])))
            elif behaviour == "trickle":
                for byte in oncrpc.record_mark(reply):
                    conn.sendall(bytes([byte]))
                    time.sleep(0.02)
            elif behaviour == "empty-fragments":
                while time.monotonic() < end:
                    conn.sendall(struct.pack(">I", 0))
            elif behaviour == "huge-length":
                conn.sendall(struct.pack(">I", rng.choice([0x7FFFFFFF, 0xFFFFFFFF, 64 << 20])) + reply)
                time.sleep(3)
            elif behaviour == "garbage":
                conn.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
            elif behaviour == "silence":
                time.sleep(3)
        except OSError:
            pass                                        # the client gave up: what it should do


def serve_udp(srv: socket.socket, rng: random.Random, behaviour: str) -> None:
    end = time.monotonic() + SERVER_LIFETIME
    srv.settimeout(SERVER_LIFETIME)
    try:
        call, peer = srv.recvfrom(65536)
    except OSError:
        return
    xid = struct.unpack(">I", call[:4])[0]
    try:
        if behaviour in ("valid", "mutated", "big-list", "denied"):
            srv.sendto(reply_for(xid, rng, behaviour)[:65507], peer)
        elif behaviour.startswith("flood"):
            other = accepted(xid ^ 1) + pmaplist(rng, 3)
            stop = time.monotonic() + (0.5 if behaviour == "flood-then-valid" else 3)
            while time.monotonic() < min(stop, end):
                srv.sendto(other, peer)
                time.sleep(0.001)
            if behaviour == "flood-then-valid":
                srv.sendto(reply_for(xid, rng, "valid"), peer)
        elif behaviour == "garbage":
            srv.sendto(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), peer)
    except OSError:
        pass


def rpc_case(rng: random.Random, d: Path) -> fuzzkit.Case:
    udp = rng.random() < 0.35
    behaviour = rng.choice(UDP if udp else TCP)
    if udp:
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("127.0.0.1", 0))
    else:
        srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run() -> None:
        with srv:
            (serve_udp if udp else serve_tcp)(srv, random.Random(rng.random()), behaviour)
    threading.Thread(target=run, daemon=True).start()
    argv = ["rpcinfo", "127.0.0.1", "--port", str(port), "--timeout", "0.5"] + (["--udp"] if udp else [])
    return fuzzkit.Case("oncrpc", argv, note=f"{'udp' if udp else 'tcp'} {behaviour}")


def test_fuzz_rpcinfo_against_a_hostile_portmapper(pool, tmp_path):
    report = fuzzkit.run_campaign("rpc", pool, tmp_path, rpc_case, count=60, share=0.05)
    assert not report.failures, report.message()
