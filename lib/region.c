/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsRegion objects: creation, reference counting, containers, aliases and
 * the process-wide topology lock.
 *
 * Topology (which region is where) changes rarely and is guarded by one
 * recursive mutex, like QEMU's memory transactions under the BQL: changes
 * are cheap to reason about, and a batch (dms_update_begin/commit) costs
 * one re-render. Accesses never take this lock; they read the immutable
 * flattened views the outermost unlock publishes.
 */
#include "dms-private.h"

static GRecMutex topology_mutex;
static unsigned topology_depth;
static bool topology_dirty;
static uint64_t subregion_seq;

void dms__topology_lock(void)
{
    g_rec_mutex_lock(&topology_mutex);
    topology_depth++;
}

void dms__topology_changed(void)
{
    topology_dirty = true;
}

void dms__topology_unlock(void)
{
    bool publish = topology_depth == 1 && topology_dirty;

    if (publish)
        topology_dirty = false;
    topology_depth--;
    g_rec_mutex_unlock(&topology_mutex);
    /*
     * Views are rebuilt after the lock is released by this thread (the
     * republish takes it again): old views are freed after a grace period,
     * which may drop the last reference to a region and run its destroy
     * notify, and a notify must never run under a library lock.
     */
    if (publish)
        dms__spaces_republish();
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

static DmsRegion *region_alloc(DmsRegionKind kind, const char *name,
                               uint64_t last)
{
    DmsRegion *r = g_try_new0(DmsRegion, 1);

    if (!r)
        return NULL;
    r->name = g_strdup(name ? name : "");
    atomic_init(&r->refcount, 1);
    r->kind = kind;
    r->last = last;
    return r;
}

/* DMS_SIZE_ALL (0) spans 2^64 bytes: last = 2^64 - 1. */
static uint64_t size_to_last(uint64_t size)
{
    return size - 1;
}

int dms_region_new_ram(const char *name, void *host, uint64_t size,
                       uint32_t flags, DmsDestroyNotify notify,
                       void *notify_data, DmsRegion **ret)
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
    r->ops = copy;
    r->opaque = opaque;
    r->notify = notify;
    r->notify_data = opaque;
    g_mutex_init(&r->serialize_lock);
    *ret = r;
    return 0;
}

static gint compare_place(gconstpointer a, gconstpointer b, gpointer unused)
{
    const DmsSubregion *x = a, *y = b;

    (void)unused;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int dms_region_new_container(const char *name, uint64_t size, DmsRegion **ret)
{
    DmsRegion *r;

    g_return_val_if_fail(ret != NULL, -EINVAL);
    *ret = NULL;
    r = region_alloc(DMS_KIND_CONTAINER, name, size_to_last(size));
    if (!r)
        return -ENOMEM;
    r->children = g_ptr_array_new_with_free_func(g_free);
    r->by_place = g_tree_new_full(compare_place, NULL, NULL, NULL);
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
        GPtrArray *children;

        /* Detach under the lock: others may be walking the children's
         * parent pointers to check for cycles. */
        dms__topology_lock();
        children = r->children;
        r->children = NULL;
        g_tree_destroy(r->by_place);
        r->by_place = NULL;
        for (guint i = 0; i < children->len; i++) {
            DmsSubregion *s = g_ptr_array_index(children, i);
            s->region->parent = NULL;
        }
        dms__topology_unlock();
        for (guint i = 0; i < children->len; i++) {
            DmsSubregion *s = g_ptr_array_index(children, i);
            dms_region_unref(s->region);
        }
        g_ptr_array_unref(children);
    } else if (r->kind == DMS_KIND_ALIAS) {
        dms_region_unref(r->target);
    } else if (r->kind == DMS_KIND_MESSAGE) {
        g_mutex_clear(&r->serialize_lock);
    } else {
        dms__dirty_free(atomic_load_explicit(&r->dirty, memory_order_acquire));
    }
    if (r->notify)
        r->notify(r->notify_data);
    g_free(r->name);
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

/* Is @needle reachable from @from through subregions and alias targets? */
static bool reaches(const DmsRegion *from, const DmsRegion *needle)
{
    if (from == needle)
        return true;
    if (from->kind == DMS_KIND_ALIAS)
        return reaches(from->target, needle);
    if (from->kind == DMS_KIND_CONTAINER) {
        for (guint i = 0; i < from->children->len; i++) {
            const DmsSubregion *s = g_ptr_array_index(from->children, i);
            if (reaches(s->region, needle))
                return true;
        }
    }
    return false;
}

/*
 * Does [first, last] overlap a subregion of @priority? Only slots starting
 * in [first - max_child_last, last] can; by_place finds the first of them
 * in logarithmic time.
 */
static bool overlaps_equal_priority(DmsRegion *c, uint64_t first,
                                    uint64_t last, int priority)
{
    DmsSubregion probe = {
        .priority = priority,
        .offset = first > c->max_child_last ? first - c->max_child_last : 0,
    };
    GTreeNode *node = g_tree_lower_bound(c->by_place, &probe);

    for (; node; node = g_tree_node_next(node)) {
        const DmsSubregion *s = g_tree_node_value(node);

        if (s->priority != priority || s->offset > last)
            break;
        if (s->offset + s->region->last >= first)
            return true;
    }
    return false;
}

int dms_region_add_subregion(DmsRegion *container, uint64_t offset,
                             DmsRegion *sub, int priority, uint32_t flags)
{
    DmsSubregion *slot;
    guint pos;
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
    if (reaches(sub, container)) {
        r = -ELOOP;
        goto out;
    }
    if (!(flags & DMS_SUBREGION_OVERLAP) &&
        overlaps_equal_priority(container, offset, offset + sub->last,
                                priority)) {
        r = -EEXIST;
        goto out;
    }
    /* After the last slot of lower or equal priority: usually the end. */
    pos = container->children->len;
    while (pos > 0 &&
           ((DmsSubregion *)g_ptr_array_index(container->children, pos - 1))
                   ->priority > priority)
        pos--;
    slot = g_try_new0(DmsSubregion, 1);
    if (!slot) {
        r = -ENOMEM;
        goto out;
    }
    slot->region = dms_region_ref(sub);
    slot->offset = offset;
    slot->priority = priority;
    slot->seq = ++subregion_seq;
    g_ptr_array_insert(container->children, (gint)pos, slot);
    g_tree_insert(container->by_place, slot, slot);
    container->max_child_last = MAX(container->max_child_last, sub->last);
    sub->parent = container;
    dms__topology_changed();
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
        for (guint i = 0; i < container->children->len; i++) {
            DmsSubregion *s = g_ptr_array_index(container->children, i);
            if (s->region == sub) {
                g_tree_remove(container->by_place, s);
                g_ptr_array_remove_index(container->children, i);
                sub->parent = NULL;
                drop = sub;
                dms__topology_changed();
                break;
            }
        }
    }
    dms__topology_unlock();
    /*
     * Only now, after the unlock republished the views and their grace
     * period passed, is the container's reference dropped: if it was the
     * last, the destroy notify runs here, without locks.
     */
    if (!drop)
        return -ENOENT;
    dms_region_unref(drop);
    return 0;
}

int dms_region_set_size(DmsRegion *region, uint64_t size)
{
    DmsSubregion *slot = NULL;
    uint64_t last = size_to_last(size);
    int r = 0;

    g_return_val_if_fail(region != NULL, -EINVAL);

    dms__topology_lock();
    if (region->kind == DMS_KIND_RAM &&
        (size == 0 || size > region->capacity)) {
        r = -EINVAL;
        goto out;
    }
    if (region->parent) {
        GPtrArray *siblings = region->parent->children;
        for (guint i = 0; i < siblings->len; i++) {
            DmsSubregion *s = g_ptr_array_index(siblings, i);
            if (s->region == region)
                slot = s;
        }
        if (slot && slot->offset > UINT64_MAX - last) {
            r = -EINVAL;
            goto out;
        }
    }
    if (region->last != last) {
        region->last = last;
        if (region->parent)
            region->parent->max_child_last =
                MAX(region->parent->max_child_last, last);
        dms__topology_changed();
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
