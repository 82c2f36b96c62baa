"""Parse /etc/exports as exports(5) describes it, and lint it for the classic mistakes.

Each line is an export path followed by clients, each client optionally
followed *without a space* by a parenthesised option list:
``/srv/data 192.168.1.0/24(rw,sync) *.lab(ro)``.  A client written with a
space before ``(`` becomes two entries: the host with the default options,
and an option list with no host, which exportfs applies to every host
(``*``) and only warns about (nfs-utils ``support/export/exports.c``,
"No host name given ... suggest *(...)").

The linter reports, one line per problem as ``FILE:LINE: message``:

* the space between host and ``(`` (the world gets those options);
* ``no_root_squash``; ``rw`` given to everyone (``*`` or no host);
* unknown or misspelled options (with a suggestion), bad numeric values;
* contradictory options in one list (``ro`` and ``rw``, ``sync`` and ``async``...);
* a relative export path; ``async`` (replies before data is on stable storage);
* a client without options (it silently gets the defaults, read-only).

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
import sys

# --8<-- [start:imports]
import difflib
import re
from dataclasses import dataclass, field
from typing import Sequence
# --8<-- [end:imports]

# --8<-- [start:defaults]
# Each option sets one "setting"; the default is what nfs-utils uses when the
# option is absent (exports(5), nfs-utils 2.6).
SETTINGS: dict[str, tuple[str, list[str]]] = {
    # setting:        (default,            options that set it)
    "access":         ("ro",               ["ro", "rw"]),
    "sync":           ("sync",             ["sync", "async"]),          # sync since nfs-utils 1.0.1
    "squash":         ("root_squash",      ["root_squash", "no_root_squash"]),
    "all_squash":     ("no_all_squash",    ["all_squash", "no_all_squash"]),
    "subtree":        ("no_subtree_check", ["subtree_check", "no_subtree_check"]),  # since 1.1.0
    "secure":         ("secure",           ["secure", "insecure"]),
    "wdelay":         ("wdelay",           ["wdelay", "no_wdelay"]),
    "hide":           ("hide",             ["hide", "nohide"]),
    "crossmnt":       ("nocrossmnt",       ["crossmnt", "nocrossmnt"]),
    "auth_nlm":       ("auth_nlm",         ["auth_nlm", "no_auth_nlm", "secure_locks", "insecure_locks"]),
    "acl":            ("acl",              ["acl", "no_acl"]),
    "pnfs":           ("no_pnfs",          ["pnfs", "no_pnfs"]),
    "rdirplus":       ("rdirplus",         ["rdirplus", "nordirplus"]),
    "security_label": ("off",              ["security_label"]),
}
# options with a value: name -> regular expression the value must match
VALUED = {
    "anonuid": r"-?\d+", "anongid": r"-?\d+",        # default 65534 (nobody)
    "fsid": r"\d+|root|[0-9a-fA-F:-]{32,}",
    "sec": r"(sys|krb5|krb5i|krb5p)(:(sys|krb5|krb5i|krb5p))*",
    "mountpoint": r".+", "mp": r".+", "refer": r".+", "replicas": r".+", "uuid": r".+",
}
FLAG_VALUED = {"mountpoint", "mp"}                   # also valid without "=value"
DEFAULTS = {name: default for name, (default, _) in SETTINGS.items()}
OPTION_SETTING = {opt: name for name, (_, opts) in SETTINGS.items() for opt in opts}
# synonyms that mean the same value of a setting
CANONICAL = {"secure_locks": "auth_nlm", "insecure_locks": "no_auth_nlm"}
# --8<-- [end:defaults]


@dataclass
class Client:
    host: str                        # "*" when the option list had no host
    options: list[str]               # as written, in order
    explicit_host: bool = True
    has_options: bool = True
    effective: dict[str, str] = field(default_factory=dict)


@dataclass
class Export:
    path: str
    line: int
    clients: list[Client]
    defaults: list[str] = field(default_factory=list)     # a "-opt,opt" after the path


# --8<-- [start:parse]
def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Strip comments, join backslash continuations; keep the first line number."""
    out, buf, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r'("[^"]*")|#.*', lambda m: m.group(1) or "", raw)   # '#' outside quotes
        if not buf:
            start = number
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf))
        buf = ""
    if buf.strip():
        out.append((start, buf))
    return out


def _tokens(line: str) -> list[str]:
    """Whitespace-separated tokens; a double-quoted path may contain spaces."""
    return [m.group(1) if m.group(1) is not None else m.group(2)
            for m in re.finditer(r'"([^"]*)"|(\S+)', line)]


def apply_options(options: Sequence[str], base: dict[str, str]) -> dict[str, str]:
    """Effective settings: later options win, as in nfs-utils' parseopts()."""
    eff = dict(base)
    for opt in options:
        name, _, value = opt.partition("=")
        if opt in OPTION_SETTING:
            eff[OPTION_SETTING[opt]] = CANONICAL.get(opt, opt)
        elif name in VALUED:
            eff[name] = value
    return eff


def parse(text: str) -> list[Export]:
    exports = []
    for number, line in _logical_lines(text):
        tokens = _tokens(line)
        path, rest = tokens[0], tokens[1:]
        base = dict(DEFAULTS)
        clients: list[Client] = []
        line_defaults: list[str] = []
        for tok in rest:
            if tok.startswith("-") and not clients:          # "-opts": defaults for this line
                line_defaults += [o for o in tok[1:].split(",") if o]
                base = apply_options(line_defaults, DEFAULTS)
                continue
            host, paren, opts = tok.partition("(")
            if paren and not opts.endswith(")"):
                raise ValueError(f"line {number}: option list not closed: {tok!r}")
            options = [o for o in opts[:-1].split(",") if o] if paren else []
            client = Client(host or "*", options, explicit_host=bool(host), has_options=bool(paren))
            client.effective = apply_options(options, base)
            clients.append(client)
        exports.append(Export(path, number, clients, line_defaults))
    return exports
# --8<-- [end:parse]


# --8<-- [start:lint]
KNOWN = sorted(set(OPTION_SETTING) | set(VALUED))


def contradictions(options: Sequence[str]) -> list[list[str]]:
    """Groups of options (as written) that ask one setting for different values."""
    given: dict[str, dict[str, str]] = {}
    for opt in options:
        if opt in OPTION_SETTING:
            given.setdefault(OPTION_SETTING[opt], {})[CANONICAL.get(opt, opt)] = opt
    written = [sorted(set(o for o in options if OPTION_SETTING.get(o) == setting))
               for setting, values in given.items() if len(values) > 1]
    return written


def _check_option(opt: str) -> str | None:
    name, eq, value = opt.partition("=")
    if opt in OPTION_SETTING or (opt in FLAG_VALUED):
        return None
    if name in VALUED and eq:
        if re.fullmatch(VALUED[name], value):
            return None
        return f"bad value for {name}: {value!r}"
    hint = difflib.get_close_matches(name, KNOWN, n=1, cutoff=0.75)
    return f"unknown option {opt!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")


def lint(text: str) -> list[tuple[int, str]]:
    """All problems as (line number, message), in file order."""
    problems: list[tuple[int, str]] = []
    for number, line in _logical_lines(text):
        try:
            (export,) = parse(line)
        except ValueError as exc:
            problems.append((number, str(exc).split(": ", 1)[1]))
            continue
        if not export.path.startswith("/"):
            problems.append((number, f"export path {export.path!r} is not absolute"))
        if not export.clients:
            problems.append((number, f"{export.path} has no clients"))
        for opt in export.defaults:
            msg = _check_option(opt)
            if msg:
                problems.append((number, msg))
        previous: Client | None = None
        for c in export.clients:
            if not c.has_options:
                given = (f"this line's defaults (-{','.join(export.defaults)})" if export.defaults
                         else "the defaults (ro,sync,root_squash,...)")
                problems.append((number, f"{c.host!r} has no option list: it gets {given}"))
            if not c.explicit_host:
                where = f" after {previous.host!r}" if previous and not previous.has_options else ""
                problems.append((number, f"'({','.join(c.options)})' has no host before it: exportfs "
                                         f"applies it to everyone (*); remove the space{where}"))
            for opt in c.options:
                msg = _check_option(opt)
                if msg:
                    problems.append((number, msg))
            for group in contradictions(c.options):
                problems.append((number, f"{c.host}: contradictory options "
                                         f"{' and '.join(group)} (the later one wins)"))
            if c.effective["squash"] == "no_root_squash":
                problems.append((number, f"{c.host}: no_root_squash lets root on the client act as "
                                         "root on the export"))
            if c.effective["access"] == "rw" and c.host in ("*", "*.*"):
                problems.append((number, "rw is exported to everyone (*)"))
            if c.effective["sync"] == "async":
                problems.append((number, f"{c.host}: async acknowledges writes before they reach "
                                         "stable storage; a server crash can lose or corrupt data"))
            previous = c
    return problems
# --8<-- [end:lint]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lint an NFS exports file (exports(5)).")
    parser.add_argument("file", help="an exports file, e.g. /etc/exports")
    args = parser.parse_args(argv)
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"exports.py: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    problems = lint(text)
    for number, message in problems:
        print(f"{args.file}:{number}: {message}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
