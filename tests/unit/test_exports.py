"""snippets/exports.py: parsing per exports(5) and nfs-utils 2.6.2, and the linter's findings.

Expected values are worked out by hand from exports(5) (Debian nfs-kernel-server
1:2.6.2) and from nfs-utils' parser: support/nfs/xio.c (continuations, quotes,
\\ooo escapes, comments), support/nfs/exports.c (getexportent(): '-options',
"(opts)" without a host -> "*", a line without clients -> everyone;
parseopts(): later options win, sec= sections, an error stops the file) and
support/export/client.c (client types, prefixes and netmasks).  The same rules
are checked against the real exportfs in tests/twins/test_exports_exportfs.py.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import exports as ex

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "exports.py"


def messages(text: str) -> list[str]:
    return [m for _, m in ex.lint(text)]


def clients(text: str) -> list[tuple[str, str]]:
    return [(c.host, c.effective["access"]) for e in ex.parse(text) for c in e.clients]


def test_defaults_are_those_of_exports_5():
    (e,) = ex.parse("/srv h(rw)\n")
    eff = e.clients[0].effective
    # exports(5): ro unless rw; sync after 1.0.0; root_squash; no_subtree_check from 1.1.0; secure;
    # wdelay; hide; no_all_squash; auth_nlm (secure_locks); no_pnfs; anonuid/anongid 65534
    assert eff["access"] == "rw"
    assert [eff[k] for k in ("sync", "squash", "subtree", "secure", "wdelay", "all_squash", "hide",
                             "crossmnt", "locks", "acl", "pnfs", "anonuid", "anongid", "sec")] == \
        ["sync", "root_squash", "no_subtree_check", "secure", "wdelay", "no_all_squash", "hide",
         "nocrossmnt", "secure_locks", "acl", "no_pnfs", "65534", "65534", "sys"]
    assert clients("/srv h\n") == [("h", "ro")]


def test_the_man_page_example_parses_as_described():
    text = ("# sample /etc/exports file\n"
            "/               master(rw) trusty(rw,no_root_squash)\n"
            "/projects       proj*.local.domain(rw)\n"
            "/usr            *.local.domain(ro) @trusted(rw)\n"
            "/home/joe       pc001(rw,all_squash,anonuid=150,anongid=100)\n"
            "/pub            *(ro,insecure,all_squash)\n"
            "/srv/www        -sync,rw server @trusted @external(ro)\n"
            "/foo            2001:db8:9:e54::/64(rw) 192.0.2.0/24(rw)\n"
            "/build          buildhost[0-9].local.domain(rw)\n")
    exports = ex.parse(text)
    assert [e.path for e in exports] == ["/", "/projects", "/usr", "/home/joe", "/pub", "/srv/www", "/foo", "/build"]
    assert [e.line for e in exports] == [2, 3, 4, 5, 6, 7, 8, 9]
    trusty = exports[0].clients[1].effective
    assert (trusty["access"], trusty["squash"]) == ("rw", "no_root_squash")
    joe = exports[3].clients[0].effective
    assert (joe["all_squash"], joe["anonuid"], joe["anongid"]) == ("all_squash", "150", "100")
    # "exports a directory read-write to the machine 'server' as well as the '@trusted' netgroup,
    #  and read-only to netgroup '@external', all three mounts with the 'sync' option enabled"
    www = exports[5]
    assert [(c.host, c.effective["access"], c.effective["sync"]) for c in www.clients] == [
        ("server", "rw", "sync"), ("@trusted", "rw", "sync"), ("@external", "ro", "sync")]
    kinds = [ex.client_kind(c.host) for e in exports for c in e.clients]
    assert kinds == ["host", "host", "wildcard", "wildcard", "netgroup", "host", "anonymous",
                     "host", "netgroup", "netgroup", "subnet", "subnet", "wildcard"]
    # the linter: the world gets no rw, but trusty's no_root_squash and pub's options are reported
    msgs = messages(text)
    assert "trusty: no_root_squash lets root on the client act as root on the export" in msgs
    assert not any("rw is exported to everyone" in m for m in msgs)


def test_space_before_parenthesis_gives_the_world_the_options():
    (e,) = ex.parse("/home/joe pc001 (rw)\n")
    assert [(c.host, c.options, c.explicit_host) for c in e.clients] == [
        ("pc001", [], True), ("*", ["rw"], False)]
    assert clients("/home/joe pc001 (rw)\n") == [("pc001", "ro"), ("*", "rw")]
    msgs = messages("/home/joe pc001 (rw)\n")
    assert any("has no host before it" in m and "remove the space after 'pc001'" in m for m in msgs)
    assert "rw is exported to everyone (*)" in msgs


def test_lines_without_clients_export_to_everyone():
    # getexportent(): no word after the path (or after '-options') -> host "" = anonymous
    assert clients("/a\n") == [("", "ro")]
    assert clients("/b -rw,async\n") == [("", "rw")]
    assert clients("/c h(ro) -rw\n") == [("h", "ro"), ("", "rw")]
    msgs = messages("/b -rw,async\n")
    assert "/b: no client named: exportfs exports it to everyone with the line's defaults (-rw,async)" in msgs
    assert "rw is exported to everyone (*)" in msgs


def test_dash_options_add_up_but_two_in_a_row_make_a_host():
    assert clients("/srv a -rw b -ro c\n") == [("a", "ro"), ("b", "rw"), ("c", "ro")]
    (e,) = ex.parse("/srv -rw,async a b(ro,sync)\n")
    a, b = e.clients
    assert (a.effective["access"], a.effective["sync"]) == ("rw", "async")
    assert (b.effective["access"], b.effective["sync"]) == ("ro", "sync")
    assert clients("/srv -rw -async h\n") == [("-async", "rw"), ("h", "rw")]
    assert any("'-async' is taken as a host name" in m for m in messages("/srv -rw -async h\n"))


def test_continuation_quotes_octal_escapes_and_comments():
    text = ('/srv/a\\040b "/srv/c d"x \\\n   h1(rw) # comment h2(rw)\n'
            '/srv/e#f h3(ro)   # a hash inside a word is not a comment\n'
            '# /srv/g h4(rw)\n'
            '/srv/\\134101 "h5(rw, async)"\n')
    exports = ex.parse(text)
    # the second word of line 1 is a client: '"/srv/c d"x' is the host name '/srv/c dx';
    # \\134 becomes a backslash that, with the digits after it, forms \\101 = 'A' (the real exportfs agrees)
    assert [(e.path, e.line, [c.host for c in e.clients]) for e in exports] == [
        ("/srv/a b", 1, ["/srv/c dx", "h1"]), ("/srv/e#f", 3, ["h3"]), ("/srv/A", 5, ["h5"])]
    assert exports[0].clients[1].line == 2          # continued line: the client's own line
    assert exports[2].clients[0].effective["sync"] == "async"   # quoted blank skipped after the comma
    assert ex.etab('"/x y#z" h(rw)\n')[0].startswith("/x\\040y\\043z\th(rw,")


def test_errors_stop_exportfs_reading_the_file():
    text = "/a 10.0.0.1(rw) 10.0.0.2(bogus) 10.0.0.3(ro)\n/b 10.0.0.1(rw)\n"
    with pytest.raises(ValueError, match=r"line 1: 10.0.0.2: unknown option 'bogus'"):
        ex.parse(text)
    assert [l.split("(")[0] for l in ex.etab(text)] == ["/a\t10.0.0.1"]
    msgs = ex.lint(text)
    assert (1, "10.0.0.2: unknown option 'bogus'") in msgs
    assert (1, "exportfs stops reading the file here: nothing after this point is exported") in msgs
    assert (2, "not exported: exportfs stopped reading at line 1") in msgs


@pytest.mark.parametrize("opts, message", [
    ("rw,,ro", "unknown option ''"),
    ("anonuid=nobody", "bad value for anonuid: 'nobody' (accepted: a number)"),
    ("anongid=", "bad value for anongid: '' (accepted: a number)"),
    ("fsid=zz", "bad value for fsid: 'zz' (accepted: a number, root, or a UUID of 32 hex digits)"),
    ("sec=krb5:krb6", "unknown security flavour 'krb6' in 'sec=krb5:krb6' "
                      "(accepted: krb5, krb5i, krb5p, unix, sys, null, none)"),
    ("no_subtre_check", "unknown option 'no_subtre_check' (did you mean 'no_subtree_check'?)"),
    ("rdirplus", "unknown option 'rdirplus' (did you mean 'nordirplus'?)"),     # not in 2.6.2
    ("xprtsec=tls", "unknown option 'xprtsec=tls' (nfs-utils 2.6.2 does not know it; "
                    "it appeared in nfs-utils 2.6.3)"),
    ("squash_uids=-1", "uid/gid -1 not permitted"),
])
def test_option_errors_name_the_problem(opts, message):
    with pytest.raises(ValueError) as info:
        ex.parse(f"/srv h({opts})\n")
    assert str(info.value) == f"line 1: h: {message}"


def test_syntax_errors():
    with pytest.raises(ValueError, match=r"line 2: option list not closed: 'h\(rw'"):
        ex.parse("/a h(ro)\n/srv h(rw\n")
    with pytest.raises(ValueError, match=r"text after the option list: 'h\(rw\)\(ro\)'"):
        ex.parse("/srv h(rw)(ro)\n")
    with pytest.raises(ValueError, match="export path too long"):
        ex.parse("/" + "x" * 1024 + " h(rw)\n")
    assert ex.parse("/" + "x" * 1023 + " h(rw)\n")[0].path == "/" + "x" * 1023


def test_numbers_behave_like_c():
    # strtol/strtoul and 32-bit storage, as exportfs writes them to etab
    (e,) = ex.parse("/s a(anonuid=-1,anongid=+7,fsid=0x10) b(anonuid=4294967296,fsid=010) "
                    "c(anonuid=12345678901,anongid=99999999999999999999,fsid=root) d(fsid=4294967295)\n")
    got = [(c.effective["anonuid"], c.effective["anongid"], c.effective["fsid"]) for c in e.clients]
    # 12345678901 - 2*2**32 = 3755744309 -> -539222987 as an int; 2**64-1 saturates -> -1
    assert got == [("-1", "7", "16"), ("0", "65534", "8"), ("-539222987", "-1", "0"), ("65534", "65534", "-1")]
    assert "a: anonuid=-1 is stored as the 32-bit number -1" not in messages("/s a(anonuid=-1)\n")
    assert "b: anonuid=4294967296 is stored as the 32-bit number 0" in messages("/s b(anonuid=4294967296)\n")
    # a UUID: 32 hex digits, any punctuation
    (e,) = ex.parse("/s h(fsid=12345678-9abc-def0-1234-56789abcdef0)\n")
    assert e.clients[0].effective["uuid"] == "12345678-9abc-def0-1234-56789abcdef0"


def test_sec_sections_and_flavour_flags():
    # exports(5): after sec=, ro/rw/root_squash/all_squash apply to the flavours just listed
    (e,) = ex.parse("/s h(sec=krb5p,rw,sec=sys,ro)\n")
    flav = {f.name: ("ro" if f.flags & 1 else "rw") for f in e.clients[0].entry.flavours}
    assert flav == {"krb5p": "rw", "sys": "ro"}
    assert "rw,root_squash,no_all_squash,sec=sys,ro" in ex.etab("/s h(sec=krb5p,rw,sec=sys,ro)\n")[0]
    assert messages("/s h(sec=krb5p,rw,sec=sys,ro)\n") == []       # not a contradiction
    # sys and unix are one flavour, as are null and none
    (e,) = ex.parse("/s h(sec=sys:unix:null:none:krb5)\n")
    assert [f.name for f in e.clients[0].entry.flavours] == ["sys", "null", "krb5"]
    # a flavour from the line's -sec= keeps the flags it had: rw before any sec= does not reach it
    (e,) = ex.parse("/s -sec=krb5 h(rw)\n")
    assert e.clients[0].effective["access"] == "rw" and e.clients[0].entry.flavours[0].flags & 1
    assert any("rw does not reach sec=krb5 from the line's -options" in m for m in messages("/s -sec=krb5 h(rw)\n"))


@pytest.mark.parametrize("host, kind", [
    ("", "anonymous"), ("*", "anonymous"), ("gss/krb5", "gss"), ("@group", "netgroup"),
    ("*.example.com", "wildcard"), ("host?", "wildcard"), ("[ab]c", "wildcard"), ("10.0.0.*/8", "wildcard"),
    ("10.0.0.0/8", "subnet"), ("2001:db8::/64", "subnet"), ("a\\*b", "host"), ("192.0.2.1", "host"),
    ("2001:db8::1", "host"), ("server.example.com", "host")])
def test_client_kinds_follow_client_gettype(host, kind):
    assert ex.client_kind(host) == kind


def test_subnets_prefixes_and_netmasks():
    assert str(ex.subnet("192.168.0.0/255.255.252.0")) == str(ex.subnet("192.168.0.0/22")) == "192.168.0.0/22"
    assert str(ex.subnet("10.0.0.0/")) == "0.0.0.0/0"        # strtoul("") = 0: everyone
    assert str(ex.subnet("2001:db8::/64")) == "2001:db8::/64"
    assert ex.subnet("10.0.0.0/255.0.255.0") == (bytes([10, 0, 0, 0]), bytes([255, 0, 255, 0]))
    for bad in ("10.0.0.0/33", "10.0.0.0/8x", "10.1/8", "fe80::/129", "10.0.0.0/255.255.0.256"):
        with pytest.raises(ValueError):
            ex.subnet(bad)
    msgs = messages("/s 10.1.2.3/8(ro) 10.0.0.0/33(ro) 10.0.0.0/255.0.255.0(ro) 0.0.0.0/0(rw)\n")
    assert "10.1.2.3/8: the address has host bits set; it means 10.0.0.0/8" in msgs
    assert "invalid prefix '33' in '10.0.0.0/33' (accepted 0..32): exportfs skips this client" in msgs
    assert "10.0.0.0/255.0.255.0: the netmask has holes (not contiguous ones)" in msgs
    assert "rw is exported to everyone (*)" in msgs


def test_duplicates_and_client_identity():
    text = "/s 127.1(rw) 127.0.0.1(ro) host?(rw) HOST?(ro)\n/t 127.0.0.1(rw)\n"
    lines = ex.etab(text)
    assert [l.split("(")[0] for l in lines] == ["/s\t127.1", "/s\thost?", "/t\t127.1"]   # first spelling
    msgs = messages(text)
    assert "127.0.0.1: /s is already exported to this client on line 1; exportfs ignores this entry" in msgs


@pytest.mark.parametrize("host", ["0x", "0X.1", "1.0x", "0x1", "0x7f.1", "017.0.0.1", "08.1", "1.2.3.4.5", "4294967295",
                                  "4294967296", "0xffffffff", "1.16777215", "1.16777216"])
def test_ip_literals_are_those_glibc_inet_aton_accepts(host):
    """An exports client is the same client as another when both are the same address; a host
    that is no IPv4 literal (a bare "0x" is none: fuzzing found it raised ValueError) is a name."""
    import socket
    try:
        want = socket.inet_aton(host)
    except OSError:
        want = None
    assert ex._ipv4(host) == want
    assert ex.client_key(host) == (("ip", want) if want else ("host", host.lower()))


def test_misleading_client_forms_are_reported():
    msgs = messages("/s gss/krb5(rw) gss/foo(ro) [2001:db8::1](rw) 10.0.0.*(ro) @(ro) *.lab(nohide)\n")
    assert "gss/krb5 is the deprecated syntax; use sec=krb5 (exports(5))" in msgs
    assert "gss/foo: unknown gss flavour (exports(5) knows gss/krb5, gss/krb5i, gss/krb5p)" in msgs
    assert "[2001:db8::1]: an IPv6 address in square brackets is read as a wildcard character class" in msgs
    assert "10.0.0.*: wildcards do not work on IP addresses (exports(5)); use address/prefix" in msgs
    assert "'@' without a netgroup name" in msgs
    assert "*.lab: nohide works only on single-host exports (exports(5))" in msgs


def test_each_problem_is_reported_with_file_and_line(tmp_path):
    f = tmp_path / "exports"
    f.write_text("/a 10.0.0.0/8(rw,no_root_squash)\n"
                 "/b *(rw,ro)\n"
                 "c h(ro)\n"
                 "/d h(rw,async)\n"
                 "/e h(anonuid=nobody)\n")
    proc = subprocess.run([sys.executable, str(SNIPPET), str(f)], capture_output=True, text=True)
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert f"{f}:1: 10.0.0.0/8: no_root_squash lets root on the client act as root on the export" in out
    assert f"{f}:2: *: contradictory options ro and rw (the later one wins)" in out
    assert f"{f}:3: export path 'c' is not absolute" in out
    assert any(l.startswith(f"{f}:4: h: async") for l in out)
    assert f"{f}:5: h: bad value for anonuid: 'nobody' (accepted: a number)" in out
    assert "rw is exported to everyone" not in proc.stdout    # /b ends ro: the later option wins


def test_clean_file_has_no_problems_and_exit_status_0(tmp_path):
    f = tmp_path / "exports"
    f.write_text("# comment\n\n/srv/nfs 192.168.1.0/24(rw,sync,no_subtree_check) \\\n"
                 "    *.lab.example(ro)\n\"/srv/with space\" 10.0.0.1(ro,sec=krb5p:krb5i)\n")
    assert ex.lint(f.read_text()) == []
    proc = subprocess.run([sys.executable, str(SNIPPET), str(f)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    etab = subprocess.run([sys.executable, str(SNIPPET), "--etab", str(f)], capture_output=True, text=True)
    assert etab.returncode == 0 and etab.stdout.splitlines()[2].startswith(
        "/srv/with\\040space\t10.0.0.1(ro,sync,wdelay,hide,nocrossmnt,secure,root_squash,")


def test_unreadable_file_exits_2_without_traceback(tmp_path):
    for target in (tmp_path / "missing", tmp_path):
        proc = subprocess.run([sys.executable, str(SNIPPET), str(target)], capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.startswith("exports.py: cannot read")
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1


# no two of these set the same setting, none is risky (no rw, async, no_root_squash)
SAFE = ["ro", "sync", "root_squash", "no_subtree_check", "secure", "hide",
        "all_squash", "no_wdelay", "crossmnt", "no_acl", "anonuid=65534", "fsid=0", "sec=krb5p"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9-]{0,8}(\.[a-z][a-z0-9-]{0,8}){0,2}|10\.([0-9]|[1-9][0-9])\.0\.0/16",
                                                        fullmatch=True),
                          st.lists(st.sampled_from(SAFE), min_size=1, max_size=5, unique=True)),
                min_size=1, max_size=4, unique_by=lambda t: t[0]),
       st.from_regex(r"/[a-z0-9/_]{0,20}", fullmatch=True))
def test_generated_safe_lines_parse_back_and_lint_clean(hosts, path):
    """Any line built only from safe, non-conflicting options parses to what was written."""
    line = path + " " + " ".join(f"{h}({','.join(o)})" for h, o in hosts) + "\n"
    (e,) = ex.parse(line)
    assert e.path == path
    assert [(c.host, c.options) for c in e.clients] == hosts
    assert ex.lint(line) == []


@given(st.sampled_from(sorted(ex.FLAG_OPTIONS)), st.text("xyz_", min_size=1, max_size=3))
def test_misspelled_options_are_flagged(opt, junk):
    bad = opt + junk
    assert any(m.startswith(f"h: unknown option {bad!r}") for m in messages(f"/srv h({bad})\n"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(ex.FLAG_OPTIONS)), min_size=1, max_size=6))
def test_contradictions_are_exactly_two_values_for_one_setting(options):
    """Hand rule: a setting asked for both values (synonyms count as one) is a contradiction."""
    by_setting: dict[str, set[bool]] = {}
    for o in options:
        setting, on = ex.FLAG_OPTIONS[o]
        by_setting.setdefault(setting, set()).add(on)
    expected = sum(1 for values in by_setting.values() if len(values) > 1)
    msgs = [m for m in messages(f"/srv h({','.join(options)})\n") if "contradictory" in m]
    assert len(msgs) == expected
    (e,) = ex.parse(f"/srv h({','.join(options)})\n")
    last = {ex.FLAG_OPTIONS[o][0]: ex.FLAG_OPTIONS[o][1] for o in options}     # later wins
    for setting, on in last.items():
        bit = ex.SETTINGS[setting][0]
        assert bool(e.clients[0].entry.flags & bit) == on


def test_synonyms_are_not_contradictions():
    assert messages("/srv h(ro,insecure_locks,no_auth_nlm)\n") == []
    assert "h: contradictory options insecure_locks and secure_locks (the later one wins)" in \
        messages("/srv h(ro,secure_locks,insecure_locks)\n")


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from(list('/ab(),-="#\\\n\t 0\x00*@:')), max_size=60))
def test_any_text_parses_or_fails_with_a_line_number(text):
    """Garbage never crashes the parser: a ValueError naming the line, or exports."""
    try:
        exports = ex.parse(text)
    except ValueError as exc:
        assert str(exc).startswith("line ")
    else:
        assert all(e.line >= 1 for e in exports)
    ex.lint(text)
    ex.etab(text)
