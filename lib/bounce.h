/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce mappings, for map.c, map-client.c and space.c: the bounce half of
 * dms_space_map() and dms_space_unmap(), and the budget as its users see
 * it. bounce.c combines the budget (budget.c), the pool (pool.c) and the
 * thread caches (bounce-cache.c). Never installed.
 *
 * Every bounce mapping holds one unit of its space's hold count (see
 * space.c). A bounce call never drops one itself, because the last one
 * frees the space: it tells its caller in a DmsBounceDone, and so it does
 * with wake-ups, because map clients live above it.
 */
#ifndef DMS_BOUNCE_H
#define DMS_BOUNCE_H

#include "dms-private.h"

/* What a bounce call leaves its caller to do, in this order. */
typedef struct DmsBounceDone {
    bool wake;         /* budget freed while clients wait: notify them */
    size_t drop_holds; /* then release this many space holds */
} DmsBounceDone;

/*
 * A bounce map in two halves (dms__bounce_lend_rcu(), then
 * dms__bounce_map()), on the caller's stack. @data and @len describe the
 * mapping once made; the rest is what the thread's cache lent
 * (bounce-cache.c fills it), for bounce.c alone.
 */
typedef struct DmsBounceLend {
    void *data;
    size_t len;
    struct PoolChunk *chunk; /* NULL: the thread's cache lent nothing */
    unsigned slot;
    DmsRegion *unref;
    unsigned nunref;
    size_t idle;
} DmsBounceLend;

/*
 * @refs is the space's reference count: thread caches bank holds only
 * while it is above 0. @holds is its hold count, to which bounce
 * mappings add; @release(@owner, n) drops n holds (and may free the
 * space). @counters are the space's.
 */
int dms__bounce_new(DmsSpaceCounters *counters, const atomic_int *refs,
                    atomic_size_t *holds,
                    void (*release)(void *owner, size_t n), void *owner,
                    DmsBounce **ret);
/* All mappings ended, all caches drained (dms__bounce_reclaim()). */
void dms__bounce_free(DmsBounce *bounce);

/*
 * In the caller's read-side section, in which @t was looked up (the view
 * holds t->region): if the calling thread's cache can lend a buffer for
 * all t->len bytes, takes it, with a reference on t->region and a space
 * hold, into @lend and returns true. Otherwise returns false, with
 * nothing taken.
 */
bool dms__bounce_lend_rcu(DmsBounce *bounce, const DmsTranslation *t,
                          DmsBounceLend *lend);

/*
 * Outside any section: makes a bounce mapping of up to t->len bytes at
 * t->offset of message region t->region, filled (to-device) or zeroed
 * (from-device), with the buffer in @lend if dms__bounce_lend_rcu() found
 * one, else from the shared budget and pool. The caller hands over one
 * reference on t->region (taken in its section if the cache lent
 * nothing). On success the mapping owns it and a space hold, and
 * lend->data, lend->len describe it. On failure both are gone (see
 * @done), and the failure is counted.
 */
int dms__bounce_map(DmsBounce *bounce, DmsBounceLend *lend,
                    const DmsTranslation *t, DmsDirection dir,
                    const DmsAttrs *attrs, DmsBounceDone *done);

/*
 * Ends the bounce mapping at @ptr if @bounce lent one there with this
 * @len and @dir: writes back @access_len bytes (from-device), returns
 * buffer and budget, drops the region reference; the mapping's space hold
 * is in @done unless a thread cache banked it. Returns the write-back's
 * result and sets *@found; if @ptr is not such a mapping, sets *@found to
 * false and changes nothing.
 */
int dms__bounce_unmap(DmsBounce *bounce, void *ptr, size_t len,
                      DmsDirection dir, size_t access_len, bool *found,
                      DmsBounceDone *done);

/*
 * Empties every thread cache of @bounce into the shared budget and pool
 * and drops the region references and space holds they banked (the
 * caller holds the space); waits for a grace period. For a space that
 * lost its last reference, and after a topology change (a removed
 * region's destroy notify must not wait for some thread's next map).
 * Outside any section, no lock held.
 */
void dms__bounce_reclaim(DmsBounce *bounce);

/* Sets the limit; true if map clients must be woken. */
bool dms__bounce_set_limit(DmsBounce *bounce, size_t limit);
size_t dms__bounce_limit(const DmsBounce *bounce);

/*
 * For map clients: the waiting half of the wake-up protocol (budget.h).
 * Bytes a bounce map could get now; @n waiters now, on every change;
 * before the first room check of a new waiter, unstash: return what
 * thread caches hold idle to the shared budget (may wait for a grace
 * period).
 */
size_t dms__bounce_room(const DmsBounce *bounce);
void dms__bounce_set_waiting(DmsBounce *bounce, unsigned n);
void dms__bounce_unstash(DmsBounce *bounce);

/* Bytes lent now (not counting what caches hold idle); maps counted. */
void dms__bounce_stats(DmsBounce *bounce, size_t *in_use, unsigned long *maps);

#endif /* DMS_BOUNCE_H */
