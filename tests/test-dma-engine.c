/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The asynchronous scatter-gather engine: batches over RAM and over
 * message regions under a small bounce budget, alignment trimming, I/O
 * that fails or falls short, map errors, cancellation in each state, and
 * the rule that a request holding budget never waits for more.
 *
 * Every test drives the request's GMainContext by hand, so the state a
 * cancellation hits is known exactly. Each ends by checking that the
 * completion ran once and that no bounce budget is still lent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include "dms-private.h"

/* ---- a bulk backend over a buffer that counts what it moves ---- */

#define MSG_SIZE 0x10000u

typedef struct Bulk {
    uint8_t mem[MSG_SIZE];
    uint64_t bytes_read, bytes_written;
    uint32_t last_requester;
    int fail_reads; /* error for every read, 0 = none */
} Bulk;

static int64_t bulk_read(void *opaque, uint64_t off, void *buf, size_t len,
                         const DmsAttrs *attrs)
{
    Bulk *b = opaque;

    b->last_requester = attrs ? attrs->requester_id : 0;
    if (b->fail_reads)
        return b->fail_reads;
    if (off > sizeof(b->mem) || len > sizeof(b->mem) - off)
        return -EFAULT;
    memcpy(buf, b->mem + off, len);
    b->bytes_read += len;
    return (int64_t)len;
}

static int64_t bulk_write(void *opaque, uint64_t off, const void *buf,
                          size_t len, const DmsAttrs *attrs)
{
    Bulk *b = opaque;

    b->last_requester = attrs ? attrs->requester_id : 0;
    if (off > sizeof(b->mem) || len > sizeof(b->mem) - off)
        return -EFAULT;
    memcpy(b->mem + off, buf, len);
    b->bytes_written += len;
    return (int64_t)len;
}

/*
 * The space:
 *   [0x10000, 0x20000)   RAM
 *   [0x20000, 0x30000)   nothing
 *   [0x40000, 0x50000)   bulk message region
 */
#define RAM_BASE 0x10000u
#define RAM_SIZE 0x10000u
#define HOLE_BASE 0x20000u
#define MSG_BASE 0x40000u

/* ---- the device side: a linear "disk" and a recording I/O function ---- */

typedef struct Dev {
    uint8_t disk[0x20000];
    GMainContext *ctx;
    /* behaviour */
    bool async;        /* leave the batch pending for the test */
    uint64_t fail_at;  /* fail once this many bytes were moved... */
    int fail_error;    /* ...with this error (0 = never) */
    uint64_t short_at; /* stop here without error (0 = never) */
    size_t overclaim;  /* report this many bytes more than moved */
    bool cancel_in_io; /* dms_dma_cancel() from the I/O function */
    int cancel_in_io_result;
    bool cancel_in_complete;
    int cancel_in_complete_result;
    DmsSgList *add_in_complete; /* try dms_sglist_add() there */
    int add_in_complete_result;
    /* records */
    unsigned io_calls;
    uint64_t offsets[256];
    size_t batch_lens[256];
    unsigned iovcnts[256];
    bool io_on_ctx, complete_on_ctx;
    DmsDmaRequest *pending;
    size_t pending_len;
    unsigned completions;
    uint64_t transferred;
    int result;
    DmsDirection dir;
} Dev;

static size_t iov_total(const DmsIovec *iov, unsigned n)
{
    size_t t = 0;

    for (unsigned i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* Moves bytes between the batch and the disk at @offset. */
static size_t dev_move(Dev *d, uint64_t offset, const DmsIovec *iov,
                       unsigned n, size_t limit)
{
    size_t moved = 0;

    for (unsigned i = 0; i < n && moved < limit; i++) {
        size_t len = MIN(iov[i].iov_len, limit - moved);

        assert_true(offset + moved + len <= sizeof(d->disk));
        if (d->dir == DMS_DIR_TO_DEVICE)
            memcpy(d->disk + offset + moved, iov[i].iov_base, len);
        else
            memcpy(iov[i].iov_base, d->disk + offset + moved, len);
        moved += len;
    }
    return moved;
}

static void dev_io(DmsDmaRequest *req, uint64_t offset, const DmsIovec *iov,
                   unsigned iovcnt, void *data)
{
    Dev *d = data;
    size_t len = iov_total(iov, iovcnt);
    size_t limit = len;
    int error = 0;

    assert_true(iovcnt >= 1);
    if (d->io_calls < G_N_ELEMENTS(d->offsets)) {
        d->offsets[d->io_calls] = offset;
        d->batch_lens[d->io_calls] = len;
        d->iovcnts[d->io_calls] = iovcnt;
    }
    d->io_calls++;
    d->io_on_ctx = g_main_context_is_owner(d->ctx);

    if (d->cancel_in_io)
        d->cancel_in_io_result = dms_dma_cancel(req);
    if (d->fail_error && offset + len > d->fail_at) {
        limit = (size_t)(d->fail_at - offset);
        error = d->fail_error;
    } else if (d->short_at && offset + len > d->short_at) {
        limit = (size_t)(d->short_at - offset);
    }
    if (d->async) {
        d->pending = req;
        d->pending_len = len;
        /* Data moves now; the report comes when the test says so. */
        dev_move(d, offset, iov, iovcnt, limit);
        return;
    }
    assert_int_equal(
        dms_dma_io_done(req,
                        dev_move(d, offset, iov, iovcnt, limit) + d->overclaim,
                        error),
        0);
}

static void dev_complete(DmsDmaRequest *req, uint64_t transferred, int result,
                         void *data)
{
    Dev *d = data;

    d->completions++;
    d->transferred = transferred;
    d->result = result;
    d->complete_on_ctx = g_main_context_is_owner(d->ctx);
    if (d->cancel_in_complete)
        d->cancel_in_complete_result = dms_dma_cancel(req);
    if (d->add_in_complete)
        d->add_in_complete_result =
            dms_sglist_add(d->add_in_complete, RAM_BASE, 1);
}

/* ---- fixture ---- */

typedef struct Fix {
    uint8_t ram[RAM_SIZE];
    Bulk bulk;
    Dev dev;
    DmsRegion *root;
    DmsSpace *space;
    GMainContext *ctx;
    unsigned criticals;
    guint log_handler;
} Fix;

static void count_critical(const gchar *domain, GLogLevelFlags level,
                           const gchar *message, gpointer data)
{
    Fix *f = data;

    f->criticals++;
}

static int fix_setup(void **state)
{
    Fix *f = g_new0(Fix, 1);
    DmsMessageOps ops = {
        .size = sizeof(ops),
        .read = bulk_read,
        .write = bulk_write,
    };
    DmsRegion *r;

    for (size_t i = 0; i < sizeof(f->ram); i++)
        f->ram[i] = (uint8_t)(i * 3 + 1);
    for (size_t i = 0; i < sizeof(f->bulk.mem); i++)
        f->bulk.mem[i] = (uint8_t)(i * 7 + 5);
    for (size_t i = 0; i < sizeof(f->dev.disk); i++)
        f->dev.disk[i] = (uint8_t)(i * 11 + 2);

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &f->root),
                     0);
    assert_int_equal(
        dms_region_new_ram("ram", f->ram, sizeof(f->ram), 0, NULL, NULL, &r),
        0);
    assert_int_equal(dms_region_add_subregion(f->root, RAM_BASE, r, 0, 0), 0);
    dms_region_unref(r);
    assert_int_equal(
        dms_region_new_message("bulk", MSG_SIZE, &ops, &f->bulk, NULL, &r), 0);
    assert_int_equal(dms_region_add_subregion(f->root, MSG_BASE, r, 0, 0), 0);
    dms_region_unref(r);
    assert_int_equal(dms_space_new(f->root, "engine", &f->space), 0);

    f->ctx = g_main_context_new();
    f->dev.ctx = f->ctx;
    f->log_handler =
        g_log_set_handler("dmaspace", G_LOG_LEVEL_CRITICAL, count_critical, f);
    *state = f;
    return 0;
}

/* Runs the context until nothing is ready to dispatch. */
static void drain(Fix *f)
{
    for (unsigned n = 0; n < 100000; n++) {
        if (!g_main_context_iteration(f->ctx, FALSE))
            return;
    }
    fail_msg("the context never went idle");
}

static DmsSpaceStats stats(Fix *f)
{
    DmsSpaceStats s = {.size = sizeof(s)};

    assert_int_equal(dms_space_get_stats(f->space, &s), 0);
    return s;
}

static int fix_teardown(void **state)
{
    Fix *f = *state;

    drain(f);
    /* Whatever a test did, nothing may stay lent. */
    assert_int_equal(stats(f).bounce_in_use, 0);
    g_log_remove_handler("dmaspace", f->log_handler);
    dms_space_unref(f->space);
    dms_region_unref(f->root);
    g_main_context_unref(f->ctx);
    g_free(f);
    return 0;
}

static DmsSgList *list_of(Fix *f, const uint64_t (*entries)[2], size_t n)
{
    DmsSgList *sg;

    assert_int_equal(dms_sglist_new(f->space, n, &sg), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dms_sglist_add(sg, entries[i][0], entries[i][1]), 0);
    return sg;
}

static DmsDmaParams params_for(Fix *f, DmsSgList *sg, DmsDirection dir)
{
    DmsDmaParams p = {
        .size = sizeof(p),
        .sg = sg,
        .dir = dir,
        .ctx = f->ctx,
        .io = dev_io,
        .complete = dev_complete,
        .data = &f->dev,
    };

    f->dev.dir = dir;
    return p;
}

/* Submits, runs to the end, and checks the completion ran exactly once. */
static void run_request(Fix *f, const DmsDmaParams *p)
{
    assert_int_equal(dms_dma_submit(p, NULL), 0);
    /* Nothing runs before the context does. */
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(f->dev.completions, 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_true(f->dev.complete_on_ctx);
}

/* The bytes the list describes, gathered from the fixture's memory. */
static void gather(Fix *f, DmsSgList *sg, uint8_t *out)
{
    uint64_t residual = 1;

    assert_int_equal(dms_sglist_read(sg, out, (size_t)dms_sglist_get_size(sg),
                                     NULL, &residual),
                     0);
    assert_int_equal(residual, 0);
}

/* ---- transfers ---- */

static void test_ram_list_is_one_batch_without_bounce(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {
        {RAM_BASE + 0x8000, 0x1000},
        {RAM_BASE + 0x100, 0x234},
        {RAM_BASE + 0xf000, 0x1000},
    };
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    uint8_t want[0x2234];

    gather(f, sg, want);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, sizeof(want));
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(f->dev.iovcnts[0], 3);
    assert_true(f->dev.io_on_ctx);
    assert_memory_equal(f->dev.disk, want, sizeof(want));
    assert_int_equal(stats(f).bounced_maps, 0);
    assert_int_equal(stats(f).direct_maps, 3);
    dms_sglist_unref(sg);
}

static void test_ram_list_from_device_fills_memory(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {
        {RAM_BASE + 0x300, 0x80},
        {RAM_BASE + 0x100, 0x80},
    };
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x100);
    assert_memory_equal(f->ram + 0x300, f->dev.disk, 0x80);
    assert_memory_equal(f->ram + 0x100, f->dev.disk + 0x80, 0x80);
    assert_int_equal(stats(f).bounced_maps, 0);
    dms_sglist_unref(sg);
}

static void
test_message_list_under_small_budget_runs_many_batches(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE + 0x1000, 0x2000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    /* A budget smaller than the one entry, and not a power of two. */
    dms_space_set_bounce_limit(f->space, 1000);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x2000);
    assert_int_equal(f->dev.io_calls, 9); /* 8 x 1000 + 192 */
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(f->dev.offsets[i], i * 1000);
        assert_int_equal(f->dev.batch_lens[i], 1000);
    }
    assert_int_equal(f->dev.batch_lens[8], 0x2000 - 8000);
    assert_memory_equal(f->bulk.mem + 0x1000, f->dev.disk, 0x2000);
    /* Written back once each, never more than the device produced. */
    assert_int_equal(f->bulk.bytes_written, 0x2000);
    assert_true(stats(f).bounce_high_water <= 1000);
    assert_int_equal(stats(f).bounce_in_use, 0);
    dms_sglist_unref(sg);
}

static void test_message_list_to_device_reads_each_byte_once(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {
        {MSG_BASE, 0x800},
        {RAM_BASE, 0x400},
        {MSG_BASE + 0x4000, 0xc00},
    };
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    uint8_t want[0x1800];

    gather(f, sg, want);
    f->bulk.bytes_read = 0;
    dms_space_set_bounce_limit(f->space, 0x400);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, sizeof(want));
    assert_memory_equal(f->dev.disk, want, sizeof(want));
    assert_int_equal(f->bulk.bytes_read, 0x1400);
    assert_true(f->dev.io_calls >= 5);
    dms_sglist_unref(sg);
}

static void test_attrs_reach_the_backend(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsAttrs attrs = {.flags = DMS_ATTR_REQUESTER_VALID, .requester_id = 77};
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    p.attrs = &attrs;
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    attrs.requester_id = 1; /* copied at submit: this must not matter */
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->bulk.last_requester, 77);
    dms_sglist_unref(sg);
}

static void test_max_iov_splits_batches(void **state)
{
    Fix *f = *state;
    uint64_t e[10][2];
    DmsSgList *sg;
    DmsDmaParams p;
    uint8_t want[10 * 0x40];

    for (unsigned i = 0; i < 10; i++) {
        e[i][0] = RAM_BASE + 0x1000u * (9 - i);
        e[i][1] = 0x40;
    }
    sg = list_of(f, (const uint64_t(*)[2])e, 10);
    p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    p.max_iov = 4;
    gather(f, sg, want);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.io_calls, 3);
    assert_int_equal(f->dev.iovcnts[0], 4);
    assert_int_equal(f->dev.iovcnts[2], 2);
    assert_int_equal(f->dev.offsets[2], 8 * 0x40);
    assert_memory_equal(f->dev.disk, want, sizeof(want));
    dms_sglist_unref(sg);
}

static void test_empty_list_completes_without_io(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = list_of(f, NULL, 0);
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0);
    assert_int_equal(f->dev.io_calls, 0);
    dms_sglist_unref(sg);
}

/* ---- alignment ---- */

static void test_align_trims_partial_grant_and_resumes_there(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x2000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    /* Each grant of 1000 bytes is cut to 512. */
    dms_space_set_bounce_limit(f->space, 1000);
    p.align = 512;
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x2000);
    assert_int_equal(f->dev.io_calls, 16);
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(f->dev.batch_lens[i], 512);
        assert_int_equal(f->dev.offsets[i], i * 512);
    }
    assert_memory_equal(f->bulk.mem, f->dev.disk, 0x2000);
    /* The trimmed tails were never written back (zeroes over memory). */
    assert_int_equal(f->bulk.bytes_written, 0x2000);
    dms_sglist_unref(sg);
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
    static const uint64_t e[][2] = {{MSG_BASE, 0x800}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    size_t len = 0x100;
    void *blocker;
    uint64_t fired;

    dms_space_set_bounce_limit(f->space, 0x400);
    p.align = 0x400;
    assert_int_equal(dms_space_map(f->space, MSG_BASE + 0x8000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &blocker),
                     0);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f); /* goes idle: the request waits */
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(stats(f).bounce_in_use, 0x100);
    fired = stats(f).map_clients_fired;
    drain(f);
    assert_int_equal(stats(f).map_clients_fired, fired);

    assert_int_equal(
        dms_space_unmap(f->space, blocker, 0x100, DMS_DIR_TO_DEVICE, 0), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x800);
    assert_int_equal(f->dev.io_calls, 2);
    assert_memory_equal(f->bulk.mem, f->dev.disk, 0x800);
    dms_sglist_unref(sg);
}

static void test_align_unmaps_whole_pieces_past_the_cut(void **state)
{
    Fix *f = *state;
    uint64_t e[24][2];
    DmsSgList *sg;
    DmsDmaParams p;

    /* 100-byte entries over the message region, 8 per batch at most. */
    for (unsigned i = 0; i < 24; i++) {
        e[i][0] = MSG_BASE + 0x200u * i;
        e[i][1] = 100;
    }
    sg = list_of(f, (const uint64_t(*)[2])e, 24);
    p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    p.align = 400;
    p.max_iov = 7;
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 2400);
    /* 700 bytes mapped per batch, cut at 400: pieces 4-6 go back whole. */
    assert_int_equal(f->dev.io_calls, 6);
    for (unsigned i = 0; i < 6; i++) {
        assert_int_equal(f->dev.batch_lens[i], 400);
        assert_int_equal(f->dev.iovcnts[i], 4);
    }
    for (unsigned i = 0; i < 24; i++)
        assert_memory_equal(f->bulk.mem + 0x200u * i, f->dev.disk + 100 * i,
                            100);
    assert_int_equal(f->bulk.bytes_written, 2400);
    dms_sglist_unref(sg);
}

static void test_align_cut_inside_a_piece_rewinds_cursor(void **state)
{
    Fix *f = *state;
    uint64_t e[30][2];
    DmsSgList *sg;
    DmsDmaParams p;

    /* 7 pieces of 100 = 700 per batch, cut to 512: inside piece 6. */
    for (unsigned i = 0; i < 30; i++) {
        e[i][0] = MSG_BASE + 0x200u * i;
        e[i][1] = 100;
    }
    sg = list_of(f, (const uint64_t(*)[2])e, 30);
    p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    p.align = 512;
    p.max_iov = 7;
    /* 3000 is not a multiple of 512: refused up front. */
    assert_int_equal(dms_dma_submit(&p, NULL), -EINVAL);
    assert_int_equal(dms_sglist_add(sg, MSG_BASE + 0x8000, 72), 0);
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 3072);
    assert_int_equal(f->dev.batch_lens[0], 512);
    assert_int_equal(f->dev.iovcnts[0], 6);
    assert_int_equal(f->dev.offsets[1], 512);
    for (unsigned i = 0; i < f->dev.io_calls; i++)
        assert_int_equal(f->dev.batch_lens[i] % 512, 0);
    for (unsigned i = 0; i < 30; i++)
        assert_memory_equal(f->bulk.mem + 0x200u * i, f->dev.disk + 100 * i,
                            100);
    assert_memory_equal(f->bulk.mem + 0x8000, f->dev.disk + 3000, 72);
    assert_int_equal(f->bulk.bytes_written, 3072);
    dms_sglist_unref(sg);
}

static void test_align_above_budget_fails_with_enobufs(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x1000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    dms_space_set_bounce_limit(f->space, 256);
    p.align = 512;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -ENOBUFS);
    assert_int_equal(f->dev.transferred, 0);
    assert_int_equal(f->dev.io_calls, 0);
    dms_sglist_unref(sg);
}

static void test_align_that_max_iov_cannot_hold_fails(void **state)
{
    Fix *f = *state;
    uint64_t e[8][2];
    DmsSgList *sg;
    DmsDmaParams p;

    for (unsigned i = 0; i < 8; i++) {
        e[i][0] = RAM_BASE + 0x100u * i;
        e[i][1] = 64;
    }
    sg = list_of(f, (const uint64_t(*)[2])e, 8);
    p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    p.align = 512;
    p.max_iov = 2;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EINVAL);
    assert_int_equal(f->dev.io_calls, 0);
    dms_sglist_unref(sg);
}

/* ---- failures ---- */

static void test_io_failing_part_way_writes_back_what_moved(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x1000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    uint8_t before[0x1000];

    memcpy(before, f->bulk.mem, sizeof(before));
    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.fail_at = 0x800 + 300; /* in the third batch */
    f->dev.fail_error = -EIO;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EIO);
    assert_int_equal(f->dev.transferred, 0x800 + 300);
    assert_int_equal(f->dev.io_calls, 3);
    /* The 300 bytes the device produced are in memory; nothing after. */
    assert_memory_equal(f->bulk.mem, f->dev.disk, 0x800 + 300);
    assert_memory_equal(f->bulk.mem + 0x800 + 300, before + 0x800 + 300,
                        0x1000 - 0x800 - 300);
    assert_int_equal(f->bulk.bytes_written, 0x800 + 300);
    dms_sglist_unref(sg);
}

static void test_short_io_completes_with_shorter_count(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x400}, {MSG_BASE, 0x400}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    f->dev.short_at = 0x500;
    run_request(f, &p);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x500);
    assert_int_equal(f->dev.io_calls, 1);
    assert_memory_equal(f->ram, f->dev.disk, 0x400);
    assert_memory_equal(f->bulk.mem, f->dev.disk + 0x400, 0x100);
    assert_int_equal(f->bulk.bytes_written, 0x100);
    dms_sglist_unref(sg);
}

static void test_io_claiming_more_than_batch_fails_with_eio(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    f->dev.overclaim = 1;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EIO);
    /* What the batch held did move, and is counted. */
    assert_int_equal(f->dev.transferred, 0x100);
    assert_int_equal(f->bulk.bytes_written, 0x100);
    dms_sglist_unref(sg);
}

static void test_hole_after_data_fails_after_transferring_it(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x100}, {HOLE_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    run_request(f, &p);
    assert_int_equal(f->dev.result, -EFAULT);
    assert_int_equal(f->dev.transferred, 0x100);
    assert_int_equal(f->dev.io_calls, 1);
    assert_memory_equal(f->dev.disk, f->ram, 0x100);
    dms_sglist_unref(sg);
}

static void test_fill_error_of_backend_ends_request(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    f->bulk.fail_reads = -ENOTCONN;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -ENOTCONN);
    assert_int_equal(f->dev.io_calls, 0);
    dms_sglist_unref(sg);
}

static void test_zero_bounce_limit_fails_with_enobufs(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    dms_space_set_bounce_limit(f->space, 0);
    run_request(f, &p);
    assert_int_equal(f->dev.result, -ENOBUFS);
    assert_int_equal(f->dev.io_calls, 0);
    dms_sglist_unref(sg);
}

static void test_bad_params_are_refused_without_completion(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = list_of(f, NULL, 0);
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    DmsDmaRequest *req = (DmsDmaRequest *)&p;

    p.io = NULL;
    assert_int_equal(dms_dma_submit(&p, &req), -EINVAL);
    assert_null(req);
    p = params_for(f, sg, (DmsDirection)7);
    assert_int_equal(dms_dma_submit(&p, NULL), -EINVAL);
    p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    p.size = sizeof(p) - 1;
    assert_int_equal(dms_dma_submit(&p, NULL), -EINVAL);
    assert_int_equal(dms_dma_submit(NULL, NULL), -EINVAL);
    drain(f);
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(f->criticals, 4);
    dms_sglist_unref(sg);
}

static void test_list_is_frozen_until_completion(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    f->dev.add_in_complete = sg;
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    assert_int_equal(dms_sglist_add(sg, RAM_BASE, 1), -EBUSY);
    assert_int_equal(dms_sglist_clear(sg), -EBUSY);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    /* Free again by the time the completion runs. */
    assert_int_equal(f->dev.add_in_complete_result, 0);
    assert_int_equal(dms_sglist_get_count(sg), 2);
    dms_sglist_unref(sg);
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
    assert_memory_equal(f->bulk.mem, f->dev.disk, 0x100);
}

/* ---- the budget rule ---- */

static void test_partial_grant_goes_to_io_instead_of_waiting(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x1000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    size_t len = 0x300;
    void *blocker;

    /* Someone else holds 0x300 of 0x400: only 0x100 is left. */
    dms_space_set_bounce_limit(f->space, 0x400);
    assert_int_equal(dms_space_map(f->space, MSG_BASE + 0x8000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &blocker),
                     0);
    assert_int_equal(len, 0x300);
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
    assert_memory_equal(f->dev.disk, f->bulk.mem, 0x1000);
    assert_int_equal(
        dms_space_unmap(f->space, blocker, 0x300, DMS_DIR_TO_DEVICE, 0), 0);
    dms_sglist_unref(sg);
}

static void test_request_waits_for_budget_and_resumes_exactly(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x300},
                                    {MSG_BASE + 0x1000, 0x300}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    size_t len = 0x400;
    void *blocker;

    dms_space_set_bounce_limit(f->space, 0x400);
    assert_int_equal(dms_space_map(f->space, MSG_BASE + 0x8000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &blocker),
                     0);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(f->dev.completions, 0);
    assert_true(stats(f).fail_exhausted >= 1);

    /* Budget comes back: the map client fires on our context. */
    assert_int_equal(
        dms_space_unmap(f->space, blocker, 0x400, DMS_DIR_TO_DEVICE, 0), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(f->dev.transferred, 0x600);
    assert_true(stats(f).map_clients_fired >= 1);
    assert_memory_equal(f->bulk.mem, f->dev.disk, 0x300);
    assert_memory_equal(f->bulk.mem + 0x1000, f->dev.disk + 0x300, 0x300);
    assert_int_equal(f->bulk.bytes_written, 0x600);
    dms_sglist_unref(sg);
}

/* A request waiting for budget when the limit drops to 0 must not wait
 * forever: it is woken and completes with -ENOBUFS. */
static void test_limit_dropped_to_zero_ends_a_waiting_request(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x300}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    size_t len = 0x400;
    void *blocker;

    dms_space_set_bounce_limit(f->space, 0x400);
    assert_int_equal(dms_space_map(f->space, MSG_BASE + 0x8000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &blocker),
                     0);
    assert_int_equal(dms_dma_submit(&p, NULL), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 0);

    dms_space_set_bounce_limit(f->space, 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ENOBUFS);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(
        dms_space_unmap(f->space, blocker, 0x400, DMS_DIR_TO_DEVICE, 0), 0);
    dms_sglist_unref(sg);
}

/* ---- cancellation ---- */

static void test_cancel_while_waiting_for_budget(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x800}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    DmsDmaRequest *req;
    size_t len = 0x400;
    uint64_t fired;
    void *blocker;

    dms_space_set_bounce_limit(f->space, 0x400);
    assert_int_equal(dms_space_map(f->space, MSG_BASE + 0x8000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &blocker),
                     0);
    assert_int_equal(dms_dma_submit(&p, &req), 0);
    drain(f);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(f->dev.completions, 0);

    assert_int_equal(dms_dma_cancel(req), 0);
    /* Never from inside the cancel call. */
    assert_int_equal(f->dev.completions, 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ECANCELED);
    assert_int_equal(f->dev.transferred, 0);

    /* No client is left: freeing budget wakes nobody. */
    fired = stats(f).map_clients_fired;
    assert_int_equal(
        dms_space_unmap(f->space, blocker, 0x400, DMS_DIR_TO_DEVICE, 0), 0);
    drain(f);
    assert_int_equal(stats(f).map_clients_fired, fired);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(stats(f).bounce_in_use, 0);
    assert_int_equal(dms_dma_cancel(req), -EALREADY);
    dms_dma_request_unref(req);
    dms_sglist_unref(sg);
}

static void test_cancel_when_client_already_fired(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x800}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    DmsDmaRequest *req;
    size_t len = 0x400;
    void *blocker;

    dms_space_set_bounce_limit(f->space, 0x400);
    assert_int_equal(dms_space_map(f->space, MSG_BASE + 0x8000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &blocker),
                     0);
    assert_int_equal(dms_dma_submit(&p, &req), 0);
    drain(f);
    /* The client fires (its dispatch is queued), then the cancel comes. */
    assert_int_equal(
        dms_space_unmap(f->space, blocker, 0x400, DMS_DIR_TO_DEVICE, 0), 0);
    assert_int_equal(dms_dma_cancel(req), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ECANCELED);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(stats(f).bounce_in_use, 0);
    dms_dma_request_unref(req);
    dms_sglist_unref(sg);
}

static void test_cancel_with_io_in_flight_waits_for_the_io(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x1000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);
    DmsDmaRequest *req;

    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.async = true;
    assert_int_equal(dms_dma_submit(&p, &req), 0);
    drain(f);
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(stats(f).bounce_in_use, 0x400);

    assert_int_equal(dms_dma_cancel(req), 0);
    assert_int_equal(dms_dma_cancel(req), -EALREADY);
    drain(f);
    /* The device still uses the buffers: nothing may be released yet. */
    assert_int_equal(f->dev.completions, 0);
    assert_int_equal(stats(f).bounce_in_use, 0x400);

    assert_int_equal(dms_dma_io_done(f->dev.pending, 0x400, 0), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ECANCELED);
    /* The batch in flight did move and was written back. */
    assert_int_equal(f->dev.transferred, 0x400);
    assert_memory_equal(f->bulk.mem, f->dev.disk, 0x400);
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(stats(f).bounce_in_use, 0);
    dms_dma_request_unref(req);
    dms_sglist_unref(sg);
}

static void test_cancel_between_batches(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x1000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    DmsDmaRequest *req;

    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.async = true;
    assert_int_equal(dms_dma_submit(&p, &req), 0);
    drain(f);
    assert_int_equal(f->dev.io_calls, 1);
    /* The I/O reports from outside the I/O function: a step is queued. */
    assert_int_equal(dms_dma_io_done(f->dev.pending, 0x400, 0), 0);
    assert_int_equal(dms_dma_cancel(req), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ECANCELED);
    assert_int_equal(f->dev.transferred, 0x400);
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(stats(f).bounce_in_use, 0);
    dms_dma_request_unref(req);
    dms_sglist_unref(sg);
}

static void test_cancel_before_first_step(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    DmsDmaRequest *req;

    assert_int_equal(dms_dma_submit(&p, &req), 0);
    assert_int_equal(dms_dma_cancel(req), 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, -ECANCELED);
    assert_int_equal(f->dev.transferred, 0);
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(stats(f).direct_maps, 0);
    dms_dma_request_unref(req);
    dms_sglist_unref(sg);
}

static void test_cancel_from_io_function_then_synchronous_report(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{MSG_BASE, 0x1000}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_FROM_DEVICE);

    dms_space_set_bounce_limit(f->space, 0x400);
    f->dev.cancel_in_io = true;
    run_request(f, &p);
    assert_int_equal(f->dev.cancel_in_io_result, 0);
    assert_int_equal(f->dev.result, -ECANCELED);
    assert_int_equal(f->dev.transferred, 0x400);
    assert_int_equal(f->dev.io_calls, 1);
    assert_int_equal(f->bulk.bytes_written, 0x400);
    dms_sglist_unref(sg);
}

static void test_cancel_after_completion_is_too_late(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
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
    dms_sglist_unref(sg);
}

static void test_io_done_without_io_is_refused(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);
    DmsDmaRequest *req;

    f->dev.async = true;
    assert_int_equal(dms_dma_submit(&p, &req), 0);
    assert_int_equal(dms_dma_io_done(req, 0, 0), -EINVAL);
    drain(f);
    assert_int_equal(dms_dma_io_done(req, 0x100, 0), 0);
    /* A second report for the same batch. */
    assert_int_equal(dms_dma_io_done(req, 0x100, 0), -EINVAL);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, 0);
    assert_int_equal(dms_dma_io_done(req, 0x100, 0), -EINVAL);
    assert_int_equal(f->criticals, 3);
    dms_dma_request_unref(req);
    dms_sglist_unref(sg);
}

/* A positive errno from the I/O function is taken as its negative. */
static void test_positive_error_is_normalised(void **state)
{
    Fix *f = *state;
    static const uint64_t e[][2] = {{RAM_BASE, 0x100}};
    DmsSgList *sg = list_of(f, e, G_N_ELEMENTS(e));
    DmsDmaParams p = params_for(f, sg, DMS_DIR_TO_DEVICE);

    f->dev.fail_at = 0x10;
    f->dev.fail_error = EIO;
    run_request(f, &p);
    assert_int_equal(f->dev.result, -EIO);
    assert_int_equal(f->dev.transferred, 0x10);
    dms_sglist_unref(sg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fix_setup, fix_teardown)
        T(test_ram_list_is_one_batch_without_bounce),
        T(test_ram_list_from_device_fills_memory),
        T(test_message_list_under_small_budget_runs_many_batches),
        T(test_message_list_to_device_reads_each_byte_once),
        T(test_attrs_reach_the_backend),
        T(test_max_iov_splits_batches),
        T(test_empty_list_completes_without_io),
        T(test_align_trims_partial_grant_and_resumes_there),
        T(test_align_waits_for_align_bytes_without_spinning),
        T(test_align_unmaps_whole_pieces_past_the_cut),
        T(test_align_cut_inside_a_piece_rewinds_cursor),
        T(test_align_above_budget_fails_with_enobufs),
        T(test_align_that_max_iov_cannot_hold_fails),
        T(test_io_failing_part_way_writes_back_what_moved),
        T(test_short_io_completes_with_shorter_count),
        T(test_io_claiming_more_than_batch_fails_with_eio),
        T(test_hole_after_data_fails_after_transferring_it),
        T(test_fill_error_of_backend_ends_request),
        T(test_zero_bounce_limit_fails_with_enobufs),
        T(test_bad_params_are_refused_without_completion),
        T(test_list_is_frozen_until_completion),
        T(test_request_outlives_callers_list_reference),
        T(test_partial_grant_goes_to_io_instead_of_waiting),
        T(test_request_waits_for_budget_and_resumes_exactly),
        T(test_limit_dropped_to_zero_ends_a_waiting_request),
        T(test_cancel_while_waiting_for_budget),
        T(test_cancel_when_client_already_fired),
        T(test_cancel_with_io_in_flight_waits_for_the_io),
        T(test_cancel_between_batches),
        T(test_cancel_before_first_step),
        T(test_cancel_from_io_function_then_synchronous_report),
        T(test_cancel_after_completion_is_too_late),
        T(test_io_done_without_io_is_refused),
        T(test_positive_error_is_normalised),
#undef T
    };

    return cmocka_run_group_tests_name("dma-engine", tests, NULL, NULL);
}
