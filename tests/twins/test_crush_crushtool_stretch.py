"""Twin and page check for the stretch-mode follow-up in docs/ceph/failure-domains.md.

The page builds a CRUSH map with ``crushtool --build`` (2 datacenters x 2 hosts
x 2 OSDs), appends the two-``take`` stretch rule shown on the page, and counts
how many copies of each mapping land in each datacenter.  This test reruns the
page's commands with the real crushtool (Ceph 16.2) and checks:

* the four mapping lines and the per-datacenter counts printed on the page are
  what crushtool prints (the awk program is taken from the page itself);
* 3 copies under the default host rule are always split 2+1 or 1+2, and the
  stretch rule always gives 2+2 (a hand argument: 3 copies cannot split evenly
  over 2 sites; the stretch rule takes 2 hosts in each site);
* snippets/crush.py maps both rules exactly as crushtool does on 1024 inputs;
* crushtool 16.2 rejects a rule without the min_size/max_size lines;
* the 16.2 ceph-mon command table takes exactly three arguments for
  ``mon enable_stretch_mode`` (tiebreaker mon, CRUSH rule, dividing bucket).
"""
from __future__ import annotations

import collections
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

import crush

pytestmark = pytest.mark.twin

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ceph" / "failure-domains.md"
BUILD = ["--build", "--num_osds", "8", "host", "straw2", "2", "datacenter", "straw2", "2",
         "root", "straw2", "0"]


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _rule_text() -> str:
    """The stretch rule exactly as the page shows it (inside the ```text block)."""
    m = re.search(r"```text\n(\s*rule stretch_rule \{.*?\n\s*\})\n\s*```", _page(), re.S)
    assert m, "stretch rule block not found on the page"
    return textwrap.dedent(m.group(1)) + "\n"


def _crushtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["crushtool", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def stretch_map(tmp_path_factory) -> Path:
    assert shutil.which("crushtool"), "crushtool (Debian package ceph-base) is required"
    d = tmp_path_factory.mktemp("stretch")
    r = _crushtool("--outfn", "map.bin", *BUILD, cwd=d)
    assert r.returncode == 0, r.stderr
    assert _crushtool("-d", "map.bin", "-o", "map.txt", cwd=d).returncode == 0
    with open(d / "map.txt", "a", encoding="utf-8") as fh:
        fh.write(_rule_text())
    r = _crushtool("-c", "map.txt", "-o", "stretch.bin", cwd=d)
    assert r.returncode == 0, r.stderr
    return d


def _mappings(d: Path, rule: int, num_rep: int, hi: int) -> list[str]:
    r = _crushtool("-i", "stretch.bin", "--test", "--rule", str(rule), "--num-rep", str(num_rep),
                   "--min-x", "0", "--max-x", str(hi), "--show-mappings", cwd=d)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_page_mapping_lines_are_crushtools(stretch_map):
    shown = re.findall(r"^\s*(CRUSH rule 1 x \d+ \[[\d,]+\])$", _page(), re.M)
    assert len(shown) == 4
    assert _mappings(stretch_map, 1, 4, 3) == shown


def test_page_site_counts_come_from_the_pages_awk(stretch_map):
    page = _page()
    count = re.search(r"^\s*\$ (count='.*')$", page, re.M).group(1)
    expected = {}
    for rule, num_rep in ((0, 3), (1, 4)):
        cmd = (f"{count}; crushtool -i stretch.bin --test --rule {rule} --num-rep {num_rep} "
               f"--min-x 0 --max-x 1023 --show-mappings | awk -F'[][]' \"$count\" | sort | uniq -c")
        out = subprocess.run(["bash", "-c", cmd], cwd=stretch_map, capture_output=True, text=True,
                             check=True).stdout
        expected[rule] = out
        for line in out.splitlines():          # each output line is printed on the page as is
            assert re.search(rf"^ *{re.escape(line)}$", page, re.M), line
    assert expected[0].split() == ["512", "1+2", "512", "2+1"]
    assert expected[1].split() == ["1024", "2+2"]


def test_three_copies_never_split_evenly_and_stretch_rule_always_does(stretch_map):
    def sites(line: str) -> str:
        osds = [int(o) for o in line[line.index("[") + 1:line.index("]")].split(",")]
        a = sum(1 for o in osds if o < 4)      # osd.0-3 are in datacenter0 (crushtool --build order)
        return f"{a}+{len(osds) - a}"
    default = collections.Counter(sites(l) for l in _mappings(stretch_map, 0, 3, 1023))
    stretch = collections.Counter(sites(l) for l in _mappings(stretch_map, 1, 4, 1023))
    assert set(default) == {"2+1", "1+2"} and sum(default.values()) == 1024
    assert stretch == {"2+2": 1024}


def test_snippet_crush_matches_crushtool_on_both_rules(stretch_map):
    m = crush.CrushMap.parse((stretch_map / "map.txt").read_text(encoding="utf-8"))
    w = m.default_weights()
    for rule, nr in ((0, 3), (1, 4)):
        ours = [crush.format_mapping(rule, x, m.do_rule(rule, x, nr, w, 0)) for x in range(1024)]
        assert ours == _mappings(stretch_map, rule, nr, 1023)


def test_crushtool_16_2_needs_min_size_and_max_size_lines(stretch_map, tmp_path):
    text = (stretch_map / "map.txt").read_text(encoding="utf-8")
    stripped = text.replace("\tmin_size 1\n\tmax_size 10\n\tstep take datacenter0",
                            "\tstep take datacenter0")
    assert stripped != text
    (tmp_path / "bad.txt").write_text(stripped, encoding="utf-8")
    r = _crushtool("-c", "bad.txt", "-o", "bad.bin", cwd=tmp_path)
    assert r.returncode != 0 and "parse error" in r.stderr


def test_ceph_mon_16_2_enable_stretch_mode_takes_three_arguments():
    mon = shutil.which("ceph-mon")
    assert mon, "ceph-mon (Debian package ceph-mon) is required"
    blob = Path(mon).read_bytes()
    m = re.search(rb"mon enable_stretch_mode ([^\x00]*)", blob)
    assert m, "command table entry not found"
    names = re.findall(rb"name=(\w+)", m.group(1))
    assert names == [b"tiebreaker_mon", b"new_crush_rule", b"dividing_bucket"]
