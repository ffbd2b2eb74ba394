/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine under contention: 16 requests of 64 KiB each over message
 * regions share a 4 KiB bounce budget, their I/O done by worker threads
 * that report from there, while another thread takes bounce buffers of
 * its own and one more submits and cancels requests. Every request must
 * complete exactly once with the right bytes, and the budget must be back
 * to zero at the end. Bounded by rounds, not time; run under TSan.
 */
#include "stress-rounds.h"
#include "tc.h"

#define NREQ 16
#define REQ_SIZE 0x10000u /* 64 KiB */
#define NREGIONS 4
#define REGION_SIZE (REQ_SIZE * NREQ / NREGIONS)
#define REGION_STRIDE 0x100000u
#define NOISE_BASE (REGION_STRIDE * NREGIONS)
#define NOISE_SIZE 0x1000u
#define BUDGET 4096u
#define NWORKERS 2
#define NOISE_MAPS 400

/* TSan and GLib's own locks: see tests/tsan-glib.c. */

/* ---- I/O workers: a queue under a GMutex, reports from the worker ---- */

typedef struct Job {
    DmsDmaRequest *req;
    const DmsIovec *iov;
    unsigned iovcnt;
    uint8_t *disk; /* the request's 64 KiB, at the batch's offset */
    DmsDirection dir;
} Job;

typedef struct Workers {
    GMutex lock;
    GCond cond;
    GQueue jobs; /* of Job * */
    bool stop;
    GThread *threads[NWORKERS];
    atomic_uint batches;
} Workers;

static gpointer worker_main(gpointer data)
{
    Workers *w = data;

    for (;;) {
        Job *job;
        size_t moved = 0;

        g_mutex_lock(&w->lock);
        while (g_queue_is_empty(&w->jobs) && !w->stop)
            g_cond_wait(&w->cond, &w->lock);
        job = g_queue_pop_head(&w->jobs);
        g_mutex_unlock(&w->lock);
        if (!job)
            return NULL;

        for (unsigned i = 0; i < job->iovcnt; i++) {
            if (job->dir == DMS_DIR_TO_DEVICE)
                memcpy(job->disk + moved, job->iov[i].iov_base,
                       job->iov[i].iov_len);
            else
                memcpy(job->iov[i].iov_base, job->disk + moved,
                       job->iov[i].iov_len);
            moved += job->iov[i].iov_len;
        }
        atomic_fetch_add(&w->batches, 1);
        /* From this thread: the request moves on on its context. */
        assert_int_equal(dms_dma_io_done(job->req, moved, 0), 0);
        g_free(job);
    }
}

/* ---- requests ---- */

typedef struct Req {
    struct Stress *s;
    DmsSgList *sg;
    DmsDmaRequest *handle;
    DmsDirection dir;
    uint8_t disk[REQ_SIZE];
    unsigned completions;
    uint64_t transferred;
    int result;
} Req;

typedef struct Stress {
    /* The message regions' memory, then the noise region's. */
    MemDev *dev[NREGIONS + 1];
    DmsSpace *space;
    GMainContext *ctx;
    GMainLoop *loop;
    Workers workers;
    Req req[NREQ];
    unsigned outstanding; /* context thread only */
    atomic_bool done;
} Stress;

static void req_io(DmsDmaRequest *handle, uint64_t offset, const DmsIovec *iov,
                   unsigned iovcnt, void *data)
{
    Req *r = data;
    Workers *w = &r->s->workers;
    Job *job = g_new0(Job, 1);

    assert_true(offset < REQ_SIZE);
    job->req = handle;
    job->iov = iov;
    job->iovcnt = iovcnt;
    job->disk = r->disk + offset;
    job->dir = r->dir;
    g_mutex_lock(&w->lock);
    g_queue_push_tail(&w->jobs, job);
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
}

static void req_complete(DmsDmaRequest *handle, uint64_t transferred,
                         int result, void *data)
{
    Req *r = data;

    r->completions++;
    r->transferred = transferred;
    r->result = result;
    if (--r->s->outstanding == 0)
        g_main_loop_quit(r->s->loop);
}

/*
 * A list over one region: the request's 64 KiB slice cut into pieces of
 * uneven length, listed odd pieces first, so that neither entry sizes
 * nor list order match the budget or the memory layout.
 */
static void build_list(Stress *s, unsigned i, uint32_t seed)
{
    uint64_t base =
        REGION_STRIDE * (i % NREGIONS) + (uint64_t)REQ_SIZE * (i / NREGIONS);
    uint64_t cut[64];
    unsigned n = 0;
    uint64_t at = 0;

    assert_int_equal(dms_sglist_new(s->space, 32, &s->req[i].sg), 0);
    while (at < REQ_SIZE && n < G_N_ELEMENTS(cut) - 1) {
        cut[n++] = at;
        seed = seed * 1103515245u + 12345u;
        /* 512-byte multiples, so that aligned requests are possible. */
        at += 512u * (1 + (seed >> 16) % 16);
    }
    cut[n] = REQ_SIZE;
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned k = pass; k < n; k += 2) {
            uint64_t end = MIN(cut[k + 1], (uint64_t)REQ_SIZE);

            assert_int_equal(
                dms_sglist_add(s->req[i].sg, base + cut[k], end - cut[k]), 0);
        }
    }
    assert_int_equal(dms_sglist_get_size(s->req[i].sg), REQ_SIZE);
}

static void fill_round(Stress *s, unsigned round)
{
    for (unsigned g = 0; g < NREGIONS; g++)
        for (size_t k = 0; k < REGION_SIZE; k++)
            s->dev[g]->mem[k] = (uint8_t)(k * 13 + g * 29 + round * 7);
    for (unsigned i = 0; i < NREQ; i++) {
        Req *r = &s->req[i];

        r->s = s;
        for (size_t k = 0; k < REQ_SIZE; k++)
            r->disk[k] = (uint8_t)(k * 5 + i * 17 + round * 3 + 1);
        r->completions = 0;
        r->transferred = 0;
        r->result = 1;
        r->dir = (i + round) % 2 ? DMS_DIR_TO_DEVICE : DMS_DIR_FROM_DEVICE;
        build_list(s, i, 0x9e3779b9u * (i + 1) + round);
    }
}

static DmsDmaParams params_of(Stress *s, unsigned i)
{
    DmsDmaParams p = {
        .size = sizeof(p),
        .sg = s->req[i].sg,
        .dir = s->req[i].dir,
        .align = i % 4 == 3 ? 512 : 0,
        .max_iov = i % 4 == 2 ? 3 : 0,
        .ctx = s->ctx,
        .io = req_io,
        .complete = req_complete,
        .data = &s->req[i],
    };

    return p;
}

/*
 * The transferred prefix of the list, in memory, equals the same prefix
 * of the disk: the device's bytes reached memory, or memory's the disk.
 */
static void check_request(Stress *s, unsigned i)
{
    Req *r = &s->req[i];
    g_autofree uint8_t *got = g_malloc(REQ_SIZE);
    uint64_t residual;

    assert_int_equal(r->completions, 1);
    if (r->result == 0)
        assert_int_equal(r->transferred, REQ_SIZE);
    else
        assert_int_equal(r->result, -ECANCELED);
    assert_true(r->transferred <= REQ_SIZE);
    assert_int_equal(dms_sglist_read(r->sg, got, REQ_SIZE, NULL, &residual),
                     0);
    assert_memory_equal(got, r->disk, (size_t)r->transferred);
    r->sg = dms_sglist_unref(r->sg);
    r->handle = dms_dma_request_unref(r->handle);
}

/* ---- the other threads ---- */

static void noise_ready(DmsSpace *space, void *data)
{
    atomic_store((atomic_bool *)data, true);
}

/*
 * Competes for the same budget from another thread: short bounce maps,
 * and map clients without a context, fired by the engine's unmaps.
 */
static gpointer noise_main(gpointer data)
{
    Stress *s = data;

    for (unsigned n = 0;
         n < dms_stress_rounds(NOISE_MAPS) && !atomic_load(&s->done); n++) {
        size_t len = 512;
        void *ptr;
        int r = dms_space_map(s->space, NOISE_BASE + (n % 8) * 512, &len,
                              DMS_DIR_TO_DEVICE, NULL, &ptr);

        if (r == -EAGAIN) {
            atomic_bool ready = false;
            DmsMapClient *c;

            assert_int_equal(dms_space_add_map_client(s->space, NULL,
                                                      noise_ready, &ready,
                                                      NULL, &c),
                             0);
            while (!atomic_load(&ready) && !atomic_load(&s->done))
                g_thread_yield();
            dms_map_client_cancel(c);
            dms_map_client_unref(c);
            continue;
        }
        assert_int_equal(r, 0);
        assert_true(len >= 1 && len <= 512);
        assert_memory_equal(ptr, s->dev[NREGIONS]->mem + (n % 8) * 512, len);
        assert_int_equal(
            dms_space_unmap(s->space, ptr, len, DMS_DIR_TO_DEVICE, 0), 0);
    }
    return NULL;
}

/*
 * Submits requests 1.. from this thread and cancels every third, at
 * whatever state each has reached by then.
 */
static gpointer submitter_main(gpointer data)
{
    Stress *s = data;

    for (unsigned i = 1; i < NREQ; i++) {
        DmsDmaParams p = params_of(s, i);

        assert_int_equal(dms_dma_submit(&p, &s->req[i].handle), 0);
    }
    for (unsigned i = 3; i < NREQ; i += 3) {
        int r;

        for (unsigned k = 0; k < i * 50; k++)
            g_thread_yield();
        /* 0, or -EALREADY if it finished first. */
        r = dms_dma_cancel(s->req[i].handle);
        assert_true(r == 0 || r == -EALREADY);
    }
    return NULL;
}

/* ---- setup ---- */

static int stress_setup(void **state)
{
    Stress *s = g_new0(Stress, 1);
    LayoutPiece pieces[NREGIONS + 2] = {{.kind = LAYOUT_END}};

    for (unsigned g = 0; g <= NREGIONS; g++) {
        /* Many threads: devices that keep only counters. */
        assert_int_equal(memdev_new(g < NREGIONS ? REGION_SIZE : NOISE_SIZE,
                                    MEMDEV_THREADS, &s->dev[g]),
                         0);
        pieces[g] = (LayoutPiece){.kind = LAYOUT_MESSAGE,
                                  .addr = (uint64_t)REGION_STRIDE * g,
                                  .dev = s->dev[g]};
    }
    for (size_t k = 0; k < NOISE_SIZE; k++)
        s->dev[NREGIONS]->mem[k] = (uint8_t)(k ^ 0x5a);
    s->space = tc_space("stress", pieces, 0, NULL);
    dms_space_set_bounce_limit(s->space, BUDGET);
    s->ctx = g_main_context_new();
    s->loop = g_main_loop_new(s->ctx, FALSE);

    g_mutex_init(&s->workers.lock);
    g_cond_init(&s->workers.cond);
    g_queue_init(&s->workers.jobs);
    for (unsigned t = 0; t < NWORKERS; t++)
        s->workers.threads[t] =
            g_thread_new("dma-worker", worker_main, &s->workers);
    *state = s;
    return 0;
}

static int stress_teardown(void **state)
{
    Stress *s = *state;
    DmsSpaceStats st = {.size = sizeof(st)};

    g_mutex_lock(&s->workers.lock);
    s->workers.stop = true;
    g_cond_broadcast(&s->workers.cond);
    g_mutex_unlock(&s->workers.lock);
    for (unsigned t = 0; t < NWORKERS; t++)
        g_thread_join(s->workers.threads[t]);

    assert_int_equal(dms_space_get_stats(s->space, &st), 0);
    assert_int_equal(st.bounce_in_use, 0);
    assert_true(st.bounce_high_water <= BUDGET);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->ctx);
    dms_space_unref(s->space);
    for (unsigned g = 0; g <= NREGIONS; g++)
        tc_memdev_free(s->dev[g]);
    g_mutex_clear(&s->workers.lock);
    g_cond_clear(&s->workers.cond);
    g_free(s);
    return 0;
}

/* ---- tests ---- */

static void test_sixteen_requests_share_a_4k_budget(void **state)
{
    Stress *s = *state;
    GThread *noise;

    for (unsigned round = 0; round < 3; round++) {
        fill_round(s, round);
        atomic_store(&s->done, false);
        s->outstanding = NREQ;
        for (unsigned i = 0; i < NREQ; i++) {
            DmsDmaParams p = params_of(s, i);

            assert_int_equal(dms_dma_submit(&p, NULL), 0);
        }
        noise = g_thread_new("noise", noise_main, s);
        g_main_loop_run(s->loop);
        atomic_store(&s->done, true);
        g_thread_join(noise);

        for (unsigned i = 0; i < NREQ; i++) {
            assert_int_equal(s->req[i].result, 0);
            check_request(s, i);
        }
    }
    /* 3 rounds x 16 x 64 KiB through 4 KiB: many batches each. */
    assert_true(atomic_load(&s->workers.batches) >= 3 * NREQ * 16);
}

static void test_cancels_from_another_thread_complete_once(void **state)
{
    Stress *s = *state;
    GThread *submitter, *noise;
    DmsDmaParams p;
    unsigned cancelled = 0;

    for (unsigned round = 0; round < 3; round++) {
        fill_round(s, round + 10);
        atomic_store(&s->done, false);
        s->outstanding = NREQ;
        noise = g_thread_new("noise", noise_main, s);
        /* Request 0 is cancelled before the context ever runs it. */
        p = params_of(s, 0);
        assert_int_equal(dms_dma_submit(&p, &s->req[0].handle), 0);
        assert_int_equal(dms_dma_cancel(s->req[0].handle), 0);
        submitter = g_thread_new("submitter", submitter_main, s);
        g_main_loop_run(s->loop);
        g_thread_join(submitter);
        atomic_store(&s->done, true);
        g_thread_join(noise);

        assert_int_equal(s->req[0].result, -ECANCELED);
        assert_int_equal(s->req[0].transferred, 0);
        for (unsigned i = 0; i < NREQ; i++) {
            if (s->req[i].result == -ECANCELED) {
                assert_int_equal(i % 3, 0);
                cancelled++;
            }
            check_request(s, i);
        }
    }
    assert_true(cancelled >= 3);
}

/* ---- the handle, with the context run by another thread ---- */

#define NHANDLES 400

typedef struct HandleCheck HandleCheck;

typedef struct Owner {
    HandleCheck *hc;
    DmsDmaRequest *handle; /* where dms_dma_submit() puts it */
} Owner;

struct HandleCheck {
    Owner owner[NHANDLES];
    atomic_uint completed;
    atomic_uint mismatched;
};

static void handle_io(DmsDmaRequest *handle, uint64_t offset,
                      const DmsIovec *iov, unsigned iovcnt, void *data)
{
    fail_msg("an empty list has no I/O");
}

/*
 * A device model keeps the handle in its request structure and looks at
 * it in the completion: it must be there by then.
 */
static void handle_complete(DmsDmaRequest *handle, uint64_t transferred,
                            int result, void *data)
{
    Owner *o = data;

    if (o->handle != handle)
        atomic_fetch_add(&o->hc->mismatched, 1);
    atomic_fetch_add(&o->hc->completed, 1);
}

static gpointer loop_main(gpointer data)
{
    g_main_loop_run(data);
    return NULL;
}

static void test_handle_is_stored_before_another_thread_completes(void **state)
{
    Stress *s = *state;
    HandleCheck *hc = g_new0(HandleCheck, 1);
    DmsSgList *sg;
    GThread *loop;

    assert_int_equal(dms_sglist_new(s->space, 0, &sg), 0);
    loop = g_thread_new("dma-context", loop_main, s->loop);
    for (unsigned i = 0; i < NHANDLES; i++) {
        DmsDmaParams p = {
            .size = sizeof(p),
            .sg = sg,
            .dir = DMS_DIR_TO_DEVICE,
            .ctx = s->ctx,
            .io = handle_io,
            .complete = handle_complete,
            .data = &hc->owner[i],
        };

        hc->owner[i].hc = hc;
        assert_int_equal(dms_dma_submit(&p, &hc->owner[i].handle), 0);
    }
    while (atomic_load(&hc->completed) < NHANDLES)
        g_thread_yield();
    g_main_loop_quit(s->loop);
    g_thread_join(loop);
    assert_int_equal(atomic_load(&hc->mismatched), 0);
    for (unsigned i = 0; i < NHANDLES; i++)
        dms_dma_request_unref(hc->owner[i].handle);
    dms_sglist_unref(sg);
    g_free(hc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sixteen_requests_share_a_4k_budget, stress_setup,
            stress_teardown),
        cmocka_unit_test_setup_teardown(
            test_cancels_from_another_thread_complete_once, stress_setup,
            stress_teardown),
        cmocka_unit_test_setup_teardown(
            test_handle_is_stored_before_another_thread_completes,
            stress_setup, stress_teardown),
    };

    return cmocka_run_group_tests_name("dma-stress", tests, NULL, NULL);
}
