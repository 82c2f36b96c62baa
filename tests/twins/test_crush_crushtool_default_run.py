"""Twin: crushtool's default run, ``crushtool -i MAP --test --show-mappings``, against snippets/crush.py.

Without --rule, --num-rep and an x range crushtool maps x 0..1023 with every rule and
every replica count from the rule's min_size to its max_size (1..10 for the rules
crushtool --build and Ceph write).  On a small map most of those runs ask for more
replicas than there are hosts, so each missing replica is tried choose_total_tries + 1 = 51
times: millions of retries, which crush.py counts as steps as it goes instead of refusing the run.
Both programs print the same lines, byte for byte.  A map that retries far more (100 tries,
100 more below each host, 255 replicas on 3 hosts) still ends: crushtool prints its lines,
crush.py stops with one line naming its step budget.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import crush

pytestmark = pytest.mark.twin
SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "crush.py"


def _crushtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["crushtool", *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=True)


def _ours(map_txt: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SNIPPET), "-i", str(map_txt), "--test", *args],
                          capture_output=True, text=True, timeout=300)


def _example(tmp: Path) -> None:
    (tmp / "map.txt").write_text(crush.EXAMPLE_MAP)
    _crushtool("-c", "map.txt", "-o", "map.bin", cwd=tmp)


def _built(tmp: Path) -> None:
    """The map of crushtool's own example: 12 OSDs, 3 to a host, straw2 hosts under a straw2 root."""
    _crushtool("--build", "--num_osds", "12", "host", "straw2", "3", "root", "straw2", "0", "-o", "map.bin",
               cwd=tmp)
    _crushtool("-d", "map.bin", "-o", "map.txt", cwd=tmp)


@pytest.mark.parametrize("make,lines", [(_example, 2 * 10 * 1024), (_built, 10 * 1024)],
                         ids=["example_map", "crushtool_build"])
def test_crushtools_default_run_prints_the_same_lines(tmp_path, make, lines):
    """Example map: 2 rules x 10 replica counts x 1024 x = 20480 lines (3 hosts: 1 + ... + 7 replicas
    short, 51 tries each); crushtool --build's map: 1 rule, 10240 lines (4 hosts)."""
    make(tmp_path)
    ref = _crushtool("-i", "map.bin", "--test", "--show-mappings", cwd=tmp_path).stdout
    ours = _ours(tmp_path / "map.txt", "--show-mappings")
    assert ours.returncode == 0 and ours.stderr == "", ours.stderr
    assert ref.count("\n") == lines
    assert ours.stdout == ref


def test_a_map_that_retries_far_more_stops_at_the_step_budget(tmp_path):
    """Rule 1 of the example map with set_choose_tries 100 and set_chooseleaf_tries 100, 255
    replicas on the 3 ssd hosts: 252 replicas short, 100 tries each per x, 1024 x make over
    25 million retries, a step each; crushtool maps them all, crush.py stops past 5 x 2^20 = 5242880
    steps."""
    take = "    step take default class ssd\n"
    text = crush.EXAMPLE_MAP.replace(take, "    step set_choose_tries 100\n    step set_chooseleaf_tries 100\n" + take)
    (tmp_path / "map.txt").write_text(text.replace("max_size 10", "max_size 255"))
    _crushtool("-c", "map.txt", "-o", "map.bin", cwd=tmp_path)
    args = ("--rule", "1", "--num-rep", "255", "--show-mappings")
    ref = _crushtool("-i", "map.bin", "--test", *args, cwd=tmp_path).stdout.splitlines()
    assert len(ref) == 1024 and ref[0] == "CRUSH rule 1 x 0 [1,3,5]"
    ours = _ours(tmp_path / "map.txt", *args)
    assert ours.returncode == 2 and ours.stdout == ""
    assert ours.stderr.count("\n") == 1 and ours.stderr.startswith(
        "crush.py: this run took more than 5242880 steps; this tool stops there"), ours.stderr
    assert _ours(tmp_path / "map.txt", *args, "--max-x", "9").stdout.splitlines() == ref[:10]
