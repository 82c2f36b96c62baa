"""Lab for docs/disks/lvm-on-disk.md: PV and VG on loop devices, in an LVM sandbox.

Everything runs with LVM_SYSTEM_DIR in tmp_path and `--devices` naming only
our loop devices (tests/labs/disks_fixtures.py), so the host's LVM is not
read or changed.
* pvcreate/vgcreate work; `pvck --dump headers` shows the label in sector 1
  ("LABELONE", "LVM2 001"), the metadata area at 4 KiB and the data area
  (pe_start) at 1 MiB; `vgcfgbackup -f` writes the text metadata;
* a plain `lvcreate` fails: this kernel has no device-mapper;
* `lvcreate --driverloaded n -an -Zn` writes LV metadata without activating,
  and the extents it allocates match snippets/lvm.py.
"""
from __future__ import annotations

import re
from pathlib import Path


import lvm
from disks_fixtures import lvm_sandbox
from labkit import loop_device, make_image, need_tools


MiB = 1 << 20


def test_pv_vg_on_loops_label_metadata_and_lvcreate_without_device_mapper(tmp_path):
    need_tools("pvcreate", "vgcreate", "lvcreate", "pvck", "vgcfgbackup")
    a = make_image(tmp_path / "pv1.img", 64 * MiB)
    b = make_image(tmp_path / "pv2.img", 64 * MiB)
    vg = "labvg" + tmp_path.name[-6:].replace("-", "").replace(".", "")
    hints = Path("/run/lvm/hints")
    hints_before = hints.stat().st_mtime_ns if hints.exists() else None
    with loop_device(a, partitions=False) as da, loop_device(b, partitions=False) as db, \
            lvm_sandbox(tmp_path / "lvm", [da, db]) as lv:
        assert "successfully created" in lv("pvcreate", da, db).stdout
        lv.vgs.append(vg)
        assert f'Volume group "{vg}" successfully created' in lv("vgcreate", "-s", "4M", vg, da, db).stdout

        pvs = lv("pvs", "--noheadings", "--units", "m", "-o", "pv_name,vg_name,pv_size,pe_start").stdout
        rows = sorted(line.split() for line in pvs.splitlines())
        assert rows == [[da, vg, "60.00m", "1.00m"], [db, vg, "60.00m", "1.00m"]]
        info = lv("vgdisplay", vg).stdout
        assert re.search(r"PE Size\s+4\.00 MiB", info) and re.search(r"Total PE\s+30", info)
        assert lvm.VG(4 * MiB, [64 * MiB, 64 * MiB]).extent_count == 30

        dump = lv.direct("pvck", "--dump", "headers", da).stdout
        for fact in ("label_header at 512", "label_header.id LABELONE", "label_header.type LVM2 001",
                     "pv_header.device_size 67108864", "pv_header.disk_locn[0].offset 1048576",
                     "mda_header_1 at 4096 # metadata area", f"# vgname {vg} seqno 1"):
            assert fact in dump, fact
        with open(a, "rb") as f:                         # the label really is in sector 1
            f.seek(512)
            assert f.read(8) == b"LABELONE"

        backup = tmp_path / "vg.txt"
        assert "successfully backed up" in lv("vgcfgbackup", "-f", str(backup), vg).stdout
        text = backup.read_text()
        assert "extent_size = 8192" in text              # in 512-byte sectors: 4 MiB
        assert text.count("pe_start = 2048") == 2 and text.count("pe_count = 15") == 2
        assert (tmp_path / "lvm" / "backup" / vg).is_file(), "automatic backup stayed in the sandbox"
        assert not Path("/etc/lvm/backup", vg).exists()

        fail = lv("lvcreate", "-L", "10M", "-n", "lv1", vg, check=False)
        assert fail.returncode != 0
        assert "striped: Required device-mapper target(s) not detected in your kernel." in fail.stderr
        assert "/dev/mapper/control: open failed: No such device" in fail.stderr

        # metadata-only LVs: the extent arithmetic of lvcreate, without device-mapper
        model = lvm.VG(4 * MiB, [64 * MiB, 64 * MiB])
        out = lv("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "10M", "-n", "lv1", vg)
        assert "Rounding up size to full physical extent 12.00 MiB" in out.stdout
        assert model.lvcreate("-L 10M") == 3
        lv("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-l", "50%VG", "-n", "lv2", vg)
        assert model.lvcreate("-l 50%VG") == 15
        lv("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-l", "100%FREE", "-n", "lv3", vg)
        assert model.lvcreate("-l 100%FREE") == 12
        lvs = lv("lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size", vg).stdout
        assert dict(line.split() for line in lvs.splitlines()) == {
            "lv1": str(3 * 4 * MiB), "lv2": str(15 * 4 * MiB), "lv3": str(12 * 4 * MiB)}
        attrs = lv("lvs", "--noheadings", "-o", "lv_attr", vg).stdout.split()
        assert attrs == ["-wi-XX----"] * 3, "state unknown: no device-mapper to ask"
        ranges = lv("lvs", "--noheadings", "-o", "lv_name,seg_pe_ranges", vg).stdout
        assert sorted(line.split() for line in ranges.splitlines()) == [
            ["lv1", f"{da}:0-2"], ["lv2", f"{db}:0-14"], ["lv3", f"{da}:3-14"]]
        full = lv("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "4M", "-n", "lv4", vg, check=False)
        assert full.returncode != 0
        assert f'Volume group "{vg}" has insufficient free space (0 extents): 1 required.' in full.stderr
    # the host's hint file was not touched (hints = "none" in the sandbox)
    assert (hints.stat().st_mtime_ns if hints.exists() else None) == hints_before
    # the sandbox removed the VG and wiped the labels; the loops are detached
    with open(a, "rb") as f:
        f.seek(512)
        assert f.read(8) != b"LABELONE"
