"""Library entry points the call campaign (test_fuzz_args.py) reaches through plain values.

Some functions take objects (a Pool list, a VG, an Unpacker); these wrappers build them from
the lists and bytes a fuzz case can carry.  A wrapper adds nothing to what it calls: an
exception other than ValueError is the wrapped function's.
"""
from __future__ import annotations

from typing import Any

import ceph_calc
import lvm
import oncrpc
import quota


def autoscale(osd_count: Any, pools: Any, target: Any = 100, threshold: Any = 3.0) -> Any:
    if not isinstance(pools, list):
        raise ValueError("pools: a list (the fuzz case's own check)")
    built = []
    for p in pools:
        if not isinstance(p, list) or len(p) != 5:
            raise ValueError("pool: name, size, ratio, pg_num, bias (the fuzz case's own check)")
        built.append(ceph_calc.Pool(str(p[0]), p[1], p[2], p[3], bias=p[4]))
    return ceph_calc.autoscale(osd_count, built, target, threshold)


def lvcreate(extent: Any, pv_sizes: Any, specs: Any) -> Any:
    if not isinstance(pv_sizes, list) or not isinstance(specs, list):
        raise ValueError("lists expected (the fuzz case's own check)")
    vg = lvm.VG(extent, pv_sizes)
    return [vg.lvcreate(str(s)) for s in specs]


def quota_replay(soft: Any, hard: Any, grace: Any, events: Any) -> Any:
    if not isinstance(events, list):
        raise ValueError("events: a list (the fuzz case's own check)")
    q = quota.Quota(soft, hard, grace)
    return quota.replay(q, [tuple(e) if isinstance(e, list) else e for e in events])


def rpc_reply(xid: Any, message: Any) -> Any:
    """A reply as the client decodes it: the header, then a portmapper list or an export list."""
    u = oncrpc.parse_reply(xid, message, (100000, 2, 4))
    rest = bytes(u.buf[u.pos:])
    maps = oncrpc.unpack_pmaplist(oncrpc.Unpacker(rest))
    exports = []
    v = oncrpc.Unpacker(rest)
    while v.bool() and len(exports) < oncrpc.MAX_LIST:
        directory, groups = v.string(), []
        while v.bool() and len(groups) < oncrpc.MAX_LIST:
            groups.append(v.string())
        exports.append((directory, groups))
    return oncrpc.format_rpcinfo(maps, {}), oncrpc.format_showmount("h", exports)
