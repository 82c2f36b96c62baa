"""Properties of snippets/raid.py: parity algebra, RAID 6 recovery, md layout, calculator."""
from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

_SNIPPETS = str(Path(__file__).resolve().parents[2] / "snippets")
if _SNIPPETS not in sys.path:  # tests/conftest.py normally does this
    sys.path.insert(0, _SNIPPETS)

import raid

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "raid.py"


def slow_gf_mul(a: int, b: int) -> int:
    """Shift-and-add multiplication modulo x^8+x^4+x^3+x^2+1, written independently."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return r


def test_gf_tables_agree_with_shift_and_add_for_all_65536_products():
    for a in range(256):
        for b in range(256):
            assert raid.gf_mul(a, b) == slow_gf_mul(a, b)


def test_generator_2_has_order_255():
    # g = 2 is primitive for 0x11d: its powers run through all 255 non-zero bytes
    assert sorted(raid.EXP[:255]) == list(range(1, 256))


def test_gf_inv_of_zero_is_refused():
    with pytest.raises(ValueError, match="1..255"):
        raid.gf_inv(0)


stripes = st.integers(1, 32).flatmap(
    lambda k: st.integers(0, 96).flatmap(
        lambda n: st.lists(st.binary(min_size=n, max_size=n), min_size=k, max_size=k)))


@settings(max_examples=300, deadline=None)
@given(blocks=stripes, data=st.data())
def test_xor_parity_rebuilds_any_one_lost_block(blocks, data):
    p = raid.xor_parity(blocks)
    i = data.draw(st.integers(0, len(blocks) - 1))
    rest = blocks[:i] + blocks[i + 1:] + [p]
    assert raid.xor_parity(rest) == blocks[i]


@settings(max_examples=500, deadline=None)
@given(blocks=stripes, data=st.data())
def test_raid6_recover_any_two_lost_blocks_exactly(blocks, data):
    k = len(blocks)
    p, q = raid.raid6_pq(blocks)
    lost = data.draw(st.lists(st.integers(0, k + 1), min_size=1, max_size=2, unique=True))
    damaged = [None if i in lost else b for i, b in enumerate(blocks)]
    got = raid.raid6_recover(damaged, None if k in lost else p, None if k + 1 in lost else q)
    assert got == blocks


@settings(max_examples=200, deadline=None)
@given(blocks=stripes, data=st.data())
def test_raid6_q_is_sum_of_g_power_i_times_di(blocks, data):
    # Anvin, "The mathematics of RAID-6", eq. for Q, evaluated byte by byte
    p, q = raid.raid6_pq(blocks)
    n = len(blocks[0])
    for j in range(n):
        want_q = 0
        want_p = 0
        for i, b in enumerate(blocks):
            want_q ^= slow_gf_mul(raid.EXP[i], b[j])
            want_p ^= b[j]
        assert (p[j], q[j]) == (want_p, want_q)


def test_div_g_divides_every_byte_by_2_for_all_256_values():
    # one integer holding the bytes 0..255; times 2 (shift-and-add, above) must undo it
    block = bytes(range(256))
    out = raid._div_g(int.from_bytes(block, "little"), raid._low_bits(256)).to_bytes(256, "little")
    assert [slow_gf_mul(o, 2) for o in out] == list(block)
    assert out[1] == 0x8E        # 1/x = (1 + 0x11d)/x = 0x11c >> 1, by hand


def _q_by_tables(blocks):
    """Q = sum of g^i * Di, each block multiplied by its own 256-byte table."""
    q = bytes(len(blocks[0]))
    for i, b in enumerate(blocks):
        q = raid._xor2(q, raid.gf_mul_block(raid.EXP[i % 255], b))
    return q


@pytest.mark.parametrize("slice_bytes", [1, 3, 32])
@settings(max_examples=100, deadline=None)
@given(blocks=stripes)
def test_raid6_pq_is_the_same_whatever_the_slice_size(slice_bytes, blocks):
    # raid6_pq works SLICE bytes at a time; small slices make most stripes span several,
    # with a shorter last one
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(raid, "SLICE", slice_bytes)
        p, q = raid.raid6_pq(blocks)
    assert p == raid.xor_parity(blocks)
    assert q == _q_by_tables(blocks)


def test_raid6_pq_on_blocks_longer_than_a_slice():
    rng = random.Random(15)
    n = 2 * raid.SLICE + 100     # two whole slices and a short one
    blocks = [rng.randbytes(n) for _ in range(6)]
    assert raid.raid6_pq(blocks) == (raid.xor_parity(blocks), _q_by_tables(blocks))


def test_raid6_pq_takes_255_data_blocks_and_refuses_256():
    # Anvin, "The mathematics of RAID-6", section 1: "GF(2^8) allows for a maximum of 257 drives,
    # 255 (2^8-1) of which can be data drives".  g^255 = g^0, so with 256 blocks block 255 would
    # share block 0's coefficient.
    assert raid.EXP[255] == raid.EXP[0] == 1
    rng = random.Random(255)
    blocks = [rng.randbytes(4) for _ in range(255)]
    p, q = raid.raid6_pq(blocks)
    assert (p, q) == (raid.xor_parity(blocks), _q_by_tables(blocks))
    # the last block's coefficient is g^254 = g^-1 = 0x8e (1/x, as in the _div_g test)
    one_hot = [bytes(1)] * 254 + [b"\x01"]
    assert raid.raid6_pq(one_hot)[1] == b"\x8e"
    for k in (256, 600):
        with pytest.raises(ValueError, match=rf"at most 255 data blocks per stripe \(got {k}\)"):
            raid.raid6_pq(blocks + [bytes(4)] * (k - 255))


def test_raid6_recover_refuses_more_than_255_data_blocks_instead_of_failing_inside():
    """Before the limit, 300 blocks with two lost data blocks 256 apart ended in an IndexError
    or a wrong answer; now the stripe is refused before any arithmetic."""
    blocks = [bytes([i % 256]) for i in range(300)]
    damaged = [None if i in (3, 290) else b for i, b in enumerate(blocks)]
    with pytest.raises(ValueError, match=r"at most 255 data blocks per stripe \(got 300\)"):
        raid.raid6_recover(damaged, b"\x00", b"\x00")
    with pytest.raises(ValueError, match=r"at most 255 data blocks per stripe \(got 256\)"):
        raid.raid6_recover(blocks[:256], None, None)     # even when only P and Q are lost


def test_raid6_recover_at_255_blocks_rebuilds_the_first_and_last():
    rng = random.Random(2)
    blocks = [rng.randbytes(3) for _ in range(255)]
    p, q = raid.raid6_pq(blocks)
    damaged = [None if i in (0, 254) else b for i, b in enumerate(blocks)]
    assert raid.raid6_recover(damaged, p, q) == blocks
    damaged = [None if i == 254 else b for i, b in enumerate(blocks)]
    assert raid.raid6_recover(damaged, None, q) == blocks


@pytest.mark.parametrize("blocks, p, q, message", [
    ([b"ab", None], b"abc", b"ab", r"same length \(got data block 0 2 B, P 3 B, Q 2 B\)"),
    ([b"ab", None], b"ab", b"a", r"same length \(got data block 0 2 B, P 2 B, Q 1 B\)"),
    ([b"ab", b"abc", None], None, b"ab", r"same length \(got lengths \[2, 3\]\)"),
    ([None, None], None, None, r"at most 2 lost blocks|nothing left to rebuild from"),
    ([], b"a", b"a", r"need at least 1 data block"),
    ([b"ab", "ab"], b"ab", b"ab", r"block 1 of blocks must be bytes, got str"),
    ([b"ab", 7], b"ab", b"ab", r"block 1 of blocks must be bytes, got int"),
    ([b"ab", None], "ab", b"ab", r"P must be bytes or None \(lost\), got str"),
    ([b"ab", None], b"ab", 0, r"Q must be bytes or None \(lost\), got int"),
    (b"abab", b"ab", b"ab", r"blocks must be a list of blocks \(bytes\), got bytes"),
])
def test_raid6_recover_names_what_is_wrong_with_its_input(blocks, p, q, message):
    with pytest.raises(ValueError, match=message):
        raid.raid6_recover(blocks, p, q)


@pytest.mark.parametrize("a, b, bad", [(256, 3, "a"), (3, 256, "b"), (-1, 3, "a"), (3, -1, "b"),
                                       (2.0, 3, "a"), (3, 1.5, "b"), (True, 3, "a"), (3, None, "b"),
                                       (10**400, 1, "a")])
def test_gf_mul_refuses_what_is_not_a_byte_and_names_the_argument(a, b, bad):
    """256 was an IndexError (LOG has 256 entries) and -1 silently read LOG[-1]: gf_mul(-1, 3)
    returned 28, a product of nothing.  A float was a TypeError."""
    with pytest.raises(ValueError, match=rf"^{bad} must be a byte, a whole number 0\.\.255"):
        raid.gf_mul(a, b)


@pytest.mark.parametrize("c", [256, -1, 2.0, False, 10**400])
def test_gf_mul_block_refuses_a_constant_that_is_not_a_byte(c):
    with pytest.raises(ValueError, match=r"^c must be a byte, a whole number 0\.\.255"):
        raid.gf_mul_block(c, b"ab")
    with pytest.raises(ValueError, match=r"block must be bytes, got str"):
        raid.gf_mul_block(2, "ab")          # str.translate would have returned a garbled str
    assert raid.gf_mul_block(255, bytearray(b"\x01\x02")) == bytes([255, raid.gf_mul(255, 2)])


@pytest.mark.parametrize("a", [0, 256, -1, 2.0, True])
def test_gf_inv_accepts_only_bytes_1_to_255(a):
    with pytest.raises(ValueError, match=r"only bytes 1\.\.255 have an inverse"):
        raid.gf_inv(a)
    assert raid.gf_inv(1) == 1 and raid.gf_mul(raid.gf_inv(255), 255) == 1


def test_stripe_blocks_must_be_bytes():
    for fn in (raid.xor_parity, raid.raid6_pq):
        with pytest.raises(ValueError, match=r"block 0 of blocks must be bytes, got str"):
            fn(["ab", "cd"])
        with pytest.raises(ValueError, match=r"blocks must be a list of blocks"):
            fn(b"abcd")
    assert raid.xor_parity([bytearray(b"\x01"), b"\x03"]) == b"\x02"


def test_raid6_recover_refuses_three_lost_blocks():
    d = [b"aa", b"bb", b"cc"]
    p, q = raid.raid6_pq(d)
    with pytest.raises(ValueError, match="at most 2 lost blocks"):
        raid.raid6_recover([None, None, b"cc"], None, q)
    with pytest.raises(ValueError, match="at most 2 lost blocks"):
        raid.raid6_recover([None, None, None], p, q)


def test_ragged_stripe_is_refused():
    with pytest.raises(ValueError, match="same length"):
        raid.raid6_pq([b"a", b"bb"])


# --- md layout: expected tables computed by hand from raid5_compute_sector() ---
# RAID 5, left-symmetric, 5 disks: pd = 4 - s % 5, data i on (pd + 1 + i) % 5
RAID5_5 = [
    ["D0", "D1", "D2", "D3", "P"],
    ["D5", "D6", "D7", "P", "D4"],
    ["D10", "D11", "P", "D8", "D9"],
    ["D15", "P", "D12", "D13", "D14"],
    ["P", "D16", "D17", "D18", "D19"],
]
# RAID 6, left-symmetric, 4 disks: pd = 3 - s % 4, qd = (pd + 1) % 4, data i on (pd + 2 + i) % 4
RAID6_4 = [
    ["Q", "D0", "D1", "P"],
    ["D2", "D3", "P", "Q"],
    ["D5", "P", "Q", "D4"],
    ["P", "Q", "D6", "D7"],
]
# RAID 4, 4 disks: parity always on the last disk
RAID4_4 = [["D0", "D1", "D2", "P"], ["D3", "D4", "D5", "P"]]


def test_md_left_symmetric_raid5_table_by_hand():
    assert raid.md_layout_table(5, 5, 5) == RAID5_5


def test_md_left_symmetric_raid6_table_by_hand():
    assert raid.md_layout_table(6, 4, 4) == RAID6_4


def test_md_raid4_keeps_parity_on_last_disk():
    assert raid.md_layout_table(4, 4, 2) == RAID4_4


@pytest.mark.parametrize("level,lo", [(5, 3), (6, 4)])
def test_md_layout_is_a_bijection_with_rotating_parity(level, lo):
    for n in range(lo, 17):
        parity = 1 if level == 5 else 2
        seen = set()
        for chunk in range(n * (n - parity) * 3):
            disk, stripe, pq = raid.md_map_chunk(chunk, level, n)
            assert disk not in pq
            assert (disk, stripe) not in seen
            seen.add((disk, stripe))
        # every disk holds P exactly once per n consecutive stripes
        pds = [raid.md_map_chunk(s * (n - parity), level, n)[2][0] for s in range(n)]
        assert sorted(pds) == list(range(n))


def test_md_layout_refuses_too_few_disks():
    with pytest.raises(ValueError, match="RAID 5 needs at least 3"):
        raid.md_map_chunk(0, 5, 2)


# --- calculator ---
TB = 10**12


def test_write_iops_example_six_disks_of_150_iops():
    # 6 x 150 = 900 back-end IOPS; / penalty 4, 6, 2
    assert raid.plan("5", [TB] * 6).write_iops == 225
    assert raid.plan("6", [TB] * 6).write_iops == 150
    assert raid.plan("10", [TB] * 6).write_iops == 450
    assert raid.plan("5", [TB] * 6).read_iops == 900


def test_ure_probability_for_4x8tb_raid5():
    # read 3 x 8 TB = 1.92e14 bits; P(no URE) = (1 - p)^bits = e^-1.92 = 0.1466 (p = 1e-14)
    r = raid.plan("5", [8 * TB] * 4)
    assert r.rebuild_read_bytes == 24 * TB
    assert 1 - r.p_ure_during_rebuild == pytest.approx(0.1466, abs=5e-4)
    r = raid.plan("5", [8 * TB] * 4, ure_per_bit=1e-15)     # e^-0.192 = 0.8253
    assert 1 - r.p_ure_during_rebuild == pytest.approx(0.8253, abs=5e-4)


def test_raid1_capacity_is_the_smallest_member_not_twice_it():
    # md(4): "only the amount of space available on the smallest device is used"
    assert raid.plan("1", [4 * TB, 6 * TB]).usable_bytes == 4 * TB
    assert raid.plan("1", [4 * TB] * 3).usable_bytes == 4 * TB
    assert raid.plan("1", [4 * TB] * 3).fault_tolerance == 2


@pytest.mark.parametrize("level,n,usable_disks,ft,minimum,penalty", [
    ("0", 4, 4, 0, 2, 1),
    ("4", 4, 3, 1, 3, 4),
    ("5", 4, 3, 1, 3, 4),
    ("6", 6, 4, 2, 4, 6),
    ("10", 8, 4, 1, 4, 2),
    ("50", 8, 6, 1, 6, 4),
    ("60", 10, 6, 2, 8, 6),
])
def test_capacity_table(level, n, usable_disks, ft, minimum, penalty):
    r = raid.plan(level, [2 * TB] * n)
    assert (r.usable_bytes, r.fault_tolerance, r.min_disks, r.write_penalty) == (
        usable_disks * 2 * TB, ft, minimum, penalty)


def test_mixed_sizes_use_smallest_member_except_md_raid0():
    sizes = [4 * TB, 4 * TB, 2 * TB]
    assert raid.plan("5", sizes).usable_bytes == 2 * 2 * TB
    assert raid.plan("0", sizes).usable_bytes == 10 * TB     # md(4): RAID0 uses all space


def test_raid10_and_raid60_best_case_tolerance():
    assert raid.plan("10", [TB] * 8).fault_tolerance_best == 4
    assert raid.plan("60", [TB] * 12, groups=3).fault_tolerance_best == 6


def test_rebuild_time_one_member_at_rate():
    # 8 TB at 100 MB/s = 80000 s = 22.2 h
    assert raid.plan("6", [8 * TB] * 6).rebuild_hours == pytest.approx(80000 / 3600)
    assert raid.plan("0", [8 * TB] * 2).rebuild_hours is None


@pytest.mark.parametrize("level,sizes,message", [
    ("5", [TB] * 2, "RAID 5 needs at least 3 disks"),
    ("6", [TB] * 3, "RAID 6 needs at least 4 disks"),
    ("10", [TB] * 5, "even number of disks"),
    ("1", [TB, -TB], "positive"),
    ("5", [TB, 0, TB], "positive"),
    ("50", [TB] * 7, "split evenly into 2 groups"),
    ("7", [TB] * 4, "accepted levels are"),
])
def test_bad_requests_name_the_rule(level, sizes, message):
    with pytest.raises(ValueError, match=message):
        raid.plan(level, sizes)


def test_mttdl_raid6_far_above_raid5():
    r5 = raid.mttdl_hours("5", 8, 1e6, 24)
    r6 = raid.mttdl_hours("6", 8, 1e6, 24)
    assert r5 == pytest.approx(1e12 / (8 * 7 * 24))
    assert r6 == pytest.approx(1e18 / (8 * 7 * 6 * 24 ** 2))
    assert r6 / r5 > 1000


def test_cli_prints_plan_and_layout():
    out = subprocess.run([sys.executable, str(SNIPPET), "calc", "--level", "6", "6x4TB"],
                         capture_output=True, text=True, check=True).stdout
    assert "usable capacity     16000000000000 B" in out
    out = subprocess.run([sys.executable, str(SNIPPET), "layout", "--level", "5", "--disks", "3"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[1].split() == ["0", "D0", "D1", "P"]


def test_cli_bad_input_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, str(SNIPPET), "calc", "--level", "5", "2x4TB"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "RAID 5 needs at least 3 disks" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_xfs_stripe_geometry_uses_data_disks_only():
    # su = chunk; sw = data disks: RAID 5 n-1, RAID 6 n-2, RAID 10 n/2, RAID 0 n
    assert raid.xfs_stripe_geometry("5", 4, 512 * 1024) == (524288, 3)
    assert raid.xfs_stripe_geometry("6", 8, 256 * 1024) == (262144, 6)
    assert raid.xfs_stripe_geometry("10", 6, 64 * 1024) == (65536, 3)
    assert raid.xfs_stripe_geometry("0", 3, 4096) == (4096, 3)
    with pytest.raises(ValueError, match="multiple of 4096"):
        raid.xfs_stripe_geometry("5", 4, 1000)
    with pytest.raises(ValueError, match="striped levels"):
        raid.xfs_stripe_geometry("1", 2, 4096)


@pytest.mark.parametrize("call, message", [
    (lambda: raid.md_map_chunk(1.5, 5, 4), r"chunk number must be a whole number >= 0 \(got 1\.5\)"),
    (lambda: raid.md_map_chunk(-1, 5, 4), r"chunk number must be a whole number >= 0 \(got -1\)"),
    (lambda: raid.md_map_chunk(1, 5, 4.0), r"member disks must be a whole number \(got 4\.0\)"),
    (lambda: raid.md_map_chunk(1, 5.0, 4), r"defined for RAID levels 4, 5 and 6 \(got 5\.0\)"),
    (lambda: raid.md_layout_table(5, 4, 3.0), r"1\.\.10000 stripes \(got 4 disks, 3\.0 stripes\)"),
    (lambda: raid.plan("5", [1.5e12] * 4), r"positive whole byte counts up to 2\*\*64 .*got 1500000000000\.0"),
    (lambda: raid.plan("5", [10**400] * 4), r"up to 2\*\*64 .*got 1000000000000000000000000000000000000\.\.\.$"),
    (lambda: raid.plan("5", [10**12] * 4, disk_iops=float("nan")), r"disk_iops .* must be > 0 .*got nan"),
    (lambda: raid.plan("5", [10**12] * 4, disk_iops=float("inf")), r"disk_iops .* must be > 0 and at most 1e\+09"),
    (lambda: raid.plan("5", [10**12] * 4, rebuild_bytes_per_s=float("inf")), r"rebuild_bytes_per_s .*got inf"),
    (lambda: raid.plan("5", [10**12] * 4, ure_per_bit=True), r"ure_per_bit must be in \[0, 1\) \(got True\)"),
    (lambda: raid.plan("50", [10**12] * 6, groups=2.0), r"groups must be a whole number .*got 2\.0"),
    (lambda: raid.plan("50", [10**12] * 6, groups=10**400), r"groups must be .*at most 1024"),
    (lambda: raid.plan("0", [1] * 1025), r"too many disks: accepted up to 1024 \(got 1025\)"),
    (lambda: raid.mttdl_hours("5", 8.5, 1e6, 24), r"disks must be a whole number up to 1024 \(got 8\.5\)"),
    (lambda: raid.mttdl_hours("6", 10**400, 1e6, 24), r"disks must be a whole number up to 1024"),
    (lambda: raid.mttdl_hours("6", 8, 1e300, 24), r"MTTF hours must be > 0 and at most 1e\+12"),
    (lambda: raid.mttdl_hours("6", 8, float("nan"), 24), r"MTTF hours .*got nan"),
    (lambda: raid.mttdl_hours("6", 8, 1e6, 1e-300), r"MTTR hours must be at least 0\.001"),
    (lambda: raid.xfs_stripe_geometry("5", 4.0, 512 * 1024), r"disks must be a whole number 1\.\.2\*\*64"),
    (lambda: raid.xfs_stripe_geometry("5", 4, 524288.0), r"chunk size must be a whole number"),
    (lambda: raid.parse_size("9" * 400 + "TB"), r"too large: accepted up to 2\*\*64 bytes"),
    (lambda: raid.parse_size("17EiB"), r"bad size"),
    (lambda: raid.parse_size("20000PB"), r"is 20000000000000000000 bytes: accepted 1 byte up to 2\*\*64"),
])
def test_numbers_out_of_range_or_of_the_wrong_kind_are_a_value_error(call, message):
    """Each was a TypeError, an OverflowError, a ZeroDivisionError (MTTR^2 underflowing to 0)
    or a silently accepted float before."""
    with pytest.raises(ValueError, match=message):
        call()


def test_plan_still_takes_the_largest_accepted_numbers():
    r = raid.plan("6", [2**64] * 4, disk_iops=1e9, rebuild_bytes_per_s=1e15)
    assert r.usable_bytes == 2 * 2**64          # two data disks of 16 EiB
    assert raid.parse_size("16PiB") == 16 * 2**50
    assert raid.parse_size("18446744073709551616") == 2**64
    # MTTDL at the bounds stays finite: MTTF^3 / (n (n-1) (n-2) MTTR^2) = 1e36 / (24 * 1e-6)
    assert raid.mttdl_hours("6", 4, 1e12, 1e-3) == pytest.approx(1e36 / 24 / 1e-6)


@pytest.mark.parametrize("args, message", [
    (["calc", "--level", "5", "9" * 400 + "TB", "1TB", "1TB"], r"too large: accepted up to 2\*\*64 bytes"),
    (["calc", "--level", "5", "3x1TB", "--disk-iops", "nan"], r"disk_iops .* must be > 0 .*got nan"),
    (["calc", "--level", "5", "3x1TB", "--disk-iops", "1e999"], r"disk_iops .* must be > 0 .*got inf"),
    (["calc", "--level", "5", "3x1TB", "--rebuild-mb-s", "1e308"], r"rebuild_bytes_per_s .*got inf"),
    (["calc", "--level", "5", "3x1TB", "--ure", "inf"], r"ure_per_bit must be in \[0, 1\) \(got inf\)"),
    (["calc", "--level", "50", "6x1TB", "--groups", "9" * 400], r"groups must be .*at most 1024"),
    (["calc", "--level", "5", "2x4TB"], r"RAID 5 needs at least 3 disks \(got 2\)"),
    (["layout", "--level", "6", "--disks", "3"], r"RAID 6 needs at least 4 member disks \(got 3\)"),
    (["layout", "--level", "5", "--disks", "4", "--stripes", "1" + "0" * 400], r"1\.\.10000 stripes"),
])
def test_cli_bad_numbers_give_one_line_naming_the_script(args, message):
    proc = subprocess.run([sys.executable, str(SNIPPET), *args], capture_output=True, text=True, timeout=60)
    lines = proc.stderr.splitlines()
    assert (proc.returncode, proc.stdout, len(lines)) == (2, "", 1), proc.stderr
    assert lines[0].startswith("raid.py: ") and re.search(message, lines[0]), lines[0]
