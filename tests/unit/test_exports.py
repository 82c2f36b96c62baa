"""snippets/exports.py: parsing per exports(5) and the linter's findings.

Expected values come from exports(5) (nfs-utils 2.6) and from nfs-utils'
parser (support/export/exports.c: an option list without a host is given to
"*"; later options override earlier ones in parseopts()).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

import exports as ex

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "exports.py"


def messages(text: str) -> list[str]:
    return [m for _, m in ex.lint(text)]


def test_defaults_are_those_of_exports_5():
    (e,) = ex.parse("/srv h(rw)\n")
    eff = e.clients[0].effective
    # exports(5): ro unless rw; sync after 1.0.0; root_squash; no_subtree_check from 1.1.0; secure; wdelay
    assert eff["access"] == "rw"
    assert (eff["sync"], eff["squash"], eff["subtree"], eff["secure"], eff["wdelay"], eff["all_squash"]) == \
        ("sync", "root_squash", "no_subtree_check", "secure", "wdelay", "no_all_squash")
    (e,) = ex.parse("/srv h\n")
    assert e.clients[0].effective["access"] == "ro"


def test_space_before_parenthesis_gives_the_world_the_options():
    (e,) = ex.parse("/home/joe pc001 (rw)\n")
    assert [(c.host, c.options, c.explicit_host) for c in e.clients] == [
        ("pc001", [], True), ("*", ["rw"], False)]
    assert e.clients[0].effective["access"] == "ro"     # the named host gets the defaults
    assert e.clients[1].effective["access"] == "rw"     # everyone gets rw
    msgs = messages("/home/joe pc001 (rw)\n")
    assert any("has no host before it" in m and "remove the space after 'pc001'" in m for m in msgs)
    assert "rw is exported to everyone (*)" in msgs


def test_clean_file_has_no_problems_and_exit_status_0(tmp_path):
    f = tmp_path / "exports"
    f.write_text("# comment\n\n/srv/nfs 192.168.1.0/24(rw,sync,no_subtree_check) \\\n"
                 "    *.lab.example(ro)\n\"/srv/with space\" 10.0.0.1(ro,sec=krb5p:krb5i)\n")
    assert ex.lint(f.read_text()) == []
    proc = subprocess.run([sys.executable, str(SNIPPET), str(f)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "")
    (a, b) = ex.parse(f.read_text())
    assert [c.host for c in a.clients] == ["192.168.1.0/24", "*.lab.example"] and a.line == 3
    assert b.path == "/srv/with space" and b.line == 5


def test_each_problem_is_reported_with_file_and_line(tmp_path):
    f = tmp_path / "exports"
    f.write_text("/a 10.0.0.0/8(rw,no_root_squash)\n"
                 "/b *(rw,ro)\n"
                 "c h(ro)\n"
                 "/d h(rw,async,no_subtre_check)\n"
                 "/e h(anonuid=nobody)\n")
    proc = subprocess.run([sys.executable, str(SNIPPET), str(f)], capture_output=True, text=True)
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert f"{f}:1: 10.0.0.0/8: no_root_squash lets root on the client act as root on the export" in out
    assert f"{f}:2: *: contradictory options ro and rw (the later one wins)" in out
    assert f"{f}:3: export path 'c' is not absolute" in out
    assert any(l.startswith(f"{f}:4: h: async") for l in out)
    assert f"{f}:4: unknown option 'no_subtre_check' (did you mean 'no_subtree_check'?)" in out
    assert f"{f}:5: bad value for anonuid: 'nobody'" in out
    assert "rw is exported to everyone" not in proc.stdout    # /b ends ro: the later option wins


def test_later_option_wins_and_dash_defaults_apply_to_the_line():
    (e,) = ex.parse("/srv -rw,async a b(ro,sync)\n")
    a, b = e.clients
    assert (a.effective["access"], a.effective["sync"]) == ("rw", "async")
    assert (b.effective["access"], b.effective["sync"]) == ("ro", "sync")
    (e,) = ex.parse("/srv h(rw,ro)\n")
    assert e.clients[0].effective["access"] == "ro"


def test_unreadable_file_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, str(SNIPPET), str(tmp_path / "missing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


# no two of these set the same setting, none is risky (no rw, async, no_root_squash)
SAFE = ["ro", "sync", "root_squash", "no_subtree_check", "secure", "hide",
        "all_squash", "no_wdelay", "crossmnt", "no_acl", "anonuid=65534", "fsid=0", "sec=krb5p"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9.-]{0,12}|10\.\d{1,3}\.0\.0/16", fullmatch=True),
                          st.lists(st.sampled_from(SAFE), min_size=1, max_size=5, unique=True)),
                min_size=1, max_size=4),
       st.from_regex(r"/[a-z0-9/_]{0,20}", fullmatch=True))
def test_generated_safe_lines_parse_back_and_lint_clean(clients, path):
    """Any line built only from safe, non-conflicting options parses to what was written."""
    line = path + " " + " ".join(f"{h}({','.join(o)})" for h, o in clients) + "\n"
    (e,) = ex.parse(line)
    assert e.path == path
    assert [(c.host, c.options) for c in e.clients] == clients
    assert ex.lint(line) == []


@given(st.sampled_from(sorted(ex.OPTION_SETTING)), st.text("xyz_", min_size=1, max_size=3))
def test_misspelled_options_are_flagged(opt, junk):
    bad = opt + junk
    msgs = messages(f"/srv h({bad})\n")
    assert any(m.startswith(f"unknown option {bad!r}") for m in msgs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(ex.OPTION_SETTING)), min_size=1, max_size=6))
def test_contradictions_are_exactly_two_values_for_one_setting(options):
    """Hand rule: a setting asked for two different values (synonyms count as one) is a contradiction."""
    by_setting: dict[str, set[str]] = {}
    for o in options:
        by_setting.setdefault(ex.OPTION_SETTING[o], set()).add(ex.CANONICAL.get(o, o))
    expected = sum(1 for values in by_setting.values() if len(values) > 1)
    msgs = [m for m in messages(f"/srv h({','.join(options)})\n") if "contradictory" in m]
    assert len(msgs) == expected
    (e,) = ex.parse(f"/srv h({','.join(options)})\n")
    last = {ex.OPTION_SETTING[o]: ex.CANONICAL.get(o, o) for o in options}     # later wins
    assert all(e.clients[0].effective[k] == v for k, v in last.items())


def test_synonyms_are_not_contradictions():
    assert messages("/srv h(ro,insecure_locks,no_auth_nlm)\n") == []
    assert "h: contradictory options insecure_locks and secure_locks (the later one wins)" in \
        messages("/srv h(ro,secure_locks,insecure_locks)\n")
