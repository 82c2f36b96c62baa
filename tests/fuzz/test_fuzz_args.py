"""Fuzz: the command lines of the calculators and readers with numbers and paths from the places
parsers break (limits, signs, exponents, 400- and 5000-digit numbers, nan, inf, 1/0, devices,
/proc), and their library functions called with values of every type.

A library call may return or raise ValueError (CONTRIBUTING.md: "ValueError on bad input");
anything else, a hang or a huge allocation breaks the contract.
"""
from __future__ import annotations

import random
import socket
import struct
from fractions import Fraction
from pathlib import Path

import pytest

import fuzzkit
import qcow2


@pytest.fixture(scope="module")
def pool():
    p = fuzzkit.Pool()
    yield p
    p.close()


@pytest.fixture(scope="module")
def closed_port():
    with socket.socket() as s:               # nothing listens there once it is closed
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def size(rng: random.Random) -> str:
    return fuzzkit.interesting_numbers(rng) + rng.choice(["", "", "k", "M", "G", "T", "P", "GiB", "MiB", "B",
                                                          "KB", "x", "e5"])


# Templates of each CLI: N a number, S a size, P a path; options are dropped or repeated at random.
TEMPLATES = {
    "ceph_calc": [["pg", "--osds", "N", "--size", "N", "--share", "N", "--target", "N"],
                  ["capacity", "--raw", "S", "--size", "N", "--k", "N", "--m", "N", "--hosts", "N"],
                  ["quorum", "N"], ["durability", "--p", "N", "--k", "N", "--m", "N"]],
    "lvm": [["--pe-size", "S", "--pv", "S", "--pv", "S", "SPEC", "SPEC"]],
    "disk_limits": [["limits", "--sector-size", "N"], ["align", "N", "--kind", "KIND"]],
    "quota": [["--soft", "N", "--hard", "N", "--grace-days", "N", "EVENT", "EVENT"]],
    "swap": [["N", "--hibernate"]],
    "overcommit": [["--cores", "N", "--ram-gib", "N", "--vm-vcpus", "N", "--vm-ram-gib", "N", "--cpu-ratio", "N",
                    "--ram-ratio", "N", "--reserved-cores", "N", "--reserved-ram-gib", "N"]],
    "objcost": [["space", "N", "--min-alloc", "N", "--replicas", "N"],
                ["time", "N", "--rtt-ms", "N", "--concurrency", "N"], ["latency", "--iops", "N", "--qd", "N"]],
    "precopy": [["--memory", "S", "--bandwidth", "S", "--dirty", "S", "--working-set", "S",
                 "--downtime-ms", "N", "--max-rounds", "N", "--auto-converge"]],
    "oncrpc": [["rpcinfo", "127.0.0.1", "--port", "PORT", "--timeout", "N", "--udp"],
               ["rpcinfo", "127.0.0.1", "--port", "N"]],
    "qcow2_tool": [["P"], ["read", "P", "N", "N", "--allow-backing"], ["map", "P"], ["check", "P"]],
    "partition_table": [["P", "--sector-size", "N"], ["P", "--check"]],
    "rawdisk": [["P"]],
    "fstab": [["P"]],
    "exports": [["P", "--etab"]],
}
STATUSES = {"fstab": (0, 1, 2), "exports": (0, 1, 2), "partition_table": (0, 1, 2), "qcow2_tool": (0, 2, 3)}


def args_case(port: str):
    def make(rng: random.Random, d: Path) -> fuzzkit.Case:
        module = rng.choice(sorted(TEMPLATES))
        template = rng.choice(TEMPLATES[module])
        argv: list[str] = []
        i = 0
        while i < len(template):
            token = template[i]
            takes_value = token.startswith("--") and i + 1 < len(template) and not template[i + 1].startswith("--")
            if token.startswith("--") and rng.random() < 0.3:           # leave the option out
                i += 2 if takes_value else 1
                continue
            value = {"N": lambda: fuzzkit.interesting_numbers(rng), "S": lambda: size(rng),
                     "P": lambda: fuzzkit.interesting_paths(rng), "PORT": lambda: port,
                     "KIND": lambda: rng.choice(["512n", "512e", "4Kn", "bogus"]),
                     "EVENT": lambda: f"{fuzzkit.interesting_numbers(rng)}:{rng.choice(['write', 'free', 'x'])}:"
                                      f"{fuzzkit.interesting_numbers(rng)}",
                     "SPEC": lambda: rng.choice(["-L ", "-l ", "-l ", "-L"]) + (size(rng) if rng.random() < 0.5 else
                                                fuzzkit.interesting_numbers(rng) + rng.choice(["", "%VG", "%FREE", "%"]))
                     }.get(token)
            argv.append(value() if value else token)
            i += 1
        if rng.random() < 0.1:
            argv.insert(rng.randrange(len(argv) + 1), rng.choice(["--", "-x", "--bogus", "", "-"]))
        if module == "oncrpc" and "--port" not in argv:
            argv += ["--port", port]                  # never the real portmapper of this machine
        if module == "oncrpc" and "--timeout" not in argv:
            argv += ["--timeout", "1"]
        statuses = STATUSES.get(module, (0, 2))
        check = module == "qcow2_tool" and argv[:1] == ["check"]
        return fuzzkit.Case(module, argv, statuses=statuses, note="arguments",
                            one_line=(lambda out, err: not out) if check else None)
    return make


def test_fuzz_command_lines(pool, closed_port, tmp_path):
    report = fuzzkit.run_campaign("args", pool, tmp_path, args_case(closed_port), count=500, share=0.15)
    assert not report.failures, report.message()


# ------------------------------------------------------------------ library calls
def number(rng: random.Random):
    """A value where a number is expected: ints, floats and Fractions, at and past every limit."""
    kind = rng.random()
    if kind < 0.45:
        return rng.choice([0, 1, -1, 2, 3, 4, 8, 64, 100, 128, 255, 256, 512, 4096, 65536, 1 << 20, 1 << 30,
                           2**31, 2**32, 2**53 + 1, 2**63, 2**64, 10**400, 198594, rng.randrange(-100, 10**6)])
    if kind < 0.9:
        return rng.choice([0.0, -0.0, 0.5, 1.5, 1e-12, 3.7, 70.0, 1e18, 1e308, float("nan"), float("inf"),
                           float("-inf"), rng.random() * 1000, float(rng.randrange(1, 5000))])
    return rng.choice([Fraction(3, 2), Fraction(0), Fraction(10**30, 7), Fraction(-1, 3)])


def blob(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 4, 16, 100, 600, 2100])))


def qcow2_header(rng: random.Random) -> bytes:
    """A qcow2 v3 header with sane fields, then mutated (the bytes parse_header sees)."""
    h = (qcow2.QCOW_MAGIC + struct.pack(">IQIIQIIQQIIQQQQII", 3, 0, 0, 16, 1 << 30, 0, 2, 0x30000, 0x10000, 1, 0,
                                        0, 0, 0, 0, 4, 104) + bytes(400))
    return fuzzkit.mutate(h, rng, [(0, 112)])[0]


def superblock(rng: random.Random) -> bytes:
    sb = bytearray(2048)
    struct.pack_into("<HI", sb, 1080, 0xEF53, 0)
    struct.pack_into("<I", sb, 1024 + 0x18, rng.choice([0, 2, 6, 7, 31, 2**32 - 1]))
    return bytes(sb)


def rpc_body(rng: random.Random) -> bytes:
    body = struct.pack(">6I", 7, 1, 0, 0, 0, 0) + struct.pack(">I4II", 1, 100000, 2, 6, 111, 0)
    return fuzzkit.mutate(body, rng, [(0, len(body))], wide=rng.random() < 0.3)[0]


def pools(rng: random.Random) -> list:
    return [[f"p{i}", number(rng), number(rng), number(rng), number(rng)] for i in range(rng.randrange(0, 4))]


# each function with one maker per argument: n a number, b bytes, s text, and the special ones
MAKERS = {"n": number, "b": blob, "s": lambda rng: rng.choice(["8", "", "1M", "10G", "1.5g", "0.5", "-1", "abc",
                                                              "9" * 400, "1e309", "\x00", " 64k "]),
          "H": qcow2_header, "E": superblock, "R": rpc_body, "P": pools,
          "L": lambda rng: [number(rng) for _ in range(rng.randrange(0, 5))],
          "V": lambda rng: [rng.choice(["-L 10M", "-l 100%FREE", "-l 50%VG", "-l 3", "-L 1e400", "-l 9" + "9" * 40])
                            for _ in range(rng.randrange(0, 3))],
          "Q": lambda rng: [[number(rng), rng.choice(["write", "free"]), number(rng)] for _ in range(3)]}
CALLS = [
    ("objcost", "stored_bytes", "nnn"), ("objcost", "space_amplification", "nnn"),
    ("objcost", "ec_space_amplification", "nnnn"), ("objcost", "request_seconds", "nnn"),
    ("objcost", "latency_ms", "nn"), ("objcost", "iops_limit", "nn"), ("objcost", "loss_probability", "nnn"),
    ("objcost", "stale_read_probability", "nnn"), ("objcost", "moved_fraction_mod_n", "nn"),
    ("ceph_calc", "nearest_power_of_two", "n"), ("ceph_calc", "pg_num_for_pool", "nnnn"),
    ("ceph_calc", "mon_quorum", "n"), ("ceph_calc", "usable_capacity", "nnnnnnn"),
    ("ceph_calc", "loss_probability", "nnn"), ("ceph_calc", "nines", "n"),
    ("lvm", "check_extent_size", "n"), ("lvm", "pv_extents", "nnn"), ("lvm", "parse_size", "s"),
    ("lvm", "cow_hours_to_full", "nnnnn"), ("lvm", "overcommit_ratio", "Ln"), ("lvm", "autoextend_steps", "nnnnn"),
    ("lvm", "hours_until_pool_full", "nnn"),
    ("overcommit", "capacity", "nnnn"), ("precopy", "precopy", "nnn"), ("precopy", "parse_size", "s"),
    ("swap", "swap_size", "n"), ("disk_limits", "human", "n"), ("disk_limits", "mbr_limit_bytes", "n"),
    ("disk_limits", "gpt_entry_array", "nnn"), ("disk_limits", "lba_to_chs", "nnn"),
    ("disk_limits", "check_alignment", "nnnn"),
    ("qcow2", "parse_header", "H"), ("qcow2", "parse_header", "b"), ("qcow2", "l2_cache_bytes", "nn"),
    ("qcow2_tool", "parse_size", "s"), ("qcow2_tool", "luks_info", "b"),
    ("qcow2_tool", "probe_format", "b"), ("qcow2_tool", "hexdump", "bn"),
    ("oncrpc", "record_mark", "bn"), ("rawdisk", "read_ext4", "E"),
    ("rawdisk", "read_ext4", "b"), ("rawdisk", "read_mbr", "b"),
    ("fuzz_calls", "autoscale", "nP"), ("fuzz_calls", "lvcreate", "nLV"), ("fuzz_calls", "quota_replay", "nnnQ"),
    ("fuzz_calls", "rpc_reply", "nR"),
]


def call_case(rng: random.Random, d: Path) -> fuzzkit.Case:
    module, func, kinds = rng.choice(CALLS)
    args = [MAKERS[k](rng) for k in kinds]
    if func == "rpc_reply" and rng.random() < 0.7:
        args[0] = 7
    return fuzzkit.Case(module, func=func, args=args, note="call")


def test_fuzz_library_calls(pool, tmp_path):
    report = fuzzkit.run_campaign("calls", pool, tmp_path, call_case, count=900, share=0.15)
    assert not report.failures, report.message()
