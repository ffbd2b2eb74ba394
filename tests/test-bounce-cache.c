/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thread caches: a map unmapped on another thread, a thread that exits,
 * regions removed and spaces dropped while threads idle.
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
    assert_int_equal(atomic_load(&c->rig.msg->bytes_written), c->from_bytes);
    for (size_t i = 0; i < CROSS_MAPS * SMALL_MAX; i++) {
        bool wrote = i % SMALL_MAX < c->item[i / SMALL_MAX].access;

        assert_int_equal(
            c->rig.msg->mem[i],
            memdev_pattern(i, wrote ? SALT_WRITTEN : c->rig.salt));
    }
    st = tc_stats(c->rig.space);
    assert_int_equal(st.bounce_in_use, 0);
    assert_int_equal(st.bounced_maps, CROSS_MAPS);
    assert_int_equal(st.bad_unmaps, 0);
    assert_true(st.bounce_high_water <= LIMIT);

    assert_full_grant(c->rig.space, LIMIT);
    st = tc_stats(c->rig.space);
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

    st = tc_stats(rig.space);
    assert_int_equal(st.bounce_in_use, 0);
    assert_int_equal(st.bounced_maps, 1000);
    /* One map at a time: the high water is the largest of them. */
    assert_int_equal(st.bounce_high_water, pj.max_len);
    assert_int_equal(atomic_load(&rig.msg->bytes_written), pj.written);

    assert_full_grant(rig.space, LIMIT);
    st = tc_stats(rig.space);
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
 * alone holds the regions): the region's notify must run before that
 * call returns, or, with a live mapping, when the helper unmaps it, and
 * the unmap still writes back.
 assert_int_equal(dms_update_barrier(), 0);
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
    DmsRegion *side_region;
    size_t len = 16;
    MemDev *side;
    void *p;

    rig_init(&rig, MIB, 7);
    /* SIDE is a multiple of 2^16: its pattern is the one from 0. */
    side = rig_memdev(SMALL_MAX, rig.salt);
    assert_int_equal(memdev_region_new(side, "side", 0, NULL, &side_region),
                     0);
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
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&rig.msg->notified), 0);

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
    assert_int_equal(atomic_load(&rig.msg->notified), live ? 0 : 1);

    if (live) {
        /* On the helper, which stays alive: the unmap releases it. */
        helper_call(h, item_unmap_job, &l);
        assert_true(l.ok);
        assert_int_equal(dms_update_barrier(), 0);
        assert_int_equal(atomic_load(&rig.msg->notified), 1);
        for (size_t k = 0; k <= l.len; k++)
            assert_int_equal(rig.msg->mem[l.addr + k],
                             memdev_pattern(l.addr + k, k < l.len
                                                            ? SALT_WRITTEN
                                                            : rig.salt));
    }
    assert_int_equal(atomic_load(&rig.msg->bytes_written),
                     pj[0].written + pj[2].written + (live ? l.len : 0));
    assert_int_equal(atomic_load(&side->bytes_written), pj[1].written);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&side->notified), drop_space ? 1 : 0);
    if (drop_space)
        rig.space = NULL;
    else
        assert_int_equal(tc_stats(rig.space).bounce_in_use, 0);
    helper_stop(h);
    rig_fini(&rig); /* the notify ran once, not twice */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&side->notified), 1);
    tc_memdev_free(side);
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
    };

    return cmocka_run_group_tests_name("bounce-cache", tests, NULL, NULL);
}
