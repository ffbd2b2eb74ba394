/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thread caches and the budget: map clients fire and the high water and
 * a lowered limit stay exact while threads hold budget idle.
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
    assert_int_equal(tc_stats(rig.space).bounce_in_use, LIMIT);

    assert_int_equal(dms_space_add_map_client(rig.space, NULL, count_client,
                                              &fired[0], NULL, &client),
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
                                              &fired[1], NULL, NULL),
                     0);
    assert_int_equal(atomic_load(&fired[1]), 0);
    helper_call(h, item_unmap_job, &l);
    assert_true(l.ok);
    assert_int_equal(atomic_load(&fired[1]), 1);

    for (unsigned i = 0; i < CHUNKS; i++)
        assert_int_equal(dms_space_unmap(rig.space, p[i], len[i], FROM, 0), 0);
    /* One-shot: each ran once, and no more. */
    assert_int_equal(atomic_load(&fired[0]) + atomic_load(&fired[1]), 2);
    assert_int_equal(tc_stats(rig.space).map_clients_fired, 2);
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
    assert_int_equal(tc_stats(rig.space).bounce_in_use, LIMIT - CHUNK);

    /* A chunk is not lent: the client runs from this very call. */
    assert_int_equal(dms_space_add_map_client(rig.space, NULL, count_client,
                                              &fired, NULL, NULL),
                     0);
    assert_int_equal(atomic_load(&fired), 1);

    unmap_chunks(rig.space, p, CHUNKS - 1);
    assert_int_equal(atomic_load(&fired), 1);
    assert_int_equal(tc_stats(rig.space).map_clients_fired, 1);
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
    assert_int_equal(tc_stats(rig.space).bounce_high_water, pj.max_len);
    map_chunks(rig.space, p, 2);
    assert_int_equal(tc_stats(rig.space).bounce_in_use, 2 * CHUNK);
    assert_int_equal(tc_stats(rig.space).bounce_high_water, 2 * CHUNK);
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
    assert_int_equal(tc_stats(rig.space).bounce_high_water, pj.max_len);

    dms_space_set_bounce_limit(rig.space, 8192);
    assert_int_equal(dms_space_get_bounce_limit(rig.space), 8192);
    assert_int_equal(dms_space_map(rig.space, 0, &len, FROM, NULL, &p), 0);
    assert_int_equal(len, 8192);
    assert_int_equal(dms_space_map(rig.space, 0, &one, TO, NULL, &q), -EAGAIN);
    assert_int_equal(one, 0);

    st = tc_stats(rig.space);
    assert_int_equal(st.bounce_in_use, 8192);
    /* The helper's maps were at most 4 KiB, one at a time. */
    assert_int_equal(st.bounce_high_water, 8192);
    assert_int_equal(st.bounce_limit, 8192);
    assert_int_equal(st.fail_exhausted, 1);
    assert_int_equal(st.bounced_maps, pj.count + 1);
    assert_int_equal(dms_space_unmap(rig.space, p, len, FROM, 0), 0);
    assert_int_equal(tc_stats(rig.space).bounce_in_use, 0);

    /* Raised again: the helper, still parked, holds nothing either. */
    dms_space_set_bounce_limit(rig.space, LIMIT);
    assert_full_grant(rig.space, LIMIT);
    helper_stop(h);
    rig_fini(&rig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_fires_despite_idle_credit),
        cmocka_unit_test(
            test_client_fires_at_once_when_only_idle_credit_is_taken),
        cmocka_unit_test(test_high_water_counts_only_lent_bytes),
        cmocka_unit_test(test_limit_lowered_with_idle_credit_is_exact),
    };

    return cmocka_run_group_tests_name("bounce-cache-budget", tests, NULL,
                                       NULL);
}
