/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reads, writes and checks over a space's view, and accesses to one leaf
 * region.
 *
 * RAM is copied inside a read-side section, without locks or references.
 * A message region is pinned with a reference, the section is left, and
 * only then is the backend called: a backend may block on a socket, call
 * back into the library, or see its region removed, and none of that can
 * stall a writer's grace period.
 *
 * Message regions are split only where the backend needs it: bulk
 * backends at max_access, register-style backends into the value sizes
 * their valid/impl constraints allow, in the device's byte order.
 */
#include "dms-private.h"
#include "trace.h"

/*
 * Message regions whose callbacks are running on this thread, innermost
 * first: an access that would re-enter one of them fails with -EDEADLK
 * rather than recursing (QEMU added the same guard after DMA-to-own-MMIO
 * bugs), and a serialised region cannot deadlock on its own lock.
 */
typedef struct CallFrame {
    const DmsRegion *region;
    struct CallFrame *outer;
} CallFrame;

static DMS_THREAD_LOCAL CallFrame *call_stack;

static bool in_call(const DmsRegion *r)
{
    for (const CallFrame *f = call_stack; f; f = f->outer) {
        if (f->region == r)
            return true;
    }
    return false;
}

/* ---- register-style accessors ---- */

typedef struct RegLimits {
    unsigned valid_min, valid_max, impl_min, impl_max;
    bool valid_unaligned, impl_unaligned;
} RegLimits;

static RegLimits reg_limits(const DmsMessageOps *ops)
{
    RegLimits l = {
        .valid_min = ops->valid.min_access ? ops->valid.min_access : 1,
        .valid_max = ops->valid.max_access ? ops->valid.max_access : 4,
        .impl_min = ops->impl.min_access ? ops->impl.min_access : 1,
        .impl_max = ops->impl.max_access ? ops->impl.max_access : 4,
        .valid_unaligned = ops->valid.unaligned,
        .impl_unaligned = ops->impl.unaligned,
    };
    return l;
}

/* Largest power of two <= min(max, rem), aligned at @off unless allowed. */
static unsigned piece_size(uint64_t off, uint64_t rem, unsigned max,
                           bool unaligned)
{
    unsigned size = max;

    while (size > rem)
        size >>= 1;
    if (!unaligned) {
        while (size > 1 && (off & (size - 1)))
            size >>= 1;
    }
    return size;
}

/*
 * One valid-sized access of @size bytes at @off, carried out with the
 * sizes the backend implements. With @buf NULL, only checks feasibility.
 */
static int reg_access(const DmsRegion *r, const RegLimits *l, uint64_t off,
                      uint8_t *buf, unsigned size, const DmsAttrs *attrs,
                      bool is_write)
{
    const DmsMessageOps *ops = &r->msg->ops;
    unsigned pos = 0;

    while (pos < size) {
        uint64_t at = off + pos;
        unsigned n =
            piece_size(at, size - pos, l->impl_max, l->impl_unaligned);
        uint64_t value;
        int ret;

        if (n >= l->impl_min) {
            if (!buf) {
                ret = 0;
            } else {
                DMS_TRACE(backend_call, r, &r->name[0], at, n, is_write);
                if (is_write)
                    ret = ops->write_value(
                        r->msg->opaque, at,
                        dms_endian_load(ops->endian, buf + pos, n), n, attrs);
                else if ((ret = ops->read_value(r->msg->opaque, at, &value, n,
                                                attrs)) == 0)
                    dms_endian_store(ops->endian, buf + pos, n, value);
                DMS_TRACE(backend_return, r, at, n, ret);
            }
            if (ret < 0)
                return ret;
            pos += n;
            continue;
        }
        /*
         * Narrower than the backend implements. A read can be widened and
         * the wanted bytes picked out; a widened write would clobber the
         * neighbouring bytes, so it is refused.
         */
        if (is_write)
            return -EOPNOTSUPP;
        {
            unsigned wide = l->impl_min;
            uint64_t base = at & ~(uint64_t)(wide - 1);
            unsigned skip = (unsigned)(at - base);
            unsigned take = MIN(wide - skip, size - pos);
            uint8_t tmp[8];

            if (buf) {
                DMS_TRACE(backend_call, r, &r->name[0], base, wide, false);
                ret =
                    ops->read_value(r->msg->opaque, base, &value, wide, attrs);
                DMS_TRACE(backend_return, r, base, wide, ret);
                if (ret < 0)
                    return ret;
                dms_endian_store(ops->endian, tmp, wide, value);
                memcpy(buf + pos, tmp + skip, take);
            }
            pos += take;
        }
    }
    return 0;
}

/*
 * Splits [offset, offset + len) into valid-sized accesses. Lengths are
 * 64-bit: a dry run (buf NULL) may check more than SIZE_MAX bytes on a
 * 32-bit host.
 */
static int reg_walk(const DmsRegion *r, uint64_t offset, uint8_t *buf,
                    uint64_t len, const DmsAttrs *attrs, bool is_write,
                    uint64_t *done)
{
    RegLimits l = reg_limits(&r->msg->ops);
    uint64_t pos = 0;
    int ret = 0;

    while (pos < len) {
        uint64_t off = offset + pos;
        unsigned size =
            piece_size(off, len - pos, l.valid_max, l.valid_unaligned);

        if (size < l.valid_min) {
            ret = -EOPNOTSUPP;
            break;
        }
        ret = reg_access(r, &l, off, buf ? buf + pos : NULL, size, attrs,
                         is_write);
        if (ret < 0)
            break;
        /*
         * A dry run need not visit every piece: once a piece is full-sized
         * and aligned, every following full piece is the same, so only the
         * tail is left to check (a check of 2^40 bytes must not loop 2^37
         * times).
         */
        if (!buf && size == l.valid_max && len - pos >= 2 * (uint64_t)size)
            pos += ((len - pos) / size - 1) * size;
        pos += size;
    }
    *done = pos;
    return ret;
}

/* ---- bulk accessors ---- */

static int bulk_walk(const DmsRegion *r, uint64_t offset, uint8_t *buf,
                     size_t len, const DmsAttrs *attrs, bool is_write,
                     size_t *done)
{
    const DmsMessageOps *ops = &r->msg->ops;
    size_t pos = 0;
    int ret = 0;

    while (pos < len) {
        size_t n = len - pos;
        int64_t got;

        if (ops->max_access && n > ops->max_access)
            n = ops->max_access;
        DMS_TRACE(backend_call, r, &r->name[0], offset + pos, n, is_write);
        if (is_write)
            got =
                ops->write(r->msg->opaque, offset + pos, buf + pos, n, attrs);
        else
            got = ops->read(r->msg->opaque, offset + pos, buf + pos, n, attrs);
        DMS_TRACE(backend_return, r, offset + pos, n, got);
        if (got < 0) {
            /* A backend's errno passes through; nonsense becomes -EIO. */
            ret = got >= -4095 ? (int)got : -EIO;
            break;
        }
        if (got == 0 || (uint64_t)got > n) {
            /* No progress or an impossible count: looping on it could
             * spin forever or run past the buffer. */
            ret = -EIO;
            break;
        }
        pos += (size_t)got;
    }
    *done = pos;
    return ret;
}

static int region_rw(DmsRegion *r, uint64_t offset, uint8_t *buf, size_t len,
                     const DmsAttrs *attrs, bool is_write, size_t *done)
{
    CallFrame frame = {r, call_stack};
    size_t moved = 0;
    bool serial;
    int ret;

    if (r->kind == DMS_KIND_RAM) {
        if (is_write && r->readonly) {
            ret = -EACCES;
        } else {
            if (is_write) {
                memcpy(r->host + offset, buf, len);
                dms__dirty_mark(r, offset, len);
            } else {
                memcpy(buf, r->host + offset, len);
            }
            moved = len;
            ret = 0;
        }
        goto out;
    }
    if (in_call(r)) {
        ret = -EDEADLK;
        goto out;
    }
    serial = r->msg->ops.flags & DMS_MESSAGE_SERIALIZE;
    call_stack = &frame;
    if (serial)
        g_mutex_lock((GMutex *)&r->msg->serialize_lock);
    if (r->msg->ops.read) {
        ret = bulk_walk(r, offset, buf, len, attrs, is_write, &moved);
    } else {
        uint64_t walked;
        ret = reg_walk(r, offset, buf, len, attrs, is_write, &walked);
        moved = (size_t)walked;
    }
    if (serial)
        g_mutex_unlock((GMutex *)&r->msg->serialize_lock);
    call_stack = frame.outer;
out:
    if (done)
        *done = moved;
    return ret;
}

int dms__region_read(DmsRegion *r, uint64_t offset, void *buf, size_t len,
                     const DmsAttrs *attrs, size_t *done)
{
    return region_rw(r, offset, buf, len, attrs, false, done);
}

int dms__region_write(DmsRegion *r, uint64_t offset, const void *buf,
                      size_t len, const DmsAttrs *attrs, size_t *done)
{
    /* The write paths never store through buf. */
    return region_rw(r, offset, (uint8_t *)(uintptr_t)buf, len, attrs, true,
                     done);
}

/* ---- over a space ---- */

static DmsFlatView *current_view(DmsSpace *space)
{
    /* Acquire pairs with the release in the exchange that published it. */
    return atomic_load_explicit(&space->view, memory_order_acquire);
}

/* Bytes of @fr from @a on, capped at @rem (no overflow at 2^64). */
static uint64_t run_length(const DmsFlatRange *fr, uint64_t a, uint64_t rem)
{
    return fr->last - a >= rem - 1 ? rem : fr->last - a + 1;
}

static int space_rw(DmsSpace *space, uint64_t addr, uint8_t *buf, size_t len,
                    const DmsAttrs *attrs, bool is_write, size_t *done)
{
    size_t pos = 0;
    int ret = 0;

    if (done)
        *done = 0;
    g_return_val_if_fail(space != NULL, -EINVAL);
    if (len == 0)
        return 0;
    g_return_val_if_fail(buf != NULL, -EINVAL);
    if (!dms__range_ok(addr, len))
        return -EINVAL;

    while (pos < len && ret == 0) {
        const DmsFlatView *fv;
        const DmsFlatRange *fr;
        DmsRegion *pinned = NULL;
        uint64_t a = addr + pos, offset = 0;
        size_t n = 0, moved = 0;

        dms__rcu_read_lock();
        fv = current_view(space);
        fr = dms__flatview_lookup(fv, a);
        /* Consecutive RAM ranges are copied without leaving the section. */
        while (fr && fr->host && pos < len) {
            n = (size_t)run_length(fr, a, len - pos);
            if (is_write && fr->region->readonly) {
                ret = -EACCES;
                break;
            }
            if (is_write) {
                memcpy(fr->host + (a - fr->start), buf + pos, n);
                /* Most RAM keeps no log: skip the call for it. */
                if (atomic_load_explicit(&fr->region->dirty,
                                         memory_order_relaxed))
                    dms__dirty_mark(fr->region, fr->offset + (a - fr->start),
                                    n);
            } else {
                memcpy(buf + pos, fr->host + (a - fr->start), n);
            }
            pos += n;
            a += n;
            if (pos == len)
                break;
            fr = dms__flatview_next(fv, fr, a);
        }
        if (ret == 0 && pos < len) {
            if (!fr) {
                ret = -EFAULT;
            } else {
                pinned = dms_region_ref(fr->region);
                offset = fr->offset + (a - fr->start);
                n = (size_t)run_length(fr, a, len - pos);
            }
        }
        dms__rcu_read_unlock();

        if (pinned) {
            ret = region_rw(pinned, offset, buf + pos, n, attrs, is_write,
                            &moved);
            pos += moved;
            dms_region_unref(pinned);
        }
    }
    if (ret == -EFAULT || ret == -EACCES)
        DMS_TRACE(fault, space, addr + pos, len - pos, ret);
    if (done)
        *done = pos;
    return ret;
}

int dms_space_read(DmsSpace *space, uint64_t addr, void *buf, size_t len,
                   const DmsAttrs *attrs, size_t *done)
{
    return space_rw(space, addr, buf, len, attrs, false, done);
}

int dms_space_write(DmsSpace *space, uint64_t addr, const void *buf,
                    size_t len, const DmsAttrs *attrs, size_t *done)
{
    return space_rw(space, addr, (uint8_t *)(uintptr_t)buf, len, attrs, true,
                    done);
}

/*
 * The general check: range after range, with a dry run of the register
 * split where one is needed. Called inside a read-side section.
 */
static G_GNUC_NO_INLINE int check_ranges(const DmsFlatView *fv, uint64_t addr,
                                         uint64_t len, bool is_write,
                                         const DmsAttrs *attrs)
{
    uint64_t pos = 0;

    while (pos < len) {
        uint64_t a = addr + pos;
        const DmsFlatRange *fr = dms__flatview_lookup(fv, a);
        uint64_t n;

        if (!fr)
            return -EFAULT;
        n = run_length(fr, a, len - pos);
        if (fr->host && is_write && fr->region->readonly)
            return -EACCES;
        if (!fr->host && !fr->region->msg->ops.read) {
            uint64_t checked;
            /* A dry run of the split: no backend is called. */
            int ret = reg_walk(fr->region, fr->offset + (a - fr->start), NULL,
                               n, attrs, is_write, &checked);
            if (ret < 0)
                return ret;
        }
        pos += n;
    }
    return 0;
}

/* dms_space_check() in full: any call, any ranges. */
static G_GNUC_NO_INLINE int check_full(DmsSpace *space, uint64_t addr,
                                       uint64_t len, DmsDirection dir,
                                       const DmsAttrs *attrs)
{
    bool is_write = dir == DMS_DIR_FROM_DEVICE;
    const DmsFlatView *fv;
    int ret;

    g_return_val_if_fail(space != NULL, -EINVAL);
    g_return_val_if_fail(dir == DMS_DIR_TO_DEVICE || is_write, -EINVAL);
    if (len == 0)
        return 0;
    if (!dms__range_ok(addr, len))
        return -EINVAL;
    dms__rcu_read_lock();
    fv = current_view(space);
    ret = check_ranges(fv, addr, len, is_write, attrs);
    dms__rcu_read_unlock();
    return ret;
}

int dms_space_check(DmsSpace *space, uint64_t addr, uint64_t len,
                    DmsDirection dir, const DmsAttrs *attrs)
{
    const DmsFlatRange *fr;
    int ret;

    /*
     * The common case, a valid call whose bytes one RAM range holds, is
     * decided here in a flat section, with no call and no register to
     * save; everything else, errors included, is check_full()'s. The
     * compare of len - 1 also sends len 0 and accesses that reach the
     * last byte of the space there.
     */
    if (__builtin_expect(space && (unsigned)dir <= DMS_DIR_FROM_DEVICE &&
                             len - 1 < UINT64_MAX - addr &&
                             dms__rcu_flat_ready(),
                         1)) {
        dms__rcu_flat_enter();
        fr = dms__flatview_find(current_view(space), addr);
        if (__builtin_expect(fr && fr->host && fr->last - addr >= len - 1,
                             1)) {
            ret = dir == DMS_DIR_FROM_DEVICE && fr->region->readonly ? -EACCES
                                                                     : 0;
            dms__rcu_flat_leave();
            return ret;
        }
        dms__rcu_flat_leave();
    }
    return check_full(space, addr, len, dir, attrs);
}
