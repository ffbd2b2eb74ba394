/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The registry of live direct mappings of one space, which lets unmap
 * check exactly what it is given.
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
#include "dms-private.h"

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
int dms__direct_add(DmsDirectMaps *d, void *ptr, size_t len, DmsDirection dir,
                    DmsRegion *region, uint64_t offset)
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
bool dms__direct_take(DmsDirectMaps *d, void *ptr, size_t len,
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
