/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Map clients: one-shot callbacks that tell a device model bounce budget
 * has freed up, so that a map that failed with -EAGAIN can be retried.
 *
 * Waiters queue in registration order and are all fired, oldest first,
 * whenever budget is free; they race fairly for it, the oldest first, so
 * a large request is not starved by a stream of small ones (QEMU wakes the
 * newest first). An internal waiter may ask for a minimum (the SG engine
 * with an alignment): it stays queued until that much is free.
 *
 * No wake-up is lost: the budget (budget.c) owns both halves of the
 * protocol, explained once in doc/design.md, "Wake-ups". This file keeps
 * the count of waiters there (dms__bounce_set_waiting(), on every change,
 * under its lock), and a new waiter unstashes what thread caches hold
 * idle before its first look at the room. Whoever frees budget is told to
 * wake and calls dms__map_clients_notify(); the firing re-checks the room
 * under the lock.
 *
 * Life cycle of a client (state under DmsMapClients.lock):
 *   WAITING -> FIRED -> RUNNING -> DONE
 *   WAITING or FIRED -> CANCELLED (cancel, space freed, context gone)
 * Whoever moves a client to DONE or CANCELLED, once, under the lock,
 * calls its destroy notify after dropping the lock: exactly once.
 * A WAITING client is referenced by the queue and holds no space
 * reference: the space's end cancels it. A FIRED client's dispatch (the
 * idle source on its context, or the firing thread's batch) holds a space
 * reference until the callback returns or the source is destroyed.
 */
#include "bounce.h"
#include "refcount.h"
#include "trace.h"

typedef enum ClientState {
    CLIENT_WAITING,
    CLIENT_FIRED,
    CLIENT_RUNNING,
    CLIENT_DONE,
    CLIENT_CANCELLED,
} ClientState;

struct DmsMapClients {
    /* The space's reference, plus one per client that points here. */
    atomic_int refcount;
    GMutex lock;
    GCond finished; /* a callback went from RUNNING to DONE */
    /*
     * Cancellers blocked on finished, under the lock: glib's broadcast is
     * a futex system call even with nobody waiting, and this is the
     * common case after every callback.
     */
    unsigned cancellers_waiting;
    GQueue waiting; /* of DmsMapClient, oldest first; refs held */
    /* The space's; valid while any client waits. */
    DmsSpace *space;
    DmsBounce *bounce;
    DmsSpace *(*space_ref)(DmsSpace *);
    DmsSpace *(*space_unref)(DmsSpace *);
};

struct DmsMapClient {
    atomic_int refcount;
    DmsMapClients *owner;      /* reference held; outlives the space */
    DmsSpace *space;           /* under the lock; see the life cycle above */
    struct _GMainContext *ctx; /* WAITING: reference held, or NULL */
    DmsMapClientFunc cb;
    void *data;
    DmsDestroyNotify notify; /* for data, once DONE or CANCELLED */
    size_t min_room; /* fire once this much budget is free (1 or more) */
    bool internal;   /* the SG engine's: counted apart from the users' */
    /* under owner->lock */
    ClientState state;
    const void *runner; /* RUNNING: the thread's marker */
    GSource *source;    /* FIRED on a context: our reference */
    GList link;         /* in owner->waiting while WAITING */
};

/*
 * Held while a fired client's source is attached, and taken once by the
 * context thread before it touches the client. GLib orders the two
 * already, but with its own locks, which ThreadSanitizer cannot see (see
 * tests/tsan-glib.c); this one it can. Uncontended but for that moment.
 */
static GMutex handoff_lock;

static void handoff_wait(void)
{
    g_mutex_lock(&handoff_lock);
    g_mutex_unlock(&handoff_lock);
}

/* Called by whoever moved @c to DONE or CANCELLED, without the lock. */
static void client_over(DmsMapClient *c)
{
    if (c->notify)
        c->notify(c->data);
}

/* One per thread: tells "the callback is running on me". */
static DMS_THREAD_LOCAL char thread_marker;

static DmsMapClients *clients_ref(DmsMapClients *cs)
{
    dms__ref_get(&cs->refcount);
    return cs;
}

static void clients_unref(DmsMapClients *cs)
{
    if (!dms__ref_put(&cs->refcount))
        return;
    g_mutex_clear(&cs->lock);
    g_cond_clear(&cs->finished);
    g_free(cs);
}

/* Under the lock: every change of the queue's length goes through here. */
static void set_waiting(DmsMapClients *cs)
{
    dms__bounce_set_waiting(cs->bounce, cs->waiting.length);
}

int dms__map_clients_new(DmsSpace *space, DmsBounce *bounce,
                         DmsSpace *(*ref)(DmsSpace *),
                         DmsSpace *(*unref)(DmsSpace *), DmsMapClients **ret)
{
    DmsMapClients *cs = g_try_new0(DmsMapClients, 1);

    *ret = NULL;
    if (!cs)
        return -ENOMEM;
    atomic_init(&cs->refcount, 1);
    g_mutex_init(&cs->lock);
    g_cond_init(&cs->finished);
    g_queue_init(&cs->waiting);
    cs->space = space;
    cs->bounce = bounce;
    cs->space_ref = ref;
    cs->space_unref = unref;
    *ret = cs;
    return 0;
}

DmsMapClient *dms_map_client_ref(DmsMapClient *client)
{
    if (client)
        dms__ref_get(&client->refcount);
    return client;
}

DmsMapClient *dms_map_client_unref(DmsMapClient *client)
{
    if (client && dms__ref_put(&client->refcount)) {
        if (client->ctx)
            g_main_context_unref(client->ctx);
        clients_unref(client->owner);
        g_free(client);
    }
    return NULL;
}

void dms__map_clients_cancel(DmsMapClients *clients, const atomic_int *refs)
{
    GQueue cancelled = G_QUEUE_INIT;
    GList *link;

    /*
     * The space lost its last reference: nothing but unmaps can free
     * budget any more, and no one could use it. Fired clients hold a
     * space reference, so there are none. Registering takes a reference
     * and our lock, so a client registered after a reference came back
     * is seen here with *refs above 0.
     */
    g_mutex_lock(&clients->lock);
    while ((!refs || atomic_load_explicit(refs, memory_order_acquire) == 0) &&
           (link = g_queue_pop_head_link(&clients->waiting)) != NULL) {
        DmsMapClient *c = link->data;

        c->state = CLIENT_CANCELLED;
        g_queue_push_tail_link(&cancelled, link);
    }
    set_waiting(clients);
    g_mutex_unlock(&clients->lock);
    /* Unref outside the lock: the last unref frees what holds the lock. */
    while ((link = g_queue_pop_head_link(&cancelled)) != NULL) {
        client_over(link->data);
        dms_map_client_unref(link->data);
    }
}

void dms__map_clients_free(DmsMapClients *clients)
{
    if (!clients)
        return;
    dms__map_clients_cancel(clients, NULL);
    clients_unref(clients);
}

static void client_run(DmsMapClient *c)
{
    DmsMapClients *cs = c->owner;
    DmsSpace *space;

    g_mutex_lock(&cs->lock);
    if (c->state != CLIENT_FIRED) {
        g_mutex_unlock(&cs->lock);
        return;
    }
    space = c->space;
    c->state = CLIENT_RUNNING;
    c->runner = &thread_marker;
    g_mutex_unlock(&cs->lock);

    dms__count(c->internal ? &space->counters.engine_waits
                           : &space->counters.map_clients_fired);
    DMS_TRACE(map_client_fire, space, c, c->data);
    c->cb(space, c->data);

    g_mutex_lock(&cs->lock);
    c->state = CLIENT_DONE;
    c->runner = NULL;
    if (cs->cancellers_waiting > 0)
        g_cond_broadcast(&cs->finished);
    g_mutex_unlock(&cs->lock);
    client_over(c);
}

static gboolean client_dispatch(gpointer data)
{
    DmsMapClient *c = data;

    handoff_wait();
    /* The source's space reference keeps the space alive here. */
    client_run(c);
    return G_SOURCE_REMOVE;
}

/*
 * The idle source's destroy notify: after the dispatch, or when the source
 * is destroyed without one (cancel, or its context freed). GLib calls it
 * without the context's lock.
 */
static void client_source_gone(gpointer data)
{
    DmsMapClient *c = data;
    DmsMapClients *cs;
    DmsSpace *space;
    GSource *source;
    bool gone;

    handoff_wait();
    cs = c->owner;
    g_mutex_lock(&cs->lock);
    gone = c->state == CLIENT_FIRED;
    if (gone)
        c->state = CLIENT_CANCELLED; /* the context went away first */
    space = c->space;
    source = c->source;
    c->source = NULL;
    g_mutex_unlock(&cs->lock);
    if (gone)
        client_over(c);
    if (source)
        g_source_unref(source);
    DMS_SCHED_POINT();
    dms_map_client_unref(c);
    /* Last: it may free the space, and @cs with it. */
    cs->space_unref(space);
}

/*
 * Fires every waiting client if budget is free. The caller holds a
 * reference on @space and no library lock.
 */
static void clients_fire(DmsSpace *space)
{
    DmsMapClients *cs = space->clients;
    GQueue batch = G_QUEUE_INIT, attached = G_QUEUE_INIT;
    GList *link, *next;
    size_t room, limit;

    DMS_SCHED_POINT();
    g_mutex_lock(&cs->lock);
    /*
     * Checked under the lock: a releaser that frees budget after this
     * check calls us again and waits for the lock, so it sees the
     * clients we leave waiting.
     */
    room = dms__bounce_room(cs->bounce);
    if (room == 0) {
        g_mutex_unlock(&cs->lock);
        return;
    }
    limit = dms__bounce_limit(cs->bounce);
    for (link = cs->waiting.head; link; link = next) {
        DmsMapClient *c = link->data;

        next = link->next;
        /* A need above the limit is met by the whole limit being free. */
        if (room < MIN(c->min_room, limit ? limit : c->min_room))
            continue;
        g_queue_unlink(&cs->waiting, link);
        c->state = CLIENT_FIRED;
        if (!c->ctx) {
            /* The queue's client reference moves to the batch. */
            g_queue_push_tail_link(&batch, link);
            continue;
        }
        /*
         * The queue's client reference moves to the source, which also
         * holds a space reference until client_source_gone(). Attaching
         * under our lock is safe: GLib never calls us with its context
         * lock held.
         */
        c->source = g_idle_source_new();
        g_source_set_priority(c->source, G_PRIORITY_DEFAULT);
        g_source_set_callback(c->source, client_dispatch, c,
                              client_source_gone);
        cs->space_ref(space);
        g_mutex_lock(&handoff_lock);
        g_source_attach(c->source, c->ctx);
        g_mutex_unlock(&handoff_lock);
        g_queue_push_tail_link(&attached, link);
        dms_map_client_ref(c);
    }
    set_waiting(cs);
    g_mutex_unlock(&cs->lock);

    /*
     * An attached source does not keep its context alive, and the client
     * no longer needs to: drop the client's context reference, so that a
     * context its owner frees without running it destroys the source
     * (cancelling the client and releasing the space) instead of leaking
     * all three. Outside our lock, since that destruction takes it.
     */
    while ((link = g_queue_pop_head_link(&attached)) != NULL) {
        DmsMapClient *c = link->data;
        struct _GMainContext *ctx = c->ctx;

        /* Nobody else reads c->ctx once it fired, and our reference
         * keeps c. */
        c->ctx = NULL;
        g_main_context_unref(ctx);
        dms_map_client_unref(c);
    }
    if (g_queue_is_empty(&batch))
        return;
    cs->space_ref(space);
    while ((link = g_queue_pop_head_link(&batch)) != NULL) {
        client_run(link->data);
        dms_map_client_unref(link->data);
    }
    cs->space_unref(space);
}

void dms__map_clients_notify(DmsSpace *space)
{
    clients_fire(space);
}

static int add_client(DmsSpace *space, struct _GMainContext *ctx,
                      DmsMapClientFunc cb, void *data, DmsDestroyNotify notify,
                      size_t min_room, bool internal, DmsMapClient **ret);

int dms_space_add_map_client(DmsSpace *space, struct _GMainContext *ctx,
                             DmsMapClientFunc cb, void *data,
                             DmsDestroyNotify notify, DmsMapClient **ret)
{
    return add_client(space, ctx, cb, data, notify, 1, false, ret);
}

int dms__space_add_map_client_min(DmsSpace *space, struct _GMainContext *ctx,
                                  DmsMapClientFunc cb, void *data,
                                  DmsDestroyNotify notify, size_t min_room,
                                  DmsMapClient **ret)
{
    return add_client(space, ctx, cb, data, notify, min_room, true, ret);
}

static int add_client(DmsSpace *space, struct _GMainContext *ctx,
                      DmsMapClientFunc cb, void *data, DmsDestroyNotify notify,
                      size_t min_room, bool internal, DmsMapClient **ret)
{
    DmsMapClients *cs;
    DmsMapClient *c;
    size_t need = MAX(min_room, 1), room, limit;

    if (ret)
        *ret = NULL;
    g_return_val_if_fail(space != NULL && cb != NULL, -EINVAL);

    c = g_try_new0(DmsMapClient, 1);
    if (!c)
        return -ENOMEM;
    cs = space->clients;
    /* The queue's reference, and the caller's if it wants a handle. */
    atomic_init(&c->refcount, ret ? 2 : 1);
    c->owner = clients_ref(cs);
    c->space = space;
    c->ctx = ctx ? g_main_context_ref(ctx) : NULL;
    c->cb = cb;
    c->data = data;
    c->notify = notify;
    c->min_room = need;
    c->internal = internal;
    c->link.data = c;
    if (ret)
        *ret = c; /* before the callback can run, which may use it */

    g_mutex_lock(&cs->lock);
    c->state = CLIENT_WAITING;
    g_queue_push_tail_link(&cs->waiting, &c->link);
    /* seq_cst, then the budget check below: see the top of the file. */
    set_waiting(cs);
    g_mutex_unlock(&cs->lock);
    DMS_SCHED_POINT();
    dms__bounce_unstash(cs->bounce);

    DMS_SCHED_POINT();
    /* Not c->min_room: once queued, c may fire and go at any moment. */
    room = dms__bounce_room(cs->bounce);
    limit = dms__bounce_limit(cs->bounce);
    if (room > 0 && room >= MIN(need, limit ? limit : need))
        clients_fire(space);
    return 0;
}

int dms_map_client_cancel(DmsMapClient *client)
{
    DmsMapClients *cs;
    GSource *source = NULL;
    bool over = false;
    int r = 0;

    g_return_val_if_fail(client != NULL, -EINVAL);
    cs = client->owner;

    g_mutex_lock(&cs->lock);
    switch (client->state) {
    case CLIENT_WAITING:
        g_queue_unlink(&cs->waiting, &client->link);
        set_waiting(cs);
        client->state = CLIENT_CANCELLED;
        g_mutex_unlock(&cs->lock);
        client_over(client);
        dms_map_client_unref(client); /* the queue's reference */
        return 0;
    case CLIENT_FIRED:
        /* client_run() checks the state under the lock: it will skip. */
        client->state = CLIENT_CANCELLED;
        over = true;
        if (client->source)
            source = g_source_ref(client->source);
        break;
    case CLIENT_RUNNING:
        /* Waiting for ourselves would never end. */
        if (client->runner != &thread_marker) {
            cs->cancellers_waiting++;
            while (client->state == CLIENT_RUNNING)
                g_cond_wait(&cs->finished, &cs->lock);
            cs->cancellers_waiting--;
        }
        r = -EALREADY;
        break;
    case CLIENT_DONE:
        r = -EALREADY;
        break;
    case CLIENT_CANCELLED:
        break;
    }
    g_mutex_unlock(&cs->lock);
    if (source) {
        /* Outside the lock: destroying calls client_source_gone(). */
        g_source_destroy(source);
        g_source_unref(source);
    }
    if (over)
        client_over(client);
    return r;
}
