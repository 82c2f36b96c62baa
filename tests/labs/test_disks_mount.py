"""Lab for docs/disks/mount.md and docs/disks/usage.md: mount by LABEL, PARTLABEL and UUID.

A GPT image whose partition 1 is named (PARTLABEL) and whose ext4 is
labelled (LABEL) with the same name, attached to a loop device:
* `mount LABEL=...` and `mount PARTLABEL=...` find the same partition;
* a temporary fstab with UUID= passes `findmnt --verify --tab-file`, and
  `mount -T FILE TARGET` / `mount --fstab FILE TARGET` mount from it;
* `nofail` makes mount succeed silently when the device is missing, and
  without it mount fails with "can't find UUID=...";
* df -B1 on the mount equals snippets/dfcalc.py on the same mount;
* the static linter and findmnt --verify both flag a duplicated mount point.
"""
from __future__ import annotations

import re
import uuid


import dfcalc
import fstab
from disks_fixtures import unique_label
from labkit import loop_device, make_image, mounted, need_tools, run


DF_ARGS = ["df", "-B1", "--output=size,used,avail,pcent,itotal,iused,iavail,ipcent"]


def test_label_partlabel_uuid_fstab_and_df(tmp_path):
    need_tools("sgdisk", "mkfs.ext4", "blkid", "findmnt", "mount", "df")
    name = unique_label()
    img = make_image(tmp_path / "disk.img", 64 << 20)
    run(["sgdisk", "-o", "-n", "1:2048:0", "-c", f"1:{name}", "-t", "1:8300", str(img)])
    target = tmp_path / "data"
    target.mkdir()
    with loop_device(img) as dev:
        run(["partx", "-a", dev], check=False)
        part = dev + "p1"
        run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", "-L", name, part])

        # blkid shows both names: LABEL (in the ext4 superblock) and PARTLABEL (in the GPT entry)
        tags = dict(line.split("=", 1) for line in
                    run(["blkid", "-o", "export", part]).stdout.split())
        assert tags["LABEL"] == name and tags["PARTLABEL"] == name
        assert tags["TYPE"] == "ext4"
        fs_uuid, part_uuid = tags["UUID"], tags["PARTUUID"]
        assert fs_uuid != part_uuid, "filesystem UUID and partition UUID are different things"

        # mount by each tag; findmnt shows the same source partition every time
        for tag in (f"LABEL={name}", f"PARTLABEL={name}", f"UUID={fs_uuid}", f"PARTUUID={part_uuid}"):
            with mounted(tag, target):
                src = run(["findmnt", "-n", "-o", "SOURCE", str(target)]).stdout.strip()
                assert src == part, (tag, src)

        # a temporary fstab, verified and used without touching /etc/fstab
        tab = tmp_path / "fstab"
        tab.write_text(f"UUID={fs_uuid}  {target}  ext4  defaults,nofail  0  2\n")
        verify = run(["findmnt", "--verify", "--verbose", "--tab-file", str(tab)])
        assert f"UUID={fs_uuid} translated to {part}" in verify.stdout
        assert "Success, no errors or warnings detected" in verify.stdout
        assert fstab.lint(tab.read_text()) == []

        for how in (["mount", "-T", str(tab), str(target)],
                    ["mount", "--fstab", str(tab), str(target)]):
            run(how)
            try:
                out = run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", str(target)]).stdout.split()
                assert out == [part, "ext4"]
                # df -B1 and our statvfs arithmetic, byte for byte, on the same mount
                (target / "f").write_bytes(b"x" * 100_000)
                run(["sync"])
                df = run(DF_ARGS + [str(target)]).stdout.rstrip("\n")
                assert dfcalc.format_table([dfcalc.figures_of(str(target))]) == df
                row = dfcalc.figures_of(str(target))
                # the gap Size - Used - Avail: 5 % reserved blocks + s_resv_clusters (docs/disks/usage.md)
                head = run(["dumpe2fs", "-h", part]).stdout
                blocks = int(re.search(r"^Block count:\s+(\d+)", head, re.M).group(1))
                reserved = int(re.search(r"^Reserved block count:\s+(\d+)", head, re.M).group(1))
                assert reserved == blocks * 5 // 100
                assert row.reserved == (reserved + min(blocks // 50, 4096)) * 1024
            finally:
                run(["umount", str(target)])


def test_nofail_hides_a_missing_device(tmp_path):
    need_tools("mount", "findmnt")
    missing = str(uuid.uuid4())
    target = tmp_path / "data"
    target.mkdir()
    tab = tmp_path / "fstab"
    tab.write_text(f"UUID={missing}  {target}  ext4  defaults,nofail  0  2\n")
    ok = run(["mount", "-T", str(tab), str(target)], check=False)
    assert ok.returncode == 0, "nofail: mount reports success"
    assert run(["findmnt", str(target)], check=False).returncode == 1, "...but nothing is mounted"

    tab.write_text(f"UUID={missing}  {target}  ext4  defaults  0  2\n")
    bad = run(["mount", "-T", str(tab), str(target)], check=False)
    assert bad.returncode != 0
    assert f"can't find UUID={missing}" in bad.stderr

    verify = run(["findmnt", "--verify", "--tab-file", str(tab)], check=False)
    assert verify.returncode != 0
    assert f"unreachable on boot required source: UUID={missing}" in verify.stdout


def test_linter_and_findmnt_both_flag_a_duplicate_mount_point(tmp_path):
    need_tools("findmnt")
    tab = tmp_path / "fstab"
    tab.write_text("tmpfs  /srv/a  tmpfs  defaults  0 0\n"
                   "tmpfs  /srv/a  tmpfs  defaults  0 0\n"
                   "/dev/sdb1  /srv/b  ext4  defaults  0 2\n")
    verify = run(["findmnt", "--verify", "--tab-file", str(tab)], check=False).stdout
    assert "[W] target specified more than once" in verify
    ours = [str(i) for i in fstab.lint(tab.read_text())]
    assert "2: error: mount point /srv/a already used on line 1" in ours
    assert any(re.match(r"3: warning: /dev/sdb1 is a kernel name", i) for i in ours)
