"""Guard used by every disk example: work on image files, never on a real disk.

>>> import os, tempfile
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "disk.img")
>>> open(p, "wb").close()
>>> check_image_path(p) == p
True
>>> check_image_path("/dev/sda")
Traceback (most recent call last):
...
ValueError: refusing /dev/sda: examples work on image files or loop devices only, not on a real disk
"""
from __future__ import annotations

import os
import re
import stat

_LOOP = re.compile(r"^/dev/loop\d+(p\d+)?$")


def check_image_path(path: str) -> str:
    """Return path if it is a regular file or a loop device; raise ValueError otherwise."""
    real = os.path.realpath(path)
    if _LOOP.match(real):
        return path
    if real.startswith("/dev/") or (os.path.exists(real) and not stat.S_ISREG(os.stat(real).st_mode)):
        raise ValueError(
            f"refusing {path}: examples work on image files or loop devices only, not on a real disk")
    return path
