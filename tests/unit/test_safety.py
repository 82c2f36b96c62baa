"""snippets/safety.py: what the disk guard lets through, checked on the opened descriptor.

The race test is the one that broke the old check-then-open guard: a symbolic link
switched between an image file and /dev/zero passed it 34 times in 1,866 tries.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

import safety


def test_a_symlink_flipped_between_a_file_and_dev_zero_never_passes(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"IMAGE" * 100)
    link = tmp_path / "link.img"
    link.symlink_to(image)
    stop = threading.Event()

    def flip() -> None:
        targets = [str(image), "/dev/zero"]
        n = 0
        while not stop.is_set():
            tmp = tmp_path / f"l{n % 2}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(targets[n % 2])
            os.replace(tmp, link)                # atomic: the link always exists
            n += 1
            # Rest on the image now and then, so that on a busy machine (where one thread can
            # hold the interpreter for several flips) opens still see both targets.
            time.sleep(0.0005 if n % 2 else 0)

    flipper = threading.Thread(target=flip)
    flipper.start()
    passed = refused = 0
    try:
        # At least 2,000 opens, and on until both outcomes were seen (at most 50,000).
        while (passed + refused < 2000 or not (passed and refused)) and passed + refused < 50_000:
            try:
                fd = safety.open_guarded(str(link))
            except ValueError as exc:
                assert "refusing" in str(exc)
                refused += 1
                continue
            try:
                assert stat.S_ISREG(os.fstat(fd).st_mode)
                assert os.pread(fd, 5, 0) == b"IMAGE"
            finally:
                os.close(fd)
            passed += 1
    finally:
        stop.set()
        flipper.join()
    assert passed > 0 and refused > 0, (passed, refused)


@pytest.mark.parametrize("path", ["/dev/loop0\n", "/dev/loop0p1\n", "/dev/sda", "/dev/zero",
                                  "/proc/self/mem", "/sys/kernel/notes", "/proc/kcore"])
def test_names_refused_before_anything_is_opened(path: str) -> None:
    """A trailing newline once passed the loop pattern (`$` matches before it); fullmatch does not."""
    with pytest.raises(ValueError, match="^refusing "):
        safety.check_image_path(path)
    with pytest.raises(ValueError, match="^refusing "):
        safety.open_guarded(path)


def test_a_link_into_proc_is_refused_after_the_open(tmp_path: Path) -> None:
    """The name looks harmless; the opened file is /proc/self/status."""
    link = tmp_path / "status.img"
    link.symlink_to("/proc/self/status")
    with pytest.raises(ValueError, match="files under /proc and /sys are kernel interfaces"):
        safety.open_guarded(str(link))
    with pytest.raises(ValueError, match="files under /proc and /sys are kernel interfaces"):
        safety.read_limited(str(link), 1 << 20, "fstab")


def test_writes_do_not_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.img"
    target.write_bytes(bytes(512))
    link = tmp_path / "link.img"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="it is a symbolic link, and writes do not follow links"):
        safety.open_guarded(str(link), write=True)
    with pytest.raises(ValueError, match="symbolic link"):
        safety.open_guarded_file(str(link), "wb")
    assert target.read_bytes() == bytes(512)             # not truncated
    fd = safety.open_guarded(str(link))                  # reading through the link is fine
    os.close(fd)


def test_a_fifo_without_a_writer_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="refusing .*pipe: examples work on image files"):
        safety.open_guarded(str(fifo))
    assert safety.read_limited(str(fifo), 1 << 20, "exports") == b""   # no writer: end of file


def test_read_limited_names_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 3000)
    assert safety.read_limited(str(big), 3000, "fstab") == b"x" * 3000
    with pytest.raises(ValueError, match=r"holds 3000 bytes; the fstab input this tool reads is at "
                                         r"most 2048 bytes \(0.00195312 MiB"):
        safety.read_limited(str(big), 2048, "fstab")
    with pytest.raises(ValueError, match="it is a character device; the fstab input must be a regular "
                                         "file or a pipe"):
        safety.read_limited("/dev/zero", 1 << 20, "fstab")
    with pytest.raises(IsADirectoryError):
        safety.read_limited(str(tmp_path), 1 << 20, "fstab")


def test_loop_device_counts_as_an_image_only_over_a_regular_file(tmp_path: Path) -> None:
    """losetup over a file: accepted.  A loop device over that loop device is a block device
    underneath: refused, for reading too (it is whatever disk backs it)."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup (util-linux)")
    image = tmp_path / "l.img"
    image.write_bytes(bytes(1 << 20))
    first = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True,
                           text=True, check=True).stdout.strip()
    second = None
    try:
        second = subprocess.run(["losetup", "--find", "--show", first], capture_output=True,
                                text=True, check=True).stdout.strip()
        fd = safety.open_guarded(first)
        os.close(fd)
        assert safety.check_image_path(first) == first
        with pytest.raises(ValueError, match=f"the loop device is backed by {first}, a block device"):
            safety.open_guarded(second)
    finally:
        for dev in (second, first):
            if dev:
                subprocess.run(["losetup", "-d", dev], check=False)


@pytest.mark.parametrize("limit", [1.5, -(10**400), True, 1 << 41])
def test_read_limited_refuses_a_limit_that_is_not_a_byte_count(tmp_path: Path, limit) -> None:
    text = tmp_path / "t.txt"
    text.write_text("hello\n")
    with pytest.raises(ValueError, match=r"read limit .* must be a whole number of bytes 0\.\.2\*\*40"):
        safety.read_limited(str(text), limit, "fstab")
    assert safety.read_limited(str(text), 6, "fstab") == b"hello\n"
