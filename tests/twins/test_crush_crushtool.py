"""Twin: snippets/crush.py against ``crushtool --test --show-mappings`` (Ceph 16.2).

Each random map (tests/twins/crush_gen.py) goes through crushtool -c/-d/-c, so
both programs read the same numbers.  On every map the main rule is checked
on 10,000 inputs x with 3 replicas, and every rule of the map on a further
range with 1, 4 and 12 replicas, including more replicas than failure domains
(firstn returns fewer OSDs, indep leaves holes printed as 2147483647).
The comparison is of whole output lines, byte for byte.
"""
from __future__ import annotations

import random
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Tuple

import pytest

import crush
import crush_gen

pytestmark = pytest.mark.twin
SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "crush.py"
ALL_ALGS = ("straw2", "list", "tree", "uniform")

# (seed, device classes?, bucket algorithms, index of the rule run on 10,000 x)
MAPS = [
    (302, True, ("straw2",), 0),     # 11 hosts in racks; replicated chooseleaf, take ... class
    (302, False, ("straw2",), 1),    # EC: set_*_tries + chooseleaf indep
    (302, False, ALL_ALGS, 0),       # legacy bucket algorithms (uniform, list, tree)
    (303, True, ("straw2",), 3),     # 2 hosts only: EC choose indep host + osd, with holes
]


def _ours(args: Tuple[str, int, int, int, int]) -> List[str]:
    text, rule, nr, lo, hi = args
    m = crush.CrushMap.parse(text)
    w = m.default_weights()
    return [crush.format_mapping(rule, x, m.do_rule(rule, x, nr, w, 0)) for x in range(lo, hi + 1)]


def _ours_parallel(text: str, rule: int, nr: int, lo: int, hi: int) -> List[str]:
    """Split the x range over two processes (the CI machine has 2 cores)."""
    mid = (lo + hi) // 2
    with ProcessPoolExecutor(2) as ex:
        parts = list(ex.map(_ours, [(text, rule, nr, lo, mid), (text, rule, nr, mid + 1, hi)]))
    return parts[0] + parts[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crushmaps")


@pytest.mark.parametrize("seed,classes,algs,main_rule", MAPS)
def test_random_map_10000_inputs_match_crushtool(workdir, seed, classes, algs, main_rule):
    rng = random.Random(seed)
    text, rules = crush_gen.generate(rng, classes=classes, algs=algs)
    binp, txt = crush_gen.compile_map(text, workdir, f"m{seed}")
    ref = crush_gen.crushtool_mappings(binp, main_rule, 3, 0, 9999)
    assert len(ref) == 10000
    ours = _ours_parallel(txt.read_text(), main_rule, 3, 0, 9999)
    bad = [(a, b) for a, b in zip(ref, ours) if a != b]
    assert not bad, f"{len(bad)} of 10000 differ, first: {bad[:3]}"


@pytest.mark.parametrize("seed,classes,algs,main_rule", MAPS)
def test_every_rule_and_replica_count_matches_crushtool(workdir, seed, classes, algs, main_rule):
    rng = random.Random(seed)
    text, rules = crush_gen.generate(rng, classes=classes, algs=algs)
    binp, txt = crush_gen.compile_map(text, workdir, f"r{seed}")
    m = crush.CrushMap.parse(txt.read_text())
    w = m.default_weights()
    checked = 0
    for rule in rules:
        for nr, count in ((1, 30), (4, 30), (12, 8)):   # 12 > failure domains: slow, fewer x
            lo = 20000 + 1000 * rule + 100 * nr
            ref = crush_gen.crushtool_mappings(binp, rule, nr, lo, lo + count - 1)
            ours = [crush.format_mapping(rule, x, m.do_rule(rule, x, nr, w, 0))
                    for x in range(lo, lo + count)]
            assert ours == ref, f"rule {rule} num-rep {nr}"
            checked += len(ref)
    assert checked == len(rules) * 68


def _run_cli(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SNIPPET), *args], capture_output=True, text=True)


def test_cli_is_byte_identical_including_indep_holes(workdir):
    """Two hosts, an EC rule asking for 4: indep leaves holes (2147483647)."""
    text = crush.EXAMPLE_MAP.replace("item node3 weight 1.500\n", "")
    text += ("rule ec {\n id 2\n type erasure\n min_size 1\n max_size 10\n"
             " step set_chooseleaf_tries 5\n step set_choose_tries 100\n step take default\n"
             " step chooseleaf indep 0 type host\n step emit\n}\n")
    binp, txt = crush_gen.compile_map(text, workdir, "holes")
    for rule, nr in ((0, 3), (1, 3), (2, 4)):
        args = ["--test", "--rule", str(rule), "--num-rep", str(nr), "--min-x", "0",
                "--max-x", "299", "--show-mappings"]
        ref = subprocess.run(["crushtool", "-i", str(binp), *args], capture_output=True,
                             text=True, check=True).stdout
        ours = _run_cli(["-i", str(txt), *args])
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == ref
    assert "2147483647" in ref           # the EC rule really produced holes


def test_choose_args_weight_sets_match_crushtool(workdir):
    """A balancer-style choose_args section (weight_set per position, ids)."""
    text = crush.EXAMPLE_MAP + """
choose_args 18446744073709551615 {
  {
    bucket_id -1
    weight_set [
      [ 1.000 3.000 0.500 ]
      [ 2.000 1.000 1.000 ]
    ]
  }
  {
    bucket_id -3
    weight_set [
      [ 0.100 2.000 ]
    ]
    ids [ -20 -30 ]
  }
}
"""
    binp, txt = crush_gen.compile_map(text, workdir, "cargs")
    m = crush.CrushMap.parse(txt.read_text())
    w = m.default_weights()
    ref = crush_gen.crushtool_mappings(binp, 0, 3, 0, 1999)
    assert [crush.format_mapping(0, x, m.do_rule(0, x, 3, w, 0)) for x in range(2000)] == ref


def test_cli_bad_input_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("device 0 osd.0\ntype 0 osd\ntype 1 host\nhost h {\n id -1\n alg straw\n"
                   " item osd.0 weight 1.0\n}\n")
    r = _run_cli(["-i", str(bad), "--test", "--rule", "0", "--num-rep", "3"])
    assert r.returncode == 2
    assert "straw (v1) buckets are not supported" in r.stderr
    assert "Traceback" not in r.stderr


def test_reweights_match_crushtool_weight_option(workdir):
    """OSD reweights below 1.0 (is_out: rejected for a share of inputs), and 0."""
    rng = random.Random(515)
    text, rules = crush_gen.generate(rng, classes=True)
    binp, txt = crush_gen.compile_map(text, workdir, "reweight")
    n_dev = crush.CrushMap.parse(txt.read_text()).max_devices
    extra: List[str] = []
    for dev in rng.sample(range(n_dev), max(1, n_dev // 3)):
        extra += ["--weight", str(dev), rng.choice(["0", "0.1", "0.5", "0.731", "0.99", "1.0"])]
    for rule in (0, 1):
        args = ["--test", "--rule", str(rule), "--num-rep", "3", "--min-x", "0", "--max-x", "499",
                "--show-mappings", *extra]
        ref = subprocess.run(["crushtool", "-i", str(binp), *args], capture_output=True,
                             text=True, check=True).stdout
        ours = _run_cli(["-i", str(txt), *args])
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == ref, f"rule {rule} with {extra}"
