/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce mappings: the budget (budget.c), the pool (pool.c) and the
 * thread caches (bounce-cache.c) put together. A small mapping is served
 * by the calling thread's cache when it can be; everything else charges
 * the shared budget and takes a buffer from the pool. doc/map.md tells
 * the whole story.
 *
 * This file decides nothing about the space's lifetime: each mapping
 * holds one space hold (from the cache's bank, or added here), and what
 * must be released goes back to the caller in a DmsBounceDone.
 */
#include "bounce-impl.h"

#include <string.h>

static void high_water(DmsBounce *b, size_t lent)
{
    atomic_size_t *hw = &b->counters->bounce_high_water;
    size_t seen = atomic_load_explicit(hw, memory_order_relaxed);

    while (lent > seen &&
           !atomic_compare_exchange_weak_explicit(
               hw, &seen, lent, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Gives @n bytes back to the shared budget. */
static void release(DmsBounce *b, size_t n, DmsBounceDone *done)
{
    if (dms__budget_release(&b->budget, n))
        done->wake = true;
    /* Scarce no more: let the caches back in. */
    if (dms__caches_tight(&b->caches) &&
        dms__budget_used(&b->budget) <= dms__budget_limit(&b->budget) / 4)
        dms__caches_set_tight(&b->caches, false);
}

static int take(DmsBounce *b, size_t want, size_t *grant, DmsBounceDone *done)
{
    int r = dms__budget_take(&b->budget, want, grant, &done->wake);
    size_t idle = 0, lent;

    if (r < 0)
        return r;
    /*
     * What caches hold idle is not lent. Only while they are on can they
     * hold any (turning them off drains them); then the sum is exact but
     * for what other threads do meanwhile. It takes a process-wide lock,
     * so only when the mark may move.
     */
    lent = dms__budget_used(&b->budget);
    if (lent > atomic_load_explicit(&b->counters->bounce_high_water,
                                    memory_order_relaxed) &&
        dms__caches_on(&b->caches))
        dms__caches_sum(&b->caches, &idle, NULL);
    high_water(b, lent - MIN(idle, lent));
    return 0;
}

/*
 * Like take(), but a grant cut short by budget that thread caches hold
 * idle is retried once they are emptied: a cache never costs another map
 * its full grant, nor makes it fail.
 */
static int take_all(DmsBounce *b, size_t want, size_t *grant,
                    DmsBounceDone *done)
{
    size_t idle;
    int r = take(b, want, grant, done);

    if ((r == 0 && *grant == want) || r == -ENOBUFS)
        return r;
    dms__caches_sum(&b->caches, &idle, NULL);
    if (idle == 0)
        return r;
    if (r == 0)
        release(b, *grant, done);
    /* Budget is scarce: keep the caches out of it until it is not. */
    dms__caches_set_tight(&b->caches, true);
    dms__caches_reclaim(&b->caches);
    return take(b, want, grant, done);
}

/* Fills (to-device) or zeroes (from-device) a lent buffer, publishes it. */
static DMS_ALWAYS_INLINE int buf_start(DmsBounce *b, DmsRegion *region,
                                       uint64_t offset, Buf *buf, size_t grant,
                                       DmsDirection dir, const DmsAttrs *attrs)
{
    if (dir == DMS_DIR_TO_DEVICE) {
        /* One bulk read; the backend's error is the map's error. */
        int r =
            dms__region_read(region, offset, buf->data, grant, attrs, NULL);

        if (r < 0)
            return r;
    } else {
        /* Never show the device what an earlier mapping left here. */
        memset(buf->data, 0, grant);
    }
    buf->lent->region = region;
    buf->lent->offset = offset;
    buf->lent->has_attrs = attrs != NULL;
    if (attrs)
        buf->lent->attrs = *attrs;
    dms__buf_publish(&b->pool, buf, grant, dir);
    return 0;
}

/*
 * Returns the buffer, budget, region reference and space hold of a
 * mapping that is not (or no longer) live: to the calling thread's cache
 * if it takes them, else to the shared budget and pool.
 */
static DMS_ALWAYS_INLINE void give_back(DmsBounce *b, Buf *buf, size_t len,
                                        DmsRegion *region, DmsBounceDone *done)
{
    CacheLater later = {0};
    bool kept;

    dms__rcu_read_lock();
    kept = dms__cache_give(&b->caches, buf, len, region, &later);
    dms__rcu_read_unlock();
    if (kept) {
        if (dms__cache_later(&b->caches, &later))
            done->wake = true;
        done->drop_holds += later.drop_holds;
        return;
    }
    /* Buffer first, then budget: a woken waiter finds both free. */
    dms__buf_put(buf);
    dms_region_unref(region);
    release(b, len, done);
    done->drop_holds++;
}

bool dms__bounce_lend_rcu(DmsBounce *b, const DmsTranslation *t,
                          DmsBounceLend *lend)
{
    lend->chunk = NULL;
    return dms__cache_take(&b->caches, t->region, (size_t)t->len, lend);
}

/* The second half of a map that the thread's cache served. */
static int map_cached(DmsBounce *b, DmsBounceLend *lend, DmsRegion *region,
                      uint64_t offset, size_t want, DmsDirection dir,
                      const DmsAttrs *attrs, DmsBounceDone *done)
{
    Buf buf;
    int r;

    /* The bank the thread's cache let go of: it may run a destroy notify. */
    if (lend->unref && lend->nunref)
        dms__region_unref_n(lend->unref, lend->nunref);
    /*
     * Lent bytes are what is charged less what caches hold idle; other
     * threads' idle budget is not known here, so with several caching
     * threads the mark can count it as lent. It stays within the limit.
     */
    high_water(b, dms__budget_used(&b->budget) - lend->idle);
    dms__buf_of_slot(&buf, lend->chunk, lend->slot);
    r = buf_start(b, region, offset, &buf, want, dir, attrs);
    if (r < 0) {
        /*
         * Uncount the map. A callback of the backend may have replaced
         * the cache; the counts are summed, so any of them will do.
         */
        if (!dms__cache_uncount(&b->caches))
            atomic_fetch_sub_explicit(&b->counters->bounced_maps, 1,
                                      memory_order_relaxed);
        give_back(b, &buf, want, region, done);
        return r;
    }
    lend->data = buf.data;
    return 0;
}

/* A map that the thread's cache could not serve. */
static int map_shared(DmsBounce *b, DmsRegion *region, uint64_t offset,
                      size_t want, DmsDirection dir, const DmsAttrs *attrs,
                      size_t *len, DmsBounceDone *done, Buf *buf)
{
    DmsSpaceCounters *cnt = b->counters;
    size_t grant;
    int r;

    r = take_all(b, want, &grant, done);
    if (r < 0) {
        dms__count(r == -ENOBUFS ? &cnt->fail_no_budget
                                 : &cnt->fail_exhausted);
        return r;
    }
    r = dms__buf_get(&b->pool, grant, buf);
    if (r < 0) {
        release(b, grant, done);
        dms__count(&cnt->fail_nomem);
        return r;
    }
    r = buf_start(b, region, offset, buf, grant, dir, attrs);
    if (r < 0) {
        dms__buf_put(buf);
        release(b, grant, done);
        dms__count(&cnt->fail_backend);
        return r;
    }
    dms__count(&cnt->bounced_maps);
    *len = grant;
    return 0;
}

int dms__bounce_map(DmsBounce *b, DmsBounceLend *lend, const DmsTranslation *t,
                    DmsDirection dir, const DmsAttrs *attrs,
                    DmsBounceDone *done)
{
    size_t want = (size_t)t->len;
    Buf buf;
    int r;

    if (lend->chunk) {
        r = map_cached(b, lend, t->region, t->offset, want, dir, attrs, done);
        if (r < 0) {
            dms__count(&b->counters->fail_backend);
            return r;
        }
        lend->len = want;
        return 0;
    }
    /* The mapping's hold; the caller's reference keeps the space. */
    atomic_fetch_add_explicit(b->holds, 1, memory_order_relaxed);
    r = map_shared(b, t->region, t->offset, want, dir, attrs, &lend->len, done,
                   &buf);
    if (r < 0) {
        dms_region_unref(t->region);
        done->drop_holds++;
        return r;
    }
    dms__cache_create(&b->caches, want);
    lend->data = buf.data;
    return 0;
}

int dms__bounce_unmap(DmsBounce *b, void *ptr, size_t len, DmsDirection dir,
                      size_t access_len, bool *found, DmsBounceDone *done)
{
    DmsRegion *region;
    Lent *lent;
    Buf buf;
    int r = 0;

    if (!dms__buf_take(&b->pool, ptr, len, dir, &buf)) {
        *found = false;
        return -EINVAL;
    }
    *found = true;
    /* Ours until it goes back below, after which another map may own it. */
    lent = buf.lent;
    region = lent->region;
    /*
     * Straight into the region the buffer was filled from, with the
     * map-time attributes: if the region was removed meanwhile, our
     * reference kept it, and its backend gets the data (or fails it).
     */
    if (dir == DMS_DIR_FROM_DEVICE && access_len > 0)
        r = dms__region_write(region, lent->offset, ptr, access_len,
                              lent->has_attrs ? &lent->attrs : NULL, NULL);
    lent->region = NULL;
    give_back(b, &buf, len, region, done);
    return r;
}

void dms__bounce_reclaim(DmsBounce *b)
{
    if (dms__caches_exist(&b->caches))
        dms__caches_reclaim(&b->caches);
}

bool dms__bounce_set_limit(DmsBounce *b, size_t limit)
{
    bool wake = dms__budget_set_limit(&b->budget, limit);

    /*
     * Budget cached under the old limit must not be lent under the new
     * one. (The reclaim itself never needs to wake anyone.)
     */
    dms__bounce_reclaim(b);
    return wake;
}

size_t dms__bounce_limit(const DmsBounce *b)
{
    return dms__budget_limit(&b->budget);
}

size_t dms__bounce_room(const DmsBounce *b)
{
    return dms__budget_room(&b->budget);
}

void dms__bounce_set_waiting(DmsBounce *b, unsigned n)
{
    dms__budget_set_waiting(&b->budget, n);
}

void dms__bounce_unstash(DmsBounce *b)
{
    /*
     * The idle sum alone would not do: a cache may be adding to it in a
     * read-side section right now. Wait for the grace period unless no
     * cache can be on: none exists (one created later starts empty and
     * sees the waiter), or the limit keeps them off (lowering it drained
     * them).
     */
    if (dms__budget_limit(&b->budget) < CACHE_MIN_LIMIT)
        return;
    dms__bounce_reclaim(b);
}

void dms__bounce_stats(DmsBounce *b, size_t *in_use, unsigned long *maps)
{
    size_t used, idle;

    dms__caches_sum(&b->caches, &idle, maps);
    used = dms__budget_used(&b->budget);
    *in_use = used > idle ? used - idle : 0;
}

int dms__bounce_new(DmsSpaceCounters *counters, const atomic_int *refs,
                    atomic_size_t *holds,
                    void (*release_holds)(void *owner, size_t n), void *owner,
                    DmsBounce **ret)
{
    /* Line-aligned: the budget keeps its counter on a line of its own. */
    DmsBounce *b = dms__lines_alloc0(sizeof(*b));
    DmsCacheOwner co = {
        .refs = refs,
        .holds = holds,
        .release = release_holds,
        .owner = owner,
    };

    *ret = NULL;
    if (!b)
        return -ENOMEM;
    dms__budget_init(&b->budget, DMS_BOUNCE_LIMIT_DEFAULT);
    dms__pool_init(&b->pool);
    dms__caches_init(&b->caches, &b->pool, &b->budget, &co);
    b->counters = counters;
    b->holds = holds;
    *ret = b;
    return 0;
}

void dms__bounce_free(DmsBounce *b)
{
    if (!b)
        return;
    g_warn_if_fail(dms__budget_used(&b->budget) == 0);
    dms__caches_clear(&b->caches);
    dms__pool_clear(&b->pool);
    free(b);
}
