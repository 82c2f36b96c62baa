"""Tests of snippets/overcommit.py against a brute-force placement and hand calculations."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import given, strategies as st

import overcommit

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "overcommit.py"


def place_one_by_one(cores, ram, vcpus, vram, cpu_ratio, ram_ratio, rc, rr):
    """Brute force: add VMs while both pools still have room (what a scheduler does)."""
    cpu_pool, ram_pool = (cores - rc) * Fraction(cpu_ratio), (ram - rr) * Fraction(ram_ratio)
    n = 0
    while (n + 1) * vcpus <= cpu_pool and (n + 1) * vram <= ram_pool:
        n += 1
    return n


@given(st.integers(1, 128), st.integers(1, 1024), st.integers(1, 16), st.integers(1, 64),
       st.sampled_from([1, 2, 4, Fraction(3, 2), 16]), st.sampled_from([1, Fraction(3, 2), 2]),
       st.integers(0, 4), st.integers(0, 16))
def test_capacity_equals_placing_vms_one_by_one(cores, ram, vcpus, vram, cr, rr_ratio, rc, rr):
    if rc >= cores or rr >= ram:
        return
    n, limit = overcommit.capacity(cores, ram, vcpus, vram, cpu_ratio=cr, ram_ratio=rr_ratio,
                                   reserved_cores=rc, reserved_ram_gib=rr)
    assert n == place_one_by_one(cores, ram, vcpus, vram, cr, rr_ratio, rc, rr)
    # the named resource is the one that cannot take one more VM
    if limit == "vcpu":
        assert (n + 1) * vcpus > (cores - rc) * Fraction(cr)
    else:
        assert (n + 1) * vram > (ram - rr) * Fraction(rr_ratio)


def test_hand_calculation():
    # 2 x 16 cores, 512 GiB, 8 GiB reserved; VMs 8 vCPU / 32 GiB; 3:1 vCPU overcommit:
    # CPU: 32 * 3 / 8 = 12 ; RAM: (512 - 8) / 32 = 15.75 -> 15 ; so 12, CPU-bound
    assert overcommit.capacity(32, 512, 8, 32, cpu_ratio=3, reserved_ram_gib=8) == (12, "vcpu")


def test_bad_values_are_refused_with_the_range():
    for kwargs, msg in [(dict(cpu_ratio=0), "cpu_ratio must be > 0 and <= 64, got 0"),
                        (dict(reserved_cores=32),
                         "reserved resources must be >= 0 and below the host's (32 cores, 256 GiB), "
                         "got 32 cores, 0 GiB")]:
        try:
            overcommit.capacity(32, 256, 4, 16, **kwargs)
        except ValueError as err:
            assert str(err) == msg
        else:
            raise AssertionError(f"{kwargs} accepted")


def test_script():
    ok = subprocess.run([sys.executable, str(SNIPPET), "--cores", "32", "--ram-gib", "256", "--vm-vcpus", "4",
                         "--vm-ram-gib", "16", "--cpu-ratio", "4", "--reserved-ram-gib", "4"],
                        capture_output=True, text=True)
    assert (ok.returncode, ok.stdout) == (0, "15 VMs fit, limited by ram\n")
    bad = subprocess.run([sys.executable, str(SNIPPET), "--cores", "0", "--ram-gib", "256", "--vm-vcpus", "4",
                          "--vm-ram-gib", "16"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr == "overcommit.py: cores must be 1 to 65536, got 0\n"
