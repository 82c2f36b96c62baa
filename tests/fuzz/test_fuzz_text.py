"""Fuzz: fstab and exports files from a grammar of what those files hold (and what people get
wrong), then mutated byte by byte; read by fstab.py, exports.py and exports.py --etab."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

import fuzzkit


@pytest.fixture(scope="module")
def pool():
    p = fuzzkit.Pool()
    yield p
    p.close()


def word(rng: random.Random) -> str:
    return rng.choice(["a", "data", "x" * rng.randrange(1, 2000), "\\040", "é", "\x00", "\x1b[2J", "#",
                       "\\", "\"", "(", ")", ",", "=", "\t", "\\\n", "\ud800".encode("utf-8", "surrogatepass")
                       .decode("utf-8", "replace"), str(rng.randrange(10**6))])


def fstab_line(rng: random.Random) -> str:
    spec = rng.choice(["UUID=0a3c5e1f-8d2b-4c6e-9f10-2b3c4d5e6f70", "LABEL=data", "/dev/sda1", "/dev/nvme0n1p2",
                       "PARTUUID=abc", "none", "tmpfs", "server:/export", "/dev/mapper/vg-lv", word(rng)])
    target = rng.choice(["/", "/data", "/mnt/my\\040disk", "none", "swap", "relative", "/home", word(rng)])
    vfs = rng.choice(["ext4", "xfs", "swap", "nfs", "tmpfs", "btrfs", "fuse.sshfs", "bogus", "auto", word(rng)])
    opts = rng.choice(["defaults", "rw,noatime", "bind", "ro,nofail,x-systemd.automount", word(rng)])
    fields = [spec, target, vfs, opts]
    for _ in range(rng.choice([0, 1, 2, 2, 2, 3])):
        fields.append(fuzzkit.interesting_numbers(rng) or "0")
    if rng.random() < 0.1:
        del fields[rng.randrange(len(fields))]
    return rng.choice([" ", "\t", "  "]).join(fields)


def exports_line(rng: random.Random) -> str:
    path = rng.choice(["/srv/data", "/export", "relative", "\"/a b\"", "/srv/with\\040space", "/", word(rng)])
    parts = [path]
    if rng.random() < 0.2:
        parts.append("-" + ",".join(rng.choice(OPTIONS) for _ in range(rng.randrange(1, 4))))
    for _ in range(rng.randrange(0, 4)):
        host = rng.choice(["*", "host1", "10.0.0.0/8", "10.0.0.1/255.255.0.0", "10.1.2.3/255.0.255.0",
                           "@netgroup", "gss/krb5", "*.lab", "[::1]", "::1/64", "192.168.1.*", "-x", "",
                           word(rng)])
        opts = ",".join(rng.choice(OPTIONS) for _ in range(rng.randrange(0, 5)))
        sep = rng.choice(["", "", "", " "])
        parts.append(host + (sep + "(" + opts + rng.choice([")", ")", ")", "", ")x"]) if rng.random() < 0.8 else ""))
    line = " ".join(parts)
    if rng.random() < 0.1:
        line += " # " + word(rng)
    if rng.random() < 0.05:
        line += " \\"
    return line


OPTIONS = ["rw", "ro", "sync", "async", "no_root_squash", "root_squash", "all_squash", "no_subtree_check",
           "insecure", "crossmnt", "nohide", "sec=sys", "sec=krb5:krb5p", "sec=bogus", "fsid=0", "fsid=root",
           "fsid=" + "f" * 32, "fsid=-1", "anonuid=65534", "anonuid=" + "9" * 40, "anongid=-2",
           "squash_uids=0-15", "refer=/a@b", "replicas=/x@y", "mp", "mountpoint=/m", "xprtsec=tls",
           "bogus", "", "rw=x"]


def text_case(rng: random.Random, d: Path) -> fuzzkit.Case:
    kind = rng.choice(["fstab", "exports", "exports-etab"])
    make = fstab_line if kind == "fstab" else exports_line
    text = "\n".join(make(rng) for _ in range(rng.choice([1, 3, 10, 50, 300])))
    data = text.encode("utf-8", "surrogatepass")
    note = "grammar"
    if rng.random() < 0.3:
        data, note = fuzzkit.mutate(data, rng, [], wide=True)
    (d / "input").write_bytes(data)
    if kind == "fstab":
        return fuzzkit.Case("fstab", ["input"], statuses=(0, 1, 2), note=note)
    argv = ["--etab", "input"] if kind == "exports-etab" else ["input"]
    return fuzzkit.Case("exports", argv, statuses=(0, 1, 2), note=note)


def test_fuzz_fstab_and_exports_files(pool, tmp_path):
    report = fuzzkit.run_campaign("text", pool, tmp_path, text_case, count=300, share=0.15)
    assert not report.failures, report.message()
