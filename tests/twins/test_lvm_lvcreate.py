"""Twin: snippets/lvm.py against lvm2's own extent arithmetic.

For seeded random VGs (1-3 PVs of random sizes, extent sizes from 512 KiB to
32 MiB) and random sequences of `-L SIZE`, `-l N%VG`, `-l N%FREE` and `-l N`,
lvm2 2.03.16 allocates LVs in metadata only (`lvcreate --driverloaded n -an
-Zn`: this kernel has no device-mapper) and `lvs` reports their extent
counts; snippets/lvm.py must predict every count, the VG's total, and which
requests fail for lack of space.
"""
from __future__ import annotations

import random

import pytest

import lvm
from disks_fixtures import lvm_sandbox
from labkit import loop_device, make_image, need_root, need_tools

pytestmark = pytest.mark.twin

MiB = 1 << 20
KiB = 1 << 10


def _spec(rng: random.Random) -> tuple[list[str], str]:
    kind = rng.choice(["L", "L", "VG", "FREE", "n"])
    if kind == "L":
        size_k = rng.choice([1, 100, 1000, 4096, 5000, 10 * 1024, 33 * 1024, 70 * 1024])
        return ["-L", f"{size_k}k"], f"-L {size_k}k"
    if kind == "n":
        n = rng.randint(1, 12)
        return ["-l", str(n)], f"-l {n}"
    pct = rng.choice([1, 10, 33, 50, 67, 99, 100])
    return ["-l", f"{pct}%{kind}"], f"-l {pct}%{kind}"


@pytest.mark.parametrize("seed", range(14))
def test_extent_counts_match_lvcreate(tmp_path, seed):
    need_root()
    need_tools("pvcreate", "vgcreate", "lvcreate", "lvs")
    rng = random.Random(seed)
    pe = rng.choice([512 * KiB, 1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 32 * MiB])
    sizes = [rng.choice([8, 13, 40, 64, 100, 131]) * MiB + rng.choice([0, 4096, 777 * 1024])
             for _ in range(rng.randint(1, 3))]
    sizes = [s - s % 512 for s in sizes]
    images = [make_image(tmp_path / f"pv{i}.img", s) for i, s in enumerate(sizes)]
    vg = f"twin{seed}vg"
    with loop_device(images[0], partitions=False) as d0, \
            loop_device(images[-1], partitions=False) as d1, \
            loop_device(images[len(images) // 2], partitions=False) as d2:
        devs = list(dict.fromkeys([d0, d2, d1]))[:len(images)]
        with lvm_sandbox(tmp_path / "lvm", devs) as box:
            box("pvcreate", *devs)
            box.vgs.append(vg)
            box("vgcreate", "-s", f"{pe // KiB}k", vg, *devs)
            model = lvm.VG(pe, sizes)
            total = box("vgs", "--noheadings", "-o", "vg_extent_count", vg).stdout.strip()
            assert int(total) == model.extent_count, (pe, sizes)
            for i in range(6):
                args, spec = _spec(rng)
                res = box("lvcreate", "--driverloaded", "n", "-an", "-Zn", *args, "-n", f"lv{i}", vg,
                          check=False)
                try:
                    predicted = model.lvcreate(spec)
                except ValueError:
                    predicted = None
                if predicted is None:
                    assert res.returncode != 0, (spec, res.stdout)
                    continue
                assert res.returncode == 0, (spec, res.stderr)
                got = box("lvs", "--noheadings", "-o", "seg_size_pe", f"{vg}/lv{i}").stdout.split()
                assert sum(map(int, got)) == predicted, (spec, pe, sizes)
            free = box("vgs", "--noheadings", "-o", "vg_free_count", vg).stdout.strip()
            assert int(free) == model.free_count


def test_edge_cases_zero_percent_and_full_vg(tmp_path):
    """1%VG of 30 extents floors to 0 (refused by both); 100%FREE takes the rest;
    then a full VG refuses -L and %FREE alike."""
    need_root()
    need_tools("pvcreate", "vgcreate", "lvcreate")
    img = make_image(tmp_path / "pv.img", 121 * MiB)              # (121 - 1) / 4 = 30 extents
    with loop_device(img, partitions=False) as dev, lvm_sandbox(tmp_path / "lvm", [dev]) as box:
        box("pvcreate", dev)
        box.vgs.append("edgevg")
        box("vgcreate", "edgevg", dev)
        model = lvm.VG(4 * MiB, [121 * MiB])
        assert model.extent_count == 30
        res = box("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-l", "1%VG", "-n", "z", "edgevg",
                  check=False)
        assert res.returncode != 0, res.stdout
        with pytest.raises(ValueError):
            model.lvcreate("-l 1%VG")
        box("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-l", "100%FREE", "-n", "all", "edgevg")
        assert model.lvcreate("-l 100%FREE") == 30
        for args, spec in ((["-L", "1k"], "-L 1k"), (["-l", "10%FREE"], "-l 10%FREE")):
            res = box("lvcreate", "--driverloaded", "n", "-an", "-Zn", *args, "-n", "more", "edgevg",
                      check=False)
            assert res.returncode != 0
            with pytest.raises(ValueError):
                model.lvcreate(spec)
