/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reference model of fuzz-space.c; see model.h for its shape.
 *
 * Written from the public headers' contracts, not from lib/: where the
 * headers leave the library a choice (how long a bounce mapping is), the
 * model states the choice it expects and why.
 */
#include <errno.h>

#include "model-private.h"

/* ---- glib criticals: counted, since some calls must raise exactly one
 */

unsigned model_criticals;
static unsigned *criticals_at = &model_criticals;
bool model_trace;

void model_expect_criticals(unsigned before, unsigned min, unsigned max,
                            const char *what)
{
    unsigned got = model_criticals - before;
    FUZZ_CHECK(got >= min && got <= max, "%s: %u model_criticals, want %u..%u",
               what, got, min, max);
}

/* ---- small helpers ---- */

int model_pick_errno(uint8_t v)
{
    /* -5000 is not an errno: the library must turn it into -EIO. */
    static const int errs[] = {-EIO,    -ENOTCONN,  -EFAULT, -EPERM,
                               -ENODEV, -EREMOTEIO, -EAGAIN, -5000};
    return errs[v % G_N_ELEMENTS(errs)];
}

DmsAccessSizes model_pick_sizes(uint8_t v)
{
    /* (min, max) pairs with min <= max, 0 meaning the default. */
    static const uint8_t pairs[][2] = {
        {0, 0}, {1, 1}, {1, 2}, {1, 4}, {1, 8}, {2, 2}, {2, 4}, {2, 8},
        {4, 4}, {4, 8}, {8, 8}, {0, 8}, {2, 0}, {4, 0}, {1, 0}, {0, 1},
    };
    DmsAccessSizes s = {pairs[v & 15][0], pairs[v & 15][1], false};
    return s;
}

static bool is_leaf(const Obj *o)
{
    return o->kind == OBJ_RAM || o->kind == OBJ_BULK || o->kind == OBJ_REG;
}

/* The n-th object (cyclically) that satisfies @want, or NULL. */
static Obj *pick_obj(Model *m, uint8_t which, bool (*want)(const Obj *))
{
    unsigned count = 0;

    for (int i = 0; i < MODEL_MAX_OBJS; i++)
        count += m->objs[i].kind != OBJ_FREE && want(&m->objs[i]);
    if (count == 0)
        return NULL;
    which %= count;
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        Obj *o = &m->objs[i];
        if (o->kind != OBJ_FREE && want(o) && which-- == 0)
            return o;
    }
    return NULL;
}

static bool obj_placed(const Obj *o)
{
    return o->parent != PARENT_NONE;
}

static bool obj_live_leaf(const Obj *o)
{
    return o->region && is_leaf(o);
}

/* ---- attributes the backends must see ---- */

const DmsAttrs *model_pick_attrs(Model *m, uint8_t seed)
{
    if (seed & 0x80) {
        m->attrs_null = true;
        return NULL;
    }
    memset(&m->attrs, 0, sizeof(m->attrs));
    m->attrs.flags = seed & 0x1f;
    m->attrs.requester_id = seed * 257u;
    m->attrs.pasid = seed;
    m->attrs.user = UINT64_C(0x0123456789abcdef) ^ seed;
    m->attrs_null = false;
    return &m->attrs;
}

static void check_attrs(Model *m, const DmsAttrs *attrs)
{
    if (m->attrs_null)
        FUZZ_CHECK(attrs == NULL, "backend got attributes for a NULL call");
    else
        FUZZ_CHECK(attrs && memcmp(attrs, &m->attrs, sizeof(*attrs)) == 0,
                   "backend got other attributes than the caller's");
}

/* ---- the fake backends ---- */

static bool reachable(Model *m, const Obj *o);

static void notify(void *data)
{
    Obj *o = data;

    FUZZ_CHECK(!o->notified, "destroy notify of object %d ran twice", o->id);
    FUZZ_CHECK(!o->region && !obj_placed(o) && !o->visible && o->maps == 0,
               "destroy notify of object %d while it is in use", o->id);
    /*
     * Only a leaf no alias shows may go: an alias holds its target.
     * Freeing the memory here lets ASan catch any later touch.
     */
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        const Obj *a = &o->m->objs[i];
        FUZZ_CHECK(!(a->kind == OBJ_ALIAS && a->target == o->id &&
                     reachable(o->m, a)),
                   "object %d destroyed while alias %d shows it", o->id, i);
    }
    o->notified = true;
    g_free(o->store);
    g_free(o->model);
    o->store = o->model = NULL;
}

/* A backend calling back into its own address must be refused. */
static void probe(Obj *o)
{
    Model *m = o->m;
    uint8_t byte;
    size_t done = 7;
    int r;

    if (!o->spec.probe || !o->visible || !m->space)
        return;
    r = dms_space_read(m->space, o->probe_addr, &byte, 1, NULL, &done);
    FUZZ_CHECK(r == -EDEADLK && done == 0,
               "re-entry into object %d: %d, done %zu", o->id, r, done);
}

static int64_t bulk_call(Obj *o, uint64_t offset, size_t len,
                         const DmsAttrs *attrs)
{
    FUZZ_CHECK(!o->notified, "backend of a destroyed object %d", o->id);
    FUZZ_CHECK(len >= 1 && offset < o->capacity && len <= o->capacity - offset,
               "bulk call outside object %d: offset %" PRIu64 " len %zu",
               o->id, offset, len);
    FUZZ_CHECK(o->spec.max_access == 0 || len <= o->spec.max_access,
               "bulk call of %zu bytes past max_access %zu", len,
               o->spec.max_access);
    check_attrs(o->m, attrs);
    probe(o);
    if (o->spec.fail_at != MODEL_NO_FAIL && o->spec.fail_at >= offset &&
        o->spec.fail_at - offset < len) {
        if (o->spec.bogus)
            return (offset & 1) ? 0 : (int64_t)len + 1;
        return o->spec.fail_err;
    }
    return o->spec.short_len ? (int64_t)MIN(len, o->spec.short_len)
                             : (int64_t)len;
}

static int64_t bulk_read(void *opaque, uint64_t offset, void *buf, size_t len,
                         const DmsAttrs *attrs)
{
    Obj *o = opaque;
    int64_t n = bulk_call(o, offset, len, attrs);

    if (n > 0 && (size_t)n <= len)
        memcpy(buf, o->store + offset, (size_t)n);
    return n;
}

static int64_t bulk_write(void *opaque, uint64_t offset, const void *buf,
                          size_t len, const DmsAttrs *attrs)
{
    Obj *o = opaque;
    int64_t n = bulk_call(o, offset, len, attrs);

    if (n > 0 && (size_t)n <= len)
        memcpy(o->store + offset, buf, (size_t)n);
    return n;
}

static void reg_call(Obj *o, uint64_t offset, unsigned size,
                     const DmsAttrs *attrs)
{
    FUZZ_CHECK(!o->notified, "backend of a destroyed object %d", o->id);
    FUZZ_CHECK(size >= o->imin && size <= o->imax && (size & (size - 1)) == 0,
               "register call of %u bytes, object %d implements %u..%u", size,
               o->id, o->imin, o->imax);
    FUZZ_CHECK(o->spec.impl.unaligned || offset % size == 0,
               "unaligned register call at %" PRIu64, offset);
    FUZZ_CHECK(offset < o->capacity && size <= o->capacity - offset,
               "register call outside object %d", o->id);
    check_attrs(o->m, attrs);
    probe(o);
}

static int reg_read(void *opaque, uint64_t offset, uint64_t *value,
                    unsigned size, const DmsAttrs *attrs)
{
    Obj *o = opaque;

    reg_call(o, offset, size, attrs);
    *value = dms_endian_load(o->spec.endian, o->store + offset, size);
    return 0;
}

static int reg_write(void *opaque, uint64_t offset, uint64_t value,
                     unsigned size, const DmsAttrs *attrs)
{
    Obj *o = opaque;

    reg_call(o, offset, size, attrs);
    dms_endian_store(o->spec.endian, o->store + offset, size, value);
    return 0;
}

/* ---- lifecycle ---- */

static void new_container(const char *name, uint64_t size, DmsRegion **ret)
{
    int r = dms_region_new_container(name, size, ret);
    FUZZ_CHECK(r == 0, "new container: %d", r);
}

/* lib/dms-private.h; the model links the library's archive. */
void dms__topology_reclaim_inline(bool on);

Model *model_new(FuzzInput *in)
{
    static bool writer_set;
    Model *m = g_new0(Model, 1);
    uint16_t n_offset = fuzz_u16(in), n_size = fuzz_u16(in);
    int r;

    if (!writer_set) {
        g_log_set_writer_func(fuzz_count_criticals, &criticals_at, NULL);
        model_trace = g_getenv("DMS_FUZZ_TRACE") != NULL;
        /* The model checks each notify at the step that causes it. */
        dms__topology_reclaim_inline(true);
        writer_set = true;
    }
    new_container("root", DMS_SIZE_ALL, &m->root);
    new_container("C", MODEL_WINDOW, &m->c);
    r = dms_region_add_subregion(m->root, MODEL_BASE, m->c, 0, 0);
    FUZZ_CHECK(r == 0, "placing C: %d", r);

    /* N anywhere in C, possibly running past C's end (clipped there). */
    m->n_offset = n_offset % MODEL_WINDOW;
    m->n_last = n_size % MODEL_WINDOW;
    m->n_priority = (int)(fuzz_u8(in) % 5) - 2;
    m->n_seq = ++m->next_seq;
    new_container("N", m->n_last + 1, &m->n);
    r = dms_region_add_subregion(m->c, m->n_offset, m->n, m->n_priority, 0);
    FUZZ_CHECK(r == 0, "placing N: %d", r);

    m->ctx = g_main_context_new();
    r = dms_space_new(m->root, "fuzz", &m->space);
    FUZZ_CHECK(r == 0, "new space: %d", r);
    m->space_p = m->space;
    m->limit = dms_space_get_bounce_limit(m->space);
    FUZZ_CHECK(m->limit == DMS_BOUNCE_LIMIT_DEFAULT, "default limit %zu",
               m->limit);
    m->expect.size = sizeof(m->expect);
    m->expect.bounce_limit = m->limit;
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        m->objs[i].id = i;
        m->objs[i].m = m;
        m->objs[i].parent = PARENT_NONE;
    }
    model_render(m);
    return m;
}

/* Objects nothing holds any more must have been destroyed. */
static bool reachable(Model *m, const Obj *o)
{
    if (o->region || obj_placed(o) || o->visible || o->maps)
        return true;
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        const Obj *a = &m->objs[i];
        if (a->kind == OBJ_ALIAS && a->target == o->id && reachable(m, a))
            return true;
    }
    return false;
}

static void sweep(Model *m)
{
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        Obj *o = &m->objs[i];

        if (o->kind == OBJ_FREE)
            continue;
        /* Aliases have no notify: they are gone once unreachable. */
        if (o->kind == OBJ_ALIAS && !reachable(m, o))
            o->notified = true;
        if (!o->notified) {
            FUZZ_CHECK(reachable(m, o),
                       "object %d is unreachable but not destroyed", i);
            continue;
        }
        /* Slots are reused only once destroyed, so notifies stay sane. */
        memset(o, 0, sizeof(*o));
        o->id = i;
        o->m = m;
        o->parent = PARENT_NONE;
    }
}

/* ---- topology ---- */

/* Lets go of our reference; the model must not count it while the
 * library runs the notify this may trigger. */
static void drop(Obj *o)
{
    DmsRegion *r = o->region;

    o->region = NULL;
    dms_region_unref(r);
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
    return a0 <= b1 && b0 <= a1;
}

/* The error dms_region_add_subregion() must give, or 0. */
static int expect_add(Model *m, int parent, uint64_t offset, uint64_t last,
                      int priority, bool overlap)
{
    Child kids[MODEL_MAX_OBJS + 1];
    size_t n;

    if (offset > UINT64_MAX - last)
        return -EINVAL;
    n = model_children_of(m, parent, kids);
    for (size_t k = 0; k < n; k++) {
        if (kids[k].priority == priority && !overlap &&
            overlaps(offset, offset + last, kids[k].offset,
                     kids[k].offset + kids[k].last))
            return -EEXIST;
    }
    return 0;
}

static Obj *free_slot(Model *m)
{
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        if (m->objs[i].kind == OBJ_FREE)
            return &m->objs[i];
    }
    return NULL;
}

static int create_leaf(Obj *o, const ObjSpec *spec)
{
    DmsMessageOps ops = {.size = sizeof(ops)};
    uint64_t size = spec->size;

    o->capacity = size;
    o->store = g_malloc(size);
    o->model = g_malloc(size);
    for (uint64_t i = 0; i < size; i++)
        o->store[i] = o->model[i] = pattern((uint8_t)o->id, i);

    if (spec->kind == OBJ_RAM)
        return dms_region_new_ram(NULL, o->store, size,
                                  spec->readonly ? DMS_RAM_READONLY : 0, o,
                                  notify, &o->region);
    ops.flags = spec->serialize ? DMS_MESSAGE_SERIALIZE : 0;
    if (spec->kind == OBJ_BULK) {
        ops.read = bulk_read;
        ops.write = bulk_write;
        ops.max_access = spec->max_access;
    } else {
        ops.read_value = reg_read;
        ops.write_value = reg_write;
        ops.endian = spec->endian;
        ops.valid = spec->valid;
        ops.impl = spec->impl;
        o->vmin = spec->valid.min_access ? spec->valid.min_access : 1;
        o->vmax = spec->valid.max_access ? spec->valid.max_access : 4;
        o->imin = spec->impl.min_access ? spec->impl.min_access : 1;
        o->imax = spec->impl.max_access ? spec->impl.max_access : 4;
    }
    return dms_region_new_message(NULL, size, &ops, o, notify, &o->region);
}

void model_add(Model *m, const ObjSpec *spec)
{
    unsigned before = model_criticals;
    Obj *o = free_slot(m), *t = NULL;
    int want, r;

    if (!o)
        return;
    if (spec->kind == OBJ_ALIAS) {
        t = pick_obj(m, (uint8_t)spec->target, obj_live_leaf);
        if (!t)
            return;
    }
    o->spec = *spec;
    o->kind = spec->kind;

    if (t) {
        uint64_t size = spec->size;
        /* "To the end of the target" needs an offset inside it. */
        if (size == DMS_SIZE_ALL && spec->alias_offset > t->last)
            size = 1;
        r = dms_region_new_alias(NULL, t->region, spec->alias_offset, size,
                                 &o->region);
        FUZZ_CHECK(r == 0, "new alias: %d", r);
        o->target = t->id;
        o->last =
            size == DMS_SIZE_ALL ? t->last - spec->alias_offset : size - 1;
    } else {
        r = create_leaf(o, spec);
        FUZZ_CHECK(r == 0, "new region: %d", r);
        o->last = spec->size - 1;
    }

    want = expect_add(m, spec->parent, spec->offset, o->last, spec->priority,
                      spec->overlap);
    if (want == 0) {
        o->parent = spec->parent;
        o->offset = spec->offset;
        o->priority = spec->priority;
        o->seq = ++m->next_seq;
        model_topology_changed(m);
    }
    r = dms_region_add_subregion(spec->parent == PARENT_C ? m->c : m->n,
                                 spec->offset, o->region, spec->priority,
                                 spec->overlap ? DMS_SUBREGION_OVERLAP : 0);
    TRACE("add %d kind %d in %c at %#" PRIx64 " size %#" PRIx64 " prio %d: %d",
          o->id, o->kind, spec->parent == PARENT_C ? 'C' : 'N', spec->offset,
          o->last + 1, spec->priority, r);
    FUZZ_CHECK(r == want, "add object %d: %d, want %d", o->id, r, want);
    model_expect_criticals(before, 0, 0, "add");
    if (r < 0) {
        /* Refused: our reference was the only one. */
        drop(o);
        FUZZ_CHECK(o->notified || o->kind == OBJ_ALIAS,
                   "refused region %d not destroyed", o->id);
    }
}

static bool placed(const Obj *o)
{
    return obj_placed(o);
}

void model_remove(Model *m, uint8_t which)
{
    unsigned before = model_criticals;
    Obj *o = pick_obj(m, which, placed);
    DmsRegion *home, *other;
    int r;

    if (!o)
        return;
    home = o->parent == PARENT_C ? m->c : m->n;
    other = o->parent == PARENT_C ? m->n : m->c;
    if (which & 0x80) {
        r = dms_region_remove_subregion(other, o->region);
        FUZZ_CHECK(r == -ENOENT, "remove from the wrong container: %d", r);
    }
    o->parent = PARENT_NONE;
    model_topology_changed(m);
    r = dms_region_remove_subregion(home, o->region);
    TRACE("remove %d: %d", o->id, r);
    FUZZ_CHECK(r == 0, "remove object %d: %d", o->id, r);
    if (which & 0x40) {
        r = dms_region_remove_subregion(home, o->region);
        FUZZ_CHECK(r == -ENOENT, "second remove: %d", r);
    }
    model_expect_criticals(before, 0, 0, "remove");
    drop(o);
}

void model_add_again(Model *m, uint8_t which)
{
    Obj *o = pick_obj(m, which, placed);
    int r;

    if (!o)
        return;
    r = dms_region_add_subregion((which & 1) ? m->c : m->n, o->offset,
                                 o->region, o->priority,
                                 DMS_SUBREGION_OVERLAP);
    FUZZ_CHECK(r == -EBUSY, "adding a placed region again: %d", r);
}

void model_resize(Model *m, uint8_t which, uint64_t size)
{
    unsigned before = model_criticals;
    Obj *o = pick_obj(m, which, placed);
    int want = 0, r;

    if (!o)
        return;
    switch (o->kind) {
    case OBJ_RAM:
        want = size <= o->capacity ? 0 : -EINVAL;
        break;
    case OBJ_BULK:
        size = MIN(size, o->capacity);
        break;
    case OBJ_REG:
        size = MIN((size + 7) & ~(uint64_t)7, o->capacity);
        break;
    default:
        break;
    }
    if (want == 0) {
        o->last = size - 1;
        model_topology_changed(m);
    }
    r = dms_region_set_size(o->region, size);
    FUZZ_CHECK(r == want, "resize object %d to %" PRIu64 ": %d, want %d",
               o->id, size, r, want);
    model_expect_criticals(before, 0, 0, "resize");
}

void model_begin(Model *m)
{
    if (m->depth >= 3)
        return;
    dms_update_begin();
    m->depth++;
}

void model_commit(Model *m)
{
    if (m->depth == 0)
        return;
    if (--m->depth == 0)
        model_render(m); /* before: the commit may destroy what it hid */
    dms_update_commit();
}

/* ---- verification and teardown ---- */

void model_verify(Model *m)
{
    DmsSpaceStats got = {.size = sizeof(got)};
    int r;

    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        const Obj *o = &m->objs[i];
        if (o->kind == OBJ_FREE || o->kind == OBJ_ALIAS || o->notified)
            continue;
        FUZZ_CHECK(memcmp(o->store, o->model, o->capacity) == 0,
                   "object %d's memory differs from the model", i);
    }
    if (m->space) {
        r = dms_space_get_stats(m->space, &got);
        FUZZ_CHECK(r == 0, "stats: %d", r);
        m->expect.bounce_in_use = m->in_use;
#define SAME(f)                                                               \
    FUZZ_CHECK(got.f == m->expect.f,                                          \
               "stats: " #f " %" PRIu64 ", want %" PRIu64, (uint64_t)got.f,   \
               (uint64_t)m->expect.f)
        SAME(bounce_in_use);
        SAME(bounce_high_water);
        SAME(bounce_limit);
        SAME(direct_maps);
        SAME(bounced_maps);
        SAME(fail_unassigned);
        SAME(fail_access);
        SAME(fail_exhausted);
        SAME(fail_no_budget);
        SAME(fail_backend);
        SAME(fail_nomem);
        SAME(bad_unmaps);
        SAME(map_clients_fired);
#undef SAME
    }
    sweep(m);
}

/* After our unref: is the space's last reference gone? */
static void cancel_if_last(Model *m)
{
    for (int i = 0; i < MODEL_MAX_CLIENTS; i++) {
        if (m->clients[i].used && m->clients[i].pending)
            return;
    }
    for (int i = 0; i < MODEL_MAX_MAPS; i++) {
        if (m->maps[i].live && !m->maps[i].bounce)
            return;
    }
    for (int i = 0; i < MODEL_MAX_CLIENTS; i++)
        m->clients[i].waiting = false;
}

void model_free(Model *m)
{
    bool unref_first = m->next_seq & 1;

    while (m->depth > 0)
        model_commit(m);
    model_verify(m);

    /*
     * Mappings keep the space alive: our reference may go first. When the
     * last reference goes (ours, then those of direct mappings and of
     * clients pending on the context), the clients still waiting are
     * cancelled and never run.
     */
    if (unref_first) {
        m->space = dms_space_unref(m->space);
        cancel_if_last(m);
    }
    for (int i = 0; i < MODEL_MAX_MAPS; i++) {
        if (m->maps[i].live) {
            model_end_mapping(m, &m->maps[i], m->maps[i].len / 2, (uint8_t)i);
            if (unref_first)
                cancel_if_last(m);
        }
    }
    if (!unref_first)
        model_dispatch(m);
    m->space = dms_space_unref(m->space);
    for (int i = 0; i < MODEL_MAX_CLIENTS; i++) {
        if (m->clients[i].used)
            dms_map_client_unref(m->clients[i].handle);
    }
    /* Pending callbacks hold the space: freeing the context ends them. */
    g_main_context_unref(m->ctx);

    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        Obj *o = &m->objs[i];
        if (o->kind != OBJ_FREE && obj_placed(o)) {
            DmsRegion *home = o->parent == PARENT_C ? m->c : m->n;
            int r;

            o->parent = PARENT_NONE;
            model_render(m);
            r = dms_region_remove_subregion(home, o->region);
            FUZZ_CHECK(r == 0, "teardown remove: %d", r);
        }
        if (o->kind != OBJ_FREE)
            drop(o);
    }
    dms_region_unref(m->n);
    dms_region_unref(m->c);
    dms_region_unref(m->root);
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        Obj *o = &m->objs[i];
        FUZZ_CHECK(o->kind == OBJ_FREE || o->kind == OBJ_ALIAS || o->notified,
                   "object %d never destroyed", i);
        g_free(o->store);
        g_free(o->model);
    }
    g_free(m);
}
