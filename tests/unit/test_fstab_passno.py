"""fstab.py on fs_freq and fs_passno: legal values are never errors.

What the real tools accept (util-linux 2.38.1, Debian 12, this machine):

    $ cat pass.tab
    UUID=17e006e9-90e3-4a90-9f0d-d9b6f3d8cfbd  /tmp/disks-t/mnt  ext4  defaults  7  3
    $ findmnt --verify --verbose --tab-file pass.tab
    ...
    Success, no errors or warnings detected
    $ FSTAB_FILE=order.tab fsck -A -N          # pass 1 for /, pass 3 for the loop device
    [/usr/sbin/fsck.ext4 (1) -- /] fsck.ext4 /dev/vda
    [/usr/sbin/fsck.ext4 (1) -- /tmp/disks-t/mnt] fsck.ext4 /dev/loop0

`findmnt --verify` also accepts `+1`, ` 01`, `-1` and 99999999999 in the
sixth field and reports "parse error at line 1 -- ignored" for `x` or `2x`.
fsck(8): passes run in increasing order; systemd-fstab-generator(8): "The
passno field is treated like a simple boolean, and the ordering information
is discarded."  fstab(5): fs_freq is for dump(8), whose `lastdump()` treats
it as a number of days (`fs_freq * 86400`).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import fstab

SCRIPT = Path(__file__).resolve().parents[2] / "snippets" / "fstab.py"
GOOD = "UUID=17e006e9-90e3-4a90-9f0d-d9b6f3d8cfbd  /mnt/data  ext4  defaults  {freq}  {passno}"


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_any_non_negative_freq_and_pass_is_not_an_error(freq, passno):
    issues = fstab.lint(GOOD.format(freq=freq, passno=passno))
    assert all(i.level == "warning" for i in issues), issues


@pytest.mark.parametrize("freq", [0, 1, 2, 7, 30, 365])
def test_dump_frequency_in_days_gets_no_message(freq):
    assert fstab.lint(GOOD.format(freq=freq, passno=2)) == []


@pytest.mark.parametrize("passno", [3, 4, 7, 9])
def test_pass_above_two_is_one_warning_about_systemd(passno):
    issues = fstab.lint(GOOD.format(freq=0, passno=passno))
    assert [(i.level, i.message.split(":")[0]) for i in issues] == [("warning", f"pass {passno}")]
    assert "systemd ignores the order" in issues[0].message


@pytest.mark.parametrize("value", ["+1", "01", "-1", "99999999999"])
def test_integers_findmnt_accepts_are_not_errors(value):
    for line in (GOOD.format(freq=value, passno=2), GOOD.format(freq=0, passno=value)):
        assert all(i.level == "warning" for i in fstab.lint(line)), line


@pytest.mark.parametrize("value", ["x", "2x", "1.5"])
def test_non_integers_are_errors_like_the_libmount_parse_error(value):
    for line, field in ((GOOD.format(freq=value, passno=2), "dump"), (GOOD.format(freq=0, passno=value), "pass")):
        issues = fstab.lint(line)
        assert [i.level for i in issues] == ["error"], issues
        assert issues[0].message.startswith(f"{field} field {value!r} is not an integer")


def test_cli_exits_0_when_only_warnings(tmp_path):
    tab = tmp_path / "fstab"
    tab.write_text(GOOD.format(freq=7, passno=3) + "\n")
    run = subprocess.run([sys.executable, str(SCRIPT), str(tab)], capture_output=True, text=True)
    assert run.returncode == 0, run
    assert run.stdout.startswith("1: warning: pass 3:")
    tab.write_text(GOOD.format(freq=0, passno="x") + "\n")
    run = subprocess.run([sys.executable, str(SCRIPT), str(tab)], capture_output=True, text=True)
    assert run.returncode == 1 and run.stdout.startswith("1: error: pass field 'x'")
