/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reference model's view and accesses: which leaf owns each byte of
 * the window, and what a read, write or check of any range must do,
 * byte for byte, backend call by backend call. See model.h.
 */
#include "model-private.h"

/* ---- the view ---- */

static int compare_child(const void *a, const void *b)
{
    const Child *x = a, *y = b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t model_children_of(Model *m, int parent, Child *out)
{
    size_t n = 0;

    if (parent == PARENT_C)
        out[n++] =
            (Child){-1, m->n_priority, m->n_seq, m->n_offset, m->n_last};
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
    size_t n = model_children_of(m, parent, kids);

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
static size_t boundaries_in(Model *m, int parent, uint64_t base, uint64_t *out,
                            size_t n)
{
    Child kids[MODEL_MAX_OBJS + 1];
    size_t k = model_children_of(m, parent, kids);

    while (k-- > 0) {
        uint64_t start = base + kids[k].offset;
        const Obj *o = kids[k].obj < 0 ? NULL : &m->objs[kids[k].obj];

        out[n++] = start;
        out[n++] = start + MIN(kids[k].last, 2 * (uint64_t)MODEL_WINDOW) + 1;
        if (!o)
            n = boundaries_in(m, PARENT_N, start, out, n);
        else if (o->kind == OBJ_ALIAS &&
                 o->spec.alias_offset <= m->objs[o->target].last)
            out[n++] =
                start + (m->objs[o->target].last - o->spec.alias_offset) + 1;
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
void model_render(Model *m)
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
void model_topology_changed(Model *m)
{
    if (m->depth == 0)
        model_render(m);
}

/* The owner of @a in the view, or NULL; *run gets how many bytes from @a
 * on (at most @max) the same leaf shows at consecutive offsets. */
Obj *model_lookup(Model *m, uint64_t a, uint64_t max, uint64_t *offset,
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

static unsigned piece(uint64_t off, uint64_t rem, unsigned max, bool unaligned)
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
int model_sim_leaf(Obj *o, uint64_t offset, size_t len, bool is_write,
                   const uint8_t *wbuf, uint8_t *exp, bool dry, size_t *moved)
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
        Obj *o = model_lookup(m, addr + pos, len - pos, &offset, &run);
        int r;

        if (!o) {
            *done = pos;
            return -EFAULT;
        }
        r = model_sim_leaf(o, offset, (size_t)run, is_write,
                           wbuf ? wbuf + pos : NULL, exp ? exp + pos : NULL,
                           dry, &moved);
        pos += moved;
        if (r < 0) {
            *done = pos;
            return r;
        }
    }
    *done = pos;
    return 0;
}

/* ---- read, write, check ---- */

void model_access(Model *m, uint64_t addr, size_t len, bool is_write,
                  uint8_t seed)
{
    unsigned before = model_criticals;
    const DmsAttrs *attrs = model_pick_attrs(m, seed);
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
    model_expect_criticals(before, 0, 0, "access");
    g_free(buf);
    g_free(exp);

    /* The dry run must agree with what just happened, backends aside. */
    model_check(m, addr, len,
                is_write ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE);
}

void model_check(Model *m, uint64_t addr, uint64_t len, DmsDirection dir)
{
    unsigned before = model_criticals;
    uint64_t done;
    int want, r;

    want = sim_space(m, addr, len, dir == DMS_DIR_FROM_DEVICE, NULL, NULL,
                     true, &done);
    r = dms_space_check(m->space, addr, len, dir, NULL);
    TRACE("check %#" PRIx64 "+%#" PRIx64 " dir %d: %d", addr, len, dir, r);
    FUZZ_CHECK(r == want, "check %" PRIx64 "+%" PRIu64 " dir %d: %d, want %d",
               addr, len, dir, r, want);
    model_expect_criticals(before, 0, 0, "check");
}
