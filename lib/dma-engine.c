/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The asynchronous scatter-gather engine: map a list batch by batch, hand
 * each batch to the caller's I/O function, unmap it with what the I/O
 * really moved, and wait for bounce budget without ever holding any.
 *
 * Threads. Everything but dms_dma_submit(), dms_dma_io_done() and
 * dms_dma_cancel() runs on the request's GMainContext, one step at a time:
 * mapping, the I/O call, unmapping, the completion. Those three entry
 * points may be called from any thread; they only change the state under
 * the request's lock and, where the request must move on, make the
 * request's own source ready on the context. So the caller's code is never
 * re-entered from cancel or io_done, and never runs on a thread the caller
 * did not pick. The source lives as long as the request: waking it from
 * another thread allocates nothing, and only sets its ready time.
 *
 * States (doc/sglist.md draws them):
 *   QUEUED       a step is scheduled on the context
 *   RUNNING      a step runs on the context
 *   WAIT_BUDGET  the request holds no mapping; a map client is registered
 *   IO           the I/O function has the batch
 *   DONE         the completion has run or is running
 *
 * Deadlock freedom rests on one rule, applied in run(): a request that
 * holds mappings never waits for budget. If a map fails with -EAGAIN
 * after part of a batch was mapped, the I/O is issued on that part; only
 * a request that holds nothing registers a map client. Every byte of
 * budget is therefore held by a request whose I/O is running or about to,
 * and comes back when that I/O reports, whatever the other requests do.
 */
#include "dms-private.h"
#include "refcount.h"

/* Linux's IOV_MAX: a batch must fit one preadv()/pwritev(). */
#define DEFAULT_MAX_IOV 1024u
#define FIRST_CAPACITY 16u

/* map_batch() stopped because the batch is full, not at an error. */
#define STOP_FULL 1

typedef enum ReqState {
    REQ_QUEUED,
    REQ_RUNNING,
    REQ_WAIT_BUDGET,
    REQ_IO,
    REQ_DONE,
} ReqState;

/* One mapping of the batch, as dms_space_unmap() needs it back. */
typedef struct Piece {
    void *ptr;
    size_t map_len; /* what dms_space_map() returned; iov_len may be less */
    DmsSgCursor at; /* list position of the piece's first byte */
} Piece;

struct DmsDmaRequest {
    atomic_int refcount;

    /* Set by dms_dma_submit(), then read-only. */
    DmsSgList *sg;     /* reference held */
    DmsSpace *space;   /* the list's; its reference keeps it alive */
    GMainContext *ctx; /* reference held */
    GSource *source;   /* our reference; attached to ctx until DONE */
    DmsDirection dir;
    DmsAttrs attrs;
    bool has_attrs;
    uint64_t align;
    unsigned max_iov;
    DmsDmaIoFunc io;
    DmsDmaCompleteFunc complete;
    void *data;

    /*
     * The batch and the progress. Only steps touch these, and steps run
     * one at a time on the context; the lock taken at the start of every
     * step orders them after the I/O thread's dms_dma_io_done().
     */
    DmsSgCursor cursor; /* first byte not yet mapped */
    Piece *pieces;
    DmsIovec *iov; /* what the I/O function sees: trimmed lengths */
    unsigned npieces;
    unsigned capacity;
    size_t batch_len;     /* sum of iov[].iov_len */
    uint64_t transferred; /* bytes done before the current batch */

    GMutex lock; /* guards everything below */
    ReqState state;
    bool cancelled;
    bool in_io_call;  /* the I/O function has not returned yet */
    bool io_reported; /* dms_dma_io_done() came for the current batch */
    size_t io_moved;
    int io_error;
    DmsMapClient *client; /* WAIT_BUDGET only; one reference */
};

static void run(DmsDmaRequest *req);

/* ---- lifetime ---- */

DmsDmaRequest *dms_dma_request_ref(DmsDmaRequest *req)
{
    if (req)
        dms__ref_get(&req->refcount);
    return req;
}

DmsDmaRequest *dms_dma_request_unref(DmsDmaRequest *req)
{
    if (req && dms__ref_put(&req->refcount)) {
        /*
         * The last reference can only go after the completion (the request
         * holds one on itself until then), so no mapping is left here.
         */
        g_source_unref(req->source);
        g_free(req->pieces);
        g_free(req->iov);
        g_mutex_clear(&req->lock);
        dms_sglist_unref(req->sg);
        g_main_context_unref(req->ctx);
        g_free(req);
    }
    return NULL;
}

static void unref_notify(gpointer data)
{
    dms_dma_request_unref(data);
}

static gboolean step_cb(gpointer data);

/*
 * The request's source is ready when its ready time is 0, and goes back
 * to never (-1) as its dispatch starts, before the step takes the lock:
 * a schedule() that comes after that point makes it ready again, one that
 * came before is seen by the step. No wake-up is lost, and several
 * coalesce into one step, which is all they need: a step acts on the
 * state, not on the number of wake-ups.
 */
static gboolean source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    g_source_set_ready_time(source, -1);
    return cb(data);
}

static GSourceFuncs step_source_funcs = {
    .dispatch = source_dispatch,
};

/*
 * Makes the context run a step. Called with the request's lock held, in a
 * state that is not DONE, so the source is still attached. It only takes
 * the context's own lock, which GLib never holds while it calls out.
 */
static void schedule(DmsDmaRequest *req)
{
    g_source_set_ready_time(req->source, 0);
}

/* ---- the batch ---- */

static const DmsAttrs *req_attrs(const DmsDmaRequest *req)
{
    return req->has_attrs ? &req->attrs : NULL;
}

static int grow_pieces(DmsDmaRequest *req)
{
    unsigned cap = req->capacity ? req->capacity * 2 : FIRST_CAPACITY;
    Piece *pieces;
    DmsIovec *iov;

    if (cap > req->max_iov || cap < req->capacity)
        cap = req->max_iov;
    pieces = g_try_renew(Piece, req->pieces, cap);
    if (!pieces)
        return -ENOMEM;
    req->pieces = pieces;
    iov = g_try_renew(DmsIovec, req->iov, cap);
    if (!iov)
        return -ENOMEM;
    req->iov = iov;
    req->capacity = cap;
    return 0;
}

static void unmap_piece(DmsDmaRequest *req, unsigned i, size_t access_len,
                        int *first_err)
{
    int r = dms_space_unmap(req->space, req->pieces[i].ptr,
                            req->pieces[i].map_len, req->dir, access_len);

    if (r < 0 && *first_err == 0)
        *first_err = r;
}

/* Gives back a batch that never reached the I/O function. */
static void release_batch(DmsDmaRequest *req)
{
    int ignored = 0;

    for (unsigned i = 0; i < req->npieces; i++)
        unmap_piece(req, i, 0, &ignored);
    req->npieces = 0;
    req->batch_len = 0;
}

/*
 * Maps from the cursor on, appending pieces, until the list ends (0), the
 * batch is full (STOP_FULL) or a map fails (its error; the pieces mapped
 * before it stay). A partial map is normal: the cursor moves by what was
 * mapped and the next piece starts there, in the same entry.
 */
static int map_batch(DmsDmaRequest *req)
{
    size_t nr = dms_sglist_get_count(req->sg);

    req->npieces = 0;
    req->batch_len = 0;
    while (req->cursor.entry < nr) {
        DmsSgCursor at = req->cursor;
        int r;

        if (req->npieces == req->max_iov || req->batch_len == SIZE_MAX)
            return STOP_FULL;
        if (req->npieces == req->capacity && grow_pieces(req) < 0)
            return req->npieces > 0 ? STOP_FULL : -ENOMEM;

        r = dms__sglist_map_piece(req->sg, &req->cursor,
                                  SIZE_MAX - req->batch_len, req->dir,
                                  req_attrs(req), &req->iov[req->npieces]);
        if (r < 0)
            return r;
        req->pieces[req->npieces] =
            (Piece){req->iov[req->npieces].iov_base,
                    req->iov[req->npieces].iov_len, at};
        req->batch_len += req->iov[req->npieces].iov_len;
        req->npieces++;
    }
    return 0;
}

/*
 * Cuts the batch down to a multiple of align. Pieces wholly past the cut
 * are unmapped now; the piece the cut falls in keeps its mapping (it is
 * unmapped with the batch, with an access_len that never reaches past the
 * cut) and is shortened in the iovec only. The cursor goes back to the
 * first byte cut off, so those bytes are mapped again in the next batch.
 *
 * QEMU's dma_blk_cb() gets both halves wrong: it trims by the size
 * modulo align of the wrong quantity, and drops the trimmed mappings
 * without unmapping them.
 */
static void trim_to_align(DmsDmaRequest *req)
{
    size_t excess = (size_t)((uint64_t)req->batch_len % req->align);
    size_t keep = req->batch_len - excess;
    size_t before = 0;
    unsigned cut;
    int ignored = 0;

    if (excess == 0)
        return;
    for (cut = 0; cut < req->npieces; cut++) {
        if (before + req->iov[cut].iov_len > keep)
            break;
        before += req->iov[cut].iov_len;
    }
    /* Here before <= keep < before + iov[cut].iov_len. */
    req->cursor = req->pieces[cut].at;
    req->cursor.offset += keep - before;

    for (unsigned i = cut + 1; i < req->npieces; i++)
        unmap_piece(req, i, 0, &ignored);
    if (keep == before) {
        unmap_piece(req, cut, 0, &ignored);
        req->npieces = cut;
    } else {
        req->iov[cut].iov_len = keep - before;
        req->npieces = cut + 1;
    }
    req->batch_len = keep;
}

/*
 * Unmaps the batch after its I/O: each piece with the part of @moved that
 * fell into it, so a from-device bounce buffer writes back exactly what
 * the device produced and no zeroes beyond. Returns 0 to go on, 1 when
 * the request is done (a short I/O), or the error that ends it.
 */
static int finish_batch(DmsDmaRequest *req, size_t moved, int error)
{
    size_t remaining, reached = 0;
    int unmap_err = 0;

    if (moved > req->batch_len) {
        g_debug("dma: I/O function moved %zu bytes of a %zu-byte batch", moved,
                req->batch_len);
        moved = req->batch_len;
        if (error == 0)
            error = -EIO;
    }
    remaining = moved;
    for (unsigned i = 0; i < req->npieces; i++) {
        size_t access_len = MIN(req->iov[i].iov_len, remaining);

        remaining -= access_len;
        unmap_piece(req, i, access_len, &unmap_err);
        /* Bytes count as transferred up to the first failed write-back. */
        if (unmap_err == 0)
            reached += access_len;
    }
    req->transferred += reached;
    req->npieces = 0;
    if (error < 0)
        return error;
    if (unmap_err < 0)
        return unmap_err;
    if (moved < req->batch_len)
        return 1;
    return 0;
}

/* ---- the state machine ---- */

/*
 * Ends the request: nothing is mapped any more when the completion runs.
 * A cancellation accepted before the request reached DONE always wins,
 * so dms_dma_cancel() returning 0 means the completion sees -ECANCELED.
 */
static void finish(DmsDmaRequest *req, int result)
{
    release_batch(req);
    dms__sglist_release(req->sg);

    g_mutex_lock(&req->lock);
    if (req->cancelled)
        result = -ECANCELED;
    req->state = REQ_DONE;
    g_mutex_unlock(&req->lock);
    /* Nothing schedules a DONE request: the source can go. */
    g_source_destroy(req->source);

    req->complete(req, req->transferred, result, req->data);
    dms_dma_request_unref(req); /* the request's hold on itself */
}

static void retry_cb(DmsSpace *space, void *data)
{
    DmsDmaRequest *req = data;
    DmsMapClient *client = NULL;

    g_mutex_lock(&req->lock);
    if (req->state == REQ_WAIT_BUDGET) {
        req->state = REQ_RUNNING;
        client = req->client;
        req->client = NULL;
    }
    g_mutex_unlock(&req->lock);

    /*
     * Not waiting any more: a cancellation step claimed the request
     * first. It could not prevent this call, so it left us the reference
     * the registration took.
     */
    if (client) {
        dms_map_client_unref(client);
        run(req);
    }
    dms_dma_request_unref(req);
}

/*
 * Holding nothing, waits for budget. This runs on the context, and the
 * map client's callback is dispatched on the same context, so it cannot
 * run before the state says WAIT_BUDGET below.
 */
static void wait_for_budget(DmsDmaRequest *req, size_t min)
{
    DmsMapClient *client;
    int r;

    r = dms__space_add_map_client_min(req->space, req->ctx, retry_cb,
                                      dms_dma_request_ref(req), NULL, min,
                                      &client);
    if (r < 0) {
        dms_dma_request_unref(req);
        finish(req, r);
        return;
    }

    g_mutex_lock(&req->lock);
    if (!req->cancelled) {
        req->client = client;
        req->state = REQ_WAIT_BUDGET;
        g_mutex_unlock(&req->lock);
        return;
    }
    g_mutex_unlock(&req->lock);

    /* Cancelled while mapping: do not wait after all. */
    if (dms_map_client_cancel(client) == 0)
        dms_dma_request_unref(req);
    dms_map_client_unref(client);
    finish(req, -ECANCELED);
}

/*
 * What max_iov pieces from the cursor could hold if the whole bounce
 * budget were free: each piece runs to the end of its entry or of its
 * region's stretch of the view, as a map does, and only a bounce piece
 * is ever cut short by budget. Bytes that need bounce buffers go to
 * *@bounced, the others to *@direct. Stops at a hole: the map there
 * fails by itself.
 */
static void batch_capacity(DmsDmaRequest *req, uint64_t *direct,
                           uint64_t *bounced)
{
    DmsSgCursor at = req->cursor;
    size_t nr = dms_sglist_get_count(req->sg);

    *direct = 0;
    *bounced = 0;
    for (unsigned i = 0; i < req->max_iov && at.entry < nr; i++) {
        const DmsSgEntry *e = dms_sglist_get_entry(req->sg, at.entry);
        DmsTranslation t;
        int r;

        dms__rcu_read_lock();
        r = dms__space_translate_rcu(req->space, e->addr + at.offset,
                                     e->len - at.offset, &t);
        if (r == 0)
            *(t.region->kind == DMS_KIND_RAM ? direct : bounced) += t.len;
        dms__rcu_read_unlock();
        if (r < 0)
            return;
        at.offset += t.len;
        if (at.offset == e->len) {
            at.entry++;
            at.offset = 0;
        }
    }
}

/*
 * An empty batch, with @stop saying why. Waits for budget if that can
 * help, or ends the request.
 */
static void empty_batch(DmsDmaRequest *req, int stop)
{
    uint64_t direct, bounced;
    size_t limit;

    if (stop == -EAGAIN) {
        /*
         * With align above the limit, a batch that needs bounce buffers
         * could never be cut to a non-empty multiple: fail rather than
         * wait forever.
         */
        if (req->align > 1 &&
            dms_space_get_bounce_limit(req->space) < req->align) {
            finish(req, -ENOBUFS);
            return;
        }
        /*
         * With an alignment, less than align bytes of budget is no use: a
         * batch would be cut to nothing again. Wait for that much, not
         * for the first free byte, or the request would retry in a loop
         * for as long as others hold the rest.
         */
        wait_for_budget(req, req->align > 1 ? (size_t)MIN(req->align, SIZE_MAX)
                                            : 1);
        return;
    }
    if (stop < 0) {
        finish(req, stop);
        return;
    }
    /*
     * STOP_FULL: max_iov pieces did not hold align bytes. If a bounce
     * piece among them was cut short by budget others hold, the same
     * pieces hold more once it comes back: wait, as for -EAGAIN. Only
     * pieces too short with every byte of budget free are an error.
     */
    limit = dms_space_get_bounce_limit(req->space);
    batch_capacity(req, &direct, &bounced);
    if (bounced > 0 && limit > 0 &&
        direct + MIN(bounced, limit) >= req->align) {
        /*
         * With MIN(align, limit) free, the bounce pieces get all they
         * need: the retry makes progress, never a loop of short batches.
         */
        wait_for_budget(req, (size_t)MIN(req->align, (uint64_t)limit));
        return;
    }
    finish(req, direct + bounced >= req->align ? -ENOBUFS : -EINVAL);
}

/*
 * The engine's loop, on the context with the state RUNNING. Returns when
 * the request waits (for budget or for its I/O) or is done.
 */
static void run(DmsDmaRequest *req)
{
    for (;;) {
        bool reported, cancelled;
        size_t moved;
        int error, stop;

        g_mutex_lock(&req->lock);
        reported = req->io_reported;
        req->io_reported = false;
        moved = req->io_moved;
        error = req->io_error;
        g_mutex_unlock(&req->lock);

        if (reported) {
            int r = finish_batch(req, moved, error);

            if (r != 0) {
                finish(req, r < 0 ? r : 0);
                return;
            }
        }

        g_mutex_lock(&req->lock);
        cancelled = req->cancelled;
        g_mutex_unlock(&req->lock);
        if (cancelled) {
            finish(req, -ECANCELED);
            return;
        }
        if (req->cursor.entry == dms_sglist_get_count(req->sg)) {
            finish(req, 0);
            return;
        }

        stop = map_batch(req);
        if (req->align > 1 && req->npieces > 0)
            trim_to_align(req);
        if (req->npieces == 0) {
            empty_batch(req, stop);
            return;
        }
        /*
         * Whatever stopped the mapping (-EAGAIN included), what is held
         * goes to the I/O now: waiting while holding budget is what could
         * deadlock. A map error shows again at the next batch's first
         * byte, after this batch's bytes were transferred.
         */

        g_mutex_lock(&req->lock);
        if (req->cancelled) {
            g_mutex_unlock(&req->lock);
            release_batch(req);
            finish(req, -ECANCELED);
            return;
        }
        req->state = REQ_IO;
        req->in_io_call = true;
        g_mutex_unlock(&req->lock);

        req->io(req, req->transferred, req->iov, req->npieces, req->data);

        /*
         * An I/O function that reported from inside the call continues
         * here, in this loop, rather than through a new step: no
         * recursion, however many batches complete synchronously.
         */
        g_mutex_lock(&req->lock);
        req->in_io_call = false;
        if (!req->io_reported) {
            g_mutex_unlock(&req->lock);
            return;
        }
        req->state = REQ_RUNNING;
        g_mutex_unlock(&req->lock);
    }
}

static gboolean step_cb(gpointer data)
{
    DmsDmaRequest *req = data;
    DmsMapClient *client = NULL;

    g_mutex_lock(&req->lock);
    switch (req->state) {
    case REQ_QUEUED:
        req->state = REQ_RUNNING;
        break;
    case REQ_WAIT_BUDGET:
        /* Only dms_dma_cancel() schedules a step in this state. */
        if (!req->cancelled) {
            g_mutex_unlock(&req->lock);
            return G_SOURCE_CONTINUE;
        }
        req->state = REQ_RUNNING;
        client = req->client;
        req->client = NULL;
        break;
    default:
        /*
         * A cancellation step that lost to the map client, or a wake-up
         * whose work an earlier step already did: nothing to do.
         */
        g_mutex_unlock(&req->lock);
        return G_SOURCE_CONTINUE;
    }
    g_mutex_unlock(&req->lock);

    if (client) {
        /*
         * On the context's thread the callback cannot be running now. If
         * this prevents it, its reference on the request is ours to drop;
         * if it is already past, retry_cb() drops it and finds the request
         * no longer waiting.
         */
        if (dms_map_client_cancel(client) == 0)
            dms_dma_request_unref(req);
        dms_map_client_unref(client);
    }
    run(req);
    /* If the request is done, finish() destroyed the source already. */
    return G_SOURCE_CONTINUE;
}

/* ---- entry points ---- */

int dms_dma_submit(const DmsDmaParams *params, DmsDmaRequest **ret)
{
    DmsDmaParams p = {0};
    DmsDmaRequest *req;

    if (ret)
        *ret = NULL;
    g_return_val_if_fail(params != NULL, -EINVAL);
    g_return_val_if_fail(params->size >= sizeof(DmsDmaParams), -EINVAL);
    memcpy(&p, params, sizeof(p));
    g_return_val_if_fail(p.sg != NULL, -EINVAL);
    g_return_val_if_fail(p.io != NULL && p.complete != NULL, -EINVAL);
    g_return_val_if_fail(
        p.dir == DMS_DIR_TO_DEVICE || p.dir == DMS_DIR_FROM_DEVICE, -EINVAL);
    /* The list comes from a guest: a bad size is an error, not a bug. */
    if (p.align > 1 && dms_sglist_get_size(p.sg) % p.align != 0)
        return -EINVAL;

    req = g_try_new0(DmsDmaRequest, 1);
    if (!req)
        return -ENOMEM;
    /* One for the request itself until it completes, one for @ret. */
    atomic_init(&req->refcount, ret ? 2 : 1);
    req->sg = dms_sglist_ref(p.sg);
    req->space = dms_sglist_get_space(p.sg);
    req->ctx = g_main_context_ref(p.ctx ? p.ctx : g_main_context_default());
    req->dir = p.dir;
    if (p.attrs) {
        req->attrs = *p.attrs;
        req->has_attrs = true;
    }
    req->align = p.align;
    req->max_iov = p.max_iov ? p.max_iov : DEFAULT_MAX_IOV;
    req->io = p.io;
    req->complete = p.complete;
    req->data = p.data;
    g_mutex_init(&req->lock);
    dms__sglist_hold(p.sg);

    /*
     * The step that picks this up starts by taking the lock: releasing it
     * after the setup publishes the fields to the context's thread in a
     * way ThreadSanitizer can see (the idle source hands it over inside
     * GLib, which it cannot).
     */
    req->source = g_source_new(&step_source_funcs, sizeof(GSource));
    g_source_set_priority(req->source, G_PRIORITY_DEFAULT);
    g_source_set_name(req->source, "dms-dma-request");
    g_source_set_callback(req->source, step_cb, dms_dma_request_ref(req),
                          unref_notify);
    /*
     * Before the attach: a thread that runs the context may complete the
     * request before we return, and the completion may look at *ret.
     */
    if (ret)
        *ret = req;
    g_mutex_lock(&req->lock);
    req->state = REQ_QUEUED;
    schedule(req);
    g_source_attach(req->source, req->ctx);
    g_mutex_unlock(&req->lock);
    return 0;
}

int dms_dma_io_done(DmsDmaRequest *req, size_t moved, int error)
{
    g_return_val_if_fail(req != NULL, -EINVAL);
    if (error > 0)
        error = -error;

    /*
     * Once the lock is dropped the context may finish and free the
     * request; this reference keeps it valid until we are out.
     */
    dms_dma_request_ref(req);
    g_mutex_lock(&req->lock);
    if (req->state != REQ_IO || req->io_reported) {
        g_mutex_unlock(&req->lock);
        dms_dma_request_unref(req);
        g_critical("dms_dma_io_done: request %p has no I/O in flight",
                   (void *)req);
        return -EINVAL;
    }
    req->io_reported = true;
    req->io_moved = moved;
    req->io_error = error;
    if (!req->in_io_call) {
        req->state = REQ_QUEUED;
        schedule(req);
    }
    g_mutex_unlock(&req->lock);
    dms_dma_request_unref(req);
    return 0;
}

int dms_dma_cancel(DmsDmaRequest *req)
{
    g_return_val_if_fail(req != NULL, -EINVAL);

    g_mutex_lock(&req->lock);
    if (req->state == REQ_DONE || req->cancelled) {
        g_mutex_unlock(&req->lock);
        return -EALREADY;
    }
    req->cancelled = true;
    /*
     * Every other state reaches a step on its own (QUEUED, RUNNING) or
     * when the I/O reports (IO). A waiting request would sleep until
     * budget frees: wake it on its context, where cancelling the map
     * client cannot wait on a callback running elsewhere.
     */
    if (req->state == REQ_WAIT_BUDGET)
        schedule(req);
    g_mutex_unlock(&req->lock);
    return 0;
}
