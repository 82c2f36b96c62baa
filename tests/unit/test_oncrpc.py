"""snippets/oncrpc.py without a server: XDR, RPC message layout, record marking, output formats.

Expected bytes are written out by hand from RFC 4506 (XDR), RFC 5531 (RPC
message, record marking) and RFC 1833 (portmapper).  The comparison with the
real rpcinfo/showmount and a real NFS server is in tests/labs/test_nfs.py.
"""
from __future__ import annotations

import socket
import struct
import threading

import pytest
from hypothesis import given, strategies as st

import oncrpc as o


@given(st.lists(st.one_of(
    st.tuples(st.just("uint"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("uhyper"), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("opaque"), st.binary(max_size=40)),
    st.tuples(st.just("string"), st.text(max_size=20)))))
def test_xdr_roundtrip_and_four_byte_alignment(items):
    p = o.Packer()
    for kind, value in items:
        getattr(p, kind)(value)
    data = p.data()
    assert len(data) % 4 == 0                       # RFC 4506 section 3: 4-byte units
    u = o.Unpacker(data)
    assert [(kind, getattr(u, kind)()) for kind, _ in items] == items
    assert u.pos == len(data)


def test_opaque_padding_by_hand():
    p = o.Packer()
    p.opaque(b"\x01\x02\x03\x04\x05")
    assert p.data() == b"\x00\x00\x00\x05\x01\x02\x03\x04\x05\x00\x00\x00"


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError, match=r"accepted 0\.\.4294967295"):
        o.Packer().uint(2**32)
    with pytest.raises(ValueError, match="too short"):
        o.Unpacker(b"\x00\x00\x00\x08abc").opaque()


def test_call_message_layout_rfc5531():
    msg = o.call_message(0x01020304, 100000, 2, 4)
    words = struct.unpack(">10I", msg)
    # xid, CALL(0), rpcvers 2, prog, vers, proc, cred AUTH_NONE + len 0, verf AUTH_NONE + len 0
    assert words == (0x01020304, 0, 2, 100000, 2, 4, 0, 0, 0, 0)


def test_auth_sys_credential_layout():
    flavor, body = o.auth_sys(uid=1000, gid=100, machine="ab", gids=[4, 27])
    assert flavor == 1
    assert body == struct.pack(">II", 0, 2) + b"ab\0\0" + struct.pack(">IIIII", 1000, 100, 2, 4, 27)


def _reply(xid, *words, accepted=True):
    head = struct.pack(">III", xid, 1, 0 if accepted else 1)
    return head + struct.pack(f">{len(words)}I", *words)


def test_parse_reply_success_and_errors():
    u = o.parse_reply(7, _reply(7, 0, 0, 0, 42))   # verf AUTH_NONE, SUCCESS, result 42
    assert u.uint() == 42
    with pytest.raises(ValueError, match="PROG_UNAVAIL"):
        o.parse_reply(7, _reply(7, 0, 0, 1))
    with pytest.raises(ValueError, match="AUTH_ERROR"):
        o.parse_reply(7, _reply(7, 1, 1, accepted=False))
    with pytest.raises(ValueError, match="xid"):
        o.parse_reply(8, _reply(7, 0, 0, 0))


@given(st.binary(max_size=300), st.integers(1, 64))
def test_record_marking_fragments_reassemble(message, frag):
    wire = o.record_mark(message, frag)
    a, b = socket.socketpair()
    with a, b:
        t = threading.Thread(target=a.sendall, args=(wire,))
        t.start()
        assert o.read_record(b) == message
        t.join()
    # the last header, and only it, carries bit 31 (RFC 5531 section 11)
    headers, pos = [], 0
    while pos < len(wire):
        (h,) = struct.unpack(">I", wire[pos:pos + 4])
        headers.append(h)
        pos += 4 + (h & 0x7FFFFFFF)
    assert [bool(h & 0x80000000) for h in headers] == [False] * (len(headers) - 1) + [True]


def test_pmaplist_decoding():
    body = struct.pack(">I4II4II", 1, 100000, 2, 6, 111, 1, 100003, 3, 17, 2049, 0)
    assert o.unpack_pmaplist(o.Unpacker(body)) == [o.Mapping(100000, 2, 6, 111),
                                                   o.Mapping(100003, 3, 17, 2049)]


def test_rpcinfo_format_matches_the_real_tool_by_hand():
    # lines as printed by `rpcinfo -p 127.0.0.1` (rpcbind 1.2.6, nfs-ganesha 4.3) in the lab
    maps = [o.Mapping(100000, 4, 6, 111), o.Mapping(100005, 1, 17, 52711),
            o.Mapping(4294967295, 4294967295, 6, 65535), o.Mapping(123, 1, 6, 7)]
    text = o.format_rpcinfo(maps, {100000: "portmapper", 100005: "mountd"})
    assert text == ("   program vers proto   port  service\n"
                    "    100000    4   tcp    111  portmapper\n"
                    "    100005    1   udp  52711  mountd\n"
                    "42949672954294967295   tcp  65535\n"
                    "       123    1   tcp      7\n")


def test_showmount_format_pads_to_the_longest_path():
    text = o.format_showmount("srv", [("/a", ["10.0.0.0/8", "h1"]), ("/longer/path", [])])
    assert text == ("Export list for srv:\n"
                    "/a           10.0.0.0/8,h1\n"
                    "/longer/path (everyone)\n")


def test_rpc_names_reads_etc_rpc_format(tmp_path):
    f = tmp_path / "rpc"
    f.write_text("# comment\nportmapper\t100000\tportmap sunrpc\nnfs 100003 nfsprog # x\nbad line\n")
    assert o.rpc_names(str(f)) == {100000: "portmapper", 100003: "nfs"}


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="accepted: tcp, udp"):
        o.rpc_call("127.0.0.1", 111, 100000, 2, 0, proto="sctp")


# ---- edge cases against local sockets made here (RFC 5531 sections 9 and 11) ----------------

import subprocess
import sys
from pathlib import Path

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "oncrpc.py"
DUMP_BODY = struct.pack(">I4II4II", 1, 100000, 2, 6, 111, 1, 100003, 3, 17, 2049, 0)   # two mappings


def accepted(xid: int, stat: int = 0, *words: int) -> bytes:
    """REPLY, MSG_ACCEPTED, verifier AUTH_NONE, accept_stat, then words (RFC 5531 section 9)."""
    return struct.pack(f">6I{len(words)}I", xid, 1, 0, 0, 0, stat, *words)


def denied(xid: int, *words: int) -> bytes:
    return struct.pack(f">3I{len(words)}I", xid, 1, 1, *words)


def tcp_server(behaviour) -> tuple[int, threading.Thread]:
    """Accept one connection on 127.0.0.1, read one call record, hand (conn, xid) to behaviour."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run():
        with srv:
            srv.settimeout(20)
            conn, _ = srv.accept()
            with conn:
                call = o.read_record(conn)
                behaviour(conn, call[:4] and struct.unpack(">I", call[:4])[0])
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SNIPPET), *args], capture_output=True, text=True, timeout=30)


def fails_cleanly(proc: subprocess.CompletedProcess, where: str, message: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"oncrpc.py: {where}: {message}"]


def test_reply_in_many_fragments_is_reassembled_by_the_script():
    reply_holder = {}

    def send_in_pieces(conn, xid):
        reply = accepted(xid) + DUMP_BODY
        reply_holder["n"] = len(reply)
        conn.sendall(o.record_mark(reply, fragment_size=3))       # 16 fragments of at most 3 bytes
    port, t = tcp_server(send_in_pieces)
    proc = script("rpcinfo", "127.0.0.1", "--port", str(port))
    t.join(5)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.splitlines()[1:] == ["    100000    2   tcp    111  portmapper",
                                            "    100003    3   udp   2049  nfs"]
    assert reply_holder["n"] == 24 + 44                            # hand count: header words + list


@pytest.mark.parametrize("reply, message", [
    (lambda x: denied(x, 0, 3, 4), "RPC call denied: RPC_MISMATCH (the server speaks RPC versions 3..4, this client 2)"),
    (lambda x: denied(x, 1, 5), "RPC call denied: AUTH_ERROR AUTH_TOOWEAK"),
    (lambda x: denied(x, 1, 13), "RPC call denied: AUTH_ERROR RPCSEC_GSS_CREDPROBLEM"),
    (lambda x: accepted(x, 1), "RPC call not accepted: PROG_UNAVAIL (program 100000 is not served there)"),
    (lambda x: accepted(x, 2, 3, 4), "RPC call not accepted: PROG_MISMATCH (program 100000 version 2 not "
                                     "served; the server has versions 3..4)"),
    (lambda x: accepted(x, 3), "RPC call not accepted: PROC_UNAVAIL (procedure 4 of program 100000 version 2 "
                               "does not exist)"),
    (lambda x: accepted(x, 4), "RPC call not accepted: GARBAGE_ARGS (the server could not decode the arguments)"),
    (lambda x: accepted(x, 5), "RPC call not accepted: SYSTEM_ERR (the server failed (memory allocation or similar))"),
    (lambda x: struct.pack(">3I", x, 0, 0), "not an RPC REPLY message (msg_type 0)"),
    (lambda x: struct.pack(">3I", x, 1, 2), "not an RPC reply: reply_stat 2 (accepted 0 MSG_ACCEPTED, 1 MSG_DENIED)"),
    (lambda x: struct.pack(">I", x ^ 1) + accepted(x)[4:], "reply xid does not match the call"),
    (lambda x: accepted(x)[:14], "XDR data too short: need 4 bytes at offset 12, have 2"),
])
def test_rejected_and_broken_replies_give_one_line(reply, message):
    port, t = tcp_server(lambda conn, xid: conn.sendall(o.record_mark(reply(xid))))
    fails_cleanly(script("rpcinfo", "127.0.0.1", "--port", str(port)), f"127.0.0.1:{port}/tcp", message)
    t.join(5)


@pytest.mark.parametrize("send, message", [
    (b"", "connection closed before the reply"),
    (b"\x80\x00", "connection closed in the middle of a record header (got 0 of 2 bytes)"),
    (b"\x80\x00\x00\x64" + b"x" * 10, "connection closed in the middle of an RPC record (got 10 of 100 bytes)"),
    (b"\x00\x00\x00\x04abcd", "connection closed in the middle of a record header (got 0 of 4 bytes)"),
    (b"\x7f\xff\xff\xff", "RPC record larger than 67108864 bytes (fragment of 2147483647 bytes)"),
])
def test_server_closing_mid_record(send, message):
    def close_early(conn, xid):
        conn.sendall(send)
        conn.shutdown(socket.SHUT_WR)
    port, t = tcp_server(close_early)
    fails_cleanly(script("rpcinfo", "127.0.0.1", "--port", str(port)), f"127.0.0.1:{port}/tcp", message)
    t.join(5)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_tcp_and_udp():
    port = free_port(socket.SOCK_STREAM)
    fails_cleanly(script("rpcinfo", "127.0.0.1", "--port", str(port)), f"127.0.0.1:{port}/tcp",
                  "Connection refused (nothing listens there)")
    port = free_port(socket.SOCK_DGRAM)          # ICMP port unreachable on a connected UDP socket
    fails_cleanly(script("rpcinfo", "127.0.0.1", "--port", str(port), "--udp"), f"127.0.0.1:{port}/udp",
                  "Connection refused (nothing listens there)")


def test_timeouts_tcp_and_udp():
    silent_tcp = socket.create_server(("127.0.0.1", 0))          # the kernel accepts, nobody answers
    silent_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent_udp.bind(("127.0.0.1", 0))
    with silent_tcp, silent_udp:
        tport, uport = silent_tcp.getsockname()[1], silent_udp.getsockname()[1]
        fails_cleanly(script("rpcinfo", "127.0.0.1", "--port", str(tport), "--timeout", "0.5"),
                      f"127.0.0.1:{tport}/tcp", "no reply within 0.5 s")
        fails_cleanly(script("rpcinfo", "127.0.0.1", "--port", str(uport), "--udp", "--timeout", "0.4"),
                      f"127.0.0.1:{uport}/udp", "no reply within 0.4 s")
        calls = []
        while True:                               # 4 tries: one datagram each (RFC 5531: no record marking)
            try:
                silent_udp.settimeout(0.1)
                calls.append(silent_udp.recv(65536))
            except TimeoutError:
                break
        assert len(calls) == 4 and len({c[:4] for c in calls}) == 1     # retries keep the xid


def test_udp_skips_a_stray_reply_and_takes_the_right_xid():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))

    def answer():
        with srv:
            srv.settimeout(20)
            call, peer = srv.recvfrom(65536)
            (xid,) = struct.unpack(">I", call[:4])
            srv.sendto(accepted(xid ^ 0xFFFF) + DUMP_BODY, peer)    # someone else's reply
            srv.sendto(accepted(xid) + DUMP_BODY, peer)
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    maps = o.pmap_dump("127.0.0.1", srv.getsockname()[1], "udp", timeout=5)
    t.join(5)
    assert maps == [o.Mapping(100000, 2, 6, 111), o.Mapping(100003, 3, 17, 2049)]


@pytest.mark.parametrize("args, problem", [
    (["rpcinfo", "127.0.0.1", "--port", "0"], "port must be 1..65535, not '0'"),
    (["rpcinfo", "127.0.0.1", "--port", "70000"], "port must be 1..65535, not '70000'"),
    (["rpcinfo", "127.0.0.1", "--port", "-5"], "port must be 1..65535, not '-5'"),
    (["rpcinfo", "127.0.0.1", "--timeout", "abc"], "timeout must be 0..3600 seconds (exclusive of 0), not 'abc'"),
    (["rpcinfo", "127.0.0.1", "--timeout", "0"], "timeout must be 0..3600 seconds (exclusive of 0), not '0'"),
])
def test_bad_arguments_exit_2(args, problem):
    proc = script(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].endswith(problem)


def test_unresolvable_host():
    proc = script("rpcinfo", "no-such-host.invalid", "--timeout", "2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("oncrpc.py: no-such-host.invalid: cannot resolve the host name (")
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("method, value", [("uint", 5.0), ("uint", 0.5), ("uhyper", 1e18), ("uhyper", -1),
                                           ("uint", 2**32), ("uhyper", 2**64)])
def test_xdr_integers_must_be_whole_numbers_in_range(method, value):
    """A float was a struct.error ('required argument is not an integer')."""
    with pytest.raises(ValueError, match=r"^XDR unsigned (int|hyper) out of range: "):
        getattr(o.Packer(), method)(value)
    p = o.Packer()
    p.uint(True)                          # an XDR bool is an unsigned int 0 or 1 (RFC 4506 4.4)
    assert p.data() == bytes([0, 0, 0, 1])
