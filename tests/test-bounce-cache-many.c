/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thread caches at scale: many spaces and threads handing mappings off,
 * and maps while the region and the limit keep changing.
 *
 * Bounce maps from many threads, through the public API only. Whatever a
 * thread keeps for itself between maps (budget, buffers, references) must
 * never strand budget, keep a removed region or a dropped space alive, or
 * make the statistics lie once the threads are quiet. Helper threads park
 * (alive and idle) while the main thread checks: a thread that maps a few
 * times and then sleeps for an hour is the case per-thread state gets
 * wrong. Every test is bounded by counts. The rig is in bounce-rig.c.
 */
#include "bounce-rig.h"
#include "stress-rounds.h"

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

    for (unsigned round = 0; round < dms_stress_rounds(MANY_ROUNDS); round++) {
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
        DmsSpaceStats st = tc_stats(rig->space);

        assert_int_equal(st.bounce_in_use, 0);
        assert_int_equal(st.bounced_maps, atomic_load(&m->maps[s]));
        assert_true(st.bounce_high_water <= LIMIT);
        assert_int_equal(atomic_load(&rig->msg->bytes_written),
                         atomic_load(&m->written[s]));
        /* A misplaced or stale write-back would show here. */
        for (size_t i = 0; i < MANY_THREADS * MANY_AREA; i++)
            assert_int_equal(rig->msg->mem[i], memdev_pattern(i, s));
        assert_full_grant(rig->space, LIMIT);
    }
    for (unsigned s = 0; s < SPACES; s++) {
        m->rig[s].space = dms_space_unref(m->rig[s].space);
        assert_int_equal(dms_update_barrier(), 0);
        assert_int_equal(atomic_load(&m->rig[s].msg->notified), 1);
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
    /* The bytes a worker may reach: its area and a map past its end. */
    CHURN_REACH = CHURN_THREADS * CHURN_AREA + SMALL_MAX,
};

typedef struct Churn {
    Rig rig;                  /* and its region, the first one */
    MemDev *inc[CHURN_SWAPS]; /* the regions added later */
    atomic_ulong ops, faults, written;
    atomic_int swaps_done, workers_out, failed;
} Churn;

static gpointer churn_worker(gpointer data)
{
    Worker *w = data;
    Churn *c = w->ctx;
    GRand *rand = g_rand_new_with_seed(81 + w->id);

    for (unsigned n = 0;
         !atomic_load(&c->failed) &&
         (n < dms_stress_rounds(CHURN_OPS) || !atomic_load(&c->swaps_done));
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
        /* Of the same size, over memory of the same pattern, as much
         * of it as the workers reach. */
        c->inc[k] = rig_memdev(CHURN_REACH, c->rig.salt);
        assert_int_equal(memdev_region_new(c->inc[k], "msg", MIB, NULL, &cur),
                         0);
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
    assert_int_equal(tc_stats(c->rig.space).bounce_in_use, 0);
    assert_full_grant(c->rig.space, LIMIT);

    /*
     * Every region removed has gone, exactly once, but for the first,
     * which the test still holds; the last one goes when removed.
     */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&c->rig.msg->notified), 0);
    c->rig.region = dms_region_unref(c->rig.region);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&c->rig.msg->notified), 1);
    for (unsigned k = 0; k < CHURN_SWAPS - 1; k++)
        assert_int_equal(atomic_load(&c->inc[k]->notified), 1);
    assert_int_equal(atomic_load(&c->inc[CHURN_SWAPS - 1]->notified), 0);
    assert_int_equal(dms_region_remove_subregion(c->rig.root, cur), 0);
    cur = dms_region_unref(cur);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&c->inc[CHURN_SWAPS - 1]->notified), 1);

    /* Every write-back arrived, in its thread's area, intact. */
    backend_written = atomic_load(&c->rig.msg->bytes_written);
    for (unsigned k = 0; k < CHURN_SWAPS; k++) {
        backend_written += atomic_load(&c->inc[k]->bytes_written);
    }
    assert_int_equal(backend_written, atomic_load(&c->written));
    for (size_t i = 0; i < CHURN_THREADS * CHURN_AREA; i++)
        assert_int_equal(c->rig.msg->mem[i], memdev_pattern(i, c->rig.salt));
    for (unsigned k = 0; k < CHURN_SWAPS; k++) {
        for (size_t i = 0; i < CHURN_REACH; i++)
            assert_int_equal(c->inc[k]->mem[i],
                             memdev_pattern(i, c->rig.salt));
        tc_memdev_free(c->inc[k]); /* and no call was bad */
    }
    rig_fini(&c->rig);
    g_free(c);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_spaces_many_threads),
        cmocka_unit_test(test_churn_region_and_limit_while_mapping),
    };

    return cmocka_run_group_tests_name("bounce-cache-many", tests, NULL, NULL);
}
