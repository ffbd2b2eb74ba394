/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce mappings: the per-space budget, the bounce half of map/unmap,
 * and how bounce mappings keep their space alive. Buffers come from
 * pool.c; small mappings usually go through the calling thread's cache
 * (bounce-cache.c). doc/map.md tells the whole story; the comments here
 * say why each piece is the way it is.
 *
 * Budget. One size_t of bytes charged ("used": lent, plus what thread
 * caches hold idle) and one of the limit, both machine words so that
 * 32-bit hosts need no libatomic. A grant is taken with a compare-and-swap
 * loop and is min(limit - used, want), or nothing when used >= limit: a
 * limit lowered below what is lent never wraps. Because the limit and the
 * counter are two words, a grant computed from one limit could land after
 * the limit was lowered; the grant re-reads the limit after its CAS and
 * gives itself back if it changed, so no grant ever completes against a
 * limit that is no longer in force.
 *
 * Lifetime. A bounce mapping takes no space reference: the bytes it holds
 * in "used" keep the space alive. When the last user reference goes
 * (dms__bounce_retire), the caches are drained and USED_DEAD is set in
 * "used"; whoever then brings the rest to zero frees the space, after a
 * grace period, because other releasers may still be reading the space
 * inside the read-side section that covers their release.
 */
#include "bounce-impl.h"

#include <string.h>

/* ---- budget ---- */

void dms__high_water(DmsBounce *b, size_t lent)
{
    atomic_size_t *hw = &b->space->counters.bounce_high_water;
    size_t seen = atomic_load_explicit(hw, memory_order_relaxed);

    while (lent > seen &&
           !atomic_compare_exchange_weak_explicit(
               hw, &seen, lent, memory_order_relaxed, memory_order_relaxed))
        ;
}

void dms__budget_release(DmsBounce *b, size_t n)
{
    DmsSpace *space = b->space;
    bool fire = false;
    size_t left;

    /*
     * The section keeps the space readable after our bytes stop keeping
     * it alive: a space that dies meanwhile is freed only after a grace
     * period.
     */
    dms__rcu_read_lock();
    /* Sequentially consistent, and before the check for waiters: see
     * "Wake-ups" in doc/map.md. */
    left = atomic_fetch_sub_explicit(&b->used, n, memory_order_seq_cst) - n;
    if (left == USED_DEAD) {
        dms__rcu_read_unlock();
        dms__space_destroy(space);
        return;
    }
    if (!(left & USED_DEAD)) {
        unsigned off =
            atomic_load_explicit(&b->cache_off, memory_order_relaxed);

        if ((off & CACHE_OFF_TIGHT) &&
            left <= atomic_load_explicit(&b->limit, memory_order_relaxed) / 4)
            atomic_fetch_and_explicit(&b->cache_off, ~CACHE_OFF_TIGHT,
                                      memory_order_relaxed);
        /* A client's callback needs the space beyond our section. */
        fire = dms__map_clients_waiting(space) && dms__space_tryref(space);
    }
    dms__rcu_read_unlock();
    if (fire) {
        dms__map_clients_notify(space);
        dms_space_unref(space);
    }
}

static int budget_take(DmsBounce *b, size_t want, size_t *grant)
{
    for (;;) {
        size_t limit = atomic_load_explicit(&b->limit, memory_order_seq_cst);
        size_t used = atomic_load_explicit(&b->used, memory_order_relaxed);
        /* The top bit of used is USED_DEAD: lend at most below it. */
        size_t cap = MIN(limit, USED_DEAD - 1);
        size_t n;

        if (limit == 0)
            return -ENOBUFS;
        do {
            if (used >= cap)
                return -EAGAIN;
            n = MIN(cap - used, want);
        } while (!atomic_compare_exchange_weak_explicit(
            &b->used, &used, used + n, memory_order_seq_cst,
            memory_order_relaxed));
        if (atomic_load_explicit(&b->limit, memory_order_seq_cst) == limit) {
            size_t idle = 0, lent = used + n;

            /*
             * What caches hold idle is not lent. Only while they are on
             * can they hold any (turning them off drains them); then the
             * sum is exact but for what other threads do meanwhile. It
             * takes a process-wide lock, so only when the mark may move.
             */
            if (lent >
                    atomic_load_explicit(&b->space->counters.bounce_high_water,
                                         memory_order_relaxed) &&
                dms__caches_on(b))
                dms__caches_sum(b, &idle, NULL);
            dms__high_water(b, lent - MIN(idle, lent));
            *grant = n;
            return 0;
        }
        /*
         * The limit changed between our read and our CAS, so the grant
         * may exceed the new limit. Give it back (waking anyone who saw
         * it taken and went to wait) and decide again.
         */
        dms__budget_release(b, n);
    }
}

/*
 * Like budget_take(), but a grant cut short by budget that thread caches
 * hold idle is retried once they are emptied: a cache never costs another
 * map its full grant, nor makes it fail.
 */
static int budget_take_all(DmsBounce *b, size_t want, size_t *grant)
{
    size_t idle;
    int r = budget_take(b, want, grant);

    if ((r == 0 && *grant == want) || r == -ENOBUFS)
        return r;
    dms__caches_sum(b, &idle, NULL);
    if (idle == 0)
        return r;
    if (r == 0)
        dms__budget_release(b, *grant);
    /* Budget is scarce: keep the caches out of it until it is not. */
    atomic_fetch_or_explicit(&b->cache_off, CACHE_OFF_TIGHT,
                             memory_order_seq_cst);
    dms__caches_reclaim(b);
    return budget_take(b, want, grant);
}

size_t dms__bounce_room(const DmsBounce *bounce)
{
    DmsBounce *b = (DmsBounce *)bounce; /* loads only */
    size_t used = atomic_load_explicit(&b->used, memory_order_seq_cst);
    size_t limit = atomic_load_explicit(&b->limit, memory_order_seq_cst);

    used &= ~USED_DEAD;
    if (limit == 0)
        return SIZE_MAX;
    return used < limit ? limit - used : 0;
}

void dms__bounce_stats(DmsBounce *b, size_t *in_use, unsigned long *maps)
{
    size_t used, idle;

    dms__caches_sum(b, &idle, maps);
    used = atomic_load_explicit(&b->used, memory_order_relaxed) & ~USED_DEAD;
    *in_use = used > idle ? used - idle : 0;
}

void dms__bounce_waiters(DmsBounce *b, bool waiting)
{
    if (waiting)
        atomic_fetch_or_explicit(&b->cache_off, CACHE_OFF_WAITERS,
                                 memory_order_seq_cst);
    else
        atomic_fetch_and_explicit(&b->cache_off, ~CACHE_OFF_WAITERS,
                                  memory_order_seq_cst);
}

void dms__bounce_unstash(DmsBounce *b)
{
    /*
     * The idle sum alone would not do: a cache may be adding to it in a
     * read-side section right now. Wait for the grace period unless no
     * cache can be on: none exists (one created later starts empty and
     * sees the caller's "off"), or the limit keeps them off (lowering it
     * drained them).
     */
    if (atomic_load_explicit(&b->limit, memory_order_seq_cst) <
            CACHE_MIN_LIMIT ||
        !dms__caches_exist(b))
        return;
    dms__caches_reclaim(b);
}

void dms_space_set_bounce_limit(DmsSpace *space, size_t limit)
{
    g_return_if_fail(space != NULL);
    atomic_store_explicit(&space->bounce->limit, limit, memory_order_seq_cst);
    /*
     * Budget cached under the old limit must not be lent under the new
     * one; and a raised limit is freed budget: same protocol as
     * dms__budget_release().
     */
    if (dms__caches_exist(space->bounce))
        dms__caches_reclaim(space->bounce);
    dms__map_clients_notify(space);
}

size_t dms_space_get_bounce_limit(const DmsSpace *space)
{
    g_return_val_if_fail(space != NULL, 0);
    return atomic_load_explicit(&space->bounce->limit, memory_order_relaxed);
}

/* ---- map and unmap ---- */

/* ---- the thread cache's side of map and unmap (bounce-cache.c) ---- */

/*
 * In a read-side section: lend from the calling thread's cache of @b a
 * slot for @want bytes, the budget for them and a reference on @region
 * (which the view holds throughout the section). False, with nothing
 * taken, if there is no such cache, caches are off, or it would need a
 * lock.
 */
static inline bool cache_take(DmsBounce *b, DmsRegion *region, size_t want,
                              Buf *buf, CacheLater *later)
{
    BounceCache *c;
    unsigned shift, cls;
    size_t idle, used;

    if (want > CACHE_MAX_LEN || !dms__caches_on(b))
        return false;
    c = dms__cache_mine(b);
    if (!c)
        return false;
    used = atomic_load_explicit(&b->used, memory_order_relaxed);
    if (used > atomic_load_explicit(&b->limit, memory_order_relaxed))
        return false; /* limit lowered below what is out: share exactly */
    idle = atomic_load_explicit(&c->idle, memory_order_relaxed);
    if (idle < want) {
        if (!dms__cache_refill(c))
            return false;
        idle += CACHE_BATCH;
    }
    shift = dms__pool_shift(want);
    cls = shift - POOL_MIN_SHIFT;
    if (c->nfree[cls] > 0) {
        CacheSlot *s = &c->free[cls][--c->nfree[cls]];

        buf->chunk = s->chunk;
        buf->slot = s->slot;
        buf->large = NULL;
        buf->data = s->chunk->data + ((size_t)s->slot << shift);
        buf->lent = &s->chunk->slots[s->slot].lent;
    } else if (!dms__pool_claim(b, shift, buf)) {
        return false; /* the pool must grow: that takes a lock */
    }

    if (c->bank != region || c->bank_refs == 0) {
        if (c->bank != region) {
            /* Dropped after the section: it may run a destroy notify. */
            later->unref = c->bank;
            later->nunref = c->bank_refs;
            c->bank = region;
            c->bank_refs = 0;
        }
        /* The view holds @region throughout our section. */
        dms__region_ref_n(region, CACHE_BANK_BATCH);
        c->bank_refs = CACHE_BANK_BATCH;
    }
    c->bank_refs--;

    idle -= want;
    atomic_store_explicit(&c->idle, idle, memory_order_relaxed);
    /* Counted here; dms__bounce_map_rcu() uncounts a map whose fill fails. */
    atomic_store_explicit(
        &c->maps, atomic_load_explicit(&c->maps, memory_order_relaxed) + 1,
        memory_order_relaxed);
    /*
     * Lent bytes are what is charged less what caches hold idle; other
     * threads' idle budget is not known here, so with several caching
     * threads the mark can count it as lent. It stays within the limit.
     */
    used = atomic_load_explicit(&b->used, memory_order_relaxed);
    dms__high_water(b, used - idle);
    return true;
}

/*
 * In a read-side section: keep the slot, budget and region reference of a
 * mapping that unmap has taken in the calling thread's cache. False if it
 * cannot; the caller then returns them itself.
 */
static inline bool cache_give(DmsBounce *b, Buf *buf, size_t len,
                              DmsRegion *region, CacheLater *later)
{
    BounceCache *c;
    unsigned cls;
    size_t idle;

    if (!buf->chunk || buf->chunk->shift > CACHE_MAX_SHIFT ||
        !dms__caches_on(b))
        return false;
    c = dms__cache_mine(b);
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
    return true;
}

/* Fills (to-device) or zeroes (from-device) a lent buffer, publishes it. */
static int buf_start(DmsSpace *space, DmsRegion *region, uint64_t offset,
                     Buf *buf, size_t grant, DmsDirection dir,
                     const DmsAttrs *attrs)
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
    dms__buf_publish(space->bounce, buf, grant, dir);
    return 0;
}

int dms__bounce_map(DmsSpace *space, DmsRegion *region, uint64_t offset,
                    size_t want, DmsDirection dir, const DmsAttrs *attrs,
                    size_t *len, void **ret)
{
    DmsBounce *b = space->bounce;
    DmsSpaceCounters *cnt = &space->counters;
    size_t grant;
    Buf buf;
    int r;

    r = budget_take_all(b, want, &grant);
    if (r < 0) {
        dms__count(r == -ENOBUFS ? &cnt->fail_no_budget
                                 : &cnt->fail_exhausted);
        return r;
    }
    r = dms__buf_get(b, grant, &buf);
    if (r < 0) {
        dms__budget_release(b, grant);
        dms__count(&cnt->fail_nomem);
        return r;
    }
    r = buf_start(space, region, offset, &buf, grant, dir, attrs);
    if (r < 0) {
        dms__buf_put(&buf);
        dms__budget_release(b, grant);
        dms__count(&cnt->fail_backend);
        return r;
    }
    dms__count(&cnt->bounced_maps);
    /* A thread that bounces small buffers gets a cache for next time. */
    if (want <= CACHE_MAX_LEN && dms__caches_on(b) && !dms__cache_mine(b))
        dms__cache_create(b);
    *len = grant;
    *ret = buf.data;
    return 0;
}

int dms__bounce_map_rcu(DmsSpace *space, const DmsTranslation *t,
                        DmsDirection dir, const DmsAttrs *attrs, size_t *len,
                        void **ret)
{
    DmsBounce *b = space->bounce;
    CacheLater later = {0};
    size_t want = (size_t)t->len;
    Buf buf;
    int r;

    if (!cache_take(b, t->region, want, &buf, &later)) {
        dms_region_ref(t->region);
        dms__rcu_read_unlock();
        return DMS__NOT_CACHED;
    }
    dms__rcu_read_unlock();
    dms__cache_later(b, &later);
    r = buf_start(space, t->region, t->offset, &buf, want, dir, attrs);
    if (r < 0) {
        BounceCache *c = dms__cache_mine(b);

        /*
         * Uncount the map: only this thread writes its cache's count. (A
         * callback of the backend may have replaced the cache; the
         * counts are summed, so any of them will do.)
         */
        if (c)
            atomic_store_explicit(
                &c->maps,
                atomic_load_explicit(&c->maps, memory_order_relaxed) - 1,
                memory_order_relaxed);
        else
            atomic_fetch_sub_explicit(&space->counters.bounced_maps, 1,
                                      memory_order_relaxed);
        /* Back where it came from, or to the shared pool and budget. */
        later = (CacheLater){0};
        dms__rcu_read_lock();
        if (cache_give(b, &buf, want, t->region, &later)) {
            dms__rcu_read_unlock();
            dms__cache_later(b, &later);
        } else {
            dms__rcu_read_unlock();
            dms__buf_put(&buf);
            dms_region_unref(t->region);
            dms__budget_release(b, want);
        }
        dms__count(&space->counters.fail_backend);
        return r;
    }
    *len = want;
    *ret = buf.data;
    return 0;
}

int dms__bounce_unmap(DmsSpace *space, void *ptr, size_t len, DmsDirection dir,
                      size_t access_len, bool *found)
{
    DmsBounce *b = space->bounce;
    CacheLater later = {0};
    DmsRegion *region;
    Lent lent;
    Buf buf;
    bool kept;
    int r = 0;

    if (!dms__buf_take(b, ptr, len, dir, &buf)) {
        *found = false;
        return -EINVAL;
    }
    *found = true;
    lent = *buf.lent;
    region = lent.region;
    /* Ours until it goes back below, after which another map may own it. */
    buf.lent->region = NULL;
    /*
     * Straight into the region the buffer was filled from, with the
     * map-time attributes: if the region was removed meanwhile, our
     * reference kept it, and its backend gets the data (or fails it).
     */
    if (dir == DMS_DIR_FROM_DEVICE && access_len > 0)
        r = dms__region_write(region, lent.offset, ptr, access_len,
                              lent.has_attrs ? &lent.attrs : NULL, NULL);
    dms__rcu_read_lock();
    kept = cache_give(b, &buf, len, region, &later);
    dms__rcu_read_unlock();
    if (kept) {
        dms__cache_later(b, &later);
        return r;
    }
    /* Buffer first, then budget: a woken waiter finds both free. The
     * budget last of all: it may be what keeps the space alive. */
    dms__buf_put(&buf);
    dms_region_unref(region);
    dms__budget_release(b, len);
    return r;
}

/* ---- lifecycle ---- */

int dms__bounce_new(DmsSpace *space, DmsBounce **ret)
{
    DmsBounce *b = g_try_new0(DmsBounce, 1);

    *ret = NULL;
    if (!b)
        return -ENOMEM;
    b->space = space;
    atomic_init(&b->used, 0);
    atomic_init(&b->limit, DMS_BOUNCE_LIMIT_DEFAULT);
    atomic_init(&b->cache_off, 0);
    g_mutex_init(&b->life_lock);
    dms__pool_new(b);
    *ret = b;
    return 0;
}

bool dms__bounce_retire(DmsBounce *b)
{
    size_t old;

    g_mutex_lock(&b->life_lock);
    /* Revived meanwhile (dms_space_ref() through a live mapping). */
    if (atomic_load_explicit(&b->space->refcount, memory_order_acquire)) {
        g_mutex_unlock(&b->life_lock);
        return false;
    }
    atomic_fetch_or_explicit(&b->cache_off, CACHE_OFF_DYING,
                             memory_order_seq_cst);
    dms__caches_reclaim(b);
    old = atomic_fetch_or_explicit(&b->used, USED_DEAD, memory_order_seq_cst);
    g_mutex_unlock(&b->life_lock);
    return old == 0;
}

void dms__bounce_revive(DmsBounce *b)
{
    size_t used;

    g_mutex_lock(&b->life_lock);
    /*
     * Bytes are still lent (the caller's mapping is what let it take the
     * reference), so no release can have seen USED_DEAD alone.
     */
    used = atomic_load_explicit(&b->used, memory_order_relaxed);
    while ((used & USED_DEAD) &&
           !atomic_compare_exchange_weak_explicit(
               &b->used, &used, used & ~USED_DEAD, memory_order_seq_cst,
               memory_order_relaxed))
        ;
    atomic_fetch_and_explicit(&b->cache_off, ~CACHE_OFF_DYING,
                              memory_order_seq_cst);
    g_mutex_unlock(&b->life_lock);
}

void dms__bounce_free(DmsBounce *bounce)
{
    if (!bounce)
        return;
    g_warn_if_fail((atomic_load(&bounce->used) & ~USED_DEAD) == 0);
    dms__caches_free(bounce);
    dms__pool_free(bounce);
    g_mutex_clear(&bounce->life_lock);
    g_free(bounce);
}
