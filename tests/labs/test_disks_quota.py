"""Lab for docs/disks/quota.md: quota accounting on ext4 with external quota files.

* mount with usrquota,grpquota; `quotacheck -cug` creates aquota.user and
  aquota.group and counts what each user owns;
* `setquota` writes limits, `repquota` and `quota` report them: a user over
  the soft limit gets `+-` and a grace period;
* `quotaon` fails on this kernel ("Quota format not supported in kernel."),
  so enforcement cannot be shown here; and a filesystem with the ext4
  `quota` feature does not even mount (the kernel lacks CONFIG_QFMT_V2).
"""
from __future__ import annotations


from disks_fixtures import ext4_image
from labkit import loop_device, mounted, need_tools, run


NOBODY = 65534


def test_quotacheck_setquota_repquota_and_quotaon_refused(tmp_path):
    need_tools("quotacheck", "setquota", "repquota", "quota", "quotaon")
    img = ext4_image(tmp_path / "q.img", 64 << 20)
    with loop_device(img, partitions=False) as dev, \
            mounted(dev, tmp_path / "mnt", "usrquota", "grpquota") as mnt:
        opts = run(["findmnt", "-n", "-o", "OPTIONS", str(mnt)]).stdout.strip().split(",")
        assert {"usrquota", "grpquota"} <= set(opts)

        run(["quotacheck", "-cug", str(mnt)])
        assert (mnt / "aquota.user").is_file() and (mnt / "aquota.group").is_file()

        # 3 MiB owned by an ordinary user (nobody), then counted again: usage is
        # charged to the owner, so writing as root and chown-ing counts the same
        home = mnt / "home"
        home.mkdir()
        (home / "f").write_bytes(bytes(3 << 20))
        run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(home)])
        run(["sync"])
        run(["quotacheck", "-ug", str(mnt)])

        # soft 2048 KiB, hard 4096 KiB, 10 / 20 inodes
        run(["setquota", "-u", "nobody", "2048", "4096", "10", "20", str(mnt)])
        rep = run(["repquota", "-u", str(mnt)]).stdout
        row = next(line.split() for line in rep.splitlines() if line.startswith("nobody"))
        # flags, used KiB (3 MiB of data + 1 KiB directory block), soft, hard, grace, files...
        assert row[:6] == ["nobody", "+-", "3073", "2048", "4096", "7days"]
        assert row[6:9] == ["2", "10", "20"]
        assert "Block grace time: 7days; Inode grace time: 7days" in rep

        q = run(["quota", "-u", "nobody"], check=False).stdout
        assert "3073*" in q, "quota marks the exceeded limit with *"

        on = run(["quotaon", "-v", str(mnt)], check=False)
        assert on.returncode != 0
        assert "Quota format not supported in kernel." in on.stderr
        assert "external quota files on ext4 are deprecated" in on.stderr
        state = run(["quotaon", "-p", str(mnt)], check=False).stdout
        assert f"user quota on {mnt} ({dev}) is off" in state


def test_ext4_quota_feature_needs_kernel_support(tmp_path):
    need_tools("mkfs.ext4", "dumpe2fs")
    img = ext4_image(tmp_path / "q2.img", 64 << 20, "-O", "quota", "-E", "quotatype=usrquota:grpquota")
    head = run(["dumpe2fs", "-h", str(img)]).stdout
    assert "User quota inode:         3" in head and "Group quota inode:        4" in head
    with loop_device(img, partitions=False) as dev:
        target = tmp_path / "mnt"
        target.mkdir()
        res = run(["mount", dev, str(target)], check=False)
        if res.returncode == 0:                  # a kernel with quota support: undo, then fail loudly
            run(["umount", str(target)])
        assert res.returncode == 32, "this kernel mounts ext4 with the quota feature"
        assert "wrong fs type, bad option, bad superblock" in res.stderr
        assert "The kernel was not built with CONFIG_QUOTA and CONFIG_QFMT_V2" in run(["dmesg"]).stdout
