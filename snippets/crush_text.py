"""crushtool's text format (the output of ``crushtool -d``) read into a crush.CrushMap.

snippets/crush.py is the CRUSH a page explains: the hash, the bucket
algorithms, the rule steps.  This module is what makes it a twin of
crushtool: it reads the text map with the checks ``crushtool -c`` makes
(CrushCompiler.cc: weights read with strtof, device weights at most 100,
explicit positions, choose_args rows one weight per item) and refuses what
the binary map cannot hold (min_size and max_size are one byte, step
arguments C ints) or what this pure-Python tool cannot finish in seconds
(more than 100 tries per replica, 100 levels of buckets, device ids past
2^20 - 1), each with a one-line ValueError that names the limit.  ``read_map``
and ``start_run`` serve the scripts crush.py and ceph_placement.py.

>>> m = parse("device 0 osd.0\\ntype 0 osd\\ntype 1 host\\nhost h {\\nid -1\\nalg straw2\\n"
...           "item osd.0 weight 2.0\\n}\\nrule r {\\nid 0\\nstep take h\\n"
...           "step choose firstn 0 type osd\\nstep emit\\n}\\n")
>>> m.buckets[-1].weights, m.do_rule(0, 7, 3)
([131072], [0])
>>> parse("rule r {\\nid 0\\nmin_size 1\\nmax_size 300\\n}\\n")
Traceback (most recent call last):
...
ValueError: rule 'r': max_size 300 out of range (0 to 255: one byte in the binary map; crushtool -c keeps its low byte, 44)
"""
from __future__ import annotations

import re
import struct

from crush import ALGS, LEGACY_TUNABLES, MASK32, MAX_RESULT, Bucket, CrushMap, Rule, StepBudget
from safety import read_limited

MAX_DEPTH = 100                  # levels of buckets; Python recursion builds the shadow trees
# Device ids index lists (the reweight vector, as crushtool's): a bound of this
# tool, far above Ceph's mon_max_osd (10000 by default: OSD ids stay below it).
MAX_DEVICE_ID = (1 << 20) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1    # ids and step arguments are C ints
# Retries per replica: every try is a walk down the tree, so a map asking for
# 10^9 (crushtool accepts any 32-bit value) runs for ever here.  Ceph's own
# values are 19 or 50 total tries and set_choose_tries 100 in its EC rules.
MAX_TRIES = 100
TRIES = ("choose_local_tries", "choose_local_fallback_tries", "choose_total_tries",
         "set_choose_tries", "set_chooseleaf_tries", "set_choose_local_tries",
         "set_choose_local_fallback_tries")
SET_STEPS = TRIES[3:] + ("set_chooseleaf_vary_r", "set_chooseleaf_stable")
TUNABLE_NAMES = tuple(LEGACY_TUNABLES)
MAX_BUCKETS = 1 << 16           # a map of 10,000 OSDs has about a thousand buckets
# The device-class trees: one clone of every bucket and item per class.
MAX_SHADOW = 1 << 18
MAX_MAP_BYTES = 8 << 20          # a text map: 10,000 OSDs (mon_max_osd's default) take about 0.5 MiB
# A run of the script (all x values, rules and replica counts) is refused up
# front past MAX_PLACEMENTS placements (replicas); its steps are counted while
# it runs (crush.StepBudget).  crushtool's default run (x 0 to 1023, every rule,
# min_size..max_size replicas) is 1024 x 55 placements for a rule of 1..10
# replicas and 1024 x 18 for an EC 4+2 rule of 3..6 (Ceph sets max_size to k+m):
# four replicated rules and an EC rule fit.  On few hosts the replicas past the
# host count retry many times: crush.EXAMPLE_MAP's default run (2 rules of 1..10
# on 3 hosts) takes 4.15 million of the 5.2 million steps.  A placement hashes every item of
# the buckets it passes: through a bucket of more than PLACEMENT_ITEMS items it
# counts once per PLACEMENT_ITEMS (a 4000-item bucket took 25 times as long as
# a small one, a 200-item one twice).
MAX_PLACEMENTS = 1 << 18
PLACEMENT_ITEMS = 128

_TOKEN = re.compile(r"\n|[{}\[\]]|[^\s{}\[\]]+")
_BLOCK_KEYS = ("id", "ruleset", "min_size", "max_size", "step", "alg", "hash", "item")


def _float_weight(text: str) -> int:
    """crushtool reads weights with strtof() and multiplies by 0x10000 in float."""
    try:
        f = float(text)
    except ValueError:
        raise ValueError(f"weight {text!r} is not a number (expected e.g. 1.000, 0 to 65535)") from None
    if not 0 <= f < 65536:
        raise ValueError(f"weight {text} out of range (0 to 65535)")
    f32 = struct.unpack("f", struct.pack("f", f))[0]   # strtof rounds to float
    return int(f32 * 65536.0)                          # exact, then truncated


def int_field(text: str, what: str) -> int:
    """An integer field of the map, or a ValueError that names the field."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an integer") from None


class _Tokens:
    def __init__(self, text: str) -> None:
        lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
        self.toks = _TOKEN.findall("\n".join(lines))   # "\n" tokens mark line ends
        self.i = 0

    def _skip_newlines(self) -> None:
        while self.i < len(self.toks) and self.toks[self.i] == "\n":
            self.i += 1

    def peek(self) -> str | None:
        self._skip_newlines()
        return self.toks[self.i] if self.i < len(self.toks) else None

    def peek2(self) -> str | None:
        """The token after the next one (newlines skipped)."""
        self._skip_newlines()
        j = self.i + 1
        while j < len(self.toks) and self.toks[j] == "\n":
            j += 1
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str = "a token") -> str:
        self._skip_newlines()
        if self.i >= len(self.toks):
            raise ValueError(f"unexpected end of map, expected {what}")
        self.i += 1
        return self.toks[self.i - 1]

    def raw(self) -> str | None:
        """Next token including newline markers."""
        if self.i >= len(self.toks):
            return None
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, tok: str) -> None:
        got = self.next(repr(tok))
        if got != tok:
            raise ValueError(f"expected {tok!r}, got {got!r}")

    def int(self, what: str) -> int:
        return int_field(self.next(what), what)

    def block_lines(self) -> list[list[str]]:
        """Read '{ ... }' (already past '{') as lines of tokens, split at keywords."""
        out: list[list[str]] = []
        line_start = True
        while True:
            t = self.raw()
            if t is None:
                raise ValueError("unexpected end of map, expected '}'")
            if t == "\n":
                line_start = True
                continue
            if t == "}":
                return out
            if t in _BLOCK_KEYS or (t == "type" and line_start):
                out.append([t])
            elif out:
                out[-1].append(t)
            else:
                raise ValueError(f"unexpected {t!r} at start of block")
            line_start = False


def parse(text: str) -> CrushMap:
    """Parse crushtool's text format; raise ValueError on bad input."""
    try:
        return _Parser(text).run()
    except IndexError:
        raise ValueError("truncated statement in crush map: a keyword is missing its "
                         "value (compare with the output of crushtool -d)") from None


class _Parser:
    """One pass over the tokens; sets and counters keep every check linear in the map's size."""

    def __init__(self, text: str) -> None:
        self.m = CrushMap()
        self.tk = _Tokens(text)
        self.rules: list[tuple[str, list[list[str]]]] = []
        self.type_ids: set[int] = set()
        self.class_names: set[str] = set()
        self.class_ids: set[int] = set()       # the ids of the class trees (id -N class X lines)
        self.free_id = -1                      # no bucket id above it is free

    def run(self) -> CrushMap:
        m, tk = self.m, self.tk
        while tk.peek() is not None:
            word = tk.next()
            if word == "tunable":
                self.tunable(tk.next("tunable name"))
            elif word == "device":
                self.device()
            elif word == "type":
                tid, tname = tk.int("type id"), tk.next("type name")
                if tid < 0 or tid in self.type_ids or tname in m.types:
                    raise ValueError(f"type {tid} {tname}: id or name defined twice, or id < 0")
                m.types[tname] = tid
                self.type_ids.add(tid)
            elif word == "rule":
                name = tk.next("rule name")
                if name != "{":
                    tk.expect("{")
                else:
                    name = ""
                self.rules.append((name, tk.block_lines()))
            elif word == "choose_args":
                self.choose_args()
            elif tk.peek() not in (None, "{") and tk.peek2() == "{":
                self.bucket(word, tk.next())
            else:
                raise ValueError(f"unknown keyword {word!r} in crush map (expected tunable, "
                                 "device, type, a bucket 'TYPE NAME {', rule or choose_args)")
        m.max_devices = max(m.devices) + 1 if m.devices else 0
        self.check_depth()
        shadow = len(m.classes) * sum(1 + len(b.items) for b in m.buckets.values())
        if shadow > MAX_SHADOW:
            raise ValueError(f"{len(m.classes)} device classes over {len(m.buckets)} buckets make "
                             f"{shadow} entries in the class trees; this tool builds at most "
                             f"{MAX_SHADOW} (Ceph's classes are hdd, ssd and nvme)")
        m._build_shadow_trees()
        for name, lines in self.rules:
            self.rule(name, lines)
        self.check_choose_args()
        return m

    def tunable(self, name: str) -> None:
        if name not in TUNABLE_NAMES:
            raise ValueError(f"tunable {name!r} not recognized (known: {', '.join(TUNABLE_NAMES)})")
        value = self.tk.int(f"tunable {name}")
        if not 0 <= value <= MASK32:
            raise ValueError(f"tunable {name} {value} out of range (0 to 4294967295)")
        if name in TRIES and value > MAX_TRIES:
            raise ValueError(f"tunable {name} {value} out of range (0 to {MAX_TRIES} in this "
                             "tool: each try walks the tree again; Ceph's profiles set 0 to 50)")
        self.m.tunables[name] = value

    def device(self) -> None:
        m, tk = self.m, self.tk
        dev_id = tk.int("device id")
        name = tk.next("device name")
        if not 0 <= dev_id <= MAX_DEVICE_ID:
            raise ValueError(f"device {name}: id {dev_id} out of range (0 to {MAX_DEVICE_ID} in "
                             "this tool; Ceph's OSD ids stay below mon_max_osd, 10000 by default)")
        if dev_id in m.devices:
            raise ValueError(f"device id {dev_id} is defined twice ({m.devices[dev_id]} and {name})")
        if name in m.names:
            raise ValueError(f"device name {name!r} is defined twice")
        m.devices[dev_id] = name
        m.names[name] = dev_id
        if tk.peek() == "class":
            tk.next()
            m.device_class[dev_id] = self.add_class(tk.next("class name"))

    def add_class(self, name: str) -> str:
        if name not in self.class_names:       # m.classes keeps their order (class ids)
            self.class_names.add(name)
            self.m.classes.append(name)
        return name

    def bucket(self, type_name: str, name: str) -> None:
        m = self.m
        if type_name not in m.types:
            raise ValueError(f"bucket {name!r}: type {type_name!r} is not defined")
        if name in m.names:
            raise ValueError(f"bucket or device {name!r} is already defined")
        if len(m.buckets) >= MAX_BUCKETS:
            raise ValueError(f"bucket {name!r}: more than {MAX_BUCKETS} buckets; this tool holds at most "
                             f"{MAX_BUCKETS} (a map of 10,000 OSDs has about a thousand)")
        self.tk.expect("{")
        bid, alg, hsh = 0, -1, 0
        entries: list[tuple[str, int, int | None]] = []
        classes: dict[str, int] = {}
        for line in self.tk.block_lines():
            key = line[0]
            if key == "id":
                if len(line) == 4 and line[2] == "class":
                    cid = int_field(line[1], f"bucket {name!r}: class id")
                    if not S32_MIN <= cid < 0 or cid in self.class_ids:
                        raise ValueError(f"bucket {name!r}: class id {cid} invalid "
                                         "(must be -2147483648 to -1 and unique)")
                    if cid in m.buckets:
                        raise ValueError(f"bucket {name!r}: class id {cid} already used (must be unique)")
                    classes[self.add_class(line[3])] = cid
                    self.class_ids.add(cid)
                else:
                    bid = int_field(line[1], f"bucket {name!r}: id")
            elif key == "alg":
                if line[1] not in ALGS:
                    raise ValueError(f"bucket {name!r}: unknown alg {line[1]!r} "
                                     f"(one of {', '.join(ALGS)})")
                alg = ALGS[line[1]]
            elif key == "hash":
                hsh = 0 if line[1] == "rjenkins1" else int_field(line[1], f"bucket {name!r}: hash")
                if hsh != 0:
                    raise ValueError(f"bucket {name!r}: hash {hsh} unsupported (only 0, rjenkins1)")
            elif key == "item":
                entries.append(self.item(name, line))
            else:
                raise ValueError(f"bucket {name!r}: unexpected {key!r}")
        if alg < 0:
            raise ValueError(f"bucket {name!r}: missing alg (one of {', '.join(ALGS)})")
        total = sum(w for _, w, _ in entries)
        if alg == ALGS["uniform"] and entries:
            total = entries[0][1] * len(entries)
            if not entries[0][1]:
                raise ValueError(f"bucket {name!r}: uniform bucket with item weight 0 "
                                 "(crushtool aborts on it; weight > 0 required)")
        if total > MASK32:
            raise ValueError(f"bucket {name!r}: total weight {total / 0x10000:.3f} "
                             "out of range (at most 65535.999)")
        items, weights = self.place(name, entries)
        if bid == 0:                           # no id line: the first free one, as crushtool picks
            while self.free_id in m.buckets:
                self.free_id -= 1
            bid = self.free_id
        if bid in m.buckets or not S32_MIN <= bid < 0 or bid in self.class_ids:
            raise ValueError(f"bucket {name!r}: duplicate or invalid id {bid} "
                             "(must be -2147483648 to -1, unique)")
        b = Bucket(bid, name, m.types[type_name], alg, hsh, items, weights,
                   m.tunables["straw_calc_version"])
        b.prepare()
        m.buckets[bid] = b
        m.names[name] = bid
        if classes:
            m.class_bucket[bid] = classes

    def item(self, bucket: str, line: list[str]) -> tuple[str, int, int | None]:
        """One 'item NAME [weight W] [pos P]' line: (name, weight as 16.16, pos)."""
        m, iname = self.m, line[1]
        if iname == bucket:
            raise ValueError(f"bucket {bucket!r} contains itself")
        if iname not in m.names:
            raise ValueError(f"bucket {bucket!r}: item {iname!r} is not defined "
                             "(define devices and child buckets first; "
                             "a cycle of buckets cannot be compiled)")
        item = m.names[iname]
        w: int | None = None
        pos: int | None = None
        rest = line[2:]
        for j in range(0, len(rest) - 1, 2):
            if rest[j] == "weight":
                w = _float_weight(rest[j + 1])
            elif rest[j] == "pos":
                pos = int_field(rest[j + 1], f"bucket {bucket!r}: pos")
                if pos < 0:
                    raise ValueError(f"bucket {bucket!r}: item {iname!r} pos {pos} "
                                     "out of range (0 or more)")
        if w is None:   # a bucket's own weight, or 1.0 for a device
            w = m.buckets[item].weight if item < 0 else 0x10000
        if item >= 0 and w > 100 * 0x10000:      # CrushCompiler's limits
            raise ValueError(f"bucket {bucket!r}: device weight {w / 0x10000:.3f} of "
                             f"{iname} out of range (0 to 100)")
        if item < 0 and w > 65535 * 0x10000:
            raise ValueError(f"bucket {bucket!r}: bucket weight {w / 0x10000:.3f} of "
                             f"{iname} out of range (0 to 65535)")
        return iname, w, pos

    def place(self, bucket: str, entries: list[tuple[str, int, int | None]]) -> tuple[list[int], list[int]]:
        """Item ids and weights in bucket order: an explicit pos first, the rest fill the gaps."""
        size = len(entries)
        used: set[int] = set()
        for iname, _, pos in entries:
            if pos in used:
                raise ValueError(f"bucket {bucket!r}: item {iname!r} has explicit pos {pos}, "
                                 "which is occupied")
            if pos is not None:
                used.add(pos)
        if used and max(used) >= size:      # checked before the lists are built, as crushtool does
            iname, _, pos = max((e for e in entries if e[2] is not None), key=lambda e: e[2])
            raise ValueError(f"bucket {bucket!r}: item {iname!r} pos {pos} >= size {pos}")
        items, weights = [0] * size, [0] * size
        cur = 0
        for iname, w, pos in entries:
            if pos is None:
                while cur in used:
                    cur += 1
                pos = cur
                cur += 1
            items[pos], weights[pos] = self.m.names[iname], w
        return items, weights

    def rule(self, name: str, lines: list[list[str]]) -> None:
        m = self.m
        rid, rtype, steps = None, "replicated", []
        sizes = {"min_size": 1, "max_size": 10}
        for line in lines:
            key = line[0]
            if key in ("id", "ruleset"):
                rid = int_field(line[1], f"rule {name!r}: id")
                if not 0 <= rid < 256:
                    raise ValueError(f"rule {name!r}: id {rid} out of range (0 to 255)")
            elif key == "type":
                rtype = line[1]
            elif key in ("min_size", "max_size"):
                v = sizes[key] = int_field(line[1], f"rule {name!r}: {key}")
                if not 0 <= v <= 255:               # crushtool -c: strtol, then the low byte
                    kept = f"; crushtool -c keeps its low byte, {min(v, 2 ** 63 - 1) & 0xFF}" if v > 0 else ""
                    raise ValueError(f"rule {name!r}: {key} {v} out of range (0 to 255: one byte "
                                     f"in the binary map{kept})")
            elif key == "step":
                steps.append(self.step(name, line[1:]))
        if rid is None:
            raise ValueError(f"rule {name!r}: missing id")
        if rid in m.rules:
            raise ValueError(f"rule {rid} already exists")
        m.rules[rid] = Rule(rid, name, rtype, steps, sizes["min_size"], sizes["max_size"])

    def step(self, rname: str, w: list[str]) -> tuple[str, int, int]:
        m = self.m
        op = w[0] if w else ""
        if op == "take":
            if w[1] not in m.names:
                raise ValueError(f"rule {rname!r}: item {w[1]!r} not defined")
            item = m.names[w[1]]
            if len(w) >= 4 and w[2] == "class":
                shadow = m.class_bucket.get(item, {}).get(w[3])
                if shadow is None:
                    raise ValueError(f"rule {rname!r}: take {w[1]} has no bucket for class {w[3]!r}")
                item = shadow
            return ("take", item, 0)
        if op == "emit":
            return ("emit", 0, 0)
        if op in ("choose", "chooseleaf"):
            if len(w) != 5 or w[1] not in ("firstn", "indep") or w[3] != "type":
                raise ValueError(f"rule {rname!r}: bad step {' '.join(w)!r} "
                                 "(expected: choose|chooseleaf firstn|indep N type T)")
            n = int_field(w[2], f"rule {rname!r}: {op} count")
            if not S32_MIN <= n <= MAX_RESULT:     # 0 and less: the pool's size minus -n
                raise ValueError(f"rule {rname!r}: {op} count {n} out of range (-2147483648 to "
                                 f"{MAX_RESULT}: a PG has at most {MAX_RESULT} OSDs)")
            if w[4] not in m.types:
                raise ValueError(f"rule {rname!r}: type {w[4]!r} not defined")
            return (f"{op}_{w[1]}", n, m.types[w[4]])
        if op in SET_STEPS:
            if len(w) != 2:
                raise ValueError(f"rule {rname!r}: step {op} takes one integer")
            value = int_field(w[1], f"rule {rname!r}: {op}")
            high = MAX_TRIES if op in TRIES else S32_MAX
            if not S32_MIN <= value <= high:    # a C int in the binary map; 0 and less: unset
                raise ValueError(f"rule {rname!r}: {op} {value} out of range (-2147483648 to {high}"
                                 + (" in this tool: each try walks the tree again; Ceph's EC rules "
                                    "set 100)" if op in TRIES else ": a 32-bit int in the binary map)"))
            return (op, value, 0)
        raise ValueError(f"rule {rname!r}: unknown step {' '.join(w)!r}")

    def choose_args(self) -> None:
        tk = self.tk
        index = tk.int("choose_args index")
        if index >= 1 << 63:                 # printed unsigned: -1 is the default set
            index -= 1 << 64
        tk.expect("{")
        args: dict[int, tuple[list[list[int]], list[int] | None]] = {}
        while tk.peek() == "{":
            tk.next()
            bucket_id, wsets, ids = None, [], None
            while tk.peek() != "}":
                key = tk.next("bucket_id, weight_set or ids")
                if key == "bucket_id":
                    bucket_id = tk.int("bucket_id")
                elif key == "weight_set":
                    tk.expect("[")
                    while tk.peek() == "[":
                        tk.next()
                        row = []
                        while tk.peek() != "]":
                            row.append(_float_weight(tk.next("a weight or ']'")))
                        tk.next()
                        wsets.append(row)
                    tk.expect("]")
                elif key == "ids":
                    tk.expect("[")
                    ids = []
                    while tk.peek() != "]":
                        ids.append(tk.int("id"))
                    tk.next()
                else:
                    raise ValueError(f"choose_args: unexpected {key!r}")
            tk.next()
            if bucket_id is None:
                raise ValueError("choose_args: entry without bucket_id")
            args[bucket_id] = (wsets, ids)
        tk.expect("}")
        self.m.choose_args[index] = args

    def check_depth(self) -> None:
        """Bound the nesting: the shadow trees are cloned recursively (as Ceph's
        CrushWrapper::device_class_clone does; crushtool survives 5,000 levels
        and overflows its stack before 20,000).  Buckets are defined after
        their children, so one pass in definition order finds every depth."""
        depth: dict[int, int] = {}
        for bid, b in self.m.buckets.items():
            depth[bid] = 1 + max((depth[i] for i in b.items if i < 0), default=0)
            if depth[bid] > MAX_DEPTH:
                raise ValueError(f"bucket {b.name!r} is nested {depth[bid]} levels deep; this tool "
                                 f"follows at most {MAX_DEPTH} levels (a real map has about a dozen "
                                 "types, from osd up to root)")

    def check_choose_args(self) -> None:
        """As CrushCompiler does: each entry names a bucket (shadow buckets too),
        and every weight_set row and the ids list hold one value per item."""
        for index, args in self.m.choose_args.items():
            for bid, (wsets, ids) in args.items():
                where = f"choose_args {index}: bucket_id {bid}"
                if bid >= 0:
                    raise ValueError(f"{where} is not a bucket (bucket ids are negative)")
                if bid not in self.m.buckets:
                    raise ValueError(f"{where} does not exist")
                size = len(self.m.buckets[bid].items)
                for row in wsets:
                    if len(row) != size:
                        raise ValueError(f"{where} needs exactly {size} weights but got {len(row)} "
                                         "(one per item of the bucket in each weight_set row)")
                if ids is not None and len(ids) != size:
                    raise ValueError(f"{where} needs exactly {size} ids but got {len(ids)} "
                                     "(one per item of the bucket)")


# ------------------------------------------------------------ the script
def read_map(path: str) -> CrushMap:
    """Parse the text map in a file or a pipe, read through the guard in safety.py: at most
    MAX_MAP_BYTES, no devices, directories or /proc files; ValueError on any problem."""
    try:
        text = read_limited(path, MAX_MAP_BYTES, "crush map").decode("utf-8")
    except OSError as e:
        raise ValueError(f"cannot read map {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"map {path} is not text (decompile it with crushtool -d)") from None
    return parse(text)


def start_run(m: CrushMap, placements: int, hint: str) -> None:
    """Refuse a run of the script past MAX_PLACEMENTS placements, and give the map one
    step budget for the whole run (crush.StepBudget), which do_rule spends as it maps."""
    largest = m.largest_bucket()
    cost = -(-largest // PLACEMENT_ITEMS) or 1
    if placements * cost > MAX_PLACEMENTS:
        through = (f" through buckets of up to {largest} items, a placement counting once per "
                   f"{PLACEMENT_ITEMS}" if cost > 1 else "")
        raise ValueError(f"this run asks for {placements} placements{through}; this tool does at most "
                         f"{MAX_PLACEMENTS} per run (seconds of pure Python): {hint}")
    m.budget = StepBudget("this run", f"; {hint}")
