"""CONTRIBUTING.md stands alone and its page ↔ snippet ↔ test table is the tree's.

The table is computed by tests/snippet_map.py from the tree itself (which page includes
which snippet, which unit tests and twins are named for it or import it); a file renamed,
split or added shows up here until `python tests/snippet_map.py --write` is run.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import snippet_map  # noqa: E402
from pagekit import code_lines  # noqa: E402

CONTRIBUTING = ROOT / "CONTRIBUTING.md"


def test_the_snippet_table_is_the_trees():
    text = CONTRIBUTING.read_text(encoding="utf-8")
    shown = snippet_map.in_contributing(text)
    assert shown is not None, f"CONTRIBUTING.md lacks the markers {snippet_map.BEGIN!r} and {snippet_map.END!r}"
    expected = snippet_map.markdown()
    assert shown == expected, (
        "CONTRIBUTING.md's page/snippet/test table is out of date; run "
        "`.venv/bin/python tests/snippet_map.py --write`, or put this table between the markers:\n\n"
        + expected)


def test_every_snippet_has_a_row():
    rows = {r.snippet for r in snippet_map.rows()}
    assert rows == {p.stem for p in (ROOT / "snippets").glob("*.py") if not p.stem.startswith("_")}


def test_contributing_points_only_inside_the_repository():
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert "../" not in text, "CONTRIBUTING.md names a file outside the repository"
    code = code_lines(text)                  # examples of page Markdown link to pages, not to files here
    prose = "\n".join(line for n, line in enumerate(text.split("\n"), 1) if n not in code)
    for target in re.findall(r"\]\(([^)#\s]+)", prose):
        if re.match(r"[a-z]+:", target):          # https:, mailto:
            continue
        assert (ROOT / target).exists(), f"CONTRIBUTING.md links to {target}, which is not in the repository"


def test_the_table_on_a_made_up_tree(tmp_path):
    """Includes (escaped ones not), named and importing tests, the longest snippet name, empty cells."""
    (tmp_path / "snippets").mkdir()
    for name in ("disk", "disk_tool", "lonely"):
        (tmp_path / "snippets" / f"{name}.py").write_text('"""x"""\n')
    (tmp_path / "docs" / "a").mkdir(parents=True)
    (tmp_path / "docs" / "a" / "one.md").write_text(
        '```python\n--8<-- "disk.py:header"\n```\n\n    --8<-- "disk_tool.py"\n')
    (tmp_path / "docs" / "two.md").write_text(';--8<-- "lonely.py"\n--8<-- "abbreviations.md"\n--8<-- "disk.py"\n')
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "twins").mkdir()
    (tmp_path / "tests" / "unit" / "test_disk.py").write_text("import os\n")
    (tmp_path / "tests" / "unit" / "test_guards.py").write_text(
        "import importlib\nfrom disk_tool import main\nimportlib.import_module('lonely')\n")
    (tmp_path / "tests" / "unit" / "helper.py").write_text("import disk\n")          # not a test file
    (tmp_path / "tests" / "twins" / "test_disk_tool_qemu_img.py").write_text("import disk\n")
    rows = {r.snippet: r for r in snippet_map.rows(tmp_path)}
    assert rows["disk"].pages == ["a/one.md", "two.md"]
    assert rows["disk"].unit == ["test_disk.py"]
    assert rows["disk"].twins == ["test_disk_tool_qemu_img.py"]                      # by import
    assert rows["disk_tool"].pages == ["a/one.md"]
    assert rows["disk_tool"].unit == ["test_guards.py"]
    assert rows["disk_tool"].twins == ["test_disk_tool_qemu_img.py"]                 # by name
    assert rows["lonely"].pages == []                                                # escaped include
    assert rows["lonely"].unit == ["test_guards.py"]                                 # import_module
    table = snippet_map.markdown(tmp_path).splitlines()
    assert table[-1] == "| `lonely.py` | — | `test_guards.py` | — |"
