/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SG engine when things go wrong: I/O that fails, falls short or
 * claims too much, map and fill errors, bad parameters, and the list
 * frozen while a request uses it.
 * The fixture is in engine-fixture.c.
 */
#include "engine-fixture.h"

/* ---- failures ---- */

static void test_io_failing_part_way_writes_back_what_moved(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x1000});
    uint8_t before[0x1000];

    memcpy(before, f->bulk->mem, sizeof(before));
    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.fail_at = 0x800 + 300; /* in the third batch */
    f->dev.fail_error = -EIO;
    run_request(f, &p);
    assert_outcome(f, -EIO, 0x800 + 300, 3);
    /* The 300 bytes the device produced are in memory; nothing after. */
    assert_memory_equal(f->bulk->mem, f->dev.disk, 0x800 + 300);
    assert_memory_equal(f->bulk->mem + 0x800 + 300, before + 0x800 + 300,
                        0x1000 - 0x800 - 300);
    assert_int_equal(f->bulk->bytes_written, 0x800 + 300);
}

static void test_short_io_completes_with_shorter_count(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        PARAMS(f, DMS_DIR_FROM_DEVICE, {RAM_BASE, 0x400}, {MSG_BASE, 0x400});

    f->dev.short_at = 0x500;
    run_request(f, &p);
    assert_outcome(f, 0, 0x500, 1);
    assert_memory_equal(f->ram, f->dev.disk, 0x400);
    assert_memory_equal(f->bulk->mem, f->dev.disk + 0x400, 0x100);
    assert_int_equal(f->bulk->bytes_written, 0x100);
}

static void test_io_claiming_more_than_batch_fails_with_eio(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x100});

    f->dev.overclaim = 1;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EIO);
    /* What the batch held did move, and is counted. */
    assert_int_equal(f->dev.transferred, 0x100);
    assert_int_equal(f->bulk->bytes_written, 0x100);
}

static void test_hole_after_data_fails_after_transferring_it(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE, 0x100}, {HOLE_BASE, 0x100});

    run_request(f, &p);
    assert_outcome(f, -EFAULT, 0x100, 1);
    assert_memory_equal(f->dev.disk, f->ram, 0x100);
}

static void test_fill_error_of_backend_ends_request(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x100});

    f->bulk->fail_read = ENOTCONN;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -ENOTCONN);
    assert_int_equal(f->dev.io_calls, 0);
}

static void test_zero_bounce_limit_fails_with_enobufs(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x100});

    dms_space_set_bounce_limit(f->space, 0);
    run_request(f, &p);
    assert_int_equal(f->dev.result, -ENOBUFS);
    assert_int_equal(f->dev.io_calls, 0);
}

static void test_bad_params_are_refused_without_completion(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = params_of(f, DMS_DIR_TO_DEVICE, NULL, 0);
    DmsDmaRequest *req = (DmsDmaRequest *)&p;

    p.io = NULL;
    assert_int_equal(dms_dma_submit(&p, &req), -EINVAL);
    assert_null(req);
    p = params_for(f, f->sg, (DmsDirection)7);
    assert_int_equal(dms_dma_submit(&p, NULL), -EINVAL);
    p = params_for(f, f->sg, DMS_DIR_TO_DEVICE);
    p.size = sizeof(p) - 1;
    assert_int_equal(dms_dma_submit(&p, NULL), -EINVAL);
    assert_int_equal(dms_dma_submit(NULL, NULL), -EINVAL);
    drain(f);
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(tc_criticals(), 4);
}

static void test_list_is_frozen_until_completion(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE, 0x100});

    f->dev.add_in_complete = p.sg;
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    assert_int_equal(dms_sglist_add(p.sg, RAM_BASE, 1), -EBUSY);
    assert_int_equal(dms_sglist_clear(p.sg), -EBUSY);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    /* Free again by the time the completion runs. */
    assert_int_equal(f->dev.add_in_complete_result, 0);
    assert_int_equal(dms_sglist_get_count(p.sg), 2);
}

static void test_request_outlives_callers_list_reference(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    dms_sglist_unref(sg);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_memory_equal(f->bulk->mem, f->dev.disk, 0x100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENGINE_TEST(test_io_failing_part_way_writes_back_what_moved),
        ENGINE_TEST(test_short_io_completes_with_shorter_count),
        ENGINE_TEST(test_io_claiming_more_than_batch_fails_with_eio),
        ENGINE_TEST(test_hole_after_data_fails_after_transferring_it),
        ENGINE_TEST(test_fill_error_of_backend_ends_request),
        ENGINE_TEST(test_zero_bounce_limit_fails_with_enobufs),
        ENGINE_TEST(test_bad_params_are_refused_without_completion),
        ENGINE_TEST(test_list_is_frozen_until_completion),
        ENGINE_TEST(test_request_outlives_callers_list_reference),
    };

    return cmocka_run_group_tests_name("dma-engine-errors", tests, NULL, NULL);
}
