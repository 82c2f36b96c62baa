"""snippets/disk_limits.py as a script: every bad argument is one clear message and exit status 2.

The expected accepted ranges come from the formats: a logical sector is 512,
1024, 2048 or 4096 bytes (the sizes libfdisk and the kernel's loop driver
accept), a GPT LBA is a 64-bit field (UEFI spec 2.10, table 5-5), so a start
LBA is 0 .. 2^64 - 1 = 18446744073709551615.
"""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "snippets"))

import disk_limits as dl  # noqa: E402

SCRIPT = ROOT / "snippets" / "disk_limits.py"


def call(*argv: str) -> tuple[int, str, str]:
    """Run main() in-process; argparse's own errors arrive as SystemExit."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = dl.main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv,message", [
    (["limits", "--sector-size", "-512"], "-512 is negative: give a logical sector size in bytes: "
                                          "512, 1024, 2048 or 4096"),
    (["limits", "--sector-size", "0"], "0 is not accepted"),
    (["limits", "--sector-size", "1000"], "1000 is not accepted"),
    (["limits", "--sector-size", "abc"], "'abc' is not a whole number"),
    (["limits", "--sector-size", "4096.0"], "'4096.0' is not a whole number"),
    (["limits", "--sector-size", "9" * 5000], "is out of range"),
    (["align", "-5"], "-5 is negative: give a start LBA: 0 to 18446744073709551615"),
    (["align", "18446744073709551616"], "18446744073709551616 is not accepted"),
    (["align", "0x800"], "'0x800' is not a whole number"),
    (["align", "1e3"], "'1e3' is not a whole number"),
    (["align", ""], "'' is not a whole number"),
    (["align", "2048", "--kind", "8Kn"], "invalid choice: '8Kn'"),
    (["align"], "the following arguments are required: start"),
    ([], "the following arguments are required: cmd"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message):
    code, out, err = call(*argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_as_a_script_no_traceback():
    for argv in (["align", "-1"], ["limits", "--sector-size", "x"], ["align", "9" * 100]):
        proc = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
        assert "give a" in proc.stderr


def test_edges_that_are_accepted():
    # the last 64-bit LBA has no later 1 MiB boundary; LBA 0 is aligned (byte 0)
    code, out, _ = call("align", "18446744073709551615")
    assert code == 0 and "no later 1 MiB boundary below LBA 2^64" in out
    assert call("align", "0")[1] == ("512e: start LBA 0 = byte 0; physical aligned, 1 MiB aligned; "
                                     "next 1 MiB boundary at LBA 0\n")
    # 4Kn: 16 TiB MBR limit (2^32 x 4096 B), 4 array sectors (16384 / 4096), first usable LBA 2 + 4
    code, out, _ = call("limits", "--sector-size", "4096")
    assert code == 0 and "16 TiB" in out and "first usable LBA 6" in out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.integers(-2 ** 80, 2 ** 80).map(str),
                          st.sampled_from(["limits", "align", "--sector-size", "--kind", "4Kn", "-h"])),
                max_size=4))
def test_fuzzed_command_lines_never_raise(argv):
    code, _out, err = call(*argv)
    assert code in (0, 2)                         # 0 also covers -h
    if code == 2:
        assert err.strip() and "Traceback" not in err


@pytest.mark.parametrize("call_it,message", [
    (lambda: dl.check_alignment(2048, grain=0), "alignment grain 0 must be a positive multiple"),
    (lambda: dl.check_alignment(2 ** 64), "outside 0 .. 18446744073709551615"),
    (lambda: dl.lba_to_chs(100, heads=0), "use 1 .. 255 heads"),
    (lambda: dl.gpt_entry_array(entries=2 ** 32), "use 1 .. 4294967295 entries"),
    (lambda: dl.human(-1), "byte count -1 is negative"),
])
def test_library_functions_refuse_with_the_accepted_range(call_it, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        call_it()
