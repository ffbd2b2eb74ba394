/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Topology: the process-wide topology lock, batches, the list of spaces,
 * incremental publication of their views, change listeners and view
 * dumps.
 *
 * Topology (which region is where) is guarded by one recursive mutex,
 * like QEMU's memory transactions under the BQL. A change says which
 * bytes of which region it touched (dms__topology_changed()); that span
 * is carried up through parents and alias referrers to every space whose
 * root shows it. The outermost unlock re-renders only those spans of only
 * those spaces, splices them into each view's persistent B+tree
 * (flatview.c), publishes the new root with a release store, and hands
 * the replaced nodes to the reclaimer (rcu.c) to free after a grace
 * period: the writer never waits for readers.
 *
 * This file sits below region.c and space.c and never calls them: space.c
 * registers each space with hooks, called here at publication and after
 * the grace period.
 */
#include "dms-private.h"
#include "trace.h"

#include <pthread.h>

typedef struct Span {
    uint64_t first, last;
} Span;

struct DmsViewListener {
    atomic_int refcount;
    bool removed; /* topology lock, and deliver_lock to read while calling */
    DmsViewListenerFunc func;
    void *opaque;
    DmsDestroyNotify notify; /* for opaque, when the last reference goes */
    DmsTopoSpace *ts;        /* while not removed */
};

struct DmsTopoSpace {
    DmsRegion *root; /* the space holds the reference */
    DmsFlatView *_Atomic *view;
    DmsTopoHooks hooks;
    void *opaque;
    char *name;
    GArray *spans; /* of Span to re-render at the outermost unlock */
    bool full;     /* re-render everything instead */
    uint64_t nranges;
    GPtrArray *listeners; /* of DmsViewListener * (a reference each) */
};

static GRecMutex topology_mutex;
static unsigned topology_depth;
static bool topology_dirty;
static uint64_t subregion_seq;
static uint64_t view_gen;
static GPtrArray *all_spaces; /* of DmsTopoSpace *, topology lock */
/* dms__topology_reclaim_inline(): retirements of this thread's unlock */
static bool reclaim_inline;
static DMS_THREAD_LOCAL GSList *inline_retired;

typedef struct Retire Retire;
static void retire_cb(DmsRcuHead *head);
static bool full_render_mode(void);

/* ---- the lock and batches ---- */

static void publish(void);
static void deliver(void);

void dms__topology_lock(void)
{
    g_rec_mutex_lock(&topology_mutex);
    topology_depth++;
}

void dms__topology_unlock(void)
{
    bool last = topology_depth == 1;

    if (last && topology_dirty) {
        topology_dirty = false;
        publish();
    }
    topology_depth--;
    g_rec_mutex_unlock(&topology_mutex);
    if (last && inline_retired) {
        GSList *list = g_slist_reverse(inline_retired);

        inline_retired = NULL;
        dms__rcu_synchronize();
        for (GSList *l = list; l; l = l->next)
            retire_cb(l->data);
        g_slist_free(list);
    }
    /*
     * Listeners are called after the views are out, without any lock, and
     * never on the reclaimer thread (a space it frees takes the lock): a
     * listener there could not wait for reclamation. Whoever queued the
     * change delivers it.
     */
    if (last && !dms__rcu_on_reclaimer())
        deliver();
}

void dms__topology_reclaim_inline(bool on)
{
    reclaim_inline = on;
}

uint64_t dms__topology_next_seq(void)
{
    return ++subregion_seq;
}

/* Batches opened by this thread, to catch a commit without a begin
 * (unlocking a mutex we do not hold would be undefined). */
static DMS_THREAD_LOCAL unsigned batch_depth;

void dms_update_begin(void)
{
    dms__topology_lock();
    batch_depth++;
}

void dms_update_commit(void)
{
    g_return_if_fail(batch_depth > 0);
    batch_depth--;
    dms__topology_unlock();
}

int dms_update_barrier(void)
{
    g_return_val_if_fail(batch_depth == 0, -EDEADLK);
    return dms__rcu_barrier();
}

/* ---- which spaces a change shows in ---- */

static void add_span(DmsTopoSpace *ts, uint64_t first, uint64_t last)
{
    Span s = {first, last};

    if (ts->full)
        return;
    g_array_append_val(ts->spans, s);
    topology_dirty = true;
}

static void mark_all_full(void)
{
    for (guint i = 0; all_spaces && i < all_spaces->len; i++) {
        DmsTopoSpace *ts = g_ptr_array_index(all_spaces, i);
        ts->full = true;
        g_array_set_size(ts->spans, 0);
    }
    topology_dirty = true;
}

/*
 * Paths from one region up to the roots are few in practice; a tree of
 * aliases of aliases can multiply them, and past this many steps every
 * space is re-rendered whole instead.
 */
#define MARK_BUDGET 4096

static void mark(DmsRegion *r, uint64_t first, uint64_t last, unsigned *budget)
{
    if (*budget == 0)
        return;
    (*budget)--;
    last = MIN(last, r->last);
    if (first > last)
        return;
    for (guint i = 0; all_spaces && i < all_spaces->len; i++) {
        DmsTopoSpace *ts = g_ptr_array_index(all_spaces, i);
        if (ts->root == r)
            add_span(ts, first, last);
    }
    /* offset + last fits: checked when r was placed or resized. */
    if (r->parent)
        mark(r->parent, r->offset + first, r->offset + last, budget);
    for (guint i = 0; r->aliases && i < r->aliases->len; i++) {
        DmsRegion *a = g_ptr_array_index(r->aliases, i);
        uint64_t w_first = a->alias_offset, w_last = a->alias_offset + a->last;
        uint64_t lo = MAX(first, w_first), hi = MIN(last, w_last);

        if (lo <= hi)
            mark(a, lo - w_first, hi - w_first, budget);
    }
}

void dms__topology_changed(DmsRegion *region, uint64_t first, uint64_t last)
{
    unsigned budget = MARK_BUDGET;

    mark(region, first, last, &budget);
    if (budget == 0)
        mark_all_full();
}

/* ---- publication ---- */

/* What one publication leaves for after the grace period. */
struct Retire {
    DmsRcuHead head;
    DmsFlatView *whole; /* a view replaced entirely, or NULL */
    DmsTopoHooks hooks;
    void *opaque;
    bool hooked;   /* hooks.after_grace is owed */
    guint nnodes;  /* replaced nodes: item[0, nnodes) */
    guint nunrefs; /* references of ranges that left the view: after them */
    gpointer item[];
};

static void retire_cb(DmsRcuHead *head)
{
    Retire *rt = (Retire *)head;

    dms__view_nodes_free((DmsViewNode *const *)rt->item, rt->nnodes);
    dms__flatview_free(rt->whole);
    /* May run destroy notifies: we hold no lock here. */
    for (guint i = 0; i < rt->nunrefs; i++)
        dms_region_unref(rt->item[rt->nnodes + i]);
    if (rt->hooked)
        rt->hooks.after_grace(rt->opaque);
    g_free(rt);
}

static gint compare_span(gconstpointer a, gconstpointer b)
{
    const Span *x = a, *y = b;

    return x->first < y->first ? -1 : x->first > y->first;
}

/* Sorts @spans and merges those that overlap or touch. */
static void merge_spans(GArray *spans)
{
    guint out = 0;

    g_array_sort(spans, compare_span);
    for (guint i = 0; i < spans->len; i++) {
        Span *s = &g_array_index(spans, Span, i);
        Span *o = out ? &g_array_index(spans, Span, out - 1) : NULL;

        if (o && (o->last == UINT64_MAX || s->first <= o->last + 1)) {
            o->last = MAX(o->last, s->last);
            continue;
        }
        g_array_index(spans, Span, out++) = *s;
    }
    g_array_set_size(spans, out);
}

/* A change to deliver to listeners, in the order it was published. */
typedef struct Pending {
    GPtrArray *listeners; /* of DmsViewListener * (references) */
    GArray *removed;      /* of DmsViewRange, a region reference each */
    GArray *added;
} Pending;

static void pending_free(Pending *p);

/* pthread, not GMutex: ThreadSanitizer sees them without help. */
static pthread_mutex_t deliver_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t deliver_cond = PTHREAD_COND_INITIALIZER;
static GQueue pending = G_QUEUE_INIT; /* of Pending *, deliver_lock */
/*
 * Changes queued and not yet taken for delivery: written under
 * deliver_lock, read without it so that a change with no listener (the
 * common case) does not take the lock. A thread always sees what it
 * queued itself, and that is all it must deliver.
 */
static atomic_uint npending;
static GThread *deliverer;       /* deliver_lock */
static DmsViewListener *calling; /* deliver_lock */

static DmsViewListener *listener_ref(DmsViewListener *l)
{
    atomic_fetch_add_explicit(&l->refcount, 1, memory_order_relaxed);
    return l;
}

static void listener_unref(gpointer p)
{
    DmsViewListener *l = p;

    /*
     * Removal and the space's end drop the space's and the caller's
     * references, and a delivery holds its own until the call returns:
     * the last reference goes after the last call, exactly once.
     */
    if (atomic_fetch_sub_explicit(&l->refcount, 1, memory_order_acq_rel) ==
        1) {
        if (l->notify)
            l->notify(l->opaque);
        g_free(l);
    }
}

static void append_ranges(GArray *to, const DmsFlatRange *fr, guint n)
{
    for (guint i = 0; i < n; i++) {
        DmsViewRange vr = {
            .addr = fr[i].start,
            .size = fr[i].last - fr[i].start + 1, /* 0 for all 2^64 */
            .region = dms_region_ref(fr[i].region),
            .offset = fr[i].offset,
        };
        g_array_append_val(to, vr);
    }
}

static bool same_range(const DmsFlatRange *a, const DmsFlatRange *b)
{
    return a->start == b->start && a->last == b->last &&
           a->region == b->region && a->offset == b->offset;
}

/* Drops ranges of a sorted list that an earlier window already gave. */
static void dedup(GArray *list)
{
    guint out = 0;

    for (guint i = 0; i < list->len; i++) {
        DmsFlatRange *e = &g_array_index(list, DmsFlatRange, i);
        if (out &&
            g_array_index(list, DmsFlatRange, out - 1).start >= e->start)
            continue;
        g_array_index(list, DmsFlatRange, out++) = *e;
    }
    g_array_set_size(list, out);
}

/* Queues for @listeners what turned @before into @after. */
static void queue_diff(const GPtrArray *listeners, GArray *before,
                       GArray *after)
{
    Pending *p = g_new0(Pending, 1);
    guint i = 0, j = 0;

    p->listeners = g_ptr_array_new_with_free_func(listener_unref);
    for (guint k = 0; k < listeners->len; k++)
        g_ptr_array_add(p->listeners,
                        listener_ref(g_ptr_array_index(listeners, k)));
    p->removed = g_array_new(FALSE, FALSE, sizeof(DmsViewRange));
    p->added = g_array_new(FALSE, FALSE, sizeof(DmsViewRange));
    while (i < before->len || j < after->len) {
        const DmsFlatRange *o =
            i < before->len ? &g_array_index(before, DmsFlatRange, i) : NULL;
        const DmsFlatRange *n =
            j < after->len ? &g_array_index(after, DmsFlatRange, j) : NULL;

        if (o && n && same_range(o, n)) {
            i++;
            j++;
        } else if (o && (!n || o->start <= n->start)) {
            append_ranges(p->removed, o, 1);
            i++;
        } else {
            append_ranges(p->added, n, 1);
            j++;
        }
    }
    /* A span re-rendered to what it was is no change. */
    if (p->removed->len == 0 && p->added->len == 0) {
        pending_free(p);
        return;
    }
    pthread_mutex_lock(&deliver_lock);
    g_queue_push_tail(&pending, p);
    atomic_fetch_add_explicit(&npending, 1, memory_order_relaxed);
    pthread_mutex_unlock(&deliver_lock);
}

/* The ranges of @fv meeting any of @spans widened by one byte each way
 * (merges at a span's ends change the ranges next to it). */
static GArray *ranges_near(const DmsFlatView *fv, const GArray *spans)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));

    for (guint i = 0; i < spans->len; i++) {
        const Span *s = &g_array_index(spans, Span, i);
        dms__view_collect(fv, s->first ? s->first - 1 : 0,
                          s->last < UINT64_MAX ? s->last + 1 : s->last, out);
    }
    dedup(out);
    return out;
}

/* One change at a time (topology lock): its lists are reused. */
static GPtrArray *txn_lists[4];

static void txn_init(DmsViewTxn *t)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(txn_lists); i++) {
        if (!txn_lists[i])
            txn_lists[i] = g_ptr_array_sized_new(64);
        g_ptr_array_set_size(txn_lists[i], 0);
    }
    t->gen = view_gen;
    t->retired = txn_lists[0];
    t->created = txn_lists[1];
    t->unrefs = txn_lists[2];
    t->refs = txn_lists[3];
    t->error = 0;
}

static void txn_abort(DmsViewTxn *t)
{
    dms__view_nodes_free((DmsViewNode *const *)t->created->pdata,
                         t->created->len);
    /* Others hold these regions too (we found them in the tree or in a
     * view): this cannot be the last reference. */
    for (guint i = 0; i < t->refs->len; i++)
        dms_region_unref(g_ptr_array_index(t->refs, i));
}

/* Re-renders what changed in @ts and publishes it. Topology lock held. */
static void publish_space(DmsTopoSpace *ts)
{
    DmsFlatView *old = atomic_load_explicit(ts->view, memory_order_relaxed);
    DmsFlatView *fv = old;
    static GArray *ranges; /* reused: topology lock */
    GArray *before = NULL, *after = NULL;
    bool whole = ts->full;
    DmsViewTxn t;
    Retire *rt;

    if (!ranges)
        ranges = g_array_sized_new(FALSE, FALSE, sizeof(DmsFlatRange), 64);
    g_array_set_size(ranges, 0);
    merge_spans(ts->spans);
    /* Many scattered spans cost more than building the tree anew. */
    if (!whole && ts->spans->len > 64 && ts->spans->len > ts->nranges / 4)
        whole = true;

    txn_init(&t);
    if (whole) {
        t.error = dms__flatview_render_span(ts->root, 0, UINT64_MAX, ranges);
        if (t.error == 0)
            fv = dms__view_build(&t, ranges);
        if (t.error == 0)
            ts->nranges = ranges->len;
    } else {
        for (guint i = 0; i < ts->spans->len && t.error == 0; i++) {
            const Span *s = &g_array_index(ts->spans, Span, i);

            g_array_set_size(ranges, 0);
            t.error =
                dms__flatview_render_span(ts->root, s->first, s->last, ranges);
            if (t.error == 0)
                fv = dms__view_replace(&t, fv, s->first, s->last, ranges);
        }
        if (t.error == 0)
            ts->nranges += (uint64_t)t.refs->len - t.unrefs->len;
    }
    if (ranges->len > 4096) {
        g_array_free(ranges, TRUE); /* a whole render: give it back */
        ranges = NULL;
    }
    if (t.error) {
        /*
         * Out of memory: the space keeps its old view (accesses see the
         * previous topology rather than nothing) and the next change
         * renders it whole.
         */
        g_warning("libdmaspace: out of memory rendering space '%s'", ts->name);
        txn_abort(&t);
        ts->full = true;
        g_array_set_size(ts->spans, 0);
        topology_dirty = true;
        return;
    }

    if (ts->listeners->len > 0) {
        if (whole) {
            before = dms__flatview_ranges(old);
            after = dms__flatview_ranges(fv);
        } else {
            before = ranges_near(old, ts->spans);
            after = ranges_near(fv, ts->spans);
        }
        queue_diff(ts->listeners, before, after);
        g_array_free(before, TRUE);
        g_array_free(after, TRUE);
    }

    /* Release: the nodes are complete before a reader can find them. */
    atomic_store_explicit(ts->view, fv, memory_order_release);
    ts->full = false;
    g_array_set_size(ts->spans, 0);

    if (whole) {
        /* Every node and range of the old view goes. */
        rt = g_malloc0(sizeof(*rt));
        rt->whole = old;
    } else {
        rt = g_malloc0(sizeof(*rt) +
                       (t.retired->len + t.unrefs->len) * sizeof(gpointer));
        rt->nnodes = t.retired->len;
        rt->nunrefs = t.unrefs->len;
        memcpy(rt->item, t.retired->pdata, rt->nnodes * sizeof(gpointer));
        memcpy(rt->item + rt->nnodes, t.unrefs->pdata,
               rt->nunrefs * sizeof(gpointer));
    }
    rt->hooks = ts->hooks;
    rt->opaque = ts->opaque;
    rt->hooked = ts->hooks.before_grace && ts->hooks.before_grace(ts->opaque);
    if (reclaim_inline || full_render_mode())
        inline_retired = g_slist_prepend(inline_retired, rt);
    else
        dms__rcu_call(&rt->head, retire_cb);
}

/*
 * DMS_TOPOLOGY_FULL_RENDER=1 brings back, for dms-bench's baseline only,
 * what a change cost before incremental views: every space rendered
 * whole, and the writer waiting for the grace period that frees the old
 * views. Read once.
 */
static bool full_render_mode(void)
{
    static int mode = -1;

    if (mode < 0)
        mode = g_strcmp0(g_getenv("DMS_TOPOLOGY_FULL_RENDER"), "1") == 0;
    return mode;
}

static void publish(void)
{
    bool full = full_render_mode();
    unsigned spaces = 0;

    view_gen++;
    for (guint i = 0; all_spaces && i < all_spaces->len; i++) {
        DmsTopoSpace *ts = g_ptr_array_index(all_spaces, i);

        if (full)
            ts->full = true;
        if (ts->full || ts->spans->len > 0) {
            publish_space(ts);
            spaces++;
        }
    }
    DMS_TRACE(topology_commit, spaces, view_gen);
}

/* ---- spaces ---- */

int dms__topology_add_space(DmsRegion *root, DmsFlatView *_Atomic *view,
                            const DmsTopoHooks *hooks, void *opaque,
                            const char *name, DmsTopoSpace **ret)
{
    DmsTopoSpace *ts = g_try_new0(DmsTopoSpace, 1);
    GArray *ranges;
    DmsFlatView *fv = NULL;
    DmsViewTxn t;

    if (!ts)
        return -ENOMEM;
    ts->root = root;
    ts->view = view;
    ts->hooks = *hooks;
    ts->opaque = opaque;
    ts->name = g_strdup(name);
    ts->spans = g_array_new(FALSE, FALSE, sizeof(Span));
    ts->listeners = g_ptr_array_new();

    ranges = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));
    dms__topology_lock();
    view_gen++;
    txn_init(&t);
    t.error = dms__flatview_render_span(root, 0, UINT64_MAX, ranges);
    if (t.error == 0)
        fv = dms__view_build(&t, ranges);
    if (t.error == 0) {
        ts->nranges = ranges->len;
        atomic_store_explicit(view, fv, memory_order_release);
        if (!all_spaces)
            all_spaces = g_ptr_array_new();
        g_ptr_array_add(all_spaces, ts);
    } else {
        txn_abort(&t);
    }
    dms__topology_unlock();
    g_array_free(ranges, TRUE);
    if (t.error) {
        g_array_free(ts->spans, TRUE);
        g_ptr_array_free(ts->listeners, TRUE);
        g_free(ts->name);
        g_free(ts);
        return t.error;
    }
    *ret = ts;
    return 0;
}

void dms__topology_remove_space(DmsTopoSpace *ts)
{
    dms__topology_lock();
    g_ptr_array_remove(all_spaces, ts);
    for (guint i = 0; i < ts->listeners->len; i++) {
        DmsViewListener *l = g_ptr_array_index(ts->listeners, i);

        pthread_mutex_lock(&deliver_lock);
        l->removed = true;
        pthread_mutex_unlock(&deliver_lock);
        l->ts = NULL;
    }
    dms__topology_unlock();
    /* After the unlock: the last reference runs the listener's notify. */
    for (guint i = 0; i < ts->listeners->len; i++) {
        DmsViewListener *l = g_ptr_array_index(ts->listeners, i);

        listener_unref(l); /* the space's */
        listener_unref(l); /* the caller's handle, freed with the space */
    }
    g_ptr_array_free(ts->listeners, TRUE);
    g_array_free(ts->spans, TRUE);
    g_free(ts->name);
    g_free(ts);
}

/* ---- listeners ---- */

static void pending_free(Pending *p)
{
    g_ptr_array_free(p->listeners, TRUE);
    for (guint i = 0; i < p->removed->len; i++)
        dms_region_unref(g_array_index(p->removed, DmsViewRange, i).region);
    for (guint i = 0; i < p->added->len; i++)
        dms_region_unref(g_array_index(p->added, DmsViewRange, i).region);
    g_array_free(p->removed, TRUE);
    g_array_free(p->added, TRUE);
    g_free(p);
}

/*
 * Calls listeners for every queued change, in order. One thread delivers
 * at a time; a change queued meanwhile (even by a listener) is delivered
 * by that thread before it returns, so order is kept and a listener that
 * changes the topology does not recurse.
 */
static void deliver(void)
{
    if (atomic_load_explicit(&npending, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&deliver_lock);
    if (deliverer || g_queue_is_empty(&pending)) {
        pthread_mutex_unlock(&deliver_lock);
        return;
    }
    deliverer = g_thread_self();
    for (Pending *p; (p = g_queue_pop_head(&pending));) {
        atomic_fetch_sub_explicit(&npending, 1, memory_order_relaxed);
        for (guint i = 0; i < p->listeners->len; i++) {
            DmsViewListener *l = g_ptr_array_index(p->listeners, i);

            if (l->removed)
                continue;
            calling = l;
            pthread_mutex_unlock(&deliver_lock);
            l->func(l->opaque, (const DmsViewRange *)(void *)p->removed->data,
                    p->removed->len,
                    (const DmsViewRange *)(void *)p->added->data,
                    p->added->len);
            pthread_mutex_lock(&deliver_lock);
            calling = NULL;
            pthread_cond_broadcast(&deliver_cond);
        }
        pthread_mutex_unlock(&deliver_lock);
        pending_free(p); /* may run destroy notifies: no lock held */
        pthread_mutex_lock(&deliver_lock);
    }
    deliverer = NULL;
    pthread_mutex_unlock(&deliver_lock);
}

int dms_space_add_listener(DmsSpace *space, DmsViewListenerFunc func,
                           void *opaque, DmsDestroyNotify notify,
                           DmsViewListener **ret)
{
    DmsViewListener *l;
    DmsTopoSpace *ts;
    GArray *none, *now;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(space != NULL && func != NULL, -EINVAL);

    l = g_try_new0(DmsViewListener, 1);
    if (!l)
        return -ENOMEM;
    atomic_init(&l->refcount, 1);
    l->func = func;
    l->opaque = opaque;
    l->notify = notify;

    dms__topology_lock();
    ts = space->topo;
    l->ts = ts;
    /* The replay is queued like a change: it comes after every change
     * published before it and before every one after. */
    none = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));
    now = dms__flatview_ranges(
        atomic_load_explicit(ts->view, memory_order_relaxed));
    g_ptr_array_add(ts->listeners, l);
    {
        GPtrArray only = {.pdata = (gpointer *)&l, .len = 1};
        queue_diff(&only, none, now);
    }
    g_array_free(none, TRUE);
    g_array_free(now, TRUE);
    listener_ref(l); /* the caller's handle */
    dms__topology_unlock();
    deliver();
    *ret = l;
    return 0;
}

int dms_space_remove_listener(DmsSpace *space, DmsViewListener *listener)
{
    DmsTopoSpace *ts;
    bool found;

    g_return_val_if_fail(space != NULL && listener != NULL, -EINVAL);

    dms__topology_lock();
    ts = space->topo;
    found = listener->ts == ts && g_ptr_array_remove(ts->listeners, listener);
    if (found) {
        pthread_mutex_lock(&deliver_lock);
        listener->removed = true;
        pthread_mutex_unlock(&deliver_lock);
        listener->ts = NULL;
        listener_unref(listener); /* the space's */
    }
    dms__topology_unlock();
    if (!found)
        return -ENOENT;
    /* A call running on another thread ends before we return. */
    pthread_mutex_lock(&deliver_lock);
    while (calling == listener && deliverer != g_thread_self())
        pthread_cond_wait(&deliver_cond, &deliver_lock);
    pthread_mutex_unlock(&deliver_lock);
    listener_unref(listener); /* the caller's */
    return 0;
}

/* ---- dump ---- */

static const char *kind_name(const DmsRegion *r)
{
    if (r->kind == DMS_KIND_RAM)
        return r->readonly ? "rom" : "ram";
    return "message";
}

int dms_space_dump_view(DmsSpace *space, char **ret)
{
    GString *out;
    GArray *ranges;
    char *text;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(space != NULL, -EINVAL);

    out = g_string_new(NULL);
    /* Under the lock the current view cannot be retired, nor a region's
     * place change. */
    dms__topology_lock();
    ranges = dms__flatview_ranges(
        atomic_load_explicit(space->topo->view, memory_order_relaxed));
    g_string_append_printf(out, "space '%s': %u ranges\n", space->topo->name,
                           ranges->len);
    for (guint i = 0; i < ranges->len; i++) {
        const DmsFlatRange *fr = &g_array_index(ranges, DmsFlatRange, i);

        g_string_append_printf(
            out,
            "  %016" G_GINT64_MODIFIER "x-%016" G_GINT64_MODIFIER
            "x (prio %d, %s): %s @%016" G_GINT64_MODIFIER "x\n",
            fr->start, fr->last, fr->region->parent ? fr->region->priority : 0,
            kind_name(fr->region), fr->region->name, fr->offset);
    }
    dms__topology_unlock();
    g_array_free(ranges, TRUE);
    /* malloc()ed, so that users free it without glib. */
    text = malloc(out->len + 1);
    if (text)
        memcpy(text, out->str, out->len + 1);
    g_string_free(out, TRUE);
    if (!text)
        return -ENOMEM;
    *ret = text;
    return 0;
}
