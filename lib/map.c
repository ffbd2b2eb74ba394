/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms_space_map() and dms_space_unmap(): direct pointers into RAM, bounce
 * buffers (bounce.c) for everything else, and the registry of live direct
 * mappings that lets unmap check exactly what it is given.
 *
 * A direct mapping covers one RAM region, as far as that region is
 * contiguous in the space. Unmap must find it from the pointer alone, and
 * a pointer alone is ambiguous: the same range can be mapped twice, and
 * two RAM regions may share host memory. The registry therefore keys on
 * the pointer and keeps, per (pointer, length, direction, region, offset),
 * a count of identical live mappings, each of which holds one region
 * reference. It is split into shards, each with its own lock, so that
 * threads mapping different buffers rarely meet.
 */
#include "bounce.h"

enum { DIRECT_SHARDS = 8 };

typedef struct DirectMap {
    struct DirectMap *next; /* others at the same pointer */
    void *ptr;
    size_t len;
    DmsDirection dir;
    DmsRegion *region;
    uint64_t offset;
    size_t count; /* identical live mappings, one region reference each */
} DirectMap;

typedef struct DirectShard {
    GMutex lock;
    GHashTable *by_ptr; /* ptr -> DirectMap chain */
} DirectShard;

struct DmsDirectMaps {
    DirectShard shard[DIRECT_SHARDS];
};

static DirectShard *shard_of(DmsDirectMaps *d, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;

    /* Buffers are at least cache-line apart, often page-aligned. */
    return &d->shard[((p >> 6) ^ (p >> 12) ^ (p >> 20)) % DIRECT_SHARDS];
}

int dms__direct_maps_new(DmsDirectMaps **ret)
{
    DmsDirectMaps *d = g_try_new0(DmsDirectMaps, 1);

    *ret = NULL;
    if (!d)
        return -ENOMEM;
    for (unsigned i = 0; i < DIRECT_SHARDS; i++) {
        g_mutex_init(&d->shard[i].lock);
        d->shard[i].by_ptr = g_hash_table_new(NULL, NULL);
    }
    *ret = d;
    return 0;
}

void dms__direct_maps_free(DmsDirectMaps *direct)
{
    if (!direct)
        return;
    for (unsigned i = 0; i < DIRECT_SHARDS; i++) {
        /* Every mapping holds a space reference: none can be live now. */
        g_warn_if_fail(g_hash_table_size(direct->shard[i].by_ptr) == 0);
        g_hash_table_unref(direct->shard[i].by_ptr);
        g_mutex_clear(&direct->shard[i].lock);
    }
    g_free(direct);
}

/* Records one more live mapping; it owns one reference on @region. */
static int direct_add(DmsDirectMaps *d, void *ptr, size_t len,
                      DmsDirection dir, DmsRegion *region, uint64_t offset)
{
    DirectShard *sh = shard_of(d, ptr);
    DirectMap *head, *m;

    g_mutex_lock(&sh->lock);
    head = g_hash_table_lookup(sh->by_ptr, ptr);
    for (m = head; m; m = m->next) {
        if (m->len == len && m->dir == dir && m->region == region &&
            m->offset == offset) {
            m->count++;
            g_mutex_unlock(&sh->lock);
            return 0;
        }
    }
    m = g_try_new(DirectMap, 1);
    if (!m) {
        g_mutex_unlock(&sh->lock);
        return -ENOMEM;
    }
    *m = (DirectMap){
        .next = head,
        .ptr = ptr,
        .len = len,
        .dir = dir,
        .region = region,
        .offset = offset,
        .count = 1,
    };
    g_hash_table_insert(sh->by_ptr, ptr, m);
    g_mutex_unlock(&sh->lock);
    return 0;
}

/*
 * Ends one live mapping at @ptr with this @len and @dir. Returns false if
 * there is none. Mappings that differ only in their region (two RAM
 * regions sharing host memory) cannot be told apart by the caller; the
 * most recent is ended, which keeps every region's count right as long as
 * each mapping is unmapped once.
 */
static bool direct_take(DmsDirectMaps *d, void *ptr, size_t len,
                        DmsDirection dir, DmsRegion **region, uint64_t *offset)
{
    DirectShard *sh = shard_of(d, ptr);
    DirectMap *head, *m, **link;

    g_mutex_lock(&sh->lock);
    head = g_hash_table_lookup(sh->by_ptr, ptr);
    for (link = &head; (m = *link) != NULL; link = &m->next) {
        if (m->len == len && m->dir == dir)
            break;
    }
    if (!m) {
        g_mutex_unlock(&sh->lock);
        return false;
    }
    *region = m->region;
    *offset = m->offset;
    if (--m->count == 0) {
        *link = m->next;
        if (head)
            g_hash_table_insert(sh->by_ptr, ptr, head);
        else
            g_hash_table_remove(sh->by_ptr, ptr);
        g_free(m);
    }
    g_mutex_unlock(&sh->lock);
    return true;
}

/*
 * Extends translation @t while the next bytes are the same region at the
 * following offset (a view may cut one region into adjacent pieces).
 */
static void extend(DmsSpace *space, uint64_t addr, uint64_t want,
                   DmsTranslation *t)
{
    while (t->len < want) {
        DmsTranslation next;

        if (dms__space_translate(space, addr + t->len, want - t->len, &next) <
            0)
            return;
        dms_region_unref(next.region);
        if (next.region != t->region || next.offset != t->offset + t->len)
            return;
        t->len += next.len;
    }
}

int dms_space_map(DmsSpace *space, uint64_t addr, size_t *len,
                  DmsDirection dir, const DmsAttrs *attrs, void **ret)
{
    DmsSpaceCounters *cnt;
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
    r = dms__space_translate(space, addr, want, &t);
    if (r < 0) {
        dms__count(&cnt->fail_unassigned);
        return r;
    }
    extend(space, addr, want, &t);

    if (t.region->kind == DMS_KIND_RAM) {
        void *ptr = t.region->host + t.offset;

        if (dir == DMS_DIR_FROM_DEVICE && t.region->readonly) {
            dms__count(&cnt->fail_access);
            r = -EACCES;
        } else {
            r = direct_add(space->direct, ptr, (size_t)t.len, dir, t.region,
                           t.offset);
            if (r < 0)
                dms__count(&cnt->fail_nomem);
        }
        if (r == 0) {
            dms__count(&cnt->direct_maps);
            *len = (size_t)t.len;
            *ret = ptr;
        }
    } else {
        r = dms__bounce_map(space, t.region, t.offset, (size_t)t.len, dir,
                            attrs, len, ret);
    }
    if (r < 0) {
        dms_region_unref(t.region);
        return r;
    }
    /* The mapping's own reference: the space outlives its DMA. */
    dms_space_ref(space);
    return 0;
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

int dms_space_unmap(DmsSpace *space, void *ptr, size_t len, DmsDirection dir,
                    size_t access_len)
{
    DmsRegion *region;
    uint64_t offset;
    bool found;
    int r;

    g_return_val_if_fail(space != NULL, -EINVAL);
    if (!ptr)
        return bad_unmap(space, ptr, len, dir, "NULL pointer");
    if (dir != DMS_DIR_TO_DEVICE && dir != DMS_DIR_FROM_DEVICE)
        return bad_unmap(space, ptr, len, dir, "invalid direction");
    if (access_len > len)
        return bad_unmap(space, ptr, len, dir,
                         "access_len is larger than the mapping");

    r = dms__bounce_unmap(space, ptr, len, dir, access_len, &found);
    if (!found) {
        if (!direct_take(space->direct, ptr, len, dir, &region, &offset))
            return bad_unmap(space, ptr, len, dir,
                             "not a live mapping of this space with this "
                             "length and direction");
        if (dir == DMS_DIR_FROM_DEVICE)
            dms__dirty_mark(region, offset, access_len);
        dms_region_unref(region);
        r = 0;
    }
    /* Last: the space (and space->name above) must outlive the unmap. */
    dms_space_unref(space);
    return r;
}
