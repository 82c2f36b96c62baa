"""An ONC RPC client in plain Python: how rpcinfo, showmount and an NFSv3 read work.

NFS up to version 3 is not one protocol but several ONC RPC programs
(RFC 5531): the portmapper/rpcbind (program 100000, RFC 1833) tells a client
on which port each program listens, MOUNT (100005, RFC 1813 appendix I) turns
an export path into a file handle, and NFS (100003, RFC 1813) reads and writes
through file handles.  Every message is XDR (RFC 4506): big-endian 4-byte
units, strings and opaque data padded to a multiple of 4.

This module speaks those protocols with the standard library only:

* XDR packing and unpacking (``Packer``, ``Unpacker``);
* RPC calls over UDP (one datagram) and over TCP (record marking);
* portmapper v2 DUMP, GETPORT, SET and UNSET; MOUNT EXPORT and MNT;
  NFSv3 NULL, LOOKUP and READ.

As a script::

    python snippets/oncrpc.py rpcinfo HOST     # the same text as rpcinfo -p HOST
    python snippets/oncrpc.py showmount HOST   # the same text as showmount -e HOST
    python snippets/oncrpc.py cat HOST /export dir/file   # read a file over NFSv3

>>> p = Packer(); p.uint(100003); p.string("abc"); p.data()
b'\\x00\\x01\\x86\\xa3\\x00\\x00\\x00\\x03abc\\x00'
>>> u = Unpacker(p.data()); (u.uint(), u.string())
(100003, 'abc')
>>> Unpacker(b'\\x00\\x00').uint()
Traceback (most recent call last):
...
ValueError: XDR data too short: need 4 bytes at offset 0, have 2
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

# --8<-- [start:imports]
import random
import socket
import struct
import time
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
# --8<-- [end:imports]

# --8<-- [start:numbers]
PMAP_PROG, PMAP_VERS, PMAP_PORT = 100000, 2, 111          # RFC 1833 section 3
PMAPPROC_SET, PMAPPROC_UNSET, PMAPPROC_GETPORT, PMAPPROC_DUMP = 1, 2, 3, 4
MOUNT_PROG = 100005                                       # RFC 1813 appendix I
MOUNTPROC_MNT, MOUNTPROC_EXPORT = 1, 5
NFS_PROG, NFS_V3 = 100003, 3                              # RFC 1813 section 3
NFSPROC3_NULL, NFSPROC3_LOOKUP, NFSPROC3_READ = 0, 3, 6
IPPROTO_TCP, IPPROTO_UDP = 6, 17
AUTH_NONE, AUTH_SYS = 0, 1                                # RFC 5531 section 8
# --8<-- [end:numbers]

U32_MAX = 2**32 - 1


# --8<-- [start:xdr]
class Packer:
    """Build XDR data: every item is a multiple of 4 bytes, big-endian (RFC 4506)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def uint(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= U32_MAX:
            raise ValueError(f"XDR unsigned int out of range: {value!r:.40} (accepted 0..{U32_MAX})")
        self._parts.append(struct.pack(">I", value))

    def uhyper(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value < 2**64:
            raise ValueError(f"XDR unsigned hyper out of range: {value!r:.40} (accepted 0..2**64-1)")
        self._parts.append(struct.pack(">Q", value))

    def opaque(self, data: bytes) -> None:
        """Variable-length opaque: a length word, the bytes, zero padding to 4."""
        self.uint(len(data))
        self._parts.append(bytes(data) + b"\0" * (-len(data) % 4))

    def string(self, text: str) -> None:
        self.opaque(text.encode())

    def data(self) -> bytes:
        return b"".join(self._parts)


class Unpacker:
    """Read XDR data front to back; running off the end raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self.buf, self.pos = bytes(data), 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ValueError(f"XDR data too short: need {n} bytes at offset {self.pos}, "
                             f"have {len(self.buf) - self.pos}")
        chunk = self.buf[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uint(self) -> int:
        return struct.unpack(">I", self._take(4))[0]

    def uhyper(self) -> int:
        return struct.unpack(">Q", self._take(8))[0]

    def bool(self) -> bool:
        return self.uint() != 0

    def opaque(self) -> bytes:
        n = self.uint()
        data = self._take(n)
        self._take(-n % 4)          # skip the padding
        return data

    def string(self) -> str:
        return self.opaque().decode(errors="replace")
# --8<-- [end:xdr]


# --8<-- [start:rpc]
def auth_sys(uid: int = 0, gid: int = 0, machine: str = "oncrpc.py",
             gids: Sequence[int] = ()) -> tuple[int, bytes]:
    """AUTH_SYS credential (RFC 5531 appendix A): stamp, machine, uid, gid, gids."""
    p = Packer()
    p.uint(0)
    p.string(machine)
    p.uint(uid)
    p.uint(gid)
    p.uint(len(gids))
    for g in gids:
        p.uint(g)
    return AUTH_SYS, p.data()


def call_message(xid: int, prog: int, vers: int, proc: int, args: bytes = b"",
                 cred: tuple[int, bytes] = (AUTH_NONE, b"")) -> bytes:
    """An RPC CALL (RFC 5531 section 9): xid, CALL=0, rpcvers=2, prog, vers, proc, cred, verf."""
    p = Packer()
    for word in (xid, 0, 2, prog, vers, proc):
        p.uint(word)
    p.uint(cred[0])
    p.opaque(cred[1])
    p.uint(AUTH_NONE)          # verifier: AUTH_NONE, empty body
    p.opaque(b"")
    return p.data() + args


ACCEPT_ERRORS = {1: "PROG_UNAVAIL", 2: "PROG_MISMATCH", 3: "PROC_UNAVAIL",
                 4: "GARBAGE_ARGS", 5: "SYSTEM_ERR"}
AUTH_ERRORS = {0: "AUTH_OK", 1: "AUTH_BADCRED", 2: "AUTH_REJECTEDCRED", 3: "AUTH_BADVERF",
               4: "AUTH_REJECTEDVERF", 5: "AUTH_TOOWEAK", 6: "AUTH_INVALIDRESP", 7: "AUTH_FAILED",
               8: "AUTH_KERB_GENERIC", 9: "AUTH_TIMEEXPIRE", 10: "AUTH_TKT_FILE", 11: "AUTH_DECODE",
               12: "AUTH_NET_ADDR", 13: "RPCSEC_GSS_CREDPROBLEM", 14: "RPCSEC_GSS_CTXPROBLEM"}


def parse_reply(xid: int, message: bytes, call: tuple[int, int, int] | None = None) -> Unpacker:
    """Check an RPC REPLY (RFC 5531 section 9) and return an Unpacker positioned at the results.

    `call` = (prog, vers, proc) of the call, to name them in error messages."""
    u = Unpacker(message)
    if u.uint() != xid:
        raise ValueError("reply xid does not match the call")
    if (mtype := u.uint()) != 1:
        raise ValueError(f"not an RPC REPLY message (msg_type {mtype})")
    stat = u.uint()
    if stat == 1:                           # MSG_DENIED: rejected_reply
        why = u.uint()
        if why == 0:
            low, high = u.uint(), u.uint()
            raise ValueError(f"RPC call denied: RPC_MISMATCH (the server speaks RPC versions {low}..{high}, "
                             "this client 2)")
        if why == 1:
            code = u.uint()
            raise ValueError(f"RPC call denied: AUTH_ERROR {AUTH_ERRORS.get(code, code)}")
        raise ValueError(f"RPC call denied with an unknown reject_stat {why}")
    if stat != 0:
        raise ValueError(f"not an RPC reply: reply_stat {stat} (accepted 0 MSG_ACCEPTED, 1 MSG_DENIED)")
    u.uint()
    u.opaque()                              # verifier
    stat = u.uint()
    if stat == 0:
        return u
    prog, vers, proc = call or ("?", "?", "?")
    detail = {1: f"program {prog} is not served there",
              2: f"program {prog} version {vers} not served",
              3: f"procedure {proc} of program {prog} version {vers} does not exist",
              4: "the server could not decode the arguments",
              5: "the server failed (memory allocation or similar)"}.get(stat, "unknown accept_stat")
    if stat == 2:                           # PROG_MISMATCH carries the supported versions
        low, high = u.uint(), u.uint()
        detail += f"; the server has versions {low}..{high}"
    raise ValueError(f"RPC call not accepted: {ACCEPT_ERRORS.get(stat, stat)} ({detail})")
# --8<-- [end:rpc]


# --8<-- [start:transport]
LAST_FRAGMENT = 0x80000000


def record_mark(message: bytes, fragment_size: int = 0x7FFFFFFF) -> bytes:
    """TCP record marking (RFC 5531 section 11): 4-byte header = last bit | length."""
    if not isinstance(fragment_size, int) or fragment_size < 1:
        raise ValueError(f"fragment size must be at least 1 (accepted 1..{0x7FFFFFFF})")
    out, pos = [], 0
    while True:
        chunk = message[pos:pos + fragment_size]
        pos += len(chunk)
        last = pos >= len(message)
        out.append(struct.pack(">I", (LAST_FRAGMENT if last else 0) | len(chunk)) + chunk)
        if last:
            return b"".join(out)


MAX_RECORD = 64 * 2**20                # refuse records larger than 64 MiB (a broken or hostile server)
MAX_EMPTY_FRAGMENTS = 16               # empty fragments that are not the last: legal, but never needed


def _wait(sock: socket.socket, deadline: float | None) -> None:
    """Before each recv: the time left of the whole call (a reply trickled in byte by byte
    must not restart the clock at every byte)."""
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the reply did not arrive in time")
        sock.settimeout(left)


def _recv_exact(sock: socket.socket, n: int, what: str, deadline: float | None = None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        _wait(sock, deadline)
        chunk = sock.recv(min(n - len(buf), 2**20))
        if not chunk:
            raise ValueError(f"connection closed in the middle of {what} (got {len(buf)} of {n} bytes)")
        buf += chunk
    return bytes(buf)


def read_record(sock: socket.socket, limit: int = MAX_RECORD, deadline: float | None = None) -> bytes:
    """Read fragments until the one with the last-fragment bit set (by ``deadline``, a
    time.monotonic() value, when one is given)."""
    parts, total, empty = [], 0, 0
    _wait(sock, deadline)
    first = sock.recv(4)
    if not first:
        raise ValueError("connection closed before the reply")
    header_bytes = first + (_recv_exact(sock, 4 - len(first), "a record header", deadline)
                            if len(first) < 4 else b"")
    while True:
        (header,) = struct.unpack(">I", header_bytes)
        size = header & 0x7FFFFFFF
        total += size
        if total > limit:
            raise ValueError(f"RPC record larger than {limit} bytes (fragment of {size} bytes)")
        empty += not size and not header & LAST_FRAGMENT
        if empty > MAX_EMPTY_FRAGMENTS:
            raise ValueError(f"more than {MAX_EMPTY_FRAGMENTS} empty fragments in one RPC record "
                             "(a broken or hostile server)")
        parts.append(_recv_exact(sock, size, "an RPC record", deadline))
        if header & LAST_FRAGMENT:
            return b"".join(parts)
        header_bytes = _recv_exact(sock, 4, "a record header", deadline)


def rpc_call(host: str, port: int, prog: int, vers: int, proc: int, args: bytes = b"",
             proto: str = "tcp", cred: tuple[int, bytes] = (AUTH_NONE, b""),
             timeout: float = 5.0) -> Unpacker:
    """One RPC call over TCP (record marking) or UDP (one datagram, a few retries).

    ``timeout`` bounds the whole call, however the reply arrives (slowly, in empty
    fragments, or behind a flood of other replies).  Network failures raise OSError
    subclasses with a one-line message naming host:port/proto."""
    if proto not in ("tcp", "udp"):
        raise ValueError(f"unknown transport {proto!r} (accepted: tcp, udp)")
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port} (accepted 1..65535)")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, not {timeout}")
    xid = random.getrandbits(32)
    message = call_message(xid, prog, vers, proc, args, cred)
    where = f"{host}:{port}/{proto}"
    deadline = time.monotonic() + timeout
    try:
        if proto == "tcp":
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(record_mark(message))
                return parse_reply(xid, read_record(s, deadline=deadline), (prog, vers, proc))
        family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((host, port))         # connected: an ICMP port unreachable becomes an error
            for attempt in range(4):        # a retry every quarter of the time, same xid
                s.send(message)
                try:
                    while True:             # replies to other calls are skipped, not waited for anew
                        _wait(s, min(deadline, deadline - timeout * (3 - attempt) / 4))
                        reply = s.recv(65536)
                        if reply[:4] == struct.pack(">I", xid):
                            return parse_reply(xid, reply, (prog, vers, proc))
                except TimeoutError:
                    continue
        raise TimeoutError(f"{where}: no reply within {timeout:g} s")
    except ConnectionRefusedError:
        raise ConnectionRefusedError(f"{where}: Connection refused (nothing listens there)") from None
    except socket.gaierror as exc:
        raise OSError(f"{host}: cannot resolve the host name ({exc.strerror})") from None
    except TimeoutError as exc:
        raise TimeoutError(str(exc) if str(exc).startswith(where) else
                           f"{where}: no reply within {timeout:g} s") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    except OSError as exc:
        raise OSError(f"{where}: {exc.strerror or exc}") from None
# --8<-- [end:transport]


# --8<-- [start:portmap]
@dataclass(frozen=True)
class Mapping:
    prog: int
    vers: int
    prot: int
    port: int


def pack_mapping(m: Mapping) -> bytes:
    p = Packer()
    for word in (m.prog, m.vers, m.prot, m.port):
        p.uint(word)
    return p.data()


MAX_LIST = 65536            # list items this client takes from one reply (a bound of this client)


def unpack_pmaplist(u: Unpacker) -> list[Mapping]:
    """pmaplist is an XDR linked list: a bool 'another follows', then a mapping."""
    maps = []
    while u.bool():
        if len(maps) == MAX_LIST:
            raise ValueError(f"the portmapper lists more than {MAX_LIST} mappings (a bound of this client)")
        maps.append(Mapping(u.uint(), u.uint(), u.uint(), u.uint()))
    return maps


def pmap_dump(host: str, port: int = PMAP_PORT, proto: str = "tcp", timeout: float = 5.0) -> list[Mapping]:
    u = rpc_call(host, port, PMAP_PROG, PMAP_VERS, PMAPPROC_DUMP, proto=proto, timeout=timeout)
    return unpack_pmaplist(u)


def pmap_getport(host: str, prog: int, vers: int, prot: int = IPPROTO_TCP) -> int:
    """Ask the portmapper where (prog, vers, prot) listens; 0 means not registered."""
    args = pack_mapping(Mapping(prog, vers, prot, 0))
    return rpc_call(host, PMAP_PORT, PMAP_PROG, PMAP_VERS, PMAPPROC_GETPORT, args).uint()


def pmap_set(host: str, m: Mapping, unset: bool = False) -> bool:
    """Register (or remove) a mapping; rpcbind accepts this from loopback only."""
    proc = PMAPPROC_UNSET if unset else PMAPPROC_SET
    return rpc_call(host, PMAP_PORT, PMAP_PROG, PMAP_VERS, proc, pack_mapping(m)).bool()
# --8<-- [end:portmap]


# --8<-- [start:rpcinfo]
def rpc_names(path: str = "/etc/rpc") -> dict[int, str]:
    """Program number -> name from /etc/rpc (what getrpcbynumber() reads)."""
    names: dict[int, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and fields[1].isdigit():
                    names.setdefault(int(fields[1]), fields[0])
    except FileNotFoundError:
        pass
    return names


def format_rpcinfo(maps: Iterable[Mapping], names: dict[int, str]) -> str:
    """The table of `rpcinfo -p`: %10ld%5ld%6s%7ld, then two spaces and the name."""
    maps = list(maps)
    if not maps:
        return "No remote programs registered.\n"
    lines = ["   program vers proto   port  service"]
    for m in maps:
        proto = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp"}.get(m.prot, str(m.prot))
        line = f"{m.prog:10d}{m.vers:5d}{proto:>6}{m.port:7d}"
        if m.prog in names:
            line += "  " + names[m.prog]
        lines.append(line)
    return "\n".join(lines) + "\n"
# --8<-- [end:rpcinfo]


# --8<-- [start:mount]
def mount_port(host: str, vers: int = 3) -> int:
    port = pmap_getport(host, MOUNT_PROG, vers, IPPROTO_TCP)
    if port == 0:
        raise ValueError(f"MOUNT version {vers} is not registered with the portmapper on {host}")
    return port


def mount_export(host: str) -> list[tuple[str, list[str]]]:
    """MOUNTPROC_EXPORT: a list of (directory, groups); showmount -e uses MOUNT v1."""
    u = rpc_call(host, mount_port(host, 1), MOUNT_PROG, 1, MOUNTPROC_EXPORT)
    exports, items = [], 0
    while u.bool():
        directory, groups = u.string(), []
        while u.bool():
            groups.append(u.string())
            items += 1
            if items > MAX_LIST:
                raise ValueError(f"the export list holds more than {MAX_LIST} entries (a bound of this client)")
        exports.append((directory, groups))
    return exports


def printable(text: str) -> str:
    """A name the server sent, safe to print: control characters (an escape sequence could
    drive the terminal) and other non-printing characters become \\xNN or \\uNNNN.

    >>> print(printable("/srv/a\\x1b[2Jb\\tc"))
    /srv/a\\x1b[2Jb\\x09c
    """
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
                   for c in text)


def format_showmount(host: str, exports: Sequence[tuple[str, list[str]]]) -> str:
    """`showmount -e`: directory padded to the longest one, groups joined by commas."""
    exports = [(printable(d), [printable(g) for g in groups]) for d, groups in exports]
    width = max((len(d) for d, _ in exports), default=0)
    lines = [f"Export list for {printable(host)}:"]
    for directory, groups in exports:
        lines.append(f"{directory:<{width}} " + (",".join(groups) if groups else "(everyone)"))
    return "\n".join(lines) + "\n"


def mount_mnt(host: str, path: str, cred: tuple[int, bytes] | None = None) -> bytes:
    """MOUNTPROC3_MNT: export path -> root file handle of the export."""
    p = Packer()
    p.string(path)
    u = rpc_call(host, mount_port(host, 3), MOUNT_PROG, 3, MOUNTPROC_MNT, p.data(),
                 cred=cred or auth_sys())
    status = u.uint()
    if status != 0:
        raise ValueError(f"MNT {path} failed: mountstat3 {status}")
    return u.opaque()
# --8<-- [end:mount]


# --8<-- [start:nfs3]
FATTR3_SIZE = 84            # type, mode, nlink, uid, gid (5x4) + size, used, rdev, fsid, fileid (5x8) + 3 times (3x8)


def _skip_post_op_attr(u: Unpacker) -> int | None:
    """post_op_attr: a bool, then fattr3 if set; return the file size when present."""
    if not u.bool():
        return None
    attrs = u._take(FATTR3_SIZE)
    return struct.unpack(">Q", attrs[20:28])[0]


def nfs3_null(host: str, port: int = 2049) -> None:
    rpc_call(host, port, NFS_PROG, NFS_V3, NFSPROC3_NULL)


def nfs3_lookup(host: str, dir_fh: bytes, name: str, port: int = 2049,
                cred: tuple[int, bytes] | None = None) -> bytes:
    p = Packer()
    p.opaque(dir_fh)
    p.string(name)
    u = rpc_call(host, port, NFS_PROG, NFS_V3, NFSPROC3_LOOKUP, p.data(), cred=cred or auth_sys())
    status = u.uint()
    if status != 0:
        raise ValueError(f"LOOKUP {name!r} failed: nfsstat3 {status}")
    return u.opaque()


def nfs3_read(host: str, fh: bytes, offset: int, count: int, port: int = 2049,
              cred: tuple[int, bytes] | None = None) -> tuple[bytes, bool]:
    """READ3: returns (data, eof)."""
    p = Packer()
    p.opaque(fh)
    p.uhyper(offset)
    p.uint(count)
    u = rpc_call(host, port, NFS_PROG, NFS_V3, NFSPROC3_READ, p.data(), cred=cred or auth_sys())
    status = u.uint()
    if status != 0:
        raise ValueError(f"READ failed: nfsstat3 {status}")
    _skip_post_op_attr(u)
    u.uint()                       # count
    eof = u.bool()
    return u.opaque(), eof


MAX_CAT = 64 * 2**20        # bytes `cat` reads before it gives up on a server that never says eof


def nfs3_cat(host: str, export: str, path: str, chunk: int = 65536, limit: int = MAX_CAT) -> bytes:
    """MNT the export, LOOKUP each path component, READ until eof (at most ``limit`` bytes)."""
    fh = mount_mnt(host, export)
    port = pmap_getport(host, NFS_PROG, NFS_V3, IPPROTO_TCP) or 2049
    for name in [c for c in path.split("/") if c]:
        fh = nfs3_lookup(host, fh, name, port)
    data, offset = [], 0
    while True:
        piece, eof = nfs3_read(host, fh, offset, chunk, port)
        data.append(piece)
        offset += len(piece)
        if eof or not piece:
            return b"".join(data)
        if offset >= limit:
            raise ValueError(f"READ of {path} gave {offset} bytes without eof; stopped at the "
                             f"limit of {limit} bytes (a bound of this client)")
# --8<-- [end:nfs3]


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"timeout must be 0..3600 seconds (exclusive of 0), not {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    info = sub.add_parser("rpcinfo", help="like rpcinfo -p HOST")
    info.add_argument("host")
    info.add_argument("--port", type=_port, default=PMAP_PORT, help="portmapper port (default 111)")
    info.add_argument("--udp", action="store_true", help="ask over UDP instead of TCP")
    info.add_argument("--timeout", type=_seconds, default=5.0, help="seconds to wait (default 5)")
    sub.add_parser("showmount", help="like showmount -e HOST").add_argument("host")
    cat = sub.add_parser("cat", help="read a file over NFSv3 (MNT, LOOKUP, READ)")
    cat.add_argument("host")
    cat.add_argument("export")
    cat.add_argument("path")
    args = parser.parse_args(argv)
    commands: dict[str, Callable[[], None]] = {
        "rpcinfo": lambda: sys.stdout.write(format_rpcinfo(
            pmap_dump(args.host, args.port, "udp" if args.udp else "tcp", args.timeout), rpc_names())),
        "showmount": lambda: sys.stdout.write(format_showmount(args.host, mount_export(args.host))),
        "cat": lambda: sys.stdout.buffer.write(nfs3_cat(args.host, args.export, args.path)),
    }
    try:
        commands[args.cmd]()
        sys.stdout.flush()
    except (ValueError, OSError) as exc:
        print(f"oncrpc.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
