"""Fuzz: CRUSH text maps for crush.py and ceph_placement.py, and crush_sim.py's arguments.

The maps start from crush.EXAMPLE_MAP as crushtool itself writes it (crushtool -c, then -d,
when crushtool is installed), then change: a number replaced by one from the places parsers
break, a line deleted or repeated, a hostile block added (a weight_set row of the wrong
length, a tree bucket of weight 0, deep nesting, a choose_args entry for a missing bucket),
or bytes mutated.  Each is run with options drawn the same way.  A case must end with status
0 or 2, one line naming the problem, within fuzzkit's deadline and memory.
"""
from __future__ import annotations

import contextlib
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import crush
import fuzzkit


@pytest.fixture(scope="module")
def pool():
    with contextlib.closing(fuzzkit.Pool()) as workers:
        yield workers


@pytest.fixture(scope="module")
def base_map(tmp_path_factory) -> str:
    """The example map in crushtool's own words, or as written when crushtool is missing."""
    if shutil.which("crushtool") is None:
        return crush.EXAMPLE_MAP
    d = tmp_path_factory.mktemp("crushbase")
    (d / "map.txt").write_text(crush.EXAMPLE_MAP)
    subprocess.run(["crushtool", "-c", "map.txt", "-o", "map.bin"], cwd=d, check=True, capture_output=True)
    return subprocess.run(["crushtool", "-d", "map.bin"], cwd=d, check=True, capture_output=True,
                          text=True).stdout


def hostile_block(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        row = " ".join(rng.choice(["1.0", "0.5", "0", "nan", "70000"]) for _ in range(rng.randrange(0, 5)))
        return f"choose_args {rng.choice(['0', '1', '-1', str(2**64 - 1)])} {{\n {{\n  bucket_id " \
               f"{rng.choice(['-3', '-4', '-1', '-99', '0', '5'])}\n  weight_set [\n   [ {row} ]\n  ]\n }}\n}}\n"
    if kind == 1:
        n = rng.choice([1, 3, 5, 8])
        devs = "".join(f"device {100 + i} t{i}\n" for i in range(n))
        items = "".join(f" item t{i} weight {rng.choice(['0', '0', '1.0'])}\n" for i in range(n))
        return devs + f"host tr {{\n id -50\n alg tree\n hash 0\n{items}}}\n" \
                      "rule tr {\n id 9\n type replicated\n min_size 1\n max_size 10\n step take tr\n" \
                      " step choose firstn 0 type osd\n step emit\n}\n"
    if kind == 2:
        levels = rng.choice([2, 50, 101, 150])
        out, prev = [], "osd.0"
        for i in range(levels):
            out.append(f"host n{i} {{\n id {-200 - i}\n alg straw2\n hash 0\n item {prev} weight 1.0\n}}\n")
            prev = f"n{i}"
        return "".join(out)
    if kind == 3:
        return f"rule x {{\n id 7\n type replicated\n min_size {fuzzkit.interesting_numbers(rng)}\n max_size " \
               f"{fuzzkit.interesting_numbers(rng)}\n step set_choose_tries {fuzzkit.interesting_numbers(rng)}\n" \
               f" step take default\n step chooseleaf firstn {fuzzkit.interesting_numbers(rng)} type host\n" \
               " step emit\n}\n"
    return f"device {fuzzkit.interesting_numbers(rng)} osd.{rng.randrange(100, 200)} class " \
           f"{rng.choice(['hdd', 'ssd', 'x'])}\n"


def mutate_map(text: str, rng: random.Random) -> tuple[bytes, str]:
    lines = text.splitlines(keepends=True)
    notes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.random()
        if op < 0.4:
            numbers = [(i, m) for i, line in enumerate(lines) for m in re.finditer(r"-?\d+(\.\d+)?", line)]
            if numbers:
                i, m = rng.choice(numbers)
                value = fuzzkit.interesting_numbers(rng)
                lines[i] = lines[i][:m.start()] + value + lines[i][m.end():]
                notes.append(f"line {i}: {m.group()} -> {value[:20]}")
        elif op < 0.55 and lines:
            i = rng.randrange(len(lines))
            notes.append(f"line {i} deleted")
            del lines[i]
        elif op < 0.65 and lines:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            notes.append(f"line {i} repeated")
        else:
            block = hostile_block(rng)
            at = rng.choice([len(lines), next((i for i, line in enumerate(lines) if line.startswith("rule")),
                                              len(lines))])
            lines[at:at] = [block]
            notes.append(f"block at line {at}: {block.split(chr(10))[0][:40]}")
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if rng.random() < 0.15:
        data, how = fuzzkit.mutate(data, rng, [], wide=True)
        notes.append(how)
    return data, "; ".join(notes)


def crush_case(base: str):
    def make(rng: random.Random, d: Path) -> fuzzkit.Case:
        data, note = mutate_map(base, rng)
        (d / "map.txt").write_bytes(data)
        number = lambda: rng.choice([fuzzkit.interesting_numbers(rng), str(rng.randrange(0, 12))])  # noqa: E731
        if rng.random() < 0.25:
            argv = ["--crush", "map.txt", "--pool", number(), "--pg-num", number(), "--size", number(),
                    "--rule", number()] + [rng.choice(["foo", "对象", "", "a" * 300]) for _ in range(rng.randrange(1, 4))]
            return fuzzkit.Case("ceph_placement", argv, note=note)
        argv = ["-i", "map.txt", "--test"]
        for option in ("--rule", "--num-rep", "--x", "--min-x", "--max-x"):
            if rng.random() < 0.4:
                argv += [option, number()]
        if "--x" not in argv and "--max-x" not in argv:
            argv += ["--max-x", str(rng.randrange(0, 40))]    # a run of 1024 x of every rule: seconds, not a bug
        if rng.random() < 0.3:
            argv += ["--weight", number(), rng.choice(["0.5", "2", "-1", "inf", "nan", "1e300", "x"])]
        argv += rng.sample(["--show-mappings", "--show-bad-mappings"], rng.randrange(0, 3))
        return fuzzkit.Case("crush", argv, note=note)
    return make


def sim_case(rng: random.Random, d: Path) -> fuzzkit.Case:
    argv = []
    for option in ("--hosts", "--osds-per-host", "--target", "--size"):
        if rng.random() < 0.4:
            argv += [option, fuzzkit.interesting_numbers(rng)]
    if rng.random() < 0.3:
        argv += ["--osds", " ".join(fuzzkit.interesting_numbers(rng) for _ in range(rng.randrange(0, 5)))]
    if rng.random() < 0.5:
        argv += ["--pgs", rng.choice([fuzzkit.interesting_numbers(rng), "64", "256"])]
    else:
        argv += ["--pgs", "128"]                          # the default 1024 PGs take a second or two: fine, slower
    if rng.random() < 0.3:
        argv += ["--change", rng.choice(["add", "add-host", "remove", "out", "grow"])]
    if rng.random() < 0.2:
        argv.append("--show-pgs")
    return fuzzkit.Case("crush_sim", argv, note="arguments")


def test_fuzz_crush_maps(pool, base_map, tmp_path):
    report = fuzzkit.run_campaign("crush", pool, tmp_path, crush_case(base_map), count=100, share=0.1)
    assert not report.failures, report.message()


def test_fuzz_crush_sim_arguments(pool, tmp_path):
    report = fuzzkit.run_campaign("crush_sim", pool, tmp_path, sim_case, count=40, share=0.05)
    assert not report.failures, report.message()
