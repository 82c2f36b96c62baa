"""Lab: the seed's virsh, virt-clone and qemu-img commands against libvirt's test driver.

`virsh -c test:///default` is libvirt's in-memory fake hypervisor: one running
domain `test`, a `default` NAT network and a `default-pool` storage pool.  Its
state lives in one virsh process, so each check feeds several commands to ONE
virsh process (`virsh -c URI 'cmd1; cmd2'`).

Two kinds of test:
* the console blocks of docs/virtualization/virsh.md, virsh-ops.md, libvirt.md and
  libvirt-network.md are run again, page by page, in order, each page in its own
  temp dir, and must print what the pages show;
* the facts the pages state are asserted one by one.
Versions measured: libvirt 9.0.0, virtinst 4.1.0, QEMU 7.2 (Debian 12).
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from labkit import need_tools, qemu_holds_write, run, wait_for
import virt_fixtures as vf


URI = "test:///default"


def virsh(commands: str, uri: str = URI, check: bool = True) -> subprocess.CompletedProcess:
    """Run several virsh commands in ONE process (the test driver's state is per process)."""
    return run(["virsh", "-c", uri, commands], check=check)


@pytest.fixture
def vm1_xml(tmp_path: Path) -> Path:
    files = vf.page_files((vf.DOCS / "virsh.md").read_text())
    path = tmp_path / "vm1.xml"
    path.write_text(files["vm1.xml"])
    return path


# ---------------------------------------------------------------- the pages

@pytest.mark.parametrize("page", ["virsh.md", "virsh-ops.md", "libvirt.md", "libvirt-network.md"])
def test_every_console_block_of_the_page_prints_what_the_page_shows(page, tmp_path):
    need_tools("virsh", "virt-clone", "virt-xml-validate", "qemu-img", "qemu-io")
    text = (vf.DOCS / page).read_text()
    runs = vf.console_runs(text)
    assert len(runs) >= 5, f"{page} should show its commands in console blocks"
    vf.prepare(tmp_path, text)
    for cmd, shown in runs:
        real = vf.normalise_output(vf.run_in(tmp_path, cmd))
        assert vf.mask(real) == vf.mask(vf.normalise_output(shown)), (
            f"{page}: output of `{cmd}` differs from the page\n--- real\n{real}\n--- page\n{shown}")


# ---------------------------------------------------------------- list, version, dominfo

def test_list_shows_running_domains_and_list_all_adds_shut_off_ones(vm1_xml):
    out = virsh(f"define {vm1_xml}; list; list --all").stdout
    running, everything = out.split("\n\n")[1:3]
    assert re.search(r"^ 1\s+test\s+running$", running, re.M)
    assert "vm1" not in running
    assert re.search(r"^ -\s+vm1\s+shut off$", everything, re.M)


def test_version_reports_library_9_0_0():
    out = virsh("version").stdout
    assert "Compiled against library: libvirt 9.0.0" in out
    assert "Using API: TEST 9.0.0" in out


def test_dominfo_of_the_test_domain():
    info = dict(line.split(":", 1) for line in virsh("dominfo test").stdout.splitlines() if ":" in line)
    info = {k.strip(): v.strip() for k, v in info.items()}
    assert info["State"] == "running"
    assert info["CPU(s)"] == "2"
    assert info["Max memory"] == "8388608 KiB"          # 8 GiB = 8 * 1024 * 1024 KiB
    assert info["Used memory"] == "2097152 KiB"          # 2 GiB
    assert info["Persistent"] == "yes"


# ---------------------------------------------------------------- lifecycle

def test_lifecycle_states_after_each_command(vm1_xml):
    out = virsh(f"define {vm1_xml}; start vm1; domstate vm1; suspend vm1; domstate vm1; "
                "resume vm1; domstate vm1; shutdown vm1; domstate vm1; "
                "start vm1; destroy vm1; domstate vm1; start vm1; domstate vm1").stdout
    states = [line for line in out.splitlines() if line in ("running", "paused", "shut off")]
    assert states == ["running", "paused", "running", "shut off", "shut off", "running"]


def test_start_of_a_running_domain_fails_with_already_active():
    proc = virsh("start test", check=False)
    assert proc.returncode == 1
    assert "error: Domain is already active" in proc.stderr


def test_destroy_keeps_a_persistent_domain_defined(vm1_xml):
    out = virsh(f"define {vm1_xml}; start vm1; destroy vm1; list --all; dominfo vm1").stdout
    assert re.search(r"^ -\s+vm1\s+shut off$", out, re.M)
    assert re.search(r"^Persistent:\s+yes$", out, re.M)


# ---------------------------------------------------------------- define, dumpxml, undefine, autostart

def test_dumpxml_fills_in_defaults_and_runtime_details(vm1_xml):
    out = virsh(f"define {vm1_xml}; dumpxml --inactive vm1; start vm1; dumpxml vm1").stdout
    inactive, active = out.split("<domain type='test'", 2)[1:]
    assert "<boot dev='hd'/>" in inactive and "<on_poweroff>destroy</on_poweroff>" in inactive
    assert inactive.startswith(">")                          # no id: not running
    assert active.startswith(" id='2'>")                     # the running domain's Id
    assert "<memory unit='KiB'>1048576</memory>" in active   # 1024 MiB written as KiB


def test_undefine_of_a_running_domain_makes_it_transient(vm1_xml):
    out = virsh(f"define {vm1_xml}; start vm1; undefine vm1; dominfo vm1; destroy vm1; list --all").stdout
    assert re.search(r"^State:\s+running$", out, re.M)
    assert re.search(r"^Persistent:\s+no$", out, re.M)
    assert "vm1" not in out.split("destroyed")[-1]          # gone once it stops


def test_undefine_of_a_shut_off_domain_removes_it(vm1_xml):
    out = virsh(f"define {vm1_xml}; undefine vm1; list --all").stdout
    assert "has been undefined" in out
    assert "vm1" not in out.split("undefined")[-1]


def test_autostart_and_autostart_disable(vm1_xml):
    out = virsh(f"define {vm1_xml}; autostart vm1; dominfo vm1; autostart --disable vm1; dominfo vm1").stdout
    assert re.findall(r"^Autostart:\s+(\w+)$", out, re.M) == ["enable", "disable"]
    assert "marked as autostarted" in out and "unmarked as autostarted" in out


# ---------------------------------------------------------------- snapshots

def test_snapshot_create_list_current_revert_delete():
    out = virsh('snapshot-create test; snapshot-create-as test snapshot-vm "before upgrade"; '
                "snapshot-list test --name; snapshot-current test --name; snapshot-info test --current; "
                "snapshot-revert test snapshot-vm; snapshot-delete test snapshot-vm; "
                "snapshot-list test --name").stdout
    auto = re.search(r"Domain snapshot (\d+) created", out).group(1)
    # the automatic name is the creation time in seconds since the epoch
    assert abs(int(auto) - time.time()) < 600
    assert "Domain snapshot snapshot-vm created" in out
    assert re.search(r"^Location:\s+internal$", out, re.M)
    assert re.search(rf"^Parent:\s+{auto}$", out, re.M)
    assert "Domain snapshot snapshot-vm reverted" in out
    assert "Domain snapshot snapshot-vm deleted" in out
    names_at_end = out.rstrip().splitlines()[-1].strip()
    assert names_at_end == auto


def test_snapshot_description_is_stored():
    out = virsh('snapshot-create-as test snapshot-vm "before upgrade"; snapshot-dumpxml test snapshot-vm').stdout
    assert "<description>before upgrade</description>" in out


def test_the_seeds_typo_snapshot_delet_runs_nothing_and_exits_1():
    proc = virsh("snapshot-create-as test s1; snapshot-delet test s1", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: unknown command: 'snapshot-delet'"
    assert proc.stdout == ""      # not even the first command ran


# ---------------------------------------------------------------- storage pools and volumes

def test_seed_pool_commands_then_a_3g_qcow2_volume():
    out = virsh("pool-define-as vmdisk --type dir --target /data/vmfs; pool-info vmdisk; "
                "pool-build vmdisk; pool-start vmdisk; pool-autostart vmdisk; pool-list --all; "
                "pool-info vmdisk; vol-create-as vmdisk test.qcow2 3G --format qcow2; "
                "vol-list vmdisk; vol-dumpxml test.qcow2 --pool vmdisk").stdout
    infos = re.findall(r"^State:\s+(\w+)$", out, re.M)
    assert infos == ["inactive", "running"]        # defined is not started
    assert re.search(r"^ vmdisk\s+active\s+yes$", out, re.M)
    assert re.search(r"^ test\.qcow2\s+/data/vmfs/test\.qcow2$", out, re.M)
    assert "<capacity unit='bytes'>3221225472</capacity>" in out   # 3G = 3 * 1024**3
    assert "<format type='qcow2'/>" in out
    assert not Path("/data/vmfs/test.qcow2").exists()              # the test driver touches no disk


def test_pool_define_as_with_a_positional_type_is_the_same():
    out = virsh("pool-define-as vmdisk dir --target /data/vmfs --print-xml").stdout
    assert "<pool type='dir'>" in out and "<path>/data/vmfs</path>" in out


# ---------------------------------------------------------------- networks

def test_default_network_is_nat_through_virbr0():
    out = virsh("net-list --all; net-dumpxml default; net-info default").stdout
    assert re.search(r"^ default\s+active\s+no\s+yes$", out, re.M)
    assert "<forward mode='nat'/>" in out
    assert "<bridge name='virbr0'" in out
    assert "<ip address='192.168.122.1' netmask='255.255.255.0'>" in out
    assert "<range start='192.168.122.2' end='192.168.122.254'/>" in out


# ---------------------------------------------------------------- virt-xml-validate

def test_virt_xml_validate_accepts_the_page_xml_and_rejects_broken_ones(vm1_xml, tmp_path):
    need_tools("virt-xml-validate")
    good = run(["virt-xml-validate", str(vm1_xml), "domain"])
    assert good.stderr.strip() == f"{vm1_xml} validates"     # virt-xml-validate reports on stderr

    wrong_value = tmp_path / "bad-vcpu.xml"
    wrong_value.write_text(vm1_xml.read_text().replace("<vcpu>1</vcpu>", "<vcpu>one</vcpu>"))
    bad = run(["virt-xml-validate", str(wrong_value), "domain"], check=False)
    assert bad.returncode != 0
    assert "Relax-NG validity error" in bad.stderr
    assert f"{wrong_value} fails to validate" in bad.stderr

    not_xml = tmp_path / "bad-tag.xml"
    not_xml.write_text(vm1_xml.read_text().replace("</devices>", "</device>"))
    bad = run(["virt-xml-validate", str(not_xml), "domain"], check=False)
    assert bad.returncode != 0
    assert "parser error : Opening and ending tag mismatch: devices" in bad.stderr


# ---------------------------------------------------------------- virt-clone

def _node_with_vm1(tmp_path: Path) -> str:
    text = (vf.DOCS / "virsh-ops.md").read_text()     # node.xml is shown with virt-clone
    vf.prepare(tmp_path, text)
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "vm1.qcow2"), "64M"])
    run(["qemu-io", "-c", "write -q -P 0xab 0 1M", str(tmp_path / "vm1.qcow2")])
    return f"test://{tmp_path}/node.xml"


def test_virt_clone_seed_form_copies_the_disk_of_a_shut_off_domain(tmp_path):
    need_tools("virt-clone", "qemu-img", "qemu-io")
    uri = _node_with_vm1(tmp_path)
    new = tmp_path / "vm2.qcow2"
    out = run(["virt-clone", "--connect", uri, "-o", "vm1", "-n", "vm2", "-f", str(new)]).stdout
    assert "Clone 'vm2' created successfully." in out
    assert new.read_bytes() == (tmp_path / "vm1.qcow2").read_bytes()
    assert run(["qemu-img", "compare", str(tmp_path / "vm1.qcow2"), str(new)]).stdout.strip() \
        == "Images are identical."
    # the data written into the original is in the clone
    read = run(["qemu-io", "-c", "read -P 0xab 0 1M", str(new)]).stdout
    assert "read 1048576/1048576 bytes at offset 0" in read


def test_virt_clone_gives_a_new_uuid_mac_and_disk_path(tmp_path):
    need_tools("virt-clone")
    uri = _node_with_vm1(tmp_path)
    original = run(["virsh", "-c", uri, "dumpxml vm1"]).stdout
    (tmp_path / "vm1-lab.xml").write_text(original)
    new_disk = tmp_path / "vm3.qcow2"
    clone = run(["virt-clone", "--connect", URI, "--original-xml", str(tmp_path / "vm1-lab.xml"),
                 "-n", "vm3", "-f", str(new_disk), "--print-xml"]).stdout
    uuid = re.search(r"<uuid>([0-9a-f-]{36})</uuid>", clone).group(1)
    mac = re.search(r'<mac address="([0-9a-f:]{17})"/>', clone).group(1)
    assert uuid != "11111111-2222-3333-4444-555555555555"
    assert mac != "52:54:00:12:34:56"
    assert mac.startswith("00:16:3e:")     # virtinst uses Xen's OUI for non-QEMU connections
    assert f'<source file="{new_disk}"/>' in clone
    assert "<name>vm3</name>" in clone
    assert not new_disk.exists()           # --print-xml copies nothing


def test_virt_clone_from_an_xml_file_copies_the_disk(tmp_path):
    need_tools("virt-clone")
    uri = _node_with_vm1(tmp_path)
    (tmp_path / "vm1-lab.xml").write_text(run(["virsh", "-c", uri, "dumpxml vm1"]).stdout)
    new_disk = tmp_path / "vm3.qcow2"
    out = run(["virt-clone", "--connect", URI, "--original-xml", str(tmp_path / "vm1-lab.xml"),
               "--name", "vm3", "--file", str(new_disk)]).stdout
    assert "Clone 'vm3' created successfully." in out
    assert new_disk.read_bytes() == (tmp_path / "vm1.qcow2").read_bytes()


def test_virt_clone_refuses_a_running_domain():
    need_tools("virt-clone")
    proc = run(["virt-clone", "--connect", URI, "--original", "test", "-n", "test2", "--auto-clone"],
               check=False)
    assert proc.returncode == 1
    assert "Domain to clone must be shutoff." in proc.stderr + proc.stdout


# ---------------------------------------------------------------- qemu-img info -U on an image in use

def _ofd_locks_work() -> bool:
    """QEMU's own probe (util/osdep.c): F_OFD_GETLK on /dev/null. Without OFD locks,
    `locking=auto` (the default) takes no image locks at all."""
    import fcntl
    import struct
    F_OFD_GETLK = 36                                   # <asm-generic/fcntl.h>
    fd = os.open("/dev/null", os.O_RDWR)
    try:
        fcntl.fcntl(fd, F_OFD_GETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def test_qemu_img_info_needs_force_share_while_the_image_is_open(tmp_path):
    need_tools("qemu-img", "qemu-io")
    assert _ofd_locks_work(), "this kernel has no OFD locks, so QEMU takes no image locks here"
    img = tmp_path / "vm.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "64M"])
    # The "running guest": qemu-io opens the image read-write and sleeps inside its own
    # command loop (no dependence on stdin), holding QEMU's locks until it is terminated.
    log = tmp_path / "qemu-io.log"
    with open(log, "wb") as log_fd:
        holder = subprocess.Popen(["qemu-io", "-f", "qcow2", "-c", "sleep 120000", str(img)],
                                  stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT)
    try:
        # Wait on /proc/locks, not by probing with qemu-img info: a probe locks the image
        # for a moment, and a qemu-io starting in that moment is refused and exits.
        def holds_write():
            if holder.poll() is not None:
                raise AssertionError(f"qemu-io exited with {holder.returncode}: "
                                     f"{log.read_text(errors='replace')!r}")
            return qemu_holds_write(img)
        wait_for(holds_write, timeout=30, what="qemu-io to lock the image")
        locked = run(["qemu-img", "info", str(img)], check=False)
        assert locked.returncode == 1
        assert 'Failed to get shared "write" lock' in locked.stderr
        shared = run(["qemu-img", "info", "-U", "--output=json", str(img)])
        assert '"virtual-size": 67108864' in shared.stdout
    finally:
        holder.terminate()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    assert run(["qemu-img", "info", str(img)]).returncode == 0     # lock released


# ---------------------------------------------------------------- undefine --remove-all-storage, other commands

def test_undefine_remove_all_storage_deletes_pool_volumes_only(vm1_xml, tmp_path):
    pooled = tmp_path / "vm1-pool.xml"
    pooled.write_text(vm1_xml.read_text().replace("/var/lib/libvirt/images/", "/data/vmfs/"))
    out = virsh("pool-define-as vmdisk dir --target /data/vmfs; pool-build vmdisk; pool-start vmdisk; "
                f"vol-create-as vmdisk vm1.qcow2 3G --format qcow2; define {pooled}; "
                "undefine vm1 --remove-all-storage; vol-list vmdisk").stdout
    assert "Volume 'vda'(/data/vmfs/vm1.qcow2) removed." in out
    assert "vm1.qcow2" not in out.split("removed.")[-1]

    proc = virsh("undefine test --remove-all-storage; destroy test; undefine test --remove-all-storage; "
                 "list --all", check=False)
    assert "error: Storage volume deletion is supported only on stopped domains" in proc.stderr
    assert ("error: Storage volume 'vda'(/guest/diskimage1) is not managed by libvirt. "
            "Remove it manually.") in proc.stderr
    assert "Domain 'test' has been undefined" in proc.stdout
    assert "test" not in proc.stdout.split("undefined")[-1]


def test_setmem_and_setvcpus_live_on_the_test_domain():
    out = virsh("setmem test 1G --live; dominfo test; setvcpus test 1 --live; vcpucount test").stdout
    assert re.search(r"^Used memory:\s+1048576 KiB$", out, re.M)        # 1G = 1024 * 1024 KiB
    assert re.search(r"^current\s+live\s+1$", out, re.M)
    assert re.search(r"^maximum\s+live\s+2$", out, re.M)


def test_unsupported_apis_name_the_c_function():
    for cmd, api in [("net-dhcp-leases default", "virNetworkGetDHCPLeases"),
                     ("blockresize test vda 20G", "virDomainBlockResize")]:
        proc = virsh(cmd, check=False)
        assert proc.returncode == 1
        assert f"this function is not supported by the connection driver: {api}" in proc.stderr
