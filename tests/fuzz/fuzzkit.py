"""Helpers for the fuzz campaigns in tests/fuzz: seeds, budgets, workers, the contract, failures.

The contract every case is held to (CONTRIBUTING.md, "worked examples", and issue 18): the
script ends with an exit status the tool documents (0-3), within 10 s and 1 GiB of address
space, never with a traceback or a signal; a refusal (status 2) is one line on stderr that
starts with ``NAME.py:`` (argparse's usage lines before it do not count).

Settings, from the environment:

* ``FUZZ_SEED``: the campaign seed, an integer (default 18, so ``make test`` is repeatable)
  or ``random``;
* ``FUZZ_SECONDS``: run each campaign for its share of this many seconds instead of its fixed
  case count (``make fuzz`` sets 600);
* ``FUZZ_OUT``: where failing inputs go (``make fuzz``: dist/fuzz); otherwise a temporary
  directory named in the failure message.

Each case has its own seed (campaign seed, campaign name, case number), written next to its
inputs, so a failure found by a random run can be replayed.
"""
from __future__ import annotations

import base64
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "snippets"
WORKER = Path(__file__).resolve().parent / "fuzz_worker.py"
DEADLINE = 10.0


def _seed() -> int:
    text = os.environ.get("FUZZ_SEED", "18")
    return random.SystemRandom().randrange(2**32) if text == "random" else int(text)


SEED = _seed()
SECONDS = float(os.environ["FUZZ_SECONDS"]) if os.environ.get("FUZZ_SECONDS") else None
OUT = Path(os.environ["FUZZ_OUT"]) if os.environ.get("FUZZ_OUT") else None
WORKERS = 2


# ------------------------------------------------------------------ values across the pipe
def encode(value: Any) -> Any:
    """A Python value as JSON: the numbers JSON cannot hold are tagged."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else {"int": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, Fraction):
        return {"frac": [str(value.numerator), str(value.denominator)]}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return {"list": [encode(v) for v in value]}
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        (tag, body), = value.items()
        return {"int": lambda b: int(b), "float": float, "bytes": base64.b64decode,
                "frac": lambda b: Fraction(int(b[0]), int(b[1])),
                "list": lambda b: [decode(v) for v in b]}[tag](body)
    return value


# ------------------------------------------------------------------ one case
@dataclass
class Case:
    """One run: a CLI (module + argv) or a library call, the files it reads, and what it may do."""

    module: str
    argv: list[str] = field(default_factory=list)
    func: str | None = None                      # a library call instead of the CLI
    args: list[Any] = field(default_factory=list)
    statuses: tuple[int, ...] = (0, 2)           # exit statuses the tool documents for this case
    one_line: Callable[[str, str], bool] | None = None   # (stdout, stderr) -> apply the one-line rule?
    stdin: str | None = None                     # a file name in the case directory
    note: str = ""                               # what was mutated, for the failure report
    directory: Path | None = None
    seed: str = ""


@dataclass
class Result:
    case: Case
    rc: int | None
    signal: int | None
    seconds: float
    stdout: str
    stderr: str
    problem: str | None = None


def _read_head(path: str, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def judge(case: Case, reply: dict) -> Result:
    out, err = _read_head(reply.get("out", "")), _read_head(reply.get("err", ""))
    r = Result(case, reply.get("rc"), reply.get("signal"), reply.get("seconds", 0.0), out, err)
    name = f"{case.module}.py"
    if "worker_error" in reply:
        r.problem = f"the fuzz worker failed: {reply['worker_error']}"
    elif r.signal is not None:
        what = {signal.SIGALRM: f"the {DEADLINE:g} s deadline", signal.SIGKILL: "the deadline (killed)",
                signal.SIGXFSZ: "more output than 256 MiB"}.get(r.signal, f"signal {r.signal}")
        r.problem = f"ended by {what}"
    elif r.seconds > DEADLINE:
        r.problem = f"took {r.seconds:.1f} s (deadline {DEADLINE:g} s)"
    elif "Traceback (most recent call last)" in err or "MemoryError" in err:
        tail = [line for line in err.splitlines() if line.strip()][-1:]
        r.problem = f"traceback: {tail[0] if tail else '?'}"
    elif case.func is not None:
        if r.rc not in (0, 2):
            r.problem = f"raised {err.splitlines()[0] if err else '?'} (accepted: a result or ValueError)"
    elif r.rc not in case.statuses:
        r.problem = f"exit status {r.rc} (accepted: {', '.join(map(str, case.statuses))})"
    elif r.rc == 2 and (case.one_line is None or case.one_line(out, err)):
        for arg in case.argv:                 # argparse quotes an argument as given, newlines and all
            if "\n" in arg:
                err = err.replace(arg, arg.replace("\n", "\\n"))
        lines = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
        if len(lines) != 1:
            r.problem = f"status 2 with {len(lines)} message lines on stderr (accepted: one)"
        elif not lines[0].startswith((f"{name}: ", f"{name} ")):     # "NAME.py sub: error:" (argparse)
            r.problem = f"status 2 with a message that does not start with '{name}: ': {lines[0][:200]}"
    return r


# ------------------------------------------------------------------ workers
class Worker:
    """One fuzz_worker.py process; run() sends a case and waits for its reply."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1, cwd=str(ROOT))
        self.lock = threading.Lock()

    def run(self, case: Case, index: int) -> Result:
        d = case.directory
        assert d is not None
        req = {"kind": "call" if case.func else "cli", "module": case.module, "argv": case.argv,
               "func": case.func, "args": [encode(a) for a in case.args], "cwd": str(d),
               "stdin": str(d / case.stdin) if case.stdin else None,
               "out": str(d / f".out{index}"), "err": str(d / f".err{index}")}
        with self.lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            return Result(case, None, None, 0.0, "", "", "the fuzz worker died")
        return judge(case, json.loads(line))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Pool:
    def __init__(self, n: int = WORKERS) -> None:
        self.workers = [Worker() for _ in range(n)]
        self.free: list[Worker] = list(self.workers)
        self.cond = threading.Condition()
        self.executor = ThreadPoolExecutor(n)

    def _run(self, case: Case, index: int) -> Result:
        with self.cond:
            while not self.free:
                self.cond.wait()
            worker = self.free.pop()
        try:
            return worker.run(case, index)
        finally:
            with self.cond:
                self.free.append(worker)
                self.cond.notify()

    def map(self, cases: Iterable[tuple[int, Case]]) -> list[Result]:
        return list(self.executor.map(lambda ic: self._run(ic[1], ic[0]), cases))

    def close(self) -> None:
        self.executor.shutdown()
        for w in self.workers:
            w.close()


# ------------------------------------------------------------------ campaigns
@dataclass
class Report:
    name: str
    seed: int
    cases: int = 0
    failures: list[Result] = field(default_factory=list)
    saved: Path | None = None
    seconds: float = 0.0

    def message(self) -> str:
        lines = [f"fuzz campaign {self.name!r}, seed {self.seed}: {len(self.failures)} of {self.cases} "
                 f"cases broke the contract; inputs in {self.saved}"]
        for r in self.failures[:12]:
            argv = " ".join(repr(a) if " " in a or not a else a for a in r.case.argv)
            call = (f"{r.case.module}.{r.case.func}{tuple(r.case.args)!r}"[:300] if r.case.func
                    else f"python snippets/{r.case.module}.py {argv}"[:300])
            lines.append(f"  [{r.case.seed}] {r.problem}: {call} ({r.case.note})")
        return "\n".join(lines)


def run_campaign(name: str, pool: Pool, tmp: Path, make_case: Callable[[random.Random, Path], Case],
                 count: int, share: float = 1.0) -> Report:
    """Run `count` cases (or, with FUZZ_SECONDS, as many as fit in this campaign's share)."""
    report = Report(name, SEED)
    budget = SECONDS * share if SECONDS else None
    start = time.monotonic()
    index = 0
    batch = WORKERS * 8
    while True:
        if budget is None and index >= count:
            break
        if budget is not None and time.monotonic() - start > budget:
            break
        n = batch if budget is not None else min(batch, count - index)
        todo = []
        for i in range(index, index + n):
            seed = f"{SEED}:{name}:{i}"
            d = tmp / name / f"case{i}"
            d.mkdir(parents=True, exist_ok=True)
            case = make_case(random.Random(seed), d)
            case.directory, case.seed = d, seed
            todo.append((i, case))
        for r in pool.map(todo):
            report.cases += 1
            if r.problem:
                report.failures.append(r)
                _save(report, r)
            elif r.case.directory is not None:
                shutil.rmtree(r.case.directory, ignore_errors=True)
        index += n
    report.seconds = time.monotonic() - start
    if OUT is not None:
        OUT.mkdir(parents=True, exist_ok=True)
        with open(OUT / "summary.txt", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} seed {SEED} campaign {name}: {report.cases} cases, "
                    f"{len(report.failures)} failures, {report.seconds:.0f} s\n")
    return report


def _save(report: Report, r: Result) -> None:
    base = (OUT or r.case.directory.parents[1] / "failures") / report.name  # type: ignore[union-attr]
    dest = base / r.case.seed.replace(":", "-")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(r.case.directory, dest, ignore=shutil.ignore_patterns(".out*", ".err*"))
    (dest / "case.json").write_text(json.dumps({
        "seed": r.case.seed, "module": r.case.module, "argv": r.case.argv, "func": r.case.func,
        "args": [encode(a) for a in r.case.args], "note": r.case.note, "problem": r.problem,
        "rc": r.rc, "signal": r.signal, "seconds": r.seconds,
        "replay": (f"cd {dest} && python {SNIPPETS}/{r.case.module}.py "
                   + " ".join(r.case.argv)) if not r.case.func else None,
    }, indent=2, ensure_ascii=False))
    (dest / "stdout.txt").write_text(r.stdout[:65536])
    (dest / "stderr.txt").write_text(r.stderr[:65536])
    report.saved = base


# ------------------------------------------------------------------ values worth trying
def interesting_numbers(rng: random.Random) -> str:
    """A number as text from the places parsers break: signs, limits, exponents, huge, odd."""
    return rng.choice([
        "0", "1", "-1", "2", "3", "7", "64", "65", "100", "128", "255", "256", "4096", "65535", "65536",
        str(2**31 - 1), str(2**31), str(2**32 - 1), str(2**32), str(2**53 + 1), str(2**63 - 1), str(2**63),
        str(2**64), str(2**64 + 1), "-" + str(2**63), "198594", "1" + "0" * 30, "9" * 400, "9" * 5000,
        "0.5", "1.5", "1e-12", "1e309", "-1e309", "1e999999999", "inf", "-inf", "nan", "NaN", "1/0",
        "3/2", "0/1", "-0", "+5", "0x10", "010", "1_000", "", " ", "abc", "１２", "1e", "1..2", "٣",
        str(rng.randrange(-10**6, 10**6)), f"{rng.random() * 10 ** rng.randrange(-5, 20):g}",
    ])


def interesting_paths(rng: random.Random) -> str:
    return rng.choice(["/dev/zero", "/dev/null", "/dev/stdin", "/dev/sda", "/dev/loop0", "/dev/loop0\n",
                       "/proc/self/mem", "/proc/kcore", "/sys/kernel/notes", "/proc/self/status", ".",
                       "/", "missing.file", "", "-", "/etc/passwd", "a\x1b[2Jb", "/dev/fd/0"])


def mutate(data: bytes, rng: random.Random, hot: list[tuple[int, int]], wide: bool = False) -> tuple[bytes, str]:
    """A few changes, most of them inside `hot` (headers, tables): bit flips, fields set to
    limits, random bytes, a cut or a copied chunk.  Returns the bytes and what was done."""
    b = bytearray(data)
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5, 8] if not wide else [4, 8, 16, 32])):
        if not b:
            break
        lo, hi = rng.choice(hot) if hot and rng.random() < 0.85 else (0, len(b))
        hi = max(lo + 1, min(hi, len(b)))
        pos = rng.randrange(lo, hi) if lo < len(b) else rng.randrange(len(b))
        op = rng.random()
        if op < 0.35:
            bit = rng.randrange(8)
            b[pos] ^= 1 << bit
            notes.append(f"flip {pos}.{bit}")
        elif op < 0.7:
            width = rng.choice([1, 2, 4, 8])
            pos -= pos % width
            value = rng.choice([0, 1, 2, 0x7F, 0x80, 0xFF, 2**(8 * width) - 1, 2**(8 * width - 1),
                                2**(8 * width - 1) - 1, rng.randrange(2**(8 * width)), 512, 4096, 65536])
            value %= 2**(8 * width)
            order = rng.choice(["big", "little"])
            b[pos:pos + width] = value.to_bytes(width, order)[:max(0, len(b) - pos)]
            notes.append(f"set {width} bytes {order} at {pos} to {value:#x}")
        elif op < 0.85:
            b[pos] = rng.randrange(256)
            notes.append(f"byte {pos}")
        elif op < 0.93:
            cut = rng.randrange(len(b) + 1)
            del b[cut:]
            notes.append(f"cut at {cut}")
        else:
            src = rng.randrange(len(b))
            n = rng.randrange(1, 4096)
            chunk = bytes(b[src:src + n])
            b[pos:pos + len(chunk)] = chunk
            notes.append(f"copy {src}+{len(chunk)} to {pos}")
    return bytes(b), "; ".join(notes)


def write_sparse(path: Path, data: bytes, block: int = 65536) -> None:
    """Write `data` leaving its all-zero blocks as holes (the images are mostly zeros)."""
    zero = bytes(block)
    with open(path, "wb") as f:
        for at in range(0, len(data), block):
            chunk = data[at:at + block]
            if chunk != zero[:len(chunk)]:
                f.seek(at)
                f.write(chunk)
        f.truncate(len(data))
