"""labkit.stop(): how every lab ends the processes it started (no root needed)."""
from __future__ import annotations

import signal
import subprocess
import sys

from labkit import alive, stop

IGNORES_SIGTERM = ("import signal, sys, time\n"
                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                   "print('ready', flush=True)\n"
                   "time.sleep(600)\n")


def test_sigterm_ends_a_child_and_it_is_reaped():
    proc = subprocess.Popen(["sleep", "600"])
    stop(proc)
    assert proc.returncode == -signal.SIGTERM
    assert not alive(proc.pid)


def test_sigkill_after_the_grace_when_sigterm_is_ignored():
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"      # the handler is in place before we signal
    stop(proc, grace=0.5)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def test_another_first_signal():
    proc = subprocess.Popen(["sleep", "600"])
    stop(proc, sig=signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL


def test_a_process_that_already_exited_is_left_alone():
    proc = subprocess.Popen(["true"])
    proc.wait()
    stop(proc)
    assert proc.returncode == 0


def test_a_detached_daemon_by_its_pid():
    # the shell exits at once; its background sleep is no child of ours (like qemu-nbd --fork)
    pid = int(subprocess.run(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"], capture_output=True,
                             text=True, check=True).stdout)
    assert alive(pid)
    stop(pid)
    assert not alive(pid)
    stop(pid)                                       # gone already: nothing to do, no error
