/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsSpace lifecycle. This file alone decides when a space is freed.
 *
 * Two counts keep a space:
 *   refcount  references: callers, direct mappings, fired map clients;
 *   holds     one for all references while there are any, plus one per
 *             bounce mapping, plus those that thread caches bank for the
 *             bounce mappings they will lend.
 * The space is freed when holds reaches 0. Every rise of refcount from 0
 * takes a hold (only a caller with a live bounce mapping, whose hold
 * keeps the space, may do that) and every fall to 0 drops one, after
 * cancelling the waiting map clients and emptying the thread caches.
 * Rises and falls pair up, so however they interleave, the hold count
 * never reaches 0 while any of them has work left. Bounce mappings take
 * and bank holds in bounce.c, but only this file drops the last one.
 *
 * Views are kept by topology.c, which each space joins at creation; the
 * hooks below are what a space does when topology.c retires nodes of its
 * view.
 */
#include "bounce.h"

static void release_cb(void *space, size_t n);

/*
 * Thread caches bank references on regions of the views they lent from:
 * once topology.c has retired nodes of a view, after their grace period,
 * the caches are emptied, or a removed region's destroy notify would wait
 * for some thread's next map. Our hold keeps the space until then. A
 * space with no hold left is being freed and is left alone.
 */
static bool space_before_grace(void *opaque)
{
    return dms__space_tryhold(opaque);
}

static void space_after_grace(void *opaque)
{
    DmsSpace *s = opaque;

    DMS_SCHED_POINT();
    dms__bounce_reclaim(s->bounce);
    /* The last hold frees the space: we hold no lock here. */
    dms__space_release(s, 1);
}

static const DmsTopoHooks space_hooks = {
    .before_grace = space_before_grace,
    .after_grace = space_after_grace,
};

int dms_space_new(DmsRegion *root, const char *name, DmsSpace **ret)
{
    DmsSpace *s;
    int r;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(root != NULL, -EINVAL);

    s = g_try_new0(DmsSpace, 1);
    if (!s)
        return -ENOMEM;
    atomic_init(&s->refcount, 1);
    atomic_init(&s->holds, 1); /* the references' */
    s->name = g_strdup(name ? name : "");
    s->root = dms_region_ref(root);

    r = dms__bounce_new(&s->counters, &s->refcount, &s->holds, release_cb, s,
                        &s->bounce);
    if (r == 0)
        r = dms__direct_maps_new(&s->direct);
    if (r == 0)
        r = dms__map_clients_new(s, s->bounce, dms_space_ref, dms_space_unref,
                                 &s->clients);
    if (r == 0)
        r = dms__topology_add_space(root, &s->view, &space_hooks, s, s->name,
                                    &s->topo);
    if (r < 0) {
        if (s->clients)
            dms__map_clients_free(s->clients);
        if (s->direct)
            dms__direct_maps_free(s->direct);
        if (s->bounce)
            dms__bounce_free(s->bounce);
        dms_region_unref(s->root);
        g_free(s->name);
        g_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

DmsSpace *dms_space_ref(DmsSpace *space)
{
    /*
     * From 0 only through a live bounce mapping (anything else is a
     * use-after-free by the caller), whose hold keeps the space: the
     * references hold it again.
     */
    DMS_SCHED_POINT();
    if (space && atomic_fetch_add_explicit(&space->refcount, 1,
                                           memory_order_acq_rel) == 0)
        atomic_fetch_add_explicit(&space->holds, 1, memory_order_relaxed);
    return space;
}

bool dms__space_tryhold(DmsSpace *space)
{
    size_t n = atomic_load_explicit(&space->holds, memory_order_relaxed);

    DMS_SCHED_POINT();
    do {
        if (n == 0)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &space->holds, &n, n + 1, memory_order_relaxed, memory_order_relaxed));
    return true;
}

/*
 * No reference and no bounce mapping left: nothing can reach the space.
 * No grace period either: whoever reads the space in a read-side section
 * holds a reference or a hold on it, and drops it only after the section.
 */
static void space_destroy(DmsSpace *s)
{
    DmsFlatView *fv;

    dms__topology_remove_space(s->topo);

    fv = atomic_exchange_explicit(&s->view, NULL, memory_order_acq_rel);
    dms__map_clients_free(s->clients);
    dms__direct_maps_free(s->direct);
    dms__bounce_free(s->bounce);
    dms__flatview_free(fv);
    dms_region_unref(s->root);
    g_free(s->name);
    g_free(s);
}

void dms__space_release(DmsSpace *space, size_t n)
{
    DMS_SCHED_POINT();
    if (atomic_fetch_sub_explicit(&space->holds, n, memory_order_acq_rel) == n)
        space_destroy(space);
}

static void release_cb(void *space, size_t n)
{
    dms__space_release(space, n);
}

DmsSpace *dms_space_unref(DmsSpace *space)
{
    if (space && atomic_fetch_sub_explicit(&space->refcount, 1,
                                           memory_order_acq_rel) == 1) {
        /*
         * Our hold (the references') keeps the space until the end.
         * Waiting clients could only wait for unmaps: they are cancelled
         * (unless a caller with a live mapping took a reference again
         * meanwhile). Thread caches give back the holds they banked and
         * bank none from now on.
         */
        DMS_SCHED_POINT();
        dms__map_clients_cancel(space->clients, &space->refcount);
        DMS_SCHED_POINT();
        dms__bounce_reclaim(space->bounce);
        dms__space_release(space, 1);
    }
    return NULL;
}

const char *dms_space_get_name(const DmsSpace *space)
{
    g_return_val_if_fail(space != NULL, NULL);
    return space->name;
}

int dms_space_get_stats(DmsSpace *space, DmsSpaceStats *stats)
{
    DmsSpaceStats all = {0};
    DmsSpaceCounters *c;
    unsigned long maps;
    size_t n, in_use;

    g_return_val_if_fail(space != NULL && stats != NULL, -EINVAL);
    g_return_val_if_fail(stats->size >=
                             offsetof(DmsSpaceStats, bounce_in_use) +
                                 sizeof(uint64_t),
                         -EINVAL);
    c = &space->counters;
#define LOAD(f) atomic_load_explicit(&c->f, memory_order_relaxed)
    all.size = sizeof(all);
    dms__bounce_stats(space->bounce, &in_use, &maps);
    all.bounce_in_use = in_use;
    all.bounce_high_water = LOAD(bounce_high_water);
    all.bounce_limit = dms__bounce_limit(space->bounce);
    all.direct_maps = LOAD(direct_maps);
    all.bounced_maps = LOAD(bounced_maps) + maps;
    all.fail_unassigned = LOAD(fail_unassigned);
    all.fail_access = LOAD(fail_access);
    all.fail_exhausted = LOAD(fail_exhausted);
    all.fail_no_budget = LOAD(fail_no_budget);
    all.fail_backend = LOAD(fail_backend);
    all.fail_nomem = LOAD(fail_nomem);
    all.bad_unmaps = LOAD(bad_unmaps);
    all.map_clients_fired = LOAD(map_clients_fired);
    all.engine_waits = LOAD(engine_waits);
#undef LOAD
    /* Fill what the caller's version of the struct has room for. */
    n = MIN(stats->size, sizeof(all));
    memcpy((char *)stats + sizeof(size_t), (char *)&all + sizeof(size_t),
           n - sizeof(size_t));
    return 0;
}
