"""Labs for the virtualization operations pages: backup-sharing.md, vm-performance.md, vm-platform.md.

Each test runs the commands of one ``console`` block of a page again (only the
``$`` lines: ``#`` lines on those pages are sketches for a real KVM host) in a
temporary directory, with the files the page shows in ``title="NAME"`` blocks
written there first, and compares the output with the page after masking what
changes from run to run (libvirt's UUIDs and times, ``disk size``, dates printed
by swtpm_setup, the Debian revision of a package).  Where a value depends on
the machine's state rather than on the tool (page cache residency), the test
says so and asserts the property instead.

Daemons started here (qemu-nbd, swtpm) listen on a Unix socket in the temp
directory or on 127.0.0.1 and are stopped by their PID in ``finally``.

Versions measured: Debian 12 -- QEMU 7.2.22, libvirt 9.0.0, swtpm 0.7.1,
tpm2-tools 5.4, ovmf 2022.11, strace 6.1.
"""
from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import virt_fixtures as vf
from labkit import alive, need_tools, stop, wait_for
from pagekit import fences


VIRTIOFSD = Path("/usr/lib/qemu/virtiofsd")   # Debian 12: in qemu-system-common

# values that differ between two runs or two Debian point releases
_MASKS = [
    # "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)": the Debian revision moves with security updates
    (re.compile(r"\(Debian [^)]*\)"), "(Debian <REV>)"),
    (re.compile(r"version 7\.2\.\d+"), "version 7.2.<N>"),
    # swtpm_setup prints the wall clock: "@ Mon 07 Dec 2026 11:17:07 AM UTC"
    (re.compile(r" @ .*$", re.MULTILINE), " @ <DATE>"),
]


def mask(text: str) -> str:
    text = vf.mask(text)
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def page(name: str) -> str:
    return (vf.DOCS / name).read_text(encoding="utf-8")


def write_files(workdir: Path, text: str) -> None:
    """Write every ```xml/sh/text title="NAME"``` block of the page into workdir."""
    for name, body in vf.page_files(text, ("xml", "sh", "text")).items():
        (workdir / name).write_text(body)


def console_block(text: str, first: str) -> list[tuple[str, str]]:
    """(command, shown output) of the ``$`` commands of the console block whose first one starts with `first`.

    Its ``#`` and ``guest#`` commands (sketches for a real KVM host) are left out with their output."""
    for f in fences(text):
        runs = [run for run in f.runs() if run.prompt == "$"] if f.lang == "console" else []
        if runs and runs[0].command.startswith(first):
            return [(run.command, run.output) for run in runs]
    raise AssertionError(f"no console block starting with {first!r}")


def sh(workdir: Path, cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one page command with bash in workdir, stdout and stderr merged as a terminal shows them."""
    return subprocess.run(["bash", "-c", cmd], check=False, cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def replay(workdir: Path, runs: list[tuple[str, str]], subs: dict[str, str] | None = None) -> dict[str, str]:
    """Run the commands in order; each output must equal the page's (masked). Returns real outputs."""
    real_outputs = {}
    for cmd, shown in runs:
        real_cmd = cmd
        for old, new in (subs or {}).items():
            real_cmd = real_cmd.replace(old, new)
        real = vf.normalise_output(sh(workdir, real_cmd).stdout)
        real_outputs[cmd] = real
        assert mask(real) == mask(vf.normalise_output(shown)), (
            f"output of `{cmd}` differs from the page\n--- real\n{real}\n--- page\n{shown}")
    return real_outputs


def replay_block(workdir: Path, page_name: str, first: str) -> dict[str, str]:
    """Write the page's files into workdir and replay its console block starting with `first`."""
    text = page(page_name)
    write_files(workdir, text)
    return replay(workdir, console_block(text, first))


def stop_pid_file(path: Path) -> None:
    """Stop the daemon whose PID is in `path` (qemu-nbd --fork), if it wrote one."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    stop(pid, grace=60)


# ------------------------------------------------------- backup-sharing.md: incremental backup

def test_checkpoints_on_the_test_driver_and_a_valid_pull_backup_xml(tmp_path):
    need_tools("virsh", "virt-xml-validate")
    replay_block(tmp_path, "backup-sharing.md", 'virsh -c test:///default "checkpoint-create-as')


def test_bitmaps_record_only_writes_made_while_they_are_enabled(tmp_path):
    need_tools("qemu-img", "qemu-io", "qemu-nbd")
    text = page("backup-sharing.md")
    write_files(tmp_path, text)
    try:
        real = replay(tmp_path, console_block(text, "qemu-img create -q -f qcow2 vm.qcow2"))
        info = real["qemu-img info vm.qcow2"]
        assert info.count("[0]: auto") == 2 and info.count("granularity: 65536") == 2
        dirty = replay(tmp_path, console_block(text, "sh dirty.sh vm.qcow2 cp1"))
        # 1 MiB + 128 KiB, 8 MiB and 16 MiB in cp1; the 16 MiB write came while cp2 was disabled
        starts = [re.findall(r'"start": (\d+)', out) for out in dirty.values()]
        assert starts == [["1048576", "8388608", "16777216"], ["8388608"]]
        merged = replay(tmp_path, console_block(text, "qemu-img create -q -f qcow2 -b vm.qcow2"))
        assert re.findall(r'"start": (\d+)', merged["sh dirty.sh top.qcow2 since-cp1"])[-1] == str(32 << 20)
    finally:
        stop_pid_file(tmp_path / "nbd.pid")


def test_a_crash_leaves_bitmaps_in_use_and_they_can_only_be_removed(tmp_path):
    need_tools("qemu-img", "qemu-io")
    text = page("backup-sharing.md")
    # the crash block starts from the vm.qcow2 of the bitmap block
    replay(tmp_path, console_block(text, "qemu-img create -q -f qcow2 vm.qcow2"))
    runs = console_block(text, "cp vm.qcow2 crash.qcow2")
    replay(tmp_path, runs[:1])
    # qemu-io's `abort` really aborts: SIGABRT, no output of its own
    abort = sh(tmp_path, runs[1][0])
    assert abort.returncode == -signal.SIGABRT and abort.stdout == ""
    replay(tmp_path, runs[2:])
    left = sh(tmp_path, "qemu-img info --output=json crash.qcow2").stdout
    assert '"name": "cp1"' not in left and '"name": "cp2"' in left and '"in-use"' in left


# ------------------------------------------------------- backup-sharing.md: virtiofs

def test_virtiofsd_of_debian_12_and_a_virtiofs_domain_xml(tmp_path):
    need_tools("virt-xml-validate")
    if not VIRTIOFSD.exists():
        pytest.skip(f"{VIRTIOFSD} missing (Debian package qemu-system-common)")
    real = replay_block(tmp_path, "backup-sharing.md", "/usr/lib/qemu/virtiofsd --version")
    assert "migrate-precopy" not in real["/usr/lib/qemu/virtiofsd --print-capabilities"]
    replay_block(tmp_path, "backup-sharing.md", "virt-xml-validate fs.xml")


# ------------------------------------------------------- vm-performance.md

def test_cache_and_io_modes_seen_as_system_calls(tmp_path):
    need_tools("qemu-img", "qemu-io", "strace")
    text = page("vm-performance.md")
    write_files(tmp_path, text)
    runs = console_block(text, "qemu-img create -q -f raw disk.raw")
    uring = [r for r in runs if r[0] == "sh syscalls.sh none io_uring"]
    replay(tmp_path, [r for r in runs if r not in uring])
    # io_uring: how often io_uring_enter is called may vary with how completions are reaped;
    # what the page says is that nothing else is called
    [(cmd, shown)] = uring
    real = sh(tmp_path, cmd).stdout
    assert re.fullmatch(r"\s*\d+ io_uring_enter\s*", real), real
    assert re.fullmatch(r"\s*\d+ io_uring_enter\s*", shown)


def test_only_writeback_leaves_the_guest_data_in_the_host_page_cache(tmp_path):
    need_tools("qemu-img", "qemu-io", "fincore")
    text = page("vm-performance.md")
    runs = console_block(text, "qemu-img create -q -f raw none.raw")
    replay(tmp_path, runs[:3])
    cmd, shown = runs[3]
    real = vf.normalise_output(sh(tmp_path, cmd).stdout)
    # none.raw: exactly as on the page; writeback.raw: resident pages depend on the host's memory
    # pressure, so the line's shape and a non-zero size are asserted, the page shows 32M
    assert real.splitlines()[:2] == shown.splitlines()[:2]
    _res, pages, size, name = real.splitlines()[2].split()
    assert (size, name) == ("64M", "writeback.raw") and int(pages) > 0
    assert shown.splitlines()[2].split() == ["32M", "8192", "64M", "writeback.raw"]


def test_iothreads_pinned_on_the_test_driver(tmp_path):
    need_tools("virsh", "virt-xml-validate")
    replay_block(tmp_path, "vm-performance.md", "virt-xml-validate io.xml")


# ------------------------------------------------------- vm-platform.md: UEFI, Secure Boot, vTPM

def test_ovmf_descriptors_and_the_keys_in_the_enrolled_varstore(tmp_path):
    need_tools("strings")
    if not Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd").exists():
        pytest.skip("ovmf is not installed (Debian package ovmf)")
    replay_block(tmp_path, "vm-platform.md", "ls /usr/share/qemu/firmware/")


def test_a_windows_11_domain_xml_is_valid(tmp_path):
    need_tools("virt-xml-validate")
    replay_block(tmp_path, "vm-platform.md", "virt-xml-validate win11.xml")


def _free_port_pair() -> int:
    """A port P on 127.0.0.1 such that P and P + 1 are both free (the swtpm TCTI wants ctrl = P + 1)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no two consecutive free ports on 127.0.0.1")


def test_swtpm_manufactured_started_queried_and_stopped(tmp_path):
    need_tools("swtpm", "swtpm_setup", "swtpm_ioctl", "tpm2_getcap", "tpm2_pcrread")
    text = page("vm-platform.md")
    runs = console_block(text, "mkdir tpm")
    port = _free_port_pair()
    subs = {"2321": str(port), "2322": str(port + 1)}
    start = next(i for i, (cmd, _) in enumerate(runs) if cmd.startswith("swtpm socket"))
    replay(tmp_path, runs[:start + 1], subs)
    pid = int((tmp_path / "tpm" / "swtpm.pid").read_text())
    try:
        assert alive(pid)
        real = replay(tmp_path, runs[start + 1:], subs)
        assert "- 0x81010001" in real["tpm2_getcap -T swtpm:port=2321 handles-persistent"]
        # `swtpm_ioctl -s` makes the emulator exit
        wait_for(lambda: not alive(pid), timeout=60, what="swtpm to exit after swtpm_ioctl -s")
        assert (tmp_path / "tpm" / "tpm2-00.permall").stat().st_size > 0
    finally:
        stop(pid, sig=signal.SIGKILL)


# ------------------------------------------------------- vm-platform.md: migration compatibility

def test_cpu_baseline_of_two_intel_hosts_and_no_baseline_across_vendors(tmp_path):
    need_tools("virsh")
    real = replay_block(tmp_path, "vm-platform.md", "virsh -c test:///default cpu-baseline hosts.xml")
    assert "<model fallback='allow'>Skylake-Server-IBRS</model>" in real["virsh -c test:///default cpu-baseline hosts.xml"]
