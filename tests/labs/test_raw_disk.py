"""Lab: take a loop device from raw to mounted, and check what each step wrote.

Runs the commands of docs/disks/raw-disk.md as root on an image file in a temp
dir: sfdisk -> partx -a -> mkfs.ext4 -> mount -> write -> df -> umount.
"""
from __future__ import annotations

import json
import re
import struct


from labkit import loop_device, make_image, mounted, need_tools, run
import rawdisk



def test_raw_disk_to_mounted_filesystem_writes_the_expected_bytes(tmp_path):
    need_tools("sfdisk", "mkfs.ext4", "blkid", "dumpe2fs", "df")
    img = make_image(tmp_path / "disk.img", 64 * 1024 * 1024)
    with open(img, "rb") as f:
        assert f.read(512) == bytes(512), "a new image is all zeros"

    with loop_device(img) as dev:
        run(["sfdisk", dev], input="label: dos\nstart=2048, type=83\n")
        run(["partx", "-a", dev], check=False)  # the loop_device fixture may have run before the table existed
        part = dev + "p1"
        # step 1 wrote the MBR: signature at byte 510, one entry at byte 446
        with open(img, "rb") as f:
            sector0 = f.read(512)
        assert sector0[510:512] == b"\x55\xaa"
        assert rawdisk.read_mbr(sector0) == [
            {"slot": 1, "boot": False, "type": "0x83", "start_lba": 2048, "sectors": 131072 - 2048}]
        # sfdisk reads the same table back
        table = json.loads(run(["sfdisk", "-J", dev]).stdout)["partitiontable"]
        assert (table["partitions"][0]["start"], table["partitions"][0]["size"]) == (2048, 129024)

        # step 2: mkfs writes the superblock; magic 0xEF53 at partition offset 1080
        run(["mkfs.ext4", "-q", "-F", "-L", "mydata", part])
        with open(img, "rb") as f:
            f.seek(2048 * 512 + 1080)
            assert struct.unpack("<H", f.read(2))[0] == 0xEF53
        ours = rawdisk.inspect(str(img))["filesystems"][1]
        blkid = run(["blkid", "-o", "export", part]).stdout
        assert f"UUID={ours['uuid']}" in blkid.splitlines()
        assert "LABEL=mydata" in blkid.splitlines()

        # step 3: mount, write, df; the Size-Used-Avail gap is reserved blocks + s_resv_clusters
        with mounted(part, tmp_path / "mnt") as mnt:
            (mnt / "hello.txt").write_text("hello\n")
            run(["sync"])
            fields = run(["df", "-B1", "--output=size,used,avail", str(mnt)]).stdout.split("\n")[1].split()
            size, used, avail = map(int, fields)
            head = run(["dumpe2fs", "-h", part]).stdout
            blocks = int(re.search(r"^Block count:\s+(\d+)", head, re.M).group(1))
            reserved = int(re.search(r"^Reserved block count:\s+(\d+)", head, re.M).group(1))
            bsize = int(re.search(r"^Block size:\s+(\d+)", head, re.M).group(1))
            assert reserved == blocks * 5 // 100            # mke2fs -m 5 default
            resv_clusters = min(blocks // 50, 4096)         # ext4_calculate_resv_clusters()
            assert size - used - avail == (reserved + resv_clusters) * bsize
            assert (mnt / "hello.txt").read_text() == "hello\n"
        # after umount the file is on the image: mount again read-only and read it
        with mounted(part, tmp_path / "mnt2", "ro") as mnt:
            assert (mnt / "hello.txt").read_text() == "hello\n"
