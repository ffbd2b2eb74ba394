/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms_space_map() and dms_space_unmap(): one lookup in one read-side
 * section, then direct pointers into RAM (registered in direct.c) or
 * bounce buffers (bounce.c) for everything else; and the bounce limit.
 *
 * What keeps the space alive: a direct mapping holds a space reference, a
 * bounce mapping one space hold (see space.c). The bounce code never
 * drops a hold nor wakes a map client itself; it says so, and this file
 * does it, last, once it needs nothing more of the space.
 */
#include "bounce.h"
#include "trace.h"

/*
 * What a bounce call left to do: wake map clients while the space is
 * still held, then drop the holds, which may free it.
 */
static void finish(DmsSpace *space, const DmsBounceDone *done)
{
    if (done->wake)
        dms__map_clients_notify(space);
    DMS_SCHED_POINT();
    if (done->drop_holds)
        dms__space_release(space, done->drop_holds);
}

static inline int map_range(DmsSpace *space, uint64_t addr, size_t *len,
                            DmsDirection dir, const DmsAttrs *attrs,
                            void **ret)
{
    DmsSpaceCounters *cnt;
    DmsBounceLend lend;
    DmsTranslation t;
    size_t want;
    int r;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(len != NULL, -EINVAL);
    want = *len;
    *len = 0;
    g_return_val_if_fail(space != NULL, -EINVAL);
    g_return_val_if_fail(
        dir == DMS_DIR_TO_DEVICE || dir == DMS_DIR_FROM_DEVICE, -EINVAL);
    if (want == 0)
        return 0;
    /* Guest-controlled: an error code, never a critical. */
    if (!dms__range_ok(addr, want))
        return -EINVAL;

    cnt = &space->counters;
    /*
     * t.len runs to the end of this region's stretch of the view:
     * rendering merges adjacent pieces of one region at following
     * offsets, so the next byte is another region (or nothing) and the
     * mapping stops there. The section ends with the lookup: a small
     * bounce map takes its buffer from this thread's cache in it, and
     * every other map takes a region reference.
     */
    dms__rcu_read_lock();
    r = dms__space_translate_rcu(space, addr, want, &t);
    if (r == 0 && (t.region->kind == DMS_KIND_RAM ||
                   !dms__bounce_lend_rcu(space->bounce, &t, &lend)))
        dms_region_ref(t.region);
    DMS_SCHED_POINT();
    dms__rcu_read_unlock();
    if (r < 0) {
        dms__count(&cnt->fail_unassigned);
        return r;
    }

    if (t.region->kind != DMS_KIND_RAM) {
        DmsBounceDone done = {0};

        r = dms__bounce_map(space->bounce, &lend, &t, dir, attrs, &done);
        if (r == 0) {
            *len = lend.len;
            *ret = lend.data;
            DMS_TRACE(bounce_grant, space, addr, lend.len, dir);
        } else if (r == -EAGAIN) {
            DMS_TRACE(map_eagain, space, addr, want);
        }
        finish(space, &done);
        return r;
    }

    if (dir == DMS_DIR_FROM_DEVICE && t.region->readonly) {
        dms__count(&cnt->fail_access);
        r = -EACCES;
    } else {
        void *ptr = t.region->host + t.offset;

        r = dms__direct_add(space->direct, ptr, (size_t)t.len, dir, t.region,
                            t.offset);
        if (r < 0) {
            dms__count(&cnt->fail_nomem);
        } else {
            dms__count(&cnt->direct_maps);
            *len = (size_t)t.len;
            *ret = ptr;
        }
    }
    if (r < 0) {
        dms_region_unref(t.region);
        return r;
    }
    /* A direct mapping's own reference: the space outlives its DMA. */
    dms_space_ref(space);
    return 0;
}

int dms_space_map(DmsSpace *space, uint64_t addr, size_t *len,
                  DmsDirection dir, const DmsAttrs *attrs, void **ret)
{
    size_t want = len ? *len : 0;
    int r = map_range(space, addr, len, dir, attrs, ret);

    if (r == -EFAULT || r == -EACCES)
        DMS_TRACE(fault, space, addr, want, r);
    DMS_TRACE(map, space, addr, want, len ? *len : 0, dir, r);
    return r;
}

static int bad_unmap(DmsSpace *space, void *ptr, size_t len, DmsDirection dir,
                     const char *why)
{
    dms__count(&space->counters.bad_unmaps);
    g_critical("dms_space_unmap: %p (%zu bytes, %s) refused on space '%s': "
               "%s",
               ptr, len,
               dir == DMS_DIR_FROM_DEVICE ? "from-device" : "to-device",
               space->name, why);
    return -EINVAL;
}

static inline int unmap_range(DmsSpace *space, void *ptr, size_t len,
                              DmsDirection dir, size_t access_len)
{
    DmsBounceDone done = {0};
    DmsRegion *region;
    uint64_t offset;
    bool found;
    int r;

    g_return_val_if_fail(space != NULL, -EINVAL);
    if (!ptr)
        return bad_unmap(space, ptr, len, dir, "NULL pointer");
    if (dir != DMS_DIR_TO_DEVICE && dir != DMS_DIR_FROM_DEVICE)
        return bad_unmap(space, ptr, len, dir, "invalid direction");
    if (access_len > len) {
        /*
         * Not a programmer error like the others: access_len is what the
         * I/O moved, and a guest's descriptor can make a device model
         * claim too much. An error code, logged at debug level only.
         */
        dms__count(&space->counters.bad_unmaps);
        g_debug("dms_space_unmap: access_len %zu > len %zu on space '%s'",
                access_len, len, space->name);
        return -EINVAL;
    }

    r = dms__bounce_unmap(space->bounce, ptr, len, dir, access_len, &found,
                          &done);
    if (found) {
        finish(space, &done); /* the space may be gone now */
        return r;
    }
    if (!dms__direct_take(space->direct, ptr, len, dir, &region, &offset))
        return bad_unmap(space, ptr, len, dir,
                         "not a live mapping of this space with this "
                         "length and direction");
    if (dir == DMS_DIR_FROM_DEVICE)
        dms__dirty_mark(region, offset, access_len);
    dms_region_unref(region);
    /* Last: the space (and space->name above) must outlive the unmap. */
    dms_space_unref(space);
    return 0;
}

int dms_space_unmap(DmsSpace *space, void *ptr, size_t len, DmsDirection dir,
                    size_t access_len)
{
    int r = unmap_range(space, ptr, len, dir, access_len);

    /* The space may be gone: the probe only records the pointer. */
    DMS_TRACE(unmap, space, ptr, len, access_len, r);
    return r;
}

void dms_space_set_bounce_limit(DmsSpace *space, size_t limit)
{
    g_return_if_fail(space != NULL);
    /* A raised limit is freed budget: wake whoever waits for it. */
    if (dms__bounce_set_limit(space->bounce, limit))
        dms__map_clients_notify(space);
}

size_t dms_space_get_bounce_limit(const DmsSpace *space)
{
    g_return_val_if_fail(space != NULL, 0);
    return dms__bounce_limit(space->bounce);
}
