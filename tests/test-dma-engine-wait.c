/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SG engine waiting for budget: a request holding budget never waits
 * for more; one that waits resumes exactly; cancellation in each state.
 * The fixture is in engine-fixture.c.
 */
#include "engine-fixture.h"

/* ---- the budget rule ---- */

static void test_partial_grant_goes_to_io_instead_of_waiting(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x1000});

    /* Someone else holds 0x300 of 0x400: only 0x100 is left. */
    hold_budget(f, 0x400, 0x300);
    f->dev.async = true;
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f);
    /* It did not wait while holding 0x100: the I/O has it. */
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(f->dev.batch_lens[0], 0x100);

    /* The blocker stays; the request still finishes, 0x100 at a time. */
    f->dev.async = false;
    assert_int_equal(dms_dma_io_done(f->dev.pending, 0x100, 0), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.io_calls, 16);
    assert_memory_equal(f->dev.disk, f->bulk->mem, 0x1000);
    release_budget(f);
}

static void test_request_waits_for_budget_and_resumes_exactly(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x300},
                            {MSG_BASE + 0x1000, 0x300});

    hold_budget(f, 0x400, 0x400);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(f->dev.completions, 0);
    assert_true(stats(f).fail_exhausted >= 1);

    /* Budget comes back: the map client fires on our context. */
    release_budget(f);
    drain(f);
    assert_completed(f, 0, 0x600);
    assert_true(stats(f).engine_waits >= 1);
    /* The engine's waits are not the caller's map clients. */
    assert_int_equal(stats(f).map_clients_fired, 0);
    assert_memory_equal(f->bulk->mem, f->dev.disk, 0x300);
    assert_memory_equal(f->bulk->mem + 0x1000, f->dev.disk + 0x300, 0x300);
    assert_int_equal(f->bulk->bytes_written, 0x600);
}

/*
 * Regression: max_iov pieces filled up while one of them was cut short by
 * budget others hold, and the align trim emptied the batch. That ended the
 * request with -EINVAL, as if the pieces could never hold align bytes;
 * with the budget back they do, so the request must wait for it.
 */
static void test_pieces_short_of_budget_wait_instead_of_failing(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE + RAM_SIZE - 0x100, 0x100},
               {MSG_BASE, 0x300});

    p.align = 0x200;
    p.max_iov = 2;
    /* 0x80 of budget left: RAM 0x100 + bounce 0x80 fill both pieces. */
    hold_budget(f, 0x400, 0x380);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(f->dev.io_calls, 0);

    release_budget(f);
    drain(f);
    assert_completed(f, 0, 0x400);
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(f->dev.batch_lens[0], 0x400);
    assert_memory_equal(f->dev.disk, f->ram + RAM_SIZE - 0x100, 0x100);
    assert_memory_equal(f->dev.disk + 0x100, f->bulk->mem, 0x300);
}

/* The same pieces too short with all the budget free are an error. */
static void test_pieces_too_short_with_all_budget_fail(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE + RAM_SIZE - 0x100, 0x100},
               {MSG_BASE, 0x80}, {MSG_BASE + 0x1000, 0x80});

    p.align = 0x200;
    p.max_iov = 2;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EINVAL);
    assert_int_equal(f->dev.transferred, 0);
    assert_int_equal(f->dev.io_calls, 0);
}

/* A request waiting for budget when the limit drops to 0 must not wait
 * forever: it is woken and completes with -ENOBUFS. */
static void test_limit_dropped_to_zero_ends_a_waiting_request(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x300});

    hold_budget(f, 0x400, 0x400);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 0);

    dms_space_set_bounce_limit(f->space, 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ENOBUFS);
    assert_int_equal(f->dev.io_calls, 0);
    release_budget(f);
}

/* ---- cancellation ---- */

static void test_cancel_while_waiting_for_budget(void **state)
{
    Fix *f = *state;
    DmsDmaRequest *req;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x800});
    uint64_t fired;

    hold_budget(f, 0x400, 0x400);
    req = submit(f, &p);
    drain(f);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(f->dev.completions, 0);

    assert_int_equal(dms_dma_cancel(req), 0);
    /* Never from inside the cancel call. */
    assert_int_equal(f->dev.completions, 0);
    drain(f);
    assert_completed(f, -ECANCELED, 0);

    /* No client is left: freeing budget wakes nobody. */
    fired = stats(f).engine_waits;
    release_budget(f);
    drain(f);
    assert_int_equal(stats(f).engine_waits, fired);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(stats(f).bounce_in_use, 0);
    assert_int_equal(dms_dma_cancel(req), -EALREADY);
}

static void test_cancel_when_client_already_fired(void **state)
{
    Fix *f = *state;
    DmsDmaRequest *req;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x800});

    hold_budget(f, 0x400, 0x400);
    req = submit(f, &p);
    drain(f);
    /* The client fires (its dispatch is queued), then the cancel comes. */
    release_budget(f);
    assert_int_equal(dms_dma_cancel(req), 0);
    drain(f);
    assert_cancelled(f, 0, 0);
}

/*
 * Submits @p under a bounce limit of 0x400 with the device's I/O left
 * pending: the first batch, 0x400 bytes, is in flight when it returns.
 */
static DmsDmaRequest *submit_first_batch(Fix *f, const DmsDmaParams *p)
{
    DmsDmaRequest *req;

    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.async = true;
    req = submit(f, p);
    drain(f);
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(f->dev.pending_len, 0x400);
    return req;
}

static void test_cancel_with_io_in_flight_waits_for_the_io(void **state)
{
    Fix *f = *state;
    DmsDmaRequest *req;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x1000});

    req = submit_first_batch(f, &p);
    assert_int_equal(stats(f).bounce_in_use, 0x400);

    assert_int_equal(dms_dma_cancel(req), 0);
    assert_int_equal(dms_dma_cancel(req), -EALREADY);
    drain(f);
    /* The device still uses the buffers: nothing may be released yet. */
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(stats(f).bounce_in_use, 0x400);

    assert_int_equal(dms_dma_io_done(f->dev.pending, 0x400, 0), 0);
    drain(f);
    /* The batch in flight did move and was written back. */
    assert_cancelled(f, 0x400, 1);
    assert_memory_equal(f->bulk->mem, f->dev.disk, 0x400);
}

static void test_cancel_between_batches(void **state)
{
    Fix *f = *state;
    DmsDmaRequest *req;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x1000});

    req = submit_first_batch(f, &p);
    /* The I/O reports from outside the I/O function: a step is queued. */
    assert_int_equal(dms_dma_io_done(f->dev.pending, 0x400, 0), 0);
    assert_int_equal(dms_dma_cancel(req), 0);
    drain(f);
    assert_cancelled(f, 0x400, 1);
}

static void test_cancel_before_first_step(void **state)
{
    Fix *f = *state;
    DmsDmaRequest *req;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE, 0x100});

    req = submit(f, &p);
    assert_int_equal(dms_dma_cancel(req), 0);
    drain(f);
    assert_cancelled(f, 0, 0);
    assert_int_equal(stats(f).direct_maps, 0);
}

static void test_cancel_from_io_function_then_synchronous_report(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x1000});

    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.cancel_in_io = true;
    run_request(f, &p);
    assert_int_equal(f->dev.cancel_in_io_result, 0);
    assert_outcome(f, -ECANCELED, 0x400, 1);
    assert_int_equal(f->bulk->bytes_written, 0x400);
}

static void test_cancel_after_completion_is_too_late(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE, 0x100});
    DmsDmaRequest *req;

    f->dev.cancel_in_complete = true;
    assert_int_equal(dms_dma_submit(&p, &req), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.cancel_in_complete_result, -EALREADY);
    assert_int_equal(dms_dma_cancel(req), -EALREADY);
    assert_ptr_equal(dms_dma_request_ref(req), req);
    dms_dma_request_unref(req);
    assert_null(dms_dma_request_unref(req));
}

static void test_io_done_without_io_is_refused(void **state)
{
    Fix *f = *state;
    DmsDmaRequest *req;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE, 0x100});

    f->dev.async = true;
    req = submit(f, &p);
    assert_int_equal(dms_dma_io_done(req, 0, 0), -EINVAL);
    drain(f);
    assert_int_equal(dms_dma_io_done(req, 0x100, 0), 0);
    /* A second report for the same batch. */
    assert_int_equal(dms_dma_io_done(req, 0x100, 0), -EINVAL);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(dms_dma_io_done(req, 0x100, 0), -EINVAL);
    assert_int_equal(tc_criticals(), 3);
}

/* A positive errno from the I/O function is taken as its negative. */
static void test_positive_error_is_normalised(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE, 0x100});

    f->dev.fail_at = 0x10;
    f->dev.fail_error = EIO;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EIO);
    assert_int_equal(f->dev.transferred, 0x10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENGINE_TEST(test_partial_grant_goes_to_io_instead_of_waiting),
        ENGINE_TEST(test_request_waits_for_budget_and_resumes_exactly),
        ENGINE_TEST(test_pieces_short_of_budget_wait_instead_of_failing),
        ENGINE_TEST(test_pieces_too_short_with_all_budget_fail),
        ENGINE_TEST(test_limit_dropped_to_zero_ends_a_waiting_request),
        ENGINE_TEST(test_cancel_while_waiting_for_budget),
        ENGINE_TEST(test_cancel_when_client_already_fired),
        ENGINE_TEST(test_cancel_with_io_in_flight_waits_for_the_io),
        ENGINE_TEST(test_cancel_between_batches),
        ENGINE_TEST(test_cancel_before_first_step),
        ENGINE_TEST(test_cancel_from_io_function_then_synchronous_report),
        ENGINE_TEST(test_cancel_after_completion_is_too_late),
        ENGINE_TEST(test_io_done_without_io_is_refused),
        ENGINE_TEST(test_positive_error_is_normalised),
    };

    return cmocka_run_group_tests_name("dma-engine-wait", tests, NULL, NULL);
}
