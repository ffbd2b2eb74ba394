#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the hand-made seeds of tests/fuzz/corpus-*/.

    tests/fuzz/make-seeds.py [CORPUS-ROOT]

Each seed is a short, readable program in the input language the target
decodes (fuzz-space.c, fuzz-proto.c), aimed at one behaviour, so that
libFuzzer starts from inputs that already reach deep states: regions
placed, mappings live, budget exhausted, clients waiting. Seeds found by
fuzzing and kept for coverage are named cov-*; this script leaves those
alone.
"""
import os
import struct
import sys

# ---- fuzz-space: keep in step with the Op enum and decoders there ----
(OP_ADD_RAM, OP_ADD_BULK, OP_ADD_REG, OP_ADD_ALIAS, OP_REMOVE, OP_ADD_AGAIN,
 OP_RESIZE, OP_READ, OP_WRITE, OP_CHECK, OP_MAP, OP_UNMAP, OP_BAD_UNMAP,
 OP_SET_LIMIT, OP_ADD_CLIENT, OP_CANCEL_CLIENT, OP_BEGIN, OP_COMMIT,
 OP_DISPATCH) = range(19)

BASE = 0x10000  # MODEL_BASE: the window starts here


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def header(n_offset=0x8000, n_size=0x1000, n_prio=2):
    """The nested container N: offset and size in C, priority - 2."""
    return u16(n_offset) + u16(n_size) + u8(n_prio)


def shape(in_n=False, overlap=False, bit2=False, bit3=False):
    return u8(in_n | overlap << 1 | bit2 << 2 | bit3 << 3)


def add_ram(offset, size, prio=2, in_n=False, overlap=False, ro=False):
    return (u8(OP_ADD_RAM) + shape(in_n, overlap, ro) + u8(prio) +
            u16(offset) + u16(size - 1))


def add_bulk(offset, size, prio=2, in_n=False, overlap=False, max_access=0,
             short=0, fail_at=None, err=0, bogus=False, serialize=False,
             probe=False):
    flags = ((max_access > 0) | (short > 0) << 1 | (fail_at is not None) << 2
             | bogus << 3 | serialize << 4 | probe << 5)
    out = (u8(OP_ADD_BULK) + shape(in_n, overlap) + u8(prio) + u16(offset) +
           u16(size - 1) + u8(flags))
    if max_access:
        out += u8(max_access - 1)
    if short:
        out += u8(short - 1)
    if fail_at is not None:
        out += u16(fail_at)
    return out + u8(err)


def add_reg(offset, size, prio=2, in_n=False, overlap=False, endian=0,
            valid=0, impl=0, valid_unaligned=False, impl_unaligned=False,
            serialize=False, probe=False):
    """valid/impl index model_pick_sizes()' table."""
    a = (endian | valid_unaligned << 3 | impl_unaligned << 4 | serialize << 5
         | probe << 6)
    return (u8(OP_ADD_REG) + shape(in_n, overlap) + u8(prio) + u16(offset) +
            u16(size - 1) + u8(a) + u8(valid | impl << 4))


def add_alias(offset, size, target, alias_offset, prio=2, in_n=False,
              overlap=False, to_end=False):
    return (u8(OP_ADD_ALIAS) + shape(in_n, overlap, to_end, to_end) +
            u8(prio) + u16(offset) + u16(size - 1) + u8(target) +
            u16(alias_offset))


def addr_of(a):
    """fuzz-space's pick_addr() inverted."""
    return u16(a - (BASE - 32))


def length(n):
    if n < 16:
        return u8(0) + u8(n)
    if n < 256:
        return u8(1) + u8(n)
    if n < 4096:
        return u8(2) + u16(n)
    return u8(3) + u16(n) + u8(0)


def read(a, n, seed=0):
    return u8(OP_READ) + addr_of(a) + length(n) + u8(1) + u8(seed)


def write(a, n, seed=0):
    return u8(OP_WRITE) + addr_of(a) + length(n) + u8(1) + u8(seed)


def access_top(is_write, k, extra):
    """addr = 2^64 - 1 - k, len = k + extra: wraps when extra >= 2."""
    op = OP_WRITE if is_write else OP_READ
    return u8(op) + addr_of(BASE) + length(0) + u8(0) + u8(k) + u8(extra) + \
        u8(0)


def check(a, n, from_device=False):
    return u8(OP_CHECK) + addr_of(a) + length(n) + u8(from_device << 2)


def check_huge(a, from_device=False, word=0xffffffff, shift=8):
    return (u8(OP_CHECK) + addr_of(a) + length(0) +
            u8(1 | from_device << 2 | shift << 3) + struct.pack('<I', word))


def map_(a, n, from_device=False, whole=False, seed=0):
    out = u8(OP_MAP) + addr_of(a) + u8(from_device | whole << 1)
    if not whole:
        out += length(n)
    return out + u8(seed)


def unmap(which, access_len, seed=0):
    return u8(OP_UNMAP) + u8(which) + u16(access_len) + u8(seed)


def bad_unmap(which, how):
    return u8(OP_BAD_UNMAP) + u8(which) + u8(how)


def set_limit(n):
    return u8(OP_SET_LIMIT) + u8(1) + u16(n)


def add_client(ctx=False):
    return u8(OP_ADD_CLIENT) + u8(ctx)


def cancel_client(which, unref=False):
    return u8(OP_CANCEL_CLIENT) + u8(which | unref << 7)


def remove(which, wrong_first=False, twice=False):
    return u8(OP_REMOVE) + u8(which | twice << 6 | wrong_first << 7)


def resize(which, size):
    return u8(OP_RESIZE) + u8(which) + u16(size - 1)


SPACE_SEEDS = {
    'ram-rw': header() + add_ram(0x100, 0x800) + write(BASE + 0x80, 0x200) +
    read(BASE + 0xf0, 0x40) + check(BASE + 0x100, 0x800, True),
    'readonly': header() + add_ram(0x100, 0x100, ro=True) +
    write(BASE + 0x100, 8) + map_(BASE + 0x100, 8, True) +
    map_(BASE + 0x100, 8),
    'priorities': header(0x100, 0x200, 4) + add_ram(0x0, 0x1000, prio=1) +
    add_ram(0x80, 0x100, prio=3) + add_ram(0x40, 0x20, prio=0) +
    add_ram(0x10, 0x80, prio=1) + add_ram(0x10, 0x80, prio=1, overlap=True) +
    add_ram(0x0, 0x40, in_n=True) + read(BASE, 0x1000) +
    write(BASE + 0x60, 0x300),
    'nested-holes': header(0x400, 0x400, 4) + add_ram(0x0, 0x2000) +
    add_bulk(0x100, 0x80, in_n=True) + add_ram(0x300, 0x200, in_n=True) +
    read(BASE + 0x380, 0x600) + write(BASE + 0x3f0, 0x500),
    'bulk-short': header() + add_bulk(0x0, 0x1000, max_access=7, short=3) +
    write(BASE + 0x10, 100) + read(BASE, 200),
    'bulk-fail': header() + add_bulk(0x0, 0x400, fail_at=0x123, err=1) +
    add_bulk(0x400, 0x400, fail_at=0x10, err=7) + write(BASE + 0x100, 0x100) +
    read(BASE + 0x3f0, 0x40) + map_(BASE + 0x100, 0x100),
    'bulk-bogus': header() + add_bulk(0x0, 0x400, fail_at=0x20, bogus=True,
                                      max_access=16) +
    read(BASE, 0x100) + write(BASE + 0x1f, 4),
    'reentry': header() + add_bulk(0x0, 0x100, probe=True, serialize=True) +
    add_reg(0x100, 0x100, probe=True, serialize=True) +
    read(BASE, 0x200) + write(BASE + 0x80, 0x100) + map_(BASE + 0x10, 0x10),
    'reg-le': header() + add_reg(0x0, 0x100, endian=0, valid=4, impl=2) +
    write(BASE + 3, 13, 5) + read(BASE, 32),
    'reg-be': header() + add_reg(0x0, 0x100, endian=1, valid=4, impl=3,
                                 valid_unaligned=True) +
    write(BASE + 1, 29, 9) + read(BASE, 40) + map_(BASE + 5, 11),
    'reg-be-wide': header() + add_reg(0x0, 0x100, endian=1, valid=4,
                                      impl=10, valid_unaligned=True) +
    add_reg(0x100, 0x100, endian=2, valid=10, impl=7) +
    write(BASE + 8, 8, 3) + write(BASE + 0x100, 24, 4) + read(BASE, 0x200) +
    write(BASE + 3, 9, 1) + map_(BASE + 0x108, 16),
    'reg-widen': header() + add_reg(0x0, 0x100, endian=1, valid=1, impl=9) +
    read(BASE + 1, 3) + write(BASE + 1, 1) + write(BASE, 4) +
    check(BASE + 1, 1, True),
    'reg-invalid': header() + add_reg(0x0, 0x100, valid=7, impl=5) +
    read(BASE + 1, 2) + write(BASE, 3) + check(BASE, 6) +
    check_huge(BASE, shift=4),
    'alias': header() + add_ram(0x0, 0x100) + add_alias(0x200, 0x200, 0, 0x80) +
    add_alias(0x400, 0x40, 0, 0x10, to_end=True) + write(BASE + 0x200, 0x80) +
    read(BASE, 0x100) + remove(0) + read(BASE + 0x200, 0x100) + resize(0, 4),
    'batch': header() + u8(OP_BEGIN) + add_ram(0x0, 0x100) + read(BASE, 8) +
    u8(OP_BEGIN) + remove(0) + u8(OP_COMMIT) + read(BASE, 8) +
    u8(OP_COMMIT) + read(BASE, 8),
    'top-of-space': header() + access_top(False, 5, 2) +
    access_top(True, 9, 3) + access_top(False, 4, 1) +
    u8(OP_CHECK) + addr_of(BASE) + length(4) + u8(2) + u8(3) +
    u8(OP_MAP) + addr_of(BASE) + u8(12) + length(9) + u8(7) + u8(0),
    'direct-maps': header() + add_ram(0x0, 0x1000) + add_ram(0x1000, 0x100) +
    map_(BASE + 0x10, 0x2000, True) + map_(BASE + 0x10, 0x2000, True) +
    map_(BASE + 0xff0, 0x100) + bad_unmap(0, 7) + bad_unmap(2, 7) +
    unmap(0, 0x20) + bad_unmap(0, 2) +
    bad_unmap(0, 3) + bad_unmap(1, 4) + bad_unmap(1, 5) + bad_unmap(1, 6) +
    bad_unmap(0, 0) + bad_unmap(0, 1) + unmap(0, 0x100) + unmap(0, 0),
    'bounce': header() + add_bulk(0x0, 0x2000) + set_limit(0x1800) +
    map_(BASE, 0x1000) + map_(BASE + 0x1000, 0x1000, True) +
    map_(BASE, 0x10) + bad_unmap(0, 7) + bad_unmap(1, 0x17) +
    unmap(1, 0x800) + bad_unmap(0, 2) + unmap(0, 0) +
    map_(BASE, 0, whole=True),
    'budget-clients': header() + add_bulk(0x0, 0x4000) + set_limit(0x100) +
    map_(BASE, 0x100) + add_client() + add_client(ctx=True) + add_client() +
    map_(BASE, 1) + cancel_client(1) + unmap(0, 0) + u8(OP_DISPATCH) +
    add_client() + cancel_client(0, unref=True) + cancel_client(2),
    'limit-lowered': header() + add_reg(0x0, 0x1000, valid=4, impl=4) +
    map_(BASE, 0x200, True) + set_limit(0x100) + map_(BASE, 1) +
    add_client() + set_limit(0) + map_(BASE, 1) + unmap(0, 0x200, 3) +
    set_limit(0x1000) + u8(OP_SET_LIMIT) + u8(0),
    'removed-while-mapped': header() + add_bulk(0x0, 0x100) +
    add_ram(0x100, 0x100) + map_(BASE, 0x80, True) +
    map_(BASE + 0x100, 0x80, True) + remove(0) + remove(0) +
    unmap(0, 0x40) + unmap(0, 0x80),
    'teardown-live': header() + add_bulk(0x0, 0x100) + set_limit(0x40) +
    map_(BASE, 0x40, True) + add_client(ctx=True) + add_client(),
}

# ---- fuzz-proto: whole frames of doc/protocol.md ----


def frame(op, ident=1, status=0, addr=0, length=0, payload_len=None,
          magic=0x414d4452, version=1, reserved=0, payload=b''):
    if payload_len is None:
        payload_len = len(payload)
    return struct.pack('<IBBHIIQII', magic, version, op, reserved, ident,
                       status, addr, length, payload_len) + payload


PROTO_SEEDS = {
    'read': frame(0x01, 7, 0, 0x1000, 64),
    'write': frame(0x02, 8, 0, 0x2000, 5, payload=b'hello'),
    'read-reply': frame(0x81, 7, 0, 0x1000, 4, payload=b'\x01\x02\x03\x04'),
    'read-reply-range': frame(0x81, 7, 1, 0x1000, 4),
    'write-reply': frame(0x82, 8, 0, 0x2000, 5),
    'stream': frame(0x01, 1, 0, 0, 8) + frame(0x02, 2, 0, 8, 3, payload=b'abc')
    + frame(0x82, 2, 0, 8, 3) + frame(0x01, 3, 0, 0, 1)[:20],
    'bad-magic': frame(0x01, magic=0x12345678),
    'bad-version': frame(0x01, version=2),
    'bad-op': frame(0x03),
    'reserved': frame(0x01, reserved=1),
    'oversize': frame(0x02, length=(1 << 20) + 1, payload_len=(1 << 20) + 1),
    'payload-mismatch': frame(0x01, length=4, payload_len=4),
    'bad-status': frame(0x81, status=3),
    'request-status': frame(0x01, status=1),
    'truncated': frame(0x02, 1, 0, 0, 100, payload=b'x' * 40),
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    for corpus, seeds in (('corpus-space', SPACE_SEEDS),
                          ('corpus-proto', PROTO_SEEDS)):
        d = os.path.join(root, corpus)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, 'seed-' + name), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
