"""Hostile numbers and inputs for the calculators, linters and readers: a ValueError (exit 2 as a
script) that names the value, never a traceback, a hang or a huge allocation.

Each case is one found by the fuzz campaign of issue 18; the accepted ranges are those the
snippets state (Ceph's and lvm.conf's settings, the kernel's ext4 limit, bounds of the models).
"""
from __future__ import annotations

import math
import re
import struct
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

import ceph_calc
import disk_limits
import exports
import lvm
import objcost
import oncrpc
import overcommit
import precopy
import qcow2
import qcow2_tool
import quota
import rawdisk
import swap

SNIPPETS = Path(__file__).resolve().parents[2] / "snippets"


def script(name: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SNIPPETS / f"{name}.py"), *args], capture_output=True,
                          timeout=60, input=stdin)


def one_line_error(proc: subprocess.CompletedProcess, name: str, pattern: str) -> None:
    err = proc.stderr.decode()
    lines = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert proc.returncode == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith(f"{name}.py: "), err
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("name, args, pattern", [
    ("overcommit", ["--ram-ratio", "1e309"], r"argument --ram-ratio: '1e309' is not a ratio above 0 and at most 64"),
    ("overcommit", ["--cpu-ratio", "1/0"], r"argument --cpu-ratio: '1/0' is not a ratio"),
    ("overcommit", ["--cpu-ratio", "1e999999999"], r"argument --cpu-ratio: '1e999999999' is not a ratio"),
    ("overcommit", ["--cpu-ratio", "65"], r"'65' is not a ratio above 0 and at most 64"),
    ("quota", ["--grace-days", "inf"], r"--grace-days must be 0 to \d+ \(a bound of this model\), got inf"),
    ("quota", ["--grace-days", "nan"], r"--grace-days must be 0 to \d+ .*got nan"),
    ("lvm", ["--pv", "9" * 400 + "G", "-l 1"], r"size '9{30}'\.\.\. too large: accepted up to 8 EiB"),
    ("lvm", ["--pv", "1G", "-L " + "9" * 400], r"too large: accepted up to 8 EiB"),
    ("lvm", ["--pv", "1G", "-l " + "9" * 5000], r"bad spec .*more than 30 digits"),
    ("precopy", ["--memory", "9" * 5000], r"has more than 40 digits \(accepted: up to 1 EiB"),
    ("objcost", ["time", "1" + "0" * 400], r"objects must be at most 2\*\*64"),
])
def test_cli_numbers_give_one_line(name, args, pattern):
    base = {"overcommit": ["--cores", "8", "--ram-gib", "64", "--vm-vcpus", "2", "--vm-ram-gib", "4"],
            "quota": ["--soft", "5", "--hard", "10", "0:write:1"],
            "precopy": ["--bandwidth", "1GiB", "--dirty", "1MiB"]}.get(name, [])
    start = time.monotonic()
    one_line_error(script(name, *base, *args), name, pattern)
    assert time.monotonic() - start < 10


def test_ratio_arg_reads_the_forms_it_accepts():
    assert [overcommit.ratio_arg(t) for t in ("16", "1.5", "3/2", "1.5e1", "64")] == \
        [16, Fraction(3, 2), Fraction(3, 2), 15, 64]


@pytest.mark.parametrize("call, pattern", [
    (lambda: overcommit.capacity(32, 256, 4, 16, ram_ratio=math.inf), r"ram_ratio must be > 0 and <= 64, got inf"),
    (lambda: overcommit.capacity(32, 256, 4, 16, cpu_ratio=math.nan), r"cpu_ratio .* got nan"),
    (lambda: overcommit.capacity(32.5, 256, 4, 16), r"cores must be 1 to 65536, got 32\.5"),
    (lambda: quota.Quota(10, 20, 1.5), r"grace must be a whole number, got 1\.5"),
    (lambda: quota.Quota(10, 20, 2**60), r"grace must be at most 2\*\*53 seconds"),
    (lambda: lvm.autoextend_steps(1000, 2000, 70, 1e-12, 1e6),
     r"percent must be a whole number 0\.\.10000 \(lvm\.conf thin_pool_autoextend_percent\), got 1e-12"),
    (lambda: lvm.autoextend_steps(1000, math.inf, 70, 20, 1e6), r"used must be 0\.\.2\*\*63"),
    (lambda: lvm.VG(4.0 * 2**20, [64 * 2**20]), r"extent size 4194304\.0 B"),
    (lambda: lvm.pv_extents(64.5 * 2**20), r"device size 67633152\.0 .* must be whole bytes"),
    (lambda: ceph_calc.autoscale(12, [ceph_calc.Pool("rbd", 0, 0.3, 32)]),
     r"pool 'rbd' size must be between 1\.0 and 64\.0 \(got 0\)"),
    (lambda: ceph_calc.autoscale(12, [ceph_calc.Pool("rbd", 3, math.inf, 32)]),
     r"pool 'rbd' capacity_ratio must be between 0\.0 and 1000\.0 \(got inf\)"),
    (lambda: ceph_calc.autoscale(12, [ceph_calc.Pool("rbd", 3, 0.3, 32, bias=math.nan)]), r"bias .*got nan"),
    (lambda: ceph_calc.autoscale(12, [ceph_calc.Pool("rbd", 3, 0.3, 32.0)]), r"pg_num must be between"),
    (lambda: ceph_calc.nearest_power_of_two(math.inf), r"n must be between"),
    (lambda: objcost.moved_fraction_mod_n(10, keys=0), r"keys must be a whole number 1\.\.10000000"),
    (lambda: objcost.moved_fraction_mod_n(2.5), r"n must be a whole number"),
    (lambda: objcost.loss_probability(198594, 1, 1), r"shards must be a whole number 1\.\.256"),
    (lambda: objcost.loss_probability(3.0, 1, 0.01), r"shards must be a whole number"),
    (lambda: objcost.stale_read_probability(10**9, 1, 10**8), r"n must be a whole number 1\.\.256"),
    (lambda: objcost.ec_space_amplification(10**400, 4, 2), r"size must be at most 2\*\*64"),
    (lambda: objcost.latency_ms("20000", 32), r"iops must be > 0"),
    (lambda: precopy.precopy(8.5 * 2**30, 2**30, 2**20), r"memory must be a whole number, got"),
    (lambda: precopy.precopy(2**33, 2**30, 2**20, max_rounds=5.0), r"max_rounds must be a whole number"),
    (lambda: swap.swap_size("8"), r"RAM must be > 0 GiB"),
    (lambda: disk_limits.human(10**400), r"byte count of 1329 bits is too large"),
    (lambda: disk_limits.human(1.5), r"byte count 1\.5 is not a whole number"),
    # found by tests/fuzz (library calls), not in the list
    (lambda: ceph_calc.nearest_power_of_two(-math.inf), r"n must be between"),
    (lambda: lvm.VG(0.0, []), r"extent size 0\.0 B"),
    (lambda: lvm.overcommit_ratio([10**400], 1), r"sizes must be 0\.\.2\*\*63"),
    (lambda: lvm.hours_until_pool_full(10**400, 1, 1), r"at most 2\*\*63"),
    (lambda: lvm.cow_hours_to_full(10**400, 1), r"sizes and rate must be > 0 and at most 2\*\*63"),
    (lambda: qcow2.l2_cache_bytes(1e18, 65536.0), r"must be whole bytes"),
    (lambda: qcow2_tool.hexdump(b"x", Fraction(1, 2)), r"offset Fraction\(1, 2\) must be a whole number"),
    (lambda: oncrpc.record_mark(b"abc", 1.5), r"fragment size must be at least 1"),
    (lambda: rawdisk.read_mbr(b"\x00" * 16), r"an MBR sector has 512 bytes, got 16"),
])
def test_library_calls_raise_value_error_quickly(call, pattern):
    start = time.monotonic()
    with pytest.raises(ValueError, match=pattern):
        call()
    assert time.monotonic() - start < 2


def test_autoextend_still_follows_lvm_conf_example():
    """lvm.conf: 1000 MB pool at 70/20 grows to 1200 past 700 used, 1440 past 840; percent 0
    (no growth) gives no steps rather than an endless loop."""
    assert lvm.autoextend_steps(1000, 841, 70, 20, 10_000) == [1200.0, 1440.0]
    assert lvm.autoextend_steps(1000, 2000, 70, 0, 1e6) == []


def test_exports_lint_is_linear_in_the_file_size():
    """20,000 export lines: 31 s when every token's line number was counted from the start."""
    text = "".join(f"/srv/d{i} 10.0.{i % 250}.0/24(rw,sync,no_subtree_check) h{i}.lab(ro)\n"
                   for i in range(20000))
    start = time.process_time()
    parsed = exports.parse(text)
    assert time.process_time() - start < 15
    assert (len(parsed), parsed[-1].line, parsed[-1].clients[1].line) == (20000, 20000, 20000)


@pytest.mark.parametrize("name, what", [("fstab", "fstab"), ("exports", "exports")])
def test_text_inputs_are_capped_and_devices_refused(tmp_path, name, what):
    one_line_error(script(name, "/dev/zero"), name,
                   f"refusing /dev/zero: it is a character device; the {what} input must be a regular "
                   "file or a pipe")
    big = tmp_path / "big"
    big.write_bytes(b"# comment\n" * 110_000)                    # 1.1 MB of comments
    one_line_error(script(name, str(big)), name, f"holds 1100000 bytes; the {what} input this tool "
                                                  r"reads is at most 1048576 bytes \(1 MiB")
    one_line_error(script(name, "/proc/self/mounts"), name, "files under /proc and /sys are kernel interfaces")


def test_fstab_reads_a_pipe_and_huge_numbers_like_libmount():
    """fs_passno 4294967298 is stored by libmount as the int 2 (strtol, then the low 32 bits)."""
    proc = script("fstab", "/dev/stdin", stdin=b"LABEL=d /data ext4 defaults 0 4294967298\n"
                                                b"LABEL=e /e ext4 defaults " + b"9" * 5000 + b" 2\n")
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr


def ext4_image(tmp_path: Path, log_block_size: int) -> str:
    img = tmp_path / "fs.img"
    sb = bytearray(1024)
    struct.pack_into("<I", sb, 0x04, 1000)
    struct.pack_into("<I", sb, 0x18, log_block_size)
    struct.pack_into("<H", sb, 0x38, 0xEF53)
    img.write_bytes(bytes(1024) + bytes(sb) + bytes(4096))
    return str(img)


def test_ext4_log_block_size_is_bounded_as_the_kernel_bounds_it(tmp_path):
    """ext4_fill_super() refuses s_log_block_size > 6 (64 KiB blocks); 2^32-1 would make
    1024 << 4294967295, a 512 MiB integer."""
    assert rawdisk.inspect(ext4_image(tmp_path, 6))["filesystems"]["whole disk"]["block_size"] == 65536
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"ext4 superblock field s_log_block_size is 4294967295: block "
                                         r"size 1024 << 4294967295 is invalid \(accepted: 0\.\.6"):
        rawdisk.inspect(ext4_image(tmp_path, 2**32 - 1))
    assert time.monotonic() - start < 2
    one_line_error(script("rawdisk", ext4_image(tmp_path, 7)), "rawdisk", "s_log_block_size is 7")


def test_rawdisk_refuses_floats_and_devices(tmp_path):
    img = str(tmp_path / "d.img")
    rawdisk.create_image(img, 4 * rawdisk.MiB)
    with pytest.raises(ValueError, match=r"partition 1: start, size and type must be whole numbers"):
        rawdisk.write_mbr(img, [(2048.0, 100, 0x83)])
    with pytest.raises(ValueError, match=r"image size must be a positive multiple of 512 bytes"):
        rawdisk.create_image(img, 4096.0)
    with pytest.raises(ValueError, match=r"refusing /dev/zero"):
        rawdisk.inspect("/dev/zero")


def test_names_with_control_characters_stay_on_one_line(tmp_path):
    """A file name, or a backing file name inside an image, holding a newline or an escape
    sequence: the message shows it as \\x0a / \\x1b and stays one line (found by tests/fuzz)."""
    one_line_error(script("exports", "/dev/loop0\n"), "exports", r"cannot read /dev/loop0\\x0a: No such file")
    img = qcow2.make_qcow2(str(tmp_path / "n.qcow2"), 1 << 20, {}, backing="x\ny\x1b[2J",
                           backing_format="raw")
    one_line_error(script("qcow2_tool", "read", img, "0", "1"), "qcow2_tool",
                   r"Could not open .*x\\x0ay\\x1b\[2J': No such file or directory")
