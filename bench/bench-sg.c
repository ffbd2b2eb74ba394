/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scatter-gather read through message regions under a small bounce
 * budget (issue 6), driven by the asynchronous engine of dma-engine.h.
 *
 * A 64 KiB list of 16 scattered 4 KiB entries, alternating between two
 * message regions (in-process memcpy backends, so that the figure is the
 * engine's and the bounce path's work, not a transport's). The device
 * reads memory (DMS_DIR_TO_DEVICE) and its I/O function copies each batch
 * into a linear buffer, as a pwritev() to a disk image would.
 *
 *   budget-4k        one request, 4 KiB of bounce budget: 16 batches,
 *                    each mapped after the previous one is unmapped
 *   budget-1m        one request, the default 1 MiB budget: one batch
 *   budget-4k-async  as budget-4k, with an I/O function that reports the
 *                    end of each batch from the next main loop iteration,
 *                    as an asynchronous disk write does
 *   budget-4k-async-x4  four such requests at once sharing 4 KiB: while
 *                    one batch's I/O runs, the others wait for budget on
 *                    map clients
 *
 * With I/O that ends inside the I/O function, the batch is unmapped
 * before any other request runs, so no request ever waits for budget:
 * the async modes are the ones that exercise the map-client path.
 *
 * Baseline: dms_sglist_read() of the same list into a linear buffer, the
 * synchronous copy with no mapping at all.
 */
#include <string.h>

#include "bench.h"
#include "layout.h"
#include "memdev.h"

#define SG_ENTRIES 16
#define SG_ENTRY_SIZE 4096
#define SG_SIZE (SG_ENTRIES * SG_ENTRY_SIZE)
#define SG_REGION_SIZE (1u << 20)
#define SG_REGION_BASE UINT64_C(0x40000000)
#define SG_REQUESTS 4

typedef struct SgRequest {
    DmsSgList *sg;
    uint8_t *disk; /* where the "device" puts what it read */
    GMainContext *ctx;
    bool async;              /* end the I/O from the main loop */
    DmsDmaRequest *inflight; /* the batch whose I/O is "running" */
    size_t moved;
    uint64_t transferred;
    int result;
    bool done;
} SgRequest;

typedef struct Sg {
    DmsSpace *space;
    MemDev *mem[2]; /* quiet: they only copy */
    GMainContext *ctx;
    SgRequest req[SG_REQUESTS];
    unsigned requests; /* at once, per operation */
    unsigned pending;
} Sg;

static gboolean sg_io_finish(gpointer data)
{
    SgRequest *r = data;
    DmsDmaRequest *dreq = r->inflight;

    r->inflight = NULL;
    if (dms_dma_io_done(dreq, r->moved, 0))
        bench_fail("sg: dms_dma_io_done() refused a batch");
    return G_SOURCE_REMOVE;
}

/*
 * The device's I/O: consume the batch now; report its end at once, or
 * (async) from the next main loop iteration, as an asynchronous disk
 * write would. Meanwhile the batch's bounce buffers stay lent, so other
 * requests under a small budget have to wait for them on a map client.
 */
static void sg_io(DmsDmaRequest *dreq, uint64_t offset, const DmsIovec *iov,
                  unsigned iovcnt, void *data)
{
    SgRequest *r = data;
    GSource *source;

    r->moved = 0;
    for (unsigned i = 0; i < iovcnt; i++) {
        memcpy(r->disk + offset + r->moved, iov[i].iov_base, iov[i].iov_len);
        r->moved += iov[i].iov_len;
    }
    r->inflight = dreq;
    if (!r->async) {
        sg_io_finish(r);
        return;
    }
    source = g_idle_source_new();
    g_source_set_callback(source, sg_io_finish, r, NULL);
    g_source_attach(source, r->ctx);
    g_source_unref(source);
}

static Sg *sg_current; /* the completion has only the request's data */

static void sg_complete(DmsDmaRequest *dreq, uint64_t transferred, int result,
                        void *data)
{
    SgRequest *r = data;

    r->transferred = transferred;
    r->result = result;
    r->done = true;
    sg_current->pending--;
}

static void sg_engine(void *opaque, uint64_t iters)
{
    Sg *s = opaque;

    sg_current = s;
    for (uint64_t i = 0; i < iters; i++) {
        s->pending = s->requests;
        for (unsigned k = 0; k < s->requests; k++) {
            DmsDmaParams params = {
                .size = sizeof(params),
                .sg = s->req[k].sg,
                .dir = DMS_DIR_TO_DEVICE,
                .ctx = s->ctx,
                .io = sg_io,
                .complete = sg_complete,
                .data = &s->req[k],
            };

            s->req[k].done = false;
            bench_check(dms_dma_submit(&params, NULL), "dms_dma_submit");
        }
        while (s->pending > 0)
            g_main_context_iteration(s->ctx, TRUE);
        for (unsigned k = 0; k < s->requests; k++) {
            if (s->req[k].result != 0 || s->req[k].transferred != SG_SIZE)
                bench_fail("sg: request moved %" G_GUINT64_FORMAT
                           " bytes, result %d",
                           s->req[k].transferred, s->req[k].result);
        }
    }
}

static void sg_copy(void *opaque, uint64_t iters)
{
    Sg *s = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        uint64_t residual;

        if (dms_sglist_read(s->req[0].sg, s->req[0].disk, SG_SIZE, NULL,
                            &residual) ||
            residual != 0)
            bench_fail("sg: dms_sglist_read() failed");
        bench_use(s->req[0].disk);
    }
}

static void sg_setup(Sg *s)
{
    for (int m = 0; m < 2; m++) {
        bench_check(memdev_new(SG_REGION_SIZE, MEMDEV_QUIET, &s->mem[m]),
                    "memdev_new");
        for (size_t i = 0; i < SG_REGION_SIZE; i++)
            s->mem[m]->mem[i] = (uint8_t)(i * 3 + m);
    }
    bench_check(layout_space_new("sg",
                                 (const LayoutPiece[]){
                                     {.kind = LAYOUT_MESSAGE,
                                      .addr = SG_REGION_BASE,
                                      .name = "sg-mem",
                                      .dev = s->mem[0]},
                                     {.kind = LAYOUT_MESSAGE,
                                      .addr = SG_REGION_BASE + SG_REGION_SIZE,
                                      .name = "sg-mem",
                                      .dev = s->mem[1]},
                                     {.kind = LAYOUT_END},
                                 },
                                 0, &s->space, NULL),
                "layout_space_new");
    s->ctx = g_main_context_new();

    /*
     * Entry e: every other 4 KiB page of region e % 2, so no two entries
     * are contiguous and each is its own bounce mapping.
     */
    for (int k = 0; k < SG_REQUESTS; k++) {
        bench_check(dms_sglist_new(s->space, SG_ENTRIES, &s->req[k].sg),
                    "dms_sglist_new");
        for (int e = 0; e < SG_ENTRIES; e++) {
            uint64_t addr =
                SG_REGION_BASE + (uint64_t)(e % 2) * SG_REGION_SIZE +
                (uint64_t)(e / 2 + k * SG_ENTRIES) * 2 * SG_ENTRY_SIZE;
            bench_check(dms_sglist_add(s->req[k].sg, addr, SG_ENTRY_SIZE),
                        "dms_sglist_add");
        }
        s->req[k].disk = g_malloc0(SG_SIZE);
        s->req[k].ctx = s->ctx;
    }
}

static void sg_verify(Sg *s)
{
    for (unsigned k = 0; k < s->requests; k++) {
        for (int e = 0; e < SG_ENTRIES; e++) {
            const DmsSgEntry *entry = dms_sglist_get_entry(s->req[k].sg, e);
            const MemDev *m = s->mem[e % 2];
            uint64_t off = entry->addr - SG_REGION_BASE -
                           (uint64_t)(e % 2) * SG_REGION_SIZE;

            if (memcmp(s->req[k].disk + e * SG_ENTRY_SIZE, m->mem + off,
                       SG_ENTRY_SIZE) != 0)
                bench_fail("sg: request %u entry %d read wrong data", k, e);
        }
        memset(s->req[k].disk, 0, SG_SIZE);
    }
}

static void sg_teardown(Sg *s)
{
    bench_check_idle(s->space, "sg");
    for (int k = 0; k < SG_REQUESTS; k++) {
        dms_sglist_unref(s->req[k].sg);
        g_free(s->req[k].disk);
    }
    /* Nothing may be left for the context: every request completed. */
    while (g_main_context_iteration(s->ctx, FALSE))
        ;
    g_main_context_unref(s->ctx);
    dms_space_unref(s->space);
    for (int m = 0; m < 2; m++)
        memdev_free(s->mem[m]);
}

static const struct {
    const char *mode;
    size_t budget;
    unsigned requests;
    bool async;
} sg_modes[] = {
    {"budget-4k", 4096, 1, false},
    {"budget-1m", 1u << 20, 1, false},
    {"budget-4k-async", 4096, 1, true},
    {"budget-4k-async-x4", 4096, SG_REQUESTS, true},
};

void bench_sg(const BenchOptions *o)
{
    Sg s = {0};

    sg_setup(&s);
    for (size_t i = 0; i < G_N_ELEMENTS(sg_modes); i++) {
        BenchSpec specs[2] = {
            {.fn = sg_engine, .ctx = &s},
            {.fn = sg_copy, .ctx = &s},
        };
        double ns[2];

        dms_space_set_bounce_limit(s.space, sg_modes[i].budget);
        s.requests = sg_modes[i].requests;
        for (unsigned k = 0; k < SG_REQUESTS; k++)
            s.req[k].async = sg_modes[i].async;
        /* One untimed pass, every byte checked. */
        sg_engine(&s, 1);
        sg_verify(&s);

        bench_run(o, specs, 2, ns);
        bench_report(o, &(BenchResult){
                            .bench = "sg-read",
                            .mode = sg_modes[i].mode,
                            .size = SG_SIZE,
                            .ns_per_op = ns[0] / s.requests,
                            .msgs_per_op = -1,
                            .baseline_ns = ns[1],
                            .baseline = "dms_sglist_read",
                        });
    }
    dms_space_set_bounce_limit(s.space, DMS_BOUNCE_LIMIT_DEFAULT);
    sg_teardown(&s);
}
