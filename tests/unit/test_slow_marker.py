"""Every test named in tests/unit/conftest.py's SLOW list exists (a renamed test would
silently move back into make check) and carries the marker."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("unit_conftest", ROOT / "tests" / "unit" / "conftest.py")
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
SLOW = _mod.SLOW


def test_every_slow_test_exists_and_is_marked():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow",
                           *[f"tests/unit/{f}" for f in SLOW]], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    collected = {line.split("::")[0].rsplit("/", 1)[-1] + "::" + line.split("::")[1].split("[")[0]
                 for line in proc.stdout.splitlines() if "::" in line}
    wanted = {f"{f}::{name}" for f, names in SLOW.items() for name in names}
    assert wanted <= collected, sorted(wanted - collected)
