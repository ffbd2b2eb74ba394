/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reference model's map and unmap: which mappings are live, what the
 * bounce budget lends, which map clients wait, are pending on the
 * context, or ran, and the exact result of every map, unmap (right or
 * wrong) and limit change. See model.h.
 */
#include <errno.h>

#include "model-private.h"

/* ---- map clients ---- */

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
        FUZZ_CHECK(available(m) > 0 || m->limit == 0,
                   "map client called with no budget free");
        /* Called at once, on this thread, oldest first. */
        for (int i = 0; i < MODEL_MAX_CLIENTS; i++) {
            const Client *o = &m->clients[i];
            FUZZ_CHECK(
                !(o->used && !o->on_ctx && o->waiting && o->order < c->order),
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
    /* A limit of 0 wakes everyone too: their retries get -ENOBUFS. */
    if ((available(m) == 0 && m->limit != 0) || !m->space_p)
        return;
    for (int i = 0; i < MODEL_MAX_CLIENTS; i++) {
        Client *c = &m->clients[i];

        if (!c->used || !c->waiting)
            continue;
        FUZZ_CHECK(c->on_ctx, "map client %d still waits with budget free", i);
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
    *c = (Client){.used = true,
                  .m = m,
                  .on_ctx = on_ctx,
                  .waiting = true,
                  .order = ++m->client_seq};
    r = dms_space_add_map_client(m->space, on_ctx ? m->ctx : NULL, client_cb,
                                 c, NULL, &c->handle);
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
    unsigned before = model_criticals;
    const DmsAttrs *attrs = model_pick_attrs(m, seed);
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
        model_expect_criticals(before, 0, 0, "map");
        return;
    }

    o = model_lookup(m, addr, len, &offset, &run);
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
        int fill = model_sim_leaf(o, offset, (size_t)run, false, NULL, exp,
                                  false, &moved);

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
                       "direct map %" PRIx64
                       "+%zu: len %zu ptr %p, want %" PRIu64 " %p",
                       addr, len, got, ptr, run, (void *)(o->store + offset));
        } else {
            FUZZ_CHECK(got == run && ptr, "bounce map len %zu, want %" PRIu64,
                       got, run);
            for (size_t i = 0; i < got; i++)
                FUZZ_CHECK(((uint8_t *)ptr)[i] == 0,
                           "from-device bounce buffer not zeroed");
        }
    }
    model_expect_criticals(before, 0, 0, "map");
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

void model_end_mapping(Model *m, Mapping *mp, size_t access_len, uint8_t seed)
{
    unsigned before = model_criticals;
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
            want = model_sim_leaf(o, mp->offset, access_len, true, data, NULL,
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
    model_expect_criticals(before, 0, 0, "unmap");
    check_clients(m);
}

void model_unmap(Model *m, uint8_t which, uint16_t access_len, uint8_t seed)
{
    Mapping *mp = pick_mapping(m, which);

    if (!mp)
        return;
    model_end_mapping(m, mp, MIN((size_t)access_len, mp->len), seed);
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
    unsigned before = model_criticals;
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
    } break;
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
    model_expect_criticals(before, how % BAD_UNMAP_KINDS == 6 ? 0 : 1,
                           max_criticals, "bad unmap");
    m->expect.bad_unmaps++;
}
