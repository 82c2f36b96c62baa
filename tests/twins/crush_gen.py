"""Random CRUSH maps for the CRUSH twins, compiled and decompiled by crushtool.

A generated map has a root, optional racks, hosts and OSDs with random
fan-out, weights that include 0 and fractions, optional device classes, a mix
of bucket algorithms (straw2 by default; straw v1, list, tree, uniform on
request), a chosen ``tunable`` block (PROFILES: argonaut ... jewel) and a set of rules: replicated and EC
(indep), choose + chooseleaf, several take/emit blocks, ``take ... class``,
``set_choose_tries``/``set_chooseleaf_tries``.  ``crushtool -c`` compiles it;
``crushtool -d`` gives back the canonical text (with the shadow-tree ids) that
both our snippet and the real tool then read.
"""
from __future__ import annotations

import random
import subprocess
from pathlib import Path

TUNABLES = """tunable choose_local_tries 0
tunable choose_local_fallback_tries 0
tunable choose_total_tries 50
tunable chooseleaf_descend_once 1
tunable chooseleaf_vary_r 1
tunable chooseleaf_stable 1
tunable straw_calc_version 1
tunable allowed_bucket_algs 54
"""
# The tunables of each named profile, as CrushWrapper.h (Ceph 16.2) sets them
# in set_tunables_argonaut() ... set_tunables_jewel(); straw_calc_version is
# not part of a profile (legacy maps have 0, maps created since firefly 1).
# Each profile is the one before it plus what CrushWrapper::set_tunables_*() changes.
PROFILES = {"argonaut": dict(choose_local_tries=2, choose_local_fallback_tries=5, choose_total_tries=19,
                             chooseleaf_descend_once=0, chooseleaf_vary_r=0, chooseleaf_stable=0,
                             allowed_bucket_algs=22)}
PROFILES["bobtail"] = dict(PROFILES["argonaut"], choose_local_tries=0, choose_local_fallback_tries=0,
                           choose_total_tries=50, chooseleaf_descend_once=1)
PROFILES["firefly"] = dict(PROFILES["bobtail"], chooseleaf_vary_r=1)
PROFILES["hammer"] = dict(PROFILES["firefly"], allowed_bucket_algs=54)
PROFILES["jewel"] = dict(PROFILES["hammer"], chooseleaf_stable=1)


def tunables_text(values: dict, straw_calc_version: int = 1) -> str:
    """``tunable`` lines in the order crushtool -d prints them."""
    order = ("choose_local_tries", "choose_local_fallback_tries", "choose_total_tries",
             "chooseleaf_descend_once", "chooseleaf_vary_r", "chooseleaf_stable")
    lines = [f"tunable {k} {values[k]}" for k in order]
    lines.append(f"tunable straw_calc_version {straw_calc_version}")
    lines.append(f"tunable allowed_bucket_algs {values.get('allowed_bucket_algs', 54)}")
    return "\n".join(lines) + "\n"


TYPES = "type 0 osd\ntype 1 host\ntype 2 rack\ntype 3 root\n"
WEIGHTS = ["1.000", "1.000", "2.000", "0.500", "0.000", "0.731", "3.639", "0.01", "7.277", "1.5"]


def _weight(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"{rng.uniform(0, 10):.5f}"
    return rng.choice(WEIGHTS)


def generate(rng: random.Random, *, classes: bool, algs: tuple[str, ...] = ("straw2",),
             tunables: str = TUNABLES, root_alg: str = "straw2") -> tuple[str, list[int]]:
    """Return (text map, list of rule ids) for crushtool -c.

    ``tunables`` is the map's ``tunable`` block (default: Ceph 16's), and
    ``root_alg`` the algorithm of the root bucket.

    With device classes only straw2 is used: Ceph 16's crushtool cannot clone
    some legacy buckets (uniform, tree, list) into shadow trees and then
    rejects the rules that take the class.
    """
    if classes:
        algs = ("straw2",)
    n_racks = rng.choice([0, 2, 3, 4])
    hosts_per = [rng.randint(1, 5) for _ in range(max(n_racks, 1))]
    cls_names = ["hdd", "ssd", "nvme"][: rng.randint(2, 3)]
    dev_lines, bucket_text = [], []
    osd = 0
    next_id = -2
    host_names, rack_names = [], []
    for r, nh in enumerate(hosts_per):
        rack_items = []
        for h in range(nh):
            n_osd = rng.randint(1, 6)
            alg = rng.choice(algs)
            hname = f"host{r}-{h}"
            items = []
            uniform_w = _weight(rng)
            if alg == "uniform" and float(uniform_w) == 0:   # crushtool -c aborts on it
                uniform_w = "1.000"
            for _ in range(n_osd):
                cls = f" class {rng.choice(cls_names)}" if classes else ""
                dev_lines.append(f"device {osd} osd.{osd}{cls}")
                w = uniform_w if alg == "uniform" else _weight(rng)
                items.append(f"\titem osd.{osd} weight {w}")
                osd += 1
            bucket_text.append(f"host {hname} {{\n\tid {next_id}\n\talg {alg}\n\thash 0\n"
                               + "\n".join(items) + "\n}\n")
            next_id -= 1
            host_names.append(hname)
            rack_items.append(hname)
        if n_racks:
            rname = f"rack{r}"
            alg = rng.choice([a for a in algs if a != "uniform"])
            bucket_text.append(f"rack {rname} {{\n\tid {next_id}\n\talg {alg}\n\thash 0\n"
                               + "\n".join(f"\titem {i}" for i in rack_items) + "\n}\n")
            next_id -= 1
            rack_names.append(rname)
    top = rack_names or host_names
    bucket_text.append(f"root default {{\n\tid -1\n\talg {root_alg}\n\thash 0\n"
                       + "\n".join(f"\titem {i}" for i in top) + "\n}\n")
    rules = []

    def rule(body: list[str], rtype: str = "replicated") -> None:
        rid = len(rules)
        rules.append(f"rule r{rid} {{\n\tid {rid}\n\ttype {rtype}\n\tmin_size 1\n\tmax_size 20\n"
                     + "".join(f"\tstep {s}\n" for s in body) + "}\n")

    take = "take default"
    if classes:
        take += f" class {rng.choice(cls_names)}"
    rule([take, "chooseleaf firstn 0 type host", "emit"])
    rule(["set_chooseleaf_tries 5", "set_choose_tries 100", take,
          "chooseleaf indep 0 type host", "emit"], "erasure")
    rule([take, "choose firstn 0 type osd", "emit"])
    rule([take, "choose indep 0 type host", "choose indep 1 type osd", "emit"], "erasure")
    if rack_names:
        rule([take, "choose firstn 2 type rack", "chooseleaf firstn 2 type host", "emit"])
        rule(["set_choose_tries 100", take, "choose indep 0 type rack",
              "chooseleaf indep 1 type host", "emit"], "erasure")
    if classes:
        a, b = cls_names[0], cls_names[1]
        rule([f"take default class {a}", "chooseleaf firstn 1 type host", "emit",
              f"take default class {b}", "chooseleaf firstn -1 type host", "emit"])
    else:
        rule(["take default", "chooseleaf firstn 1 type host", "emit",
              "take default", "chooseleaf firstn -1 type host", "emit"])
    if classes:
        # real maps carry an "id -N class C" line per bucket and class: the
        # shadow-tree ids.  Without them crushtool -c builds no complete shadow
        # trees, so we write them as a cluster's exported map has them.
        shadow_id = next_id
        for i, b in enumerate(bucket_text):
            extra = ""
            for c in cls_names:
                extra += f"\tid {shadow_id} class {c}\n"
                shadow_id -= 1
            head, rest = b.split("\talg", 1)
            bucket_text[i] = head + extra + "\talg" + rest
    text = (tunables + "\n".join(dev_lines) + "\n" + TYPES + "".join(bucket_text) + "".join(rules))
    return text, list(range(len(rules)))


def compile_map(text: str, workdir: Path, name: str) -> tuple[Path, Path]:
    """crushtool -c, -d, -c again: return (binary map, canonical text map).

    crushtool -d prints weights with three decimals, so the text is not the
    same map as the first binary; the second -c compiles exactly the text
    that the snippet reads."""
    src, first = workdir / f"{name}.src", workdir / f"{name}.0.bin"
    binp, txt = workdir / f"{name}.bin", workdir / f"{name}.txt"
    src.write_text(text)
    for args in (["-c", str(src), "-o", str(first)], ["-d", str(first), "-o", str(txt)],
                 ["-c", str(txt), "-o", str(binp)]):
        subprocess.run(["crushtool", *args], check=True, capture_output=True, text=True)
    return binp, txt


def crushtool_mappings(binp: Path, rule: int, num_rep: int, min_x: int, max_x: int,
                       extra: tuple[str, ...] = ()) -> list[str]:
    """The real tool's --show-mappings lines."""
    out = subprocess.run(["crushtool", "-i", str(binp), "--test", "--rule", str(rule),
                          "--num-rep", str(num_rep), "--min-x", str(min_x), "--max-x", str(max_x),
                          "--show-mappings", *extra],
                         check=True, capture_output=True, text=True).stdout
    return out.splitlines()
