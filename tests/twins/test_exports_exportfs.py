"""Twin: snippets/exports.py against nfs-utils' exportfs (Debian nfs-kernel-server 2.6.2).

exportfs needs no kernel nfsd to *parse*: `exportfs -ra` reads /etc/exports
and writes every (path, client) it accepted, with all options in force, to
/var/lib/nfs/etab; only the hand-over to the kernel fails here.  So each
generated exports file is bind-mounted over /etc/exports in a private mount
namespace (with a temp dir over /var/lib/nfs), exportfs -ra runs, and the etab
it wrote must equal, line for line and byte for byte, `exports.etab()`.

A second test feeds 300 files of random words and punctuation (host names and paths
that exist on this machine are left out of the comparison: DNS and realpath()).

The generated files use every form exports(5) describes and the corner cases
of nfs-utils' parser: comments, backslash continuations, quoted paths and
\\ooo escapes, '-options' (several, trailing, alone), "(opts)" without a host,
lines without clients, IPv4/IPv6 addresses, prefixes and netmasks (bad ones
too), wildcards, netgroups, gss/krb5, all options of exports(5) with odd
values (hex and octal fsid, negative and huge anonuid, UUIDs), sec= lists with
per-flavour options, duplicates, and errors that make exportfs stop reading.
Host *names* are left out: exportfs resolves them with DNS.
"""
from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import exports as ex
from labkit import need_root, need_tools

pytestmark = pytest.mark.twin

N_FILES = 300
SCRIPT = r"""
set -e
if [ -e /etc/exports ]; then
    mount --bind "$1/exports" /etc/exports
else                                  # no /etc/exports to cover: a private copy of /etc instead
    cp -a /etc "$1/etc" && cp "$1/exports" "$1/etc/exports" && mount --bind "$1/etc" /etc
fi
mount --bind "$1/lib" /var/lib/nfs
if [ -d /etc/exports.d ]; then mount -t tmpfs none /etc/exports.d; fi
for f in "$1"/in/*; do
    cat "$f" > /etc/exports
    : > /var/lib/nfs/etab
    exportfs -ra 2>"$1/out/$(basename "$f").err" || true
    cp /var/lib/nfs/etab "$1/out/$(basename "$f")"
done
"""

HOSTS_V4 = ["127.0.0.1", "10.1.2.3", "192.0.2.7", "198.51.100.1", "10.1", "0x7f.1", "012.0.0.1"]
HOSTS_V6 = ["::1", "2001:db8::5", "2001:DB8:0:0::5", "fe80::1", "2001:db8:9:e54::1"]
SUBNETS = ["10.0.0.0/8", "10.1.2.3/8", "192.168.0.0/255.255.0.0", "192.168.0.0/255.0.255.0", "0.0.0.0/0",
           "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/8x", "300.0.0.0/8", "10.0.0.0/+24", "2001:db8::/64",
           "2001:db8::/129", "2001:db8:9:e54::/ffff:ffff::", "::/0", "172.16.0.0/012"]
OTHERS = ["*", "*.example.com", "host?", "HOST?", "[ab]c.lab", "buildhost[0-9].local.domain", "@trusted",
          "@Trusted", "gss/krb5", "gss/krb5p", "10.0.0.*"]
FLAGS = sorted(o for o in ex.FLAG_OPTIONS)
FLAVOURS = list(ex.FLAVOURS)


def rand_option(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        return rng.choice(FLAGS)
    if kind < 0.65:
        return f"sec={':'.join(rng.choice(FLAVOURS) for _ in range(rng.randrange(1, 4)))}"
    if kind < 0.75:
        return rng.choice(["anonuid", "anongid"]) + "=" + rng.choice(
            ["0", "150", "65534", "-1", "-2", "4294967295", "4294967296", "12345678901", "+7",
             "99999999999999999999", str(rng.randrange(2**31))])
    if kind < 0.85:
        return "fsid=" + rng.choice(["0", "root", "1", "0x10", "010", "4294967295", "-1", str(rng.randrange(99999)),
                                     "12345678-9abc-def0-1234-56789abcdef0", "0123456789abcdef0123456789ABCDEF"])
    if kind < 0.92:
        return rng.choice(["mp", "mountpoint", "mp=/mnt/x", "mountpoint=", "mountpoint=/srv/a#b"])
    return rng.choice(["refer", "replicas"]) + "=" + rng.choice(
        ["/a@h1+h2", "/a@h1:/b@h2", "/with\\040space@h", "/x@192.0.2.1"])


BAD_OPTIONS = ["bogus", "rw,,ro", "anonuid=nobody", "fsid=zz", "fsid=", "sec=krb6", "no_subtre_check",
               "rdirplus", "xprtsec=tls", "anongid="]


def rand_client(rng: random.Random, allow_errors: bool) -> str:
    pool = rng.choice([HOSTS_V4, HOSTS_V6, SUBNETS, OTHERS])
    host = rng.choice(pool) if rng.random() > 0.05 else ""
    if rng.random() < 0.15 and host:
        return host                                               # no option list
    opts = [rand_option(rng) for _ in range(rng.randrange(0, 6))]
    if allow_errors and rng.random() < 0.04:
        opts.insert(rng.randrange(len(opts) + 1), rng.choice(BAD_OPTIONS))
    text = f"{host}({','.join(opts)})"
    if allow_errors and rng.random() < 0.01:
        text = rng.choice([text[:-1], text + "x", text + "(ro)"])   # not closed, trailing text
    return text


def rand_path(rng: random.Random, i: int) -> str:
    base = f"/twin-nx/e{i}"
    style = rng.random()
    if style < 0.6:
        return base
    if style < 0.7:
        return f'"{base} with space"'
    if style < 0.8:
        return base + rng.choice(["\\040x", "\\043hash", "\\134back", "\\011tab", "\\4000"])
    if style < 0.9:
        return base + "#not-a-comment"
    return f'{base}/"quoted part"/z'


def rand_file(rng: random.Random) -> str:
    lines = []
    if rng.random() < 0.5:
        lines.append("# sample /etc/exports file")
    for i in range(rng.randrange(1, 7)):
        words = [rand_path(rng, i if rng.random() > 0.1 else 0)]     # sometimes the same path again
        if rng.random() < 0.3:
            words.append("-" + ",".join(rand_option(rng) for _ in range(rng.randrange(0, 4))))
        for _ in range(rng.randrange(0, 5)):
            if rng.random() < 0.1:
                words.append("-" + ",".join(rand_option(rng) for _ in range(rng.randrange(0, 3))))
            words.append(rand_client(rng, allow_errors=True))
        sep = [" "] * (len(words) - 1)
        for k in range(len(sep)):
            if rng.random() < 0.1:
                sep[k] = " \\\n\t  "                          # continuation line
            elif rng.random() < 0.1:
                sep[k] = "\t"
        line = words[0] + "".join(s + w for s, w in zip(sep, words[1:]))
        if rng.random() < 0.2:
            line += "   # trailing comment (rw)"
        lines.append(line)
        if rng.random() < 0.2:
            lines.append("")
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


HAND_CASES = [
    # exports(5) EXAMPLE, with host names replaced by addresses (exportfs resolves names)
    "/               192.0.2.1(rw) 192.0.2.2(rw,no_root_squash)\n"
    "/projects       proj*.local.domain(rw)\n"
    "/usr            *.local.domain(ro) @trusted(rw)\n"
    "/home/joe       192.0.2.3(rw,all_squash,anonuid=150,anongid=100)\n"
    "/pub            *(ro,insecure,all_squash)\n"
    "/srv/www        -sync,rw 192.0.2.4 @trusted @external(ro)\n"
    "/foo            2001:db8:9:e54::/64(rw) 192.0.2.0/24(rw)\n"
    "/build          buildhost[0-9].local.domain(rw)\n",
    "/a 127.0.0.1 (rw)\n",                                   # the space: the world gets rw
    "/b -rw,async\n/c\n/d 127.0.0.1(ro) -\n",               # no client: exported to everyone
    "/e -rw -async 127.0.0.4\n",                            # the second dash word is a host name
    "/f -sec=krb5,no_root_squash 10.0.0.1(rw) 10.0.0.2(sec=sys,rw) 10.0.0.3(ro,sec=krb5p)\n",
    "/g 10.0.0.1(sec=krb5p,rw,sec=sys,ro) 10.0.0.2(rw,sec=krb5:krb5i,ro,no_root_squash,sec=sys:unix:krb5,all_squash)\n",
    "/h 10.0.0.1(rw) 10.0.0.2(bogus) 10.0.0.3(ro)\n/i 10.0.0.1(rw)\n",      # exportfs stops at 'bogus'
    "/j 127.1(rw) 127.0.0.1(ro)\n/k 127.0.0.1(rw)\n",       # one client, first spelling kept
    '"/l m" "10.0.0.1(rw, async)" /n\\040o\n',
    "/p 10.0.0.1(fsid=root,fsid=-1,anonuid=12345678901,anongid=99999999999999999999)\n",
    # corner cases of xio.c: a '#' glued to a word, CR and form feed as blanks, a backslash not
    # before a newline, a continuation at the end of the file, UTF-8 and DEL in paths, \\000
    "/q 10.0.0.1(rw)#glued\n/r 10.0.0.2(ro)\n",
    "/s\r 10.0.0.1(rw)\f10.0.0.2(ro)\n/t\\x 10.0.0.3(rw)\n/u 10.0.0.4(rw) \\",
    "/v/\u00e9t\u00e9 10.0.0.1(rw)\n/w\x7f 10.0.0.2(ro)\n/x\\000y 10.0.0.3(ro)\n",
    # words at and past the length limits: a 511-character host is fine, 512 stops the file
    "/y " + "a" * 500 + ".example(ro) 10.0.0.1(rw)\n/z 10.0.0.2(rw)\n",
    "/y " + "a" * 511 + "(ro) 10.0.0.1(rw)\n/z 10.0.0.2(rw)\n",
    "/" + "p" * 1023 + " 10.0.0.1(rw)\n/" + "q" * 1024 + " 10.0.0.2(rw)\n/z 10.0.0.3(rw)\n",
    # sec= corner cases: nine flavours (one too many), empty flavour, repeated sec= in the defaults
    "/f1 10.0.0.1(sec=krb5:krb5i:krb5p:sys:null)\n/f2 10.0.0.1(sec=sys:)\n/f3 10.0.0.2(rw)\n",
    "/g1 -sec=krb5,rw,sec=sys -ro 10.0.0.1 10.0.0.2(sec=krb5p,no_root_squash)\n",
]


def run_exportfs(tmp_path: Path, texts: list[str]) -> list[list[str]]:
    need_root()
    need_tools("exportfs", "unshare", "mount")
    # the kernel's export table is not per namespace: with a running nfsd, exportfs -ra here
    # would replace the machine's real exports with the generated ones
    if Path("/proc/net/rpc/nfsd.export").exists() or Path("/proc/fs/nfsd/threads").exists():
        pytest.skip("a kernel NFS server is loaded; exportfs -ra would change its real exports")
    for d in ("in", "out", "lib"):
        (tmp_path / d).mkdir()
    (tmp_path / "exports").write_text("")
    for i, text in enumerate(texts):
        (tmp_path / "in" / f"{i:04d}").write_bytes(text.encode())
    subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT, "sh", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    return [(tmp_path / "out" / f"{i:04d}").read_bytes().decode("utf-8", "surrogateescape").splitlines()
            for i in range(len(texts))]


def warnings(tmp_path: Path, i: int) -> str:
    return (tmp_path / "out" / f"{i:04d}.err").read_text(errors="replace")


def test_etab_equals_exportfs_on_hand_cases_and_generated_files(tmp_path):
    rng = random.Random(20091231)          # exports(5) is dated 31 December 2009
    texts = HAND_CASES + [rand_file(rng) for _ in range(N_FILES)]
    real = run_exportfs(tmp_path, texts)
    stopped = 0
    for i, (text, theirs) in enumerate(zip(texts, real)):
        ours = ex.etab(text)
        assert sorted(ours) == sorted(theirs), f"\n--- exports\n{text}--- exportfs\n" + "\n".join(
            sorted(theirs)) + "\n--- ours\n" + "\n".join(sorted(ours))
        scanned = list(ex._scan(text, strict=False))
        stopped += any(e.error for e in scanned)
        exportfs_error = re.search(r"unknown keyword|bad anonuid|bad anongid|bad fsid|unknown flavor|"
                                   r"syntax error|not permitted", warnings(tmp_path, i))
        # (a path that is too long stops exportfs silently: getpath() fails without a message)
        assert bool(exportfs_error) == any(e.error and "path too long" not in e.error for e in scanned), text
        if not any(e.error for e in scanned):
            # the linter's "no host" and "no options" findings are exportfs' own warnings
            err, msgs = warnings(tmp_path, i), [m for _, m in ex.lint(text)]
            assert err.count("No host name given") == sum("has no host before it" in m for m in msgs), text
            bad_subnets = sum(err.count(w) for w in ("Invalid prefix", "Invalid netmask", "Invalid IP address"))
            assert bad_subnets == 2 * sum("exportfs skips this client" in m for m in msgs)   # logged twice
            assert err.count("duplicated export entries:") == sum("exportfs ignores this entry" in m for m in msgs)
            assert err.count("No options for") == sum("has no option list" in m for m in msgs) + sum(
                "no client named" in m and "defaults (ro," in m for m in msgs), text
    assert stopped >= 5                    # the generator really hit exportfs' stop-on-error path
    assert sum(len(r) for r in real) > 5 * N_FILES
    # the hand cases: what exports(5) says, seen in exportfs' own output
    a = real[1]
    assert any(l.startswith("/a\t127.0.0.1(ro,") for l in a) and any(l.startswith("/a\t*(rw,") for l in a)
    assert [l.split("\t")[0] for l in real[6]] == ["/h"]          # stopped at 'bogus': 10.0.0.1 only
    shutil.rmtree(tmp_path / "in")


GARBAGE = list('/ab(),-="#\\\t 01*@:.') + ["rw", "ro", "sec=sys", "sec=krb5p", "10.0.0.1", "\\040", "async", "-rw",
                                            "fsid=1", "\\\n", "(", ")", "\n", "::1", "10.0.0.0/8", "no_root_squash"]


def garbage_file(rng: random.Random) -> str:
    """Random words and punctuation; quotes are balanced per line (a quoted newline would put a
    newline inside an etab line and make the two files impossible to compare line by line)."""
    lines = "".join(rng.choice(GARBAGE) for _ in range(rng.randrange(1, 50))).split("\n")
    return "\n".join(l + '"' if l.count('"') % 2 else l for l in lines)


def comparable(line: str) -> bool:
    """Leave out what depends on this machine: host names (DNS) and paths that exist (realpath)."""
    path, host = line.split("\t", 1)[0], line.split("\t", 1)[1].split("(", 1)[0]
    path = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)
    return not Path(path).exists() and ex.client_key(host)[0] != "host"


def test_etab_equals_exportfs_on_random_garbage(tmp_path):
    rng = random.Random(4506)
    texts = [garbage_file(rng) for _ in range(300)]
    real = run_exportfs(tmp_path, texts)
    compared = 0
    for text, theirs in zip(texts, real):
        ours = sorted(l for l in ex.etab(text) if comparable(l))
        theirs = sorted(l for l in theirs if comparable(l))
        assert ours == theirs, f"\n--- exports\n{text!r}\n--- exportfs\n{theirs}\n--- ours\n{ours}"
        compared += len(ours)
        ex.lint(text)                      # and the linter copes with all of it
    assert compared > 100
