r"""A small static linter for /etc/fstab: the mistakes that drop a server into emergency mode.

fstab(5) has six whitespace-separated fields per line: fs_spec (what),
fs_file (where), fs_vfstype, fs_mntops, fs_freq (dump) and fs_passno (fsck
order); the last two may be omitted and then count as 0.  Spaces inside a
field are written as `\040`.  This linter reads the text only, so it runs
anywhere (a rescue shell, CI, a config-management diff); `findmnt --verify`
complements it by checking the entries against the running machine
(devices present, filesystem types detected, targets existing).

Checks: field count, absolute mount point, duplicate mount points, unstable
kernel device names (/dev/sdX, /dev/vdX, /dev/nvme...: the order can change
between boots; use UUID=, LABEL=, PARTUUID= or PARTLABEL=), unknown
filesystem type, dump and pass values, and swap entries.

Errors are what makes mount, findmnt or the boot fail; everything legal but
unusual is a warning.  fs_freq and fs_passno only have to be integers (libmount
rejects the line otherwise: `findmnt --verify` reports a parse error).  Any
fs_freq >= 0 is fine: dump(8) reads it as the number of days between dumps.
A pass above 2 is legal too: `fsck -A` checks the passes in increasing order
(fsck(8)), but systemd-fstab-generator(8) treats passno as a boolean and
drops the order, so the linter warns.

>>> text = '''
... UUID=0a3c5e1f-8d2b-4c6e-9f10-2b3c4d5e6f70  /      ext4  defaults  0 1
... /dev/sdb1                                  /data  xfs   defaults  0 2
... LABEL=mydata                               /data  ext4  defaults  0 2
... '''
>>> for issue in lint(text):
...     print(issue)
3: warning: /dev/sdb1 is a kernel name that can change between boots; use UUID=, LABEL=, PARTUUID= or PARTLABEL=
4: error: mount point /data already used on line 3
>>> lint("/dev/sda1 /")
[Issue(line=1, level='error', message='2 fields; fstab(5) needs 4 to 6 (spec, file, vfstype, mntops[, freq[, passno]])')]

Legal but unusual values are warnings, not errors (findmnt accepts them):

>>> for issue in lint("LABEL=d /data ext4 defaults 7 3\nLABEL=e /e ext4 defaults 1 x"):
...     print(issue)
1: warning: pass 3: fsck -A checks it after pass 2, but systemd ignores the order (any non-zero pass is checked, root first); use 2
2: error: pass field 'x' is not an integer; libmount rejects the line
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from safety import printable, read_limited

# --8<-- [start:imports]
import re
from dataclasses import dataclass
from collections.abc import Iterable
# --8<-- [end:imports]

# --8<-- [start:rules]
# Filesystem types a Linux fstab commonly names (mount(8), fstab(5), the
# kernel's /proc/filesystems); `auto` lets mount probe; `fuse.*` are FUSE.
KNOWN_TYPES: set[str] = {
    "auto", "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "exfat", "ntfs", "ntfs3",
    "iso9660", "udf", "squashfs", "erofs", "swap", "tmpfs", "ramfs", "proc", "sysfs",
    "devpts", "devtmpfs", "cgroup", "cgroup2", "debugfs", "securityfs", "hugetlbfs",
    "mqueue", "bpf", "overlay", "nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs",
    "zfs", "f2fs", "none",
}
# Types with no block device behind them: fsck never checks these.
NO_FSCK_TYPES = {"swap", "tmpfs", "ramfs", "proc", "sysfs", "devpts", "devtmpfs",
                 "cgroup", "cgroup2", "debugfs", "securityfs", "hugetlbfs", "mqueue",
                 "bpf", "overlay", "nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs",
                 "none"}
INTEGER = re.compile(r"[+-]?[0-9]+")
UNSTABLE = re.compile(r"^/dev/(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+)(p?\d+)?$")
TAGS = ("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "ID=")


@dataclass(frozen=True)
class Issue:
    line: int
    level: str        # "error" (mount, findmnt or boot will fail) or "warning" (legal, but check it)
    message: str

    def __str__(self) -> str:
        return f"{self.line}: {self.level}: {self.message}"


def unescape(field: str) -> str:
    r"""fstab(5) octal escapes: `\040` is a space, `\011` a tab.

    >>> unescape(r"/mnt/my\040disk")
    '/mnt/my disk'
    """
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def c_int(field: str) -> int:
    """fs_freq and fs_passno as libmount reads them: strtol() (saturating at 2^63 - 1 and
    -2^63) stored in an int, which keeps the low 32 bits.

    >>> c_int("2"), c_int("4294967298"), c_int("9" * 5000)
    (2, 2, -1)
    """
    negative = field.startswith("-")
    digits = field.lstrip("+-").lstrip("0") or "0"
    magnitude = int(digits) if len(digits) <= 19 else 2**63       # more digits: past any long
    value = -min(magnitude, 2**63) if negative else min(magnitude, 2**63 - 1)
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


# --8<-- [end:rules]


# --8<-- [start:lint]
def lint(text: str, extra_types: Iterable[str] = ()) -> list[Issue]:
    """Return the problems found in fstab text, in line order."""
    known = KNOWN_TYPES | set(extra_types)
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if not 4 <= len(f) <= 6:
            issues.append(Issue(n, "error", f"{len(f)} fields; fstab(5) needs 4 to 6 "
                                "(spec, file, vfstype, mntops[, freq[, passno]])"))
            continue
        spec, target, vfstype, opts = f[0], unescape(f[1]), f[2], f[3].split(",")
        freq = f[4] if len(f) > 4 else "0"
        passno = f[5] if len(f) > 5 else "0"

        if UNSTABLE.match(spec):
            issues.append(Issue(n, "warning", f"{spec} is a kernel name that can change "
                                "between boots; use UUID=, LABEL=, PARTUUID= or PARTLABEL="))
        if vfstype not in known and not vfstype.startswith("fuse."):
            issues.append(Issue(n, "error", f"unknown filesystem type {vfstype!r}"))

        if vfstype == "swap":
            if target not in ("none", "swap"):
                issues.append(Issue(n, "warning", f"swap entry has mount point {target!r}; "
                                    "fstab(5) says 'none'"))
        elif "bind" not in opts and not target.startswith("/"):
            issues.append(Issue(n, "error", f"mount point {target!r} is not an absolute path"))
        elif target in seen:
            issues.append(Issue(n, "error", f"mount point {target} already used on line {seen[target]}"))
        else:
            seen[target] = n

        if not INTEGER.fullmatch(freq):
            issues.append(Issue(n, "error", f"dump field {freq!r} is not an integer; libmount rejects the line"))
        elif c_int(freq) < 0:
            issues.append(Issue(n, "warning", f"dump field {freq}: negative; dump(8) reads it as days, use 0"))
        if not INTEGER.fullmatch(passno):
            issues.append(Issue(n, "error", f"pass field {passno!r} is not an integer; libmount rejects the line"))
            continue
        p = c_int(passno)
        if p != 0 and vfstype in NO_FSCK_TYPES:
            issues.append(Issue(n, "warning", f"pass {p} on {vfstype}: nothing to check, use 0"))
        elif p < 0:
            issues.append(Issue(n, "warning", f"pass {p}: negative; use 0 (no check) or 2"))
        elif target == "/" and p >= 2:
            issues.append(Issue(n, "warning", "root filesystem should have pass 1"))
        elif target != "/" and p == 1:
            issues.append(Issue(n, "warning", "pass 1 is for the root filesystem; use 2"))
        elif p > 2:
            issues.append(Issue(n, "warning", f"pass {p}: fsck -A checks it after pass 2, but systemd ignores "
                                "the order (any non-zero pass is checked, root first); use 2"))
    return issues
# --8<-- [end:lint]


MAX_BYTES = 1 << 20           # a bound of this tool: a real fstab is a few KiB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="static fstab linter (see also findmnt --verify)")
    parser.add_argument("fstab", nargs="?", default="/etc/fstab")
    parser.add_argument("--type", action="append", default=[], metavar="FSTYPE",
                        help="accept another filesystem type")
    args = parser.parse_args(argv)
    try:
        # a regular file or a pipe, at most MAX_BYTES: /dev/zero or a runaway pipe cannot fill memory
        text = read_limited(args.fstab, MAX_BYTES, "fstab").decode("utf-8")
    except UnicodeDecodeError as exc:
        print(printable(f"fstab.py: {args.fstab} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                        f"at offset {exc.start})"), file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(printable(f"fstab.py: {exc}"), file=sys.stderr)
        return 2
    issues = lint(text, args.type)
    for issue in issues:
        print(issue)
    return 1 if any(i.level == "error" for i in issues) else 0


if __name__ == "__main__":
    sys.exit(main())
