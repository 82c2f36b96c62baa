"""iSCSI lab: tgtd exports file-backed LUNs on 127.0.0.1:3260; libiscsi's tools inspect them.

What it proves:

* SendTargets discovery (`iscsi-ls`) returns our target name and the portal
  127.0.0.1:3260 with target portal group tag 1;
* after login, INQUIRY (`iscsi-inq`) reports a SCSI direct-access device
  (peripheral device type 0, SPC-3) and a Device Identification VPD page
  (0x83) with an NAA designator, the LUN's world wide name;
* READ CAPACITY(16) (`iscsi-readcapacity16`) reports (last LBA + 1) x block
  length = the backing file's size, for 512-byte and 4096-byte blocks;
* LUN 0 is tgtd's controller (peripheral type 0x0c), the disks start at LUN 1.

`iscsiadm` (open-iscsi) is not used: it needs the kernel's iscsi_tcp module,
which this machine's kernel does not have. libiscsi is a user-space initiator.
"""
from __future__ import annotations

import re

import pytest

from labkit import make_image, need_tools
from nfs_fixtures import loopback_namespace, start_tgtd, stop_tgtd


IQN = "iqn.2026-11.org.example.lab:disk1"
LUNS = {1: (64 * 2**20, 512), 2: (10 * 2**20 + 3 * 4096, 4096)}   # size in bytes, block size


@pytest.fixture(scope="module")
def iscsi_lab(tmp_path_factory):
    need_tools("iscsi-ls", "iscsi-inq", "iscsi-readcapacity16")
    wd = tmp_path_factory.mktemp("iscsi")
    with loopback_namespace(wd) as ns:
        tgtd = start_tgtd(ns)
        try:
            adm = ["tgtadm", "--lld", "iscsi"]
            ns.run(adm + ["--op", "new", "--mode", "target", "--tid", "1", "--targetname", IQN])
            for lun, (size, bs) in LUNS.items():
                image = make_image(wd / f"lun{lun}.img", size)
                ns.run(adm + ["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", str(lun),
                              "--backing-store", str(image), f"--blocksize={bs}"])
            ns.run(adm + ["--op", "bind", "--mode", "target", "--tid", "1",
                          "--initiator-address", "127.0.0.1"])
            yield ns
        finally:
            stop_tgtd(ns, tgtd, [1])


def test_tgtd_listens_on_loopback_only(iscsi_lab):
    listen = iscsi_lab.run(["ss", "-ltn"]).stdout
    assert "127.0.0.1:3260" in listen
    assert "0.0.0.0:3260" not in listen and "*:3260" not in listen


def test_sendtargets_discovery_lists_target_and_portal(iscsi_lab):
    out = iscsi_lab.run(["iscsi-ls", "iscsi://127.0.0.1"]).stdout
    assert out.splitlines() == [f"Target:{IQN} Portal:127.0.0.1:3260,1"]


def test_login_and_report_luns(iscsi_lab):
    out = iscsi_lab.run(["iscsi-ls", "-s", "iscsi://127.0.0.1"]).stdout
    assert re.search(r"^Lun:0\s+Type:STORAGE_ARRAY_CONTROLLER$", out, re.M)
    assert re.search(r"^Lun:1\s+Type:DIRECT_ACCESS", out, re.M)
    assert re.search(r"^Lun:2\s+Type:DIRECT_ACCESS", out, re.M)


def test_inquiry_reports_a_disk(iscsi_lab):
    out = iscsi_lab.run(["iscsi-inq", f"iscsi://127.0.0.1/{IQN}/1"]).stdout
    assert "Peripheral Device Type:DIRECT_ACCESS" in out
    assert "Vendor:IET" in out                 # tgt's default vendor id
    assert "SPC-3" in out


def test_vpd_0x83_has_an_naa_designator(iscsi_lab):
    # libiscsi's option parser reads decimal: page 0x83 = 131
    out = iscsi_lab.run(["iscsi-inq", "-e", "1", "-c", "131", f"iscsi://127.0.0.1/{IQN}/1"]).stdout
    assert "Page Code:(0x83) DEVICE_IDENTIFICATION" in out
    assert "Designator Type:(3) NAA" in out
    assert "Association:(0) LOGICAL_UNIT" in out


@pytest.mark.parametrize("lun", sorted(LUNS))
def test_readcapacity16_equals_file_size_over_block_size(iscsi_lab, lun):
    size, bs = LUNS[lun]
    out = iscsi_lab.run(["iscsi-readcapacity16", f"iscsi://127.0.0.1/{IQN}/{lun}"]).stdout
    last_lba = int(re.search(r"RETURNED LOGICAL BLOCK ADDRESS:(\d+)", out).group(1))
    block = int(re.search(r"LOGICAL BLOCK LENGTH IN BYTES:(\d+)", out).group(1))
    assert block == bs
    assert last_lba + 1 == size // bs          # READ CAPACITY returns the LAST LBA (SBC-3 5.16)
    assert f"Total size:{size}" in out
