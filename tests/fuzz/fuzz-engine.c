/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the asynchronous SG engine (dms_dma_submit() and friends)
 * driven by a deterministic fake I/O, against a model.
 *
 * The input lays out a window of holes, RAM, read-only RAM and message
 * regions (world.h; message regions are reached through bounce buffers
 * from a small budget), then is read as a program over up to four
 * requests, each on a GMainContext of its own so that the program, not
 * GLib's dispatch order, decides which request moves: submit a list
 * (entries over anything, either direction, with an alignment and an
 * iovec limit, the I/O reported from inside the I/O call or later), run a
 * request's context, report a batch's I/O (all of it, a short count, an
 * error, more than the batch), cancel (before the first step, with I/O in
 * flight, while waiting for budget, between batches, twice, after the
 * completion), change the bounce limit, try to change a list in use, and
 * report I/O that is not in flight.
 *
 * The model knows each request's list and how far it got. Every batch the
 * I/O function sees must start at the byte the last one ended, fit the
 * iovec limit and the alignment, cover only memory that is there, and
 * (to the device) hold the model's bytes; a bounce buffer from the device
 * starts zeroed. Each completion must come exactly once, with the bytes
 * the I/O reported and the result the model expects (the I/O's error, a
 * short count's 0, -ECANCELED once a cancel was accepted, the mapping
 * error at the first byte the engine could not map). At the end every
 * request is driven to completion, and one that never completes (a lost
 * wake-up, a deadlock on the budget) or budget still lent is a failure.
 * Memory must equal the model whenever no write-back is pending.
 */
#include <errno.h>
#include <string.h>

#include "world.h"

#define MAX_REQS 4
#define MAX_ENTRIES 4
#define MAX_PIECES 64
/* Rounds of the final drain before a request counts as stuck. */
#define DRAIN_ROUNDS 10000

typedef enum ReqModel {
    R_FREE,    /* no request in this slot */
    R_RUNNING, /* submitted, no I/O in flight */
    R_IO,      /* the I/O function has a batch */
    R_DONE,    /* completed */
} ReqModel;

/* A from-device write to a message region, applied at the write-back. */
typedef struct Pending {
    uint64_t addr;
    size_t len;
    uint8_t *bytes;
    struct Pending *next;
} Pending;

typedef struct Engine Engine;

typedef struct Req {
    Engine *e;
    unsigned slot;
    ReqModel state;
    DmsDmaRequest *handle;
    DmsSgList *sg;
    GMainContext *ctx;
    DmsDirection dir;
    uint64_t align;
    unsigned max_iov;
    bool sync_io; /* report from inside the I/O call */
    DmsSgEntry entries[MAX_ENTRIES];
    unsigned nr;
    uint64_t size;
    uint64_t transferred; /* bytes reported, before the current batch */
    bool cancelled;       /* a cancel was accepted */
    int io_result;        /* the error an I/O report ended it with; 1: none */
    unsigned completions;
    /* The batch in flight. */
    uint64_t batch_offset;
    size_t batch_len;
    DmsIovec iov[MAX_PIECES];
    unsigned iovcnt;
    Pending *pending; /* in report order */
    Pending **pending_tail;
} Req;

struct Engine {
    World *w;
    FuzzInput *in;
    Req reqs[MAX_REQS];
    uint32_t seed;
};

/* ---- the list as the model sees it ---- */

/* The address of byte @pos of @r's list, which must be inside it. */
static uint64_t list_addr(const Req *r, uint64_t pos)
{
    for (unsigned i = 0; i < r->nr; i++) {
        if (pos < r->entries[i].len)
            return r->entries[i].addr + pos;
        pos -= r->entries[i].len;
    }
    FUZZ_CHECK(false, "position past the list");
    return 0;
}

/* The error a map of byte @pos of the list would fail with (0: none). */
static int map_error_at(const Req *r, uint64_t pos)
{
    SegKind k = world_kind_at(r->e->w, list_addr(r, pos));

    if (k == SEG_HOLE)
        return -EFAULT;
    if (k == SEG_ROM && r->dir == DMS_DIR_FROM_DEVICE)
        return -EACCES;
    return 0;
}

/*
 * How many bytes max_iov pieces from byte @pos of the list could hold
 * with the whole bounce budget free, as the engine judges before it ends
 * a request with -EINVAL: a piece runs to the end of its entry or of its
 * segment (each segment is a region of its own) and stops at a hole.
 */
static uint64_t pieces_capacity(const Req *r, uint64_t pos)
{
    unsigned max = r->max_iov ? r->max_iov : 1024;
    uint64_t held = 0;

    for (unsigned p = 0; p < max && pos < r->size; p++) {
        uint64_t addr = list_addr(r, pos), run = 1;

        if (world_kind_at(r->e->w, addr) == SEG_HOLE)
            break;
        while (pos + run < r->size && list_addr(r, pos + run) == addr + run &&
               (addr + run - WORLD_BASE) % WORLD_SEG_SIZE != 0 &&
               world_kind_at(r->e->w, addr + run) != SEG_HOLE)
            run++;
        held += run;
        pos += run;
    }
    return held;
}

/* ---- the fake device ---- */

static void apply_pending(Req *r)
{
    while (r->pending) {
        Pending *p = r->pending;

        r->pending = p->next;
        world_model_write(r->e->w, p->addr, p->bytes, p->len);
        g_free(p->bytes);
        g_free(p);
    }
    r->pending_tail = &r->pending;
}

/*
 * The device's side of a batch's I/O: from the device, writes @moved
 * bytes of a pattern into the batch (RAM at once, in the model too; a
 * message region's bytes reach memory at the write-back, so the model
 * takes them then).
 */
static void device_writes(Req *r, size_t moved)
{
    uint64_t pos = r->batch_offset;
    size_t left = MIN(moved, r->batch_len);

    if (r->dir != DMS_DIR_FROM_DEVICE)
        return;
    for (unsigned i = 0; i < r->iovcnt && left > 0; i++) {
        size_t n = MIN(r->iov[i].iov_len, left);

        world_pattern(r->iov[i].iov_base, n, ++r->e->seed);
        /* A piece is one mapping: within one segment, contiguous. */
        for (size_t b = 0; b < n;) {
            uint64_t addr = list_addr(r, pos + b);
            uint64_t seg_end =
                WORLD_BASE +
                ((addr - WORLD_BASE) / WORLD_SEG_SIZE + 1) * WORLD_SEG_SIZE;
            size_t run = (size_t)MIN((uint64_t)(n - b), seg_end - addr);
            const uint8_t *src = (const uint8_t *)r->iov[i].iov_base + b;

            /* Within one entry too: list_addr() is per byte, so cut
             * where the entry ends. */
            for (size_t k = 1; k < run; k++) {
                if (list_addr(r, pos + b + k) != addr + k) {
                    run = k;
                    break;
                }
            }
            if (world_kind_at(r->e->w, addr) == SEG_MSG) {
                Pending *p = g_new0(Pending, 1);

                p->addr = addr;
                p->len = run;
                p->bytes = g_memdup2(src, run);
                *r->pending_tail = p;
                r->pending_tail = &p->next;
            } else {
                world_model_write(r->e->w, addr, src, run);
            }
            b += run;
        }
        pos += n;
        left -= n;
    }
}

/* Chooses a report from the input: moved and error. */
static void pick_report(Req *r, size_t *moved, int *error)
{
    FuzzInput *in = r->e->in;
    uint8_t how = fuzz_u8(in);

    *error = 0;
    switch (how & 7) {
    case 0: /* short */
        *moved = r->batch_len ? fuzz_u16(in) % r->batch_len : 0;
        break;
    case 1: /* an error after part of it */
        *moved = fuzz_u16(in) % (r->batch_len + 1);
        *error = (how & 8) ? -EIO : -ENOSPC;
        break;
    case 2: /* more than the batch: the engine must refuse it */
        *moved = r->batch_len + 1 + fuzz_u8(in);
        break;
    default: /* all of it, mostly */
        *moved = r->batch_len;
        break;
    }
}

/* The model's side of a report: progress, and how it ends the request. */
static void model_report(Req *r, size_t moved, int error)
{
    if (moved > r->batch_len) {
        moved = r->batch_len;
        if (error == 0)
            error = -EIO;
    }
    device_writes(r, moved);
    r->transferred += moved;
    if (error < 0)
        r->io_result = error;
    else if (moved < r->batch_len)
        r->io_result = 0; /* short: the request ends, successfully */
    r->state = R_RUNNING;
}

static void io_func(DmsDmaRequest *req, uint64_t offset, const DmsIovec *iov,
                    unsigned iovcnt, void *data)
{
    Req *r = data;
    size_t total = 0;

    FUZZ_CHECK(req == r->handle, "I/O for another request");
    FUZZ_CHECK(r->state == R_RUNNING, "I/O in state %d", r->state);
    FUZZ_CHECK(offset == r->transferred,
               "batch at %" G_GUINT64_FORMAT ", want %" G_GUINT64_FORMAT,
               offset, r->transferred);
    FUZZ_CHECK(iovcnt >= 1 && iovcnt <= (r->max_iov ? r->max_iov : 1024) &&
                   iovcnt <= MAX_PIECES,
               "%u pieces, limit %u", iovcnt, r->max_iov);
    for (unsigned i = 0; i < iovcnt; i++) {
        FUZZ_CHECK(iov[i].iov_len > 0 && iov[i].iov_base, "empty piece %u", i);
        total += iov[i].iov_len;
        r->iov[i] = iov[i];
    }
    FUZZ_CHECK(total <= r->size - offset, "batch past the list's end");
    FUZZ_CHECK(r->align <= 1 || total % r->align == 0,
               "batch of %zu, align %" G_GUINT64_FORMAT, total, r->align);
    r->iovcnt = iovcnt;
    r->batch_offset = offset;
    r->batch_len = total;

    /* Every byte is there; to the device, it holds the model's data. */
    for (unsigned i = 0, pos = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;

        for (size_t b = 0; b < iov[i].iov_len; b++, pos++) {
            uint64_t addr = list_addr(r, offset + pos);
            uint8_t want;

            FUZZ_CHECK(map_error_at(r, offset + pos) == 0,
                       "batch byte %u at %#" G_GINT64_MODIFIER
                       "x cannot be mapped",
                       pos, addr);
            if (r->dir == DMS_DIR_TO_DEVICE) {
                world_model_read(r->e->w, addr, &want, 1);
                FUZZ_CHECK(p[b] == want, "to-device byte %u differs", pos);
            } else if (world_kind_at(r->e->w, addr) == SEG_MSG) {
                FUZZ_CHECK(p[b] == 0, "from-device bounce byte %u not zero",
                           pos);
            }
        }
    }
    r->state = R_IO;

    if (r->sync_io) {
        size_t moved;
        int error, ret;

        pick_report(r, &moved, &error);
        model_report(r, moved, error);
        ret = dms_dma_io_done(req, moved, error);
        FUZZ_CHECK(ret == 0, "io_done from the I/O call: %d", ret);
    }
}

static void complete_func(DmsDmaRequest *req, uint64_t transferred, int result,
                          void *data)
{
    Req *r = data;
    int want;

    FUZZ_CHECK(req == r->handle, "completion of another request");
    FUZZ_CHECK(++r->completions == 1, "second completion");
    FUZZ_CHECK(r->state == R_RUNNING, "completion in state %d", r->state);
    FUZZ_CHECK(transferred == r->transferred,
               "completion: %" G_GUINT64_FORMAT
               " transferred, want %" G_GUINT64_FORMAT,
               transferred, r->transferred);
    if (r->cancelled) {
        want = -ECANCELED;
    } else if (r->io_result != 1) {
        want = r->io_result;
    } else if (transferred == r->size) {
        want = 0;
    } else {
        /*
         * The engine stopped at a byte it could not map: the first of
         * the next batch, or (aligned) one within the align bytes a
         * batch would need.
         */
        uint64_t span = r->align > 1 ? r->align : 1;
        bool seen = false;

        want = result;
        for (uint64_t i = 0; i < span && transferred + i < r->size; i++) {
            int e = map_error_at(r, transferred + i);

            if (e == result)
                seen = true;
            if (world_kind_at(r->e->w, list_addr(r, transferred + i)) ==
                    SEG_MSG &&
                result == -ENOBUFS)
                seen = true;
        }
        /* Only pieces too short with all the budget free: pieces cut
         * short by budget make the engine wait instead. */
        if (r->align > 1 && result == -EINVAL &&
            pieces_capacity(r, transferred) < r->align)
            seen = true;
        FUZZ_CHECK(seen,
                   "completion at %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   ": %d matches no byte there",
                   transferred, r->size, result);
    }
    FUZZ_CHECK(result == want, "completion: %d, want %d", result, want);
    r->state = R_DONE;
}

/* ---- operations ---- */

static void op_submit(Engine *e, FuzzInput *in)
{
    static const uint64_t aligns[] = {0, 1, 0, 2, 8, 512};
    static const unsigned max_iovs[] = {0, 1, 2, 3, 8, 0};
    uint8_t how = fuzz_u8(in);
    Req *r = &e->reqs[how % MAX_REQS];
    DmsDmaParams p = {.size = sizeof(p)};
    int ret, want = 0;

    if (r->state != R_FREE && r->state != R_DONE)
        return;
    if (r->state == R_DONE) {
        r->handle = dms_dma_request_unref(r->handle);
        dms_sglist_unref(r->sg);
        g_main_context_unref(r->ctx);
    }
    memset(r, 0, sizeof(*r));
    r->e = e;
    r->slot = how % MAX_REQS;
    r->io_result = 1;
    r->pending_tail = &r->pending;
    r->dir = (how & 4) ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE;
    r->sync_io = how & 8;
    r->align = aligns[fuzz_u8(in) % G_N_ELEMENTS(aligns)];
    r->max_iov = max_iovs[fuzz_u8(in) % G_N_ELEMENTS(max_iovs)];
    r->ctx = g_main_context_new();
    ret = dms_sglist_new(e->w->space, 0, &r->sg);
    FUZZ_CHECK(ret == 0, "sglist: %d", ret);
    r->nr = 1 + fuzz_u8(in) % MAX_ENTRIES;
    for (unsigned i = 0; i < r->nr; i++) {
        uint64_t addr = world_pick_addr(in);
        uint64_t len = 1 + fuzz_u16(in) % 3000;

        if (r->align > 1 && (how & 16)) /* whole blocks: often aligned */
            len = r->align * (1 + len % 8);
        r->entries[i] = (DmsSgEntry){addr, len};
        ret = dms_sglist_add(r->sg, addr, len);
        FUZZ_CHECK(ret == 0, "sglist add: %d", ret);
        r->size += len;
    }
    if (r->align > 1 && r->size % r->align != 0)
        want = -EINVAL;

    p.sg = r->sg;
    p.dir = r->dir;
    p.align = r->align;
    p.max_iov = r->max_iov;
    p.ctx = r->ctx;
    p.io = io_func;
    p.complete = complete_func;
    p.data = r;
    r->state = R_RUNNING;
    ret = dms_dma_submit(&p, &r->handle);
    FUZZ_CHECK(ret == want, "submit: %d, want %d", ret, want);
    if (ret < 0) {
        FUZZ_CHECK(r->handle == NULL, "a failed submit sets no handle");
        r->state = R_DONE; /* nothing will come; the slot is reusable */
        r->completions = 1;
    }
}

/* Runs @r's context until nothing is ready, then applies what the
 * write-backs of reported batches have stored. */
static void run_ctx(Req *r)
{
    bool stepped = false;

    for (unsigned i = 0; i < 1000 && g_main_context_iteration(r->ctx, FALSE);
         i++)
        stepped = true;
    /*
     * A reported batch is unmapped by the first step that runs (a report
     * from inside the I/O call, in the same step): whatever was pending
     * has reached memory.
     */
    if (stepped)
        apply_pending(r);
}

/*
 * After its context ran dry, a request is done, has its I/O, or waits for
 * budget: then it was not cancelled (a cancel completes a waiting request
 * on its context) and the budget is really short (some is lent).
 */
static void check_settled(Req *r)
{
    DmsSpaceStats st = {.size = sizeof(st)};

    if (r->state != R_RUNNING)
        return;
    FUZZ_CHECK(!r->cancelled, "request %u cancelled but not completed",
               r->slot);
    FUZZ_CHECK(dms_space_get_stats(r->e->w->space, &st) == 0, "stats");
    FUZZ_CHECK(st.bounce_in_use > 0 || st.bounce_limit == 0 ||
                   st.bounce_limit < r->align,
               "request %u waits with no budget lent (limit %" G_GUINT64_FORMAT
               ")",
               r->slot, st.bounce_limit);
}

static void op_run(Engine *e, FuzzInput *in)
{
    Req *r = &e->reqs[fuzz_u8(in) % MAX_REQS];

    if (r->state != R_FREE) {
        run_ctx(r);
        check_settled(r);
    }
}

static void op_report(Engine *e, FuzzInput *in)
{
    Req *r = &e->reqs[fuzz_u8(in) % MAX_REQS];
    size_t moved;
    int error, ret;

    if (r->state != R_IO)
        return;
    pick_report(r, &moved, &error);
    model_report(r, moved, error);
    ret = dms_dma_io_done(r->handle, moved, error);
    FUZZ_CHECK(ret == 0, "io_done: %d", ret);
}

static void op_cancel(Engine *e, FuzzInput *in)
{
    Req *r = &e->reqs[fuzz_u8(in) % MAX_REQS];
    int ret, want;

    if (r->state == R_FREE || !r->handle)
        return;
    want = r->state == R_DONE || r->cancelled ? -EALREADY : 0;
    ret = dms_dma_cancel(r->handle);
    FUZZ_CHECK(ret == want, "cancel: %d, want %d", ret, want);
    if (ret == 0)
        r->cancelled = true;
}

static void op_limit(Engine *e, FuzzInput *in)
{
    static const size_t limits[] = {0, 1, 64, 512, 4096, 16384};
    uint8_t how = fuzz_u8(in);

    dms_space_set_bounce_limit(
        e->w->space,
        (how & 1) ? fuzz_u16(in) : limits[(how >> 1) % G_N_ELEMENTS(limits)]);
}

/* A list in use refuses changes; a completed one takes them. */
static void op_touch_list(Engine *e, FuzzInput *in)
{
    Req *r = &e->reqs[fuzz_u8(in) % MAX_REQS];
    int ret;

    if (r->state == R_FREE || !r->handle)
        return;
    ret = dms_sglist_add(r->sg, WORLD_BASE, 1);
    FUZZ_CHECK(ret == (r->state == R_DONE ? 0 : -EBUSY), "add to list: %d",
               ret);
    if (ret == 0) {
        /* Keep the model's list as it was: a completed request's list
         * is no longer read. */
        ret = dms_sglist_clear(r->sg);
        FUZZ_CHECK(ret == 0, "clear: %d", ret);
    }
}

/* A report with no I/O in flight is refused with a critical. */
static void op_bad_report(Engine *e, FuzzInput *in)
{
    Req *r = &e->reqs[fuzz_u8(in) % MAX_REQS];
    unsigned before = e->w->criticals;
    int ret;

    if (r->state == R_FREE || r->state == R_IO || !r->handle)
        return;
    ret = dms_dma_io_done(r->handle, 0, 0);
    FUZZ_CHECK(ret == -EINVAL && e->w->criticals == before + 1,
               "io_done without I/O: %d", ret);
    e->w->criticals = before;
}

/* The operations, by input byte modulo their number; one listed twice
 * has twice the weight. */
static void (*const ops[])(Engine *, FuzzInput *) = {
    op_submit, op_run,   op_run,        op_report,     op_report,
    op_cancel, op_limit, op_touch_list, op_bad_report,
};

static bool writes_pending(const Engine *e)
{
    for (unsigned i = 0; i < MAX_REQS; i++)
        if (e->reqs[i].pending)
            return true;
    return false;
}

/* Reports every I/O in full and runs every context until all requests
 * have completed; a request that never does is a failure. */
static void drain(Engine *e)
{
    for (unsigned round = 0;; round++) {
        bool live = false;

        for (unsigned i = 0; i < MAX_REQS; i++) {
            Req *r = &e->reqs[i];

            if (r->state == R_IO) {
                model_report(r, r->batch_len, 0);
                FUZZ_CHECK(dms_dma_io_done(r->handle, r->batch_len, 0) == 0,
                           "drain: io_done");
            }
            if (r->state == R_RUNNING || r->state == R_IO) {
                run_ctx(r);
                live |= r->state != R_DONE;
            }
        }
        if (!live)
            break;
        FUZZ_CHECK(round < DRAIN_ROUNDS, "a request never completes");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = {data, size};
    Engine e = {.w = world_new(&in), .in = &in};
    DmsSpaceStats st = {.size = sizeof(st)};

    /* A small budget, so that message regions make requests wait. */
    dms_space_set_bounce_limit(e.w->space, 256u << (fuzz_u8(&in) % 6));
    while (in.left > 0) {
        ops[fuzz_u8(&in) % G_N_ELEMENTS(ops)](&e, &in);
        if (!writes_pending(&e))
            world_verify(e.w);
    }

    /* Budget that nothing could wait for no more: a limit that fits. */
    dms_space_set_bounce_limit(e.w->space, DMS_BOUNCE_LIMIT_DEFAULT);
    drain(&e);
    world_verify(e.w);
    FUZZ_CHECK(dms_space_get_stats(e.w->space, &st) == 0 &&
                   st.bounce_in_use == 0,
               "%" G_GUINT64_FORMAT " bytes of bounce budget still lent",
               st.bounce_in_use);
    for (unsigned i = 0; i < MAX_REQS; i++) {
        Req *r = &e.reqs[i];

        if (r->state == R_FREE)
            continue;
        FUZZ_CHECK(r->completions == 1, "request %u: %u completions", i,
                   r->completions);
        dms_dma_request_unref(r->handle);
        dms_sglist_unref(r->sg);
        g_main_context_unref(r->ctx);
    }
    FUZZ_CHECK(e.w->criticals == 0, "%u g_critical()s", e.w->criticals);
    world_free(e.w);
    return 0;
}
