/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-thread bounce caches: what makes a small bounce map+unmap cheaper
 * than g_malloc0() + copy + g_free(), and lets two threads bounce on one
 * space without meeting on a shared word.
 *
 * Without them a map+unmap of 64 bytes makes about ten atomic
 * read-modify-writes on shared words (budget, slot bitmap, region and
 * space hold counts, counters), each dearer than all of glibc's malloc
 * fast path. A thread that bounces small buffers on a space therefore
 * keeps, for that space, a cache of
 *   - budget already charged to the space but not lent ("idle"),
 *   - free pool slots of the classes up to 4 KiB, already claimed,
 *   - a bank of references on the region it mapped last,
 *   - a bank of holds on the space (DmsCacheOwner),
 *   - its count of maps,
 * and a map or unmap that the cache can serve touches only the cache and
 * the slot's own state word (one CAS at unmap, which keeps the
 * double-unmap check exact). Each cache sits on lines of its own. That
 * fast path, dms__cache_take() and dms__cache_give(), is inline in
 * bounce-cache.h: as calls, they cost a 64 B map+unmap more than the 10%
 * issue 13 allows the split.
 *
 * The owner uses its cache only inside an RCU read-side section, and only
 * while DmsCaches.off is 0 and no map client waits. Anyone else who must
 * empty the caches (dms__caches_reclaim) raises off, waits for a grace
 * period (after which no owner is inside a section that saw it 0, and
 * none will enter one that does), drains every cache under cache_lock,
 * and lowers it again. So owners need no lock and no atomic
 * read-modify-write, and drainers still see a quiet cache. Reclaims
 * happen when
 *   - the topology changes (the bank must not outlive a region's removal,
 *     or its destroy notify would wait for the thread's next map),
 *   - a map client waits (its wake-up needs every freed byte to go
 *     through the shared budget), or the limit changes,
 *   - a map would come up short while caches hold idle budget,
 *   - the space loses its last reference (the banked holds go back, and
 *     from then on unmaps bank nothing: DmsCacheOwner.refs is 0).
 * Threads that exit, and caches evicted from a thread that uses more
 * spaces than it has entries, are drained by their owner. Drains return
 * budget under cache_lock and never wake anyone (doc/design.md,
 * "Wake-ups", says why).
 *
 * Caches serve only while the limit is at least CACHE_MIN_LIMIT, take
 * budget in CACHE_BATCH steps only while that leaves at least half the
 * limit to the shared budget, and keep at most CACHE_IDLE_MAX: a small or
 * scarce budget is shared exactly as without them.
 */
#include "bounce-cache.h"

#include <pthread.h>

DMS_THREAD_LOCAL ThreadCaches dms__my_caches;

/*
 * Guards every cache list and thread entry; taken only to create, drain
 * or free caches, never on the map/unmap path.
 */
static GMutex cache_lock;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

bool dms__cache_uncount(DmsCaches *cs)
{
    BounceCache *c = dms__cache_mine(cs);

    /* Only this thread writes its cache's count. */
    if (!c)
        return false;
    atomic_store_explicit(
        &c->maps, atomic_load_explicit(&c->maps, memory_order_relaxed) - 1,
        memory_order_relaxed);
    return true;
}

bool dms__cache_later_slow(DmsCaches *cs, CacheLater *later)
{
    bool wake = false;

    if (later->unref && later->nunref)
        dms__region_unref_n(later->unref, later->nunref);
    if (later->give_back)
        wake = dms__budget_release(cs->budget, later->give_back);
    return wake;
}

/*
 * Empties @c into its space's pool and budget and into @later (region
 * references, owner holds), under cache_lock, with the owner known to be
 * outside its sections.
 */
static void cache_drain(BounceCache *c, CacheLater *later)
{
    size_t idle = atomic_load_explicit(&c->idle, memory_order_relaxed);

    for (unsigned cls = 0; cls < CACHE_CLASSES; cls++) {
        while (c->nfree[cls] > 0) {
            CacheSlot *s = &c->free[cls][--c->nfree[cls]];
            Buf buf;

            dms__buf_of_slot(&buf, s->chunk, s->slot);
            dms__buf_put(&buf);
        }
    }
    DMS_SCHED_POINT();
    /* Under the lock: see the top of the file. */
    if (idle)
        dms__budget_release(c->cs->budget, idle);
    atomic_store_explicit(&c->idle, 0, memory_order_relaxed);
    later->unref = c->bank;
    later->nunref = c->bank_refs;
    later->drop_holds += c->bank_holds;
    c->bank = NULL;
    c->bank_refs = 0;
    c->bank_holds = 0;
}

/* Unlinks @c from its space and its thread and frees it; cache_lock. */
static void cache_free(BounceCache *c)
{
    BounceCache **p;

    for (p = &c->cs->list; *p != c; p = &(*p)->next)
        ;
    *p = c->next;
    c->cs->retired_maps +=
        atomic_load_explicit(&c->maps, memory_order_relaxed);
    atomic_store_explicit(&c->owner->entry[c->entry].cs, NULL,
                          memory_order_relaxed);
    atomic_store_explicit(&c->owner->entry[c->entry].cache, NULL,
                          memory_order_relaxed);
    free(c);
}

/*
 * After a drain, outside cache_lock: drops the region references, then
 * the owner holds, which may free the owner (and @cs with it).
 */
static void drained(const DmsCacheOwner *owner, CacheLater *later)
{
    if (later->unref && later->nunref)
        dms__region_unref_n(later->unref, later->nunref);
    if (later->drop_holds)
        owner->release(owner->owner, later->drop_holds);
}

/* Thread exit: the owner drains and frees its own caches. */
static void thread_exit(void *arg)
{
    ThreadCaches *tc = arg;

    /*
     * Releasing below may run destroy notifies here, and later
     * destructors may map: neither may give this thread a cache again,
     * which nothing would drain.
     */
    tc->exiting = true;
    for (unsigned i = 0; i < THREAD_CACHES; i++) {
        CacheLater later = {0};
        DmsCacheOwner owner;
        BounceCache *c;

        g_mutex_lock(&cache_lock);
        c = atomic_load_explicit(&tc->entry[i].cache, memory_order_relaxed);
        if (!c) {
            g_mutex_unlock(&cache_lock);
            continue;
        }
        owner = c->cs->owner;
        cache_drain(c, &later);
        cache_free(c);
        g_mutex_unlock(&cache_lock);
        /* The holds we banked keep the space alive until we drop them. */
        drained(&owner, &later);
    }
}

static void key_init(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        g_error("libdmaspace: cannot create a thread key");
}

void dms__cache_create(DmsCaches *cs, size_t want)
{
    ThreadCaches *tc = &dms__my_caches;
    BounceCache *c, *old;
    CacheLater later = {0};
    DmsCacheOwner old_owner = {0};
    unsigned e = THREAD_CACHES;

    /* A thread that bounces small buffers gets a cache for next time. */
    if (want > CACHE_MAX_LEN || tc->exiting || !dms__caches_on(cs) ||
        dms__cache_mine(cs))
        return;
    /* On lines of its own: its owner writes it at every map and unmap. */
    c = dms__lines_alloc0(sizeof(*c));
    if (!c)
        return; /* no cache: every map takes the shared path */
    if (!tc->key_set) {
        pthread_once(&key_once, key_init);
        /* Only for the destructor: the value must be non-NULL. */
        pthread_setspecific(exit_key, tc);
        tc->key_set = true;
    }
    c->cs = cs;
    c->owner = tc;
    atomic_init(&c->idle, 0);
    atomic_init(&c->maps, 0);

    g_mutex_lock(&cache_lock);
    for (unsigned i = 0; i < THREAD_CACHES; i++) {
        DmsCaches *ecs =
            atomic_load_explicit(&tc->entry[i].cs, memory_order_relaxed);

        if (ecs == cs) {
            /* Created meanwhile (a callback of ours mapped): keep it. */
            g_mutex_unlock(&cache_lock);
            free(c);
            return;
        }
        if (!ecs && e == THREAD_CACHES)
            e = i;
    }
    if (e == THREAD_CACHES) {
        /* All entries taken: drain and drop the next in turn. */
        e = tc->victim;
        tc->victim = (tc->victim + 1) % THREAD_CACHES;
        old = atomic_load_explicit(&tc->entry[e].cache, memory_order_relaxed);
        old_owner = old->cs->owner;
        cache_drain(old, &later);
        cache_free(old);
    }
    c->entry = e;
    c->next = cs->list;
    cs->list = c;
    atomic_store_explicit(&tc->entry[e].cache, c, memory_order_relaxed);
    atomic_store_explicit(&tc->entry[e].cs, cs, memory_order_relaxed);
    g_mutex_unlock(&cache_lock);
    if (old_owner.release)
        drained(&old_owner, &later);
}

void dms__caches_reclaim(DmsCaches *cs)
{
    CacheLater total = {0};
    GPtrArray *unrefs = NULL;

    atomic_fetch_add_explicit(&cs->off, CACHE_OFF_HOLD, memory_order_seq_cst);
    DMS_SCHED_POINT();
    dms__rcu_synchronize();
    DMS_SCHED_POINT();
    g_mutex_lock(&cache_lock);
    for (BounceCache *c = cs->list; c; c = c->next) {
        CacheLater later = {0};

        cache_drain(c, &later);
        total.drop_holds += later.drop_holds;
        if (later.unref && later.nunref) {
            if (!unrefs)
                unrefs = g_ptr_array_new();
            g_ptr_array_add(unrefs, later.unref);
            g_ptr_array_add(unrefs, GUINT_TO_POINTER(later.nunref));
        }
    }
    g_mutex_unlock(&cache_lock);
    DMS_SCHED_POINT();
    /* Release: the drained caches come before their owners' next use. */
    atomic_fetch_sub_explicit(&cs->off, CACHE_OFF_HOLD, memory_order_release);
    if (unrefs) {
        for (guint i = 0; i < unrefs->len; i += 2)
            dms__region_unref_n(
                g_ptr_array_index(unrefs, i),
                GPOINTER_TO_UINT(g_ptr_array_index(unrefs, i + 1)));
        g_ptr_array_free(unrefs, TRUE);
    }
    /* The caller holds the owner: this never frees it. */
    if (total.drop_holds)
        cs->owner.release(cs->owner.owner, total.drop_holds);
}

bool dms__caches_exist(DmsCaches *cs)
{
    bool any;

    g_mutex_lock(&cache_lock);
    any = cs->list != NULL;
    g_mutex_unlock(&cache_lock);
    return any;
}

void dms__caches_sum(DmsCaches *cs, size_t *idle, unsigned long *maps)
{
    size_t i = 0;
    unsigned long m;

    g_mutex_lock(&cache_lock);
    m = cs->retired_maps;
    for (BounceCache *c = cs->list; c; c = c->next) {
        i += atomic_load_explicit(&c->idle, memory_order_relaxed);
        m += atomic_load_explicit(&c->maps, memory_order_relaxed);
    }
    g_mutex_unlock(&cache_lock);
    *idle = i;
    if (maps)
        *maps = m;
}

void dms__caches_set_tight(DmsCaches *cs, bool tight)
{
    if (tight)
        atomic_fetch_or_explicit(&cs->off, CACHE_OFF_TIGHT,
                                 memory_order_seq_cst);
    else
        atomic_fetch_and_explicit(&cs->off, ~CACHE_OFF_TIGHT,
                                  memory_order_relaxed);
}

bool dms__caches_tight(DmsCaches *cs)
{
    return atomic_load_explicit(&cs->off, memory_order_relaxed) &
           CACHE_OFF_TIGHT;
}

void dms__caches_init(DmsCaches *cs, DmsPool *pool, DmsBudget *budget,
                      const DmsCacheOwner *owner)
{
    cs->pool = pool;
    cs->budget = budget;
    cs->owner = *owner;
    atomic_init(&cs->off, 0);
    cs->list = NULL;
    cs->retired_maps = 0;
}

void dms__caches_clear(DmsCaches *cs)
{
    g_mutex_lock(&cache_lock);
    while (cs->list) {
        /* Drained when the space lost its last reference. */
        g_warn_if_fail(atomic_load(&cs->list->idle) == 0 &&
                       cs->list->bank_holds == 0);
        cache_free(cs->list);
    }
    g_mutex_unlock(&cache_lock);
}
