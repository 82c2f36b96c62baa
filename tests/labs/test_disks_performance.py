"""Labs for docs/disks/performance.md, io-scheduler.md and durability.md.

Everything runs on loop devices backed by image files in tmp_path (plus one
file written directly in tmp_path), and asserts structure and relations, never
speed: the loop device's numbers only reflect this machine.

* while a background fio (randread, direct=1, libaio, iodepth 16) runs, its
  worker holds the device open with O_DIRECT, `iostat -dxy DEV 1 1` shows the
  device with r/s > 0 and the r_await/w_await/aqu-sz/%util columns, and
  `pidstat -d -C fio 1 1` shows a fio process reading;
* after a finite fio run, /proc/diskstats has counted every read fio issued
  (field 1) and every sector (field 3), field 11 is the sum of the per-op
  times (fields 4 + 8 + 15 + 17, block/genhd.c) and, with 16 requests in
  flight, larger than field 10 (busy time): aqu-sz above %util/100;
* the four-job fio file (4k random read/write, 1M sequential read/write,
  direct=1) gives parsable JSON with iops > 0, the issued counts computed by
  hand and monotonic clat percentiles; a buffered fio read of a 16 MiB file
  four times over reads it from the device once, the direct=1 run every time;
* the loop device's scheduler file lists none, mq-deadline and kyber with
  none selected (BLK_MQ_F_NO_SCHED_BY_DEFAULT), a switch shows the scheduler's
  tunables with their kernel defaults, and `blockdev --setra` moves
  read_ahead_kb (512-byte sectors vs KiB);
* Dirty in /proc/meminfo rises with a buffered dd into tmp_path, the file's
  pages are dirty (cachestat(2)) until `sync FILE`, after which none are;
* on the raw loop device (write cache "write back", no FUA) the flush counter
  (diskstats field 16) does not move for O_DIRECT writes or a plain close,
  moves once for fdatasync/fsync and at least once per write for O_DSYNC.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from collections.abc import Iterator

import pytest

from disks_fixtures import ext4_image
from labkit import loop_device, make_image, mounted, need_tools, run, wait_for


C = {"LC_ALL": "C"}          # iostat/pidstat print decimals in the locale's format
MiB = 1 << 20


# ---- helpers -----------------------------------------------------------------

def diskstats(dev: str) -> list[int]:
    """The 17 counters of /proc/diskstats for dev; index n-1 is field n of iostats.rst."""
    name = os.path.basename(dev)
    for line in Path("/proc/diskstats").read_text().splitlines():
        parts = line.split()
        if parts[2] == name:
            return [int(x) for x in parts[3:]]
    raise AssertionError(f"{name} not in /proc/diskstats")


def delta(before: list[int], after: list[int]) -> list[int]:
    return [a - b for a, b in zip(after, before)]


def fio_json(*args: str, cwd: Path | None = None) -> dict:
    out = run(["fio", *args, "--output-format=json"], cwd=cwd, timeout=600).stdout
    return json.loads(out[out.index("{"):])        # fio may print notes before the JSON


def children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


@contextlib.contextmanager
def background_fio(*args: str) -> Iterator[subprocess.Popen]:
    """fio with its job processes; SIGINT stops it, every process is reaped by PID."""
    proc = subprocess.Popen(["fio", *args, "--output=/dev/null"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        yield proc
    finally:
        workers.update(children(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def o_direct_fds(pid: int, target: str) -> list[bool]:
    """For each fd of pid open on target: does it carry O_DIRECT (fdinfo flags, octal)?"""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                flags = int(re.search(r"^flags:\s*(\d+)", info, re.M).group(1), 8)
                found.append(bool(flags & os.O_DIRECT))
    return found


def columns(out: str, first: str, row: str) -> dict[str, str]:
    """The header line starting with `first` and the row starting with `row`, zipped."""
    lines = [line.split() for line in out.splitlines() if line.strip()]
    header = next(cols for cols in lines if cols[0] == first)
    values = next(cols for cols in lines if cols[0] == row)
    return dict(zip(header, values))


def meminfo() -> dict[str, int]:
    return {k: int(v.split()[0]) for k, v in
            (line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())}


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Cachestat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in
                ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


NR_CACHESTAT = 451     # include/uapi/asm-generic/unistd.h and arch/x86/entry/syscalls (Linux 6.5+)


def cachestat(path: Path) -> dict[str, int]:
    """Page-cache pages of a whole file (len 0 = to the end): cached, dirty, under writeback."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        rng, cs = _Range(0, 0), _Cachestat()
        if libc.syscall(NR_CACHESTAT, fd, ctypes.byref(rng), ctypes.byref(cs), 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return {name: getattr(cs, name) for name, _ in _Cachestat._fields_}
    finally:
        os.close(fd)


def sysfs(dev: str, attr: str) -> Path:
    return Path("/sys/block") / os.path.basename(dev) / "queue" / attr


# ---- performance.md: 磁盘 I/O 慢怎么排查 --------------------------------------

def test_iostat_pidstat_and_diskstats_while_fio_reads(tmp_path):
    need_tools("fio", "iostat", "pidstat")
    img = make_image(tmp_path / "perf.img", 1 << 30)
    with loop_device(img, partitions=False) as dev:
        name = os.path.basename(dev)
        base = diskstats(dev)
        with background_fio("--name=bg", f"--filename={dev}", "--rw=randread", "--bs=4k",
                            "--direct=1", "--ioengine=libaio", "--iodepth=16",
                            "--time_based", "--runtime=600") as fio:
            wait_for(lambda: diskstats(dev)[0] > base[0] + 1000, timeout=120,
                     what="fio's reads on the loop device")
            assert fio.poll() is None, f"fio exited with {fio.returncode}"
            flags = [f for pid in children(fio.pid) for f in o_direct_fds(pid, dev)]
            assert flags and all(flags), flags                  # direct=1 is O_DIRECT on the fd

            iostat = run(["iostat", "-dxy", name, "1", "1"], env=C).stdout
            row = columns(iostat, "Device", name)
            for col in ("r/s", "rkB/s", "r_await", "w/s", "w_await", "aqu-sz", "%util"):
                assert col in row, iostat
            assert float(row["r/s"]) > 0 and float(row["w/s"]) == 0, iostat
            assert float(row["rareq-sz"]) == 4.0, iostat      # 4 KiB reads, no merges

            pidstat = run(["pidstat", "-d", "-C", "fio", "1", "1"], env=C).stdout
            assert "kB_rd/s" in pidstat and "iodelay" in pidstat, pidstat
            rates = [float(line.split()[3]) for line in pidstat.splitlines()
                     if line.startswith("Average:") and line.split()[-1] == "fio"]
            assert any(r > 0 for r in rates), pidstat

        before = diskstats(dev)
        job = fio_json("--name=once", f"--filename={dev}", "--rw=randread", "--bs=4k",
                       "--direct=1", "--ioengine=libaio", "--iodepth=16", "--io_size=256m")
        after = diskstats(dev)
        d = delta(before, after)
    read = job["jobs"][0]["read"]
    assert read["total_ios"] == 256 * MiB // 4096 == 65536
    assert d[0] + d[1] >= read["total_ios"]          # fields 1 + 2: reads completed + merged away
    assert d[2] * 512 >= read["io_bytes"]            # field 3: sectors read
    assert d[4] == 0                                 # field 5: no writes
    assert after[8] == 0                             # field 9 (in flight) is a level: back to 0
    per_op = d[3] + d[7] + d[14] + d[16]            # fields 4, 8, 15, 17 (ms, truncated each)
    assert abs(d[10] - per_op) <= 4, d               # field 11 = their sum: aqu-sz x interval
    assert d[10] > d[9], d                           # 16 in flight: queue time > busy time


# ---- performance.md: 怎么测一块盘的性能 ----------------------------------------

JOBFILE = """\
[global]
filename={dev}
direct=1
ioengine=libaio
group_reporting
size=1g
io_size=128m

[randread-4k]
rw=randread
bs=4k
iodepth=32
numjobs=2

[randwrite-4k]
stonewall
rw=randwrite
bs=4k
iodepth=32
numjobs=2

[seqread-1m]
stonewall
rw=read
bs=1m
iodepth=8

[seqwrite-1m]
stonewall
rw=write
bs=1m
iodepth=8
"""


def test_fio_jobfile_json_structure(tmp_path):
    need_tools("fio")
    img = make_image(tmp_path / "fio.img", 1 << 30)
    with loop_device(img, partitions=False) as dev:
        (tmp_path / "disk.fio").write_text(JOBFILE.format(dev=dev))
        before = diskstats(dev)
        out = fio_json("disk.fio", cwd=tmp_path)
        d = delta(before, diskstats(dev))
    assert out["global options"]["direct"] == "1"
    jobs = {j["jobname"]: j for j in out["jobs"]}
    assert list(jobs) == ["randread-4k", "randwrite-4k", "seqread-1m", "seqwrite-1m"]
    expected = {   # io_size per job x numjobs / bs
        "randread-4k": ("read", 2 * 128 * MiB // 4096),
        "randwrite-4k": ("write", 2 * 128 * MiB // 4096),
        "seqread-1m": ("read", 128 * MiB // MiB),
        "seqwrite-1m": ("write", 128 * MiB // MiB),
    }
    for name, (rw, ios) in expected.items():
        job = jobs[name]
        assert job["error"] == 0
        stats = job[rw]
        assert stats["total_ios"] == ios, (name, stats["total_ios"])
        assert stats["iops"] > 0 and stats["bw_bytes"] > 0
        pct = stats["clat_ns"]["percentile"]
        for key in ("50.000000", "99.000000", "99.900000", "99.990000"):
            assert key in pct, sorted(pct)
        values = [pct[k] for k in sorted(pct, key=float)]
        assert values == sorted(values)                       # percentiles never decrease
        assert stats["clat_ns"]["min"] <= pct["50.000000"] <= stats["clat_ns"]["max"]
        other = "write" if rw == "read" else "read"
        assert job[other]["total_ios"] == 0
    # direct=1: every byte fio read or wrote went through the device
    assert d[2] * 512 >= (2 * 128 + 128) * MiB
    assert d[6] * 512 >= (2 * 128 + 128) * MiB
    assert [u["name"] for u in out["disk_util"]] == [os.path.basename(dev)]


def test_buffered_read_is_served_by_the_page_cache(tmp_path):
    need_tools("fio", "fincore")
    img = ext4_image(tmp_path / "pc.img", 256 * MiB)
    with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / "mnt") as mnt:
        f = mnt / "f"
        run(["dd", "if=/dev/urandom", f"of={f}", "bs=1M", "count=16", "conv=fsync", "status=none"])
        run(["dd", f"if={f}", "iflag=nocache", "count=0", "status=none"])
        pages = lambda: int(run(["fincore", "-n", "-o", "PAGES", str(f)]).stdout)
        assert pages() == 0
        common = [f"--filename={f}", "--rw=randread", "--bs=4k", "--size=16m", "--io_size=64m"]

        before = diskstats(dev)
        buffered = fio_json("--name=buffered", *common, "--invalidate=0")
        from_disk_buffered = delta(before, diskstats(dev))[2] * 512
        assert pages() == 16 * MiB // os.sysconf("SC_PAGE_SIZE")

        before = diskstats(dev)
        direct = fio_json("--name=direct", *common, "--direct=1")
        from_disk_direct = delta(before, diskstats(dev))[2] * 512
    assert buffered["jobs"][0]["read"]["io_bytes"] == direct["jobs"][0]["read"]["io_bytes"] == 64 * MiB
    assert 16 * MiB <= from_disk_buffered < 32 * MiB          # the file once, then from memory
    assert from_disk_direct >= 64 * MiB                         # every read went to the device


# ---- io-scheduler.md -----------------------------------------------------------

def _current(text: str) -> str:
    return re.search(r"\[([\w-]+)\]", text).group(1)


def test_loop_scheduler_switch_and_readahead(tmp_path):
    need_tools("blockdev")
    img = make_image(tmp_path / "sched.img", 64 * MiB)
    with loop_device(img, partitions=False) as dev:
        sched = sysfs(dev, "scheduler")
        text = sched.read_text()
        available = text.replace("[", "").replace("]", "").split()
        assert {"none", "mq-deadline", "kyber"} <= set(available), text
        assert _current(text) == "none", text           # loop: BLK_MQ_F_NO_SCHED_BY_DEFAULT
        ra_kb = int(sysfs(dev, "read_ahead_kb").read_text())
        try:
            sched.write_text("mq-deadline")
            assert _current(sched.read_text()) == "mq-deadline"
            iosched = sysfs(dev, "iosched")
            tunables = {p.name: p.read_text().strip() for p in iosched.iterdir()}
            # block/mq-deadline.c: read_expire HZ/2, write_expire 5*HZ, fifo_batch 16, writes_starved 2
            assert tunables["read_expire"] == "500" and tunables["write_expire"] == "5000", tunables
            assert tunables["fifo_batch"] == "16" and tunables["writes_starved"] == "2", tunables

            sched.write_text("kyber")
            assert _current(sched.read_text()) == "kyber"
            tunables = {p.name: p.read_text().strip() for p in iosched.iterdir()}
            # block/kyber-iosched.c: 2 ms read, 10 ms synchronous write targets
            assert tunables == {"read_lat_nsec": "2000000", "write_lat_nsec": "10000000"}, tunables

            res = run(["bash", "-c", f"echo bfq > {sched}"], check=False)
            assert (res.returncode == 0) == ("bfq" in available), res.stderr
            if res.returncode != 0:
                assert "echo: write error: Invalid argument" in res.stderr, res.stderr
            res = run(["bash", "-c", f"echo no-such-elevator > {sched}"], check=False)
            assert res.returncode != 0 and "Invalid argument" in res.stderr

            assert int(run(["blockdev", "--getra", dev]).stdout) == 2 * ra_kb   # 512-byte sectors
            run(["blockdev", "--setra", "1024", dev])
            assert int(sysfs(dev, "read_ahead_kb").read_text()) == 512
            assert int(run(["blockdev", "--getra", dev]).stdout) == 1024
        finally:
            sysfs(dev, "scheduler").write_text("none")
            sysfs(dev, "read_ahead_kb").write_text(str(ra_kb))
        assert _current(sched.read_text()) == "none"


# ---- durability.md -------------------------------------------------------------

def test_buffered_write_is_dirty_until_fsync(tmp_path):
    """Dirty (system-wide) and the file's own dirty pages around dd and `sync FILE`."""
    fs_type = run(["stat", "-f", "-c", "%T", str(tmp_path)]).stdout.strip()
    assert fs_type not in ("tmpfs", "ramfs"), "needs tmp_path on a disk filesystem"
    f = tmp_path / "f"
    page = os.sysconf("SC_PAGE_SIZE")
    size = 256 * MiB
    attempts = []
    for _ in range(3):          # another process's sync(2) may clean our pages: try again
        m0 = meminfo()
        run(["dd", "if=/dev/zero", f"of={f}", "bs=1M", "count=256", "status=none"])
        m1, cs1 = meminfo(), cachestat(f)
        run(["sync", str(f)])                                  # coreutils: fsync(2) on FILE
        m2, cs2 = meminfo(), cachestat(f)
        attempts.append((m0["Dirty"], m1["Dirty"], m2["Dirty"], cs1, cs2))
        assert cs2["nr_dirty"] == 0 and cs2["nr_writeback"] == 0, cs2    # after fsync: none
        assert cs1["nr_cache"] == size // page
        if (cs1["nr_dirty"] > 0 and m1["Dirty"] - m0["Dirty"] >= size // 1024 // 2
                and m2["Dirty"] < m1["Dirty"]):
            break
        f.unlink()
    else:
        pytest.fail(f"Dirty never rose with the buffered write: {attempts}")


def test_flush_requests_follow_fsync_and_dsync(tmp_path):
    img = make_image(tmp_path / "flush.img", 64 * MiB)
    with loop_device(img, partitions=False) as dev:
        assert sysfs(dev, "write_cache").read_text().strip() == "write back"
        assert sysfs(dev, "fua").read_text().strip() == "0"

        def dd(*flags: str) -> tuple[int, int]:
            before = diskstats(dev)
            run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", "count=8", "status=none", *flags])
            d = delta(before, diskstats(dev))
            return d[4], d[15]                  # writes completed, flushes completed

        writes, flushes = dd("oflag=direct")
        assert writes >= 8 and flushes == 0     # O_DIRECT alone: no cache flush
        writes, flushes = dd("oflag=direct", "conv=fdatasync")
        assert flushes >= 1
        writes, flushes = dd("oflag=direct,dsync")
        assert flushes >= 8                     # REQ_FUA without FUA support: a flush per write
        writes, flushes = dd()
        assert flushes == 0                     # buffered, close(2): written back, not flushed
        writes, flushes = dd("conv=fsync")
        assert flushes >= 1
