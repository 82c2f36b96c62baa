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
