/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The asynchronous scatter-gather engine: batches over RAM and over
 * message regions under a small bounce budget, and alignment trimming.
 * The fixture is in engine-fixture.c.
 */
#include "engine-fixture.h"

/* The first @n batches were @len bytes each, back to back. */
static void assert_even_batches(Fix *f, unsigned n, size_t len)
{
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(f->dev.offsets[i], i * len);
        assert_int_equal(f->dev.batch_lens[i], len);
    }
}

/*
 * The disk holds, back to back, the @n entries of 100 bytes that
 * params_strided(f, dir, MSG_BASE, 0x200, 100, @n) describes.
 */
static void assert_disk_holds_strided(Fix *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        assert_memory_equal(f->bulk->mem + 0x200u * i, f->dev.disk + 100 * i,
                            100);
}

/*
 * params_strided() over @n entries of @len bytes, @stride apart from
 * @base, with the batch limits @align and @max_iov (0: none).
 */
typedef struct Strided {
    DmsDirection dir;
    uint64_t base;
    int64_t stride;
    uint64_t len;
    size_t n;
    uint64_t align;
    unsigned max_iov;
} Strided;

static DmsDmaParams strided(Fix *f, Strided s)
{
    DmsDmaParams p = params_strided(f, s.dir, s.base, s.stride, s.len, s.n);

    p.align = s.align;
    p.max_iov = s.max_iov;
    return p;
}

/* ---- transfers ---- */

static void test_ram_list_is_one_batch_without_bounce(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        PARAMS(f, DMS_DIR_TO_DEVICE, {RAM_BASE + 0x8000, 0x1000},
               {RAM_BASE + 0x100, 0x234}, {RAM_BASE + 0xf000, 0x1000}, );
    uint8_t want[0x2234];

    gather(f, p.sg, want);
    run_request(f, &p);
    assert_outcome(f, 0, sizeof(want), 1);
    assert_int_equal(f->dev.iovcnts[0], 3);
    assert_true(f->dev.io_on_ctx);
    assert_memory_equal(f->dev.disk, want, sizeof(want));
    assert_int_equal(stats(f).bounced_maps, 0);
    assert_int_equal(stats(f).direct_maps, 3);
}

static void test_ram_list_from_device_fills_memory(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {RAM_BASE + 0x300, 0x80},
                            {RAM_BASE + 0x100, 0x80}, );

    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x100);
    assert_memory_equal(f->ram + 0x300, f->dev.disk, 0x80);
    assert_memory_equal(f->ram + 0x100, f->dev.disk + 0x80, 0x80);
    assert_int_equal(stats(f).bounced_maps, 0);
}

static void
test_message_list_under_small_budget_runs_many_batches(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE + 0x1000, 0x2000});

    /* A budget smaller than the one entry, and not a power of two. */
    dms_space_set_bounce_limit(f->space, 1000);
    run_request(f, &p);
    assert_outcome(f, 0, 0x2000, 9); /* 8 x 1000 + 192 */
    assert_even_batches(f, 8, 1000);
    assert_int_equal(f->dev.batch_lens[8], 0x2000 - 8000);
    assert_memory_equal(f->bulk->mem + 0x1000, f->dev.disk, 0x2000);
    /* Written back once each, never more than the device produced. */
    assert_int_equal(f->bulk->bytes_written, 0x2000);
    assert_true(stats(f).bounce_high_water <= 1000);
    assert_int_equal(stats(f).bounce_in_use, 0);
}

static void test_message_list_to_device_reads_each_byte_once(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x800},
                            {RAM_BASE, 0x400}, {MSG_BASE + 0x4000, 0xc00}, );
    uint8_t want[0x1800];

    gather(f, p.sg, want);
    f->bulk->bytes_read = 0;
    dms_space_set_bounce_limit(f->space, 0x400);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, sizeof(want));
    assert_memory_equal(f->dev.disk, want, sizeof(want));
    assert_int_equal(f->bulk->bytes_read, 0x1400);
    assert_true(f->dev.io_calls >= 5);
}

static void test_attrs_reach_the_backend(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x100}};
    DmsAttrs attrs = {.flags = DMS_ATTR_REQUESTER_VALID, .requester_id = 77};
    DmsDmaParams p = params_of(f, DMS_DIR_FROM_DEVICE, e, G_N_ELEMENTS(e));

    p.attrs = &attrs;
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    attrs.requester_id = 1; /* copied at submit: this must not matter */
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->bulk->last.attrs.requester_id, 77);
}

static void test_max_iov_splits_batches(void **state)
{
    Fix *f = *state;
    DmsDmaParams p =
        strided(f, (Strided){DMS_DIR_TO_DEVICE, RAM_BASE + 9 * 0x1000, -0x1000,
                             0x40, 10, .max_iov = 4});
    uint8_t want[10 * 0x40];

    gather(f, p.sg, want);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.io_calls, 3);
    assert_int_equal(f->dev.iovcnts[0], 4);
    assert_int_equal(f->dev.iovcnts[2], 2);
    assert_int_equal(f->dev.offsets[2], 8 * 0x40);
    assert_memory_equal(f->dev.disk, want, sizeof(want));
}

static void test_empty_list_completes_without_io(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = params_of(f, DMS_DIR_TO_DEVICE, NULL, 0);

    run_request(f, &p);
    assert_outcome(f, 0, 0, 0);
}

/* ---- alignment ---- */

static void test_align_trims_partial_grant_and_resumes_there(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x2000});

    /* Each grant of 1000 bytes is cut to 512. */
    dms_space_set_bounce_limit(f->space, 1000);
    p.align = 512;
    run_request(f, &p);
    assert_outcome(f, 0, 0x2000, 16);
    assert_even_batches(f, 16, 512);
    assert_memory_equal(f->bulk->mem, f->dev.disk, 0x2000);
    /* The trimmed tails were never written back (zeroes over memory). */
    assert_int_equal(f->bulk->bytes_written, 0x2000);
}

/*
 * A grant smaller than align is cut to nothing. The request must then
 * wait until align bytes are free, not retry at every free byte: with
 * another mapping holding part of the budget, that was a loop on the
 * context (it never went idle).
 */
static void test_align_waits_for_align_bytes_without_spinning(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_FROM_DEVICE, {MSG_BASE, 0x800});
    uint64_t fired;

    p.align = 0x400;
    hold_budget(f, 0x400, 0x100);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f); /* goes idle: the request waits */
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(stats(f).bounce_in_use, 0x100);
    fired = stats(f).engine_waits;
    drain(f);
    assert_int_equal(stats(f).engine_waits, fired);

    release_budget(f);
    drain(f);
    assert_completed(f, 0, 0x800);
    assert_int_equal(f->dev.io_calls, 2);
    assert_memory_equal(f->bulk->mem, f->dev.disk, 0x800);
}

static void test_align_unmaps_whole_pieces_past_the_cut(void **state)
{
    Fix *f = *state;
    /* 100-byte entries over the message region, 7 per batch at most. */
    DmsDmaParams p =
        strided(f, (Strided){DMS_DIR_FROM_DEVICE, MSG_BASE, 0x200, 100, 24,
                             .align = 400, .max_iov = 7});

    run_request(f, &p);
    /* 700 bytes mapped per batch, cut at 400: pieces 4-6 go back whole. */
    assert_outcome(f, 0, 2400, 6);
    assert_even_batches(f, 6, 400);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(f->dev.iovcnts[i], 4);
    assert_disk_holds_strided(f, 24);
    assert_int_equal(f->bulk->bytes_written, 2400);
}

static void test_align_cut_inside_a_piece_rewinds_cursor(void **state)
{
    Fix *f = *state;
    /* 7 pieces of 100 = 700 per batch, cut to 512: inside piece 6. */
    DmsDmaParams p =
        strided(f, (Strided){DMS_DIR_FROM_DEVICE, MSG_BASE, 0x200, 100, 30,
                             .align = 512, .max_iov = 7});

    /* 3000 is not a multiple of 512: refused up front. */
    assert_int_equal(dms_dma_submit(&p, NULL), -EINVAL);
    assert_int_equal(dms_sglist_add(p.sg, MSG_BASE + 0x8000, 72), 0);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 3072);
    assert_int_equal(f->dev.batch_lens[0], 512);
    assert_int_equal(f->dev.iovcnts[0], 6);
    assert_int_equal(f->dev.offsets[1], 512);
    for (unsigned i = 0; i < f->dev.io_calls; i++)
        assert_int_equal(f->dev.batch_lens[i] % 512, 0);
    assert_disk_holds_strided(f, 30);
    assert_memory_equal(f->bulk->mem + 0x8000, f->dev.disk + 3000, 72);
    assert_int_equal(f->bulk->bytes_written, 3072);
}

static void test_align_above_budget_fails_with_enobufs(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = PARAMS(f, DMS_DIR_TO_DEVICE, {MSG_BASE, 0x1000});

    dms_space_set_bounce_limit(f->space, 256);
    p.align = 512;
    run_request(f, &p);
    assert_outcome(f, -ENOBUFS, 0, 0);
}

static void test_align_that_max_iov_cannot_hold_fails(void **state)
{
    Fix *f = *state;
    DmsDmaParams p = strided(f, (Strided){DMS_DIR_TO_DEVICE, RAM_BASE, 0x100,
                                          64, 8, .align = 512, .max_iov = 2});

    run_request(f, &p);
    assert_int_equal(f->dev.result, -EINVAL);
    assert_int_equal(f->dev.io_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENGINE_TEST(test_ram_list_is_one_batch_without_bounce),
        ENGINE_TEST(test_ram_list_from_device_fills_memory),
        ENGINE_TEST(test_message_list_under_small_budget_runs_many_batches),
        ENGINE_TEST(test_message_list_to_device_reads_each_byte_once),
        ENGINE_TEST(test_attrs_reach_the_backend),
        ENGINE_TEST(test_max_iov_splits_batches),
        ENGINE_TEST(test_empty_list_completes_without_io),
        ENGINE_TEST(test_align_trims_partial_grant_and_resumes_there),
        ENGINE_TEST(test_align_waits_for_align_bytes_without_spinning),
        ENGINE_TEST(test_align_unmaps_whole_pieces_past_the_cut),
        ENGINE_TEST(test_align_cut_inside_a_piece_rewinds_cursor),
        ENGINE_TEST(test_align_above_budget_fails_with_enobufs),
        ENGINE_TEST(test_align_that_max_iov_cannot_hold_fails),
    };

    return cmocka_run_group_tests_name("dma-engine", tests, NULL, NULL);
}
