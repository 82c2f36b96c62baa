"""Lab: the qemu-img commands of docs/virtualization/disk-images.md, backing-snapshots.md and qcow2-check.md, run for real.

Everything happens in pytest's tmp_path on plain files (no devices, no network):
raw against qcow2 allocation, preallocation modes, internal snapshots (refused
on raw), resize and shrink, backing overlays with commit and rebase, compressed
convert, qemu-img check repairing a crashed lazy-refcount image, discard, and
image locking against a second writer.  The background qemu-io that holds a
lock is stopped by its PID in a ``finally`` block.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import qcow2
import qcow2_tool
from labkit import need_tools, ofd_locks_on, qemu_holds_write, run, wait_for


GiB = 1 << 30
MiB = 1 << 20


@pytest.fixture(autouse=True)
def _qemu_tools():
    need_tools("qemu-img", "qemu-io")


def q(tmp: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(list(args), cwd=tmp, check=check)


def allocated(path: Path) -> int:
    """Bytes really allocated on disk (du), as opposed to st_size (ls -l, du --apparent-size)."""
    return os.stat(path).st_blocks * 512


def test_raw_and_qcow2_both_start_sparse(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-f", "raw", "disk.raw", "10G")
    q(tmp_path, "qemu-img", "create", "-f", "qcow2", "disk.qcow2", "10G")
    raw, qc = tmp_path / "disk.raw", tmp_path / "disk.qcow2"
    # raw: the apparent size is the whole disk, almost nothing is allocated (a sparse file)
    assert raw.stat().st_size == 10 * GiB and allocated(raw) <= 64 * 1024
    # qcow2: the file holds only the header, L1 and refcount metadata
    assert qc.stat().st_size < MiB and allocated(qc) < MiB
    # writing 1 MiB allocates about 1 MiB in both
    q(tmp_path, "qemu-io", "-f", "raw", "-c", "write -P 0x61 1G 1M", "disk.raw")
    q(tmp_path, "qemu-io", "-c", "write -P 0x61 1G 1M", "disk.qcow2")
    assert MiB <= allocated(raw) <= 2 * MiB and MiB <= allocated(qc) <= 2 * MiB
    for name in ("disk.raw", "disk.qcow2"):
        path = str(tmp_path / name)
        theirs = q(tmp_path, "qemu-img", "info", "--output=json", path).stdout
        assert qcow2_tool.image_info_json(path) + "\n" == theirs


def test_preallocation_modes_decide_what_is_allocated_up_front(tmp_path: Path) -> None:
    size = 256 * MiB
    for mode in ("off", "metadata", "falloc", "full"):
        q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", f"preallocation={mode}",
          f"q-{mode}.qcow2", str(size))
    for mode in ("off", "falloc", "full"):
        q(tmp_path, "qemu-img", "create", "-q", "-f", "raw", "-o", f"preallocation={mode}",
          f"r-{mode}.raw", str(size))
    bad = q(tmp_path, "qemu-img", "create", "-q", "-f", "raw", "-o", "preallocation=metadata",
            "r-metadata.raw", str(size), check=False)
    assert bad.returncode == 1 and "Unsupported preallocation mode: metadata" in bad.stderr
    a = {p.name: allocated(p) for p in tmp_path.iterdir()}
    assert a["q-off.qcow2"] < MiB and a["r-off.raw"] < MiB
    # metadata: the L2 tables exist and map every cluster, the file is long but still sparse
    assert (tmp_path / "q-metadata.qcow2").stat().st_size > size and a["q-metadata.qcow2"] < MiB
    with qcow2.open_image(str(tmp_path / "q-metadata.qcow2")) as img:
        assert img.locate(100 * MiB).kind == "data"           # mapped, data reads as zeros
        assert img.read(100 * MiB, 16) == bytes(16)
    for name in ("q-falloc.qcow2", "q-full.qcow2", "r-falloc.raw", "r-full.raw"):
        assert a[name] >= size, name


def test_internal_snapshots_work_on_qcow2_and_are_refused_on_raw(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "raw", "disk.raw", "1G")
    refused = q(tmp_path, "qemu-img", "snapshot", "-c", "s1", "disk.raw", check=False)
    assert refused.returncode == 1
    assert "Could not create snapshot 's1': -95 (Operation not supported)" in refused.stderr
    assert "probing guessed raw" in refused.stderr
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "disk.qcow2", "1G")
    q(tmp_path, "qemu-io", "-c", "write -P 0x01 0 64k", "disk.qcow2")
    q(tmp_path, "qemu-img", "snapshot", "-c", "before-upgrade", "disk.qcow2")
    q(tmp_path, "qemu-io", "-c", "write -P 0x02 0 64k", "disk.qcow2")
    listing = q(tmp_path, "qemu-img", "snapshot", "-l", "disk.qcow2").stdout
    assert listing.startswith("Snapshot list:\nID        TAG ") and "before-upgrade" in listing
    with qcow2.open_image(str(tmp_path / "disk.qcow2")) as img:
        assert img.read(0, 1) == b"\x02" and img.read(0, 1, snapshot="before-upgrade") == b"\x01"
    q(tmp_path, "qemu-img", "snapshot", "-a", "before-upgrade", "disk.qcow2")
    q(tmp_path, "qemu-io", "-r", "-c", "read -P 0x01 0 64k", "disk.qcow2")
    q(tmp_path, "qemu-img", "snapshot", "-d", "before-upgrade", "disk.qcow2")
    assert "before-upgrade" not in q(tmp_path, "qemu-img", "snapshot", "-l", "disk.qcow2").stdout


def test_raw_grows_and_qcow2_shrinks_only_with_shrink(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "raw", "disk.raw", "10G")
    assert q(tmp_path, "qemu-img", "resize", "-f", "raw", "disk.raw", "+1G").stdout == "Image resized.\n"
    assert (tmp_path / "disk.raw").stat().st_size == 11 * GiB
    assert q(tmp_path, "qemu-img", "info", "disk.raw").stdout == (
        "image: disk.raw\nfile format: raw\nvirtual size: 11 GiB (11811160064 bytes)\n"
        "disk size: 4 KiB\n")
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "disk.qcow2", "10G")
    refused = q(tmp_path, "qemu-img", "resize", "disk.qcow2", "5G", check=False)
    assert refused.returncode == 1
    assert "Use the --shrink option to perform a shrink operation." in refused.stderr
    q(tmp_path, "qemu-img", "resize", "--shrink", "disk.qcow2", "5G")
    with qcow2.open_image(str(tmp_path / "disk.qcow2")) as img:
        assert img.size == 5 * GiB


def test_overlay_commit_and_rebase(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "1G")
    q(tmp_path, "qemu-io", "-c", "write -P 0xaa 0 1M", "base.qcow2")
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
      "overlay.qcow2")
    q(tmp_path, "qemu-io", "-c", "write -P 0xbb 512k 1M", "overlay.qcow2")
    mapping = q(tmp_path, "qemu-img", "map", "overlay.qcow2").stdout
    assert mapping.splitlines() == [
        "Offset          Length          Mapped to       File",
        "0               0x80000         0x50000         base.qcow2",
        "0x80000         0x100000        0x50000         overlay.qcow2"]
    with qcow2.open_image(str(tmp_path / "overlay.qcow2")) as img:
        assert img.locate(0).kind == "unallocated" and img.read(0, 1) == b"\xaa"
        assert img.read(512 * 1024, 1) == b"\xbb"
    chain = q(tmp_path, "qemu-img", "info", "--backing-chain", "overlay.qcow2").stdout
    assert "backing file: base.qcow2\nbacking file format: qcow2" in chain
    # commit: the overlay's clusters go down into the base, the overlay is emptied
    assert q(tmp_path, "qemu-img", "commit", "overlay.qcow2").stdout == "Image committed.\n"
    q(tmp_path, "qemu-io", "-r", "-c", "read -P 0xbb 512k 1M", "base.qcow2")
    assert q(tmp_path, "qemu-img", "map", "overlay.qcow2").stdout.splitlines()[1:] == [
        "0               0x180000        0x50000         base.qcow2"]
    # rebase -u only rewrites the pointer: the guest now sees the empty base's zeros
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "empty.qcow2", "1G")
    (tmp_path / "unsafe.qcow2").write_bytes((tmp_path / "overlay.qcow2").read_bytes())
    q(tmp_path, "qemu-img", "rebase", "-u", "-b", "empty.qcow2", "-F", "qcow2", "unsafe.qcow2")
    with qcow2.open_image(str(tmp_path / "unsafe.qcow2")) as img:
        assert img.read(0, 1) == b"\x00"
    # safe rebase copies every cluster that differs into the overlay first
    q(tmp_path, "qemu-img", "rebase", "-b", "empty.qcow2", "-F", "qcow2", "overlay.qcow2")
    q(tmp_path, "qemu-io", "-r", "-c", "read -P 0xaa 0 512k", "overlay.qcow2")
    # rebase -b "" makes the overlay stand alone
    q(tmp_path, "qemu-img", "rebase", "-b", "", "overlay.qcow2")
    info = q(tmp_path, "qemu-img", "info", "overlay.qcow2").stdout
    assert "backing file" not in info
    with qcow2.open_image(str(tmp_path / "overlay.qcow2")) as img:
        assert img.backing is None and img.read(0, 1) == b"\xaa" and img.read(600 * 1024, 1) == b"\xbb"


def test_compressed_convert_is_smaller_and_identical(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "raw", "src.raw", "64M")
    text = b"".join(b"line %06d of a very compressible log file\n" % i for i in range(24000))
    with open(tmp_path / "src.raw", "r+b") as f:
        for i in range(0, 64, 2):
            f.seek(i * MiB)
            f.write(text[:MiB])
    q(tmp_path, "qemu-img", "convert", "-O", "qcow2", "src.raw", "plain.qcow2")
    q(tmp_path, "qemu-img", "convert", "-c", "-O", "qcow2", "src.raw", "packed.qcow2")
    plain, packed = (tmp_path / "plain.qcow2").stat().st_size, (tmp_path / "packed.qcow2").stat().st_size
    assert packed * 4 < plain
    check = q(tmp_path, "qemu-img", "check", "packed.qcow2").stdout
    assert check.startswith("No errors were found on the image.\n")
    assert "100.00% compressed clusters" in check
    assert q(tmp_path, "qemu-img", "compare", "src.raw", "packed.qcow2").stdout == "Images are identical.\n"
    with qcow2.open_image(str(tmp_path / "packed.qcow2")) as img:
        assert img.locate(0).kind == "compressed"
        assert img.read(0, 64 * MiB) == (tmp_path / "src.raw").read_bytes()


def test_vmdk_converts_to_qcow2_with_identical_content(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "raw", "src.raw", "64M")
    q(tmp_path, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 3M", "src.raw")
    q(tmp_path, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "src.raw", "disk.vmdk")
    q(tmp_path, "qemu-img", "convert", "-f", "vmdk", "-O", "qcow2", "disk.vmdk", "disk.qcow2")
    same = q(tmp_path, "qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", "disk.vmdk", "disk.qcow2")
    assert same.stdout == "Images are identical.\n"
    with qcow2.open_image(str(tmp_path / "disk.qcow2")) as img:
        assert img.read(MiB, 4) == b"\x5a" * 4 and img.read(0, 4) == bytes(4)


def test_only_some_formats_can_be_created(tmp_path: Path) -> None:
    made = []
    for fmt in ("raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "vhdx", "parallels"):
        q(tmp_path, "qemu-img", "create", "-q", "-f", fmt, f"t.{fmt}", "16M")
        made.append(fmt)
    assert len(made) == 9
    for fmt in ("bochs", "cloop", "dmg"):
        p = q(tmp_path, "qemu-img", "create", "-q", "-f", fmt, f"t.{fmt}", "16M", check=False)
        assert p.returncode == 1
        assert f"Format driver '{fmt}' does not support image creation" in p.stderr
    p = q(tmp_path, "qemu-img", "create", "-q", "-f", "luks", "t.luks", "16M", check=False)
    assert "Parameter 'key-secret' is required for cipher" in p.stderr


def test_qemu_img_check_repairs_a_crashed_lazy_refcount_image(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", "lz.qcow2", "1G")
    # `abort` kills qemu-io before it writes the postponed refcounts: a crash
    crash = q(tmp_path, "qemu-io", "-c", "write -P 1 0 256k", "-c", "abort", "lz.qcow2", check=False)
    assert crash.returncode != 0
    assert "cleanly shut down: no" in q(tmp_path, "qemu-img", "info", "lz.qcow2").stdout
    bad = q(tmp_path, "qemu-img", "check", "lz.qcow2", check=False)
    assert bad.returncode == 2 and "ERROR cluster 5 refcount=0 reference=1" in bad.stderr
    with qcow2.open_image(str(tmp_path / "lz.qcow2")) as img:
        assert img.locate(0).host_offset == 5 * 65536 and img.refcount(5 * 65536) == 0
    fixed = q(tmp_path, "qemu-img", "check", "-r", "all", "lz.qcow2")
    assert "4 corruptions" in fixed.stdout and "No errors were found on the image." in fixed.stdout
    with qcow2.open_image(str(tmp_path / "lz.qcow2")) as img:
        assert img.refcount(img.locate(0).host_offset) == 1
        assert qcow2_tool.image_info(img)["dirty-flag"] is False


def test_discard_gives_clusters_back_and_write_zeroes_keeps_them(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "d.qcow2", "1G")
    q(tmp_path, "qemu-io", "-c", "write -P 0x11 0 8M", "d.qcow2")
    full = allocated(tmp_path / "d.qcow2")
    q(tmp_path, "qemu-io", "-c", "discard 0 8M", "d.qcow2")
    assert allocated(tmp_path / "d.qcow2") < full - 7 * MiB      # holes punched in the file
    with qcow2.open_image(str(tmp_path / "d.qcow2")) as img:
        assert img.locate(0).kind == "zero"                       # v3: zero flag, no host cluster
    q(tmp_path, "qemu-io", "-c", "write -P 0x11 0 8M", "-c", "write -z 0 8M", "d.qcow2")
    assert allocated(tmp_path / "d.qcow2") >= 8 * MiB            # write -z keeps the clusters
    with qcow2.open_image(str(tmp_path / "d.qcow2")) as img:
        assert img.locate(0).kind == "zero" and img.read(0, 4) == bytes(4)


def test_a_second_writer_is_refused_while_qemu_io_holds_the_image(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "vm.qcow2", "1G")
    holder = subprocess.Popen(["qemu-io", "vm.qcow2"], cwd=tmp_path, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wait (without competing for the lock ourselves) until qemu-io holds WRITE
        wait_for(lambda: qemu_holds_write(tmp_path / "vm.qcow2"), timeout=20,
                 what="qemu-io to lock vm.qcow2")
        assert holder.poll() is None
        second = q(tmp_path, "qemu-io", "-c", "write -P 1 0 4k", "vm.qcow2", check=False)
        assert second.returncode == 1
        assert 'Failed to get "write" lock' in second.stderr
        assert "Is another process using the image [vm.qcow2]?" in second.stderr
        info = q(tmp_path, "qemu-img", "info", "vm.qcow2", check=False)
        assert info.returncode == 1 and 'Failed to get shared "write" lock' in info.stderr
        shared = q(tmp_path, "qemu-img", "info", "-U", "vm.qcow2")
        assert "file format: qcow2" in shared.stdout
    finally:
        if holder.poll() is None:
            try:
                holder.communicate("quit\n", timeout=10)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
    # with the holder gone, a writer gets the lock
    q(tmp_path, "qemu-io", "-c", "write -P 1 0 4k", "vm.qcow2")


def test_a_reader_without_force_share_keeps_a_writer_out(tmp_path: Path) -> None:
    """The reverse case: `qemu-img info` without -U, while it runs, refuses to share
    WRITE, so a guest (here qemu-io) that starts at that moment cannot open its disk.
    qemu-io -r takes the same locks as qemu-img info and keeps them while it sleeps."""
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "vm.qcow2", "64M")
    img = tmp_path / "vm.qcow2"
    reader = subprocess.Popen(["qemu-io", "-r", "-c", "sleep 120000", "vm.qcow2"], cwd=tmp_path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        # a reader locks byte 100 (CONSISTENT_READ held) and 201 (WRITE not shared)
        wait_for(lambda: any(line.split()[-2:] == ["201", "201"] for line in ofd_locks_on(img)),
                 timeout=20, what="qemu-io -r to lock vm.qcow2")
        assert not qemu_holds_write(img)
        writer = q(tmp_path, "qemu-io", "-c", "write -P 1 0 4k", "vm.qcow2", check=False)
        assert writer.returncode == 1
        assert 'Failed to get "write" lock' in writer.stderr
        second_reader = q(tmp_path, "qemu-img", "info", "vm.qcow2")   # readers share
        assert "file format: qcow2" in second_reader.stdout
    finally:
        reader.terminate()
        reader.wait(timeout=10)
    q(tmp_path, "qemu-io", "-c", "write -P 1 0 4k", "vm.qcow2")


def test_measure_counts_the_metadata_clusters(tmp_path: Path) -> None:
    out = q(tmp_path, "qemu-img", "measure", "-O", "qcow2", "--size", "10G").stdout
    assert out == "required size: 1900544\nfully allocated size: 10739318784\n"
    # by hand, 64 KiB clusters, 16-bit refcounts: 10 GiB = 163840 clusters
    clusters = 10 * GiB // 65536
    l2 = clusters * 8 // 65536                     # 8-byte L2 entries: 20 L2 tables
    l1 = 1                                         # 20 L1 entries fit in one cluster
    refblocks = -(-(clusters + 29) // (65536 // 2))  # 32768 entries per block: 6 blocks
    metadata = 1 + l1 + l2 + 1 + refblocks          # header + L1 + L2s + refcount table + blocks
    assert metadata * 65536 == 1900544 and 10 * GiB + 1900544 == 10739318784


def test_fresh_qcow2_header_bytes_are_the_ones_the_page_decodes(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "demo.qcow2", "1G")
    head = (tmp_path / "demo.qcow2").read_bytes()[:112]
    assert head == bytes.fromhex(
        "514649fb00000003" "0000000000000000" "0000000000000010" "0000000040000000"
        "0000000000000002" "0000000000030000" "0000000000010000" "0000000100000000"
        "0000000000000000" "0000000000000000" "0000000000000000" "0000000000000000"
        "0000000400000070" "0000000000000000")
    h = qcow2.parse_header(head)
    assert (h.version, h.cluster_bits, h.size, h.l1_size, h.l1_table_offset) == (3, 16, GiB, 2, 0x30000)
    assert (h.refcount_table_offset, h.refcount_table_clusters, h.header_length) == (0x10000, 1, 112)


def test_map_of_a_metadata_preallocated_image_asks_the_host_file(tmp_path: Path) -> None:
    q(tmp_path, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata",
      "pm.qcow2", "8M")
    q(tmp_path, "qemu-io", "-c", "write -P 1 1M 64k", "pm.qcow2")
    out = q(tmp_path, "qemu-img", "map", "--output=json", "pm.qcow2").stdout
    assert out.splitlines() == [
        '[{ "start": 0, "length": 1048576, "depth": 0, "present": true, "zero": true, "data": true, "offset": 327680},',
        '{ "start": 1048576, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 1376256},',
        '{ "start": 1114112, "length": 7274496, "depth": 0, "present": true, "zero": true, "data": true, "offset": 1441792}]']
    with qcow2.open_image(str(tmp_path / "pm.qcow2")) as img:
        assert qcow2_tool.map_json(img) + "\n" == out
