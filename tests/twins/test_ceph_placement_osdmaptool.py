"""Twin: snippets/ceph_placement.py against osdmaptool (Ceph 16.2).

For each case an OSD map is built the way osdmaptool allows
(``--createsimple N --pg-bits B --pgp-bits P --osd_pool_default_size S``, so
pool 1 has pg_num = N * 2^B, usually not a power of two), a random CRUSH map
from tests/twins/crush_gen.py is imported into it, and then

* every object name (ASCII, UTF-8 Chinese/Cyrillic/emoji, lengths around the
  12-byte blocks of the hash) must give the line that
  ``osdmaptool --mark-up-in --test-map-object NAME --pool 1`` prints;
* every PG of the pool must map to the OSDs of ``--test-map-pgs-dump``.

One case is a legacy pool without the ``hashpspool`` flag (osdmaptool
honours ``--osd_pool_default_flag_hashpspool=false``), where the CRUSH input
is PG number + pool id.  RADOS namespaces and locator keys cannot be tested
here: ``osdmaptool --test-map-object`` has no option for them (16.2.15
``osdmaptool --help``: ``--test-map-object <objectname> [--pool <poolid>]``).

``--mark-up-in`` is needed (a fresh map has every OSD down and out), and it
also sets the crush weight of OSDs of weight 0 to 1.0, so the maps here have
no zero device weights; the test checks that the crush map osdmaptool uses is
the one the snippet reads.
"""
from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ceph_placement
import crush
import crush_gen

pytestmark = pytest.mark.twin
SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "ceph_placement.py"
ALPHABETS = ["abcdefghijklmnopqrstuvwxyz", "ABCXYZ0123456789_.-", "数据对象归置组", "объект",
             "é ü ß", "🙂🐙", "rbd_data.", "'\" /"]


def object_names(rng: random.Random, n: int) -> list[str]:
    names = ["foo", "a", "rbd_header.10226b8b4567", "rbd_data.10226b8b4567.0000000000000000",
             "x" * 11, "x" * 12, "x" * 13, "y" * 24, "z" * 25, "对象", "héllo wörld"]
    while len(names) < n:
        length = rng.randint(1, 40)
        alpha = "".join(rng.sample(ALPHABETS, 2))
        names.append("".join(rng.choice(alpha) for _ in range(length)))
    return names


# (seed, device classes?, pg bits, pgp bits, pool size, hashpspool)
CASES = [(302, True, 0, 0, 3, True), (404, False, 2, 1, 3, True), (505, True, 3, 3, 2, True),
         (606, False, 1, 1, 4, True),
         # a legacy pool without hashpspool (osd_pool_default_flag_hashpspool=false)
         (808, False, 2, 1, 3, False)]


def build_osdmap(workdir: Path, seed: int, classes: bool, pg_bits: int, pgp_bits: int,
                 size: int, hashpspool: bool = True):
    rng = random.Random(seed)
    text, _ = crush_gen.generate(rng, classes=classes)
    # osdmaptool --mark-up-in gives every OSD of crush weight 0 the weight 1.0
    # (observed with 16.2.15), so zero device weights are left out here; the
    # CRUSH twin covers them.
    text = re.sub(r"(item osd\.\d+ weight )0\.0+(?![0-9])", r"\g<1>0.250", text)
    binp, txt = crush_gen.compile_map(text, workdir, f"p{seed}")
    cmap = crush.CrushMap.parse(txt.read_text())
    osdmap = workdir / f"osdmap{seed}"
    subprocess.run(["osdmaptool", "--createsimple", str(cmap.max_devices), str(osdmap),
                    "--with-default-pool", "--pg-bits", str(pg_bits), "--pgp-bits", str(pgp_bits),
                    f"--osd_pool_default_size={size}", "--clobber",
                    f"--osd_pool_default_flag_hashpspool={str(hashpspool).lower()}"],
                   check=True, capture_output=True, text=True)
    subprocess.run(["osdmaptool", str(osdmap), "--import-crush", str(binp)],
                   check=True, capture_output=True, text=True)
    effective = workdir / f"eff{seed}.bin"
    subprocess.run(["osdmaptool", str(osdmap), "--mark-up-in", "--export-crush", str(effective)],
                   check=True, capture_output=True, text=True)
    decompiled = subprocess.run(["crushtool", "-d", str(effective)], check=True,
                                capture_output=True, text=True).stdout
    strip = lambda t: [ln for ln in t.splitlines() if "# weight" not in ln]  # noqa: E731
    assert strip(decompiled) == strip(txt.read_text()), "osdmaptool changed the crush map"
    printed = subprocess.run(["osdmaptool", str(osdmap), "--print"], check=True,
                             capture_output=True, text=True).stdout
    pool = re.search(r"pool 1 .* size (\d+) .* crush_rule (\d+) .* pg_num (\d+) pgp_num (\d+)", printed)
    assert pool, printed
    pool_line = next(ln for ln in printed.splitlines() if ln.startswith("pool 1 "))
    assert ("flags hashpspool" in pool_line) == hashpspool, pool_line
    pool_size, rule, pg_num, pgp_num = map(int, pool.groups())
    assert (pool_size, rule) == (size, 0)
    assert pg_num == cmap.max_devices << pg_bits and pgp_num == cmap.max_devices << pgp_bits
    return osdmap, txt, cmap, pg_num, pgp_num


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("osdmaps")


@pytest.mark.parametrize("seed,classes,pg_bits,pgp_bits,size,hashpspool", CASES)
def test_object_names_map_like_osdmaptool(workdir, seed, classes, pg_bits, pgp_bits, size,
                                          hashpspool):
    osdmap, txt, cmap, pg_num, pgp_num = build_osdmap(workdir, seed, classes, pg_bits, pgp_bits,
                                                      size, hashpspool)
    names = object_names(random.Random(seed), 120)
    for name in names:
        ref = subprocess.run(["osdmaptool", str(osdmap), "--mark-up-in", "--test-map-object", name,
                              "--pool", "1"], check=True, capture_output=True, text=True).stdout
        ours = ceph_placement.map_object(cmap, name, 1, pg_num, size, 0, pgp_num, hashpspool)
        assert ours == ref.splitlines()[-1], name


@pytest.mark.parametrize("seed,classes,pg_bits,pgp_bits,size,hashpspool", CASES)
def test_every_pg_maps_like_osdmaptool(workdir, seed, classes, pg_bits, pgp_bits, size, hashpspool):
    osdmap, txt, cmap, pg_num, pgp_num = build_osdmap(workdir, seed, classes, pg_bits, pgp_bits,
                                                      size, hashpspool)
    dump = subprocess.run(["osdmaptool", str(osdmap), "--mark-up-in", "--test-map-pgs-dump",
                           "--pool", "1"], check=True, capture_output=True, text=True).stdout
    rows = re.findall(r"^1\.([0-9a-f]+)\t\[([0-9,]*)\]", dump, re.M)
    assert len(rows) == pg_num
    for hexps, osds in rows:
        ps = int(hexps, 16)
        expect = [int(o) for o in osds.split(",")] if osds else []
        assert ceph_placement.pg_to_osds(cmap, 0, ps, 1, pgp_num, size, hashpspool) == expect, \
            f"1.{hexps}"


def test_cli_prints_osdmaptool_lines_and_rejects_bad_pg_num(workdir):
    osdmap, txt, cmap, pg_num, pgp_num = build_osdmap(workdir, 707, True, 1, 1, 3)
    names = ["foo", "数据", "rbd_data.1"]
    r = subprocess.run([sys.executable, str(SNIPPET), "--crush", str(txt), "--pool", "1",
                        "--pg-num", str(pg_num), "--size", "3", "--rule", "0", *names],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ref = [subprocess.run(["osdmaptool", str(osdmap), "--mark-up-in", "--test-map-object", n,
                           "--pool", "1"], check=True, capture_output=True,
                          text=True).stdout.splitlines()[-1] for n in names]
    assert r.stdout.splitlines() == ref
    bad = subprocess.run([sys.executable, str(SNIPPET), "--crush", str(txt), "--pool", "1",
                          "--pg-num", "0", "--size", "3", "--rule", "0", "foo"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "pg_num 0 out of range" in bad.stderr
    assert "Traceback" not in bad.stderr
