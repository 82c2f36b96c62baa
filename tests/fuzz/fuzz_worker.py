"""Run fuzz cases for tests/fuzz, one forked child per case, each under a 1 GiB address-space
limit and a 10 s deadline.

A single-threaded process (started by fuzzkit.Worker) imports the snippets once and
forks for every case, which is about twenty times quicker than starting an
interpreter per case and runs the same main() the script runs.  Protocol: one JSON
request per line on stdin, one JSON reply per line on stdout.

Requests:
  {"kind": "cli", "module": "qcow2_tool", "argv": [...], "cwd": DIR, "stdin": FILE or null}
  {"kind": "call", "module": "objcost", "func": "loss_probability", "args": [...], "kwargs": {...}}
  (values of "args"/"kwargs" are decoded by fuzzkit.decode: big ints, nan, inf, bytes, Fractions)
Reply: {"rc": int or null, "signal": int or null, "seconds": float, "out": PATH, "err": PATH,
        "exception": "ValueError: ..." (calls only)}
"""
from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
# FUZZ_SNIPPETS runs the campaigns against another copy of snippets/ (an older commit, say)
sys.path[:0] = [os.environ.get("FUZZ_SNIPPETS") or os.path.join(HERE, "..", "..", "snippets"), HERE]

import fuzzkit  # noqa: E402

# imported once here, so a forked case starts with them loaded
PRELOAD = ("qcow2", "qcow2_tool", "partition_table", "rawdisk", "fstab", "exports", "oncrpc", "ceph_calc",
           "lvm", "disk_limits", "quota", "swap", "overcommit", "objcost", "precopy", "safety")

MEMORY = 1 << 30          # RLIMIT_AS of every case
DEADLINE = 10             # seconds of wall-clock time per case
OUTPUT = 256 << 20        # RLIMIT_FSIZE: what a case may write to stdout or stderr


def child(req: dict, out: str, err: str) -> int:
    """The forked case: limits, redirections, then the snippet's own main() or function."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT, OUTPUT))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(DEADLINE)
    for fd, path, flags in ((1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (0, req.get("stdin") or os.devnull, os.O_RDONLY)):
        new = os.open(path, flags, 0o600)
        os.dup2(new, fd)
        os.close(new)
    os.chdir(req.get("cwd") or "/")
    module = importlib.import_module(req["module"])
    if req["kind"] == "cli":
        sys.argv = [f"{req['module']}.py", *req["argv"]]
        try:
            rc = module.main(list(req["argv"]))
        except SystemExit as exc:            # argparse; sys.exit("text") prints and exits 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:                # what the interpreter would print, and its status
            traceback.print_exc()
            rc = 1
    else:
        args = [fuzzkit.decode(a) for a in req["args"]]
        kwargs = {k: fuzzkit.decode(v) for k, v in req.get("kwargs", {}).items()}
        try:
            getattr(module, req["func"])(*args, **kwargs)
            rc = 0
        except BaseException as exc:
            print(f"{type(exc).__name__}: {str(exc)[:2000]}", file=sys.stderr)
            if not isinstance(exc, ValueError):
                traceback.print_exc()
            rc = 2 if isinstance(exc, ValueError) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    return rc if isinstance(rc, int) else 0


def run(req: dict) -> dict:
    out, err = req["out"], req["err"]
    start = time.monotonic()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child(req, out, err)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code & 0xFF)
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > DEADLINE + 5:       # alarm() could not end it: a backstop
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)
    seconds = time.monotonic() - start
    reply = {"seconds": seconds, "out": out, "err": err, "rc": None, "signal": None}
    if os.WIFEXITED(status):
        reply["rc"] = os.WEXITSTATUS(status)
    else:
        reply["signal"] = signal.SIGKILL if killed else os.WTERMSIG(status)
    return reply


def main() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = run(req)
        except Exception as exc:                      # a broken request, not a snippet failure
            reply = {"rc": None, "signal": None, "seconds": 0.0, "worker_error": repr(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
