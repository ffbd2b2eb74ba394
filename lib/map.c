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

enum {
    DIRECT_SHARDS = 8,
    DIRECT_MIN_BUCKETS = 16,
    DIRECT_SPARE_MAX = 32,
};

typedef struct DirectMap {
    struct DirectMap *next; /* in its bucket */
    void *ptr;
    size_t len;
    DmsDirection dir;
    DmsRegion *region;
    uint64_t offset;
    size_t count; /* identical live mappings, one region reference each */
} DirectMap;

/*
 * A chained hash table under a lock. Not GHashTable: a map+unmap pair is
 * a lookup, an insert and a remove, and GHashTable's indirect calls made
 * them most of the cost of a direct map.
 */
typedef struct DirectShard {
    GMutex lock;
    DirectMap **buckets; /* nbuckets, a power of two */
    size_t nbuckets;
    size_t nentries;
    /* Entries kept for reuse: a map+unmap loop allocates nothing. */
    DirectMap *spare;
    unsigned nspare;
} DirectShard;

struct DmsDirectMaps {
    DirectShard shard[DIRECT_SHARDS];
};

static size_t hash_ptr(const void *ptr)
{
    uint64_t p = (uintptr_t)ptr;

    /* Fibonacci hashing: mappings are often page-aligned. */
    return (size_t)((p * UINT64_C(0x9e3779b97f4a7c15)) >> 32);
}

static DirectShard *shard_of(DmsDirectMaps *d, const void *ptr)
{
    return &d->shard[hash_ptr(ptr) % DIRECT_SHARDS];
}

static DirectMap **bucket_of(DirectShard *sh, const void *ptr)
{
    /* Shards took the low bits; use the next ones. */
    return &sh->buckets[(hash_ptr(ptr) / DIRECT_SHARDS) & (sh->nbuckets - 1)];
}

/* Doubles the table when it is full; keeps the old one on -ENOMEM. */
static void shard_grow(DirectShard *sh)
{
    DirectMap **old = sh->buckets;
    size_t nold = sh->nbuckets;
    DirectMap **buckets;

    if (sh->nentries < nold || nold > SIZE_MAX / 2 / sizeof(*buckets))
        return;
    buckets = g_try_new0(DirectMap *, nold * 2);
    if (!buckets)
        return; /* longer chains, still correct */
    sh->buckets = buckets;
    sh->nbuckets = nold * 2;
    for (size_t i = 0; i < nold; i++) {
        while (old[i]) {
            DirectMap *m = old[i];
            DirectMap **b = bucket_of(sh, m->ptr);

            old[i] = m->next;
            m->next = *b;
            *b = m;
        }
    }
    g_free(old);
}

int dms__direct_maps_new(DmsDirectMaps **ret)
{
    DmsDirectMaps *d = g_try_new0(DmsDirectMaps, 1);

    *ret = NULL;
    if (!d)
        return -ENOMEM;
    /* All locks first: the failure path below clears every one. */
    for (unsigned i = 0; i < DIRECT_SHARDS; i++)
        g_mutex_init(&d->shard[i].lock);
    for (unsigned i = 0; i < DIRECT_SHARDS; i++) {
        DirectShard *sh = &d->shard[i];

        sh->nbuckets = DIRECT_MIN_BUCKETS;
        sh->buckets = g_try_new0(DirectMap *, DIRECT_MIN_BUCKETS);
        if (!sh->buckets) {
            dms__direct_maps_free(d);
            return -ENOMEM;
        }
    }
    *ret = d;
    return 0;
}

void dms__direct_maps_free(DmsDirectMaps *direct)
{
    if (!direct)
        return;
    for (unsigned i = 0; i < DIRECT_SHARDS; i++) {
        DirectShard *sh = &direct->shard[i];

        /* Every mapping holds a space reference: none can be live now. */
        g_warn_if_fail(sh->nentries == 0);
        g_free(sh->buckets);
        while (sh->spare) {
            DirectMap *m = sh->spare;

            sh->spare = m->next;
            g_free(m);
        }
        g_mutex_clear(&sh->lock);
    }
    g_free(direct);
}

/* Records one more live mapping; it owns one reference on @region. */
static int direct_add(DmsDirectMaps *d, void *ptr, size_t len,
                      DmsDirection dir, DmsRegion *region, uint64_t offset)
{
    DirectShard *sh = shard_of(d, ptr);
    DirectMap **b, *m;

    g_mutex_lock(&sh->lock);
    b = bucket_of(sh, ptr);
    for (m = *b; m; m = m->next) {
        if (m->ptr == ptr && m->len == len && m->dir == dir &&
            m->region == region && m->offset == offset) {
            m->count++;
            g_mutex_unlock(&sh->lock);
            return 0;
        }
    }
    if (sh->spare) {
        m = sh->spare;
        sh->spare = m->next;
        sh->nspare--;
    } else {
        m = g_try_new(DirectMap, 1);
        if (!m) {
            g_mutex_unlock(&sh->lock);
            return -ENOMEM;
        }
    }
    *m = (DirectMap){
        .next = *b,
        .ptr = ptr,
        .len = len,
        .dir = dir,
        .region = region,
        .offset = offset,
        .count = 1,
    };
    *b = m;
    sh->nentries++;
    shard_grow(sh);
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
    DirectMap **link, *m;

    g_mutex_lock(&sh->lock);
    for (link = bucket_of(sh, ptr); (m = *link) != NULL; link = &m->next) {
        if (m->ptr == ptr && m->len == len && m->dir == dir)
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
        sh->nentries--;
        if (sh->nspare < DIRECT_SPARE_MAX) {
            m->next = sh->spare;
            sh->spare = m;
            sh->nspare++;
        } else {
            g_free(m);
        }
    }
    g_mutex_unlock(&sh->lock);
    return true;
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
    /*
     * t.len runs to the end of this region's stretch of the view:
     * rendering merges adjacent pieces of one region at following
     * offsets, so the next byte is another region (or nothing) and the
     * mapping stops there.
     */
    dms__rcu_read_lock();
    r = dms__space_translate_rcu(space, addr, want, &t);
    if (r < 0) {
        dms__rcu_read_unlock();
        dms__count(&cnt->fail_unassigned);
        return r;
    }
    if (t.region->kind != DMS_KIND_RAM) {
        /* Small bounce maps: from this thread's cache, if it can. */
        r = dms__bounce_map_rcu(space, &t, dir, attrs, len, ret);
        if (r != DMS__NOT_CACHED)
            return r;
    } else {
        dms_region_ref(t.region);
        dms__rcu_read_unlock();
    }

    if (t.region->kind != DMS_KIND_RAM) {
        /* The mapping's budget keeps the space alive: no reference. */
        r = dms__bounce_map(space, t.region, t.offset, (size_t)t.len, dir,
                            attrs, len, ret);
        if (r < 0)
            dms_region_unref(t.region);
        return r;
    }

    if (dir == DMS_DIR_FROM_DEVICE && t.region->readonly) {
        dms__count(&cnt->fail_access);
        r = -EACCES;
    } else {
        void *ptr = t.region->host + t.offset;

        r = direct_add(space->direct, ptr, (size_t)t.len, dir, t.region,
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

    r = dms__bounce_unmap(space, ptr, len, dir, access_len, &found);
    if (found)
        return r; /* the space may be gone now: see dms__bounce_unmap() */
    if (!direct_take(space->direct, ptr, len, dir, &region, &offset))
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
