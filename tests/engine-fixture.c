/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixture of the SG engine tests; see engine-fixture.h.
 */
#include "engine-fixture.h"

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

void dev_io(DmsDmaRequest *req, uint64_t offset, const DmsIovec *iov,
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

void dev_complete(DmsDmaRequest *req, uint64_t transferred, int result,
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

int fix_setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    for (size_t i = 0; i < sizeof(f->ram); i++)
        f->ram[i] = (uint8_t)(i * 3 + 1);
    for (size_t i = 0; i < sizeof(f->dev.disk); i++)
        f->dev.disk[i] = (uint8_t)(i * 11 + 2);
    f->bulk = tc_memdev(MSG_SIZE, SEED);
    f->space = tc_space_ram_msg("engine", f->ram, sizeof(f->ram), RAM_BASE,
                                f->bulk, MSG_BASE, 0);
    f->ctx = g_main_context_new();
    f->dev.ctx = f->ctx;
    tc_count_criticals();
    *state = f;
    return 0;
}

void drain(Fix *f)
{
    for (unsigned n = 0; n < 100000; n++) {
        if (!g_main_context_iteration(f->ctx, FALSE))
            return;
    }
    fail_msg("the context never went idle");
}

DmsSpaceStats stats(Fix *f)
{
    DmsSpaceStats s = {.size = sizeof(s)};

    assert_int_equal(dms_space_get_stats(f->space, &s), 0);
    return s;
}

int fix_teardown(void **state)
{
    Fix *f = *state;

    drain(f);
    /* Whatever a test did, nothing may stay lent. */
    assert_int_equal(stats(f).bounce_in_use, 0);
    dms_dma_request_unref(f->req);
    dms_sglist_unref(f->sg);
    dms_space_unref(f->space);
    assert_int_equal(f->bulk->notified, 1);
    tc_memdev_free(f->bulk);
    g_main_context_unref(f->ctx);
    g_free(f);
    return 0;
}

DmsSgList *list_of(Fix *f, const uint64_t (*entries)[2], size_t n)
{
    DmsSgList *sg;

    assert_int_equal(dms_sglist_new(f->space, n, &sg), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dms_sglist_add(sg, entries[i][0], entries[i][1]), 0);
    return sg;
}

static DmsSgList *list_strided(Fix *f, uint64_t base, int64_t stride,
                               uint64_t len, size_t n)
{
    DmsSgList *sg;

    assert_int_equal(dms_sglist_new(f->space, n, &sg), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            dms_sglist_add(sg, base + (uint64_t)(stride * (int64_t)i), len),
            0);
    return sg;
}

DmsDmaParams params_for(Fix *f, DmsSgList *sg, DmsDirection dir)
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

DmsDmaParams params_of(Fix *f, DmsDirection dir, const uint64_t (*entries)[2],
                       size_t n)
{
    assert_null(f->sg);
    f->sg = list_of(f, entries, n);
    return params_for(f, f->sg, dir);
}

DmsDmaParams params_strided(Fix *f, DmsDirection dir, uint64_t base,
                            int64_t stride, uint64_t len, size_t n)
{
    assert_null(f->sg);
    f->sg = list_strided(f, base, stride, len, n);
    return params_for(f, f->sg, dir);
}

DmsDmaRequest *submit(Fix *f, const DmsDmaParams *p)
{
    assert_null(f->req);
    assert_int_equal(dms_dma_submit(p, &f->req), 0);
    return f->req;
}

void run_request(Fix *f, const DmsDmaParams *p)
{
    assert_int_equal(dms_dma_submit(p, NULL), 0);
    /* Nothing runs before the context does. */
    assert_int_equal(f->dev.io_calls, 0);
    assert_int_equal(f->dev.completions, 0);
    drain(f);
    assert_int_equal(f->dev.completions, 1);
    assert_true(f->dev.complete_on_ctx);
}

void gather(Fix *f, DmsSgList *sg, uint8_t *out)
{
    uint64_t residual = 1;

    assert_int_equal(dms_sglist_read(sg, out, (size_t)dms_sglist_get_size(sg),
                                     NULL, &residual),
                     0);
    assert_int_equal(residual, 0);
}

void assert_completed(Fix *f, int result, uint64_t transferred)
{
    assert_int_equal(f->dev.completions, 1);
    assert_int_equal(f->dev.result, result);
    assert_int_equal(f->dev.transferred, transferred);
}

void assert_outcome(Fix *f, int result, uint64_t transferred,
                    unsigned io_calls)
{
    assert_int_equal(f->dev.result, result);
    assert_int_equal(f->dev.transferred, transferred);
    assert_int_equal(f->dev.io_calls, io_calls);
}

void assert_cancelled(Fix *f, uint64_t transferred, unsigned io_calls)
{
    assert_completed(f, -ECANCELED, transferred);
    assert_int_equal(f->dev.io_calls, io_calls);
    assert_int_equal(stats(f).bounce_in_use, 0);
}

void hold_budget(Fix *f, size_t limit, size_t held)
{
    assert_null(f->held);
    dms_space_set_bounce_limit(f->space, limit);
    f->held = tc_map(f->space, MSG_BASE + 0x8000, held, TO, held);
    f->held_len = held;
}

void release_budget(Fix *f)
{
    assert_non_null(f->held);
    assert_int_equal(dms_space_unmap(f->space, f->held, f->held_len, TO, 0),
                     0);
    f->held = NULL;
}
