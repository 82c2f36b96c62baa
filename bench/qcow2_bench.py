"""qcow2 reading speed: pure-Python snippets/qcow2.py and qcow2_tool.py beside qemu-img on the
same images.

Builds a 64 MiB qcow2 with qemu-io (half the clusters written), a compressed copy
(qemu-img convert -c) and an overlay on top of the first, then times
* ``info``: qcow2_tool.py's JSON against ``qemu-img info --output=json`` (process start included),
* a whole-disk read: ``Qcow2Image.read`` against ``qemu-img convert -O raw``,
* ``check``: qcow2_tool.py against ``qemu-img check``.
Both answers are compared first.  Figures only, no assertions: `make bench`.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNIPPETS = Path(__file__).resolve().parents[1] / "snippets"
sys.path.insert(0, str(SNIPPETS))
import qcow2  # noqa: E402
import qcow2_tool  # noqa: E402

MiB = 1 << 20


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout


def best_of(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        print("error: qemu-img/qemu-io not found (Debian package qemu-utils)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sh("qemu-img", "create", "-q", "-f", "qcow2", "plain.qcow2", "64M", cwd=d)
        cmds = []
        for i in range(0, 64, 2):
            cmds += ["-c", f"write -P {i + 1} {i}M 1M"]
        sh("qemu-io", *cmds, "plain.qcow2", cwd=d)
        sh("qemu-img", "convert", "-c", "-O", "qcow2", "plain.qcow2", "packed.qcow2", cwd=d)
        sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", "plain.qcow2", "-F", "qcow2",
           "top.qcow2", cwd=d)
        sh("qemu-io", "-c", "write -P 0xee 1M 8M", "top.qcow2", cwd=d)
        print("64 MiB guest disks; seconds, best of 3 (qcow2.py and qcow2_tool.py run in this "
              "process, qemu-img as a new process)")
        print(f"{'image':<14} {'operation':<12} {'snippets':>9} {'qemu-img':>9}")
        for name in ("plain.qcow2", "packed.qcow2", "top.qcow2"):
            path = str(d / name)
            theirs = sh("qemu-img", "info", "--output=json", path, cwd=d)
            assert qcow2_tool.image_info_json(path) + "\n" == theirs
            a = best_of(lambda: qcow2_tool.image_info_json(path))
            b = best_of(lambda: sh("qemu-img", "info", "--output=json", name, cwd=d))
            print(f"{name:<14} {'info':<12} {a:>9.4f} {b:>9.4f}")

            def ours_read() -> bytes:
                with qcow2.open_image(path) as img:
                    return img.read(0, img.size)
            sh("qemu-img", "convert", "-O", "raw", name, "flat.raw", cwd=d)
            assert ours_read() == (d / "flat.raw").read_bytes()
            a = best_of(ours_read)
            b = best_of(lambda: sh("qemu-img", "convert", "-O", "raw", name, "flat.raw", cwd=d))
            print(f"{name:<14} {'read all':<12} {a:>9.4f} {b:>9.4f}")

            def ours_check() -> str:
                with qcow2_tool.open_image(path, open_backing=False) as img:
                    return qcow2_tool.check(img).report()
            assert ours_check() + "\n" == sh("qemu-img", "check", name, cwd=d)
            a = best_of(ours_check)
            b = best_of(lambda: sh("qemu-img", "check", name, cwd=d))
            print(f"{name:<14} {'check':<12} {a:>9.4f} {b:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
