/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-thread bounce caches of one space, for bounce.c; the protocol is at
 * the top of bounce-cache.c. The owner's fast path (take and give) is at
 * the end of this header, inline; bounce-cache.c has the rest: creating,
 * draining and freeing caches. Never installed.
 */
#ifndef DMS_BOUNCE_CACHE_H
#define DMS_BOUNCE_CACHE_H

#include "bounce.h" /* DmsBounceLend, what a cache lends */
#include "budget.h"
#include "pool.h"

enum {
    /* Thread caches serve classes up to 4 KiB. */
    CACHE_MAX_SHIFT = 12,
    CACHE_CLASSES = CACHE_MAX_SHIFT - POOL_MIN_SHIFT + 1,
    CACHE_DEPTH = 8,       /* free slots kept per class */
    CACHE_BANK_BATCH = 32, /* references taken at once */
    CACHE_BANK_MAX = 64,   /* references kept at most */
};

#define CACHE_MAX_LEN ((size_t)1 << CACHE_MAX_SHIFT)
/* Budget a cache takes at once, keeps at most, and needs the limit at. */
#define CACHE_BATCH ((size_t)16 << 10)
#define CACHE_IDLE_MAX ((size_t)32 << 10)
#define CACHE_MIN_LIMIT ((size_t)128 << 10)

/* DmsCaches.off: caches are bypassed while it is non-zero. */
#define CACHE_OFF_TIGHT 1u /* a map came up short: budget is scarce */
#define CACHE_OFF_HOLD 2u  /* added by every reclaim in progress */

typedef struct BounceCache BounceCache;

/*
 * What the caches bank for their owner (the space): units of its hold
 * count, one per mapping they lend. They take units by adding to @holds;
 * they give units back only through @release (which may free the owner),
 * or by handing them to their caller; and they bank only while @refs is
 * above 0, so that an owner whose last reference went gets every unit
 * back from its last reclaim on.
 */
typedef struct DmsCacheOwner {
    const atomic_int *refs;
    atomic_size_t *holds;
    void (*release)(void *owner, size_t n);
    void *owner;
} DmsCacheOwner;

/* The thread caches of one space. */
typedef struct DmsCaches {
    DmsPool *pool;
    DmsBudget *budget;
    DmsCacheOwner owner;
    atomic_uint off; /* CACHE_OFF_* */
    /* Under the process-wide cache lock. */
    BounceCache *list;
    unsigned long retired_maps; /* maps counted by caches now gone */
} DmsCaches;

/* Work a cache call leaves for after the read-side section. */
typedef struct CacheLater {
    DmsRegion *unref; /* drop @nunref references on it */
    unsigned nunref;
    size_t give_back;  /* budget to return */
    size_t drop_holds; /* owner holds the caller must release */
} CacheLater;

/*
 * The caches themselves: private to bounce-cache.c, here only so that
 * tests can check which thread owns which.
 */
enum { THREAD_CACHES = 4 }; /* spaces a thread caches at once */

typedef struct CacheSlot {
    PoolChunk *chunk;
    unsigned slot;
} CacheSlot;

typedef struct ThreadCaches ThreadCaches;

struct BounceCache {
    DmsCaches *cs;
    BounceCache *next; /* in cs->list, cache_lock */
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
    unsigned bank_holds;
    unsigned nfree[CACHE_CLASSES];
    CacheSlot free[CACHE_CLASSES][CACHE_DEPTH];
};

typedef struct CacheEntry {
    /* Written under cache_lock, by the owner or a space's final free. */
    DmsCaches *_Atomic cs;
    BounceCache *_Atomic cache;
} CacheEntry;

struct ThreadCaches {
    CacheEntry entry[THREAD_CACHES];
    unsigned victim; /* next entry to evict, round robin */
    bool key_set;
    bool exiting; /* its exit destructor ran: no new caches */
};

extern DMS_THREAD_LOCAL ThreadCaches dms__my_caches;

void dms__caches_init(DmsCaches *cs, DmsPool *pool, DmsBudget *budget,
                      const DmsCacheOwner *owner);
/* The space is being freed: drop every cache (all drained before). */
void dms__caches_clear(DmsCaches *cs);

/* Uncounts a map that dms__cache_take() counted and that then failed. */
bool dms__cache_uncount(DmsCaches *cs);
/*
 * After the section: drops the region references and returns the budget
 * in @later. Returns true if map clients must be woken; leaves
 * later->drop_holds to the caller. Inline: mostly there is nothing to do.
 */
bool dms__cache_later_slow(DmsCaches *cs, CacheLater *later);
static inline bool dms__cache_later(DmsCaches *cs, CacheLater *later)
{
    return (later->unref || later->give_back) &&
           dms__cache_later_slow(cs, later);
}

/*
 * Outside any section, no lock held: gives this thread a cache of @cs if
 * a map of @want bytes could use one and it has none.
 */
void dms__cache_create(DmsCaches *cs, size_t want);

/*
 * Empties every cache of @cs into the budget and the pool, and releases
 * the owner holds they banked: turns them off, waits for a grace period,
 * drains, turns them back on. Outside any section, no lock held; the
 * caller holds the owner alive. Never needs a wake-up: the budget goes
 * back before the waiters' own reclaim can finish.
 */
void dms__caches_reclaim(DmsCaches *cs);
/* Does @cs have a cache at all? */
bool dms__caches_exist(DmsCaches *cs);
/* Budget idle in all caches, and maps they counted (@maps may be NULL). */
void dms__caches_sum(DmsCaches *cs, size_t *idle, unsigned long *maps);
/* Keeps the caches out of a scarce budget (or lets them back in). */
void dms__caches_set_tight(DmsCaches *cs, bool tight);
bool dms__caches_tight(DmsCaches *cs);
/*
 * Could a thread's cache serve now? In a section, for the owners; also
 * for the high-water mark.
 */
static inline bool dms__caches_on(DmsCaches *cs)
{
    /* Acquire: a drainer's writes to the cache come before its "on". */
    return atomic_load_explicit(&cs->off, memory_order_acquire) == 0 &&
           !dms__budget_waiting(cs->budget) &&
           dms__budget_limit(cs->budget) >= CACHE_MIN_LIMIT;
}

/*
 * The owner's fast path: what a cached map and unmap do, in the caller's
 * read-side section. Inline (and forced: each is big for gcc's taste),
 * because as calls from bounce.c they cost a 64 B map+unmap of some 750
 * instructions about 20 more (bench/bounce-micro.c, callgrind). The
 * protocol they follow is at the top of bounce-cache.c, with everything
 * that empties a cache.
 */
/*
 * The calling thread's cache of @cs, or NULL. Others change the entries
 * only under the cache lock and only for spaces being freed, so any
 * caller with a live @cs may look.
 */
static inline BounceCache *dms__cache_mine(DmsCaches *cs)
{
    for (unsigned i = 0; i < THREAD_CACHES; i++) {
        if (atomic_load_explicit(&dms__my_caches.entry[i].cs,
                                 memory_order_relaxed) == cs)
            return atomic_load_explicit(&dms__my_caches.entry[i].cache,
                                        memory_order_relaxed);
    }
    return NULL;
}

/*
 * In a read-side section, for the calling thread: lend from its cache a
 * pooled slot (lend->chunk, slot) for @want bytes, the budget for them, a
 * reference on @region (which the view holds throughout the section) and
 * one owner hold; sets lend->unref, nunref (a bank to drop after the
 * section) and idle. False, with lend->chunk untouched, if it has no
 * cache, caches are off, or it would need a lock.
 */
static DMS_ALWAYS_INLINE bool dms__cache_take(DmsCaches *cs, DmsRegion *region,
                                              size_t want, DmsBounceLend *lend)
{
    BounceCache *c;
    unsigned shift, cls;
    size_t idle;

    if (want > CACHE_MAX_LEN || !dms__caches_on(cs))
        return false;
    DMS_SCHED_POINT();
    c = dms__cache_mine(cs);
    if (!c)
        return false;
    if (dms__budget_used(cs->budget) > dms__budget_limit(cs->budget))
        return false; /* limit lowered below what is out: share exactly */
    idle = atomic_load_explicit(&c->idle, memory_order_relaxed);
    if (idle < want) {
        bool wake = false;

        /*
         * No wake-up can be due: the take gives back only if the limit
         * changed, and that change reclaims the caches after our section
         * and wakes the waiters itself.
         */
        if (!dms__budget_take_spare(cs->budget, CACHE_BATCH, &wake))
            return false;
        idle += CACHE_BATCH;
    }
    shift = dms__pool_shift(want);
    cls = shift - POOL_MIN_SHIFT;
    if (c->nfree[cls] > 0) {
        CacheSlot *s = &c->free[cls][--c->nfree[cls]];

        lend->chunk = s->chunk;
        lend->slot = s->slot;
    } else {
        Buf buf;

        if (!dms__pool_claim(cs->pool, shift, &buf)) {
            /* The pool must grow, which takes a lock: keep the budget. */
            atomic_store_explicit(&c->idle, idle, memory_order_relaxed);
            return false;
        }
        lend->chunk = buf.chunk;
        lend->slot = buf.slot;
    }

    lend->unref = NULL;
    lend->nunref = 0;
    if (c->bank != region || c->bank_refs == 0) {
        if (c->bank != region) {
            /* Dropped after the section: it may run a destroy notify. */
            lend->unref = c->bank;
            lend->nunref = c->bank_refs;
            c->bank = region;
            c->bank_refs = 0;
        }
        /* The view holds @region throughout our section. */
        dms__region_ref_n(region, CACHE_BANK_BATCH);
        c->bank_refs = CACHE_BANK_BATCH;
    }
    c->bank_refs--;
    if (c->bank_holds == 0) {
        /* The caller's reference keeps the owner: adding is safe. */
        atomic_fetch_add_explicit(cs->owner.holds, CACHE_BANK_BATCH,
                                  memory_order_relaxed);
        c->bank_holds = CACHE_BANK_BATCH;
    }
    c->bank_holds--;

    idle -= want;
    atomic_store_explicit(&c->idle, idle, memory_order_relaxed);
    lend->idle = idle;
    /* Counted here; dms__cache_uncount() uncounts a map whose fill fails. */
    atomic_store_explicit(
        &c->maps, atomic_load_explicit(&c->maps, memory_order_relaxed) + 1,
        memory_order_relaxed);
    return true;
}

/*
 * In a read-side section: keep the slot, budget, region reference and
 * owner hold of a mapping that unmap has taken in the calling thread's
 * cache. False if it cannot; the caller then returns them itself.
 */
static DMS_ALWAYS_INLINE bool dms__cache_give(DmsCaches *cs, Buf *buf,
                                              size_t len, DmsRegion *region,
                                              CacheLater *later)
{
    BounceCache *c;
    unsigned cls;
    size_t idle;

    if (!buf->chunk || buf->chunk->shift > CACHE_MAX_SHIFT ||
        !dms__caches_on(cs) ||
        atomic_load_explicit(cs->owner.refs, memory_order_relaxed) == 0)
        return false;
    DMS_SCHED_POINT();
    c = dms__cache_mine(cs);
    if (!c)
        return false;
    cls = buf->chunk->shift - POOL_MIN_SHIFT;
    if (c->nfree[cls] < CACHE_DEPTH)
        c->free[cls][c->nfree[cls]++] = (CacheSlot){buf->chunk, buf->slot};
    else
        dms__buf_put(buf);

    idle = atomic_load_explicit(&c->idle, memory_order_relaxed) + len;
    if (idle > CACHE_IDLE_MAX) {
        later->give_back = idle - CACHE_BATCH;
        idle = CACHE_BATCH;
    }
    atomic_store_explicit(&c->idle, idle, memory_order_relaxed);

    if (c->bank == region && c->bank_refs < CACHE_BANK_MAX) {
        c->bank_refs++;
    } else {
        later->unref = region;
        later->nunref = 1;
    }
    if (c->bank_holds < CACHE_BANK_MAX)
        c->bank_holds++;
    else
        later->drop_holds = 1;
    return true;
}

#endif /* DMS_BOUNCE_CACHE_H */
