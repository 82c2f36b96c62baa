"""Every pinned Python package installs on the oldest Python the README promises.

README.md promises that `make venv` works with the system `python3` of a fresh Debian 12
machine, which is Python 3.11.2.  pip refuses a package whose Requires-Python excludes the
running Python, so one pin that needs a newer Python breaks `make venv` there, while a
machine with a newer Python (pyenv's 3.11.7, say) never notices: pymdown-extensions 13.1
(Requires-Python ">=3.11.5") did exactly that.  This test reads the Requires-Python of each
pinned package from the venv's installed metadata, which is the pinned version's own, and
compares it with that oldest Python.
"""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Debian 12's /usr/bin/python3 (package python3.11 3.11.2-6+deb12u6); README.md names it.
OLDEST_PYTHON = "3.11.2"
PIN_FILES = ("requirements.txt", "requirements-lab.txt", "constraints.txt")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def pins(name: str) -> dict[str, str]:
    """{canonical package name: pinned version} of one requirements file."""
    found = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = PIN.match(line)
        assert m, f"{name}: not an exact pin: {line!r}"
        found[canonicalize_name(m.group(1))] = m.group(2)
    return found


def supports(requires_python: str | None, python: str) -> bool:
    """Whether a Requires-Python value admits ``python`` (no value admits every Python)."""
    return requires_python is None or SpecifierSet(requires_python).contains(python)


def test_the_check_tells_the_incident_apart():
    # Requires-Python of the two wheels' METADATA: pymdown-extensions 13.1 and 12.3
    assert not supports(">=3.11.5", OLDEST_PYTHON)
    assert supports(">=3.10", OLDEST_PYTHON)
    assert supports(None, OLDEST_PYTHON)
    assert supports(">=3.11", OLDEST_PYTHON) and not supports(">=3.12", OLDEST_PYTHON)


def test_readme_and_pyproject_name_the_same_oldest_python():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    promise = next(line for line in readme.splitlines() if "需要预先有的只有" in line)
    assert f"{OLDEST_PYTHON} 或更新" in promise and "Debian 12" in promise
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert supports(project["requires-python"], OLDEST_PYTHON)


def test_every_pin_installs_on_the_oldest_python():
    wanted = {}
    for name in PIN_FILES:
        for package, version in pins(name).items():
            assert wanted.setdefault(package, version) == version, \
                f"{package}: pinned to {wanted[package]} and to {version} ({name})"
    too_new, checked = [], set()
    for package, version in sorted(wanted.items()):
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            continue  # a lab-only package in a venv made by `make venv` alone
        if dist.version != version:
            continue  # the venv holds another version; its metadata says nothing of the pin
        checked.add(package)
        requires = dist.metadata["Requires-Python"]
        if not supports(requires, OLDEST_PYTHON):
            too_new.append(f"{package}=={version} (Requires-Python {requires})")
    assert not too_new, (f"pins that do not install on Python {OLDEST_PYTHON} (Debian 12, "
                         f"README.md): {', '.join(too_new)}")
    # Not vacuous: every pin `make venv` installs was checked (the venv matches requirements.txt).
    direct = set(pins("requirements.txt"))
    assert direct <= checked, f"installed at another version than pinned: {sorted(direct - checked)}"
