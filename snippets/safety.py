"""Guard used by every example that opens a file the reader names: image files, never a real disk.

What counts as an image:

* a regular file;
* a loop device (``/dev/loopN``, ``/dev/loopNpM``) whose backing file is a
  regular file.  The kernel says what backs it in
  ``/sys/dev/block/MAJ:MIN/loop/backing_file``; a loop device attached to a
  block device (``losetup /dev/loop0 /dev/sda``) *is* that disk, so it is
  refused for reading and writing alike.

Everything else is refused: other block and character devices (``/dev/sda``,
``/dev/zero``), directories, sockets, and anything under ``/proc`` or ``/sys``
(their files look regular but are kernel interfaces: ``/proc/kcore`` claims
128 TiB).

The order matters.  Checking a name and then opening it can be raced: a
symbolic link switched between a file and ``/dev/zero`` after the check is
opened as ``/dev/zero``.  So the helpers open first and then look at what was
opened: ``fstat`` of the descriptor, and the kernel's own name for it
(``/proc/self/fd/N``).  The descriptor is handed on, never the name.  Opening
for writing adds ``O_NOFOLLOW``: a symbolic link as the last component is
refused, so a link planted in a shared directory cannot redirect a write.
``O_NONBLOCK`` during the open keeps a FIFO without a writer from blocking.

Text inputs (fstab, exports, CRUSH maps) go through ``read_limited``: a
regular file or a pipe, read up to a stated number of bytes, so ``/dev/zero``
or a runaway pipe cannot fill the memory.

>>> import os, tempfile
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "disk.img")
>>> open(p, "wb").close()
>>> check_image_path(p) == p
True
>>> fd = open_guarded(p); os.close(fd)
>>> check_image_path("/dev/sda")
Traceback (most recent call last):
...
ValueError: refusing /dev/sda: examples work on image files or loop devices only, not on a real disk
>>> check_image_path("/dev/loop0\\n")
Traceback (most recent call last):
...
ValueError: refusing '/dev/loop0\\n': examples work on image files or loop devices only, not on a real disk
>>> read_limited("/dev/zero", 1 << 20, "fstab")
Traceback (most recent call last):
...
ValueError: refusing /dev/zero: it is a character device; the fstab input must be a regular file or a pipe
"""
from __future__ import annotations

import errno
import os
import re
import stat

_LOOP = re.compile(r"/dev/loop\d+(p\d+)?")
_LOOP_NAME = re.compile(r"(loop\d+)(p\d+)?")
_KERNEL_TREES = ("/proc", "/sys")
NOT_A_DISK = "examples work on image files or loop devices only, not on a real disk"
_KERNEL_FILES = "files under /proc and /sys are kernel interfaces, not images or input files"


def printable(text: str) -> str:
    """Text for a one-line message: control characters (a newline, an escape sequence) from a
    file name or an image become \\xNN, so the message stays one line and cannot drive the
    terminal.

    >>> print(printable("disk\\n.img\\x1b[2J"))
    disk\\x0a.img\\x1b[2J
    """
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 0x100
                   else f"\\u{ord(c):04x}" for c in text)


def _shown(path: str) -> str:
    """The path as a message shows it: quoted when it holds control characters or spaces."""
    return path if path.isprintable() and " " not in path else repr(path)


def _refuse(path: str, why: str = NOT_A_DISK) -> ValueError:
    return ValueError(f"refusing {_shown(path)}: {why}")


def _in_kernel_tree(real: str) -> bool:
    return any(real == top or real.startswith(top + "/") for top in _KERNEL_TREES)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a regular file"


def loop_backing(rdev: int) -> str | None:
    """The backing file of the loop device with device number ``rdev`` (None: not a loop device).

    Raises ValueError when it is a loop device but sysfs does not say what backs it.
    """
    node = f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}"
    name = os.path.basename(os.path.realpath(node))
    m = _LOOP_NAME.fullmatch(name)
    if not m:
        return None
    disk = m.group(1)                      # loop0p1 is a partition of loop0
    try:
        with open(f"/sys/block/{disk}/loop/backing_file", encoding="utf-8",
                  errors="surrogateescape") as f:
            return f.read().rstrip("\n")
    except OSError:
        raise ValueError(f"refusing /dev/{name}: sysfs does not say what backs it "
                         f"(/sys/block/{disk}/loop/backing_file is missing)") from None


def _check_loop(path: str, rdev: int) -> None:
    """A loop device is an image only when a regular file backs it."""
    backing = loop_backing(rdev)
    if backing is None:
        raise _refuse(path)
    name = backing.removesuffix(" (deleted)")
    try:
        mode = os.stat(name).st_mode
    except OSError:
        mode = stat.S_IFREG if backing.endswith(" (deleted)") else 0
    if not stat.S_ISREG(mode):
        raise _refuse(path, f"the loop device is backed by {_shown(name)}, {_kind(mode) if mode else 'not a file'}; "
                            "examples use loop devices over image files only")


def check_image_path(path: str) -> str:
    """Check a name before it is created or opened; return it unchanged, or raise ValueError.

    This looks at the name only (a file that does not exist yet passes); the
    open helpers below check the opened descriptor again.
    """
    real = os.path.realpath(path)
    if _LOOP.fullmatch(path) or _LOOP.fullmatch(real):
        if os.path.exists(real):
            _check_loop(path, os.stat(real).st_rdev)
        return path
    if _in_kernel_tree(real):
        raise _refuse(path, _KERNEL_FILES)
    if real.startswith("/dev/"):          # /dev/loop0 plus a newline too: fullmatch above
        raise _refuse(path)
    if os.path.exists(real) and not stat.S_ISREG(os.stat(real).st_mode):
        raise _refuse(path)
    return path


def opened_name(fd: int, path: str) -> str:
    """What the kernel calls the open file (immune to renames and link swaps after the open)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)


def _open(path: str, flags: int) -> tuple[int, os.stat_result]:
    """Open without blocking on a FIFO or taking a terminal; return the descriptor and its fstat."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP and flags & os.O_NOFOLLOW:
            raise _refuse(path, "it is a symbolic link, and writes do not follow links "
                                "(give the file's own path)") from None
        raise
    try:
        st = os.fstat(fd)
        if _in_kernel_tree(opened_name(fd, path)):
            raise _refuse(path, _KERNEL_FILES)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_guarded(path: str, *, write: bool = False, create: bool = False) -> int:
    """Open an image (read only, or read-write with ``write``) and return the checked descriptor.

    ``create`` makes a new empty file when there is none (and truncates an existing one).
    """
    check_image_path(path)          # by name first: /dev/sda is refused even where it does not exist
    flags = (os.O_RDWR | os.O_NOFOLLOW) if write or create else os.O_RDONLY
    if create:
        flags |= os.O_CREAT
    fd, st = _open(path, flags)
    try:
        if stat.S_ISBLK(st.st_mode):
            _check_loop(path, st.st_rdev)
        elif stat.S_ISDIR(st.st_mode):
            raise _refuse(path, f"it is a directory; {NOT_A_DISK}")
        elif not stat.S_ISREG(st.st_mode):
            raise _refuse(path)
        if create:
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_guarded_file(path: str, mode: str = "rb"):
    """``open_guarded`` as a binary file object: mode "rb", "r+b" or "wb" (create)."""
    if mode not in ("rb", "r+b", "wb"):
        raise ValueError(f"mode {mode!r} (accepted: rb, r+b, wb)")
    fd = open_guarded(path, write=mode != "rb", create=mode == "wb")
    return os.fdopen(fd, mode)


def read_limited(path: str, limit: int, what: str) -> bytes:
    """All bytes of a text input (a regular file or a pipe), at most ``limit`` of them.

    Raises OSError when the file cannot be opened (its errno kept, so callers
    print the usual "No such file or directory"), IsADirectoryError for a
    directory and ValueError for a device, a /proc or /sys file, or an input
    larger than ``limit`` bytes.
    """
    if type(limit) is not int or not 0 <= limit <= 1 << 40:
        raise ValueError(f"read limit {limit!r:.40} must be a whole number of bytes 0..2**40")
    fd, st = _open(path, os.O_RDONLY)
    try:
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise _refuse(path, f"it is {_kind(st.st_mode)}; the {what} input must be a "
                                "regular file or a pipe")
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise _too_large(path, limit, what, st.st_size)
        parts, got = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            got += len(chunk)
            if got > limit:
                raise _too_large(path, limit, what)
    finally:
        os.close(fd)


def _too_large(path: str, limit: int, what: str, size: int | None = None) -> ValueError:
    has = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return ValueError(f"{_shown(path)} holds {has}; the {what} input this tool reads is at most "
                      f"{limit} bytes ({limit / 2**20:g} MiB, a bound of this tool)")
