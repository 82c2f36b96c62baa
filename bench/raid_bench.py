"""Parity throughput: pure-Python snippets/raid.py beside ISA-L xor_gen/pq_gen on the same buffers.

Prints MB/s (10^6 bytes of data per second) for each, python / ISA-L, and
P+Q / XOR within each implementation.  Each figure is the best of several
short runs taken in turn, so a busy moment on the machine hurts every
operation alike.  Figures only, no assertions: run with `make bench` or
`python bench/raid_bench.py`.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snippets"))
import raid  # noqa: E402
from _timing import calls_per_second  # noqa: E402  (bench/_timing.py, beside this script)

LIBISAL = "/usr/lib/x86_64-linux-gnu/libisal.so.2"


def aligned_copies(blocks: list[bytes], extra: int):
    """32-byte aligned C buffers (ISA-L raid.h requirement) holding blocks, plus `extra` outputs."""
    n = len(blocks[0])
    keep, ptrs = [], (ctypes.c_void_p * (len(blocks) + extra))()
    for i in range(len(blocks) + extra):
        raw = ctypes.create_string_buffer(n + 64)
        addr = ctypes.addressof(raw) + (-ctypes.addressof(raw)) % 32
        if i < len(blocks):
            ctypes.memmove(addr, blocks[i], n)
        keep.append(raw)
        ptrs[i] = addr
    return keep, ptrs


def rates(fns: dict, data_bytes: int, runs: int = 7, min_time: float = 0.2) -> dict:
    """MB/s of data for each fn: the best of `runs` runs of min_time seconds, taken in turn."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(runs):
        for name, fn in fns.items():
            best[name] = max(best[name], data_bytes * calls_per_second(fn, min_time) / 1e6)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--disks", type=int, default=8, help="data blocks per stripe (2..32)")
    ap.add_argument("--chunk-kib", type=int, default=512, help="block size in KiB (md default chunk: 512)")
    args = ap.parse_args()
    if not 2 <= args.disks <= 32 or args.chunk_kib <= 0:
        print("error: --disks must be 2..32 and --chunk-kib > 0", file=sys.stderr)
        return 2
    if not Path(LIBISAL).exists():
        print(f"error: {LIBISAL} not found (Debian package libisal2)", file=sys.stderr)
        return 1
    lib = ctypes.CDLL(LIBISAL)
    for fn in (lib.xor_gen, lib.pq_gen):
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
    n = args.chunk_kib * 1024
    blocks = [os.urandom(n) for _ in range(args.disks)]
    k = len(blocks)
    keep_x, ptr_x = aligned_copies(blocks, 1)
    keep_q, ptr_q = aligned_copies(blocks, 2)
    # same answer first, then speed
    assert lib.xor_gen(k + 1, n, ptr_x) == 0 and lib.pq_gen(k + 2, n, ptr_q) == 0
    assert ctypes.string_at(ptr_x[k], n) == raid.xor_parity(blocks)
    assert (ctypes.string_at(ptr_q[k], n), ctypes.string_at(ptr_q[k + 1], n)) == raid.raid6_pq(blocks)
    r = rates({
        "py xor": lambda: raid.xor_parity(blocks), "c xor": lambda: lib.xor_gen(k + 1, n, ptr_x),
        "py pq": lambda: raid.raid6_pq(blocks), "c pq": lambda: lib.pq_gen(k + 2, n, ptr_q),
    }, k * n)
    print(f"{k} data blocks x {args.chunk_kib} KiB, MB/s of data")
    print(f"{'operation':<10} {'python':>10} {'ISA-L':>10} {'ratio':>8}")
    for name, op in (("xor (P)", "xor"), ("pq (P+Q)", "pq")):
        a, b = r["py " + op], r["c " + op]
        print(f"{name:<10} {a:>10.0f} {b:>10.0f} {a / b:>8.3f}")
    print(f"{'pq / xor':<10} {r['py pq'] / r['py xor']:>10.2f} {r['c pq'] / r['c xor']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
