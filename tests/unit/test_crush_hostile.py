"""Hostile input to snippets/crush.py, ceph_placement.py and crush_sim.py: every case ends in a
ValueError that names the problem (a library call) or one line and exit status 2 (a script),
never another exception, a hang or a huge allocation.  What crushtool itself does with the
same maps is checked in tests/twins/test_crush_crushtool_limits.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ceph_placement
import crush
import crush_sim
import crush_text

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
    m = crush_text.parse(_tree_host(["0"] * n))
    with pytest.raises(ValueError, match=f"tree bucket 'h': every item weight is 0.*past its {n} items"):
        m.do_rule(0, 1, 3)


def test_an_error_while_mapping_is_one_line_even_without_an_output_option(tmp_path):
    """Found by make fuzz: without --show-mappings the warning came first, then the error raised
    while mapping (a tree bucket of weight 0 here, a retry budget spent likewise)."""
    _one_line_error(_run("crush.py", "-i", _map_file(tmp_path, _tree_host(["0"] * 3)), "--test", "--max-x", "3"),
                    "crush.py", "tree bucket 'h': every item weight is 0")


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_tree_bucket_of_weight_0_with_a_power_of_two_size_gives_its_last_item(n):
    m = crush_text.parse(_tree_host(["0"] * n))
    assert m.do_rule(0, 1, 1) == [n - 1]


def test_tree_bucket_with_one_weight_above_0_always_gives_that_item():
    m = crush_text.parse(_tree_host(["0", "0", "1.0"]))
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
        crush_text.parse(text)
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
    m = crush_text.parse(nested_map(crush_text.MAX_DEPTH))
    assert m.do_rule(0, 1, 1) == [0]


@pytest.mark.parametrize("levels,device_class", [(101, True), (1100, True), (1100, False)])
def test_deeper_nesting_is_a_value_error_naming_the_limit(tmp_path, levels, device_class):
    with pytest.raises(ValueError, match="bucket 'b100' is nested 101 levels deep; this tool follows at most 100"):
        crush_text.parse(nested_map(levels, device_class))
    _one_line_error(_run("crush.py", "-i", _map_file(tmp_path, nested_map(levels, device_class)), "--x", "1",
                         "--num-rep", "1", "--show-mappings"), "crush.py", "at most 100 levels")


# ------------------------------------------------------------ numbers past a field (OverflowError before)
def _with_device_id(dev_id: int) -> str:
    return crush.EXAMPLE_MAP.replace("device 5 osd.5 class ssd", f"device {dev_id} osd.5 class ssd")


@pytest.mark.parametrize("dev_id", [2 ** 20, 10 ** 9, 2 ** 31, 2 ** 63, 2 ** 64 + 5, -1])
def test_device_id_past_the_bound_is_a_value_error_before_any_list_is_built(tmp_path, dev_id):
    """10**9 built a 10**9-entry weight list; 2**63 raised OverflowError in ceph_placement."""
    message = f"device osd.5: id {dev_id} out of range \\(0 to 1048575"
    with pytest.raises(ValueError, match=message):
        crush_text.parse(_with_device_id(dev_id))
    path = _map_file(tmp_path, _with_device_id(dev_id))
    _one_line_error(_run("crush.py", "-i", path, "--num-rep", "3", "--x", "0", "--show-mappings"), "crush.py",
                    message)
    _one_line_error(_run("ceph_placement.py", "--crush", path, "--pool", "1", "--pg-num", "8", "--size", "3",
                         "--rule", "0", "obj"), "ceph_placement.py", message)


def test_the_largest_device_id_maps():
    m = crush_text.parse(_with_device_id(crush_text.MAX_DEVICE_ID))
    assert m.max_devices == 2 ** 20 and m.do_rule(1, 0, 3) == [1, 3, 1048575]   # osd.5 renumbered
    # rule 1 takes the ssd tree: one ssd OSD on each of the 3 hosts, whatever the PG
    assert {tuple(sorted(ceph_placement.pg_to_osds(m, 1, ps, 1, 8, 3))) for ps in range(8)} == {(1, 3, 1048575)}


@pytest.mark.parametrize("text,message", [
    ("type 1 host\nhost h {\nid -2147483649\nalg straw2\n}\n", "duplicate or invalid id -2147483649"),
    ("type 1 host\nhost h {\nid -2\nid -2147483649 class ssd\nalg straw2\n}\n", "class id -2147483649 invalid"),
    ("type 1 host\nhost h {\nid -2\nid 5 class ssd\nalg straw2\n}\n", "class id 5 invalid"),
    (crush.EXAMPLE_MAP.replace("item osd.1 weight 0.500", "item osd.1 weight 0.500 pos 1000000000"),
     "item 'osd.1' pos 1000000000 >= size 1000000000"),
    (crush.EXAMPLE_MAP.replace("item osd.0 weight 1.000", "item osd.0 weight 1.000 pos 1")
     .replace("item osd.1 weight 0.500", "item osd.1 weight 0.500 pos 1"), "item 'osd.1' has explicit pos 1"),
])
def test_ids_and_positions_past_their_fields_are_value_errors(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        crush_text.parse(text)


@pytest.mark.parametrize("value", ["inf", "nan", "1e309", "-1e999"])
def test_weight_that_is_not_a_finite_number_never_gives_a_traceback(value):
    r = _run("crush.py", "-i", str(SNIPPETS / "missing.txt"), "--num-rep", "3", f"--weight=0 {value}")
    assert r.returncode == 2                          # argparse: --weight takes two words
    r = _run("crush.py", "-i", "/dev/null", "--num-rep", "3", "--x", "0", "--weight", "0", value)
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("value", ["inf", "nan", "1e309", "32768", "-40000"])
def test_weight_inf_nan_and_past_16_16_on_a_real_map_give_one_line(tmp_path, value):
    path = _map_file(tmp_path, crush.EXAMPLE_MAP)
    _one_line_error(_run("crush.py", "-i", path, "--num-rep", "3", "--x", "0", "--show-mappings",
                         "--weight", "0", value), "crush.py",
                    f"--weight value '{value}' out of range \\(0.0 to 1.0")


@pytest.mark.parametrize("args,message", [
    (["--hosts", str(2 ** 31)], "at most 64 hosts \\(got 2147483648 hosts\\)"),
    (["--osds-per-host", str(2 ** 64)], "OSDs per host 18446744073709551616 out of range \\(0 to 32\\)"),
    (["--osds", f"2 {2 ** 64}"], "OSDs per host 18446744073709551616 out of range \\(0 to 32\\)"),
    (["--target", str(2 ** 64), "--change", "out"], "osd.18446744073709551616 does not exist"),
])
def test_crush_sim_numbers_past_their_range_give_one_line(args, message):
    _one_line_error(_run("crush_sim.py", *args), "crush_sim.py", message)


@pytest.mark.parametrize("call,message", [
    (lambda: crush_sim.numbered([2 ** 64]), "OSDs per host 18446744073709551616 out of range"),
    (lambda: crush_sim.numbered([2.0]), "OSDs per host 2.0 out of range"),
    (lambda: crush_sim.what_moves([2, 2.5], "add"), "OSDs per host 2.5 out of range"),
    (lambda: crush_sim.what_moves(["2"], "add"), "OSDs per host '2' out of range"),
    (lambda: crush_sim.what_moves([2, 2], "add", 1.0), "target 1.0 is not a whole number"),
    (lambda: crush_sim.cluster_map([[1.0]] * 66), "hosts 66 out of range \\(1 to 65\\)"),
    (lambda: crush_sim.cluster_map([["1"]]), "OSD weight '1' out of range"),
    (lambda: crush_sim.cluster_map([[1.0]], [[2 ** 63]]), "OSD id 9223372036854775808 out of range"),
    (lambda: crush_sim.mod_n_moved_fraction(0, 8), "OSDs 0 out of range"),
    (lambda: crush_sim.placements(crush_sim.cluster_map([[1.0]]), 8, 1, [5]), "out OSD 5 out of range"),
    (lambda: ceph_placement.pg_num_mask(5.0), "pg_num 5.0 out of range"),
    (lambda: ceph_placement.crush_input(1, 1, 0), "pg_num 0 out of range"),
    (lambda: ceph_placement.map_object(crush_text.parse(crush.EXAMPLE_MAP), "o", -1, 8, 3, 0),
     "pool id -1 out of range"),
    (lambda: ceph_placement.map_object(crush_text.parse(crush.EXAMPLE_MAP), "o", 1, 8, 3, 0, 9),
     "pgp_num 9 out of range \\(1 to 8\\)"),
])
def test_library_calls_with_numbers_past_their_range_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------ field widths and tries (hangs before)
def _edit(old: str, new: str) -> str:
    assert old in crush.EXAMPLE_MAP
    return crush.EXAMPLE_MAP.replace(old, new, 1)


FAST_TAKE = "    step take default class ssd"


@pytest.mark.parametrize("text,message", [
    (_edit("choose_total_tries 50", "choose_total_tries 4294967295"),
     "tunable choose_total_tries 4294967295 out of range (0 to 100 in this tool"),
    (_edit("choose_total_tries 50", "choose_total_tries 101"), "choose_total_tries 101 out of range"),
    (_edit("choose_local_tries 0", "choose_local_tries 1000000"), "choose_local_tries 1000000 out of range"),
    (_edit("choose_local_fallback_tries 0", "choose_local_fallback_tries 1000000"),
     "choose_local_fallback_tries 1000000 out of range"),
    (_edit("choose_total_tries 50", "choose_total_tries 4294967296"),
     "tunable choose_total_tries 4294967296 out of range (0 to 4294967295)"),
    (_edit(FAST_TAKE, "    step set_choose_tries 1000000000\n" + FAST_TAKE),
     "rule 'fast': set_choose_tries 1000000000 out of range (-2147483648 to 100 in this tool"),
    (_edit(FAST_TAKE, "    step set_chooseleaf_tries 101\n" + FAST_TAKE), "set_chooseleaf_tries 101 out of range"),
    (_edit(FAST_TAKE, "    step set_choose_local_tries 5000\n" + FAST_TAKE), "set_choose_local_tries 5000"),
    (_edit(FAST_TAKE, "    step set_choose_local_fallback_tries 5000\n" + FAST_TAKE),
     "set_choose_local_fallback_tries 5000"),
    (_edit(FAST_TAKE, "    step set_chooseleaf_vary_r 4294967296\n" + FAST_TAKE),
     "set_chooseleaf_vary_r 4294967296 out of range (-2147483648 to 2147483647: a 32-bit int"),
    (_edit("max_size 10\n    step take default class", "max_size 1000000000\n    step take default class"),
     "rule 'fast': max_size 1000000000 out of range (0 to 255: one byte in the binary map; "
     "crushtool -c keeps its low byte, 0)"),
    (_edit("min_size 1\n    max_size 10\n    step take default class",
           "min_size 300\n    max_size 10\n    step take default class"), "min_size 300 out of range"),
    (_edit("step chooseleaf firstn 0 type host", "step chooseleaf firstn 1000000000 type host"),
     "rule 'replicated_rule': chooseleaf count 1000000000 out of range (-2147483648 to 255"),
])
def test_values_past_crushtools_field_widths_or_the_tries_bound_are_value_errors(tmp_path, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        crush_text.parse(text)
    _one_line_error(_run("crush.py", "-i", _map_file(tmp_path, text), "--x", "0", "--show-mappings"), "crush.py",
                    re.escape(message))


def test_the_largest_accepted_values_map():
    """choose_total_tries 100 (101 tries), set_choose_tries 100, max_size 255: still one mapping."""
    text = _edit("choose_total_tries 50", "choose_total_tries 100")
    text = text.replace(FAST_TAKE, "    step set_choose_tries 100\n    step set_chooseleaf_tries 100\n" + FAST_TAKE)
    text = text.replace("max_size 10", "max_size 255")
    m = crush_text.parse(text)
    assert m.rules[1].max_size == 255 and m.tunables["choose_total_tries"] == 100
    assert m.do_rule(1, 0, 3) == [1, 3, 5]


# ------------------------------------------------------------ runs bounded to a few seconds
@pytest.mark.parametrize("args,message", [
    (["--num-rep", "200000000"], "num-rep 200000000 out of range (1 to 255: a pool's size is one byte)"),
    (["--num-rep", str(2 ** 64)], "num-rep 18446744073709551616 out of range"),
    (["--max-x", "2147483648"], "x range 0..2147483648 invalid (0 <= min-x <= max-x <= 2147483647)"),
    (["--x", "-1"], "x range -1..-1 invalid"),
    (["--num-rep", "1", "--min-x", "0", "--max-x", "2147483647"],
     "this run asks for 4294967296 placements; this tool does at most 262144 per run"),
    (["--num-rep", "256", "--rule", "0"], "num-rep 256 out of range (1 to 255"),
])
def test_crush_runs_past_the_bounds_give_one_line_naming_the_limit(tmp_path, args, message):
    _one_line_error(_run("crush.py", "-i", _map_file(tmp_path, crush.EXAMPLE_MAP), "--show-mappings", *args),
                    "crush.py", re.escape(message))


def test_the_placement_bound_counts_every_rule_and_replica_count(tmp_path):
    """By hand: without --num-rep each rule runs min_size..max_size = 1..10 replicas,
    1 + ... + 10 = 55 placements per x and rule; crushtool's default run (x 0..1023) on the
    example map's 2 rules is 2 x 55 x 1024 = 112640 placements, within 2^18 = 262144;
    x 0..2382 make 2 x 55 x 2383 = 262130, x 0..2383 make 262240, past it."""
    m = crush_text.parse(crush.EXAMPLE_MAP)
    crush_text.start_run(m, 2 * 55 * 1024, "")
    crush_text.start_run(m, 2 * 55 * 2383, "")
    path = _map_file(tmp_path, crush.EXAMPLE_MAP)
    _one_line_error(_run("crush.py", "-i", path, "--max-x", "2383", "--show-mappings"), "crush.py",
                    "this run asks for 262240 placements; this tool does at most 262144 per run.*"
                    "narrow --min-x..--max-x, or give --rule and --num-rep")


def test_a_run_stops_when_its_steps_pass_the_budget(tmp_path):
    """By hand: 255 replicas on 3 hosts ask 8 x 252 = 2016 steps more up front than 3 do, and
    252 of them collide at the root choose_total_tries + 1 = 51 times each, one step per try:
    2016 + 252 x 51 = 14868 steps per x more than 3 replicas take; crushtool's 1024 x (261120
    placements, within the bound) would take over 15 million, past 5 x 2^20 = 5242880."""
    m = crush_text.parse(crush.EXAMPLE_MAP)
    for x in range(4):
        m.budget = crush.StepBudget("this run", "; narrow it", steps=10 ** 6)
        three = m.do_rule(0, x, 3)
        spent = 10 ** 6 - m.budget.left
        assert m.do_rule(0, x, 255) == three and 10 ** 6 - m.budget.left == 2 * spent + 14868
    m.budget = crush.StepBudget("this run", "; narrow it", steps=14868)
    with pytest.raises(ValueError, match=r"^this run took more than 14868 steps; .*; narrow it$"):
        m.do_rule(0, 0, 255)
    _one_line_error(_run("crush.py", "-i", _map_file(tmp_path, crush.EXAMPLE_MAP), "--rule", "0", "--num-rep", "255",
                         "--show-mappings"), "crush.py",
                    re.escape("this run took more than 5242880 steps; this tool stops there, after seconds of "
                              "pure Python (a step is one bucket passed, weighted by what a choice in it "
                              "costs; a replica is tried again after a collision or a rejected OSD, up to "
                              "choose_total_tries + 1 or "
                              "set_choose_tries times: many when a rule asks for more replicas than it finds "
                              "failure domains); narrow --min-x..--max-x, or give --rule and --num-rep"))


def test_every_level_of_a_deep_map_is_a_step():
    """By hand: a chain of 99 buckets, each holding the next and the last two OSDs, takes 99
    steps per replica (no collision: one OSD per try) and 8 x (1 + 1) up front for one replica:
    115 per x.  (crush.py -i with 80001 x and 3 replicas, 240003 placements within 2^18, ran
    about 30 s when only retries were counted; it now stops at the budget in about 4 s.)"""
    text = ("device 0 o0\ndevice 1 o1\ntype 0 osd\ntype 1 host\n"
            "host b0 {\nid -1\nalg straw2\nitem o0 weight 1\nitem o1 weight 1\n}\n"
            + "".join(f"host b{i} {{\nid -{i + 1}\nalg straw2\nitem b{i - 1} weight 1\n}}\n" for i in range(1, 99))
            + "rule r {\nid 0\ntype replicated\nstep take b98\nstep choose firstn 0 type osd\nstep emit\n}\n")
    m = crush_text.parse(text)
    for x in range(8):
        m.budget = crush.StepBudget("this run", "", steps=1000)
        assert m.do_rule(0, x, 1) in ([0], [1]) and m.budget.left == 1000 - 115


def test_a_library_call_stops_at_its_own_budget():
    """Legacy tunables (no tunable lines), 100 tries for the rule and for the leaf, every OSD out,
    two take/chooseleaf/emit blocks: each of 255 replicas tries 100 times at the root and each
    try 100 more below its host, 2 x 255 x 100 x 101 = 5151000 steps and more with the local
    retries, past 5 x 2^20 = 5242880 in one call; the call stops there."""
    block = "    step take default\n    step chooseleaf firstn 0 type host\n    step emit\n"
    text = crush.EXAMPLE_MAP.replace(crush.EXAMPLE_MAP.split("device 0")[0], "").replace(
        block, "    step set_choose_tries 100\n    step set_chooseleaf_tries 100\n" + block * 2, 1)
    m = crush_text.parse(text)
    assert m.tunables["choose_local_tries"] == 2 and m.tunables["chooseleaf_descend_once"] == 0
    assert m.do_rule(0, 1, 3) == [3, 0, 4]             # crushtool 16.2.15: CRUSH rule 0 x 1 [3,0,4]
    with pytest.raises(ValueError, match=r"^this do_rule call took more than 5242880 steps; this tool stops "):
        m.do_rule(0, 1, 255, [0] * m.max_devices)
    assert m.do_rule(0, 1, 3) == [3, 0, 4]             # the next call has a budget of its own


@pytest.mark.parametrize("call,message", [
    (lambda m: m.do_rule(0, 0, 200_000_000), "num-rep 200000000 out of range (1 to 255)"),
    (lambda m: m.do_rule(0, 0, 2 ** 64), "num-rep 18446744073709551616 out of range"),
    (lambda m: m.do_rule(0, 0, 3.0), "num-rep 3.0 out of range"),
    (lambda m: m.do_rule(0, 0.5, 3), "x 0.5 out of range"),
    (lambda m: ceph_placement.pg_to_osds(m, 0, 1, 1, 8, 100_000_000), "num-rep 100000000 out of range"),
])
def test_library_mappings_past_255_replicas_raise_value_error(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(crush_text.parse(crush.EXAMPLE_MAP))


@pytest.mark.parametrize("args,message", [
    (["--size", "100000000"], "size 100000000 out of range (1 to 255: pg_pool_t keeps it in one byte)"),
    (["--size", "255", *(f"o{i}" for i in range(1028))],
     "this run asks for 262395 placements; this tool does at most 262144 per run (seconds of pure Python): "
     "give fewer objects"),
    (["--size", "255", *(f"o{i}" for i in range(400))], "this run took more than 5242880 steps; this tool stops "
                                                        "there"),
])
def test_ceph_placement_sizes_and_object_counts_past_the_bounds_give_one_line(tmp_path, args, message):
    _one_line_error(_run("ceph_placement.py", "--crush", _map_file(tmp_path, crush.EXAMPLE_MAP), "--pool", "1",
                         "--pg-num", "8", "--rule", "0", *args, "obj"), "ceph_placement.py", re.escape(message))


@pytest.mark.parametrize("args,message", [
    (["--pgs", "200000"], "--pgs 200000 out of range (1 to 8192)"),
    (["--pgs", "4096", "--size", "10"], "--pgs 4096 of --size 10 make 40960 PG replicas; this tool places at "
                                        "most 8192 per run"),
    (["--size", "11"], "--size 11 out of range (1 to 10)"),
])
def test_crush_sim_runs_past_the_bounds_give_one_line(args, message):
    _one_line_error(_run("crush_sim.py", *args), "crush_sim.py", re.escape(message))


def test_crush_sim_library_calls_are_bounded_too():
    m = crush_sim.cluster_map([[1.0]] * 3)
    for call in (lambda: crush_sim.placements(m, 10 ** 9, 1), lambda: crush_sim.distribution(m, 200000, 3),
                 lambda: crush_sim.moved_fraction(m, m, 10 ** 6, 1),
                 lambda: crush_sim.mod_n_moved_fraction(8, 10 ** 12)):
        with pytest.raises(ValueError, match="--pgs .* out of range"):
            call()


# ------------------------------------------------------------ the map is read through safety.read_limited
def _map_inputs(tmp_path: Path) -> list[tuple[str, str]]:
    big = tmp_path / "big.txt"
    big.write_bytes(b"#" * (crush_text.MAX_MAP_BYTES + 1))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)                                   # no writer: read at once as empty, never waited on
    (tmp_path / "adir").mkdir()
    return [("/dev/zero", "refusing /dev/zero: it is a character device; the crush map input must be a "
                          "regular file or a pipe"),
            ("/proc/self/status", "refusing /proc/self/status: files under /proc and /sys are kernel interfaces"),
            (str(tmp_path / "adir"), f"cannot read map {tmp_path / 'adir'}: Is a directory"),
            (str(big), f"{big} holds 8388609 bytes; the crush map input this tool reads is at most 8388608 "
                       "bytes (8 MiB, a bound of this tool)"),
            (str(fifo), "defines no rules|rule 0 does not exist")]


def test_crush_and_ceph_placement_read_the_map_through_the_guard(tmp_path):
    for path, message in _map_inputs(tmp_path):
        pattern = message if path.endswith("fifo") else re.escape(message)
        _one_line_error(_run("crush.py", "-i", path, "--num-rep", "3", "--x", "0", "--show-mappings"),
                        "crush.py", pattern)
        _one_line_error(_run("ceph_placement.py", "--crush", path, "--pool", "1", "--pg-num", "8", "--size", "3",
                             "--rule", "0", "obj"), "ceph_placement.py", pattern)


def test_a_pipe_longer_than_the_cap_is_refused_and_a_short_one_read():
    script = str(SNIPPETS / "crush.py")
    r = subprocess.run([sys.executable, script, "-i", "/dev/stdin", "--num-rep", "3", "--x", "0", "--show-mappings"],
                       input=b"#" * (9 << 20), capture_output=True, timeout=60)
    assert r.returncode == 2 and r.stderr.decode().strip() == (
        "crush.py: /dev/stdin holds more than 8388608 bytes; the crush map input this tool reads is at most "
        "8388608 bytes (8 MiB, a bound of this tool)")
    r = subprocess.run([sys.executable, script, "-i", "/dev/stdin", "--rule", "0", "--num-rep", "3", "--x", "0",
                        "--show-mappings"], input=crush.EXAMPLE_MAP.encode(), capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout == b"CRUSH rule 0 x 0 [2,0,4]\n"     # as crushtool prints it


def test_control_characters_in_a_map_stay_out_of_the_terminal(tmp_path):
    path = _map_file(tmp_path, "device 0 osd.0\x1bc\x07\ndevice 0 x\n")      # ESC c resets a terminal
    r = _run("crush.py", "-i", path, "--num-rep", "3")
    _one_line_error(r, "crush.py", re.escape("device id 0 is defined twice (osd.0\\x1bc\\x07 and x)"))


# ------------------------------------------------------------ large maps: linear parsing, bounded sizes
def test_buckets_without_ids_get_the_first_free_id_as_crushtool_picks_it():
    m = crush_text.parse("type 1 host\nhost a { id -2 alg straw2 }\nhost b { alg straw2 }\n"
                         "host c { alg straw2 }\nhost d { id -5 alg straw2 }\nhost e { alg straw2 }\n")
    assert {b.name: bid for bid, b in m.buckets.items()} == {"a": -2, "b": -1, "c": -3, "d": -5, "e": -4}


def test_class_trees_without_id_lines_take_free_ids_past_the_class_ids():
    m = crush_text.parse("device 0 osd.0 class hdd\ntype 0 osd\ntype 1 host\n"
                         "host h { id -1 id -2 class ssd alg straw2 item osd.0 }\n"
                         "host g { id -4 alg straw2 item h }\n")
    assert m.names["h~hdd"] == -3 and m.names["g~hdd"] == -5 and m.names["h~ssd"] == -2


def test_60000_buckets_parse_and_the_65537th_is_refused():
    text = "type 1 host\n" + "".join(f"host h{i} {{ alg straw2 }}\n" for i in range(60000))
    assert sorted(crush_text.parse(text).buckets)[:2] == [-60000, -59999]
    text = "type 1 host\n" + "".join(f"host h{i} {{ alg straw2 }}\n" for i in range(65537))
    with pytest.raises(ValueError, match="bucket 'h65536': more than 65536 buckets"):
        crush_text.parse(text)


def test_class_trees_past_the_bound_are_refused_before_they_are_built():
    """By hand: 600 classes x (600 buckets + 600 items) = 720000 entries > 2^18."""
    text = ("".join(f"device {i} o{i} class c{i}\n" for i in range(600)) + "type 0 osd\ntype 1 host\n"
            + "".join(f"host h{i} {{ id {-1 - i} alg straw2 item o{i} }}\n" for i in range(600)))
    with pytest.raises(ValueError, match="600 device classes over 600 buckets make 720000 entries in the class "
                                         "trees; this tool builds at most 262144"):
        crush_text.parse(text)


def test_many_types_and_classes_parse_and_keep_their_order():
    text = "".join(f"type {i} t{i}\n" for i in range(50000)) + "".join(
        f"device {i} o{i} class c{i % 7}\n" for i in range(20000))
    m = crush_text.parse(text)
    assert len(m.types) == 50000 and m.classes == [f"c{i}" for i in range(7)]
    with pytest.raises(ValueError, match="type 49999 x: id or name defined twice"):
        crush_text.parse(text + "type 49999 x\n")


def test_a_step_costs_what_a_choice_in_its_bucket_costs():
    """By hand from Bucket.cost: a tree of 8 items has 4 levels (16 nodes), 4 x 4 = 16 per
    step; list 1 + 2n; uniform 4 + n // 64; straw 3 + n // 6; straw2 1 + n // 6.  With two
    of the tree's 8 items weighted (and no local retries), each of replicas 3 to 10 collides
    choose_total_tries + 1 = 51 times: asking for 10 instead of 2 costs 8 x 8 up front and
    8 x 51 x 16 steps, 6592 more.  (make fuzz, seed
    3021472246 case 306: such a rule beside two others took 12 s of CPU and stayed within the
    budget while a tree step counted 1.)"""
    def bucket(alg, n, weights=None):
        weights = weights or ["1.0"] * n
        text = ("tunable choose_local_tries 0\ntunable choose_local_fallback_tries 0\ntunable choose_total_tries 50\n"
                + "".join(f"device {i} o{i}\n" for i in range(n)) + "type 0 osd\ntype 1 host\nhost h {\nid -1\n"
                f"alg {alg}\n" + "".join(f"item o{i} weight {w}\n" for i, w in enumerate(weights)) + "}\n"
                "rule r {\nid 0\ntype replicated\nstep take h\nstep choose firstn 0 type osd\nstep emit\n}\n")
        m = crush_text.parse(text)
        return m, m.buckets[-1]
    assert [bucket(alg, 8)[1].cost for alg in ("tree", "list", "uniform", "straw", "straw2")] == [16, 17, 4, 4, 2]
    assert [bucket(alg, 500)[1].cost for alg in ("tree", "list", "uniform", "straw", "straw2")] == [40, 1001, 11, 86, 84]
    m, _ = bucket("tree", 8, ["0", "0", "1.0", "0", "0", "1.0", "0", "0"])
    for x in range(6):
        m.budget = crush.StepBudget("this run", "", steps=10 ** 6)
        two = m.do_rule(0, x, 2)
        spent = 10 ** 6 - m.budget.left
        assert sorted(two) == [2, 5] and m.do_rule(0, x, 10) == two
        assert 10 ** 6 - m.budget.left == 2 * spent + 6592


def test_a_run_through_a_large_bucket_counts_its_items(tmp_path):
    """By hand: a placement through a 4000-item bucket counts ceil(4000/128) = 32 times, so 8192
    x 32 = 2^18 placements fit and 8193 do not; a step in it counts 1 + 4000 // 6 = 667, and with
    every OSD out and no local retries each of 3 replicas tries 20 times (legacy
    choose_total_tries 19 + 1): 60 x 667 + 8 x (3 + 1) = 40052 steps per x, and a budget of
    80104 lasts two x."""
    text = ("tunable choose_local_tries 0\ntunable choose_local_fallback_tries 0\n"
            + "".join(f"device {i} o{i}\n" for i in range(4000)) + "type 0 osd\ntype 1 host\nhost h {\nid -1\n"
            "alg straw2\n" + "".join(f"item o{i} weight 0.01\n" for i in range(4000)) + "}\n"
            "rule r {\nid 0\ntype replicated\nstep take h\nstep choose firstn 0 type osd\nstep emit\n}\n")
    m = crush_text.parse(text)
    crush_text.start_run(m, 8192, "")
    with pytest.raises(ValueError, match="8193 placements through buckets of up to 4000 items, a placement counting "
                                         "once per 128; this tool does at most 262144"):
        crush_text.start_run(m, 8193, "")
    out = [0] * m.max_devices
    m.budget = crush.StepBudget("this run", "", steps=80104)
    assert m.do_rule(0, 0, 3, out) == m.do_rule(0, 1, 3, out) == [] and m.budget.left == 0
    with pytest.raises(ValueError, match="this run took more than 80104 steps; this tool stops there"):
        m.do_rule(0, 2, 3, out)


def test_packed_lanes_are_the_values_side_by_side():
    values = [0, 1, -1, 2 ** 32 - 1, 2 ** 40 + 7, -2 ** 31]
    assert crush.pack_lanes(values) == sum((v & 0xFFFFFFFF) << (48 * i) for i, v in enumerate(values))


def test_placements_are_bounded_even_with_one_try_each(tmp_path):
    """choose_total_tries 0: one try per replica, so only the placement bound holds the run."""
    path = _map_file(tmp_path, crush.EXAMPLE_MAP.replace("choose_total_tries 50", "choose_total_tries 0"))
    _one_line_error(_run("crush.py", "-i", path, "--rule", "0", "--num-rep", "1", "--min-x", "0", "--max-x",
                         "262144", "--show-mappings"), "crush.py",
                    re.escape("this run asks for 262145 placements; this tool does at most 262144 per run"))
