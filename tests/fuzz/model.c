/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reference model of fuzz-space.c; see model.h for its shape.
 *
 * Written from the public headers' contracts, not from lib/: where the
 * headers leave the library a choice (how long a bounce mapping is), the
 * model states the choice it expects and why.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "model.h"

typedef struct Obj {
    ObjKind kind;
    int id;
    Model *m;
    DmsRegion *region; /* our reference; NULL once we let go */
    bool notified;     /* the destroy notify ran */

    /* RAM: the host memory; message: the fake device's bytes. */
    uint8_t *store;
    uint8_t *model; /* what store must hold */
    uint64_t capacity;
    uint64_t last; /* size - 1, as the library keeps it */

    /* placement; a placed object always has our reference too */
    int parent;
    uint64_t offset;
    int priority;
    uint64_t seq;

    ObjSpec spec;      /* backend behaviour and access sizes */
    unsigned vmin, vmax, imin, imax;
    int target;        /* aliases: the leaf shown */

    /* from the visible view */
    bool visible;
    uint64_t probe_addr;
    unsigned maps; /* live mappings holding this leaf */
} Obj;

typedef struct Mapping {
    bool live;
    void *ptr;
    size_t len;
    DmsDirection dir;
    bool bounce;
    int leaf;
    uint64_t offset;
    bool has_attrs;
    DmsAttrs attrs;
} Mapping;

/* Recently unmapped, to try unmapping again. */
typedef struct Stale {
    void *ptr;
    size_t len;
    DmsDirection dir;
} Stale;

/* [start, end) shows object @obj from @offset on. */
typedef struct Seg {
    uint64_t start, end;
    int obj;
    uint64_t offset;
} Seg;

typedef struct Client {
    bool used;
    Model *m;
    DmsMapClient *handle;
    bool on_ctx;  /* called from the model's GMainContext */
    bool waiting; /* for budget */
    bool pending; /* on_ctx: fired, its callback waits for a dispatch */
    bool fired;   /* the callback ran */
    bool cancelled;
    uint64_t order;
} Client;

struct Model {
    DmsRegion *root, *c, *n;
    DmsSpace *space;   /* NULL once our reference is gone */
    DmsSpace *space_p; /* the pointer, for calls mappings keep legal */
    uint64_t n_offset, n_last, n_seq;
    int n_priority;

    Obj objs[MODEL_MAX_OBJS];
    uint64_t next_seq;
    unsigned depth; /* open update batches */

    /* the view accesses see: who owns which part of the window */
    Seg segs[4 * (MODEL_MAX_OBJS + 1) + 2];
    size_t nsegs;

    Mapping maps[MODEL_MAX_MAPS];
    Stale stale[4];
    unsigned next_stale;
    size_t limit, in_use;

    Client clients[MODEL_MAX_CLIENTS];
    uint64_t client_seq;
    GMainContext *ctx;

    DmsSpaceStats expect;

    /* what backends must be handed: NULL, or attributes equal to these */
    bool attrs_null;
    DmsAttrs attrs;
};

/*
 * DMS_FUZZ_TRACE=1 prints each call and its result: the way to read what
 * a crash input does.
 */
static bool trace_on;

#define TRACE(...)                                                            \
    do {                                                                      \
        if (trace_on) {                                                       \
            fprintf(stderr, "  ");                                            \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* ---- glib criticals: counted, since some calls must raise exactly one */

static unsigned criticals;

static GLogWriterOutput count_criticals(GLogLevelFlags level,
                                        const GLogField *fields,
                                        gsize n_fields, gpointer unused)
{
    (void)fields;
    (void)n_fields;
    (void)unused;
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        criticals++;
    if (level & G_LOG_LEVEL_ERROR)
        abort();
    return G_LOG_WRITER_HANDLED;
}

static void expect_criticals(unsigned before, unsigned min, unsigned max,
                             const char *what)
{
    unsigned got = criticals - before;
    FUZZ_CHECK(got >= min && got <= max, "%s: %u criticals, want %u..%u",
               what, got, min, max);
}

/* ---- small helpers ---- */

int model_pick_errno(uint8_t v)
{
    /* -5000 is not an errno: the library must turn it into -EIO. */
    static const int errs[] = {-EIO,    -ENOTCONN, -EFAULT, -EPERM,
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

static int backend_errno(int err)
{
    return err >= -4095 ? err : -EIO;
}

static bool range_ok(uint64_t addr, uint64_t len)
{
    return len == 0 || addr <= UINT64_MAX - (len - 1);
}

static bool is_leaf(const Obj *o)
{
    return o->kind == OBJ_RAM || o->kind == OBJ_BULK || o->kind == OBJ_REG;
}

static uint8_t pattern(uint8_t seed, size_t i)
{
    return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
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

static const DmsAttrs *pick_attrs(Model *m, uint8_t seed)
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
    FUZZ_CHECK(len >= 1 && offset < o->capacity &&
                   len <= o->capacity - offset,
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
               "register call of %u bytes, object %d implements %u..%u",
               size, o->id, o->imin, o->imax);
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

/* ---- the view ---- */

typedef struct Child {
    int obj; /* -1 for N */
    int priority;
    uint64_t seq;
    uint64_t offset, last;
} Child;

static int compare_child(const void *a, const void *b)
{
    const Child *x = a, *y = b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static size_t children_of(Model *m, int parent, Child *out)
{
    size_t n = 0;

    if (parent == PARENT_C)
        out[n++] = (Child){-1, m->n_priority, m->n_seq, m->n_offset,
                           m->n_last};
    for (int i = 0; i < MODEL_MAX_OBJS; i++) {
        const Obj *o = &m->objs[i];
        if (o->kind != OBJ_FREE && o->parent == parent)
            out[n++] = (Child){i, o->priority, o->seq, o->offset, o->last};
    }
    return n;
}

/*
 * The owner of absolute address @a among the children of container
 * @parent, whose byte 0 is at @base and which shows only [lo, hi): the
 * highest priority child covering @a wins, the newest among equals. N
 * answers only where one of its own children does, so its holes show what
 * lies below it; an alias only where its target reaches.
 */
static Obj *owner_in(Model *m, int parent, uint64_t base, uint64_t lo,
                     uint64_t hi, uint64_t a, uint64_t *offset)
{
    Child kids[MODEL_MAX_OBJS + 1];
    size_t n = children_of(m, parent, kids);

    qsort(kids, n, sizeof(kids[0]), compare_child);
    while (n-- > 0) {
        uint64_t start = base + kids[n].offset;
        /* Nothing reaches past the window: clamp before adding. */
        uint64_t end = start + MIN(kids[n].last, 2 * (uint64_t)MODEL_WINDOW);
        uint64_t s = MAX(lo, start), e = MIN(hi, end + 1);
        Obj *o;

        if (a < s || a >= e)
            continue;
        if (kids[n].obj < 0) {
            o = owner_in(m, PARENT_N, start, s, e, a, offset);
            if (o)
                return o;
            continue;
        }
        o = &m->objs[kids[n].obj];
        if (o->kind != OBJ_ALIAS) {
            *offset = a - start;
            return o;
        }
        if (a - start + o->spec.alias_offset <= m->objs[o->target].last) {
            *offset = a - start + o->spec.alias_offset;
            return &m->objs[o->target];
        }
    }
    return NULL;
}

/* Where ownership may change inside container @parent's children. */
static size_t boundaries_in(Model *m, int parent, uint64_t base,
                            uint64_t *out, size_t n)
{
    Child kids[MODEL_MAX_OBJS + 1];
    size_t k = children_of(m, parent, kids);

    while (k-- > 0) {
        uint64_t start = base + kids[k].offset;
        const Obj *o = kids[k].obj < 0 ? NULL : &m->objs[kids[k].obj];

        out[n++] = start;
        out[n++] = start + MIN(kids[k].last, 2 * (uint64_t)MODEL_WINDOW) + 1;
        if (!o)
            n = boundaries_in(m, PARENT_N, start, out, n);
        else if (o->kind == OBJ_ALIAS &&
                 o->spec.alias_offset <= m->objs[o->target].last)
            out[n++] = start + (m->objs[o->target].last -
                                o->spec.alias_offset) + 1;
    }
    return n;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Publishes the live topology as the view accesses see: the window cut
 * at every boundary, each piece given its owner, pieces that continue the
 * same leaf at the next offset joined.
 */
static void render(Model *m)
{
    uint64_t cut[4 * (MODEL_MAX_OBJS + 1) + 2];
    size_t n = 0;

    cut[n++] = MODEL_BASE;
    cut[n++] = MODEL_BASE + MODEL_WINDOW;
    n = boundaries_in(m, PARENT_C, MODEL_BASE, cut, n);
    qsort(cut, n, sizeof(cut[0]), compare_u64);

    m->nsegs = 0;
    for (int i = 0; i < MODEL_MAX_OBJS; i++)
        m->objs[i].visible = false;
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t a = cut[i], offset = 0;
        Seg *prev = m->nsegs ? &m->segs[m->nsegs - 1] : NULL;
        Obj *o;

        if (a == cut[i + 1] || a < MODEL_BASE ||
            a >= MODEL_BASE + MODEL_WINDOW)
            continue;
        o = owner_in(m, PARENT_C, MODEL_BASE, MODEL_BASE,
                     MODEL_BASE + MODEL_WINDOW, a, &offset);
        if (!o)
            continue;
        if (prev && prev->obj == o->id && prev->end == a &&
            prev->offset + (a - prev->start) == offset) {
            prev->end = MIN(cut[i + 1], MODEL_BASE + MODEL_WINDOW);
            continue;
        }
        m->segs[m->nsegs++] = (Seg){
            .start = a,
            .end = MIN(cut[i + 1], MODEL_BASE + MODEL_WINDOW),
            .obj = o->id,
            .offset = offset,
        };
        if (!o->visible) {
            o->visible = true;
            o->probe_addr = a;
        }
    }
}

/* A topology change: visible at once unless a batch is open. */
static void topology_changed(Model *m)
{
    if (m->depth == 0)
        render(m);
}

/* The owner of @a in the view, or NULL; *run gets how many bytes from @a
 * on (at most @max) the same leaf shows at consecutive offsets. */
static Obj *lookup(Model *m, uint64_t a, uint64_t max, uint64_t *offset,
                   uint64_t *run)
{
    for (size_t i = 0; i < m->nsegs; i++) {
        const Seg *sg = &m->segs[i];

        if (a >= sg->start && a < sg->end) {
            *offset = sg->offset + (a - sg->start);
            *run = MIN(max, sg->end - a);
            return &m->objs[sg->obj];
        }
    }
    return NULL;
}

/* ---- simulated accesses ---- */

static unsigned piece(uint64_t off, uint64_t rem, unsigned max,
                      bool unaligned)
{
    unsigned size = max;

    while (size > rem)
        size >>= 1;
    while (!unaligned && size > 1 && off % size)
        size >>= 1;
    return size;
}

/*
 * What the library must do to leaf @o for an access of @len bytes at
 * @offset: the model's bytes change for a write, @exp receives the data for
 * a read. @dry: a dms_space_check(), which calls no backend. Returns the
 * result; *moved the bytes done.
 *
 * Register-style regions: the access is cut greedily into the largest
 * valid power of two that fits (and is aligned, unless valid.unaligned),
 * each of those into the largest implemented one likewise; a piece below
 * valid.min fails with -EOPNOTSUPP, so does a write piece below impl.min,
 * while a read piece below impl.min is widened to impl.min. That is the
 * split QEMU's memory API makes, which region.h's valid/impl follow.
 */
static int sim_leaf(Obj *o, uint64_t offset, size_t len, bool is_write,
                    const uint8_t *wbuf, uint8_t *exp, bool dry,
                    size_t *moved)
{
    size_t pos = 0;

    *moved = 0;
    switch (o->kind) {
    case OBJ_RAM:
        if (is_write && o->spec.readonly)
            return -EACCES;
        if (!dry && is_write)
            memcpy(o->model + offset, wbuf, len);
        else if (!dry)
            memcpy(exp, o->model + offset, len);
        *moved = len;
        return 0;

    case OBJ_BULK:
        if (dry) {
            *moved = len;
            return 0;
        }
        while (pos < len) {
            size_t n = len - pos;
            uint64_t at = offset + pos;

            if (o->spec.max_access && n > o->spec.max_access)
                n = o->spec.max_access;
            if (o->spec.fail_at != MODEL_NO_FAIL && o->spec.fail_at >= at &&
                o->spec.fail_at - at < n) {
                *moved = pos;
                return o->spec.bogus ? -EIO : backend_errno(o->spec.fail_err);
            }
            if (o->spec.short_len)
                n = MIN(n, o->spec.short_len);
            if (is_write)
                memcpy(o->model + at, wbuf + pos, n);
            else
                memcpy(exp + pos, o->model + at, n);
            pos += n;
        }
        *moved = len;
        return 0;

    case OBJ_REG:
        while (pos < len) {
            uint64_t at = offset + pos;
            unsigned size =
                piece(at, len - pos, o->vmax, o->spec.valid.unaligned);
            unsigned p = 0;

            if (size < o->vmin) {
                *moved = pos;
                return -EOPNOTSUPP;
            }
            while (p < size) {
                uint64_t q = at + p;
                unsigned n =
                    piece(q, size - p, o->imax, o->spec.impl.unaligned);

                if (n < o->imin) {
                    if (is_write) {
                        *moved = pos;
                        return -EOPNOTSUPP;
                    }
                    /* widened: only the wanted bytes count */
                    n = (unsigned)MIN((uint64_t)(o->imin - q % o->imin),
                                      (uint64_t)(size - p));
                }
                if (!dry && is_write)
                    memcpy(o->model + q, wbuf + pos + p, n);
                else if (!dry)
                    memcpy(exp + pos + p, o->model + q, n);
                p += n;
            }
            pos += size;
        }
        *moved = len;
        return 0;

    default:
        abort();
    }
}

/* An access of the whole space as the model sees it. */
static int sim_space(Model *m, uint64_t addr, uint64_t len, bool is_write,
                     const uint8_t *wbuf, uint8_t *exp, bool dry,
                     uint64_t *done)
{
    uint64_t pos = 0;

    *done = 0;
    if (len == 0)
        return 0;
    if (!range_ok(addr, len))
        return -EINVAL;
    while (pos < len) {
        uint64_t offset, run;
        size_t moved;
        Obj *o = lookup(m, addr + pos, len - pos, &offset, &run);
        int r;

        if (!o) {
            *done = pos;
            return -EFAULT;
        }
        r = sim_leaf(o, offset, (size_t)run, is_write,
                     wbuf ? wbuf + pos : NULL, exp ? exp + pos : NULL, dry,
                     &moved);
        pos += moved;
        if (r < 0) {
            *done = pos;
            return r;
        }
    }
    *done = pos;
    return 0;
}

/* ---- lifecycle ---- */

static void new_container(const char *name, uint64_t size, DmsRegion **ret)
{
    int r = dms_region_new_container(name, size, ret);
    FUZZ_CHECK(r == 0, "new container: %d", r);
}

Model *model_new(FuzzInput *in)
{
    static bool writer_set;
    Model *m = g_new0(Model, 1);
    uint16_t n_offset = fuzz_u16(in), n_size = fuzz_u16(in);
    int r;

    if (!writer_set) {
        g_log_set_writer_func(count_criticals, NULL, NULL);
        trace_on = g_getenv("DMS_FUZZ_TRACE") != NULL;
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
    render(m);
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
    n = children_of(m, parent, kids);
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
                                  spec->readonly ? DMS_RAM_READONLY : 0,
                                  notify, o, &o->region);
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
    unsigned before = criticals;
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
        o->last = size == DMS_SIZE_ALL ? t->last - spec->alias_offset
                                       : size - 1;
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
        topology_changed(m);
    }
    r = dms_region_add_subregion(spec->parent == PARENT_C ? m->c : m->n,
                                 spec->offset, o->region, spec->priority,
                                 spec->overlap ? DMS_SUBREGION_OVERLAP : 0);
    TRACE("add %d kind %d in %c at %#" PRIx64 " size %#" PRIx64
          " prio %d: %d",
          o->id, o->kind, spec->parent == PARENT_C ? 'C' : 'N', spec->offset,
          o->last + 1, spec->priority, r);
    FUZZ_CHECK(r == want, "add object %d: %d, want %d", o->id, r, want);
    expect_criticals(before, 0, 0, "add");
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
    unsigned before = criticals;
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
    topology_changed(m);
    r = dms_region_remove_subregion(home, o->region);
    TRACE("remove %d: %d", o->id, r);
    FUZZ_CHECK(r == 0, "remove object %d: %d", o->id, r);
    if (which & 0x40) {
        r = dms_region_remove_subregion(home, o->region);
        FUZZ_CHECK(r == -ENOENT, "second remove: %d", r);
    }
    expect_criticals(before, 0, 0, "remove");
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
    unsigned before = criticals;
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
        topology_changed(m);
    }
    r = dms_region_set_size(o->region, size);
    FUZZ_CHECK(r == want, "resize object %d to %" PRIu64 ": %d, want %d",
               o->id, size, r, want);
    expect_criticals(before, 0, 0, "resize");
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
        render(m); /* before: the commit may destroy what it hid */
    dms_update_commit();
}

/* ---- read, write, check ---- */

void model_access(Model *m, uint64_t addr, size_t len, bool is_write,
                  uint8_t seed)
{
    unsigned before = criticals;
    const DmsAttrs *attrs = pick_attrs(m, seed);
    uint8_t *buf = g_malloc(len ? len : 1);
    uint8_t *exp = g_malloc(len ? len : 1);
    uint64_t want_done;
    size_t done = 12345;
    int want, r;

    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(seed, i);
    want = sim_space(m, addr, len, is_write, buf, exp, false, &want_done);
    if (is_write)
        r = dms_space_write(m->space, addr, buf, len, attrs, &done);
    else
        r = dms_space_read(m->space, addr, buf, len, attrs, &done);
    TRACE("%s %#" PRIx64 "+%zu: %d done %zu", is_write ? "write" : "read",
          addr, len, r, done);
    FUZZ_CHECK(r == want && done == want_done,
               "%s %" PRIx64 "+%zu: %d done %zu, want %d done %" PRIu64,
               is_write ? "write" : "read", addr, len, r, done, want,
               want_done);
    if (!is_write)
        FUZZ_CHECK(memcmp(buf, exp, done) == 0, "read %" PRIx64 "+%zu: data",
                   addr, len);
    expect_criticals(before, 0, 0, "access");
    g_free(buf);
    g_free(exp);

    /* The dry run must agree with what just happened, backends aside. */
    model_check(m, addr, len,
                is_write ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE);
}

void model_check(Model *m, uint64_t addr, uint64_t len, DmsDirection dir)
{
    unsigned before = criticals;
    uint64_t done;
    int want, r;

    want = sim_space(m, addr, len, dir == DMS_DIR_FROM_DEVICE, NULL, NULL,
                     true, &done);
    r = dms_space_check(m->space, addr, len, dir, NULL);
    TRACE("check %#" PRIx64 "+%#" PRIx64 " dir %d: %d", addr, len, dir, r);
    FUZZ_CHECK(r == want, "check %" PRIx64 "+%" PRIu64 " dir %d: %d, want %d",
               addr, len, dir, r, want);
    expect_criticals(before, 0, 0, "check");
}

/* ---- map clients ---- */

static size_t available(const Model *m)
{
    return m->limit > m->in_use ? m->limit - m->in_use : 0;
}

static void client_cb(DmsSpace *space, void *data)
{
    Client *c = data;
    Model *m = c->m;

    FUZZ_CHECK(space == m->space_p, "map client called with another space");
    FUZZ_CHECK(c->used && !c->fired && !c->cancelled,
               "map client called after it ran or was cancelled");
    if (c->on_ctx) {
        FUZZ_CHECK(c->pending, "context client called before it fired");
    } else {
        FUZZ_CHECK(c->waiting, "map client called when not waiting");
        FUZZ_CHECK(available(m) > 0, "map client called with no budget free");
        /* Called at once, on this thread, oldest first. */
        for (int i = 0; i < MODEL_MAX_CLIENTS; i++) {
            const Client *o = &m->clients[i];
            FUZZ_CHECK(!(o->used && !o->on_ctx && o->waiting &&
                         o->order < c->order),
                       "map clients called out of order");
        }
    }
    TRACE("map client %td called", c - m->clients);
    c->waiting = c->pending = false;
    c->fired = true;
    m->expect.map_clients_fired++;
}

/*
 * Free budget leaves nobody waiting: clients without a context were called
 * already, the others have a callback pending on the context.
 */
static void check_clients(Model *m)
{
    if (available(m) == 0 || !m->space_p)
        return;
    for (int i = 0; i < MODEL_MAX_CLIENTS; i++) {
        Client *c = &m->clients[i];

        if (!c->used || !c->waiting)
            continue;
        FUZZ_CHECK(c->on_ctx, "map client %d still waits with budget free",
                   i);
        c->waiting = false;
        c->pending = true;
    }
}

void model_dispatch(Model *m)
{
    while (g_main_context_iteration(m->ctx, FALSE))
        ;
    for (int i = 0; i < MODEL_MAX_CLIENTS; i++)
        FUZZ_CHECK(!(m->clients[i].used && m->clients[i].pending),
                   "context client %d not called by a dispatch", i);
}

void model_add_client(Model *m, bool on_ctx)
{
    Client *c = NULL;
    int r;

    for (int i = 0; i < MODEL_MAX_CLIENTS && !c; i++) {
        if (!m->clients[i].used)
            c = &m->clients[i];
    }
    if (!c)
        return;
    *c = (Client){.used = true, .m = m, .on_ctx = on_ctx, .waiting = true,
                  .order = ++m->client_seq};
    r = dms_space_add_map_client(m->space, on_ctx ? m->ctx : NULL, client_cb,
                                 c, &c->handle);
    TRACE("add map client %td%s: %d", c - m->clients,
          on_ctx ? " on context" : "", r);
    FUZZ_CHECK(r == 0 && c->handle, "add map client: %d", r);
    check_clients(m);
}

void model_cancel_client(Model *m, uint8_t which)
{
    Client *c = &m->clients[which % MODEL_MAX_CLIENTS];
    int r;

    if (!c->used)
        return;
    r = dms_map_client_cancel(c->handle);
    TRACE("cancel map client %td: %d", c - m->clients, r);
    if (c->fired)
        FUZZ_CHECK(r == -EALREADY, "cancel of a called client: %d", r);
    else if (c->cancelled)
        FUZZ_CHECK(r == 0 || r == -EALREADY, "second cancel: %d", r);
    else
        FUZZ_CHECK(r == 0, "cancel of a waiting client: %d", r);
    c->waiting = c->pending = false;
    c->cancelled = !c->fired;
    if (which & 0x80) {
        c->handle = dms_map_client_unref(c->handle);
        c->used = false;
    }
}

/* ---- map and unmap ---- */

void model_set_limit(Model *m, size_t limit)
{
    TRACE("bounce limit %zu", limit);
    m->limit = limit;
    m->expect.bounce_limit = limit;
    dms_space_set_bounce_limit(m->space, limit);
    FUZZ_CHECK(dms_space_get_bounce_limit(m->space) == limit, "limit");
    check_clients(m);
}

static Mapping *free_mapping(Model *m)
{
    for (int i = 0; i < MODEL_MAX_MAPS; i++) {
        if (!m->maps[i].live)
            return &m->maps[i];
    }
    return NULL;
}

void model_map(Model *m, uint64_t addr, size_t len, DmsDirection dir,
               uint8_t seed)
{
    unsigned before = criticals;
    const DmsAttrs *attrs = pick_attrs(m, seed);
    Mapping *mp = free_mapping(m);
    uint64_t offset = 0, run = 0;
    size_t got = len;
    void *ptr = (void *)&got;
    Obj *o;
    int want = 0, r;

    if (!mp)
        return;
    if (len == 0) {
        r = dms_space_map(m->space, addr, &got, dir, attrs, &ptr);
        FUZZ_CHECK(r == 0 && got == 0 && ptr == NULL, "empty map: %d", r);
        return;
    }
    if (!range_ok(addr, len)) {
        r = dms_space_map(m->space, addr, &got, dir, attrs, &ptr);
        FUZZ_CHECK(r == -EINVAL && got == 0, "map past 2^64: %d", r);
        expect_criticals(before, 0, 0, "map");
        return;
    }

    o = lookup(m, addr, len, &offset, &run);
    if (!o) {
        want = -EFAULT;
        m->expect.fail_unassigned++;
    } else if (o->kind == OBJ_RAM) {
        if (dir == DMS_DIR_FROM_DEVICE && o->spec.readonly) {
            want = -EACCES;
            m->expect.fail_access++;
        }
    } else if (m->limit == 0) {
        want = -ENOBUFS;
        m->expect.fail_no_budget++;
    } else if (available(m) == 0) {
        want = -EAGAIN;
        m->expect.fail_exhausted++;
    } else {
        /*
         * A bounce mapping is as long as it can be: space.h lets it be
         * shorter than asked only for lack of budget or where the range
         * changes region.
         */
        run = MIN(run, (uint64_t)available(m));
        /* The budget is taken before the fill, which may then fail. */
        m->expect.bounce_high_water =
            MAX(m->expect.bounce_high_water, (uint64_t)(m->in_use + run));
    }

    if (want == 0 && o->kind != OBJ_RAM && dir == DMS_DIR_TO_DEVICE) {
        /* The fill: as a read of the mapped range. */
        uint8_t *exp = g_malloc(run);
        size_t moved;
        int fill = sim_leaf(o, offset, (size_t)run, false, NULL, exp, false,
                            &moved);

        r = dms_space_map(m->space, addr, &got, dir, attrs, &ptr);
        if (fill < 0) {
            m->expect.fail_backend++;
            FUZZ_CHECK(r == fill && got == 0,
                       "map with a failing fill: %d, want %d", r, fill);
        } else {
            FUZZ_CHECK(r == 0 && got == run && ptr,
                       "bounce map %" PRIx64 "+%zu: %d len %zu, want %" PRIu64,
                       addr, len, r, got, run);
            FUZZ_CHECK(memcmp(ptr, exp, got) == 0, "bounce fill data");
        }
        g_free(exp);
    } else {
        r = dms_space_map(m->space, addr, &got, dir, attrs, &ptr);
        FUZZ_CHECK(r == want, "map %" PRIx64 "+%zu dir %d: %d, want %d", addr,
                   len, dir, r, want);
        if (r < 0) {
            FUZZ_CHECK(got == 0, "failed map with a length");
        } else if (o->kind == OBJ_RAM) {
            FUZZ_CHECK(got == run && ptr == o->store + offset,
                       "direct map %" PRIx64 "+%zu: len %zu ptr %p, want %" PRIu64
                       " %p",
                       addr, len, got, ptr, run, (void *)(o->store + offset));
        } else {
            FUZZ_CHECK(got == run && ptr, "bounce map len %zu, want %" PRIu64,
                       got, run);
            for (size_t i = 0; i < got; i++)
                FUZZ_CHECK(((uint8_t *)ptr)[i] == 0,
                           "from-device bounce buffer not zeroed");
        }
    }
    expect_criticals(before, 0, 0, "map");
    TRACE("map %#" PRIx64 "+%zu dir %d: %d len %zu%s", addr, len, dir, r, got,
          r == 0 && o->kind != OBJ_RAM ? " (bounce)" : "");
    if (r < 0)
        return;

    *mp = (Mapping){
        .live = true,
        .ptr = ptr,
        .len = got,
        .dir = dir,
        .bounce = o->kind != OBJ_RAM,
        .leaf = o->id,
        .offset = offset,
        .has_attrs = attrs != NULL,
    };
    if (attrs)
        mp->attrs = *attrs;
    o->maps++;
    if (mp->bounce) {
        m->in_use += got;
        m->expect.bounced_maps++;
        m->expect.bounce_high_water =
            MAX(m->expect.bounce_high_water, (uint64_t)m->in_use);
    } else {
        m->expect.direct_maps++;
    }
}

static Mapping *pick_mapping(Model *m, uint8_t which)
{
    unsigned count = 0;

    for (int i = 0; i < MODEL_MAX_MAPS; i++)
        count += m->maps[i].live;
    if (count == 0)
        return NULL;
    which %= count;
    for (int i = 0; i < MODEL_MAX_MAPS; i++) {
        if (m->maps[i].live && which-- == 0)
            return &m->maps[i];
    }
    return NULL;
}

static void unmap(Model *m, Mapping *mp, size_t access_len, uint8_t seed)
{
    unsigned before = criticals;
    Obj *o = &m->objs[mp->leaf];
    uint8_t *data = mp->ptr;
    int want = 0, r;

    if (mp->dir == DMS_DIR_FROM_DEVICE) {
        /* The device writes what it claims to have written. */
        for (size_t i = 0; i < access_len; i++)
            data[i] = pattern(seed, i);
        if (!mp->bounce) {
            memcpy(o->model + mp->offset, data, access_len);
        } else {
            size_t moved;
            /* Written back with the map-time attributes. */
            if (mp->has_attrs)
                m->attrs = mp->attrs;
            m->attrs_null = !mp->has_attrs;
            want = sim_leaf(o, mp->offset, access_len, true, data, NULL,
                            false, &moved);
        }
    } else if (mp->bounce) {
        /* A to-device bounce buffer is never written back. */
        memset(data, 0xa5, mp->len);
    }

    mp->live = false;
    o->maps--;
    if (mp->bounce)
        m->in_use -= mp->len;
    m->stale[m->next_stale++ % G_N_ELEMENTS(m->stale)] =
        (Stale){mp->ptr, mp->len, mp->dir};

    r = dms_space_unmap(m->space_p, mp->ptr, mp->len, mp->dir, access_len);
    TRACE("unmap %zu of %zu dir %d: %d", access_len, mp->len, mp->dir, r);
    FUZZ_CHECK(r == want, "unmap: %d, want %d", r, want);
    expect_criticals(before, 0, 0, "unmap");
    check_clients(m);
}

void model_unmap(Model *m, uint8_t which, uint16_t access_len, uint8_t seed)
{
    Mapping *mp = pick_mapping(m, which);

    if (!mp)
        return;
    unmap(m, mp, MIN((size_t)access_len, mp->len), seed);
}

static bool some_mapping_is(Model *m, const void *ptr, size_t len,
                            DmsDirection dir)
{
    for (int i = 0; i < MODEL_MAX_MAPS; i++) {
        const Mapping *mp = &m->maps[i];
        if (mp->live && mp->ptr == ptr && mp->len == len && mp->dir == dir)
            return true;
    }
    return false;
}

/*
 * Unmaps that must be refused with -EINVAL and one g_critical(), leaving
 * every mapping as it was.
 */
enum { BAD_UNMAP_KINDS = 8 };

void model_bad_unmap(Model *m, uint8_t which, uint8_t how)
{
    unsigned before = criticals;
    Mapping *mp = pick_mapping(m, which);
    uint8_t local[8];
    void *ptr = NULL;
    size_t len = 1, access_len = 0;
    DmsDirection dir = DMS_DIR_TO_DEVICE;
    unsigned max_criticals = 1;
    int r;

    switch (how % BAD_UNMAP_KINDS) {
    case 0: /* NULL */
        break;
    case 1: /* a pointer the library never handed out */
        ptr = local;
        len = sizeof(local);
        break;
    case 2: /* recently unmapped */
        {
            const Stale *st = &m->stale[which % G_N_ELEMENTS(m->stale)];
            if (!st->ptr)
                return;
            ptr = st->ptr;
            len = st->len;
            dir = st->dir;
        }
        break;
    case 3: /* inside a live mapping, what is left of it */
        if (!mp || mp->len < 2)
            return;
        ptr = (uint8_t *)mp->ptr + 1;
        len = mp->len - 1;
        dir = mp->dir;
        break;
    case 7: /* inside a live mapping, its whole length */
        if (!mp)
            return;
        ptr = (uint8_t *)mp->ptr + 1 + (how >> 4);
        len = mp->len;
        dir = mp->dir;
        break;
    case 4: /* another length */
        if (!mp)
            return;
        ptr = mp->ptr;
        len = mp->len + 1 + (how >> 4);
        dir = mp->dir;
        break;
    case 5: /* the other direction */
        if (!mp)
            return;
        ptr = mp->ptr;
        len = mp->len;
        dir = mp->dir == DMS_DIR_TO_DEVICE ? DMS_DIR_FROM_DEVICE
                                           : DMS_DIR_TO_DEVICE;
        break;
    case 6: /* claims more was accessed than was mapped */
        if (!mp)
            return;
        ptr = mp->ptr;
        len = mp->len;
        dir = mp->dir;
        access_len = mp->len + 1;
        /* space.h promises -EINVAL; a critical is not promised here. */
        max_criticals = 1;
        break;
    }
    /* Another live mapping may legitimately match (same RAM, twice). */
    if (ptr && access_len <= len && some_mapping_is(m, ptr, len, dir))
        return;

    r = dms_space_unmap(m->space_p, ptr, len, dir, access_len);
    TRACE("bad unmap kind %u: %d", how % BAD_UNMAP_KINDS, r);
    FUZZ_CHECK(r == -EINVAL, "bad unmap (kind %u): %d", how % BAD_UNMAP_KINDS,
               r);
    expect_criticals(before, how % BAD_UNMAP_KINDS == 6 ? 0 : 1, max_criticals,
                     "bad unmap");
    m->expect.bad_unmaps++;
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
    FUZZ_CHECK(got.f == m->expect.f, "stats: " #f " %" PRIu64 ", want %" PRIu64, \
               (uint64_t)got.f, (uint64_t)m->expect.f)
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

void model_free(Model *m)
{
    bool unref_first = m->next_seq & 1;

    while (m->depth > 0)
        model_commit(m);
    model_verify(m);

    /* Mappings keep the space alive: our reference may go first. */
    if (unref_first)
        m->space = dms_space_unref(m->space);
    for (int i = 0; i < MODEL_MAX_MAPS; i++) {
        if (m->maps[i].live)
            unmap(m, &m->maps[i], m->maps[i].len / 2, (uint8_t)i);
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
            render(m);
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
