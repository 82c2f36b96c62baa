"""Shared helpers for lab tests: run real tools on image files and loop devices.

Every lab works inside a temporary directory, on image files it creates there,
and cleans up what it attached or mounted even when the test fails.  Nothing
here will touch a device that is not a loop device backed by such a file.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from collections.abc import Iterator, Sequence

import pytest


def need_root() -> None:
    """Skip (which fails the run under CI=true) unless we are root."""
    if os.geteuid() != 0:
        pytest.skip("this lab needs root (loop devices, mount)")


def need_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip("missing tools: " + ", ".join(missing) + " (make test installs them)")


def run(cmd: Sequence[str] | str, *, check: bool = True, input: str | None = None,
        env: dict | None = None, timeout: float = 120, cwd: str | os.PathLike | None = None,
        ) -> subprocess.CompletedProcess:
    """Run a command, capture text output; on failure raise with stdout/stderr shown."""
    shell = isinstance(cmd, str)
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    proc = subprocess.run(cmd, shell=shell, input=input, capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {cmd}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def run_all(cmds: Sequence[Sequence[str]], timeout: float = 120) -> list[subprocess.CompletedProcess]:
    """run() every command at the same time (each in a thread), for tools that mostly wait:
    sgdisk calls sync() and sleeps a second after every write, so twenty images made one
    after the other take twenty seconds and made together about one."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=max(1, len(cmds))) as pool:
        return list(pool.map(lambda cmd: run(cmd, timeout=timeout), cmds))


def make_image(path: Path, size_bytes: int) -> Path:
    """Create a sparse image file of the given size (never a device)."""
    path = Path(path)
    with open(path, "wb") as f:
        f.truncate(size_bytes)
    return path


@contextlib.contextmanager
def loop_device(image: Path, *, partitions: bool = True) -> Iterator[str]:
    """Attach a regular image file to a free loop device; detach it afterwards.

    `losetup -P` makes no partition nodes on this kernel, so partitions are
    added with `partx -a` (and removed with `partx -d`).
    """
    need_root()
    need_tools("losetup", "partx")
    st = os.stat(image)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"refusing {image}: labs attach regular image files only")
    dev = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
    if not dev.startswith("/dev/loop"):
        raise AssertionError(f"losetup returned {dev!r}, not a loop device")
    try:
        if partitions:
            run(["partx", "-a", dev], check=False)
            time.sleep(0.2)
        yield dev
    finally:
        if partitions:
            run(["partx", "-d", dev], check=False)
        for _ in range(10):
            if run(["losetup", "-d", dev], check=False).returncode == 0:
                break
            time.sleep(0.3)


@contextlib.contextmanager
def mounted(source: str, target: Path, *options: str) -> Iterator[Path]:
    """Mount source on target (a directory we create); always unmount."""
    need_root()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    args = ["mount"]
    if options:
        args += ["-o", ",".join(options)]
    run(args + [source, str(target)])
    try:
        yield target
    finally:
        if run(["umount", str(target)], check=False).returncode != 0:
            run(["umount", "-l", str(target)], check=False)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll predicate() until it returns a truthy value; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop(proc: subprocess.Popen | int, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop a process a lab started, by its PID: `sig` (SIGTERM), up to `grace` seconds to exit,
    then SIGKILL.

    `proc` is the Popen of a child (waited for, so no zombie is left) or the bare PID of a
    daemon that detached itself and wrote a pid file (watched in /proc until it is gone).
    A process that has already exited is left alone.  If even SIGKILL does not end it
    within 10 s, the error says so (subprocess.TimeoutExpired or AssertionError).
    """
    if isinstance(proc, subprocess.Popen):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        return
    for signum, timeout in ((sig, grace), (signal.SIGKILL, 10.0)):
        if not alive(proc):
            return
        try:
            os.kill(proc, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while alive(proc) and time.monotonic() < deadline:
            time.sleep(0.1)
    if alive(proc):
        raise AssertionError(f"PID {proc} still runs 10 s after SIGKILL")


def ofd_locks_on(path: Path) -> list[str]:
    """The lines of /proc/locks that are OFD locks on `path`'s inode.

    Waiting on these, rather than probing with a second QEMU process, matters:
    a probing `qemu-img info` itself locks the image for a moment, and a qemu-io
    that starts during that moment is refused and exits."""
    st = os.stat(path)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return [line for line in Path("/proc/locks").read_text().splitlines()
            if "OFDLCK" in line and f" {dev} " in line]


def qemu_holds_write(path: Path) -> bool:
    """True once a QEMU process holds the WRITE permission on `path`: QEMU's
    file-posix driver locks byte 100 + n for each permission n it holds, and
    WRITE is permission 1, so an OFD lock covering byte 101 (block/file-posix.c,
    RAW_LOCK_PERM_BASE; include/block/block-common.h, BLK_PERM_WRITE)."""
    for line in ofd_locks_on(path):
        start, end = line.split()[-2:]
        if int(start) <= 101 and (end == "EOF" or 101 <= int(end)):
            return True
    return False
