"""Lab for docs/disks/troubleshooting.md: a filesystem that turns read-only, and a busy umount.

* ext4 with `tune2fs -e remount-ro`: one directory block zeroed with debugfs
  `zap_block`; reading the directory fails with EBADMSG, the kernel logs
  "EXT4-fs error ... Directory block failed checksum", aborts the journal and
  "Remounting filesystem read-only"; writes fail with EROFS while other files
  stay readable (kernels with `emergency_ro`), the error is counted in sysfs
  and in the superblock ("clean with errors", EFSBADCRC); `e2fsck -fy` replays
  the journal, salvages the directory (exit 1) and a second check is clean.
* XFS after `xfs_io -x -c shutdown`: reads fail with EIO until it is unmounted
  and mounted again.
* a process with its cwd inside the mount: umount exits 32 "target is busy",
  `fuser -vm` and `lsof +f --` name the process (access `c`, fd `cwd`);
  `umount -l` detaches the mount but the device stays in use (e2fsck exit 8)
  until the process ends; a copy of the mount in a private mount namespace
  keeps the device busy after the host's umount succeeded, `findmnt -N` shows
  it and `nsenter -m umount` releases it.

The kernel log is read from /dev/kmsg, from its end at the start of each
step, and only lines naming this test's loop device are looked at.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import signal
import subprocess
from pathlib import Path
from collections.abc import Iterator

import pytest

from disks_fixtures import ext4_image
from labkit import loop_device, make_image, mounted, need_tools, run, stop, wait_for


ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "disks" / "troubleshooting.md").read_text(encoding="utf-8")


class Kmsg:
    """New kernel log records from /dev/kmsg, from the moment it was opened."""

    def __init__(self) -> None:
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lines: list[str] = []

    def read(self) -> list[str]:
        while True:
            try:
                record = os.read(self.fd, 8192).decode(errors="replace")
            except BlockingIOError:
                return self.lines
            except BrokenPipeError:          # records overwritten while we slept: go on
                continue
            self.lines.append(record.split(";", 1)[-1].split("\n", 1)[0])

    def close(self) -> None:
        os.close(self.fd)


@contextlib.contextmanager
def kmsg() -> Iterator[Kmsg]:
    k = Kmsg()
    try:
        yield k
    finally:
        k.close()


def _wait_log(k: Kmsg, pattern: str) -> str:
    rx = re.compile(pattern)
    return wait_for(lambda: next((l for l in k.read() if rx.search(l)), None),
                    timeout=60, what=f"kernel log line /{pattern}/")


def _options(target: Path) -> list[str]:
    return run(["findmnt", "-no", "OPTIONS", str(target)]).stdout.strip().split(",")


def _is_mounted(target: Path) -> bool:
    return run(["findmnt", str(target)], check=False).returncode == 0


def _read_only_options(target: Path) -> list[str] | None:
    opts = _options(target)
    return opts if ("emergency_ro" in opts or "ro" in opts) else None


def _remount_rw(target: Path) -> int:
    """mount(2) with MS_REMOUNT and no options: what `mount -o remount,rw` asks for."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.mount(b"none", str(target).encode(), None, 32, b"")   # 32 = MS_REMOUNT


def test_ext4_error_remounts_read_only_and_e2fsck_repairs(tmp_path):
    need_tools("mkfs.ext4", "tune2fs", "debugfs", "e2fsck", "dumpe2fs", "findmnt")
    img = ext4_image(tmp_path / "ro.img", 64 << 20, "-b", "4096", "-L", "rolab")
    tune = run(["tune2fs", "-e", "remount-ro", str(img)])
    assert "Setting error behavior to 2" in tune.stdout and "Setting error behavior to 2" in PAGE
    mnt = tmp_path / "data"
    with loop_device(img, partitions=False) as dev:
        name = Path(dev).name
        with mounted(dev, mnt):
            (mnt / "dir").mkdir()
            (mnt / "dir" / "note.txt").write_text("hello\n")
            (mnt / "keep.txt").write_text("keep\n")
        ino = int(run(["debugfs", "-R", "stat /dir/note.txt", str(img)]).stdout
                  .split("Inode: ")[1].split()[0])
        run(["debugfs", "-w", "-R", "zap_block -f /dir 0", str(img)])

        with kmsg() as k, mounted(dev, mnt):
            ls = run(["ls", str(mnt / "dir")], check=False)
            assert ls.returncode != 0 and "Bad message" in ls.stderr          # EBADMSG = EFSBADCRC
            _wait_log(k, rf"^EXT4-fs error \(device {name}\): htree_dirblock_to_tree:\d+: "
                         r"inode #12: comm ls: Directory block failed checksum$")
            _wait_log(k, rf"^Aborting journal on device {name}-8\.$")
            _wait_log(k, rf"^EXT4-fs \({name}\): Remounting filesystem read-only$")
            opts = wait_for(lambda: _read_only_options(mnt), timeout=60, what="the mount to turn read-only")
            with pytest.raises(OSError) as exc:
                (mnt / "new").write_text("x")
            sysfs = Path("/sys/fs/ext4") / name
            assert (sysfs / "errors_count").read_text().strip() == "1"
            assert (sysfs / "first_error_func").read_text().strip() == "htree_dirblock_to_tree"
            if "emergency_ro" in opts:        # 6.15+ (and 6.14.2): still "rw", reads work, writes EROFS
                assert opts[:2] == ["rw", "relatime"] and "rw,relatime,emergency_ro" in PAGE
                assert exc.value.errno == errno.EROFS
                assert (mnt / "keep.txt").read_text() == "keep\n"
                assert _remount_rw(mnt) == 0                     # the kernel says "re-mounted" ...
                assert "emergency_ro" in _options(mnt)           # ... and stays read-only
                with pytest.raises(OSError) as again:
                    (mnt / "new").write_text("x")
                assert again.value.errno == errno.EROFS
            else:                              # older kernels set SB_RDONLY
                assert "ro" in opts

        head = run(["dumpe2fs", "-h", dev]).stdout
        for line in ("Filesystem state:         clean with errors",
                     "Errors behavior:          Remount read-only",
                     "FS Error count:           1",
                     "First error function:     htree_dirblock_to_tree",
                     "First error inode #:      12",
                     "First error err:          EFSBADCRC"):
            assert line in head and line in PAGE, line

        fix = run(["e2fsck", "-fy", dev], check=False)
        assert fix.returncode == 1, fix.stdout                       # errors corrected
        for line in ("rolab: recovering journal",
                     "Directory inode 12, block #0, offset 0: directory corrupted",
                     f"Unattached inode {ino}", "Connect to /lost+found? yes",
                     "rolab: ***** FILE SYSTEM WAS MODIFIED *****"):
            assert line in fix.stdout, line
        assert run(["e2fsck", "-fn", dev], check=False).returncode == 0
        assert "Filesystem state:         clean\n" in run(["dumpe2fs", "-h", dev]).stdout

        with mounted(dev, mnt):
            assert "emergency_ro" not in _options(mnt) and "ro" not in _options(mnt)
            assert os.listdir(mnt / "lost+found") == [f"#{ino}"]
            assert (mnt / "lost+found" / f"#{ino}").read_text() == "hello\n"


def test_xfs_shutdown_fails_reads_until_mounted_again(tmp_path):
    need_tools("mkfs.xfs", "xfs_io")
    img = make_image(tmp_path / "x.img", 320 << 20)                  # mkfs.xfs wants >= 300 MB
    run(["mkfs.xfs", "-q", "-K", str(img)])
    mnt = tmp_path / "x"
    with loop_device(img, partitions=False) as dev:
        name = Path(dev).name
        with mounted(dev, mnt):
            (mnt / "keep.txt").write_text("keep\n")
            os.sync()
            with kmsg() as k:
                run(["xfs_io", "-x", "-c", "shutdown", str(mnt)])
                with pytest.raises(OSError) as exc:
                    (mnt / "keep.txt").read_text()
                assert exc.value.errno == errno.EIO
                for text in ("User initiated shutdown received.",
                             "Please unmount the filesystem and rectify the problem(s)"):
                    _wait_log(k, rf"^XFS \({name}\): {re.escape(text)}$")
                    assert text in PAGE
        with mounted(dev, mnt):                                       # log replayed
            assert (mnt / "keep.txt").read_text() == "keep\n"


@pytest.fixture
def busy_fs(tmp_path):
    """An ext4 on a loop device mounted at tmp_path/data with a directory `dir`;
    whatever the test leaves mounted or running is cleaned up by PID and path."""
    need_tools("mkfs.ext4", "e2fsck", "findmnt", "fuser", "lsof", "unshare", "nsenter")
    img = ext4_image(tmp_path / "busy.img", 64 << 20, "-b", "4096", "-L", "busylab")
    mnt = tmp_path / "data"
    mnt.mkdir()
    procs: list[subprocess.Popen] = []
    with loop_device(img, partitions=False) as dev:
        run(["mount", dev, str(mnt)])
        (mnt / "dir").mkdir()
        try:
            yield dev, mnt, procs
        finally:
            for proc in procs:
                stop(proc, grace=60, sig=signal.SIGKILL)
            for _ in range(3):
                if not _is_mounted(mnt):
                    break
                run(["umount", str(mnt)], check=False)


def _sleeper(procs: list, cwd: Path | None = None, *prefix: str) -> subprocess.Popen:
    proc = subprocess.Popen([*prefix, "sleep", "600"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proc)
    return proc


def _device_free(dev: str) -> bool:
    res = run(["e2fsck", "-fn", dev], check=False)
    return res.returncode == 0 and "in use" not in res.stdout + res.stderr


def test_busy_mount_found_with_fuser_and_lsof(busy_fs):
    dev, mnt, procs = busy_fs
    proc = _sleeper(procs, mnt / "dir")
    wait_for(lambda: os.path.exists(f"/proc/{proc.pid}/cwd")
             and os.readlink(f"/proc/{proc.pid}/cwd") == str(mnt / "dir"), what="sleep in dir")
    res = run(["umount", str(mnt)], check=False)
    assert res.returncode == 32, res
    assert f"umount: {mnt}: target is busy." in res.stderr
    assert "umount: /mnt/data: target is busy.\nexit=32" in PAGE

    # fuser -v prints the PIDs on stdout and the rest of the table on stderr: read both as
    # one stream, like a terminal shows them; drop the sandbox's "Cannot stat /proc/1/fd/N"
    fuser = subprocess.run(["fuser", "-vm", str(mnt)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
    assert fuser.returncode == 0
    table = "\n".join(l for l in fuser.stdout.splitlines() if not l.startswith("Cannot stat"))
    assert re.search(rf"^{re.escape(str(mnt))}:\s+root\s+kernel mount {re.escape(str(mnt))}$",
                     table, re.M), table
    assert re.search(rf"^\s+root\s+{proc.pid} \.\.c\.\. sleep$", table, re.M), table
    assert "..c.. sleep" in PAGE and "kernel mount /mnt/data" in PAGE

    lsof = run(["lsof", "+f", "--", str(mnt)], check=False)
    assert re.search(rf"^sleep\s+{proc.pid}\s+root\s+cwd\s+DIR\s.*\s{re.escape(str(mnt / 'dir'))}$",
                     lsof.stdout, re.M), lsof.stdout

    stop(proc, grace=60, sig=signal.SIGKILL)
    assert run(["umount", str(mnt)], check=False).returncode == 0
    assert not _is_mounted(mnt)


def test_lazy_umount_leaves_the_device_in_use(busy_fs):
    dev, mnt, procs = busy_fs
    proc = _sleeper(procs, mnt / "dir")
    wait_for(lambda: os.readlink(f"/proc/{proc.pid}/cwd") == str(mnt / "dir"), what="sleep in dir")
    assert run(["umount", "-l", str(mnt)]).returncode == 0
    assert not _is_mounted(mnt)
    assert os.readlink(f"/proc/{proc.pid}/cwd") == "/dir"           # only the path inside the fs is left
    res = run(["e2fsck", "-fy", dev], check=False)
    assert res.returncode == 8 and f"{dev} is in use." in res.stdout + res.stderr
    assert "/dev/loop0 is in use." in PAGE and "\n/dir\n" in PAGE
    stop(proc, grace=60, sig=signal.SIGKILL)
    wait_for(lambda: _device_free(dev), timeout=60, what="the lazily detached fs to go away")


def test_mount_copy_in_another_namespace_keeps_the_device_busy(busy_fs):
    dev, mnt, procs = busy_fs
    own_ns = os.readlink("/proc/self/ns/mnt")
    proc = _sleeper(procs, None, "unshare", "-m", "--propagation", "private")
    wait_for(lambda: os.readlink(f"/proc/{proc.pid}/ns/mnt") != own_ns
             and os.readlink(f"/proc/{proc.pid}/exe").endswith("sleep"), what="sleep in its own namespace")
    assert run(["umount", str(mnt)]).returncode == 0                 # the host's copy goes ...
    assert run(["fuser", "-vm", dev], check=False).returncode == 1   # ... nobody here uses it ...
    res = run(["e2fsck", "-fy", dev], check=False)                  # ... yet the device is busy
    assert res.returncode == 8 and f"{dev} is in use." in res.stdout + res.stderr
    holders = [p for p in Path("/proc").glob("[0-9]*/mountinfo")
               if _reads(p) and f" {mnt} " in _reads(p)]
    assert Path(f"/proc/{proc.pid}/mountinfo") in holders
    seen = run(["findmnt", "-N", str(proc.pid), str(mnt)]).stdout
    assert re.search(rf"^{re.escape(str(mnt))}\s+{dev}\s+ext4\s+rw,relatime$", seen, re.M), seen
    run(["nsenter", "-t", str(proc.pid), "-m", "umount", str(mnt)])
    wait_for(lambda: _device_free(dev), timeout=60, what="the device to be free")


def _reads(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
