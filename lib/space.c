/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsSpace lifecycle.
 *
 * Views are kept by topology.c, which each space joins at creation; the
 * hooks below are what a space does when topology.c retires nodes of its
 * view.
 */
#include "bounce.h"

/*
 * Thread caches bank references on regions of the old view: they are
 * held off before the grace period that retires its nodes and drained
 * after it, or a removed region's destroy notify would wait for some
 * thread's next map. Our reference keeps the space until then. A space
 * with no reference left is only waiting for its last bounce unmaps: it
 * has drained its caches for good, and is left alone.
 */
static bool space_before_grace(void *opaque)
{
    DmsSpace *s = opaque;

    if (!dms__space_tryref(s))
        return false;
    dms__caches_hold(s->bounce);
    return true;
}

static void space_after_grace(void *opaque)
{
    DmsSpace *s = opaque;

    dms__caches_drain(s->bounce);
    /* The last reference retires the space: we hold no lock. */
    dms_space_unref(s);
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
    s->name = g_strdup(name ? name : "");
    s->root = dms_region_ref(root);

    r = dms__bounce_new(s, &s->bounce);
    if (r == 0)
        r = dms__direct_maps_new(&s->direct);
    if (r == 0)
        r = dms__map_clients_new(s->bounce, &s->clients);
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
     * use-after-free by the caller): the space was retired, bring it back.
     */
    if (space && atomic_fetch_add_explicit(&space->refcount, 1,
                                           memory_order_acq_rel) == 0)
        dms__bounce_revive(space->bounce);
    return space;
}

bool dms__space_tryref(DmsSpace *space)
{
    int n = atomic_load_explicit(&space->refcount, memory_order_relaxed);

    do {
        if (n == 0)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        &space->refcount, &n, n + 1, memory_order_relaxed,
        memory_order_relaxed));
    return true;
}

void dms__space_destroy(DmsSpace *s)
{
    DmsFlatView *fv;

    /*
     * No user reference and no mapping is left, so nobody can start an
     * access or a map here; but whoever released the last bounce budget
     * may still be reading the space in its read-side section.
     */
    dms__rcu_synchronize();

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

DmsSpace *dms_space_unref(DmsSpace *space)
{
    if (space && atomic_fetch_sub_explicit(&space->refcount, 1,
                                           memory_order_acq_rel) == 1) {
        /*
         * Direct mappings and fired map clients hold references; bounce
         * mappings hold budget instead, and the last of them frees the
         * space if any is still live. Waiting clients could only wait
         * for those: they are cancelled now.
         */
        dms__map_clients_cancel(space->clients);
        if (dms__bounce_retire(space->bounce))
            dms__space_destroy(space);
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
    all.bounce_limit = dms_space_get_bounce_limit(space);
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
#undef LOAD
    /* Fill what the caller's version of the struct has room for. */
    n = MIN(stats->size, sizeof(all));
    memcpy((char *)stats + sizeof(size_t), (char *)&all + sizeof(size_t),
           n - sizeof(size_t));
    return 0;
}
