/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the bounce machinery: the structures that bounce.c (budget,
 * map, unmap), pool.c (buffers) and bounce-cache.c (per-thread caches)
 * share. Never installed; map.c sees only bounce.h.
 */
#ifndef DMS_BOUNCE_IMPL_H
#define DMS_BOUNCE_IMPL_H

#include "bounce.h"

#include <limits.h>

enum {
    POOL_MIN_SHIFT = 6,  /* smallest class: 64 B */
    POOL_MAX_SHIFT = 16, /* largest class: 64 KiB */
    POOL_CLASSES = POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1,
    CHUNK_SHIFT = 16, /* every chunk holds 64 KiB of buffers */
    POOL_MAX_CHUNKS = 16,
    MAX_SLOTS = 1 << (CHUNK_SHIFT - POOL_MIN_SHIFT),
    /* Large buffers: a header, then the data, 64-byte aligned from it. */
    LARGE_HEADER = 64,

    /* Thread caches serve classes up to 4 KiB: see bounce-cache.c. */
    CACHE_MAX_SHIFT = 12,
    CACHE_CLASSES = CACHE_MAX_SHIFT - POOL_MIN_SHIFT + 1,
    CACHE_DEPTH = 8,       /* free slots kept per class */
    CACHE_BANK_BATCH = 32, /* region references taken at once */
    CACHE_BANK_MAX = 64,   /* region references kept at most */
};

#define CHUNK_BYTES ((size_t)1 << CHUNK_SHIFT)
#define CACHE_MAX_LEN ((size_t)1 << CACHE_MAX_SHIFT)
/* Budget a cache takes at once, keeps at most, and needs the limit at. */
#define CACHE_BATCH ((size_t)16 << 10)
#define CACHE_IDLE_MAX ((size_t)32 << 10)
#define CACHE_MIN_LIMIT ((size_t)128 << 10)

/*
 * DmsBounce.used: the top bit marks a space with no user reference left;
 * whoever brings the rest to zero then frees it. See "Lifetime" in
 * doc/map.md.
 */
#define USED_DEAD (~(SIZE_MAX >> 1))

/* DmsBounce.cache_off: caches are bypassed while it is non-zero. */
#define CACHE_OFF_DYING 1u   /* the space lost its last user reference */
#define CACHE_OFF_TIGHT 2u   /* a map came up short: budget is scarce */
#define CACHE_OFF_WAITERS 4u /* map clients wait: see map-client.c */
#define CACHE_OFF_HOLD 8u    /* added by every reclaim in progress */

/* PoolSlot.state: live bit, direction bit, generation in the rest. */
#define SLOT_LIVE 1u
#define SLOT_FROM_DEVICE 2u
#define SLOT_GEN_ONE 4u

/* What unmap needs to end a bounce mapping. */
struct Lent {
    DmsRegion *region; /* reference held by the mapping */
    uint64_t offset;
    DmsAttrs attrs; /* the map-time attributes, for the write-back */
    bool has_attrs; /* false: the backend gets NULL, as at map time */
};

typedef struct PoolSlot {
    atomic_uint state;
    /* Read by unmap before it owns the slot, hence atomic. */
    atomic_size_t len;
    /* Owned by whoever set or cleared SLOT_LIVE last. */
    Lent lent;
} PoolSlot;

#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)
#define FREE_WORDS (MAX_SLOTS / WORD_BITS)

struct PoolChunk {
    uint8_t *data; /* CHUNK_BYTES, nslots buffers of 1 << shift bytes */
    unsigned shift;
    unsigned nslots;
    atomic_ulong free[FREE_WORDS]; /* bit set: slot free */
    PoolSlot slots[];
};

struct LargeBuf {
    size_t len;
    DmsDirection dir;
    Lent lent;
};

G_STATIC_ASSERT(sizeof(LargeBuf) <= LARGE_HEADER);

typedef struct BounceCache BounceCache; /* bounce-cache.c */

struct DmsBounce {
    DmsSpace *space; /* the owner; not a reference */
    atomic_size_t limit;
    atomic_uint cache_off; /* CACHE_OFF_* */
    GMutex life_lock;      /* orders retire and revive */

    /*
     * Append-only until the space is freed: an entry below a count is
     * written before the count is released, so readers need no lock.
     */
    atomic_uint nchunks;
    uintptr_t chunk_base[POOL_MAX_CHUNKS];
    PoolChunk *chunk[POOL_MAX_CHUNKS];
    atomic_uint nclass[POOL_CLASSES];
    PoolChunk *class_chunk[POOL_CLASSES][POOL_MAX_CHUNKS];
    GMutex grow_lock;

    atomic_uint nlarge; /* live large buffers: skip the lock at 0 */
    GMutex large_lock;
    GHashTable *large; /* data pointer -> LargeBuf, large_lock */

    /* Under bounce-cache.c's lock. */
    BounceCache *caches;
    unsigned long retired_maps; /* maps counted by caches now gone */

    /*
     * Written by maps and unmaps that miss the caches: alone on its cache
     * line, so that the read-mostly fields above do not bounce between
     * the threads' caches with it.
     */
    char pad_before[DMS_CACHE_LINE];
    atomic_size_t used; /* lent + cached + USED_DEAD */
    char pad_after[DMS_CACHE_LINE - sizeof(atomic_size_t)];
};

/* ---- pool.c ---- */
int dms__pool_new(DmsBounce *b);
void dms__pool_free(DmsBounce *b);
/* A buffer for @len bytes: pooled, or allocated alone. -ENOMEM. */
int dms__buf_get(DmsBounce *b, size_t len, Buf *buf);
/* A free slot of class @shift from the chunks there are; lock-free. */
bool dms__pool_claim(DmsBounce *b, unsigned shift, Buf *buf);
void dms__buf_put(Buf *buf);
void dms__buf_publish(DmsBounce *b, Buf *buf, size_t len, DmsDirection dir);
/*
 * Takes the live mapping at @ptr with this @len and @dir for unmapping
 * (exactly one of several racing callers wins); false if there is none.
 */
bool dms__buf_take(DmsBounce *b, void *ptr, size_t len, DmsDirection dir,
                   Buf *buf);
/* Class (shift) of a buffer of @len bytes; POOL_MAX_SHIFT + 1 if none. */
static inline unsigned dms__pool_shift(size_t len)
{
    if (len <= ((size_t)1 << POOL_MIN_SHIFT))
        return POOL_MIN_SHIFT;
    if (len > ((size_t)1 << POOL_MAX_SHIFT))
        return POOL_MAX_SHIFT + 1;
    /* The smallest power of two at or above len. */
    return (unsigned)(sizeof(unsigned long) * CHAR_BIT) -
           (unsigned)__builtin_clzl((unsigned long)(len - 1));
}

/* ---- bounce.c ---- */
/*
 * Gives @n bytes back to the budget and wakes map clients; frees the
 * space if it was dying and these were its last. Takes no reference:
 * the bytes themselves kept the space alive until now.
 */
void dms__budget_release(DmsBounce *b, size_t n);
void dms__high_water(DmsBounce *b, size_t lent);

/* ---- bounce-cache.c ---- */
/* After the section: what the calls above left to do (mostly nothing). */
void dms__cache_later_slow(DmsBounce *b, CacheLater *later);
static inline void dms__cache_later(DmsBounce *b, CacheLater *later)
{
    if (later->unref || later->give_back)
        dms__cache_later_slow(b, later);
}
/* Outside any section, no lock held: give this thread a cache of @b. */
void dms__cache_create(DmsBounce *b);
/*
 * Empties every cache of @b into the budget and the pool: turns them off,
 * waits for a grace period, drains, turns them back on. Outside any
 * section, no lock held.
 */
void dms__caches_reclaim(DmsBounce *b);
/* The same in two steps around a grace period the caller waits for. */
/* Does @b have a cache at all? */
bool dms__caches_exist(DmsBounce *b);
/* Budget idle in all caches, and maps they counted (@maps may be NULL). */
void dms__caches_sum(DmsBounce *b, size_t *idle, unsigned long *maps);
/* The space is being freed: drop every cache (all drained before). */
void dms__caches_free(DmsBounce *b);

/* ---- thread caches: shared by bounce.c (the fast paths) and
 * bounce-cache.c (creation, draining); the protocol is described at the
 * top of bounce-cache.c ---- */

enum { THREAD_CACHES = 4 }; /* spaces a thread caches at once */

typedef struct CacheSlot {
    PoolChunk *chunk;
    unsigned slot;
} CacheSlot;

typedef struct ThreadCaches ThreadCaches;

struct BounceCache {
    DmsBounce *b;
    BounceCache *next; /* in b->caches, cache_lock */
    ThreadCaches *owner;
    unsigned entry; /* owner->entry[entry] points here */
    /*
     * Written by the owner in a section, or by a drainer; read by
     * dms__caches_sum() at any time, hence atomic (but never RMW).
     */
    atomic_size_t idle;
    atomic_ulong maps;
    /* The owner's, or a drainer's: see the top of the file. */
    DmsRegion *bank;
    unsigned bank_refs;
    unsigned nfree[CACHE_CLASSES];
    CacheSlot free[CACHE_CLASSES][CACHE_DEPTH];
};

typedef struct CacheEntry {
    /* Written under cache_lock, by the owner or a space's final free. */
    DmsBounce *_Atomic b;
    BounceCache *_Atomic cache;
} CacheEntry;

struct ThreadCaches {
    CacheEntry entry[THREAD_CACHES];
    unsigned victim; /* next entry to evict, round robin */
    bool key_set;
    bool exiting; /* its exit destructor ran: no new caches */
};

extern DMS_THREAD_LOCAL ThreadCaches dms__my_caches;

/*
 * The calling thread's cache of @b, or NULL. Others change the entries
 * only under the cache lock and only for spaces being freed, so any
 * caller with a live @b may look.
 */
static inline BounceCache *dms__cache_mine(DmsBounce *b)
{
    for (unsigned i = 0; i < THREAD_CACHES; i++) {
        if (atomic_load_explicit(&dms__my_caches.entry[i].b,
                                 memory_order_relaxed) == b)
            return atomic_load_explicit(&dms__my_caches.entry[i].cache,
                                        memory_order_relaxed);
    }
    return NULL;
}

/* In a section: may an owner use its cache of @b now? */
static inline bool dms__caches_on(DmsBounce *b)
{
    /* Acquire: a drainer's writes to the cache come before its "on". */
    return atomic_load_explicit(&b->cache_off, memory_order_acquire) == 0 &&
           atomic_load_explicit(&b->limit, memory_order_relaxed) >=
               CACHE_MIN_LIMIT;
}

/* Charges CACHE_BATCH more to the shared budget for @c, if it may. */
bool dms__cache_refill(BounceCache *c);

#endif /* DMS_BOUNCE_IMPL_H */
