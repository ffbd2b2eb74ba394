/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rendering a region tree into a flattened view, and looking addresses up
 * in it.
 *
 * Rendering walks the tree highest priority first, so the first leaf to
 * claim an address keeps it: each leaf only fills the gaps left by what
 * was rendered before it. The claimed ranges live in a balanced tree while
 * rendering (gap search is logarithmic, so 65,536 regions render in
 * milliseconds), then become a sorted array with a bucket index.
 *
 * All offsets are handled as inclusive [first, last] pairs so that a range
 * may end at 2^64 - 1 without overflow.
 */
#include "dms-private.h"

typedef struct Render {
    GTree *claimed; /* start address -> DmsFlatRange *, disjoint */
    int error;
} Render;

static gint compare_addr(gconstpointer a, gconstpointer b, gpointer unused)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    (void)unused;
    return x < y ? -1 : x > y;
}

static void claim(Render *rd, DmsRegion *leaf, uint64_t start, uint64_t last,
                  uint64_t offset)
{
    DmsFlatRange *fr = g_try_new0(DmsFlatRange, 1);

    if (!fr) {
        rd->error = -ENOMEM;
        return;
    }
    fr->start = start;
    fr->last = last;
    fr->offset = offset;
    fr->region = leaf;
    g_tree_insert(rd->claimed, &fr->start, fr);
}

/*
 * Claims for @leaf every unclaimed address of [a, a_last], where address a
 * shows byte @offset of the leaf.
 */
static void fill_gaps(Render *rd, DmsRegion *leaf, uint64_t a, uint64_t a_last,
                      uint64_t offset)
{
    GTreeNode *node;
    uint64_t cur = a;

    /* The claimed range that starts at or before a may cover its start. */
    node = g_tree_lower_bound(rd->claimed, &a);
    if (node) {
        GTreeNode *prev = g_tree_node_previous(node);
        if (prev)
            node = prev;
    } else {
        node = g_tree_node_last(rd->claimed);
    }
    for (; node && !rd->error; node = g_tree_node_next(node)) {
        const DmsFlatRange *c = g_tree_node_value(node);

        if (c->last < cur)
            continue;
        if (c->start > a_last)
            break;
        if (c->start > cur)
            claim(rd, leaf, cur, c->start - 1, offset + (cur - a));
        if (c->last >= a_last)
            return;
        cur = c->last + 1;
    }
    if (!rd->error)
        claim(rd, leaf, cur, a_last, offset + (cur - a));
}

/*
 * Renders bytes [first, last] of @r (offsets within @r), placed so that
 * byte @first appears at address @a.
 */
static void render(Render *rd, DmsRegion *r, uint64_t first, uint64_t last,
                   uint64_t a)
{
    if (rd->error || first > r->last)
        return;
    last = MIN(last, r->last);

    switch (r->kind) {
    case DMS_KIND_RAM:
    case DMS_KIND_MESSAGE:
        fill_gaps(rd, r, a, a + (last - first), first);
        break;
    case DMS_KIND_ALIAS: {
        /* alias byte x is target byte x + alias_offset; no overflow, as
         * alias_offset + alias last < 2^64 was checked at creation. */
        render(rd, r->target, first + r->alias_offset, last + r->alias_offset,
               a);
        break;
    }
    case DMS_KIND_CONTAINER:
        /* Highest priority, then newest, first: see DmsRegion.children. */
        for (guint i = r->children->len; i-- > 0 && !rd->error;) {
            const DmsSubregion *s = g_ptr_array_index(r->children, i);
            uint64_t s_first = s->offset;
            uint64_t s_last = s->offset + s->region->last;
            uint64_t lo, hi;

            if (s_last < first || s_first > last)
                continue;
            lo = MAX(first, s_first);
            hi = MIN(last, s_last);
            render(rd, s->region, lo - s->offset, hi - s->offset,
                   a + (lo - first));
        }
        break;
    }
}

static gboolean collect(gpointer key, gpointer value, gpointer data)
{
    GArray *out = data;
    DmsFlatRange *fr = value;

    (void)key;
    if (out->len > 0) {
        DmsFlatRange *prev = &g_array_index(out, DmsFlatRange, out->len - 1);
        /* Pieces of one leaf split by a region that turned out to be
         * hidden merge back into one run: one backend call, not two. */
        if (prev->region == fr->region && prev->last + 1 == fr->start &&
            prev->offset + (prev->last - prev->start) + 1 == fr->offset) {
            prev->last = fr->last;
            return FALSE;
        }
    }
    g_array_append_val(out, *fr);
    return FALSE;
}

static int build_index(DmsFlatView *fv)
{
    uint64_t span, want;
    size_t i = 0;

    if (fv->nr == 0)
        return 0;
    fv->base = fv->ranges[0].start;
    span = fv->ranges[fv->nr - 1].last - fv->base;
    /* About two buckets per range keeps most buckets at 0 or 1 range. */
    want = 2;
    while (want < 2 * (uint64_t)fv->nr && want < (UINT64_C(1) << 24))
        want <<= 1;
    fv->shift = 0;
    while (fv->shift < 64 && (span >> fv->shift) >= want)
        fv->shift++;
    fv->nbuckets = (size_t)(span >> fv->shift) + 1;
    fv->index = g_try_new(uint32_t, fv->nbuckets + 1);
    if (!fv->index)
        return -ENOMEM;
    for (size_t b = 0; b < fv->nbuckets; b++) {
        uint64_t bucket_start = fv->base + ((uint64_t)b << fv->shift);
        while (i < fv->nr - 1 && fv->ranges[i].last < bucket_start)
            i++;
        fv->index[b] = (uint32_t)i;
    }
    fv->index[fv->nbuckets] = (uint32_t)(fv->nr - 1);
    return 0;
}

void dms__flatview_free(DmsFlatView *fv)
{
    if (!fv)
        return;
    for (size_t i = 0; i < fv->nr; i++)
        dms_region_unref(fv->ranges[i].region);
    g_free(fv->ranges);
    g_free(fv->index);
    g_free(fv);
}

int dms__flatview_render(DmsRegion *root, DmsFlatView **ret)
{
    Render rd = {0};
    DmsFlatView *fv;
    GArray *ranges;
    int r;

    *ret = NULL;
    fv = g_try_new0(DmsFlatView, 1);
    if (!fv)
        return -ENOMEM;
    rd.claimed = g_tree_new_full(compare_addr, NULL, NULL, g_free);
    render(&rd, root, 0, UINT64_MAX, 0);
    if (rd.error) {
        g_tree_destroy(rd.claimed);
        g_free(fv);
        return rd.error;
    }
    ranges = g_array_sized_new(FALSE, FALSE, sizeof(DmsFlatRange),
                               (guint)g_tree_nnodes(rd.claimed));
    g_tree_foreach(rd.claimed, collect, ranges);
    g_tree_destroy(rd.claimed);
    if (ranges->len >= UINT32_MAX) {
        g_array_free(ranges, TRUE);
        g_free(fv);
        return -E2BIG;
    }

    fv->nr = ranges->len;
    fv->ranges = (DmsFlatRange *)(void *)g_array_free(ranges, FALSE);
    for (size_t i = 0; i < fv->nr; i++) {
        DmsFlatRange *fr = &fv->ranges[i];
        dms_region_ref(fr->region);
        if (fr->region->kind == DMS_KIND_RAM) {
            fr->host = fr->region->host + fr->offset;
            fr->readonly = fr->region->readonly;
        }
    }
    r = build_index(fv);
    if (r < 0) {
        dms__flatview_free(fv);
        return r;
    }
    *ret = fv;
    return 0;
}
