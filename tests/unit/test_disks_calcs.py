"""Property tests for the disk-chapter calculators: dfcalc, swap, lvm, fstab.

Expected values are hand calculations written here or quoted from the
primary sources named in each snippet (coreutils df.c, the RHEL swap table,
lvm.conf's autoextend example, fstab(5)).
"""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import dfcalc
import fstab
import lvm
import swap

SNIPPETS = Path(__file__).resolve().parents[2] / "snippets"
MiB = 1 << 20


# ---- dfcalc ---------------------------------------------------------------

@given(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**40),
       st.sampled_from([512, 1024, 4096, 65536]))
def test_df_figures_add_up_and_use_pct_is_the_ceiling(a, b, c, frsize):
    blocks, bfree, bavail = sorted([a, b, c], reverse=True)
    f = dfcalc.df_figures(blocks, bfree, bavail, frsize, 0, 0)
    assert f.size == f.used + f.avail + f.reserved
    assert f.reserved == (bfree - bavail) * frsize >= 0
    used = blocks - bfree
    if used + bavail == 0:
        assert f.use_pct is None
    else:
        assert f.use_pct == math.ceil(used * 100 / (used + bavail)) or \
            f.use_pct == -(-used * 100 // (used + bavail))
        assert (f.use_pct == 0) == (used == 0)     # any use at all shows at least 1%


def test_use_pct_counts_only_what_non_root_can_use():
    # 100 blocks, 10 reserved for root, 90 used: a user sees a full filesystem
    f = dfcalc.df_figures(f_blocks=100, f_bfree=10, f_bavail=0, f_frsize=4096, f_files=1, f_ffree=0)
    assert f.use_pct == 100 and f.reserved == 10 * 4096


@pytest.mark.parametrize("bad", [dict(f_frsize=0), dict(f_bavail=11), dict(f_ffree=-1)])
def test_df_figures_rejects_impossible_counters(bad):
    args = dict(f_blocks=20, f_bfree=10, f_bavail=5, f_frsize=4096, f_files=5, f_ffree=1)
    args.update(bad)
    with pytest.raises(ValueError):
        dfcalc.df_figures(**args)


@given(st.integers(0, 10**6), st.integers(0, 10**7), st.sampled_from([1024, 4096]),
       st.integers(0, 10**6))
def test_small_files_stop_at_the_first_exhausted_resource(inodes, blocks, bs, size):
    r = dfcalc.fill_small_files(inodes, blocks, bs, size)
    per = math.ceil(size / bs)
    assert r.files * per <= blocks and r.files <= inodes
    assert r.inodes_left == 0 or (per and r.blocks_left < per)
    assert r.blocks_left == blocks - r.files * per


def test_sparse_file_apparent_versus_allocated(tmp_path):
    p = tmp_path / "sparse"
    with open(p, "wb") as f:
        f.truncate(1 << 30)
    apparent, allocated = dfcalc.apparent_and_allocated(str(p))
    assert apparent == 1 << 30 and allocated < 1 << 20


# ---- swap (RHEL 8/9 "Recommended system swap space") -----------------------

@pytest.mark.parametrize("ram, plain, hib", [
    (1, 2, 3), (2, 4, 6),             # <= 2 GB: 2x, 3x
    (3, 3, 6), (8, 8, 16),            # > 2 GB - 8 GB: = RAM, 2x
    (16, 4, 24), (64, 4, 96),         # > 8 GB - 64 GB: at least 4 GB, 1.5x
    (128, 4, None),                   # > 64 GB: at least 4 GB, not recommended
])
def test_swap_table_rows_and_borders(ram, plain, hib):
    assert swap.swap_size(ram).swap_gib == plain
    assert swap.swap_size(ram, hibernate=True).swap_gib == hib


@given(st.floats(min_value=0.01, max_value=4096, allow_nan=False))
def test_swap_minimum_only_exactly_above_8(ram):
    a = swap.swap_size(ram)
    assert a.minimum_only == (ram > 8)
    assert a.at_border == (ram in (2, 8, 64))


def test_swap_cli_bad_input_exits_2():
    res = subprocess.run([sys.executable, str(SNIPPETS / "swap.py"), "-3"], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr


# ---- lvm -------------------------------------------------------------------

@given(st.lists(st.integers(2, 4096), min_size=1, max_size=4), st.sampled_from([1, 2, 4, 8, 32]),
       st.integers(1, 10**5))
def test_L_rounds_up_to_whole_extents(pv_mib, pe_mib, size_kib):
    vg = lvm.VG(pe_mib * MiB, [m * MiB for m in pv_mib])
    need = math.ceil(size_kib * 1024 / (pe_mib * MiB))
    if 1 <= need <= vg.extent_count:
        n = vg.extents_for_size(size_kib * 1024)
        assert n == need and n * pe_mib * MiB >= size_kib * 1024 > (n - 1) * pe_mib * MiB
    else:
        with pytest.raises(ValueError):
            vg.extents_for_size(size_kib * 1024)


def test_percent_is_floor_and_capped_at_free():
    vg = lvm.VG(4 * MiB, [64 * MiB, 64 * MiB])         # 30 extents
    assert vg.extents_for_percent(33, "VG") == 9          # 9.9 -> 9
    vg.allocated = 25
    assert vg.extents_for_percent(50, "VG") == 5          # 15 wanted, 5 free
    assert vg.extents_for_percent(50, "FREE") == 2        # 2.5 -> 2


@pytest.mark.parametrize("pe", [0, 511, 3000, 96 * 1024])
def test_bad_extent_sizes(pe):
    with pytest.raises(ValueError):
        lvm.check_extent_size(pe)


def test_snapshot_and_thin_pool_figures():
    assert lvm.cow_hours_to_full(10 * MiB, 1 * MiB) == 10
    assert lvm.cow_hours_to_full(10 * MiB, 1 * MiB, overhead=0.5) == 5
    assert lvm.overcommit_ratio([3, 3, 4], 5) == 2
    assert lvm.autoextend_steps(1000, 900, threshold=100, percent=20, vg_free=10**6) == []
    assert lvm.autoextend_steps(1000, 600, threshold=10, percent=20, vg_free=10**6) == [1200]  # 10 -> 50
    assert lvm.autoextend_steps(1000, 900, threshold=70, percent=20, vg_free=100) == []       # no room


# ---- fstab -----------------------------------------------------------------

def test_fstab_good_file_is_clean():
    text = ("# /etc/fstab\n"
            "UUID=1b2c3d4e-0000-4000-8000-000000000001 /         xfs   defaults          0 1\n"
            "LABEL=mydata                                /mnt/data ext4  defaults,nofail   0 2\n"
            "PARTLABEL=scratch                           /scratch  ext4  noatime           0 2\n"
            "/swapfile                                   none      swap  defaults          0 0\n"
            "tmpfs                                       /tmp      tmpfs mode=1777         0 0\n"
            "/srv/export                                 /mnt/b    none  bind\n"
            "server:/vol                                 /mnt/nfs  nfs4  _netdev,nofail    0 0\n"
            "/mnt/my\\040disk/img                         /mnt/img  auto  loop,ro           0 0\n")
    assert fstab.lint(text) == []


@pytest.mark.parametrize("line, expect", [
    ("/dev/nvme0n1p3 /data ext4 defaults 0 2", "kernel name"),
    ("/dev/sda1 / ext4 defaults 0 2", "kernel name"),
    ("UUID=x / ext4 defaults 0 2", "root filesystem should have pass 1"),
    ("UUID=x /data ext4 defaults 0 1", "pass 1 is for the root filesystem"),
    ("UUID=x /data ext4 defaults 0 3", "pass 3: fsck -A checks it after pass 2"),
    ("UUID=x /data ext4 defaults x 0", "dump field 'x' is not an integer"),
    ("UUID=x /data extfour defaults 0 2", "unknown filesystem type"),
    ("UUID=x data ext4 defaults 0 2", "not an absolute path"),
    ("/swapfile swap swap defaults 0 1", "nothing to check"),
    ("UUID=x /a ext4 defaults 0 2 extra", "7 fields"),
])
def test_fstab_each_rule(line, expect):
    messages = [i.message for i in fstab.lint(line)]
    assert any(expect in m for m in messages), messages


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_fstab_never_crashes(text):
    for issue in fstab.lint(text):
        assert issue.level in ("error", "warning") and issue.line >= 1


# ---- quota (kernel fs/quota/dquot.c check_bdq) -------------------------------

import quota  # noqa: E402


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["write", "free"]),
                          st.integers(0, 3000)), max_size=30),
       st.integers(0, 4096), st.integers(0, 8192))
def test_quota_never_exceeds_hard_and_timer_only_above_soft(steps, soft, extra):
    hard = soft + extra if extra else 0
    q = quota.Quota(soft=soft, hard=hard, grace=2 * quota.DAY)
    t = 0
    for dt, op, kib in steps:
        t += dt * quota.DAY
        before = q.used
        if op == "write":
            res = q.write(kib, t)
            if res.startswith("EDQUOT"):
                assert q.used == before
            else:
                assert q.used == before + kib
        else:
            q.free(kib)
        if hard:
            assert q.used <= hard
        if q.used <= soft:
            assert q.grace_until == 0 or op == "write" and not soft
        if q.grace_until:
            assert q.used > soft and soft > 0


def test_quota_exact_hard_limit_is_allowed():
    q = quota.Quota(soft=0, hard=100, grace=0)
    assert q.write(100, 0) == "ok"          # new > hard fails, new == hard does not
    assert q.write(1, 0) == "EDQUOT: block limit reached"


def test_fstab_linter_output_shown_on_the_mount_page():
    bad = ("# comment\n"
           "/dev/sdb1  /data  ext4  defaults  0 2\n"
           "UUID=0000-not-there /data xfs defaults 0 2\n"
           "LABEL=nolabel /mnt/x  ext5  defaults 0 2\n"
           "/swapfile none swap sw 0 0\n"
           "tmpfs /tmp tmpfs defaults 0 0\n"
           "/dev/sdc1 relative ext4 defaults 0 7\n"
           "onlythree fields here\n")
    page = (Path(__file__).resolve().parents[2] / "docs" / "disks" / "mount.md").read_text(encoding="utf-8")
    for issue in fstab.lint(bad):
        assert "    " + str(issue) + "\n" in page, issue
    assert [str(i)[:2] for i in fstab.lint(bad)] == ["2:", "3:", "4:", "7:", "7:", "7:", "8:"]


@pytest.mark.parametrize("args, name", [
    ((100, 100, 4096, 10**400), "file_size"), ((100, 100, 4096, math.inf), "file_size"),
    ((100, 100, 0, 100), "block_size"), ((100.5, 100, 4096, 100), "free_inodes"),
    ((100, -1, 4096, 100), "free_blocks"), ((100, 100, 4096.0, 100), "block_size"),
])
def test_fill_small_files_refuses_counts_that_are_not_whole(args, name):
    """A 10**400-byte or infinite file size was an OverflowError (int / int too large for a float,
    math.ceil(inf))."""
    with pytest.raises(ValueError, match=rf"whole numbers up to 2\*\*64 \(got {name} = "):
        dfcalc.fill_small_files(*args)
    # hand check: 2**64-byte files in 4 KiB blocks need 2**52 blocks each; 100 blocks hold none
    r = dfcalc.fill_small_files(100, 100, 4096, 2**64)
    assert (r.files, r.stopped_by, r.blocks_left, r.inodes_left) == (0, "blocks", 100, 100)
