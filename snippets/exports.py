"""Parse /etc/exports the way nfs-utils' exportfs does, and lint it for the classic mistakes.

Each line is an export path followed by clients, each client optionally
followed *without a space* by a parenthesised option list:
``/srv/data 192.168.1.0/24(rw,sync) *.lab(ro)``.  The rules below are those
of exports(5) and of the parser in nfs-utils 2.6.2 (``support/nfs/xio.c``,
``support/nfs/exports.c``, ``support/export/client.c``); where the man page
is silent the source decides:

* ``#`` starts a comment only where a new word could start; a backslash at
  the end of a line joins it to the next; double quotes may enclose any part
  of a word and ``\\ooo`` (three octal digits) stands for one character;
* ``-opts`` sets default options for the rest of its line; several dash
  words add up, but two dash words in a row make the second one a host name;
* ``(opts)`` without a host is given to ``*``; a line (or a trailing ``-opts``)
  without any client exports the path to everyone;
* options are applied left to right, the later one wins; after ``sec=`` the
  options ro/rw, root_squash/no_root_squash and all_squash apply only to the
  flavours just listed, and a flavour keeps the flags it had when it was listed;
* the first error in an option list (an unknown option, a bad number, an
  unknown flavour, a missing ``)``) makes exportfs stop reading the file:
  everything after it is not exported.  A client exportfs cannot make sense of
  (a bad netmask, an unresolvable name) is skipped alone; a second entry for
  the same path and client is ignored.

The linter reports, one line per problem as ``FILE:LINE: message``, those
errors and: the space between host and ``(``; no_root_squash; rw to
everyone; async; contradictory options; a relative path; clients without
options; duplicates; netmasks with host bits or holes; deprecated or
misleading client forms.

>>> e = parse("/srv/data 10.0.0.0/8(rw,no_subtree_check) *(ro)\\n")[0]
>>> e.path, [c.host for c in e.clients]
('/srv/data', ['10.0.0.0/8', '*'])
>>> e.clients[0].effective["access"], e.clients[0].effective["squash"]
('rw', 'root_squash')
>>> for line, msg in lint("/srv/data host1 (rw)\\n"): print(line, msg)
1 'host1' has no option list: it gets the defaults (ro,sync,root_squash,...)
1 '(rw)' has no host before it: exportfs applies it to everyone (*); remove the space after 'host1'
1 rw is exported to everyone (*)
>>> parse("/srv/data host(rw\\n")
Traceback (most recent call last):
...
ValueError: line 1: option list not closed: 'host(rw'
"""
from __future__ import annotations

import argparse
import bisect
import sys

# --8<-- [start:imports]
import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from collections.abc import Iterator, Sequence
# --8<-- [end:imports]

from safety import printable, read_limited

# --8<-- [start:defaults]
# Each setting is one bit of nfs-utils' e_flags (support/include/nfs/export.h).
# setting:          (bit,    option that sets it, option that clears it, set by default?)
SETTINGS: dict[str, tuple[int, str, str, bool]] = {
    "access":         (0x0001, "ro",             "rw",             True),
    "secure":         (0x0002, "insecure",       "secure",         False),
    "squash":         (0x0004, "root_squash",    "no_root_squash", True),
    "all_squash":     (0x0008, "all_squash",     "no_all_squash",  False),
    "sync":           (0x0010, "async",          "sync",           False),   # sync since nfs-utils 1.0.1
    "wdelay":         (0x0020, "wdelay",         "no_wdelay",      True),
    "rdirplus":       (0x0040, "nordirplus",     "rdirplus",       False),
    "security_label": (0x0080, "security_label", "no_security_label", False),
    "hide":           (0x0200, "nohide",         "hide",           False),
    "subtree":        (0x0400, "no_subtree_check", "subtree_check", True),   # since nfs-utils 1.1.0
    "locks":          (0x0800, "insecure_locks", "secure_locks",   False),
    "crossmnt":       (0x4000, "crossmnt",       "nocrossmnt",     False),
    "acl":            (0x8000, "no_acl",         "acl",            False),
    "pnfs":           (0x20000, "pnfs",          "no_pnfs",        False),
}
FSID_BIT = 0x2000
# options exportfs 2.6.2 accepts: name -> (setting, sets the bit?)
FLAG_OPTIONS = {o: (name, s) for name, (_, on, off, _) in SETTINGS.items()
                for o, s in ((on, True), (off, False))}
del FLAG_OPTIONS["rdirplus"], FLAG_OPTIONS["no_security_label"]        # not options in 2.6.2
FLAG_OPTIONS.update({"no_auth_nlm": ("locks", True), "auth_nlm": ("locks", False)})   # synonyms
# options with a value (and mountpoint/mp, also without one); squash_* are undocumented
VALUED = ["anonuid", "anongid", "fsid", "sec", "mountpoint", "mp", "refer", "replicas",
          "squash_uids", "squash_gids"]
# the only flags that can differ per sec= flavour when the kernel does not say otherwise
SECINFO_BITS = 0x0001 | 0x0004 | 0x0008
# sec= flavours and their RPC numbers (unix = sys, none = null)
FLAVOURS = {"krb5": 390003, "krb5i": 390004, "krb5p": 390005, "unix": 1, "sys": 1, "null": 0, "none": 0}
MAX_FLAVOURS = 8
DEFAULT_FLAGS = sum(bit for bit, _, _, on in SETTINGS.values() if on)
DEFAULTS = {name: (on if default else off) for name, (_, on, off, default) in SETTINGS.items()}
ANON_ID = 65534
# --8<-- [end:defaults]


@dataclass
class Flavour:
    name: str
    number: int
    flags: int


@dataclass
class Entry:
    """Everything exportfs keeps for one (path, client): nfs-utils' struct exportent."""
    flags: int = DEFAULT_FLAGS
    anonuid: int = ANON_ID
    anongid: int = ANON_ID
    fsid: int | None = None
    uuid: str | None = None
    mountpoint: str | None = None
    fsloc: tuple[str, str] | None = None
    squash_uids: list[tuple[int, int]] = field(default_factory=list)
    squash_gids: list[tuple[int, int]] = field(default_factory=list)
    flavours: list[Flavour] = field(default_factory=list)

    def copy(self) -> Entry:
        return Entry(self.flags, self.anonuid, self.anongid, self.fsid, self.uuid, self.mountpoint,
                     self.fsloc, list(self.squash_uids), list(self.squash_gids),
                     [Flavour(f.name, f.number, f.flags) for f in self.flavours])


@dataclass
class Client:
    host: str                        # as exportfs names it: "*" for "(opts)", "" for no client at all
    options: list[str]               # as written, in order
    line: int = 0
    explicit_host: bool = True
    has_options: bool = True
    entry: Entry = field(default_factory=Entry)
    effective: dict[str, str] = field(default_factory=dict)
    inherited: int = 0               # sec= flavours that came from the line's -options
    after_defaults: bool = False     # a '-options' word stands before it on its line


@dataclass
class Export:
    path: str
    line: int
    clients: list[Client]
    defaults: list[str] = field(default_factory=list)     # the "-opt,opt" words after the path
    error: str | None = None                              # the error exportfs stops reading at
    error_line: int = 0


class ExportsError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line, self.message = line, message


class _Reader:
    """The character reader of nfs-utils' xio.c: continuations, comments, quotes, \\ooo."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.back = text, 0, []     # back: pushed-back (char, position)

    def _raw(self) -> tuple[str, int]:
        if self.back:
            return self.back.pop()
        if self.pos >= len(self.text):
            return "", self.pos
        self.pos += 1
        return self.text[self.pos - 1], self.pos - 1

    def getc(self) -> tuple[str, int]:
        c, at = self._raw()
        if c == "\\":
            nxt = self._raw()
            if nxt[0] != "\n":
                if nxt[0]:
                    self.back.append(nxt)
                return c, at
            while True:                          # backslash-newline: one blank, skip indentation
                c2 = self._raw()
                if c2[0] not in (" ", "\t") or not c2[0]:
                    if c2[0]:
                        self.back.append(c2)
                    return " ", at
        return c, at

    def ungetc(self, c: tuple[str, int]) -> None:
        if c[0]:
            self.back.append(c)

    def skip(self, blanks: str) -> None:
        """Skip blanks and '#' comments (a comment runs to the end of the line)."""
        while True:
            c = self.getc()
            if c[0] == "#":
                while True:
                    c = self._raw()
                    if c[0] in ("\n", ""):
                        break
            if not c[0] or c[0] not in blanks + "\0":
                self.ungetc(c)
                return

    def token(self, size: int) -> tuple[int, str, int]:
        """xgettok(): (1, word, position), (0, "", pos) at the end of a line, (-1, ...) if too long."""
        tok: list[str] = []
        quoted, start, c = False, None, ("", self.pos)
        while len(tok) < size:
            c = self.getc()
            if not c[0] or (not quoted and c[0] in " \t\n\r\v\f\0"):
                break
            start = c[1] if start is None else start
            if c[0] == '"':
                quoted = not quoted
                continue
            tok.append(c[0])
            if (len(tok) >= 4 and tok[-4] == "\\" and all(ch in "01234567" for ch in tok[-3:])
                    and int("".join(tok[-3:]), 8) < 256):
                code = int("".join(tok[-3:]), 8)
                del tok[-4:]
                tok.append(chr(code))
        if c[0] == "\n":
            self.ungetc(c)
        if not tok:
            return 0, "", c[1]
        if len(tok) >= size:
            return -1, "", start or 0
        return 1, "".join(tok).split("\0", 1)[0], start or 0


def _c_strtol(text: str, base: int) -> tuple[int, str]:
    """C strtol/strtoul: leading blanks, a sign, 0x/0 prefixes when base is 0; (value, rest)."""
    m = re.match(r"[ \t\n\r\v\f]*([+-]?)", text)
    sign, rest = m.group(1), text[m.end():]
    if base == 0:
        base = 16 if re.match(r"0[xX][0-9a-fA-F]", rest) else 8 if rest.startswith("0") else 10
    if base == 16 and re.match(r"0[xX][0-9a-fA-F]", rest):
        rest = rest[2:]
    digits = re.match("[0-9a-fA-F]*" if base == 16 else "[0-7]*" if base == 8 else "[0-9]*", rest).group()
    if not digits:
        return 0, text
    value = int(digits, base)
    return (-value if sign == "-" else value), rest[len(digits):]


def _int32(value: int) -> int:
    """What a C int keeps of a long (the low 32 bits, signed)."""
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _parse_squash(value: str) -> tuple[int, int]:
    def num(s: str) -> tuple[int, str]:
        m = re.match(r"-?[0-9]*", s)
        return _int32(int(m.group()) if m.group() not in ("", "-") else 0), s[m.end():]
    a, rest = num(value)
    b = a
    if rest.startswith("-"):
        b, rest = num(rest[1:])
    if a == -1 or b == -1:
        raise ValueError("uid/gid -1 not permitted")
    if rest:
        raise ValueError(f"bad uid/gid list {value!r}")
    return a, b


def apply_options(text: str | None, entry: Entry) -> None:
    """nfs-utils' parseopts(): apply a comma-separated option list to an entry, left to right."""
    if text is None:
        return
    active: set[int] = set()                       # indexes of the flavours the last sec= named
    cp = text.lstrip(" \t")
    while cp:
        opt, comma, cp = cp.partition(",")
        cp = cp.lstrip(" \t") if comma else ""
        name, eq, value = opt.partition("=")
        if opt in FLAG_OPTIONS:
            setting, on = FLAG_OPTIONS[opt]
            _set(entry, SETTINGS[setting][0], on, active)
        elif eq and name in ("anonuid", "anongid"):
            number, rest = _c_strtol(value, 10)
            if not value or rest:
                raise ValueError(f"bad value for {name}: {value!r} (accepted: a number)")
            number = max(-2**63, min(2**63 - 1, number))            # strtol saturates at LONG_MIN/MAX
            setattr(entry, name, _int32(number))
        elif eq and name in ("squash_uids", "squash_gids"):
            getattr(entry, name).append(_parse_squash(value))
        elif eq and name == "fsid":
            number, rest = _c_strtol(value, 0)
            if value == "root":
                entry.fsid = 0
                _set(entry, FSID_BIT, True, active)
                continue
            # strtoul() wraps negative numbers and saturates; the result is stored even for a UUID
            entry.fsid = _int32(2**64 - 1 if abs(number) >= 2**64 else number % 2**64)
            if value and not rest:
                _set(entry, FSID_BIT, True, active)
            elif sum(ch in "0123456789abcdefABCDEF" for ch in value) == 32:
                entry.uuid = value
            else:
                raise ValueError(f"bad value for fsid: {value!r} "
                                 "(accepted: a number, root, or a UUID of 32 hex digits)")
        elif opt in ("mountpoint", "mp") or (eq and name in ("mountpoint", "mp")):
            entry.mountpoint = value
        elif eq and name in ("refer", "replicas"):
            entry.fsloc = (name, value)
        elif eq and name == "sec":
            active = set()
            for flavour in value.split(":"):
                if flavour not in FLAVOURS:
                    raise ValueError(f"unknown security flavour {flavour!r} in {opt!r} "
                                     f"(accepted: {', '.join(FLAVOURS)})")
                numbers = [f.number for f in entry.flavours]
                if FLAVOURS[flavour] in numbers:
                    active.add(numbers.index(FLAVOURS[flavour]))
                elif len(entry.flavours) >= MAX_FLAVOURS:
                    raise ValueError(f"more than {MAX_FLAVOURS} security flavours")
                else:
                    entry.flavours.append(Flavour(flavour, FLAVOURS[flavour], entry.flags))
                    active.add(len(entry.flavours) - 1)
        elif name in NEWER:
            raise ValueError(f"unknown option {opt!r} (nfs-utils 2.6.2 does not know it; "
                             f"it appeared in nfs-utils {NEWER[name]})")
        else:
            hint = difflib.get_close_matches(opt, KNOWN, n=1, cutoff=0.75)
            raise ValueError(f"unknown option {opt!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    for f in entry.flavours:                       # fix_pseudoflavor_flags(): the other bits follow
        f.flags |= entry.flags & ~SECINFO_BITS


def _set(entry: Entry, bit: int, on: bool, active: set[int]) -> None:
    entry.flags = entry.flags | bit if on else entry.flags & ~bit
    for i in active:
        f = entry.flavours[i]
        f.flags = f.flags | bit if on else f.flags & ~bit


KNOWN = sorted(set(FLAG_OPTIONS) | {"mountpoint", "mp"} | {v + "=" for v in VALUED})
# options of later nfs-utils releases (git history of support/nfs/exports.c)
NEWER = {"xprtsec": "2.6.3", "reexport": "2.6.3", "sign_fh": "2.9.1"}


def effective(entry: Entry) -> dict[str, str]:
    """Setting -> option name in force, plus the valued options that are set."""
    eff = {name: (on if entry.flags & bit else off) for name, (bit, on, off, _) in SETTINGS.items()}
    eff.update(anonuid=str(entry.anonuid), anongid=str(entry.anongid))
    if entry.fsid is not None and entry.flags & FSID_BIT:
        eff["fsid"] = str(entry.fsid)
    if entry.uuid is not None:
        eff["uuid"] = entry.uuid
    eff["sec"] = ":".join(f.name for f in entry.flavours) or "sys"
    return eff


PATH_SIZE, HOST_SIZE = 1025, 512          # e_path[NFS_MAXPATHLEN+1], exp[512] in getexportent()


def _line_numbers(text: str):
    """pos -> line number, by bisecting the newline positions (counting them anew each time
    made a file of 20,000 lines take 31 s)."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    return lambda pos: bisect.bisect_left(newlines, pos) + 1


def _scan(text: str, strict: bool) -> Iterator[Export]:
    """getexportent(): one Export per path; stop (strict) or resync at the next line on an error."""
    r = _Reader(text)
    line_of = _line_numbers(text)
    while True:
        r.skip(" \t\n")
        ok, path, at = r.token(PATH_SIZE)
        if ok == 0:
            return
        export = Export(path, line_of(at), [])
        base = Entry()
        try:
            if ok < 0:
                raise ExportsError(export.line, "export path too long (at most 1024 characters)")
            first, dashed = True, False
            while True:
                r.skip(" \t")
                ok, word, at = r.token(HOST_SIZE)
                line = line_of(at) if ok else export.line
                if ok < 0:
                    raise ExportsError(line, "client name too long (at most 511 characters)")
                if ok == 0 and not first and not dashed:
                    break
                first = False
                if ok and word.startswith("-") and not dashed:
                    export.defaults += [o for o in word[1:].split(",")]
                    try:
                        apply_options(word[1:], base)
                    except ValueError as exc:
                        raise ExportsError(line, str(exc)) from None
                    dashed = True
                    continue
                client = _client(word if ok else "", base, line, bool(export.defaults))
                export.clients.append(client)
                dashed = False
                if ok == 0:
                    break
        except ExportsError as exc:
            if strict:
                raise
            export.error, export.error_line = exc.message, exc.line
            yield export
            while r.getc()[0] not in ("\n", ""):      # lint goes on with the next line
                pass
            continue
        yield export


def _client(word: str, base: Entry, line: int, after_defaults: bool) -> Client:
    """One client word: host, option list, and its entry (the line's defaults, then its options)."""
    host, paren, opts = word.partition("(")
    if paren:
        close = opts.find(")")
        if close < 0:
            raise ExportsError(line, f"option list not closed: {word!r}")
        if close != len(opts) - 1:
            hint = " ('#' starts a comment only after a blank)" if opts[close + 1] == "#" else ""
            raise ExportsError(line, f"text after the option list: {word!r}{hint}")
        opts = opts[:-1]
    client = Client(host if host or not paren else "*", opts.split(",") if paren and opts else [],
                    line, explicit_host=bool(host) or not paren, has_options=bool(paren))
    client.entry, client.inherited = base.copy(), len(base.flavours)
    client.after_defaults = after_defaults
    try:
        apply_options(opts if paren else None, client.entry)
    except ValueError as exc:
        raise ExportsError(line, f"{client.host or '(no client)'}: {exc}") from None
    client.effective = effective(client.entry)
    return client


def parse(text: str) -> list[Export]:
    """All exports; an error exportfs stops at raises ValueError naming the line."""
    try:
        return list(_scan(text, strict=True))
    except ExportsError as exc:
        raise ValueError(str(exc)) from None


def _ipv4(text: str) -> bytes | None:
    """inet_aton(): 1 to 4 parts, decimal, octal (0...) or hex (0x...), as getaddrinfo accepts."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(re.fullmatch(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*", p)
                                           for p in parts):
        return None
    nums = [int(p, 16) if p[:2].lower() == "0x" else int(p, 8) if p.startswith("0") else int(p)
            for p in parts]
    limits = [256] * (len(nums) - 1) + [2 ** (8 * (5 - len(nums)))]
    if any(n >= lim for n, lim in zip(nums, limits)):
        return None
    value = 0
    for n in nums[:-1]:
        value = value * 256 + n
    value = (value << (8 * (5 - len(nums)))) + nums[-1]
    return value.to_bytes(4, "big")


def client_kind(host: str) -> str:
    """nfs-utils' client_gettype(): anonymous, gss, netgroup, wildcard, subnet or host."""
    if host in ("", "*"):
        return "anonymous"
    if host.startswith("gss/"):
        return "gss"
    if host.startswith("@"):
        return "netgroup"
    i = 0
    while i < len(host):
        if host[i] in "*?[":
            return "wildcard"
        if host[i] == "/":
            return "subnet"
        i += 2 if host[i] == "\\" and i + 1 < len(host) else 1
    return "host"


def subnet(host: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | tuple[bytes, bytes]:
    """address/prefix or address/netmask as exportfs reads it; ValueError if it is skipped.

    Returns an ip_network, or (address, mask) bytes for a netmask with holes."""
    addr, _, mask = host.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"invalid IP address in {host!r}") from None
    bits = ip.max_prefixlen
    if (ip.version == 4 and "." in mask) or (ip.version == 6 and ":" in mask):
        try:
            m = ipaddress.ip_address(mask)
        except ValueError:
            raise ValueError(f"invalid netmask {mask!r} in {host!r}") from None
        ones = bin(int(m)).count("1")
        if int(m) != ((1 << bits) - 1) ^ ((1 << (bits - ones)) - 1):
            return ip.packed, m.packed
        prefix = ones
    else:
        number, rest = _c_strtol(mask, 10)
        if rest or not 0 <= number <= bits:
            raise ValueError(f"invalid prefix {mask!r} in {host!r} (accepted 0..{bits})")
        prefix = number
    return ipaddress.ip_network(f"{addr}/{prefix}", strict=False)


def valid_hostname(host: str) -> bool:
    """Could DNS resolve it: labels of letters, digits, '-' and '_', none starting with '-'."""
    return all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", label) for label in host.rstrip(".").split("."))


def client_key(host: str) -> tuple[str, object]:
    """Which entries exportfs treats as the same client: IP literals by address, the rest by name."""
    kind = client_kind(host)
    if kind == "host":
        v4 = _ipv4(host)
        if v4 is not None:
            return "ip", v4
        try:
            return "ip", ipaddress.IPv6Address(host).packed
        except ValueError:
            pass
    return kind, host.lower()
def _usable(host: str) -> bool:
    """Would exportfs create this client (a valid subnet, a name that could resolve)?"""
    if client_kind(host) == "subnet":
        try:
            subnet(host)
        except ValueError:
            return False
    return client_key(host)[0] != "host" or valid_hostname(host)


def _escape(path: str) -> str:
    """fprintpath(): control characters, blanks, '"', '\\\\' and '#' as \\ooo."""
    return "".join(f"\\{ord(ch):03o}" if ord(ch) < 32 or ord(ch) == 127 or ch in ' "\\#' else ch
                   for ch in path)


def etab_options(e: Entry) -> str:
    """The option string exportfs writes to /var/lib/nfs/etab (putexportent())."""
    out = [("ro" if e.flags & 0x1 else "rw"), ("async" if e.flags & 0x10 else "sync"),
           ("wdelay" if e.flags & 0x20 else "no_wdelay"), ("nohide" if e.flags & 0x200 else "hide"),
           ("crossmnt" if e.flags & 0x4000 else "nocrossmnt"), ("insecure" if e.flags & 0x2 else "secure"),
           ("root_squash" if e.flags & 0x4 else "no_root_squash"),
           ("all_squash" if e.flags & 0x8 else "no_all_squash"),
           ("no_subtree_check" if e.flags & 0x400 else "subtree_check"),
           ("insecure_locks" if e.flags & 0x800 else "secure_locks"), ("no_acl" if e.flags & 0x8000 else "acl")]
    if e.flags & 0x40:
        out.append("nordirplus")
    if e.flags & 0x80:
        out.append("security_label")
    out.append("pnfs" if e.flags & 0x20000 else "no_pnfs")
    if e.flags & FSID_BIT:
        out.append(f"fsid={e.fsid}")
    if e.uuid is not None:
        out.append(f"fsid={e.uuid}")
    if e.mountpoint is not None:
        out.append("mountpoint" + (f"={e.mountpoint}" if e.mountpoint else ""))
    if e.fsloc:
        out.append(f"{e.fsloc[0]}={_escape(e.fsloc[1])}")
    for name, ids in (("squash_uids", e.squash_uids), ("squash_gids", e.squash_gids[:len(e.squash_uids)])):
        if ids or (name == "squash_gids" and e.squash_gids):    # nfs-utils counts gids with the uid count
            out.append(name + "=" + ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ids))
    out.append(f"anonuid={e.anonuid},anongid={e.anongid}")
    flavours = e.flavours or [Flavour("sys", 1, e.flags)]
    i = 0
    while i < len(flavours):                       # runs of flavours with equal flags share one sec=
        j = i + 1
        while j < len(flavours) and flavours[j].flags == flavours[i].flags:
            j += 1
        f = flavours[i].flags
        out.append("sec=" + ":".join(x.name for x in flavours[i:j]) + ","
                   + ("ro" if f & 0x1 else "rw") + "," + ("root_squash" if f & 0x4 else "no_root_squash")
                   + "," + ("all_squash" if f & 0x8 else "no_all_squash"))
        i = j
    return ",".join(out)


def etab(text: str) -> list[str]:
    """The lines `exportfs -ra` writes to /var/lib/nfs/etab for this file (in file order).

    Host names are not resolved: a name is kept as written (exportfs writes the
    canonical name DNS gives), and entries exportfs would skip are left out:
    everything after a parse error, bad subnets, names that cannot be host
    names, and repeated (path, client) pairs."""
    lines, seen, spelling = [], set(), {}
    for export in _scan(text, strict=False):
        for c in export.clients:
            if not _usable(c.host):
                continue                 # exportfs: "Invalid prefix ...", "Failed to resolve ..."
            key = client_key(c.host)
            name = spelling.setdefault(key, c.host)
            if (export.path, key) in seen:
                continue
            seen.add((export.path, key))
            lines.append(f"{_escape(export.path)}\t{name}({etab_options(c.entry)})")
        if export.error:
            break
    return lines


# --8<-- [start:lint]
def contradictions(options: Sequence[str]) -> list[list[str]]:
    """Options (as written) that ask one setting for both values within one sec= section."""
    found: list[list[str]] = []
    section: dict[str, dict[bool, str]] = {}
    for opt in list(options) + ["sec="]:
        if opt.startswith("sec="):
            found += [sorted(set(v.values())) for v in section.values() if len(v) == 2]
            section = {}
        elif opt in FLAG_OPTIONS:
            setting, on = FLAG_OPTIONS[opt]
            section.setdefault(setting, {})[on] = opt
    return found


def _everyone(host: str) -> bool:
    if host in ("", "*"):
        return True
    if client_kind(host) == "subnet":
        try:
            net = subnet(host)
        except ValueError:
            return False
        return not isinstance(net, tuple) and net.prefixlen == 0
    return False


def _client_problems(c: Client, export: Export) -> Iterator[str]:
    kind, host = client_kind(c.host), c.host
    if kind == "subnet":
        try:
            net = subnet(host)
        except ValueError as exc:
            yield f"{exc}: exportfs skips this client"
        else:
            if isinstance(net, tuple):
                yield f"{host}: the netmask has holes (not contiguous ones)"
            elif str(net.network_address) != host.partition("/")[0] and net.prefixlen:
                yield f"{host}: the address has host bits set; it means {net}"
    if kind == "gss":
        flavour = host[4:]
        if flavour in ("krb5", "krb5i", "krb5p"):
            yield f"{host} is the deprecated syntax; use sec={flavour} (exports(5))"
        else:
            yield f"{host}: unknown gss flavour (exports(5) knows gss/krb5, gss/krb5i, gss/krb5p)"
    if kind == "wildcard" and host.startswith("[") and ":" in host:
        yield f"{host}: an IPv6 address in square brackets is read as a wildcard character class"
    elif kind == "wildcard" and re.fullmatch(r"[\d.*?]+", host):
        yield f"{host}: wildcards do not work on IP addresses (exports(5)); use address/prefix"
    if kind == "netgroup" and host == "@":
        yield "'@' without a netgroup name"
    if kind == "host" and host.startswith("-"):
        yield (f"{host!r} is taken as a host name: only one '-options' word may stand before "
               "a client; join them with commas")
    elif kind == "host" and client_key(host)[0] == "host" and not valid_hostname(host):
        yield f"{host!r} is not a valid host name: exportfs cannot resolve it and skips it"


def lint(text: str) -> list[tuple[int, str]]:
    """All problems as (line number, message), in file order."""
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[str, object], int] = {}
    stopped_at: int | None = None
    for export in _scan(text, strict=False):
        if stopped_at is not None:
            problems.append((export.line, f"not exported: exportfs stopped reading at line {stopped_at}"))
        if not export.path.startswith("/"):
            problems.append((export.line, f"export path {export.path!r} is not absolute"))
        previous: Client | None = None
        for c in export.clients:
            problems += [(c.line, m) for m in _problems(c, export, previous)]
            key = client_key(c.host)
            if not _usable(c.host):
                continue                   # exportfs skips it: it cannot be a duplicate either
            if (export.path, key) in seen and stopped_at is None:
                problems.append((c.line, f"{c.host or '*'}: {export.path} is already exported to this "
                                         f"client on line {seen[(export.path, key)]}; exportfs ignores "
                                         "this entry"))
            seen.setdefault((export.path, key), c.line)
            previous = c
        if export.error:
            problems.append((export.error_line, export.error))
            if stopped_at is None:
                stopped_at = export.error_line
                problems.append((stopped_at, "exportfs stops reading the file here: nothing after this "
                                             "point is exported"))
    return problems


def _problems(c: Client, export: Export, previous: Client | None) -> Iterator[str]:
    name, e = c.host or "*", c.entry
    if c.host == "":
        given = (f"the line's defaults (-{','.join(o for o in export.defaults if o)})"
                 if export.defaults else "the defaults (ro,sync,root_squash,...)")
        yield f"{export.path}: no client named: exportfs exports it to everyone with {given}"
    elif not c.has_options and not c.after_defaults:
        yield f"{c.host!r} has no option list: it gets the defaults (ro,sync,root_squash,...)"
    if not c.explicit_host:
        after = f" after {previous.host!r}" if previous and not previous.has_options else ""
        yield (f"'({','.join(c.options)})' has no host before it: exportfs applies it to everyone (*); "
               f"remove the space{after}")
    yield from _client_problems(c, export)
    for group in contradictions(c.options):
        yield f"{c.host}: contradictory options {' and '.join(group)} (the later one wins)"
    own = c.options[:next((i for i, o in enumerate(c.options) if o.startswith("sec=")), len(c.options))]
    per_flavour = [o for o in own if FLAG_OPTIONS.get(o, ("",))[0] in ("access", "squash", "all_squash")]
    if c.inherited and per_flavour:
        names = ":".join(f.name for f in e.flavours[:c.inherited])
        yield (f"{name}: {','.join(per_flavour)} does not reach sec={names} from the line's -options: "
               "those flavours keep the flags they had there")
    in_force = [f.flags for f in e.flavours] or [e.flags]        # the kernel checks per flavour
    if any(not f & 0x4 for f in in_force):
        yield f"{name}: no_root_squash lets root on the client act as root on the export"
    if any(not f & 0x1 for f in in_force) and _everyone(c.host):
        yield "rw is exported to everyone (*)"
    if e.flags & 0x10:
        yield (f"{name}: async acknowledges writes before they reach stable storage; "
               "a server crash can lose or corrupt data")
    if e.flags & 0x200 and client_kind(c.host) != "host":
        yield f"{name}: nohide works only on single-host exports (exports(5))"
    for opt in ("anonuid", "anongid"):
        value = getattr(e, opt)
        written = [o for o in c.options if o.startswith(opt + "=")][-1:]
        if written and str(value) != written[0].partition("=")[2]:
            yield f"{name}: {written[0]} is stored as the 32-bit number {value}"
    if e.squash_uids or e.squash_gids:
        yield f"{name}: squash_uids/squash_gids are not in exports(5); mountd never passes them to the kernel"
    if len({o.partition("=")[0] for o in c.options} & {"refer", "replicas"}) > 1:
        yield f"{name}: refer= and replicas= both given; only the last one is kept"


# --8<-- [end:lint]


MAX_BYTES = 1 << 20           # a bound of this tool: an exports file of 20,000 lines is 1.5 MB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lint an NFS exports file (exports(5)).")
    parser.add_argument("file", help="an exports file, e.g. /etc/exports")
    parser.add_argument("--etab", action="store_true",
                        help="print what exportfs -ra would write to /var/lib/nfs/etab instead")
    args = parser.parse_args(argv)
    try:
        # a regular file or a pipe, at most MAX_BYTES: /dev/zero or a runaway pipe cannot fill memory
        text = read_limited(args.file, MAX_BYTES, "exports").decode("utf-8", "surrogateescape")
    except OSError as exc:
        print(printable(f"exports.py: cannot read {args.file}: {exc.strerror or exc}"), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(printable(f"exports.py: {exc}"), file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    if args.etab:
        for line in etab(text):
            out.write(line.encode("utf-8", "surrogateescape") + b"\n")
        return 0
    problems = lint(text)
    for number, message in problems:
        out.write(f"{args.file}:{number}: {message}\n".encode("utf-8", "surrogateescape"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
