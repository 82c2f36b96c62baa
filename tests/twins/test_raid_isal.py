"""Twin: snippets/raid.py against Intel ISA-L's xor_gen / pq_gen (Debian libisal2).

ISA-L's include/raid.h states the contract we respect here: xor_gen needs at
least 2 sources (vects > 2) and 32-byte aligned pointers, any length; pq_gen
needs at least 2 sources (vects > 3), 32-byte aligned pointers and a length
that is a multiple of 32 bytes.  P and Q land in the last two pointers.
"""
from __future__ import annotations

import ctypes
import os
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

_SNIPPETS = str(Path(__file__).resolve().parents[2] / "snippets")
if _SNIPPETS not in sys.path:  # tests/conftest.py normally does this
    sys.path.insert(0, _SNIPPETS)

import raid

LIBISAL = "/usr/lib/x86_64-linux-gnu/libisal.so.2"
pytestmark = pytest.mark.twin


@pytest.fixture(scope="module")
def isal():
    if not os.path.exists(LIBISAL):
        pytest.skip(f"{LIBISAL} missing (Debian package libisal2)")
    lib = ctypes.CDLL(LIBISAL)
    for fn in (lib.xor_gen, lib.pq_gen):
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
        fn.restype = ctypes.c_int
    return lib


class Stripe:
    """k source buffers plus `extra` destination buffers, each 32-byte aligned."""

    def __init__(self, blocks: list[bytes], extra: int):
        n = len(blocks[0])
        self.n = n
        self._keep = []
        self.ptrs = (ctypes.c_void_p * (len(blocks) + extra))()
        for i in range(len(blocks) + extra):
            raw = ctypes.create_string_buffer(n + 64)
            addr = ctypes.addressof(raw)
            addr += (-addr) % 32
            self._keep.append(raw)
            self.ptrs[i] = addr
            if i < len(blocks):
                ctypes.memmove(addr, blocks[i], n)
            else:
                ctypes.memset(addr, 0xA5, n)   # garbage, so a no-op call cannot pass

    def out(self, i: int) -> bytes:
        return ctypes.string_at(self.ptrs[i], self.n)


def isal_xor(lib, blocks):
    s = Stripe(blocks, 1)
    rc = lib.xor_gen(len(blocks) + 1, s.n, s.ptrs)
    assert rc == 0
    return s.out(len(blocks))


def isal_pq(lib, blocks):
    s = Stripe(blocks, 2)
    rc = lib.pq_gen(len(blocks) + 2, s.n, s.ptrs)
    assert rc == 0
    return s.out(len(blocks)), s.out(len(blocks) + 1)


def _random_stripe(rng: random.Random, k: int, n: int) -> list[bytes]:
    return [rng.randbytes(n) for _ in range(k)]


def test_xor_parity_matches_isal_xor_gen_on_2000_random_stripes(isal):
    rng = random.Random(20261126)
    for _ in range(2000):
        k = rng.randint(2, 32)
        n = rng.choice([1, 7, 8, 31, 32, 33, 100, 128, 129, 4096, rng.randint(1, 3000)])
        blocks = _random_stripe(rng, k, n)
        assert raid.xor_parity(blocks) == isal_xor(isal, blocks), (k, n)


def test_raid6_pq_matches_isal_pq_gen_on_2000_random_stripes(isal):
    rng = random.Random(6)
    for _ in range(2000):
        k = rng.randint(2, 32)
        n = 32 * rng.choice([1, 2, 3, 4, 5, 128, rng.randint(1, 100)])
        blocks = _random_stripe(rng, k, n)
        assert raid.raid6_pq(blocks) == isal_pq(isal, blocks), (k, n)


@pytest.mark.parametrize("fill", [0x00, 0xFF, 0x80, 0x01])
@pytest.mark.parametrize("k", [2, 3, 32])
def test_raid6_pq_matches_isal_on_constant_blocks(isal, k, fill):
    # 0x80 and 0xff exercise the reduction by 0x1d in every byte of every step
    blocks = [bytes([fill]) * 64 for _ in range(k)]
    assert raid.raid6_pq(blocks) == isal_pq(isal, blocks)


def test_raid6_pq_matches_isal_with_one_hot_blocks(isal):
    # block i holds 0x01 only: Q must be g^i = 2^i in GF(2^8), e.g. g^8 = 0x1d
    for k in range(2, 33):
        for i in range(k):
            blocks = [bytes(32)] * k
            blocks[i] = b"\x01" * 32
            p, q = isal_pq(isal, blocks)
            assert q == bytes([raid.EXP[i]]) * 32
            assert raid.raid6_pq(blocks) == (p, q)
    assert raid.EXP[8] == 0x1D   # hand check: 2^8 = x^8 = x^4+x^3+x^2+1 mod 0x11d


def test_isal_enforces_the_documented_limits(isal):
    # raid.h: pq_gen length must be a multiple of 32; both need at least 2 sources
    s = Stripe([b"a" * 48, b"b" * 48], 2)
    assert isal.pq_gen(4, 48, s.ptrs) != 0
    s = Stripe([b"a" * 32], 2)
    assert isal.pq_gen(3, 32, s.ptrs) != 0
    s = Stripe([b"a" * 32], 1)
    assert isal.xor_gen(2, 32, s.ptrs) != 0


@settings(max_examples=300, deadline=None)
@given(k=st.integers(2, 32), words=st.integers(1, 8), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_any_two_lost_blocks_rebuilt_from_isal_parity(isal, k, words, seed, data):
    rng = random.Random(seed)
    blocks = _random_stripe(rng, k, 32 * words)
    p, q = isal_pq(isal, blocks)
    # choose two of the k + 2 positions (k = P, k + 1 = Q) to lose
    a, b = data.draw(st.lists(st.integers(0, k + 1), min_size=2, max_size=2, unique=True))
    damaged = [None if i in (a, b) else blk for i, blk in enumerate(blocks)]
    got = raid.raid6_recover(damaged, None if k in (a, b) else p, None if k + 1 in (a, b) else q)
    assert got == blocks
