"""Twin files are named ``test_<snippet>_<tool>[_<aspect>].py`` (CONTRIBUTING.md, Layout).

<snippet> is a module in snippets/, <tool> the real program (or library) the twin
compares it with, written with ``_`` for ``-`` (qemu-img: ``qemu_img``), and the
optional <aspect> tells two twins of one pair apart.  Helpers that are not tests
(tests/twins/crush_gen.py) are not checked.
"""
from __future__ import annotations

import re

import pytest

from pagekit import ROOT

TWINS = sorted((ROOT / "tests" / "twins").glob("test_*.py"))
SNIPPETS = sorted((p.stem for p in (ROOT / "snippets").glob("*.py")), key=len, reverse=True)
# The real tools the twins compare with.  A twin against a new tool adds it here.
TOOLS = sorted({"crushtool", "df", "exportfs", "isal", "lvcreate", "osdmaptool", "qemu_img", "sfdisk"},
               key=len, reverse=True)
ASPECT = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def parse(name: str, snippets: list[str] = SNIPPETS, tools: list[str] = TOOLS) -> tuple[str, str, str] | None:
    """(snippet, tool, aspect) of a twin file name, or None if it does not follow the pattern."""
    if not (name.startswith("test_") and name.endswith(".py")):
        return None
    stem = name[len("test_"):-len(".py")]
    for snippet in snippets:
        if not stem.startswith(snippet + "_"):
            continue
        rest = stem[len(snippet) + 1:]
        for tool in tools:
            if rest == tool:
                return snippet, tool, ""
            if rest.startswith(tool + "_") and ASPECT.fullmatch(rest[len(tool) + 1:]):
                return snippet, tool, rest[len(tool) + 1:]
    return None


def test_the_parser_on_names_written_by_hand():
    snippets, tools = ["crush", "crush_sim", "partition_table", "qcow2", "qcow2_tool"], ["qemu_img", "sfdisk"]
    assert parse("test_partition_table_sfdisk.py", snippets, tools) == ("partition_table", "sfdisk", "")
    assert parse("test_partition_table_sfdisk_layouts.py", snippets, tools) == (
        "partition_table", "sfdisk", "layouts")
    assert parse("test_qcow2_tool_qemu_img_unusual.py", snippets, tools) == ("qcow2_tool", "qemu_img", "unusual")
    assert parse("test_qcow2_qemu_img.py", snippets, tools) == ("qcow2", "qemu_img", "")
    assert parse("test_partition_table_more.py", snippets, tools) is None        # "more" is no tool
    assert parse("test_stretch_rule_sfdisk.py", snippets, tools) is None         # no snippets/stretch_rule.py
    assert parse("test_partition_table_sfdisk_.py", snippets, tools) is None     # empty aspect
    assert parse("crush_gen.py", snippets, tools) is None


@pytest.mark.parametrize("path", TWINS, ids=lambda p: p.name)
def test_twin_file_name_names_its_snippet_and_tool(path):
    parsed = parse(path.name)
    assert parsed, (f"tests/twins/{path.name}: name it test_<snippet>_<tool>[_<aspect>].py, "
                    f"<snippet> a module of snippets/, <tool> one of {sorted(TOOLS)} (add a new tool to TOOLS)")
    snippet, tool, _ = parsed
    text = path.read_text(encoding="utf-8")
    assert re.search(rf"\b{snippet}\b", text), f"{path.name} never mentions the snippet {snippet}"
    assert re.search(rf"\b{re.escape(tool.replace('_', '-'))}\b", text), f"{path.name} never mentions {tool}"
