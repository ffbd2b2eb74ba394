/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MemDev: a buffer behind a message backend; see memdev.h.
 */
#include "memdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bytes on either side of the memory that no call may touch. */
#define GUARD 64
#define GUARD_BYTE 0xee

int memdev_new(uint64_t size, uint32_t flags, MemDev **ret)
{
    MemDev *dev;
    uint8_t *alloc;

    if (flags & MEMDEV_ABSENT)
        size = 0;
    if (size > SIZE_MAX - 2 * GUARD)
        return -ENOMEM;
    dev = calloc(1, sizeof(*dev));
    alloc = malloc((size_t)size + 2 * GUARD);
    if (!dev || !alloc) {
        free(dev);
        free(alloc);
        return -ENOMEM;
    }
    memset(alloc, GUARD_BYTE, GUARD);
    memset(alloc + GUARD, 0, (size_t)size);
    memset(alloc + GUARD + size, GUARD_BYTE, GUARD);
    dev->mem = alloc + GUARD;
    dev->size = size;
    dev->flags = flags;
    *ret = dev;
    return 0;
}

void memdev_free(MemDev *dev)
{
    if (!dev)
        return;
    free(dev->mem - GUARD);
    free(dev);
}

bool memdev_guards_intact(const MemDev *dev)
{
    for (size_t i = 0; i < GUARD; i++) {
        if (dev->mem[(ptrdiff_t)i - GUARD] != GUARD_BYTE ||
            dev->mem[dev->size + i] != GUARD_BYTE)
            return false;
    }
    return true;
}

uint8_t memdev_pattern(uint64_t i, unsigned seed)
{
    /* Not periodic at 256 bytes: a copy from a wrong offset shows. */
    return (uint8_t)(i * 131 + (i >> 8) + seed * 29 + 1);
}

void memdev_fill_pattern(MemDev *dev, unsigned seed)
{
    for (uint64_t i = 0; i < dev->size; i++)
        dev->mem[i] = memdev_pattern(i, seed);
}

void memdev_random_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 32);
    }
}

#define RELAXED memory_order_relaxed

/*
 * Records the call; returns what it must answer with instead of moving
 * data (an errno, a bogus count), or 1 to go on.
 */
static int64_t begin_call(MemDev *dev, const MemDevCall *call)
{
    unsigned n = atomic_fetch_add_explicit(&dev->calls, 1, RELAXED);

    atomic_fetch_add_explicit(call->is_write ? &dev->writes : &dev->reads, 1,
                              RELAXED);
    if (!(dev->flags & MEMDEV_THREADS)) {
        dev->last = *call;
        if (n < MEMDEV_LOG)
            dev->log[n] = *call;
    }
    if (dev->hook) {
        int r = dev->hook(dev, call, dev->hook_data);

        if (r < 0)
            return r;
    }
    if ((dev->flags & MEMDEV_ABSENT) || call->len == 0 ||
        call->offset > dev->size || call->len > dev->size - call->offset) {
        atomic_fetch_add_explicit(&dev->bad, 1, RELAXED);
        return -EFAULT;
    }
    if (call->is_write ? dev->fail_write : dev->fail_read)
        return -(call->is_write ? dev->fail_write : dev->fail_read);
    if (dev->fail_call && n + 1 == dev->fail_call)
        return -dev->fail_call_errno;
    if (dev->reply_set)
        return dev->reply;
    return 1;
}

static void count_bytes(MemDev *dev, bool is_write, size_t bytes)
{
    atomic_fetch_add_explicit(
        is_write ? &dev->bytes_written : &dev->bytes_read, bytes, RELAXED);
}

static int64_t bulk_io(MemDev *dev, uint64_t offset, void *dst,
                       const void *src, size_t len, const DmsAttrs *attrs)
{
    MemDevCall call = {
        .is_write = src != NULL,
        .offset = offset,
        .len = len,
        .has_attrs = attrs != NULL,
    };
    int64_t r;

    if (dev->flags & MEMDEV_QUIET) {
        /* Only the check a backend must make, then the copy. */
        if (offset > dev->size || len > dev->size - offset)
            return -EFAULT;
        if (src)
            memcpy(dev->mem + offset, src, len);
        else
            memcpy(dst, dev->mem + offset, len);
        return (int64_t)len;
    }
    if (attrs)
        call.attrs = *attrs;
    r = begin_call(dev, &call);
    if (r != 1)
        return r;
    if (dev->short_len && len > dev->short_len)
        len = dev->short_len;
    if (src)
        memcpy(dev->mem + offset, src, len);
    else
        memcpy(dst, dev->mem + offset, len);
    count_bytes(dev, call.is_write, len);
    return (int64_t)len;
}

static int64_t bulk_read(void *opaque, uint64_t offset, void *buf, size_t len,
                         const DmsAttrs *attrs)
{
    return bulk_io(opaque, offset, buf, NULL, len, attrs);
}

static int64_t bulk_write(void *opaque, uint64_t offset, const void *buf,
                          size_t len, const DmsAttrs *attrs)
{
    return bulk_io(opaque, offset, NULL, buf, len, attrs);
}

/* A register access the device does not implement is a bad call. */
static bool register_size_ok(const MemDev *dev, uint64_t offset, unsigned size)
{
    unsigned min = dev->impl.min_access ? dev->impl.min_access : 1;
    unsigned max = dev->impl.max_access ? dev->impl.max_access : 4;

    return size >= min && size <= max && (size & (size - 1)) == 0 &&
           (dev->impl.unaligned || offset % size == 0);
}

static int value_io(MemDev *dev, uint64_t offset, uint64_t *value,
                    unsigned size, const DmsAttrs *attrs, bool is_write)
{
    MemDevCall call = {
        .is_write = is_write,
        .offset = offset,
        .len = size,
        .has_attrs = attrs != NULL,
    };
    int64_t r;

    if (attrs)
        call.attrs = *attrs;
    r = begin_call(dev, &call);
    if (r == 1 && !register_size_ok(dev, offset, size)) {
        atomic_fetch_add_explicit(&dev->bad, 1, RELAXED);
        r = -EFAULT;
    }
    if (r != 1)
        /* A register call answers 0 or an errno: a count is -EIO. */
        return r < 0 ? (int)r : -EIO;
    if (is_write)
        dms_endian_store(dev->endian, dev->mem + offset, size, *value);
    else
        *value = dms_endian_load(dev->endian, dev->mem + offset, size);
    count_bytes(dev, is_write, size);
    return 0;
}

static int value_read(void *opaque, uint64_t offset, uint64_t *value,
                      unsigned size, const DmsAttrs *attrs)
{
    return value_io(opaque, offset, value, size, attrs, false);
}

static int value_write(void *opaque, uint64_t offset, uint64_t value,
                       unsigned size, const DmsAttrs *attrs)
{
    return value_io(opaque, offset, &value, size, attrs, true);
}

void memdev_bulk_ops(DmsMessageOps *ops, size_t max_access)
{
    memset(ops, 0, sizeof(*ops));
    ops->size = sizeof(*ops);
    ops->read = bulk_read;
    ops->write = bulk_write;
    ops->max_access = max_access;
}

int64_t memdev_zero_read(void *opaque, uint64_t offset, void *buf, size_t len,
                         const DmsAttrs *attrs)
{
    (void)opaque;
    (void)offset;
    (void)attrs;
    memset(buf, 0, len);
    return (int64_t)len;
}

int64_t memdev_drop_write(void *opaque, uint64_t offset, const void *buf,
                          size_t len, const DmsAttrs *attrs)
{
    (void)opaque;
    (void)offset;
    (void)buf;
    (void)attrs;
    return (int64_t)len;
}

void memdev_null_ops(DmsMessageOps *ops)
{
    memset(ops, 0, sizeof(*ops));
    ops->size = sizeof(*ops);
    ops->read = memdev_zero_read;
    ops->write = memdev_drop_write;
}

void memdev_register_ops(MemDev *dev, DmsMessageOps *ops, DmsEndian endian,
                         DmsAccessSizes valid, DmsAccessSizes impl)
{
    memset(ops, 0, sizeof(*ops));
    ops->size = sizeof(*ops);
    ops->read_value = value_read;
    ops->write_value = value_write;
    ops->endian = endian;
    ops->valid = valid;
    ops->impl = impl;
    dev->endian = endian;
    dev->impl = impl;
}

static void count_notify(void *opaque)
{
    MemDev *dev = opaque;

    atomic_fetch_add(&dev->notified, 1);
}

int memdev_region_new(MemDev *dev, const char *name, uint64_t size,
                      const DmsMessageOps *ops, DmsRegion **ret)
{
    DmsMessageOps bulk;

    if (!ops) {
        memdev_bulk_ops(&bulk, 0);
        ops = &bulk;
    }
    return dms_region_new_message(name, size ? size : dev->size, ops, dev,
                                  count_notify, ret);
}
