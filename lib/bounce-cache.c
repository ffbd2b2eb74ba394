/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-thread bounce caches: what makes a small bounce map+unmap cheaper
 * than g_malloc0() + copy + g_free().
 *
 * Without them a map+unmap of 64 bytes makes about ten atomic
 * read-modify-writes on shared words (budget, slot bitmap, region and
 * space references, counters), each dearer than all of glibc's malloc
 * fast path. A thread that bounces small buffers on a space therefore
 * keeps, for that space, a cache of
 *   - budget already charged to the space but not lent ("idle"),
 *   - free pool slots of the classes up to 4 KiB, already claimed,
 *   - a bank of references on the region it mapped last,
 *   - its count of maps,
 * and a map or unmap that the cache can serve touches only the cache and
 * the slot's own state word (one CAS at unmap, which keeps the
 * double-unmap check exact).
 *
 * The owner uses its cache only inside an RCU read-side section, and only
 * while DmsBounce.cache_off is 0. Anyone else who must empty the caches
 * (dms__caches_reclaim) raises cache_off, waits for a grace period (after
 * which no owner is inside a section that saw it 0, and none will enter
 * one that does), drains every cache under cache_lock, and lowers it
 * again. So owners need no lock and no atomic read-modify-write, and
 * drainers still see a quiet cache. Reclaims happen when
 *   - the topology changes (the bank must not outlive a region's removal,
 *     or its destroy notify would wait for the thread's next map),
 *   - a map client waits (its wake-up needs every freed byte to go
 *     through the shared budget, which notifies), or the limit changes,
 *   - a map would come up short while caches hold idle budget,
 *   - the space loses its last user reference.
 * Threads that exit, and caches evicted from a thread that uses more
 * spaces than it has entries, are drained by their owner.
 *
 * Caches serve only while the limit is at least CACHE_MIN_LIMIT, take
 * budget in CACHE_BATCH steps only while that leaves at least half the
 * limit to the shared pool, and keep at most CACHE_IDLE_MAX: a small or
 * scarce budget is shared exactly as without them.
 */
#include "bounce-impl.h"

#include <pthread.h>

DMS_THREAD_LOCAL ThreadCaches dms__my_caches;

/*
 * Guards every cache list and thread entry; taken only to create, drain
 * or free caches, never on the map/unmap path.
 */
static GMutex cache_lock;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Charges CACHE_BATCH more to the shared budget for @c, if it may. */
bool dms__cache_refill(BounceCache *c)
{
    DmsBounce *b = c->b;
    size_t limit = atomic_load_explicit(&b->limit, memory_order_seq_cst);
    size_t used = atomic_load_explicit(&b->used, memory_order_relaxed);

    do {
        /* Leave half the limit to the shared budget; never when dying. */
        if ((used & USED_DEAD) || used + CACHE_BATCH > limit / 2)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &b->used, &used, used + CACHE_BATCH, memory_order_seq_cst,
        memory_order_relaxed));
    /*
     * As in budget_take(): a limit changed meanwhile may not allow this;
     * the change reclaims the caches, so undo it at once ourselves.
     */
    if (atomic_load_explicit(&b->limit, memory_order_seq_cst) != limit) {
        atomic_fetch_sub_explicit(&b->used, CACHE_BATCH, memory_order_seq_cst);
        return false;
    }
    atomic_store_explicit(
        &c->idle,
        atomic_load_explicit(&c->idle, memory_order_relaxed) + CACHE_BATCH,
        memory_order_relaxed);
    return true;
}

void dms__cache_later_slow(DmsBounce *b, CacheLater *later)
{
    if (later->unref && later->nunref)
        dms__region_unref_n(later->unref, later->nunref);
    if (later->give_back)
        dms__budget_release(b, later->give_back);
}

/*
 * Empties @c into its space's pool and into @later (budget, references),
 * under cache_lock, with the owner known to be outside its sections.
 */
static void cache_drain(BounceCache *c, CacheLater *later)
{
    for (unsigned cls = 0; cls < CACHE_CLASSES; cls++) {
        while (c->nfree[cls] > 0) {
            CacheSlot *s = &c->free[cls][--c->nfree[cls]];
            Buf buf = {.chunk = s->chunk, .slot = s->slot};

            dms__buf_put(&buf);
        }
    }
    later->give_back += atomic_load_explicit(&c->idle, memory_order_relaxed);
    atomic_store_explicit(&c->idle, 0, memory_order_relaxed);
    later->unref = c->bank;
    later->nunref = c->bank_refs;
    c->bank = NULL;
    c->bank_refs = 0;
}

/* Unlinks @c from its space and its thread and frees it; cache_lock. */
static void cache_free(BounceCache *c)
{
    BounceCache **p;

    for (p = &c->b->caches; *p != c; p = &(*p)->next)
        ;
    *p = c->next;
    c->b->retired_maps += atomic_load_explicit(&c->maps, memory_order_relaxed);
    atomic_store_explicit(&c->owner->entry[c->entry].b, NULL,
                          memory_order_relaxed);
    atomic_store_explicit(&c->owner->entry[c->entry].cache, NULL,
                          memory_order_relaxed);
    g_free(c);
}

/* Thread exit: the owner drains and frees its own caches. */
static void thread_exit(void *arg)
{
    ThreadCaches *tc = arg;

    /*
     * Releasing budget below may run map-client callbacks and destroy
     * notifies here, and later destructors may map: neither may give
     * this thread a cache again, which nothing would drain.
     */
    tc->exiting = true;
    for (unsigned i = 0; i < THREAD_CACHES; i++) {
        CacheLater later = {0};
        BounceCache *c;
        DmsBounce *b;

        g_mutex_lock(&cache_lock);
        c = atomic_load_explicit(&tc->entry[i].cache, memory_order_relaxed);
        if (!c) {
            g_mutex_unlock(&cache_lock);
            continue;
        }
        b = c->b;
        cache_drain(c, &later);
        cache_free(c);
        g_mutex_unlock(&cache_lock);
        /*
         * The idle budget we hold keeps the space alive until this
         * returns it (and frees the space if it was the last).
         */
        dms__cache_later(b, &later);
    }
}

static void key_init(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        g_error("libdmaspace: cannot create a thread key");
}

void dms__cache_create(DmsBounce *b)
{
    ThreadCaches *tc = &dms__my_caches;
    BounceCache *c = g_try_new0(BounceCache, 1), *old;
    CacheLater later = {0};
    DmsBounce *old_b = NULL;
    unsigned e = THREAD_CACHES;

    if (!c)
        return; /* no cache: every map takes the shared path */
    if (tc->exiting) {
        g_free(c);
        return;
    }
    if (!tc->key_set) {
        pthread_once(&key_once, key_init);
        /* Only for the destructor: the value must be non-NULL. */
        pthread_setspecific(exit_key, tc);
        tc->key_set = true;
    }
    c->b = b;
    c->owner = tc;
    atomic_init(&c->idle, 0);
    atomic_init(&c->maps, 0);

    g_mutex_lock(&cache_lock);
    for (unsigned i = 0; i < THREAD_CACHES; i++) {
        DmsBounce *eb =
            atomic_load_explicit(&tc->entry[i].b, memory_order_relaxed);

        if (eb == b) {
            /* Created meanwhile (a callback of ours mapped): keep it. */
            g_mutex_unlock(&cache_lock);
            g_free(c);
            return;
        }
        if (!eb && e == THREAD_CACHES)
            e = i;
    }
    if (e == THREAD_CACHES) {
        /* All entries taken: drain and drop the next in turn. */
        e = tc->victim;
        tc->victim = (tc->victim + 1) % THREAD_CACHES;
        old = atomic_load_explicit(&tc->entry[e].cache, memory_order_relaxed);
        old_b = old->b;
        cache_drain(old, &later);
        cache_free(old);
    }
    c->entry = e;
    c->next = b->caches;
    b->caches = c;
    atomic_store_explicit(&tc->entry[e].cache, c, memory_order_relaxed);
    atomic_store_explicit(&tc->entry[e].b, b, memory_order_relaxed);
    g_mutex_unlock(&cache_lock);
    if (old_b)
        dms__cache_later(old_b, &later);
}

void dms__caches_hold(DmsBounce *b)
{
    atomic_fetch_add_explicit(&b->cache_off, CACHE_OFF_HOLD,
                              memory_order_seq_cst);
}

void dms__caches_drain(DmsBounce *b)
{
    CacheLater total = {0};
    GPtrArray *unrefs = NULL;

    g_mutex_lock(&cache_lock);
    for (BounceCache *c = b->caches; c; c = c->next) {
        CacheLater later = {0};

        cache_drain(c, &later);
        total.give_back += later.give_back;
        if (later.unref && later.nunref) {
            if (!unrefs)
                unrefs = g_ptr_array_new();
            g_ptr_array_add(unrefs, later.unref);
            g_ptr_array_add(unrefs, GUINT_TO_POINTER(later.nunref));
        }
    }
    g_mutex_unlock(&cache_lock);
    /* Release: the drained caches come before their owners' next use. */
    atomic_fetch_sub_explicit(&b->cache_off, CACHE_OFF_HOLD,
                              memory_order_release);
    if (unrefs) {
        for (guint i = 0; i < unrefs->len; i += 2)
            dms__region_unref_n(
                g_ptr_array_index(unrefs, i),
                GPOINTER_TO_UINT(g_ptr_array_index(unrefs, i + 1)));
        g_ptr_array_free(unrefs, TRUE);
    }
    /* Last: it may free a dying space. */
    if (total.give_back)
        dms__budget_release(b, total.give_back);
}

void dms__caches_reclaim(DmsBounce *b)
{
    dms__caches_hold(b);
    dms__rcu_synchronize();
    dms__caches_drain(b);
}

bool dms__caches_exist(DmsBounce *b)
{
    bool any;

    g_mutex_lock(&cache_lock);
    any = b->caches != NULL;
    g_mutex_unlock(&cache_lock);
    return any;
}

void dms__caches_sum(DmsBounce *b, size_t *idle, unsigned long *maps)
{
    size_t i = 0;
    unsigned long m;

    g_mutex_lock(&cache_lock);
    m = b->retired_maps;
    for (BounceCache *c = b->caches; c; c = c->next) {
        i += atomic_load_explicit(&c->idle, memory_order_relaxed);
        m += atomic_load_explicit(&c->maps, memory_order_relaxed);
    }
    g_mutex_unlock(&cache_lock);
    *idle = i;
    if (maps)
        *maps = m;
}

void dms__caches_free(DmsBounce *b)
{
    g_mutex_lock(&cache_lock);
    while (b->caches) {
        /* Drained when the space died; nothing can have refilled it. */
        g_warn_if_fail(atomic_load(&b->caches->idle) == 0);
        cache_free(b->caches);
    }
    g_mutex_unlock(&cache_lock);
}
