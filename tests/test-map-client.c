/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Map clients: one-shot retry callbacks when bounce budget frees up. Order,
 * prompt firing, GMainContext dispatch, cancellation in every state, and
 * what happens when the space or the context goes away first.
 */
#include "tc.h"

#include "dms-private.h"

#define LIMIT 4096u

typedef struct Fix {
    /* Its region's notify tells when the space is really gone: only the
     * space's root and view hold it. Many threads may map. */
    MemDev *msg;
    DmsSpace *space;
} Fix;

static int setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    assert_int_equal(memdev_new(0x10000, MEMDEV_THREADS, &f->msg), 0);
    f->space = tc_space_msg("clients", f->msg, 0, LIMIT, NULL, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fix *f = *state;

    if (f->space) {
        DmsSpaceStats st = {.size = sizeof(st)};

        assert_int_equal(dms_space_get_stats(f->space, &st), 0);
        assert_int_equal(st.bounce_in_use, 0);
        dms_space_unref(f->space);
    }
    assert_int_equal(atomic_load(&f->msg->notified), 1);
    tc_memdev_free(f->msg);
    g_free(f);
    return 0;
}

/* Borrows the whole budget. */
static void *exhaust(Fix *f)
{
    size_t len = LIMIT;
    void *p;

    assert_int_equal(dms_space_map(f->space, 0, &len, TO, NULL, &p), 0);
    assert_int_equal(len, LIMIT);
    return p;
}

static void give_back(Fix *f, void *p)
{
    assert_int_equal(dms_space_unmap(f->space, p, LIMIT, TO, 0), 0);
}

static uint64_t fired(Fix *f)
{
    DmsSpaceStats st = {.size = sizeof(st)};

    assert_int_equal(dms_space_get_stats(f->space, &st), 0);
    return st.map_clients_fired;
}

/* What a callback saw. */
typedef struct Call {
    atomic_int calls;
    DmsSpace *space;
    GThread *thread;
    int *order; /* appends its id here */
    int *norder;
    int id;
    DmsMapClient *handle; /* for callbacks that cancel themselves */
    int cancel_result;
    void *remap; /* for callbacks that map again */
    int remap_result;
    atomic_int over; /* destroy notifies of the client */
    int calls_at_over;
} Call;

/* The client's destroy notify: counts, and notes whether @cb ran first. */
static void record_over(void *data)
{
    Call *c = data;

    c->calls_at_over = atomic_load(&c->calls);
    atomic_fetch_add(&c->over, 1);
}

static void record(DmsSpace *space, void *data)
{
    Call *c = data;

    atomic_fetch_add(&c->calls, 1);
    c->space = space;
    c->thread = g_thread_self();
    if (c->order)
        c->order[(*c->norder)++] = c->id;
}

/*
 * Borrows the whole budget and registers @call's client (its handle in
 * @handle, if not NULL), not yet run.
 */
static void *exhaust_then_wait(Fix *f, Call *call, DmsMapClient **handle)
{
    void *p = exhaust(f);

    assert_int_equal(dms_space_add_map_client(f->space, NULL, record, call,
                                              record_over, handle),
                     0);
    assert_int_equal(call->calls, 0);
    assert_int_equal(call->over, 0);
    return p;
}

static void test_client_fires_once_when_budget_is_freed(void **state)
{
    Fix *f = *state;
    Call call = {0};
    void *p = exhaust_then_wait(f, &call, NULL);

    give_back(f, p);
    /* Called by the freeing thread, with its space, then over. */
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.over, 1);
    assert_int_equal(call.calls_at_over, 1);
    assert_ptr_equal(call.space, f->space);
    assert_ptr_equal(call.thread, g_thread_self());
    assert_int_equal(fired(f), 1);
    /* One-shot. */
    give_back(f, exhaust(f));
    assert_int_equal(call.calls, 1);
    assert_int_equal(fired(f), 1);
}

static void
test_client_registered_while_budget_is_free_fires_at_once(void **state)
{
    Fix *f = *state;
    Call call = {0};
    void *p;

    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, record, &call, NULL, NULL),
        0);
    assert_int_equal(call.calls, 1);
    /* One byte free is free budget too. */
    {
        size_t len = LIMIT - 1;

        assert_int_equal(dms_space_map(f->space, 0, &len, TO, NULL, &p), 0);
        assert_int_equal(dms_space_add_map_client(f->space, NULL, record,
                                                  &call, NULL, NULL),
                         0);
        assert_int_equal(call.calls, 2);
        assert_int_equal(dms_space_unmap(f->space, p, len, TO, 0), 0);
    }
}

/* Nothing could ever free enough budget under a limit of 0: waiters are
 * woken so that their retry reports -ENOBUFS instead of hanging. */
static void test_limit_zero_wakes_waiters_to_see_enobufs(void **state)
{
    Fix *f = *state;
    Call call = {0}, late = {0};
    void *p = exhaust(f), *q;
    size_t len = 16;

    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, record, &call, NULL, NULL),
        0);
    assert_int_equal(call.calls, 0);
    dms_space_set_bounce_limit(f->space, 0);
    assert_int_equal(call.calls, 1);
    assert_int_equal(dms_space_map(f->space, 0, &len, TO, NULL, &q), -ENOBUFS);
    assert_int_equal(len, 0);
    /* registering under a limit of 0 fires at once as well */
    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, record, &late, NULL, NULL),
        0);
    assert_int_equal(late.calls, 1);
    dms_space_set_bounce_limit(f->space, LIMIT);
    give_back(f, p);
}

/* The engine's waiter with a minimum: it stays queued until that much
 * budget is free, while plain clients behind it still fire. */
static void test_client_with_a_minimum_waits_for_that_much(void **state)
{
    Fix *f = *state;
    Call big = {0}, small = {0};
    size_t len = LIMIT;
    void *p, *q;

    assert_int_equal(dms_space_map(f->space, 0, &len, TO, NULL, &p), 0);
    assert_int_equal(dms__space_add_map_client_min(
                         f->space, NULL, record, &big, NULL, LIMIT / 2, NULL),
                     0);
    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, record, &small, NULL, NULL),
        0);
    /* Everything comes back: both fire. */
    assert_int_equal(dms_space_unmap(f->space, p, LIMIT, TO, 0), 0);
    assert_int_equal(small.calls, 1);
    assert_int_equal(big.calls, 1);
    len = LIMIT - LIMIT / 4;
    assert_int_equal(dms_space_map(f->space, 0, &len, TO, NULL, &p), 0);

    /* Again, with a quarter free from the start. */
    big = (Call){0};
    small = (Call){0};
    assert_int_equal(dms__space_add_map_client_min(
                         f->space, NULL, record, &big, NULL, LIMIT / 2, NULL),
                     0);
    assert_int_equal(big.calls, 0);
    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, record, &small, NULL, NULL),
        0);
    assert_int_equal(small.calls, 1);
    assert_int_equal(big.calls, 0);
    /* Another eighth frees: still short of half. */
    len = LIMIT / 8;
    assert_int_equal(dms_space_map(f->space, 0x8000, &len, TO, NULL, &q), 0);
    assert_int_equal(dms_space_unmap(f->space, q, LIMIT / 8, TO, 0), 0);
    assert_int_equal(big.calls, 0);
    assert_int_equal(dms_space_unmap(f->space, p, LIMIT - LIMIT / 4, TO, 0),
                     0);
    assert_int_equal(big.calls, 1);
    /* A minimum above the limit is met by the whole limit being free. */
    big = (Call){0};
    assert_int_equal(dms__space_add_map_client_min(
                         f->space, NULL, record, &big, NULL, LIMIT * 4, NULL),
                     0);
    assert_int_equal(big.calls, 1);
}

static void test_clients_fire_in_registration_order(void **state)
{
    Fix *f = *state;
    int order[4], norder = 0;
    Call calls[4];
    void *p = exhaust(f);

    for (int i = 0; i < 4; i++) {
        calls[i] = (Call){.order = order, .norder = &norder, .id = i};
        assert_int_equal(dms_space_add_map_client(f->space, NULL, record,
                                                  &calls[i], NULL, NULL),
                         0);
    }
    give_back(f, p);
    assert_int_equal(norder, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(order[i], i);
    assert_int_equal(fired(f), 4);
}

static void remap(DmsSpace *space, void *data)
{
    Call *c = data;
    size_t len = LIMIT;

    atomic_fetch_add(&c->calls, 1);
    c->remap_result = dms_space_map(space, 0, &len, TO, NULL, &c->remap);
}

static void test_callback_may_map_again(void **state)
{
    Fix *f = *state;
    Call first = {0}, second = {0};
    void *p = exhaust(f);

    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, remap, &first, NULL, NULL),
        0);
    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, remap, &second, NULL, NULL),
        0);
    give_back(f, p);
    /* Both were told; the oldest got the budget, the other must wait. */
    assert_int_equal(first.calls, 1);
    assert_int_equal(first.remap_result, 0);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.remap_result, -EAGAIN);
    give_back(f, first.remap);
}

static void test_cancel_before_firing_prevents_the_callback(void **state)
{
    Fix *f = *state;
    Call call = {0};
    DmsMapClient *h;
    void *p = exhaust_then_wait(f, &call, &h);

    assert_non_null(h);
    assert_int_equal(dms_map_client_cancel(h), 0);
    assert_int_equal(call.over, 1); /* over at the cancel, once */
    assert_int_equal(dms_map_client_cancel(h), 0); /* still prevented */
    give_back(f, p);
    assert_int_equal(call.calls, 0);
    assert_int_equal(call.over, 1);
    assert_int_equal(fired(f), 0);
    dms_map_client_unref(h);
}

static void test_cancel_after_firing_returns_ealready(void **state)
{
    Fix *f = *state;
    Call call = {0};
    DmsMapClient *h;
    void *p = exhaust_then_wait(f, &call, &h);

    give_back(f, p);
    assert_int_equal(call.calls, 1);
    assert_int_equal(dms_map_client_cancel(h), -EALREADY);
    dms_map_client_unref(h);
}

static void cancel_self(DmsSpace *space, void *data)
{
    Call *c = data;

    atomic_fetch_add(&c->calls, 1);
    c->cancel_result = dms_map_client_cancel(c->handle);
}

static void test_cancel_from_the_callback_returns_ealready(void **state)
{
    Fix *f = *state;
    Call call = {0};
    void *p = exhaust(f);

    assert_int_equal(dms_space_add_map_client(f->space, NULL, cancel_self,
                                              &call, NULL, &call.handle),
                     0);
    give_back(f, p);
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.cancel_result, -EALREADY);
    dms_map_client_unref(call.handle);
}

static void test_handle_unref_does_not_cancel(void **state)
{
    Fix *f = *state;
    Call call = {0};
    DmsMapClient *h;
    void *p = exhaust_then_wait(f, &call, &h);

    assert_ptr_equal(dms_map_client_ref(h), h);
    dms_map_client_unref(h);
    assert_null(dms_map_client_unref(h));
    give_back(f, p);
    assert_int_equal(call.calls, 1);
}

static void test_raising_the_limit_wakes_clients(void **state)
{
    Fix *f = *state;
    Call call = {0};
    void *p = exhaust_then_wait(f, &call, NULL);

    dms_space_set_bounce_limit(f->space, LIMIT); /* not a raise */
    assert_int_equal(call.calls, 0);
    dms_space_set_bounce_limit(f->space, LIMIT - 1); /* a cut */
    assert_int_equal(call.calls, 0);
    dms_space_set_bounce_limit(f->space, LIMIT + 1);
    assert_int_equal(call.calls, 1);
    give_back(f, p);
}

static void test_add_map_client_rejects_bad_arguments(void **state)
{
    Fix *f = *state;
    DmsMapClient *h = (DmsMapClient *)f;

    assert_int_equal(
        dms_space_add_map_client(NULL, NULL, record, NULL, NULL, &h), -EINVAL);
    assert_null(h);
    h = (DmsMapClient *)f;
    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, NULL, NULL, NULL, &h),
        -EINVAL);
    assert_null(h);
    assert_int_equal(dms_map_client_cancel(NULL), -EINVAL);
    assert_null(dms_map_client_ref(NULL));
    assert_null(dms_map_client_unref(NULL));
}

/* ---- with a GMainContext ---- */

static void test_context_client_runs_on_its_context(void **state)
{
    Fix *f = *state;
    GMainContext *ctx = g_main_context_new();
    Call call = {0}, prompt = {0};
    void *p = exhaust(f);

    assert_int_equal(dms_space_add_map_client(f->space, ctx, record, &call,
                                              record_over, NULL),
                     0);
    give_back(f, p);
    /* Not from the unmap: from the context, when it runs. */
    assert_int_equal(call.calls, 0);
    assert_int_equal(call.over, 0);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.over, 1);
    assert_int_equal(call.calls_at_over, 1);
    assert_ptr_equal(call.space, f->space);
    /* Budget free at registration: promptly, but on the context too. */
    assert_int_equal(
        dms_space_add_map_client(f->space, ctx, record, &prompt, NULL, NULL),
        0);
    assert_int_equal(prompt.calls, 0);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    assert_int_equal(prompt.calls, 1);
    assert_int_equal(call.calls, 1);
    assert_int_equal(fired(f), 2);
    g_main_context_unref(ctx);
}

static void test_cancel_of_a_fired_context_client_prevents_it(void **state)
{
    Fix *f = *state;
    GMainContext *ctx = g_main_context_new();
    Call call = {0};
    DmsMapClient *h;
    void *p = exhaust(f);

    assert_int_equal(dms_space_add_map_client(f->space, ctx, record, &call,
                                              record_over, &h),
                     0);
    give_back(f, p); /* fired: queued on the context */
    assert_int_equal(dms_map_client_cancel(h), 0);
    assert_int_equal(call.over, 1);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    assert_int_equal(call.calls, 0);
    assert_int_equal(call.over, 1);
    assert_int_equal(fired(f), 0);
    dms_map_client_unref(h);
    g_main_context_unref(ctx);
}

typedef struct Slow {
    atomic_int started, cancelling, finished;
} Slow;

static void slow_callback(DmsSpace *space, void *data)
{
    Slow *s = data;

    atomic_store(&s->started, 1);
    while (!atomic_load(&s->cancelling))
        g_usleep(1000);
    /* Give the canceller time to get into the wait it must do. */
    g_usleep(20000);
    atomic_store(&s->finished, 1);
}

typedef struct Loop {
    GMainContext *ctx;
    atomic_int stop;
} Loop;

static gpointer run_context(gpointer data)
{
    Loop *l = data;

    g_main_context_push_thread_default(l->ctx);
    while (!atomic_load(&l->stop))
        g_main_context_iteration(l->ctx, TRUE);
    g_main_context_pop_thread_default(l->ctx);
    return NULL;
}

static gboolean quit(gpointer data)
{
    atomic_store(&((Loop *)data)->stop, 1);
    return G_SOURCE_REMOVE;
}

static void test_cancel_waits_for_a_callback_running_elsewhere(void **state)
{
    Fix *f = *state;
    Loop loop = {.ctx = g_main_context_new()};
    Slow slow = {0};
    DmsMapClient *h;
    GThread *thread;
    void *p = exhaust(f);

    thread = g_thread_new("context", run_context, &loop);
    assert_int_equal(dms_space_add_map_client(f->space, loop.ctx,
                                              slow_callback, &slow, NULL, &h),
                     0);
    give_back(f, p);
    while (!atomic_load(&slow.started))
        g_usleep(1000);
    atomic_store(&slow.cancelling, 1);
    assert_int_equal(dms_map_client_cancel(h), -EALREADY);
    /* When cancel returns, the callback is no longer running. */
    assert_int_equal(atomic_load(&slow.finished), 1);
    dms_map_client_unref(h);

    g_main_context_invoke(loop.ctx, quit, &loop);
    g_thread_join(thread);
    g_main_context_unref(loop.ctx);
}

/* ---- the space or the context goes first ---- */

/*
 * Dropping the last user reference cancels the clients that wait: only
 * the unmaps of live mappings could still free budget, and nobody holds
 * the space to retry a map with it. The mapping keeps the space alive
 * until its unmap, which fires nobody.
 */
static void
test_clients_waiting_when_the_space_is_dropped_are_cancelled(void **state)
{
    Fix *f = *state;
    GMainContext *ctx = g_main_context_new();
    Call a = {0}, b = {0};
    DmsSpace *space = f->space;
    DmsMapClient *hb;
    void *p = exhaust(f);

    assert_int_equal(
        dms_space_add_map_client(space, NULL, record, &a, record_over, NULL),
        0);
    assert_int_equal(
        dms_space_add_map_client(space, ctx, record, &b, record_over, &hb), 0);
    f->space = dms_space_unref(f->space);
    /* Cancelled with the space: their data is released, handle or not. */
    assert_int_equal(a.over, 1);
    assert_int_equal(b.over, 1);
    assert_int_equal(atomic_load(&f->msg->notified), 0); /* the mapping's */
    assert_int_equal(dms_space_unmap(space, p, LIMIT, TO, 0), 0);
    assert_int_equal(atomic_load(&f->msg->notified), 1);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 0);
    assert_int_equal(dms_map_client_cancel(hb), 0); /* already cancelled */
    dms_map_client_unref(hb);
    g_main_context_unref(ctx);
}

static void touch_space(DmsSpace *space, void *data)
{
    Call *c = data;

    atomic_fetch_add(&c->calls, 1);
    /* The space must still be alive here. */
    c->remap_result = (int)dms_space_get_bounce_limit(space);
}

static void
test_fired_context_client_keeps_the_space_until_it_runs(void **state)
{
    Fix *f = *state;
    GMainContext *ctx = g_main_context_new();
    Call call = {0};

    dms_space_set_bounce_limit(f->space, 0);
    assert_int_equal(dms_space_add_map_client(f->space, ctx, touch_space,
                                              &call, NULL, NULL),
                     0);
    dms_space_set_bounce_limit(f->space, 100); /* fired, not yet run */
    f->space = dms_space_unref(f->space);
    assert_int_equal(atomic_load(&f->msg->notified), 0);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    assert_int_equal(call.calls, 1);
    assert_int_equal(call.remap_result, 100);
    assert_int_equal(atomic_load(&f->msg->notified), 1);
    g_main_context_unref(ctx);
}

static void test_context_freed_before_dispatch_cancels_the_client(void **state)
{
    Fix *f = *state;
    GMainContext *ctx = g_main_context_new();
    Call call = {0};
    DmsMapClient *h;

    dms_space_set_bounce_limit(f->space, 0);
    assert_int_equal(dms_space_add_map_client(f->space, ctx, record, &call,
                                              record_over, &h),
                     0);
    dms_space_set_bounce_limit(f->space, 100);
    f->space = dms_space_unref(f->space);
    assert_int_equal(call.over, 0); /* fired: waits on the context */
    /* Nobody will run the context: freeing it ends the client and
     * releases the space it held. */
    g_main_context_unref(ctx);
    assert_int_equal(atomic_load(&f->msg->notified), 1);
    assert_int_equal(call.calls, 0);
    assert_int_equal(call.over, 1);
    assert_int_equal(dms_map_client_cancel(h), 0);
    dms_map_client_unref(h);
}

static void ignore_log(const gchar *domain, GLogLevelFlags level,
                       const gchar *message, gpointer data)
{
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_client_fires_once_when_budget_is_freed),
        T(test_client_registered_while_budget_is_free_fires_at_once),
        T(test_limit_zero_wakes_waiters_to_see_enobufs),
        T(test_client_with_a_minimum_waits_for_that_much),
        T(test_clients_fire_in_registration_order),
        T(test_callback_may_map_again),
        T(test_cancel_before_firing_prevents_the_callback),
        T(test_cancel_after_firing_returns_ealready),
        T(test_cancel_from_the_callback_returns_ealready),
        T(test_handle_unref_does_not_cancel),
        T(test_raising_the_limit_wakes_clients),
        T(test_add_map_client_rejects_bad_arguments),
        T(test_context_client_runs_on_its_context),
        T(test_cancel_of_a_fired_context_client_prevents_it),
        T(test_cancel_waits_for_a_callback_running_elsewhere),
        T(test_clients_waiting_when_the_space_is_dropped_are_cancelled),
        T(test_fired_context_client_keeps_the_space_until_it_runs),
        T(test_context_freed_before_dispatch_cancels_the_client),
#undef T
    };

    g_log_set_handler("dmaspace", G_LOG_LEVEL_CRITICAL, ignore_log, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
