/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce maps from many threads, through the public API only. Whatever a
 * thread keeps for itself between maps (budget, buffers, references) must
 * never strand budget, keep a removed region or a dropped space alive, or
 * make the statistics lie once the threads are quiet.
 *
 * Helper threads park (alive and idle, on a GCond) while the main thread
 * checks: a thread that maps a few times and then sleeps for an hour is
 * the case per-thread state gets wrong. Every test is bounded by counts.
 *
 * The backend is an array; a from-device write-back writes the bytes the
 * array holds already (pattern(addr, salt)), except where a test checks
 * that data arrived (SALT_WRITTEN). Threads touch disjoint bytes of it, so
 * the array needs no lock; the write counter shows lost write-backs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <dmaspace/dmaspace.h>

#define TO DMS_DIR_TO_DEVICE
#define FROM DMS_DIR_FROM_DEVICE
#define LIMIT DMS_BOUNCE_LIMIT_DEFAULT
#define MIB ((size_t)1 << 20)

enum {
    SMALL_MAX = 4096,  /* the largest small map */
    CHUNK = 65536,     /* a big map */
    SALT_WRITTEN = 77, /* data a device writes, unlike the backend's */
};

/* ---- a message region over an array ---- */

typedef struct Msg {
    uint8_t *mem;
    size_t size;
    atomic_int notified;  /* destroy notify calls */
    atomic_ulong written; /* bytes given to the backend's write */
    atomic_int bad;       /* an access outside mem */
} Msg;

static bool msg_in_range(Msg *m, uint64_t off, size_t len)
{
    if (off <= m->size && len <= m->size - off)
        return true;
    atomic_store(&m->bad, 1);
    return false;
}

static int64_t msg_read(void *opaque, uint64_t off, void *buf, size_t len,
                        const DmsAttrs *attrs)
{
    Msg *m = opaque;

    if (!msg_in_range(m, off, len))
        return -EIO;
    memcpy(buf, m->mem + off, len);
    return (int64_t)len;
}

static int64_t msg_write(void *opaque, uint64_t off, const void *buf,
                         size_t len, const DmsAttrs *attrs)
{
    Msg *m = opaque;

    if (!msg_in_range(m, off, len))
        return -EIO;
    memcpy(m->mem + off, buf, len);
    atomic_fetch_add(&m->written, len);
    return (int64_t)len;
}

static void msg_notify(void *opaque)
{
    atomic_fetch_add(&((Msg *)opaque)->notified, 1);
}

static const DmsMessageOps msg_ops = {
    .size = sizeof(DmsMessageOps),
    .read = msg_read,
    .write = msg_write,
};

/* Byte @addr of the data tagged @salt; not periodic at 256 bytes. */
static uint8_t pattern(uint64_t addr, unsigned salt)
{
    return (uint8_t)(addr * 131 + (addr >> 8) + salt * 29 + 1);
}

static DmsRegion *msg_region_new(Msg *m, uint8_t *mem, size_t size)
{
    DmsRegion *r;

    m->mem = mem;
    m->size = size;
    atomic_init(&m->notified, 0);
    atomic_init(&m->written, 0);
    atomic_init(&m->bad, 0);
    assert_int_equal(
        dms_region_new_message("msg", size, &msg_ops, m, msg_notify, &r), 0);
    return r;
}

/* A space whose root holds one message region at 0. */
typedef struct Rig {
    DmsSpace *space;
    DmsRegion *root, *region; /* the test's references, or NULL */
    Msg msg;
    unsigned salt; /* msg.mem holds pattern(i, salt) */
} Rig;

static void rig_init(Rig *rig, size_t size, unsigned salt)
{
    uint8_t *mem = g_malloc(size);

    for (size_t i = 0; i < size; i++)
        mem[i] = pattern(i, salt);
    rig->salt = salt;
    rig->region = msg_region_new(&rig->msg, mem, size);
    assert_int_equal(
        dms_region_new_container("root", DMS_SIZE_ALL, &rig->root), 0);
    assert_int_equal(dms_region_add_subregion(rig->root, 0, rig->region, 0, 0),
                     0);
    assert_int_equal(dms_space_new(rig->root, "cache", &rig->space), 0);
}

/* From here only the space holds the regions. */
static void rig_drop_regions(Rig *rig)
{
    rig->region = dms_region_unref(rig->region);
    rig->root = dms_region_unref(rig->root);
}

static void rig_fini(Rig *rig)
{
    rig->space = dms_space_unref(rig->space);
    rig_drop_regions(rig);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&rig->msg.notified), 1);
    assert_int_equal(atomic_load(&rig->msg.bad), 0);
    g_free(rig->msg.mem);
}

static DmsSpaceStats stats_of(DmsSpace *space)
{
    DmsSpaceStats st = {.size = sizeof(st)};

    assert_int_equal(dms_space_get_stats(space, &st), 0);
    return st;
}

/* The whole @limit in one map: no budget is stranded anywhere. */
static void assert_full_grant(DmsSpace *space, size_t limit)
{
    size_t len = limit;
    void *p;

    assert_int_equal(dms_space_map(space, 0, &len, FROM, NULL, &p), 0);
    assert_int_equal(len, limit);
    assert_int_equal(stats_of(space).bounce_in_use, limit);
    assert_int_equal(dms_space_unmap(space, p, len, FROM, 0), 0);
    assert_int_equal(stats_of(space).bounce_in_use, 0);
}

/*
 * Maps @want bytes at @addr, all of them (no test here runs the budget
 * short for small maps), and checks what the device is shown: the
 * backend's bytes to-device, zeros from-device; in the latter the device
 * then writes pattern(addr, @wsalt) over the first @access bytes.
 * Returns the map's error, or -EILSEQ for a short map or wrong data.
 * Callable on any thread: it asserts nothing.
 */
static int map_checked(const Rig *rig, uint64_t addr, size_t want,
                       DmsDirection dir, unsigned wsalt, size_t access,
                       uint8_t **p)
{
    size_t len = want;
    int r = dms_space_map(rig->space, addr, &len, dir, NULL, (void **)p);

    if (r != 0)
        return r;
    if (len != want)
        return -EILSEQ;
    for (size_t k = 0; k < len; k++) {
        if ((*p)[k] != (dir == TO ? pattern(addr + k, rig->salt) : 0))
            r = -EILSEQ;
        if (k < access)
            (*p)[k] = pattern(addr + k, wsalt);
    }
    return r;
}

/* ---- helper threads that run jobs and park in between ---- */

typedef void (*JobFunc)(void *arg);

typedef struct Helper {
    GThread *thread;
    GMutex lock;
    GCond cond;
    JobFunc job;
    void *arg;
    bool busy, stop;
} Helper;

static gpointer helper_main(gpointer data)
{
    Helper *h = data;

    g_mutex_lock(&h->lock);
    for (;;) {
        while (!h->busy && !h->stop)
            g_cond_wait(&h->cond, &h->lock);
        if (!h->busy)
            break;
        g_mutex_unlock(&h->lock);
        h->job(h->arg);
        g_mutex_lock(&h->lock);
        h->busy = false;
        g_cond_broadcast(&h->cond);
    }
    g_mutex_unlock(&h->lock);
    return NULL;
}

static Helper *helper_new(void)
{
    Helper *h = g_new0(Helper, 1);

    g_mutex_init(&h->lock);
    g_cond_init(&h->cond);
    h->thread = g_thread_new("helper", helper_main, h);
    return h;
}

static void helper_post(Helper *h, JobFunc job, void *arg)
{
    g_mutex_lock(&h->lock);
    h->job = job;
    h->arg = arg;
    h->busy = true;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
}

/* Waits for the job posted last: the helper is parked when this returns. */
static void helper_wait(Helper *h)
{
    g_mutex_lock(&h->lock);
    while (h->busy)
        g_cond_wait(&h->cond, &h->lock);
    g_mutex_unlock(&h->lock);
}

static void helper_call(Helper *h, JobFunc job, void *arg)
{
    helper_post(h, job, arg);
    helper_wait(h);
}

/* Lets the thread exit, and joins it. */
static void helper_stop(Helper *h)
{
    helper_wait(h);
    g_mutex_lock(&h->lock);
    h->stop = true;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
    g_thread_join(h->thread);
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->cond);
    g_free(h);
}

/* ---- jobs ---- */

/* @count small map/unmap pairs at @base, alternating directions. */
typedef struct Pairs {
    Rig *rig;
    uint64_t base;
    unsigned count;
    guint32 seed;
    size_t max_len;        /* out: the largest map */
    unsigned long written; /* out: bytes written back */
    bool failed;
} Pairs;

static void pairs_job(void *arg)
{
    Pairs *pj = arg;
    GRand *rand = g_rand_new_with_seed(pj->seed);

    for (unsigned i = 0; i < pj->count && !pj->failed; i++) {
        DmsDirection dir = i % 2 ? FROM : TO;
        size_t len = (size_t)g_rand_int_range(rand, 1, SMALL_MAX + 1);
        size_t access = dir == FROM ? len : 0;
        uint8_t *p;

        if (map_checked(pj->rig, pj->base, len, dir, pj->rig->salt, access,
                        &p) != 0 ||
            dms_space_unmap(pj->rig->space, p, len, dir, access) != 0)
            pj->failed = true;
        pj->max_len = MAX(pj->max_len, len);
        pj->written += access;
    }
    g_rand_free(rand);
}

static void run_pairs(Helper *h, Pairs *pj)
{
    helper_call(h, pairs_job, pj);
    assert_false(pj->failed);
}

/* A mapping that outlives the job that made it. */
typedef struct Item {
    Rig *rig;
    uint64_t addr;
    size_t len, access;
    DmsDirection dir;
    uint8_t *p;
    bool ok;          /* the last job's result */
    atomic_int ready; /* orders a hand-off: TSan cannot see GAsyncQueue */
} Item;

static bool item_map(Item *it, unsigned wsalt)
{
    if (map_checked(it->rig, it->addr, it->len, it->dir, wsalt, it->access,
                    &it->p) != 0)
        return false;
    atomic_store_explicit(&it->ready, 1, memory_order_release);
    return true;
}

static bool item_unmap(Item *it)
{
    return atomic_load_explicit(&it->ready, memory_order_acquire) == 1 &&
           dms_space_unmap(it->rig->space, it->p, it->len, it->dir,
                           it->access) == 0;
}

static void item_map_job(void *arg)
{
    ((Item *)arg)->ok = item_map(arg, SALT_WRITTEN);
}

static void item_unmap_job(void *arg)
{
    ((Item *)arg)->ok = item_unmap(arg);
}

/* ---- 1. map on one thread, unmap on another ---- */

enum {
    CROSS_MAPS = 500,
    CROSS_WINDOW = 128, /* maps in flight: at most 512 KiB, in budget */
};

typedef struct Cross {
    Rig rig;
    GAsyncQueue *queue;
    Item item[CROSS_MAPS], end;
    atomic_uint unmapped;
    unsigned long from_bytes;
    bool map_failed, unmap_failed;
} Cross;

static void cross_mapper(void *arg)
{
    Cross *c = arg;
    GRand *rand = g_rand_new_with_seed(11);

    for (unsigned i = 0; i < CROSS_MAPS && !c->map_failed; i++) {
        Item *it = &c->item[i];

        while (i - atomic_load(&c->unmapped) >= CROSS_WINDOW)
            g_thread_yield();
        it->rig = &c->rig;
        it->len = (size_t)g_rand_int_range(rand, 64, SMALL_MAX + 1);
        it->dir = g_rand_boolean(rand) ? FROM : TO;
        it->access = it->dir == FROM ? it->len : 0;
        it->addr = (uint64_t)i * SMALL_MAX;
        c->from_bytes += it->access;
        if (!item_map(it, SALT_WRITTEN))
            c->map_failed = true;
        else
            g_async_queue_push(c->queue, it);
    }
    g_async_queue_push(c->queue, &c->end);
    g_rand_free(rand);
}

static void cross_unmapper(void *arg)
{
    Cross *c = arg;
    Item *it;

    while ((it = g_async_queue_pop(c->queue)) != &c->end) {
        if (!item_unmap(it))
            c->unmap_failed = true;
        atomic_fetch_add(&c->unmapped, 1);
    }
}

static void cross_thread_unmap(bool exit_threads)
{
    Cross *c = g_new0(Cross, 1);
    Helper *a = helper_new(), *b = helper_new();
    DmsSpaceStats st;

    rig_init(&c->rig, 2 * MIB, 3);
    c->queue = g_async_queue_new();
    helper_post(b, cross_unmapper, c);
    helper_post(a, cross_mapper, c);
    helper_wait(a);
    helper_wait(b);
    if (exit_threads) {
        helper_stop(a);
        helper_stop(b);
    }
    assert_false(c->map_failed);
    assert_false(c->unmap_failed);

    /* Every from-device byte came back, to its place; nothing else. */
    assert_int_equal(atomic_load(&c->rig.msg.written), c->from_bytes);
    for (size_t i = 0; i < CROSS_MAPS * SMALL_MAX; i++) {
        bool wrote = i % SMALL_MAX < c->item[i / SMALL_MAX].access;

        assert_int_equal(c->rig.msg.mem[i],
                         pattern(i, wrote ? SALT_WRITTEN : c->rig.salt));
    }
    st = stats_of(c->rig.space);
    assert_int_equal(st.bounce_in_use, 0);
    assert_int_equal(st.bounced_maps, CROSS_MAPS);
    assert_int_equal(st.bad_unmaps, 0);
    assert_true(st.bounce_high_water <= LIMIT);

    assert_full_grant(c->rig.space, LIMIT);
    st = stats_of(c->rig.space);
    assert_int_equal(st.bounced_maps, CROSS_MAPS + 1);
    assert_int_equal(st.bounce_high_water, LIMIT);

    if (!exit_threads) {
        helper_stop(a);
        helper_stop(b);
    }
    g_async_queue_unref(c->queue);
    rig_fini(&c->rig);
    g_free(c);
}

static void test_cross_thread_unmap_threads_parked(void **state)
{
    cross_thread_unmap(false);
}

static void test_cross_thread_unmap_threads_exited(void **state)
{
    cross_thread_unmap(true);
}

/* ---- 2. a thread that exits gives everything back ---- */

static void test_thread_exit_returns_cache(void **state)
{
    Helper *h = helper_new();
    Rig rig = {0};
    Pairs pj = {.rig = &rig, .count = 1000, .seed = 21};
    DmsSpaceStats st;

    rig_init(&rig, MIB, 5);
    run_pairs(h, &pj);
    helper_stop(h);

    st = stats_of(rig.space);
    assert_int_equal(st.bounce_in_use, 0);
    assert_int_equal(st.bounced_maps, 1000);
    /* One map at a time: the high water is the largest of them. */
    assert_int_equal(st.bounce_high_water, pj.max_len);
    assert_int_equal(atomic_load(&rig.msg.written), pj.written);

    assert_full_grant(rig.space, LIMIT);
    st = stats_of(rig.space);
    assert_int_equal(st.bounced_maps, 1001);
    assert_int_equal(st.bounce_high_water, LIMIT);
    assert_int_equal(st.fail_exhausted, 0);
    rig_fini(&rig);
}

/* ---- 3, 4. removed regions and dropped spaces go at their last use ---- */

#define SIDE ((uint64_t)1 << 32) /* where a second region goes */

/*
 * A helper maps and unmaps, in the region, then in a second one, then in
 * the first again, and parks, with one mapping still live if @live. The
 * main thread then removes the region (or drops the space, whose root
 * alone holds the regions): the region's notify must run once the old
 * views are reclaimed (dms_update_barrier() waits for that), or, with a
 * live mapping, when the helper unmaps it, and the unmap still writes
 * back.
 */
static void drop_with_parked_helper(bool drop_space, bool live)
{
    Helper *h = helper_new();
    Rig rig = {0};
    Pairs pj[3] = {
        {.rig = &rig, .count = 100, .seed = 31},
        {.rig = &rig, .base = SIDE, .count = 10, .seed = 32},
        {.rig = &rig, .count = 10, .seed = 33},
    };
    Item l = {
        .rig = &rig, .addr = 8192, .len = 1000, .access = 1000, .dir = FROM};
    uint8_t *side_mem = g_malloc(SMALL_MAX);
    DmsRegion *side_region;
    size_t len = 16;
    Msg side;
    void *p;

    rig_init(&rig, MIB, 7);
    for (size_t i = 0; i < SMALL_MAX; i++)
        side_mem[i] = pattern(SIDE + i, rig.salt);
    side_region = msg_region_new(&side, side_mem, SMALL_MAX);
    assert_int_equal(
        dms_region_add_subregion(rig.root, SIDE, side_region, 0, 0), 0);
    dms_region_unref(side_region);
    if (drop_space)
        rig_drop_regions(&rig);
    for (unsigned i = 0; i < 3; i++)
        run_pairs(h, &pj[i]);
    if (live) {
        helper_call(h, item_map_job, &l);
        assert_true(l.ok);
    }
    assert_int_equal(atomic_load(&rig.msg.notified), 0);

    if (drop_space) {
        /* The pointer stays, for the live mapping's unmap. */
        dms_space_unref(rig.space);
    } else {
        assert_int_equal(dms_region_remove_subregion(rig.root, rig.region), 0);
        rig.region = dms_region_unref(rig.region);
        assert_int_equal(dms_space_map(rig.space, 0, &len, TO, NULL, &p),
                         -EFAULT);
    }
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&rig.msg.notified), live ? 0 : 1);

    if (live) {
        /* On the helper, which stays alive: the unmap releases it. */
        helper_call(h, item_unmap_job, &l);
        assert_true(l.ok);
        assert_int_equal(dms_update_barrier(), 0);
        assert_int_equal(atomic_load(&rig.msg.notified), 1);
        for (size_t k = 0; k <= l.len; k++)
            assert_int_equal(
                rig.msg.mem[l.addr + k],
                pattern(l.addr + k, k < l.len ? SALT_WRITTEN : rig.salt));
    }
    assert_int_equal(atomic_load(&rig.msg.written),
                     pj[0].written + pj[2].written + (live ? l.len : 0));
    assert_int_equal(atomic_load(&side.written), pj[1].written);
    assert_int_equal(atomic_load(&side.notified), drop_space ? 1 : 0);
    if (drop_space)
        rig.space = NULL;
    else
        assert_int_equal(stats_of(rig.space).bounce_in_use, 0);
    helper_stop(h);
    rig_fini(&rig); /* the notify ran once, not twice */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&side.notified), 1);
    g_free(side_mem);
}

static void test_removed_region_notify_fires_despite_idle_thread(void **state)
{
    drop_with_parked_helper(false, false);
}

static void test_removed_region_notify_waits_for_live_mapping(void **state)
{
    drop_with_parked_helper(false, true);
}

static void test_space_drop_frees_space_despite_idle_thread(void **state)
{
    drop_with_parked_helper(true, false);
}

static void test_space_drop_waits_for_live_bounce_mapping(void **state)
{
    drop_with_parked_helper(true, true);
}

/* ---- 5. map clients and budget that threads hold idle ---- */

static void count_client(DmsSpace *space, void *data)
{
    atomic_fetch_add((atomic_int *)data, 1);
}

enum { CHUNKS = LIMIT / CHUNK };

/* Maps @n chunks, each in full. */
static void map_chunks(DmsSpace *space, void **p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        size_t len = CHUNK;

        assert_int_equal(dms_space_map(space, 0, &len, FROM, NULL, &p[i]), 0);
        assert_int_equal(len, CHUNK);
    }
}

static void unmap_chunks(DmsSpace *space, void **p, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(dms_space_unmap(space, p[i], CHUNK, FROM, 0), 0);
}

static void test_client_fires_despite_idle_credit(void **state)
{
    Helper *h = helper_new();
    Rig rig = {0};
    Pairs pj = {.rig = &rig, .count = 200, .seed = 51};
    Item l = {.rig = &rig,
              .addr = 8192,
              .len = SMALL_MAX,
              .access = SMALL_MAX,
              .dir = FROM};
    void *p[CHUNKS], *q;
    size_t len[CHUNKS], more = CHUNK, total = 0;
    atomic_int fired[2] = {0, 0};
    DmsMapClient *client;

    rig_init(&rig, MIB, 15);
    run_pairs(h, &pj);
    helper_call(h, item_map_job, &l);
    assert_true(l.ok);

    /* All the rest of the limit, also what the helper may hold idle. */
    for (unsigned i = 0; i < CHUNKS; i++) {
        len[i] = CHUNK;
        assert_int_equal(
            dms_space_map(rig.space, 0, &len[i], FROM, NULL, &p[i]), 0);
        total += len[i];
    }
    assert_int_equal(total, LIMIT - SMALL_MAX);
    assert_int_equal(dms_space_map(rig.space, 0, &more, FROM, NULL, &q),
                     -EAGAIN);
    assert_int_equal(stats_of(rig.space).bounce_in_use, LIMIT);

    assert_int_equal(dms_space_add_map_client(rig.space, NULL, count_client,
                                              &fired[0], &client),
                     0);
    assert_int_equal(atomic_load(&fired[0]), 0); /* nothing is free */
    assert_int_equal(dms_space_unmap(rig.space, p[0], len[0], FROM, 0), 0);
    assert_int_equal(atomic_load(&fired[0]), 1);
    assert_int_equal(dms_map_client_cancel(client), -EALREADY);
    dms_map_client_unref(client);

    /* Again; this time the parked helper's unmap frees the budget. */
    assert_int_equal(dms_space_map(rig.space, 0, &len[0], FROM, NULL, &p[0]),
                     0);
    assert_int_equal(len[0], CHUNK);
    assert_int_equal(dms_space_add_map_client(rig.space, NULL, count_client,
                                              &fired[1], NULL),
                     0);
    assert_int_equal(atomic_load(&fired[1]), 0);
    helper_call(h, item_unmap_job, &l);
    assert_true(l.ok);
    assert_int_equal(atomic_load(&fired[1]), 1);

    for (unsigned i = 0; i < CHUNKS; i++)
        assert_int_equal(dms_space_unmap(rig.space, p[i], len[i], FROM, 0), 0);
    /* One-shot: each ran once, and no more. */
    assert_int_equal(atomic_load(&fired[0]) + atomic_load(&fired[1]), 2);
    assert_int_equal(stats_of(rig.space).map_clients_fired, 2);
    assert_full_grant(rig.space, LIMIT);
    helper_stop(h);
    rig_fini(&rig);
}

static void
test_client_fires_at_once_when_only_idle_credit_is_taken(void **state)
{
    enum { HELPERS = 4 };
    Helper *h[HELPERS];
    Pairs pj[HELPERS];
    void *p[CHUNKS];
    atomic_int fired = 0;
    Rig rig = {0};

    rig_init(&rig, MIB, 17);
    for (unsigned i = 0; i < HELPERS; i++) {
        pj[i] = (Pairs){.rig = &rig,
                        .base = (uint64_t)i * SMALL_MAX,
                        .count = 100,
                        .seed = 52 + i};
        h[i] = helper_new();
        helper_post(h[i], pairs_job, &pj[i]);
    }
    for (unsigned i = 0; i < HELPERS; i++) {
        helper_wait(h[i]);
        assert_false(pj[i].failed);
    }
    /*
     * All but a chunk, which the parked helpers may keep idle in their
     * caches (so that no map came up short and made them give it back).
     */
    map_chunks(rig.space, p, CHUNKS - 1);
    assert_int_equal(stats_of(rig.space).bounce_in_use, LIMIT - CHUNK);

    /* A chunk is not lent: the client runs from this very call. */
    assert_int_equal(
        dms_space_add_map_client(rig.space, NULL, count_client, &fired, NULL),
        0);
    assert_int_equal(atomic_load(&fired), 1);

    unmap_chunks(rig.space, p, CHUNKS - 1);
    assert_int_equal(atomic_load(&fired), 1);
    assert_int_equal(stats_of(rig.space).map_clients_fired, 1);
    assert_full_grant(rig.space, LIMIT);
    for (unsigned i = 0; i < HELPERS; i++)
        helper_stop(h[i]);
    rig_fini(&rig);
}

/* Budget a parked thread holds idle was never lent. */
static void test_high_water_counts_only_lent_bytes(void **state)
{
    Helper *h = helper_new();
    Rig rig = {0};
    Pairs pj = {.rig = &rig, .count = 200, .seed = 62};
    void *p[2];

    rig_init(&rig, MIB, 21);
    run_pairs(h, &pj);
    assert_int_equal(stats_of(rig.space).bounce_high_water, pj.max_len);
    map_chunks(rig.space, p, 2);
    assert_int_equal(stats_of(rig.space).bounce_in_use, 2 * CHUNK);
    assert_int_equal(stats_of(rig.space).bounce_high_water, 2 * CHUNK);
    unmap_chunks(rig.space, p, 2);
    helper_stop(h);
    rig_fini(&rig);
}

/* ---- 6. a lowered limit is exact ---- */

static void test_limit_lowered_with_idle_credit_is_exact(void **state)
{
    Helper *h = helper_new();
    Rig rig = {0};
    Pairs pj = {.rig = &rig, .count = 200, .seed = 61};
    size_t len = 8192, one = 1;
    DmsSpaceStats st;
    void *p, *q;

    rig_init(&rig, MIB, 19);
    run_pairs(h, &pj);
    assert_int_equal(stats_of(rig.space).bounce_high_water, pj.max_len);

    dms_space_set_bounce_limit(rig.space, 8192);
    assert_int_equal(dms_space_get_bounce_limit(rig.space), 8192);
    assert_int_equal(dms_space_map(rig.space, 0, &len, FROM, NULL, &p), 0);
    assert_int_equal(len, 8192);
    assert_int_equal(dms_space_map(rig.space, 0, &one, TO, NULL, &q), -EAGAIN);
    assert_int_equal(one, 0);

    st = stats_of(rig.space);
    assert_int_equal(st.bounce_in_use, 8192);
    /* The helper's maps were at most 4 KiB, one at a time. */
    assert_int_equal(st.bounce_high_water, 8192);
    assert_int_equal(st.bounce_limit, 8192);
    assert_int_equal(st.fail_exhausted, 1);
    assert_int_equal(st.bounced_maps, pj.count + 1);
    assert_int_equal(dms_space_unmap(rig.space, p, len, FROM, 0), 0);
    assert_int_equal(stats_of(rig.space).bounce_in_use, 0);

    /* Raised again: the helper, still parked, holds nothing either. */
    dms_space_set_bounce_limit(rig.space, LIMIT);
    assert_full_grant(rig.space, LIMIT);
    helper_stop(h);
    rig_fini(&rig);
}

/* ---- 7. many spaces, many threads, handoffs ---- */

typedef struct Worker {
    void *ctx;
    unsigned id;
    GThread *thread;
} Worker;

static void workers_run(Worker *w, unsigned n, GThreadFunc fn, void *ctx)
{
    for (unsigned i = 0; i < n; i++) {
        w[i] = (Worker){.ctx = ctx, .id = i};
        w[i].thread = g_thread_new("worker", fn, &w[i]);
    }
}

static void workers_join(Worker *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        g_thread_join(w[i].thread);
}

enum {
    SPACES = 6,
    MANY_THREADS = 4,
    MANY_ROUNDS = 250,
    /*
     * Each thread's area: its own unmaps and to-device handoffs in the
     * first half, from-device handoffs (written back by the next thread)
     * in the second, so that no byte of the array has two writers.
     */
    MANY_AREA = 4 * SMALL_MAX,
    HANDOFF_ONE_IN = 4,
};

typedef struct Many {
    Rig rig[SPACES];
    GAsyncQueue *queue[MANY_THREADS];
    atomic_ulong maps[SPACES], written[SPACES];
    atomic_int failed;
} Many;

static void many_drain(Many *m, unsigned id)
{
    Item *it;

    while ((it = g_async_queue_try_pop(m->queue[id])) != NULL) {
        if (!item_unmap(it))
            atomic_store(&m->failed, 1);
        atomic_fetch_add(&m->written[it->rig - m->rig], it->access);
        g_free(it);
    }
}

static void many_one(Many *m, unsigned id, GRand *rand, unsigned s)
{
    Item *it = g_new0(Item, 1);
    bool handoff = g_rand_int_range(rand, 0, HANDOFF_ONE_IN) == 0;

    it->rig = &m->rig[s];
    it->dir = g_rand_boolean(rand) ? FROM : TO;
    it->len = (size_t)g_rand_int_range(rand, 1, SMALL_MAX + 1);
    if (it->dir == FROM)
        it->access = (size_t)g_rand_int_range(rand, 0, (int)it->len + 1);
    it->addr = (uint64_t)id * MANY_AREA +
               (uint64_t)g_rand_int_range(rand, 0, MANY_AREA / 2 - 4096);
    if (handoff && it->dir == FROM)
        it->addr += MANY_AREA / 2;
    if (!item_map(it, s)) {
        atomic_store(&m->failed, 1);
        g_free(it);
        return;
    }
    atomic_fetch_add(&m->maps[s], 1);
    /* Our own queue is drained by the next many_drain(), at once. */
    g_async_queue_push(m->queue[(id + handoff) % MANY_THREADS], it);
}

static gpointer many_worker(gpointer data)
{
    Worker *w = data;
    GRand *rand = g_rand_new_with_seed(71 + w->id);

    for (unsigned round = 0; round < MANY_ROUNDS; round++) {
        for (unsigned i = 0; i < SPACES; i++) {
            many_one(w->ctx, w->id, rand, (w->id + round + i) % SPACES);
            many_drain(w->ctx, w->id);
        }
    }
    g_rand_free(rand);
    return NULL;
}

static void test_many_spaces_many_threads(void **state)
{
    Many *m = g_new0(Many, 1);
    Worker w[MANY_THREADS];

    for (unsigned s = 0; s < SPACES; s++) {
        rig_init(&m->rig[s], MIB, s);
        rig_drop_regions(&m->rig[s]);
    }
    for (unsigned i = 0; i < MANY_THREADS; i++)
        m->queue[i] = g_async_queue_new();
    workers_run(w, MANY_THREADS, many_worker, m);
    workers_join(w, MANY_THREADS);
    /* The last hand-offs end here, on yet another thread. */
    for (unsigned i = 0; i < MANY_THREADS; i++)
        many_drain(m, i);
    assert_int_equal(atomic_load(&m->failed), 0);

    for (unsigned s = 0; s < SPACES; s++) {
        Rig *rig = &m->rig[s];
        DmsSpaceStats st = stats_of(rig->space);

        assert_int_equal(st.bounce_in_use, 0);
        assert_int_equal(st.bounced_maps, atomic_load(&m->maps[s]));
        assert_true(st.bounce_high_water <= LIMIT);
        assert_int_equal(atomic_load(&rig->msg.written),
                         atomic_load(&m->written[s]));
        /* A misplaced or stale write-back would show here. */
        for (size_t i = 0; i < MANY_THREADS * MANY_AREA; i++)
            assert_int_equal(rig->msg.mem[i], pattern(i, s));
        assert_full_grant(rig->space, LIMIT);
    }
    for (unsigned s = 0; s < SPACES; s++) {
        m->rig[s].space = dms_space_unref(m->rig[s].space);
        assert_int_equal(dms_update_barrier(), 0);
        assert_int_equal(atomic_load(&m->rig[s].msg.notified), 1);
        rig_fini(&m->rig[s]);
    }
    for (unsigned i = 0; i < MANY_THREADS; i++)
        g_async_queue_unref(m->queue[i]);
    g_free(m);
}

/* ---- 8. maps while the region and the limit keep changing ---- */

enum {
    CHURN_THREADS = 3,
    CHURN_OPS = 2000, /* per thread, at least */
    CHURN_AREA = 4 * SMALL_MAX,
    CHURN_SWAPS = 50,
    CHURN_OPS_PER_SWAP = 20,
    CHURN_LIMIT_LOW = 65536,
};

typedef struct Churn {
    Rig rig;              /* and its region, the first one */
    Msg inc[CHURN_SWAPS]; /* the regions added later, on the same array */
    atomic_ulong ops, faults, written;
    atomic_int swaps_done, workers_out, failed;
} Churn;

static gpointer churn_worker(gpointer data)
{
    Worker *w = data;
    Churn *c = w->ctx;
    GRand *rand = g_rand_new_with_seed(81 + w->id);

    for (unsigned n = 0; !atomic_load(&c->failed) &&
                         (n < CHURN_OPS || !atomic_load(&c->swaps_done));
         n++) {
        DmsDirection dir = g_rand_boolean(rand) ? FROM : TO;
        size_t len = (size_t)g_rand_int_range(rand, 1, SMALL_MAX + 1);
        size_t access =
            dir == FROM ? (size_t)g_rand_int_range(rand, 0, (int)len + 1) : 0;
        uint64_t addr = (uint64_t)w->id * CHURN_AREA +
                        (uint64_t)g_rand_int_range(rand, 0, 3 * SMALL_MAX);
        uint8_t *p;
        /* At most 12 KiB is ever lent: never short, never -EAGAIN. */
        int r = map_checked(&c->rig, addr, len, dir, c->rig.salt, access, &p);

        atomic_fetch_add(&c->ops, 1);
        if (r == -EFAULT) {
            atomic_fetch_add(&c->faults, 1); /* no region there just now */
            continue;
        }
        if (r != 0 || dms_space_unmap(c->rig.space, p, len, dir, access) != 0)
            atomic_store(&c->failed, 1);
        atomic_fetch_add(&c->written, access);
    }
    g_rand_free(rand);
    atomic_fetch_add(&c->workers_out, 1);
    return NULL;
}

static void test_churn_region_and_limit_while_mapping(void **state)
{
    Churn *c = g_new0(Churn, 1);
    Worker w[CHURN_THREADS];
    unsigned long backend_written;
    DmsRegion *cur;

    rig_init(&c->rig, MIB, 23);
    cur = dms_region_ref(c->rig.region);
    workers_run(w, CHURN_THREADS, churn_worker, c);
    for (unsigned k = 0; k < CHURN_SWAPS; k++) {
        /* Let the workers run between swaps: churn, not one burst. */
        while (atomic_load(&c->ops) < (k + 1) * CHURN_OPS_PER_SWAP &&
               atomic_load(&c->workers_out) == 0)
            g_thread_yield();
        assert_int_equal(dms_region_remove_subregion(c->rig.root, cur), 0);
        cur = dms_region_unref(cur);
        dms_space_set_bounce_limit(c->rig.space,
                                   k % 2 ? LIMIT : CHURN_LIMIT_LOW);
        cur = msg_region_new(&c->inc[k], c->rig.msg.mem, MIB);
        assert_int_equal(dms_region_add_subregion(c->rig.root, 0, cur, 0, 0),
                         0);
    }
    dms_space_set_bounce_limit(c->rig.space, LIMIT);
    atomic_store(&c->swaps_done, 1);
    workers_join(w, CHURN_THREADS);
    assert_int_equal(atomic_load(&c->failed), 0);
    print_message("# churn: %lu maps, %lu found no region\n",
                  (unsigned long)atomic_load(&c->ops),
                  (unsigned long)atomic_load(&c->faults));
    assert_int_equal(stats_of(c->rig.space).bounce_in_use, 0);
    assert_full_grant(c->rig.space, LIMIT);

    /*
     * Every region removed has gone, exactly once, but for the first,
     * which the test still holds; the last one goes when removed.
     */
    assert_int_equal(atomic_load(&c->rig.msg.notified), 0);
    c->rig.region = dms_region_unref(c->rig.region);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&c->rig.msg.notified), 1);
    for (unsigned k = 0; k < CHURN_SWAPS - 1; k++)
        assert_int_equal(atomic_load(&c->inc[k].notified), 1);
    assert_int_equal(atomic_load(&c->inc[CHURN_SWAPS - 1].notified), 0);
    assert_int_equal(dms_region_remove_subregion(c->rig.root, cur), 0);
    cur = dms_region_unref(cur);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&c->inc[CHURN_SWAPS - 1].notified), 1);

    /* Every write-back arrived, in its thread's area, intact. */
    backend_written = atomic_load(&c->rig.msg.written);
    for (unsigned k = 0; k < CHURN_SWAPS; k++) {
        assert_int_equal(atomic_load(&c->inc[k].bad), 0);
        backend_written += atomic_load(&c->inc[k].written);
    }
    assert_int_equal(backend_written, atomic_load(&c->written));
    for (size_t i = 0; i < CHURN_THREADS * CHURN_AREA; i++)
        assert_int_equal(c->rig.msg.mem[i], pattern(i, c->rig.salt));
    rig_fini(&c->rig);
    g_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_thread_unmap_threads_parked),
        cmocka_unit_test(test_cross_thread_unmap_threads_exited),
        cmocka_unit_test(test_thread_exit_returns_cache),
        cmocka_unit_test(test_removed_region_notify_fires_despite_idle_thread),
        cmocka_unit_test(test_removed_region_notify_waits_for_live_mapping),
        cmocka_unit_test(test_space_drop_frees_space_despite_idle_thread),
        cmocka_unit_test(test_space_drop_waits_for_live_bounce_mapping),
        cmocka_unit_test(test_client_fires_despite_idle_credit),
        cmocka_unit_test(
            test_client_fires_at_once_when_only_idle_credit_is_taken),
        cmocka_unit_test(test_high_water_counts_only_lent_bytes),
        cmocka_unit_test(test_limit_lowered_with_idle_credit_is_exact),
        cmocka_unit_test(test_many_spaces_many_threads),
        cmocka_unit_test(test_churn_region_and_limit_while_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
