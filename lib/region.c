/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsRegion objects: creation, reference counting, containers and
 * aliases.
 *
 * Every change of topology runs under topology.c's lock and tells it which
 * bytes of which region it touched; topology.c re-renders only those, in
 * only the spaces that show them. A container keeps its subregions in a
 * tree keyed by (priority, offset, insertion order), so that placing,
 * removing and finding the subregions a span meets are all logarithmic in
 * the number of siblings.
 */
#include "dms-private.h"

static DmsRegion *region_alloc(DmsRegionKind kind, const char *name,
                               uint64_t last)
{
    size_t len = name ? strlen(name) : 0;
    DmsRegion *r = g_try_malloc0(sizeof(*r) + len + 1);

    if (!r)
        return NULL;
    if (len)
        memcpy(r->name, name, len);
    atomic_init(&r->refcount, 1);
    r->kind = (uint8_t)kind;
    r->last = last;
    return r;
}

/* DMS_SIZE_ALL (0) spans 2^64 bytes: last = 2^64 - 1. */
static uint64_t size_to_last(uint64_t size)
{
    return size - 1;
}

int dms_region_new_ram(const char *name, void *host, uint64_t size,
                       uint32_t flags, void *notify_data,
                       DmsDestroyNotify notify, DmsRegion **ret)
{
    DmsRegion *r;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(host != NULL, -EINVAL);
    g_return_val_if_fail(size != 0 && size <= SIZE_MAX, -EINVAL);
    g_return_val_if_fail((flags & ~DMS_RAM_READONLY) == 0, -EINVAL);
    /* The host range itself must not wrap the host address space. */
    g_return_val_if_fail((uintptr_t)host <= UINTPTR_MAX - (size - 1), -EINVAL);

    r = region_alloc(DMS_KIND_RAM, name, size_to_last(size));
    if (!r)
        return -ENOMEM;
    r->host = host;
    r->capacity = size;
    r->readonly = flags & DMS_RAM_READONLY;
    r->notify = notify;
    r->notify_data = notify_data;
    *ret = r;
    return 0;
}

static bool sizes_ok(const DmsAccessSizes *s)
{
    unsigned min = s->min_access ? s->min_access : 1;
    unsigned max = s->max_access ? s->max_access : 4;

    return min <= 8 && max <= 8 && (min & (min - 1)) == 0 &&
           (max & (max - 1)) == 0 && min <= max;
}

int dms_region_new_message(const char *name, uint64_t size,
                           const DmsMessageOps *ops, void *opaque,
                           DmsDestroyNotify notify, DmsRegion **ret)
{
    DmsMessageOps copy = {0};
    DmsRegion *r;
    bool bulk;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(ops != NULL, -EINVAL);
    /* Anything shorter than the first version of the table is garbage. */
    g_return_val_if_fail(ops->size >= offsetof(DmsMessageOps, impl) +
                                          sizeof(DmsAccessSizes),
                         -EINVAL);
    memcpy(&copy, ops, MIN(ops->size, sizeof(copy)));
    copy.size = sizeof(copy);

    g_return_val_if_fail((copy.flags & ~DMS_MESSAGE_SERIALIZE) == 0, -EINVAL);
    bulk = copy.read || copy.write;
    if (bulk) {
        g_return_val_if_fail(copy.read && copy.write, -EINVAL);
    } else {
        g_return_val_if_fail(copy.read_value && copy.write_value, -EINVAL);
        g_return_val_if_fail(copy.endian <= DMS_ENDIAN_HOST, -EINVAL);
        g_return_val_if_fail(sizes_ok(&copy.valid) && sizes_ok(&copy.impl),
                             -EINVAL);
    }

    r = region_alloc(DMS_KIND_MESSAGE, name, size_to_last(size));
    if (!r)
        return -ENOMEM;
    r->msg = g_try_new0(DmsRegionMessage, 1);
    if (!r->msg) {
        g_free(r);
        return -ENOMEM;
    }
    r->msg->ops = copy;
    r->msg->opaque = opaque;
    r->notify = notify;
    r->notify_data = opaque;
    g_mutex_init(&r->msg->serialize_lock);
    *ret = r;
    return 0;
}

int dms_region_new_container(const char *name, uint64_t size, DmsRegion **ret)
{
    DmsRegion *r;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    r = region_alloc(DMS_KIND_CONTAINER, name, size_to_last(size));
    if (!r)
        return -ENOMEM;
    if (dms__children_new(&r->children) < 0) {
        g_free(r);
        return -ENOMEM;
    }
    *ret = r;
    return 0;
}

int dms_region_new_alias(const char *name, DmsRegion *target, uint64_t offset,
                         uint64_t size, DmsRegion **ret)
{
    DmsRegion *r;
    uint64_t last;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    g_return_val_if_fail(target != NULL, -EINVAL);

    dms__topology_lock();
    if (size == DMS_SIZE_ALL) {
        /* "To the end of the target", as it is now. */
        if (offset > target->last) {
            dms__topology_unlock();
            g_return_val_if_reached(-EINVAL);
        }
        last = target->last - offset;
    } else {
        last = size - 1;
    }
    dms__topology_unlock();
    g_return_val_if_fail(offset <= UINT64_MAX - last, -EINVAL);

    r = region_alloc(DMS_KIND_ALIAS, name, last);
    if (!r)
        return -ENOMEM;
    r->target = dms_region_ref(target);
    r->alias_offset = offset;
    /* The target's changes must reach the spaces that show us. */
    dms__topology_lock();
    if (!target->aliases)
        target->aliases = g_ptr_array_new();
    g_ptr_array_add(target->aliases, r);
    dms__topology_unlock();
    *ret = r;
    return 0;
}

DmsRegion *dms_region_ref(DmsRegion *region)
{
    if (region)
        atomic_fetch_add_explicit(&region->refcount, 1, memory_order_relaxed);
    return region;
}

static void region_free(DmsRegion *r)
{
    if (r->kind == DMS_KIND_CONTAINER) {
        GPtrArray *children = g_ptr_array_new();
        DmsChildCursor cur;

        /* Detach under the lock: others may be walking the children's
         * parent pointers to check for cycles. */
        dms__topology_lock();
        for (bool more = dms__children_first(r->children, &cur); more;
             more = dms__children_next(&cur)) {
            cur.region->parent = NULL;
            g_ptr_array_add(children, cur.region);
        }
        dms__children_free(r->children);
        dms__topology_unlock();
        for (guint i = 0; i < children->len; i++)
            dms_region_unref(g_ptr_array_index(children, i));
        g_ptr_array_free(children, TRUE);
    } else if (r->kind == DMS_KIND_ALIAS) {
        dms__topology_lock();
        g_ptr_array_remove_fast(r->target->aliases, r);
        dms__topology_unlock();
        dms_region_unref(r->target);
    } else if (r->kind == DMS_KIND_MESSAGE) {
        g_mutex_clear(&r->msg->serialize_lock);
        g_free(r->msg);
    } else {
        dms__dirty_free(atomic_load_explicit(&r->dirty, memory_order_acquire));
    }
    /* Nothing refers to us any more, aliases included (they hold us). */
    if (r->aliases)
        g_ptr_array_free(r->aliases, TRUE);
    if (r->notify)
        r->notify(r->notify_data);
    g_free(r);
}

DmsRegion *dms_region_unref(DmsRegion *region)
{
    /* acq_rel: the freeing thread must see every other holder's writes. */
    if (region && atomic_fetch_sub_explicit(&region->refcount, 1,
                                            memory_order_acq_rel) == 1)
        region_free(region);
    return NULL;
}

void dms__region_ref_n(DmsRegion *r, unsigned n)
{
    atomic_fetch_add_explicit(&r->refcount, (int)n, memory_order_relaxed);
}

void dms__region_unref_n(DmsRegion *r, unsigned n)
{
    if (atomic_fetch_sub_explicit(&r->refcount, (int)n,
                                  memory_order_acq_rel) == (int)n)
        region_free(r);
}

/*
 * Is @needle reachable from @from through subregions and alias targets?
 * Walked backwards, from @from up through containers and aliases, which
 * is short in practice (a root container has many children, few parents).
 */
static bool reached_by(const DmsRegion *from, const DmsRegion *needle)
{
    if (from == needle)
        return true;
    if (from->parent && reached_by(from->parent, needle))
        return true;
    for (guint i = 0; from->aliases && i < from->aliases->len; i++) {
        if (reached_by(g_ptr_array_index(from->aliases, i), needle))
            return true;
    }
    return false;
}

/*
 * Does [first, last] overlap a subregion of @priority? Only slots starting
 * in [first - max_last, last] can; the children tree finds the first of
 * them in logarithmic time.
 */
static bool overlaps_equal_priority(DmsRegion *c, uint64_t first,
                                    uint64_t last, int priority)
{
    guint index;
    DmsPriorityGroup *g = dms__children_group(c->children, priority, &index);
    DmsChildCursor cur;

    if (!g)
        return false;
    for (bool more = dms__children_lower_bound(
             c->children, priority,
             first > g->max_last ? first - g->max_last : 0, &cur);
         more; more = dms__children_next(&cur)) {
        if (cur.priority != priority || cur.offset > last)
            break;
        if (cur.offset + cur.region->last >= first)
            return true;
    }
    return false;
}

int dms_region_add_subregion(DmsRegion *container, uint64_t offset,
                             DmsRegion *sub, int priority, uint32_t flags)
{
    int r = 0;

    g_return_val_if_fail(container != NULL && sub != NULL, -EINVAL);
    g_return_val_if_fail(container->kind == DMS_KIND_CONTAINER, -EINVAL);
    g_return_val_if_fail((flags & ~DMS_SUBREGION_OVERLAP) == 0, -EINVAL);

    dms__topology_lock();
    if (offset > UINT64_MAX - sub->last) {
        r = -EINVAL;
        goto out;
    }
    if (sub->parent) {
        r = -EBUSY;
        goto out;
    }
    if (reached_by(container, sub)) {
        r = -ELOOP;
        goto out;
    }
    if (!(flags & DMS_SUBREGION_OVERLAP) &&
        overlaps_equal_priority(container, offset, offset + sub->last,
                                priority)) {
        r = -EEXIST;
        goto out;
    }
    sub->offset = offset;
    sub->priority = priority;
    sub->seq = dms__topology_next_seq();
    r = dms__children_insert(container->children, sub);
    if (r < 0)
        goto out;
    sub->parent = container;
    dms_region_ref(sub);
    dms__topology_changed(container, offset, offset + sub->last);
out:
    dms__topology_unlock();
    return r;
}

int dms_region_remove_subregion(DmsRegion *container, DmsRegion *sub)
{
    DmsRegion *drop = NULL;

    g_return_val_if_fail(container != NULL && sub != NULL, -EINVAL);

    dms__topology_lock();
    if (container->kind == DMS_KIND_CONTAINER && sub->parent == container) {
        dms__topology_changed(container, sub->offset, sub->offset + sub->last);
        if (!dms__children_remove(container->children, sub))
            g_error("libdmaspace: subregion '%s' missing from its container",
                    sub->name);
        sub->parent = NULL;
        drop = sub;
    }
    dms__topology_unlock();
    /*
     * The views that showed @sub hold references of their own until a
     * grace period after they were replaced: if ours is the last one left
     * after that, the destroy notify runs on the reclaimer thread.
     */
    if (!drop)
        return -ENOENT;
    dms_region_unref(drop);
    return 0;
}

int dms_region_set_size(DmsRegion *region, uint64_t size)
{
    uint64_t last = size_to_last(size);
    int r = 0;

    g_return_val_if_fail(region != NULL, -EINVAL);

    dms__topology_lock();
    if (region->kind == DMS_KIND_RAM &&
        (size == 0 || size > region->capacity)) {
        r = -EINVAL;
        goto out;
    }
    if (region->parent && region->offset > UINT64_MAX - last) {
        r = -EINVAL;
        goto out;
    }
    /* An alias's window must stay below 2^64 in its target too. */
    if (region->kind == DMS_KIND_ALIAS &&
        region->alias_offset > UINT64_MAX - last) {
        r = -EINVAL;
        goto out;
    }
    if (last < region->last) {
        /* The bytes given up, told while they are still ours. */
        dms__topology_changed(region, last + 1, region->last);
        region->last = last;
    } else if (last > region->last) {
        uint64_t old = region->last;

        region->last = last;
        dms__topology_changed(region, old + 1, last);
        if (region->parent) {
            guint index;
            DmsPriorityGroup *g = dms__children_group(
                region->parent->children, region->priority, &index);
            g->max_last = MAX(g->max_last, last);
        }
    }
out:
    dms__topology_unlock();
    return r;
}

uint64_t dms_region_get_size(const DmsRegion *region)
{
    uint64_t last;

    g_return_val_if_fail(region != NULL, 0);
    dms__topology_lock();
    last = region->last;
    dms__topology_unlock();
    return last + 1;
}

const char *dms_region_get_name(const DmsRegion *region)
{
    g_return_val_if_fail(region != NULL, NULL);
    return region->name;
}
