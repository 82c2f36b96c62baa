"""Hostile input to snippets/crush.py, ceph_placement.py and crush_sim.py: every case ends in a
ValueError that names the problem (a library call) or one line and exit status 2 (a script),
never another exception, a hang or a huge allocation.  What crushtool itself does with the
same maps is checked in tests/twins/test_crush_crushtool_limits.py."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import crush

SNIPPETS = Path(__file__).resolve().parents[2] / "snippets"


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SNIPPETS / script), *args], capture_output=True, text=True,
                          timeout=60)


def _one_line_error(r: subprocess.CompletedProcess, script: str, message: str) -> None:
    assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout[:200], r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: "), r.stderr
    assert re.search(message, lines[0]), lines[0]


def _map_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "map.txt"
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------ IndexError before
def _tree_host(weights: list[str]) -> str:
    """A root over a tree host whose items have the given weights, and a rule taking the host."""
    devices = "".join(f"device {d} osd.{d}\n" for d in range(len(weights)))
    items = "".join(f"item osd.{d} weight {w}\n" for d, w in enumerate(weights))
    return (devices + "type 0 osd\ntype 1 host\nhost h {\nid -2\nalg tree\n" + items + "}\n"
            "rule r {\nid 0\nstep take h\nstep choose firstn 0 type osd\nstep emit\n}\n")


@pytest.mark.parametrize("n", [3, 5, 6, 7])
def test_tree_bucket_whose_weights_are_all_0_is_a_value_error_when_its_size_is_not_a_power_of_two(n):
    """By hand: n items use 2^(bit_length(n-1)+1) nodes; a weight-0 descent turns right at every
    node and ends on the last leaf, item 2^bit_length(n-1) - 1, which is >= n here."""
    m = crush.CrushMap.parse(_tree_host(["0"] * n))
    with pytest.raises(ValueError, match=f"tree bucket 'h': every item weight is 0.*past its {n} items"):
        m.do_rule(0, 1, 3)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_tree_bucket_of_weight_0_with_a_power_of_two_size_gives_its_last_item(n):
    m = crush.CrushMap.parse(_tree_host(["0"] * n))
    assert m.do_rule(0, 1, 1) == [n - 1]


def test_tree_bucket_with_one_weight_above_0_always_gives_that_item():
    m = crush.CrushMap.parse(_tree_host(["0", "0", "1.0"]))
    assert {m.do_rule(0, x, 1)[0] for x in range(50)} == {2}


@pytest.mark.parametrize("body,message", [
    ("bucket_id -3\nweight_set [\n[ 1.0 0.5 0.7 ]\n]", "bucket_id -3 needs exactly 2 weights but got 3"),
    ("bucket_id -3\nweight_set [\n[ 1.0 ]\n]", "bucket_id -3 needs exactly 2 weights but got 1"),
    ("bucket_id -3\nids [ 7 8 9 ]", "bucket_id -3 needs exactly 2 ids but got 3"),
    ("bucket_id -40\nweight_set [\n[ 1.0 ]\n]", "bucket_id -40 does not exist"),
    ("bucket_id 0\nweight_set [\n[ 1.0 ]\n]", "bucket_id 0 is not a bucket"),
])
def test_choose_args_row_that_does_not_fit_its_bucket_is_a_value_error(tmp_path, body, message):
    text = crush.EXAMPLE_MAP + "choose_args 1 {\n{\n" + body + "\n}\n}\n"
    with pytest.raises(ValueError, match=f"choose_args 1: {message}"):
        crush.CrushMap.parse(text)
    path = _map_file(tmp_path, text)
    _one_line_error(_run("crush.py", "-i", path, "--num-rep", "3", "--x", "0", "--show-mappings"),
                    "crush.py", message)
    _one_line_error(_run("ceph_placement.py", "--crush", path, "--pool", "1", "--pg-num", "8", "--size", "3",
                         "--rule", "0", "obj"), "ceph_placement.py", message)


# ------------------------------------------------------------ RecursionError before
def nested_map(levels: int, device_class: bool = True) -> str:
    """osd.0 in b0, b0 in b1, ... b(levels-1); each with an id for class hdd when device_class."""
    lines = ["device 0 osd.0" + (" class hdd" if device_class else ""), "type 0 osd", "type 1 host"]
    prev = "osd.0"
    for i in range(levels):
        cls = f"id {-100000 - i} class hdd\n" if device_class else ""
        lines.append(f"host b{i} {{\nid {-1 - i}\n{cls}alg straw2\nitem {prev} weight 1.0\n}}")
        prev = f"b{i}"
    take = f"step take {prev}" + (" class hdd" if device_class else "")
    lines.append(f"rule r {{\nid 0\n{take}\nstep chooseleaf firstn 0 type host\nstep emit\n}}")
    return "\n".join(lines) + "\n"


def test_100_nested_buckets_with_a_device_class_map():
    m = crush.CrushMap.parse(nested_map(crush.MAX_DEPTH))
    assert m.do_rule(0, 1, 1) == [0]


@pytest.mark.parametrize("levels,device_class", [(101, True), (1100, True), (1100, False)])
def test_deeper_nesting_is_a_value_error_naming_the_limit(tmp_path, levels, device_class):
    with pytest.raises(ValueError, match="bucket 'b100' is nested 101 levels deep; this tool follows at most 100"):
        crush.CrushMap.parse(nested_map(levels, device_class))
    _one_line_error(_run("crush.py", "-i", _map_file(tmp_path, nested_map(levels, device_class)), "--x", "1",
                         "--num-rep", "1", "--show-mappings"), "crush.py", "at most 100 levels")
