"""CRUSH mappings per second: pure-Python snippets/crush.py beside crushtool on the same map.

The map is snippets/crush.py's EXAMPLE_MAP grown to --hosts hosts of
--osds-per-host OSDs (straw2, rule 0 = chooseleaf firstn 0 type host).  Both
compute the same x range with 3 replicas; crushtool's time includes its
process start-up, so it is measured on a range large enough to dwarf it.
Rates are per CPU second (our process_time; crushtool's user + system time
from getrusage), so a busy machine slows both alike; wall-clock rates follow.
Figures only, no assertions: run with `make bench` or `python bench/crush_bench.py`.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snippets"))
import crush  # noqa: E402


def make_map(hosts: int, per_host: int) -> str:
    lines = [crush.EXAMPLE_MAP.split("device 0")[0]]            # the tunables
    lines += [f"device {d} osd.{d}" for d in range(hosts * per_host)]
    lines += ["type 0 osd", "type 1 host", "type 11 root"]
    for h in range(hosts):
        items = "\n".join(f"\titem osd.{h * per_host + i} weight 1.000" for i in range(per_host))
        lines.append(f"host h{h} {{\n\tid {-2 - h}\n\talg straw2\n\thash 0\n{items}\n}}")
    lines.append("root default {\n\tid -1\n\talg straw2\n\thash 0\n"
                 + "\n".join(f"\titem h{h} weight {per_host}.000" for h in range(hosts)) + "\n}")
    lines.append("rule replicated_rule {\n\tid 0\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n"
                 "\tstep take default\n\tstep chooseleaf firstn 0 type host\n\tstep emit\n}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--osds-per-host", type=int, default=4)
    ap.add_argument("--python-x", type=int, default=20000, help="inputs for crush.py")
    ap.add_argument("--crushtool-x", type=int, default=300000, help="inputs for crushtool")
    a = ap.parse_args()
    if a.hosts < 1 or a.osds_per_host < 1 or a.python_x < 1 or a.crushtool_x < 1:
        print("error: all counts must be >= 1", file=sys.stderr)
        return 2
    text = make_map(a.hosts, a.osds_per_host)
    m = crush.CrushMap.parse(text)
    crush.ln_table()                                   # build the log tables outside the timing
    crush.neg_ln_table()
    w = m.default_weights()
    wall, cpu = time.perf_counter(), time.process_time()
    for x in range(a.python_x):
        m.do_rule(0, x, 3, w, 0)
    py_cpu = a.python_x / (time.process_time() - cpu)
    py_wall = a.python_x / (time.perf_counter() - wall)
    print(f"map: {a.hosts} hosts x {a.osds_per_host} OSDs, straw2, chooseleaf firstn 0 type host, 3 replicas")
    print(f"crush.py   {py_cpu:12,.0f} mappings per CPU second  ({py_wall:,.0f}/s wall, {a.python_x} inputs)")
    if shutil.which("crushtool") is None:
        print("crushtool  not installed (Debian package ceph-base)")
        return 0
    with tempfile.TemporaryDirectory() as d:
        src, binp = Path(d) / "map.txt", Path(d) / "map.bin"
        src.write_text(text)
        subprocess.run(["crushtool", "-c", str(src), "-o", str(binp)], check=True)
        before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(["crushtool", "-i", str(binp), "--test", "--rule", "0", "--num-rep", "3",
                        "--min-x", "0", "--max-x", str(a.crushtool_x - 1), "--show-mappings"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - wall
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        ct_cpu, ct_wall = a.crushtool_x / used, a.crushtool_x / wall
    print(f"crushtool  {ct_cpu:12,.0f} mappings per CPU second  ({ct_wall:,.0f}/s wall, "
          f"{a.crushtool_x} inputs, incl. start-up and printing)")
    print(f"crush.py reaches 1/{ct_cpu / py_cpu:,.1f} of crushtool per CPU second "
          f"(1/{ct_wall / py_wall:,.1f} by the wall clock)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
