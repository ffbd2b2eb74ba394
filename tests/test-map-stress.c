/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce mapping under pressure.
 *
 * 1. Worker threads map and unmap through a message region under a budget
 *    far smaller than their requests, waiting for map clients when it runs
 *    out, while decoy clients are registered and cancelled as they fire
 *    and another thread keeps moving the limit. Asserted: every request
 *    completes with the right data; a cancelled client never runs, and one
 *    that cancel reports as run has finished; the budget is never exceeded
 *    and returns to zero; every wait was ended by its own client.
 * 2. Two threads race for the whole budget round after round; the loser's
 *    registration races the winner's unmap, the last release before the
 *    loser must wake. A lost wake-up leaves the loser waiting for good.
 *
 * Waits have a deadline far beyond the run time (a lost wake-up fails the
 * test instead of hanging it). Bounded by counts, not by time.
 */
#include "tc.h"

#include "bounce-impl.h"

#include "stress-rounds.h"
#include <pthread.h>

enum {
    WORKERS = 4,
    REQUESTS = 600,       /* per worker */
    AREA = 16384,         /* backend bytes per worker */
    MAX_REQUEST = 6000,   /* bytes */
    LIMIT_HIGH = 4096,    /* the budget, most of the time */
    LIMIT_LOW = 1024,     /* ... and when the twiddler lowers it */
    DECOY_EVERY = 3,      /* one decoy per this many waits */
    WAIT_DEADLINE_S = 20, /* only a lost wake-up gets near this */
};

typedef struct Shared {
    DmsSpace *space;
    MemDev *dev; /* WORKERS * AREA bytes */
    atomic_int workers_ready, workers_done;
    atomic_ulong requests_done, waits, decoys_prevented, decoys_ran;
    atomic_ulong max_in_use;
} Shared;

/* A space over one message region of @size bytes, for many threads; it
 * holds the regions, the caller frees *@dev once the space is gone. */
static DmsSpace *space_over(MemDev **dev, size_t size, const char *name)
{
    assert_int_equal(memdev_new(size, MEMDEV_THREADS, dev), 0);
    return tc_space_msg(name, *dev, 0, 0, NULL, NULL);
}

/* A worker's wait for budget. */
typedef struct Wait {
    GMutex lock;
    GCond cond;
    bool woken;
} Wait;

static void wake(DmsSpace *space, void *data)
{
    Wait *w = data;

    g_mutex_lock(&w->lock);
    w->woken = true;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
}

/* A decoy: registered, then cancelled at once, racing with its firing. */
typedef struct Decoy {
    atomic_int ran;
    atomic_int prevented; /* cancel said 0: it must never run */
} Decoy;

static void decoy_cb(DmsSpace *space, void *data)
{
    Decoy *d = data;

    atomic_fetch_add(&d->ran, 1);
}

typedef struct Worker {
    Shared *sh;
    unsigned id;
    uint8_t shadow[AREA]; /* what the backend area must hold */
    GPtrArray *decoys;
    bool lost; /* a wait passed its deadline */
    bool bad_data;
} Worker;

static void note_in_use(Shared *sh)
{
    DmsSpaceStats st = {.size = sizeof(st)};
    unsigned long seen;

    if (dms_space_get_stats(sh->space, &st) != 0)
        return;
    seen = atomic_load(&sh->max_in_use);
    while (st.bounce_in_use > seen &&
           !atomic_compare_exchange_weak(&sh->max_in_use, &seen,
                                         (unsigned long)st.bounce_in_use))
        ;
}

static void decoy(Worker *w)
{
    Decoy *d = g_new0(Decoy, 1);
    DmsMapClient *h;
    int r;

    g_ptr_array_add(w->decoys, d);
    if (dms_space_add_map_client(w->sh->space, NULL, decoy_cb, d, NULL, &h) !=
        0) {
        w->bad_data = true;
        return;
    }
    /* Let an unmap on another thread fire it, sometimes. */
    g_thread_yield();
    r = dms_map_client_cancel(h);
    if (r == 0) {
        atomic_store(&d->prevented, 1);
        atomic_fetch_add(&w->sh->decoys_prevented, 1);
    } else if (r == -EALREADY) {
        /* It ran, and has finished running. */
        if (atomic_load(&d->ran) != 1)
            w->bad_data = true;
        atomic_fetch_add(&w->sh->decoys_ran, 1);
    } else {
        w->bad_data = true;
    }
    dms_map_client_unref(h);
}

/* Waits for budget on @space; false if the wake-up never came. */
static bool wait_for_budget(DmsSpace *space)
{
    Wait wt = {.woken = false};
    gint64 deadline;
    bool ok = true;

    g_mutex_init(&wt.lock);
    g_cond_init(&wt.cond);
    if (dms_space_add_map_client(space, NULL, wake, &wt, NULL, NULL) != 0)
        return false;
    deadline = g_get_monotonic_time() + WAIT_DEADLINE_S * G_TIME_SPAN_SECOND;
    g_mutex_lock(&wt.lock);
    while (!wt.woken && ok)
        ok = g_cond_wait_until(&wt.cond, &wt.lock, deadline) || wt.woken;
    g_mutex_unlock(&wt.lock);
    /* wake() set woken under the lock and touches wt no more. */
    g_mutex_clear(&wt.lock);
    g_cond_clear(&wt.cond);
    return ok;
}

static gpointer worker(gpointer data)
{
    Worker *w = data;
    Shared *sh = w->sh;
    uint64_t base = (uint64_t)w->id * AREA;
    GRand *rand = g_rand_new_with_seed(w->id + 1);

    /* Start together, or the first thread is done before the last is
     * created. */
    atomic_fetch_add(&sh->workers_ready, 1);
    while (atomic_load(&sh->workers_ready) < WORKERS)
        g_thread_yield();

    for (unsigned req = 0; req < dms_stress_rounds(REQUESTS) && !w->lost;
         req++) {
        DmsDirection dir =
            g_rand_boolean(rand) ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE;
        size_t want = (size_t)g_rand_int_range(rand, 1, MAX_REQUEST + 1);
        size_t off = (size_t)g_rand_int_range(rand, 0, AREA - (int)want + 1);
        size_t pos = 0;

        while (pos < want) {
            size_t len = want - pos, access;
            uint8_t *p;
            int r = dms_space_map(sh->space, base + off + pos, &len, dir, NULL,
                                  (void **)&p);

            if (r == -EAGAIN) {
                if (atomic_fetch_add(&sh->waits, 1) % DECOY_EVERY == 0)
                    decoy(w);
                if (!wait_for_budget(sh->space)) {
                    w->lost = true;
                    break;
                }
                continue;
            }
            if (r != 0 || len == 0 || len > want - pos) {
                w->bad_data = true;
                break;
            }
            note_in_use(sh);
            access = len;
            if (dir == DMS_DIR_TO_DEVICE) {
                if (memcmp(p, w->shadow + off + pos, len) != 0)
                    w->bad_data = true;
            } else {
                /* The device writes part of what it mapped. */
                access = (size_t)g_rand_int_range(rand, 0, (int)len + 1);
                for (size_t i = 0; i < len; i++) {
                    if (p[i] != 0)
                        w->bad_data = true; /* stale data shown */
                }
                for (size_t i = 0; i < access; i++)
                    p[i] = (uint8_t)g_rand_int(rand);
                memcpy(w->shadow + off + pos, p, access);
            }
            /* Hold the buffer a while, as a device would. */
            g_thread_yield();
            if (dms_space_unmap(sh->space, p, len, dir, access) != 0)
                w->bad_data = true;
            pos += len;
        }
        atomic_fetch_add(&sh->requests_done, 1);
    }
    g_rand_free(rand);
    atomic_fetch_add(&sh->workers_done, 1);
    return NULL;
}

/* Moves the limit while the workers run. */
static gpointer twiddler(gpointer data)
{
    Shared *sh = data;
    unsigned round = 0;

    while (atomic_load(&sh->workers_done) < WORKERS) {
        dms_space_set_bounce_limit(sh->space,
                                   round++ % 2 ? LIMIT_HIGH : LIMIT_LOW);
        note_in_use(sh);
        g_usleep(200);
    }
    dms_space_set_bounce_limit(sh->space, LIMIT_HIGH);
    return NULL;
}

static void test_tiny_budget_every_request_completes(void **state)
{
    Shared *sh = g_new0(Shared, 1);
    Worker *w = g_new0(Worker, WORKERS);
    GThread *threads[WORKERS], *tw;
    DmsSpaceStats st = {.size = sizeof(st)};
    (void)state;

    sh->space = space_over(&sh->dev, WORKERS * AREA, "stress");
    for (size_t i = 0; i < WORKERS * AREA; i++)
        sh->dev->mem[i] = (uint8_t)(i * 13 + 5);
    dms_space_set_bounce_limit(sh->space, LIMIT_HIGH);

    for (unsigned i = 0; i < WORKERS; i++) {
        w[i].sh = sh;
        w[i].id = i;
        memcpy(w[i].shadow, sh->dev->mem + i * AREA, AREA);
        w[i].decoys = g_ptr_array_new_with_free_func(g_free);
        threads[i] = g_thread_new("worker", worker, &w[i]);
    }
    tw = g_thread_new("twiddler", twiddler, sh);
    for (unsigned i = 0; i < WORKERS; i++)
        g_thread_join(threads[i]);
    g_thread_join(tw);

    for (unsigned i = 0; i < WORKERS; i++) {
        assert_false(w[i].lost);
        assert_false(w[i].bad_data);
        assert_memory_equal(w[i].shadow, sh->dev->mem + i * AREA, AREA);
        /* Prevented decoys never ran, even late; run ones ran once. */
        for (guint j = 0; j < w[i].decoys->len; j++) {
            Decoy *d = g_ptr_array_index(w[i].decoys, j);

            assert_int_equal(atomic_load(&d->ran),
                             atomic_load(&d->prevented) ? 0 : 1);
        }
        g_ptr_array_unref(w[i].decoys);
    }
    assert_int_equal(atomic_load(&sh->requests_done),
                     WORKERS * dms_stress_rounds(REQUESTS));
    print_message("# waits %lu, decoys cancelled %lu, decoys run %lu\n",
                  atomic_load(&sh->waits), atomic_load(&sh->decoys_prevented),
                  atomic_load(&sh->decoys_ran));
    /* The run must have exercised the waiting paths. */
    assert_true(atomic_load(&sh->waits) > 0);

    assert_int_equal(dms_space_get_stats(sh->space, &st), 0);
    assert_int_equal(st.bounce_in_use, 0);
    assert_true(st.bounce_high_water <= LIMIT_HIGH);
    assert_true(atomic_load(&sh->max_in_use) <= LIMIT_HIGH);
    /* Every wait was ended by its client, plus the decoys that ran. */
    assert_int_equal(st.map_clients_fired,
                     atomic_load(&sh->waits) + atomic_load(&sh->decoys_ran));
    assert_int_equal(st.bad_unmaps, 0);

    dms_space_unref(sh->space);
    tc_memdev_free(sh->dev);
    g_free(w);
    g_free(sh);
}

/* ---- the last release races the registration ---- */

enum { PING_ROUNDS = 3000 };

typedef struct PingPong {
    DmsSpace *space;
    GMutex lock;
    GCond cond;
    unsigned arrived, generation;
    atomic_int tried; /* map attempts this round */
    atomic_int failed;
    atomic_ulong waits;
} PingPong;

/* Both threads meet here; false if the other never came. */
static bool meet(PingPong *pp)
{
    gint64 deadline =
        g_get_monotonic_time() + WAIT_DEADLINE_S * G_TIME_SPAN_SECOND;
    bool ok = true;
    unsigned gen;

    g_mutex_lock(&pp->lock);
    gen = pp->generation;
    if (++pp->arrived == 2) {
        pp->arrived = 0;
        atomic_store(&pp->tried, 0);
        pp->generation++;
        g_cond_broadcast(&pp->cond);
    }
    while (pp->generation == gen && ok)
        ok = g_cond_wait_until(&pp->cond, &pp->lock, deadline) ||
             pp->generation != gen;
    g_mutex_unlock(&pp->lock);
    return ok;
}

/* Lets the other thread out of a meeting it may be waiting in. */
static void leave_meetings(PingPong *pp)
{
    g_mutex_lock(&pp->lock);
    pp->arrived = 0;
    pp->generation++;
    g_cond_broadcast(&pp->cond);
    g_mutex_unlock(&pp->lock);
}

/*
 * Each round both threads want the whole budget. The loser waits for a
 * map client; the winner unmaps and goes to the meeting point, where it
 * waits for the loser: its unmap is the last release before the loser
 * must wake. If the loser's registration misses it, nobody else will ever
 * free budget, and the loser waits past its deadline.
 */
static gpointer ping_pong(gpointer data)
{
    PingPong *pp = data;

    for (unsigned round = 0;
         round < dms_stress_rounds(PING_ROUNDS) && !atomic_load(&pp->failed);
         round++) {
        if (!meet(pp)) {
            atomic_store(&pp->failed, 1);
            break;
        }
        for (;;) {
            size_t len = LIMIT_HIGH;
            void *p;
            int r =
                dms_space_map(pp->space, 0, &len, DMS_DIR_TO_DEVICE, NULL, &p);

            atomic_fetch_add(&pp->tried, 1);
            if (r == -EAGAIN) {
                atomic_fetch_add(&pp->waits, 1);
                /* The device model's work between the failure and the
                 * registration: widens the race. */
                g_thread_yield();
                if (!wait_for_budget(pp->space)) {
                    atomic_store(&pp->failed, 1);
                    break;
                }
                continue;
            }
            if (r != 0 || len != LIMIT_HIGH) {
                atomic_store(&pp->failed, 1);
                break;
            }
            /* Hold the budget until the other thread has tried too (it
             * has, if this is its retry). */
            while (atomic_load(&pp->tried) < 2 && !atomic_load(&pp->failed))
                g_thread_yield();
            if (dms_space_unmap(pp->space, p, len, DMS_DIR_TO_DEVICE, 0) != 0)
                atomic_store(&pp->failed, 1);
            break;
        }
    }
    leave_meetings(pp);
    return NULL;
}

static void test_registration_racing_the_last_unmap_is_woken(void **state)
{
    Shared *sh = g_new0(Shared, 1);
    PingPong pp = {0};
    DmsSpaceStats st = {.size = sizeof(st)};
    GThread *a, *b;
    (void)state;

    pp.space = space_over(&sh->dev, WORKERS * AREA, "ping-pong");
    dms_space_set_bounce_limit(pp.space, LIMIT_HIGH);
    g_mutex_init(&pp.lock);
    g_cond_init(&pp.cond);

    a = g_thread_new("ping", ping_pong, &pp);
    b = g_thread_new("pong", ping_pong, &pp);
    g_thread_join(a);
    g_thread_join(b);

    print_message("# ping-pong waits %lu\n", atomic_load(&pp.waits));
    assert_int_equal(atomic_load(&pp.failed), 0);
    assert_true(atomic_load(&pp.waits) > 0);
    assert_int_equal(dms_space_get_stats(pp.space, &st), 0);
    assert_int_equal(st.bounce_in_use, 0);
    assert_int_equal(st.map_clients_fired, atomic_load(&pp.waits));

    g_mutex_clear(&pp.lock);
    g_cond_clear(&pp.cond);
    dms_space_unref(pp.space);
    tc_memdev_free(sh->dev);
    g_free(sh);
}

/*
 * The same race with thread caches on (a budget large enough for them):
 * the release that must wake the waiter is a small unmap that the
 * releasing thread's cache would keep. Each round, the small thread holds
 * four 4 KiB maps from its cache, the big thread maps the rest of the
 * budget and fails one byte more; then the big thread registers a client
 * while (or after) the small thread unmaps one 4 KiB map. The
 * registration must reach those 4 KiB even if they landed in the cache
 * a moment before.
 */
enum {
    CACHED_ROUNDS = 300,
    CACHED_LIMIT = 1 << 20,
    SMALL = 4096,
    SMALL_MAPS = 4,
};

typedef struct CachedRace {
    PingPong pp;
    MemDev *dev;
} CachedRace;

static gpointer cached_small(gpointer data)
{
    CachedRace *cr = data;
    PingPong *pp = &cr->pp;
    void *p[SMALL_MAPS];

    for (unsigned round = 0; round < dms_stress_rounds(CACHED_ROUNDS);
         round++) {
        for (unsigned i = 0; i < SMALL_MAPS; i++) {
            size_t len = SMALL;

            if (dms_space_map(pp->space, (uint64_t)i * SMALL, &len,
                              DMS_DIR_TO_DEVICE, NULL, &p[i]) != 0 ||
                len != SMALL)
                atomic_store(&pp->failed, 1);
        }
        if (!meet(pp) || atomic_load(&pp->failed)) /* big maps the rest */
            break;
        if (!meet(pp) || atomic_load(&pp->failed)) /* big failed a byte */
            break;
        /*
         * Every other round before the big thread registers (then only
         * the registration's drain of the caches can reach the 4 KiB),
         * else racing it.
         */
        if (round % 2 == 0 &&
            dms_space_unmap(pp->space, p[0], SMALL, DMS_DIR_TO_DEVICE, 0))
            atomic_store(&pp->failed, 1);
        if (!meet(pp))
            break;
        if (round % 2 == 1 &&
            dms_space_unmap(pp->space, p[0], SMALL, DMS_DIR_TO_DEVICE, 0))
            atomic_store(&pp->failed, 1);
        if (!meet(pp)) /* big was woken and unmapped */
            break;
        for (unsigned i = 1; i < SMALL_MAPS; i++) {
            if (dms_space_unmap(pp->space, p[i], SMALL, DMS_DIR_TO_DEVICE, 0))
                atomic_store(&pp->failed, 1);
        }
    }
    return NULL;
}

static gpointer cached_big(gpointer data)
{
    CachedRace *cr = data;
    PingPong *pp = &cr->pp;

    for (unsigned round = 0; round < dms_stress_rounds(CACHED_ROUNDS);
         round++) {
        size_t len = CACHED_LIMIT, one = 1;
        void *p, *q;

        if (!meet(pp) || atomic_load(&pp->failed))
            break;
        /* Everything the small thread does not hold. */
        if (dms_space_map(pp->space, 1 << 20, &len, DMS_DIR_TO_DEVICE, NULL,
                          &p) != 0 ||
            len != CACHED_LIMIT - SMALL_MAPS * SMALL ||
            dms_space_map(pp->space, 2 << 20, &one, DMS_DIR_TO_DEVICE, NULL,
                          &q) != -EAGAIN)
            atomic_store(&pp->failed, 1);
        if (!meet(pp) || atomic_load(&pp->failed))
            break;
        if (!meet(pp))
            break;
        atomic_fetch_add(&pp->waits, 1);
        if (!wait_for_budget(pp->space))
            atomic_store(&pp->failed, 1);
        if (dms_space_unmap(pp->space, p, len, DMS_DIR_TO_DEVICE, 0))
            atomic_store(&pp->failed, 1);
        if (!meet(pp))
            break;
    }
    leave_meetings(pp);
    return NULL;
}

static void test_registration_racing_a_cached_unmap_is_woken(void **state)
{
    CachedRace *cr = g_new0(CachedRace, 1);
    DmsSpaceStats st = {.size = sizeof(st)};
    GThread *a, *b;
    (void)state;

    cr->pp.space = space_over(&cr->dev, 3 << 20, "cached-race");
    dms_space_set_bounce_limit(cr->pp.space, CACHED_LIMIT);
    g_mutex_init(&cr->pp.lock);
    g_cond_init(&cr->pp.cond);

    a = g_thread_new("small", cached_small, cr);
    b = g_thread_new("big", cached_big, cr);
    g_thread_join(a);
    g_thread_join(b);

    assert_int_equal(atomic_load(&cr->pp.failed), 0);
    assert_int_equal(atomic_load(&cr->pp.waits),
                     dms_stress_rounds(CACHED_ROUNDS));
    assert_int_equal(dms_space_get_stats(cr->pp.space, &st), 0);
    assert_int_equal(st.bounce_in_use, 0);
    assert_int_equal(st.map_clients_fired, dms_stress_rounds(CACHED_ROUNDS));

    g_mutex_clear(&cr->pp.lock);
    g_cond_clear(&cr->pp.cond);
    dms_space_unref(cr->pp.space);
    tc_memdev_free(cr->dev);
    g_free(cr);
}

/*
 * A thread's caches are drained and freed by a thread-exit destructor. A
 * device model may still map afterwards, from a destructor of its own that
 * runs later: that must not give the dying thread a new cache, which
 * nothing would drain and whose entry would point into freed TLS.
 */
static DmsSpace *late_space;
static const void *late_tls;
static atomic_int late_maps;

static void late_map_unmap(void)
{
    size_t len = 64;
    void *p;

    if (dms_space_map(late_space, 0, &len, DMS_DIR_TO_DEVICE, NULL, &p) == 0 &&
        dms_space_unmap(late_space, p, len, DMS_DIR_TO_DEVICE, 0) == 0)
        atomic_fetch_add(&late_maps, 1);
}

static void late_destructor(void *arg)
{
    (void)arg;
    late_map_unmap();
    late_map_unmap();
    late_tls = &dms__my_caches;
}

static gpointer late_thread(gpointer key)
{
    late_map_unmap(); /* the thread's cache, and the library's exit hook */
    late_map_unmap();
    pthread_setspecific(*(pthread_key_t *)key, (void *)1);
    return NULL;
}

static void test_map_in_a_late_thread_destructor_leaves_no_cache(void **state)
{
    Shared *sh = g_new0(Shared, 1);
    pthread_key_t key;
    unsigned orphans = 0;
    (void)state;

    late_space = space_over(&sh->dev, WORKERS * AREA, "late");
    /* The library's exit hook exists before ours: ours runs after it. */
    late_map_unmap();
    late_map_unmap();
    assert_int_equal(pthread_key_create(&key, late_destructor), 0);
    g_thread_join(g_thread_new("late", late_thread, &key));
    assert_int_equal(atomic_load(&late_maps), 6);
    assert_non_null(late_tls);

    /* All quiet now: no cache of the space belongs to the dead thread. */
    for (BounceCache *c = late_space->bounce->caches.list; c; c = c->next)
        orphans += (const void *)c->owner == late_tls;
    assert_int_equal(orphans, 0);

    pthread_key_delete(key);
    late_space = dms_space_unref(late_space);
    tc_memdev_free(sh->dev);
    g_free(sh);
}

/*
 * 3. A device writes a page whose dirty bit is already set, while live
 *    migration takes the log. The taker must see the data of every write
 *    whose bit it took: the writer's release on the bitmap word is what
 *    orders it, and skipping the OR because the bit looked set drops that
 *    release (and, on x86, lets the data stores sit in the store buffer
 *    past the check). The writer signals with a relaxed flag, which orders
 *    nothing, so under ThreadSanitizer only the log itself can order the
 *    read below: it reports a race if the log does not.
 */
typedef struct DirtyRace {
    DmsSpace *space;
    atomic_int written;
    int failed;
} DirtyRace;

static gpointer dirty_writer(gpointer data)
{
    DirtyRace *dr = data;
    size_t len = 1;
    uint8_t *p;

    /* Byte 1 of page 0, whose bit the main thread has set already. */
    if (dms_space_map(dr->space, 1, &len, DMS_DIR_FROM_DEVICE, NULL,
                      (void **)&p) != 0 ||
        len != 1) {
        dr->failed = 1;
    } else {
        *p = 0x5a;
        if (dms_space_unmap(dr->space, p, len, DMS_DIR_FROM_DEVICE, 1) != 0)
            dr->failed = 1;
    }
    atomic_store_explicit(&dr->written, 1, memory_order_relaxed);
    return NULL;
}

static void test_dirty_page_taken_is_seen_with_its_data(void **state)
{
    uint8_t *mem = g_malloc0(4096);
    DirtyRace dr = {0};
    uint64_t bits = 0;
    DmsRegion *root, *ram;
    GThread *t;
    (void)state;

    dr.space = tc_space_ram("dirty", mem, 4096, 0, &ram, &root);
    assert_int_equal(dms_region_enable_dirty_log(ram, 4096), 0);
    assert_int_equal(dms_space_write(dr.space, 0, "a", 1, NULL, NULL), 0);

    t = g_thread_new("dirty-writer", dirty_writer, &dr);
    while (!atomic_load_explicit(&dr.written, memory_order_relaxed))
        g_thread_yield();
    assert_int_equal(dms_region_take_dirty_log(ram, &bits, 1), 1);
    assert_int_equal(bits, 1);
    /* Ordered after the device's write only by the bit just taken. */
    assert_int_equal(mem[1], 0x5a);
    g_thread_join(t);
    assert_int_equal(dr.failed, 0);

    dms_space_unref(dr.space);
    dms_region_unref(ram);
    dms_region_unref(root);
    g_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_budget_every_request_completes),
        cmocka_unit_test(test_registration_racing_the_last_unmap_is_woken),
        cmocka_unit_test(test_registration_racing_a_cached_unmap_is_woken),
        cmocka_unit_test(test_map_in_a_late_thread_destructor_leaves_no_cache),
        cmocka_unit_test(test_dirty_page_taken_is_seen_with_its_data),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
