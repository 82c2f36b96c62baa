"""When the test run builds the site and PDFs beside the first tests (tests/prebuild.py)."""
from __future__ import annotations

import doctest

import pytest

import prebuild


@pytest.mark.parametrize("mode, load1, cpus, expected", [
    ("auto", 0.0, 2, True), ("auto", 0.99, 2, True), ("auto", 1.0, 2, False), ("auto", 5.0, 8, False),
    ("auto", 3.9, 8, True), ("1", 30.0, 2, True), ("0", 0.0, 2, False),
])
def test_auto_builds_beside_the_tests_only_on_an_idle_machine(mode, load1, cpus, expected):
    assert prebuild.wanted(mode, load1, cpus) is expected


def test_an_unknown_mode_is_named():
    with pytest.raises(ValueError, match=r"HANDBOOK_PREBUILD='yes': use auto, 1 or 0"):
        prebuild.wanted("yes", 0.0, 2)


def test_docstring_examples():
    assert doctest.testmod(prebuild).failed == 0
