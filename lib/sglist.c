/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scatter-gather lists, copies between a list and a linear buffer, and
 * typed accesses at DMA addresses.
 *
 * Everything here is built on the public dms_space_read()/write(): a list
 * is only a validated array of ranges, so the copies inherit every rule of
 * those calls (decoding, permissions, dirty logging, backend splitting)
 * without restating them. The entries come from a guest's descriptors and
 * are checked as they are added: no entry wraps past 2^64 and the total
 * fits 64 bits, so nothing downstream has to think about overflow.
 */
#include "dms-private.h"
#include "refcount.h"

#include <sys/uio.h>

struct DmsSgList {
    atomic_int refcount;
    /*
     * Requests of the engine using the list. They walk the entries
     * without a lock, so changes are refused while any runs.
     */
    atomic_uint busy;
    DmsSpace *space; /* reference held */
    DmsSgEntry *entries;
    size_t nr;
    size_t capacity;
    uint64_t size;
};

/* DmsIovec is documented as castable to struct iovec: hold it to that. */
G_STATIC_ASSERT(sizeof(DmsIovec) == sizeof(struct iovec));
G_STATIC_ASSERT(offsetof(DmsIovec, iov_base) ==
                offsetof(struct iovec, iov_base));
G_STATIC_ASSERT(offsetof(DmsIovec, iov_len) ==
                offsetof(struct iovec, iov_len));

/* Largest fill chunk: one message per 4 KiB keeps a fill of a message
 * region cheap without a large buffer on the stack. */
#define FILL_CHUNK 4096

static int grow(DmsSgList *sg, size_t want)
{
    DmsSgEntry *e;
    size_t cap;

    if (want <= sg->capacity)
        return 0;
    cap = sg->capacity ? sg->capacity : 4;
    while (cap < want) {
        if (cap > SIZE_MAX / 2 / sizeof(DmsSgEntry))
            return -ENOMEM;
        cap *= 2;
    }
    /* The count is guest-controlled: fail softly rather than abort. */
    e = g_try_renew(DmsSgEntry, sg->entries, cap);
    if (!e)
        return -ENOMEM;
    sg->entries = e;
    sg->capacity = cap;
    return 0;
}

int dms_sglist_new(DmsSpace *space, size_t hint, DmsSgList **ret)
{
    DmsSgList *sg;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(space != NULL, -EINVAL);

    sg = g_try_new0(DmsSgList, 1);
    if (!sg)
        return -ENOMEM;
    if (hint > 0 && grow(sg, hint) < 0) {
        g_free(sg);
        return -ENOMEM;
    }
    atomic_init(&sg->refcount, 1);
    atomic_init(&sg->busy, 0);
    sg->space = dms_space_ref(space);
    *ret = sg;
    return 0;
}

DmsSgList *dms_sglist_ref(DmsSgList *sg)
{
    if (sg)
        dms__ref_get(&sg->refcount);
    return sg;
}

DmsSgList *dms_sglist_unref(DmsSgList *sg)
{
    if (sg && dms__ref_put(&sg->refcount)) {
        dms_space_unref(sg->space);
        g_free(sg->entries);
        g_free(sg);
    }
    return NULL;
}

int dms_sglist_add(DmsSgList *sg, uint64_t addr, uint64_t len)
{
    int r;

    g_return_val_if_fail(sg != NULL, -EINVAL);
    if (atomic_load_explicit(&sg->busy, memory_order_acquire) > 0)
        return -EBUSY;
    /* Both checks come from guest descriptors: error codes, no asserts. */
    if (!dms__range_ok(addr, len))
        return -EINVAL;
    if (len == 0)
        return 0;
    if (len > UINT64_MAX - sg->size)
        return -EOVERFLOW;
    if (sg->nr == SIZE_MAX)
        return -ENOMEM;
    r = grow(sg, sg->nr + 1);
    if (r < 0)
        return r;
    sg->entries[sg->nr].addr = addr;
    sg->entries[sg->nr].len = len;
    sg->nr++;
    sg->size += len;
    return 0;
}

int dms_sglist_clear(DmsSgList *sg)
{
    g_return_val_if_fail(sg != NULL, -EINVAL);
    if (atomic_load_explicit(&sg->busy, memory_order_acquire) > 0)
        return -EBUSY;
    sg->nr = 0;
    sg->size = 0;
    return 0;
}

size_t dms_sglist_get_count(const DmsSgList *sg)
{
    g_return_val_if_fail(sg != NULL, 0);
    return sg->nr;
}

uint64_t dms_sglist_get_size(const DmsSgList *sg)
{
    g_return_val_if_fail(sg != NULL, 0);
    return sg->size;
}

const DmsSgEntry *dms_sglist_get_entry(const DmsSgList *sg, size_t index)
{
    g_return_val_if_fail(sg != NULL, NULL);
    if (index >= sg->nr)
        return NULL;
    return &sg->entries[index];
}

DmsSpace *dms_sglist_get_space(const DmsSgList *sg)
{
    g_return_val_if_fail(sg != NULL, NULL);
    return sg->space;
}

/* The engine marks the lists its requests walk (dma-engine.c). */
void dms__sglist_hold(DmsSgList *sg)
{
    atomic_fetch_add_explicit(&sg->busy, 1, memory_order_acq_rel);
}

void dms__sglist_release(DmsSgList *sg)
{
    atomic_fetch_sub_explicit(&sg->busy, 1, memory_order_acq_rel);
}

int dms__sglist_map_piece(DmsSgList *sg, DmsSgCursor *cursor, size_t max,
                          DmsDirection dir, const DmsAttrs *attrs,
                          DmsIovec *iov)
{
    const DmsSgEntry *e = &sg->entries[cursor->entry];
    size_t len = (size_t)MIN(e->len - cursor->offset, (uint64_t)max);
    void *ptr = NULL;
    int r;

    r = dms_space_map(sg->space, e->addr + cursor->offset, &len, dir, attrs,
                      &ptr);
    if (r < 0)
        return r;
    if (len == 0)
        return -EIO; /* a map that succeeds maps something */
    *iov = (DmsIovec){ptr, len};
    cursor->offset += len;
    if (cursor->offset == e->len) {
        cursor->entry++;
        cursor->offset = 0;
    }
    return 0;
}

/* ---- copies ---- */

/*
 * One loop for both directions. It stops at the first error rather than
 * carrying on and OR-ing results as QEMU's dma_buf_rw() does: after a
 * failed entry the bytes past it would land at the wrong buffer offset
 * for any caller that trusts the residual.
 */
static int copy(DmsSgList *sg, void *rbuf, const void *wbuf, size_t len,
                const DmsAttrs *attrs, uint64_t *residual, bool barrier)
{
    uint64_t moved = 0;
    int r = 0;

    if (residual)
        *residual = sg ? sg->size : 0;
    g_return_val_if_fail(sg != NULL, -EINVAL);
    g_return_val_if_fail(len == 0 || (rbuf ? rbuf : wbuf) != NULL, -EINVAL);

    if (barrier)
        atomic_thread_fence(memory_order_seq_cst);

    if ((uint64_t)len > sg->size)
        len = (size_t)sg->size;
    for (size_t i = 0; i < sg->nr && moved < len; i++) {
        const DmsSgEntry *e = &sg->entries[i];
        size_t n = (size_t)MIN(e->len, (uint64_t)len - moved);
        size_t done = 0;

        if (rbuf)
            r = dms_space_read(sg->space, e->addr, (uint8_t *)rbuf + moved, n,
                               attrs, &done);
        else
            r = dms_space_write(sg->space, e->addr,
                                (const uint8_t *)wbuf + moved, n, attrs,
                                &done);
        moved += r < 0 ? MIN(done, n) : n;
        if (r < 0)
            break;
    }
    if (residual)
        *residual = sg->size - moved;
    return r;
}

int dms_sglist_read(DmsSgList *sg, void *buf, size_t len,
                    const DmsAttrs *attrs, uint64_t *residual)
{
    return copy(sg, buf, NULL, len, attrs, residual, true);
}

int dms_sglist_write(DmsSgList *sg, const void *buf, size_t len,
                     const DmsAttrs *attrs, uint64_t *residual)
{
    return copy(sg, NULL, buf, len, attrs, residual, true);
}

int dms_sglist_read_relaxed(DmsSgList *sg, void *buf, size_t len,
                            const DmsAttrs *attrs, uint64_t *residual)
{
    return copy(sg, buf, NULL, len, attrs, residual, false);
}

int dms_sglist_write_relaxed(DmsSgList *sg, const void *buf, size_t len,
                             const DmsAttrs *attrs, uint64_t *residual)
{
    return copy(sg, NULL, buf, len, attrs, residual, false);
}

/* ---- typed accesses ---- */

/*
 * Each is a single dms_space_read()/write() of the value's size, so a
 * register-style region sees one access of that width and the byte order
 * is applied here, in host code, exactly once.
 */
static int load(DmsSpace *space, uint64_t addr, void *bytes, size_t size,
                const DmsAttrs *attrs)
{
    int r;

    atomic_thread_fence(memory_order_seq_cst);
    r = dms_space_read(space, addr, bytes, size, attrs, NULL);
    if (r < 0)
        memset(bytes, 0, size);
    return r;
}

static int store(DmsSpace *space, uint64_t addr, const void *bytes,
                 size_t size, const DmsAttrs *attrs)
{
    atomic_thread_fence(memory_order_seq_cst);
    return dms_space_write(space, addr, bytes, size, attrs, NULL);
}

int dms_space_load_u8(DmsSpace *space, uint64_t addr, uint8_t *value,
                      const DmsAttrs *attrs)
{
    g_return_val_if_fail(value != NULL, -EINVAL);
    return load(space, addr, value, 1, attrs);
}

int dms_space_store_u8(DmsSpace *space, uint64_t addr, uint8_t value,
                       const DmsAttrs *attrs)
{
    return store(space, addr, &value, 1, attrs);
}

/*
 * The twelve sized accessors differ only in width and byte order; a macro
 * keeps them from drifting apart.
 */
#define DEFINE_TYPED(order, bits)                                             \
    int dms_space_load_##order##bits(DmsSpace *space, uint64_t addr,          \
                                     uint##bits##_t *value,                   \
                                     const DmsAttrs *attrs)                   \
    {                                                                         \
        uint8_t b[bits / 8];                                                  \
        int r;                                                                \
                                                                              \
        g_return_val_if_fail(value != NULL, -EINVAL);                         \
        r = load(space, addr, b, sizeof(b), attrs);                           \
        *value = dms_##order##bits##_load(b);                                 \
        return r;                                                             \
    }                                                                         \
                                                                              \
    int dms_space_store_##order##bits(DmsSpace *space, uint64_t addr,         \
                                      uint##bits##_t value,                   \
                                      const DmsAttrs *attrs)                  \
    {                                                                         \
        uint8_t b[bits / 8];                                                  \
                                                                              \
        dms_##order##bits##_store(b, value);                                  \
        return store(space, addr, b, sizeof(b), attrs);                       \
    }

DEFINE_TYPED(le, 16)
DEFINE_TYPED(le, 32)
DEFINE_TYPED(le, 64)
DEFINE_TYPED(be, 16)
DEFINE_TYPED(be, 32)
DEFINE_TYPED(be, 64)

#undef DEFINE_TYPED

int dms_space_fill(DmsSpace *space, uint64_t addr, uint8_t value, uint64_t len,
                   const DmsAttrs *attrs, uint64_t *done)
{
    uint8_t chunk[FILL_CHUNK];
    uint64_t filled = 0;
    int r = 0;

    if (done)
        *done = 0;
    g_return_val_if_fail(space != NULL, -EINVAL);
    /* Checked up front so that a wrapping range writes nothing at all. */
    if (!dms__range_ok(addr, len))
        return -EINVAL;
    if (len == 0)
        return 0;

    memset(chunk, value, (size_t)MIN(len, (uint64_t)sizeof(chunk)));
    atomic_thread_fence(memory_order_seq_cst);
    while (filled < len) {
        size_t n = (size_t)MIN(len - filled, (uint64_t)sizeof(chunk));
        size_t part = 0;

        r = dms_space_write(space, addr + filled, chunk, n, attrs, &part);
        if (r < 0) {
            filled += MIN(part, n);
            break;
        }
        filled += n;
    }
    if (done)
        *done = filled;
    return r;
}
