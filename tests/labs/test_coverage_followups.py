"""Labs for follow-up answers added from the coverage audit (COVERAGE.md).

* docs/disks/usage.md, "ext4 和 XFS 怎么选": inside an XFS on a loop device, an
  8191 PiB sparse file takes an XFS geometry from `mkfs.xfs -N` (nothing is
  written) of 2251524935778304 4 KiB blocks in 8387585 AGs of 2^28 - 1 blocks,
  and an 8192 PiB file (2^63 bytes) cannot be made: the lines on the page.
* docs/virtualization/host-tuning.md, static huge pages vs THP: the page's own
  thp_demo.py gets huge pages only where the THP mode allows it (madvise: only
  the madvise'd mapping; always: both; never: neither).
* docs/virtualization/index.md, cloud-init: a NoCloud seed made with xorriso has
  the volume label cidata (blkid); virt-install --cloud-init --print-xml on the
  libvirt test driver prints a first-boot XML with the generated ISO in the
  CD-ROM and a second XML with the CD-ROM empty, and removes the ISO.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


from labkit import loop_device, make_image, mounted, need_tools, run
from pagekit import find_run, page_fences


ROOT = Path(__file__).resolve().parents[2]
USAGE = ROOT / "docs" / "disks" / "usage.md"
VIRT = ROOT / "docs" / "virtualization" / "index.md"
TUNING = ROOT / "docs" / "virtualization" / "host-tuning.md"


def _output_after(page: Path, command: str) -> list[str]:
    """The output lines the page shows under `command` in a console block."""
    return list(find_run(page_fences(page), command).output_lines)


def test_xfs_geometry_for_8191_pib_and_off_t_limit(tmp_path):
    need_tools("mkfs.xfs", "truncate")
    img = make_image(tmp_path / "host.img", 512 << 20)
    run(["mkfs.xfs", "-q", str(img)])
    with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / "mnt"):
        run(["truncate", "-s", "8191P", "mnt/big.img"], cwd=tmp_path)
        out = subprocess.run("mkfs.xfs -N mnt/big.img | grep -E 'agcount|blocks='", shell=True,
                             cwd=tmp_path, capture_output=True, text=True, check=True).stdout
        assert out.splitlines() == _output_after(USAGE, "mkfs.xfs -N mnt/big.img | grep -E 'agcount|blocks='")
        assert "blocks=2251524935778304," in out and 2251524935778304 == 8191 * 2**50 // 4096
        assert "agcount=8387585, agsize=268435455 blks" in out and 268435455 == 2**28 - 1
        r = subprocess.run(["truncate", "-s", "8192P", "mnt/big2.img"], cwd=tmp_path,
                           capture_output=True, text=True)
        assert r.returncode != 0
        plain = str.maketrans("\u2018\u2019", "''")   # coreutils quotes with ‘’ only in UTF-8 locales
        assert (r.stderr.strip().translate(plain)
                == _output_after(USAGE, "truncate -s 8192P mnt/big2.img")[0].translate(plain))
        assert 8192 * 2**50 == 2**63                     # one past the largest signed 64-bit off_t


def test_thp_demo_follows_the_hosts_thp_mode(tmp_path):
    mode_text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    mode = re.search(r"\[(\w+)\]", mode_text).group(1)
    script = tmp_path / "thp_demo.py"
    script.write_text(next(f.body for f in page_fences(TUNING) if f.title == "thp_demo.py"))
    out = run([sys.executable, str(script)]).stdout.split("\n")
    plain = int(re.match(r"plain\s+(\d+) kB", out[0]).group(1))
    advised = int(re.match(r"madvise\s+(\d+) kB", out[1]).group(1))
    if mode == "madvise":
        assert plain == 0 and advised > 0
        # the page's run (this machine's kind): all 64 MiB in huge pages
        assert "madvise 65536 kB" in _output_after(TUNING, "python3 thp_demo.py")
    elif mode == "always":
        assert plain > 0 and advised > 0
    else:
        assert mode == "never" and plain == 0 and advised == 0


def _seed_files(d: Path) -> None:
    (d / "meta-data").write_text("instance-id: web1-001\nlocal-hostname: web1\n")
    (d / "user-data").write_text("#cloud-config\nhostname: web1\n")


def test_nocloud_seed_has_the_cidata_label(tmp_path):
    need_tools("xorriso", "blkid")
    _seed_files(tmp_path)
    run("xorriso -as mkisofs -o seed.iso -V cidata -J -r user-data meta-data", cwd=tmp_path)
    out = run(["blkid", "-p", "-s", "LABEL", "-s", "TYPE", "seed.iso"], cwd=tmp_path).stdout.strip()
    assert out == _output_after(VIRT, "blkid -p -s LABEL -s TYPE seed.iso")[0]
    assert out == 'seed.iso: LABEL="cidata" TYPE="iso9660"'


def test_virt_install_attaches_the_cloud_init_iso_for_first_boot_only(tmp_path):
    need_tools("virt-install", "xorrisofs")
    _seed_files(tmp_path)
    cache = tmp_path / "cache"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    r = subprocess.run(["virt-install", "--connect", "test:///default", "--name", "ci1",
                        "--memory", "512", "--import", "--disk", "none", "--osinfo", "linux2022",
                        "--cloud-init", "user-data=user-data,meta-data=meta-data", "--print-xml"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    domains = r.stdout.split("<domain ")[1:]
    assert len(domains) == 2
    first, second = (re.search(r'<disk type="file" device="cdrom">.*?</disk>', d, re.S).group(0)
                     for d in domains)
    m = re.search(r'<source file="([^"]+)"/>', first)
    assert m and m.group(1).startswith(str(cache / "virt-manager" / "boot"))
    assert m.group(1).endswith("-cloudinit.iso")
    assert "<source" not in second
    assert not Path(m.group(1)).exists()             # --print-xml removed the generated ISO
    log = (cache / "virt-manager" / "virt-install.log").read_text()
    assert re.search(r"'xorrisofs'.*'-V', 'cidata'", log)
