"""Reading a partition table: snippets/partition_table.py beside `sfdisk -J` on the same images.

Builds an MBR image with logical partitions and a GPT image with sfdisk in a
temporary directory, then prints calls per second of our reader (in-process,
and as a script) and of `sfdisk -J`.  Figures only, no assertions: run with
`make bench` or `python bench/partition_table_bench.py`.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "snippets"))
import partition_table as pt  # noqa: E402
from _timing import calls_per_second  # noqa: E402  (bench/_timing.py, beside this script)

LAYOUTS = {
    "mbr-logical": "label: dos\nsize=8MiB, type=83, bootable\ntype=5\n"
                   + "size=2MiB, type=83\n" * 12,
    "gpt-128": "label: gpt\n" + "size=2MiB, type=L, name=\"part\"\n" * 20,
}


per_second = calls_per_second


def main() -> int:
    if shutil.which("sfdisk") is None:
        print("error: sfdisk not found (Debian package fdisk)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for name, script in LAYOUTS.items():
            image = Path(tmp, f"{name}.img")
            with open(image, "wb") as f:
                f.truncate(128 * 1024 * 1024)
            subprocess.run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(image)],
                           input=script, text=True, check=True, capture_output=True)

            def ours() -> None:
                with open(image, "rb") as f:
                    pt.sfdisk_json(pt.read_table(f), str(image))

            def script_run() -> None:
                subprocess.run([sys.executable, str(ROOT / "snippets" / "partition_table.py"), str(image)],
                               check=True, capture_output=True)

            def sfdisk() -> None:
                subprocess.run(["sfdisk", "-J", str(image)], check=True, capture_output=True)

            a, b, c = per_second(ours), per_second(script_run), per_second(sfdisk)
            print(f"{name:12s} partition_table.py in-process {a:8.0f}/s   as a script {b:6.1f}/s   "
                  f"sfdisk -J {c:6.1f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
