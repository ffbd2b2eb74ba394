/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounce budget of dms_space_map(): the default limit, partial grants,
 * exhaustion (-EAGAIN) and a limit of 0 (-ENOBUFS), a limit lowered while
 * buffers are lent, and the pool falling back to separate buffers.
 */
#include "map-fixture.h"

static void test_budget_default_lets_sixteen_64k_transfers_run(void **state)
{
    Fix *f = *state;
    void *p[16];

    assert_int_equal(dms_space_get_bounce_limit(f->space),
                     DMS_BOUNCE_LIMIT_DEFAULT);
    assert_int_equal(DMS_BOUNCE_LIMIT_DEFAULT, 1u << 20);
    for (int i = 0; i < 16; i++)
        p[i] = tc_map(f->space, MSG_ADDR + (uint64_t)i * 65536, 65536, FROM,
                      65536);
    tc_map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    for (int i = 0; i < 16; i++)
        assert_int_equal(dms_space_unmap(f->space, p[i], 65536, FROM, 0), 0);
    assert_int_equal(tc_stats(f->space).bounce_high_water, 1u << 20);
}

static void test_budget_grants_partial_buffers(void **state)
{
    Fix *f = *state;
    uint8_t *p;

    dms_space_set_bounce_limit(f->space, 4096);
    p = tc_map(f->space, MSG_ADDR, 6000, TO, 4096);
    assert_memory_equal(p, f->msg_b->mem, 4096);
    assert_int_equal(f->msg_b->last.len, 4096);
    tc_map_fails(f->space, MSG_ADDR + 4096, 1904, TO, -EAGAIN);
    assert_int_equal(tc_stats(f->space).fail_exhausted, 1);
    assert_int_equal(dms_space_unmap(f->space, p, 4096, TO, 4096), 0);
    /* Part of the budget free: a part of the request granted. */
    p = tc_map(f->space, MSG_ADDR, 1000, TO, 1000);
    {
        uint8_t *q = tc_map(f->space, MSG_ADDR, 5000, TO, 3096);
        assert_int_equal(dms_space_unmap(f->space, q, 3096, TO, 0), 0);
    }
    assert_int_equal(dms_space_unmap(f->space, p, 1000, TO, 0), 0);
}

static void test_budget_exact_fit_then_exhausted(void **state)
{
    Fix *f = *state;
    void *p;

    dms_space_set_bounce_limit(f->space, 4096);
    p = tc_map(f->space, MSG_ADDR, 4096, FROM, 4096);
    tc_map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    /* Direct maps never need budget. */
    {
        void *d = tc_map(f->space, RAM_ADDR, 4096, FROM, 4096);
        assert_int_equal(dms_space_unmap(f->space, d, 4096, FROM, 0), 0);
    }
    assert_int_equal(dms_space_unmap(f->space, p, 4096, FROM, 0), 0);
    p = tc_map(f->space, MSG_ADDR, 4096, FROM, 4096);
    assert_int_equal(dms_space_unmap(f->space, p, 4096, FROM, 0), 0);
    assert_int_equal(tc_stats(f->space).bounce_high_water, 4096);
}

static void test_budget_limit_zero_fails_enobufs(void **state)
{
    Fix *f = *state;
    void *d;

    dms_space_set_bounce_limit(f->space, 0);
    assert_int_equal(dms_space_get_bounce_limit(f->space), 0);
    tc_map_fails(f->space, MSG_ADDR, 64, TO, -ENOBUFS);
    assert_int_equal(tc_stats(f->space).fail_no_budget, 1);
    assert_int_equal(tc_stats(f->space).fail_exhausted, 0);
    d = tc_map(f->space, RAM_ADDR, 64, TO, 64);
    assert_int_equal(dms_space_unmap(f->space, d, 64, TO, 0), 0);
}

static void test_budget_lowered_while_lent_is_never_exceeded(void **state)
{
    Fix *f = *state;
    DmsSpaceStats st;
    void *p, *q;

    dms_space_set_bounce_limit(f->space, 8192);
    p = tc_map(f->space, MSG_ADDR, 6000, FROM, 6000);
    dms_space_set_bounce_limit(f->space, 4096);
    assert_int_equal(dms_space_get_bounce_limit(f->space), 4096);
    /* 6000 lent, limit 4096: QEMU's limit - used would wrap here. */
    tc_map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    tc_map_fails(f->space, MSG_ADDR, 100000, TO, -EAGAIN);
    st = tc_stats(f->space);
    assert_int_equal(st.bounce_in_use, 6000);
    assert_int_equal(st.bounce_limit, 4096);
    assert_int_equal(dms_space_unmap(f->space, p, 6000, FROM, 0), 0);
    p = tc_map(f->space, MSG_ADDR, 5000, FROM, 4096);
    tc_map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    /* Raised again: room for more. */
    dms_space_set_bounce_limit(f->space, 5000);
    q = tc_map(f->space, MSG_ADDR, 5000, TO, 904);
    assert_int_equal(dms_space_unmap(f->space, p, 4096, FROM, 0), 0);
    assert_int_equal(dms_space_unmap(f->space, q, 904, TO, 0), 0);
    assert_int_equal(tc_stats(f->space).bounce_high_water, 6000);
}

static void test_pool_at_its_size_falls_back_to_separate_buffers(void **state)
{
    Fix *f = *state;
    enum { N = 40 };
    uint8_t *p[N], *small;

    dms_space_set_bounce_limit(f->space, 8u << 20);
    /* 40 x 64 KiB is more than the pool keeps (1 MiB). */
    for (int i = 0; i < N; i++) {
        p[i] = tc_map(f->space, MSG_ADDR, 65536, FROM, 65536);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(p[i], p[j]);
        assert_int_equal(p[i][0], 0);
        assert_int_equal(p[i][65535], 0);
        p[i][0] = (uint8_t)i;
    }
    /* A new size class has no chunk to come from either. */
    small = tc_map(f->space, MSG_ADDR + 8, 100, TO, 100);
    assert_memory_equal(small, f->msg_b->mem + 8, 100);
    refused(f, small + 1, 99, TO, 0);
    assert_int_equal(dms_space_unmap(f->space, small, 100, TO, 100), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(dms_space_unmap(f->space, p[i], 65536, FROM, 1), 0);
        assert_int_equal(f->msg_b->mem[0], (uint8_t)i);
    }
    assert_int_equal(tc_stats(f->space).bounced_maps, N + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, map_setup, map_teardown)
        T(test_budget_default_lets_sixteen_64k_transfers_run),
        T(test_budget_grants_partial_buffers),
        T(test_budget_exact_fit_then_exhausted),
        T(test_budget_limit_zero_fails_enobufs),
        T(test_budget_lowered_while_lent_is_never_exceeded),
        T(test_pool_at_its_size_falls_back_to_separate_buffers),
#undef T
    };

    return cmocka_run_group_tests_name("map-budget", tests, NULL, NULL);
}
