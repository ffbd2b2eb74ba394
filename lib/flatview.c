/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rendering a region tree into flattened ranges, and the persistent B+tree
 * that holds a space's view.
 *
 * Rendering walks the tree highest priority first, so the first leaf to
 * claim an address keeps it: each leaf only fills the gaps left by what
 * was rendered before it. The claimed ranges live in a balanced tree while
 * rendering, then become a sorted array in which touching pieces of one
 * leaf are merged. Rendering a span [first, last] of a root gives exactly
 * the whole render cut to that span: what an address shows depends only on
 * the regions that cover it.
 *
 * The view is a B+tree keyed by start address (doc/design.md, "Views").
 * Writers never modify a node a reader may see: a change copies the nodes
 * on its path (once per change: a copy belongs to the change's generation
 * and is written in place until it is published) and retires the
 * originals, which are freed after a grace period. Each range in a view
 * holds one reference on its region, taken when the range enters the tree
 * and dropped after a grace period when it leaves; copying a node moves
 * no reference.
 *
 * All offsets are handled as inclusive [first, last] pairs so that a range
 * may end at 2^64 - 1 without overflow.
 */
#include "dms-private.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

/* ---- rendering ---- */

typedef struct Render {
    GTree *claimed; /* start address -> DmsFlatRange *, disjoint */
    bool reference; /* walk every subregion (the reference render) */
    /* Subregions to render, a stack: each container its own top part. */
    GPtrArray *subs;
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

/* Rendering order: higher priority first, then the newer first. */
static gint compare_render_order(gconstpointer a, gconstpointer b)
{
    const DmsRegion *x = *(DmsRegion *const *)a, *y = *(DmsRegion *const *)b;

    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/*
 * The subregions of container @c that meet its bytes [first, last], in
 * rendering order. The reference render takes every subregion and sorts;
 * the span render looks, per priority, only at subregions starting in
 * [first - max_last, last], found in logarithmic time.
 */
static void subregions_meeting(const Render *rd, DmsRegion *c, uint64_t first,
                               uint64_t last)
{
    GPtrArray *subs = rd->subs;
    DmsChildren *children = c->children;
    DmsChildCursor cur;

    if (rd->reference) {
        guint from = subs->len;

        for (bool more = dms__children_first(children, &cur); more;
             more = dms__children_next(&cur))
            g_ptr_array_add(subs, cur.region);
        qsort(subs->pdata + from, subs->len - from, sizeof(gpointer),
              compare_render_order);
        return;
    }
    for (guint g = children->prios->len; g-- > 0;) {
        const DmsPriorityGroup *pg =
            &g_array_index(children->prios, DmsPriorityGroup, g);
        guint from = subs->len;

        for (bool more = dms__children_lower_bound(
                 children, pg->priority,
                 first > pg->max_last ? first - pg->max_last : 0, &cur);
             more; more = dms__children_next(&cur)) {
            if (cur.priority != pg->priority || cur.offset > last)
                break;
            if (cur.offset + cur.region->last >= first)
                g_ptr_array_add(subs, cur.region);
        }
        /* Within one priority, the newest first. */
        if (subs->len - from > 1)
            qsort(subs->pdata + from, subs->len - from, sizeof(gpointer),
                  compare_render_order);
    }
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

    switch ((DmsRegionKind)r->kind) {
    case DMS_KIND_RAM:
    case DMS_KIND_MESSAGE:
        fill_gaps(rd, r, a, a + (last - first), first);
        break;
    case DMS_KIND_ALIAS:
        /* alias byte x is target byte x + alias_offset; no overflow, as
         * alias_offset + alias last < 2^64 was checked at creation. */
        render(rd, r->target, first + r->alias_offset, last + r->alias_offset,
               a);
        break;
    case DMS_KIND_CONTAINER: {
        guint from = rd->subs->len, to;

        subregions_meeting(rd, r, first, last);
        to = rd->subs->len;
        for (guint i = from; i < to && !rd->error; i++) {
            DmsRegion *s = g_ptr_array_index(rd->subs, i);
            uint64_t s_first = s->offset;
            uint64_t s_last = s->offset + s->last;
            uint64_t lo, hi;

            if (s_last < first || s_first > last)
                continue;
            lo = MAX(first, s_first);
            hi = MIN(last, s_last);
            render(rd, s, lo - s->offset, hi - s->offset, a + (lo - first));
        }
        g_ptr_array_set_size(rd->subs, from);
        break;
    }
    }
}

/* Do @a and @b show consecutive bytes of one leaf at consecutive addresses?
 */
static bool mergeable(const DmsFlatRange *a, const DmsFlatRange *b)
{
    return a->region == b->region && a->last != UINT64_MAX &&
           a->last + 1 == b->start &&
           a->offset + (a->last - a->start) + 1 == b->offset;
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
        if (mergeable(prev, fr)) {
            prev->last = fr->last;
            return FALSE;
        }
    }
    fr->host = fr->region->kind == DMS_KIND_RAM ? fr->region->host + fr->offset
                                                : NULL;
    g_array_append_val(out, *fr);
    return FALSE;
}

static int render_into(DmsRegion *root, uint64_t first, uint64_t last,
                       bool reference, GArray *out)
{
    /* Callers hold the topology lock: one render at a time. */
    static GPtrArray *subs;
    Render rd = {.reference = reference};

    if (!subs)
        subs = g_ptr_array_sized_new(64);
    rd.subs = subs;
    rd.claimed = g_tree_new_full(compare_addr, NULL, NULL, g_free);
    render(&rd, root, first, last, first);
    if (rd.error == 0)
        g_tree_foreach(rd.claimed, collect, out);
    g_tree_destroy(rd.claimed);
    g_ptr_array_set_size(subs, 0);
    return rd.error;
}

int dms__flatview_render_reference(DmsRegion *root, GArray **ret)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));
    int r = render_into(root, 0, UINT64_MAX, true, out);

    if (r < 0) {
        g_array_free(out, TRUE);
        out = NULL;
    }
    *ret = out;
    return r;
}

int dms__flatview_render_span(DmsRegion *root, uint64_t first, uint64_t last,
                              GArray *out)
{
    return render_into(root, first, last, false, out);
}

/* ---- the B+tree ---- */

#define FANOUT DMS_VIEW_FANOUT
/* Below this a node borrows from or merges with a sibling. */
#define MIN_FILL (FANOUT / 4)

static void clear_keys(DmsViewNode *n, unsigned from)
{
    for (unsigned i = from; i < FANOUT; i++)
        n->keys[i] = UINT64_MAX;
}

/*
 * View nodes come from 2 MiB chunks of their own, marked for transparent
 * huge pages, and go back to a free list, never to malloc:
 *  - a lookup in a big view follows a pointer per level; nodes packed in
 *    huge pages (instead of scattered over the heap among regions) cost
 *    no TLB miss, which under nested paging is most of a cache miss;
 *  - a change allocates and frees a path of nodes, and the reclaimer
 *    thread freeing what the writer allocated made malloc a quarter of an
 *    add's cost (arena lock, chunk consolidation).
 * Chunks are kept for the life of the process: views that shrink leave
 * their nodes on the free list for the next ones to grow into.
 */
#define CHUNK_BYTES (UINT64_C(2) << 20)
/* pthread, not GMutex: ThreadSanitizer sees it without help. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static DmsViewNode *pool; /* free nodes, linked through child[0] */
static uint8_t *chunk_next, *chunk_end; /* pool_lock */
static DmsViewNode *spare;              /* the writer's own: topology lock */

static DmsViewNode *carve(void)
{
    DmsViewNode *n;

    if (chunk_next == chunk_end) {
        void *chunk;

        if (posix_memalign(&chunk, CHUNK_BYTES, CHUNK_BYTES) != 0)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(chunk, CHUNK_BYTES, MADV_HUGEPAGE);
#endif
        chunk_next = chunk;
        chunk_end = chunk_next +
                    CHUNK_BYTES / sizeof(DmsViewNode) * sizeof(DmsViewNode);
    }
    n = (DmsViewNode *)(void *)chunk_next;
    chunk_next += sizeof(DmsViewNode);
    return n;
}

static DmsViewNode *node_alloc(void)
{
    DmsViewNode *n;

    if (!spare) {
        pthread_mutex_lock(&pool_lock);
        spare = pool;
        pool = NULL;
        if (!spare) {
            spare = carve();
            if (spare)
                spare->child[0] = NULL;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    n = spare;
    if (!n)
        return NULL;
    spare = n->child[0];
    /* Pooled nodes are cold: start fetching the next one now. */
    if (spare)
        __builtin_prefetch(spare);
    return n;
}

void dms__view_nodes_free(DmsViewNode *const *nodes, unsigned count)
{
    if (!count)
        return;
    for (unsigned i = 0; i + 1 < count; i++)
        nodes[i]->child[0] = nodes[i + 1];
    pthread_mutex_lock(&pool_lock);
    nodes[count - 1]->child[0] = pool;
    pool = nodes[0];
    pthread_mutex_unlock(&pool_lock);
}

static void node_free(DmsViewNode *n)
{
    dms__view_nodes_free(&n, 1);
}

static DmsViewNode *node_new(DmsViewTxn *t, unsigned height)
{
    DmsViewNode *n = node_alloc();

    if (!n) {
        t->error = -ENOMEM;
        return NULL;
    }
    n->n = 0;
    n->height = (uint8_t)height;
    n->gen = t->gen;
    clear_keys(n, 0);
    g_ptr_array_add(t->created, n);
    return n;
}

/* @n, writable: itself if this change made it, else a copy. */
static DmsViewNode *own(DmsViewTxn *t, DmsViewNode *n)
{
    DmsViewNode *c;

    if (n->gen == t->gen)
        return n;
    c = node_alloc();
    if (!c) {
        t->error = -ENOMEM;
        return NULL;
    }
    memcpy(c, n, sizeof(*c));
    c->gen = t->gen;
    g_ptr_array_add(t->created, c);
    g_ptr_array_add(t->retired, n);
    return c;
}

/* Node @n left the tree (its content moved elsewhere). */
static void discard(DmsViewTxn *t, DmsViewNode *n)
{
    if (n->gen == t->gen) {
        g_ptr_array_remove_fast(t->created, n);
        node_free(n);
    } else {
        g_ptr_array_add(t->retired, n);
    }
}

static size_t item_size(const DmsViewNode *n)
{
    return n->height ? sizeof(DmsViewNode *) : sizeof(DmsFlatRange);
}

static void *item(DmsViewNode *n, unsigned i)
{
    return n->height ? (void *)&n->child[i] : (void *)&n->ent[i];
}

/* Moves @count items from @src at @si to @dst at @di (dst has room). */
static void move_items(DmsViewNode *dst, unsigned di, DmsViewNode *src,
                       unsigned si, unsigned count)
{
    memmove(item(dst, di + count), item(dst, di),
            (dst->n - di) * item_size(dst));
    memmove(&dst->keys[di + count], &dst->keys[di],
            (dst->n - di) * sizeof(uint64_t));
    memcpy(item(dst, di), item(src, si), count * item_size(src));
    memcpy(&dst->keys[di], &src->keys[si], count * sizeof(uint64_t));
    dst->n = (uint16_t)(dst->n + count);
    memmove(item(src, si), item(src, si + count),
            (src->n - si - count) * item_size(src));
    memmove(&src->keys[si], &src->keys[si + count],
            (src->n - si - count) * sizeof(uint64_t));
    src->n = (uint16_t)(src->n - count);
    clear_keys(src, src->n);
}

static void put(DmsViewNode *n, unsigned pos, uint64_t key, const void *it)
{
    memmove(item(n, pos + 1), item(n, pos), (n->n - pos) * item_size(n));
    memmove(&n->keys[pos + 1], &n->keys[pos], (n->n - pos) * sizeof(uint64_t));
    memcpy(item(n, pos), it, item_size(n));
    n->keys[pos] = key;
    n->n++;
}

static void take(DmsViewNode *n, unsigned pos)
{
    memmove(item(n, pos), item(n, pos + 1), (n->n - pos - 1) * item_size(n));
    memmove(&n->keys[pos], &n->keys[pos + 1],
            (n->n - pos - 1) * sizeof(uint64_t));
    n->n--;
    n->keys[n->n] = UINT64_MAX;
}

/*
 * Puts an item at @pos of writable @n, splitting a full node: then
 * *@split gets the new right half. Appending at the end of a full node
 * moves only the new item over, so that ascending insertions (the usual
 * order of a guest's memory map) leave full nodes behind.
 */
static void insert_at(DmsViewTxn *t, DmsViewNode *n, unsigned pos,
                      uint64_t key, const void *it, DmsViewNode **split)
{
    DmsViewNode *r;
    unsigned keep;

    *split = NULL;
    if (n->n < FANOUT) {
        put(n, pos, key, it);
        return;
    }
    r = node_new(t, n->height);
    if (!r)
        return;
    keep = pos == FANOUT ? FANOUT : (FANOUT + 1) / 2;
    if (pos >= keep) {
        move_items(r, 0, n, keep, FANOUT - keep);
        put(r, pos - keep, key, it);
    } else {
        move_items(r, 0, n, keep - 1, FANOUT - (keep - 1));
        put(n, pos, key, it);
    }
    *split = r;
}

static DmsViewNode *insert_rec(DmsViewTxn *t, DmsViewNode *n,
                               const DmsFlatRange *e, DmsViewNode **split)
{
    int i;

    *split = NULL;
    n = own(t, n);
    if (!n)
        return NULL;
    i = dms__view_slot(n->keys, n->n, e->start);
    if (n->height == 0) {
        insert_at(t, n, (unsigned)(i + 1), e->start, e, split);
    } else {
        DmsViewNode *c, *sp;

        if (i < 0)
            i = 0;
        c = insert_rec(t, n->child[i], e, &sp);
        if (!c)
            return NULL;
        n->child[i] = c;
        n->keys[i] = c->keys[0];
        if (sp)
            insert_at(t, n, (unsigned)i + 1, sp->keys[0], &sp, split);
    }
    return t->error ? NULL : n;
}

/* Inserts @e (no range may start where it does) and takes a reference. */
static DmsViewNode *tree_insert(DmsViewTxn *t, DmsViewNode *root,
                                const DmsFlatRange *e)
{
    DmsViewNode *n, *split, *top;

    if (t->error)
        return root;
    n = insert_rec(t, root, e, &split);
    if (!n)
        return root;
    if (split) {
        top = node_new(t, n->height + 1u);
        if (!top)
            return root;
        put(top, 0, n->keys[0], &n);
        put(top, 1, split->keys[0], &split);
        n = top;
    }
    dms_region_ref(e->region);
    g_ptr_array_add(t->refs, e->region);
    return n;
}

/* Child @i of writable @n has too few items: borrow or merge. */
static void fix_underflow(DmsViewTxn *t, DmsViewNode *n, unsigned i)
{
    unsigned l = i > 0 ? i - 1 : i;
    DmsViewNode *left, *right;

    if (n->n < 2) {
        /*
         * No sibling to borrow from: appending to a full node leaves a
         * node with one child (insert_at()). An underfull only child is
         * fine, but an empty one must go: lookups would descend into it
         * by its stale key and find nothing where a range to its left
         * covers the address. @n empties in turn, and its parent or
         * tree_delete() removes it.
         */
        if (n->child[i]->n == 0) {
            discard(t, n->child[i]);
            take(n, i);
        }
        return;
    }
    left = own(t, n->child[l]);
    if (!left)
        return;
    n->child[l] = left;
    right = own(t, n->child[l + 1]);
    if (!right)
        return;
    n->child[l + 1] = right;
    if (left->n + right->n <= FANOUT) {
        move_items(left, left->n, right, 0, right->n);
        take(n, l + 1);
        discard(t, right);
        if (left->n == 0) {
            take(n, l);
            discard(t, left);
            return;
        }
    } else if (left->n < right->n) {
        move_items(left, left->n, right, 0, (right->n - left->n) / 2u);
        n->keys[l + 1] = right->keys[0];
    } else {
        unsigned count = (left->n - right->n) / 2u;
        move_items(right, 0, left, left->n - count, count);
        n->keys[l + 1] = right->keys[0];
    }
    n->keys[l] = left->keys[0];
}

static DmsViewNode *delete_rec(DmsViewTxn *t, DmsViewNode *n, uint64_t key)
{
    int i;

    n = own(t, n);
    if (!n)
        return NULL;
    i = dms__view_slot(n->keys, n->n, key);
    g_assert(i >= 0);
    if (n->height == 0) {
        g_assert(n->keys[i] == key);
        take(n, (unsigned)i);
    } else {
        DmsViewNode *c = delete_rec(t, n->child[i], key);

        if (!c)
            return NULL;
        n->child[i] = c;
        if (c->n > 0)
            n->keys[i] = c->keys[0];
        if (c->n < MIN_FILL)
            fix_underflow(t, n, (unsigned)i);
    }
    return t->error ? NULL : n;
}

/* Deletes the range starting at @key; its reference goes after a grace. */
static DmsViewNode *tree_delete(DmsViewTxn *t, DmsViewNode *root,
                                const DmsFlatRange *e)
{
    DmsViewNode *n;

    if (t->error)
        return root;
    n = delete_rec(t, root, e->start);
    if (!n)
        return root;
    while (n->height > 0 && n->n == 1) {
        DmsViewNode *only = n->child[0];
        discard(t, n);
        n = only;
    }
    if (n->height > 0 && n->n == 0) {
        /* The last range went from under a chain of only children. */
        DmsViewNode *empty = node_new(t, 0);

        if (!empty)
            return root;
        discard(t, n);
        n = empty;
    }
    g_ptr_array_add(t->unrefs, e->region);
    return n;
}

static const DmsFlatRange *leftmost(const DmsViewNode *n)
{
    while (n->height)
        n = n->child[0];
    return n->n ? &n->ent[0] : NULL;
}

/* The range with the largest start <= @key, or NULL. */
static const DmsFlatRange *find_le(const DmsViewNode *n, uint64_t key)
{
    int i;

    while (n->height) {
        i = dms__view_slot(n->keys, n->n, key);
        if (i < 0)
            return NULL;
        n = n->child[i];
    }
    i = dms__view_slot(n->keys, n->n, key);
    return i < 0 ? NULL : &n->ent[i];
}

/* The range with the smallest start > @key, or NULL. */
static const DmsFlatRange *find_gt(const DmsViewNode *n, uint64_t key)
{
    int i = dms__view_slot(n->keys, n->n, key);
    const DmsFlatRange *r;

    if (n->height == 0)
        return i + 1 < n->n ? &n->ent[i + 1] : NULL;
    if (i < 0)
        return leftmost(n);
    r = find_gt(n->child[i], key);
    if (!r && i + 1 < n->n)
        r = leftmost(n->child[i + 1]);
    return r;
}

void dms__view_collect(const DmsViewNode *root, uint64_t first, uint64_t last,
                       GArray *out)
{
    const DmsFlatRange *e = find_le(root, first);

    if (!e || e->last < first)
        e = e ? find_gt(root, e->start) : leftmost(root);
    for (; e && e->start <= last; e = find_gt(root, e->start))
        g_array_append_val(out, *e);
}

/* Merges the ranges on both sides of address @a (a > 0) if they can. */
static DmsViewNode *merge_at(DmsViewTxn *t, DmsViewNode *root, uint64_t a)
{
    const DmsFlatRange *l = find_le(root, a - 1), *r = find_le(root, a);
    DmsFlatRange left, right;

    if (!l || !r || l == r || r->start != a || !mergeable(l, r))
        return root;
    left = *l;
    right = *r;
    root = tree_delete(t, root, &right);
    root = tree_delete(t, root, &left);
    left.last = right.last;
    return tree_insert(t, root, &left);
}

DmsViewNode *dms__view_replace(DmsViewTxn *t, DmsViewNode *root,
                               uint64_t first, uint64_t last,
                               const GArray *ranges)
{
    /* Callers hold the topology lock. */
    static GArray *old;

    if (!old)
        old = g_array_sized_new(FALSE, FALSE, sizeof(DmsFlatRange), 16);
    g_array_set_size(old, 0);

    dms__view_collect(root, first, last, old);
    for (guint i = 0; i < old->len; i++) {
        const DmsFlatRange *e = &g_array_index(old, DmsFlatRange, i);

        root = tree_delete(t, root, e);
        /* The parts outside the span stay as they were. */
        if (e->start < first) {
            DmsFlatRange part = *e;
            part.last = first - 1;
            root = tree_insert(t, root, &part);
        }
        if (e->last > last) {
            DmsFlatRange part = *e;
            part.start = last + 1;
            part.offset = e->offset + (part.start - e->start);
            if (part.host)
                part.host = e->host + (part.start - e->start);
            root = tree_insert(t, root, &part);
        }
    }
    for (guint i = 0; i < ranges->len; i++)
        root = tree_insert(t, root, &g_array_index(ranges, DmsFlatRange, i));
    /*
     * Ranges overlapping the span were cut at its ends above, so only a
     * new range can start at @first or end at @last: without one there
     * (a removal renders none) nothing can join across that end, and the
     * two searches of a merge_at() are saved.
     */
    if (ranges->len == 0)
        return root;
    if (first > 0 && g_array_index(ranges, DmsFlatRange, 0).start == first)
        root = merge_at(t, root, first);
    if (last < UINT64_MAX &&
        g_array_index(ranges, DmsFlatRange, ranges->len - 1).last == last)
        root = merge_at(t, root, last + 1);
    return root;
}

DmsViewNode *dms__view_build(DmsViewTxn *t, const GArray *ranges)
{
    GPtrArray *level = g_ptr_array_new();
    DmsViewNode *n = NULL, *root;
    unsigned height = 0;

    for (guint i = 0; i < ranges->len && !t->error; i++) {
        const DmsFlatRange *e = &g_array_index(ranges, DmsFlatRange, i);

        if (!n || n->n == FANOUT) {
            n = node_new(t, 0);
            if (!n)
                break;
            g_ptr_array_add(level, n);
        }
        put(n, n->n, e->start, e);
        dms_region_ref(e->region);
        g_ptr_array_add(t->refs, e->region);
    }
    while (!t->error && level->len > 1) {
        GPtrArray *up = g_ptr_array_new();

        height++;
        n = NULL;
        for (guint i = 0; i < level->len; i++) {
            DmsViewNode *c = g_ptr_array_index(level, i);

            if (!n || n->n == FANOUT) {
                n = node_new(t, height);
                if (!n)
                    break;
                g_ptr_array_add(up, n);
            }
            n->keys[n->n] = c->keys[0];
            n->child[n->n++] = c;
        }
        g_ptr_array_free(level, TRUE);
        level = up;
    }
    if (t->error) {
        g_ptr_array_free(level, TRUE);
        return NULL;
    }
    root = level->len ? g_ptr_array_index(level, 0) : node_new(t, 0);
    g_ptr_array_free(level, TRUE);
    return root;
}

static void walk(const DmsViewNode *n, GArray *out)
{
    if (n->height == 0) {
        g_array_append_vals(out, n->ent, n->n);
        return;
    }
    for (unsigned i = 0; i < n->n; i++)
        walk(n->child[i], out);
}

GArray *dms__flatview_ranges(const DmsFlatView *fv)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));

    walk(fv, out);
    return out;
}

void dms__flatview_free(DmsFlatView *fv)
{
    if (!fv)
        return;
    if (fv->height == 0) {
        for (unsigned i = 0; i < fv->n; i++)
            dms_region_unref(fv->ent[i].region);
    } else {
        for (unsigned i = 0; i < fv->n; i++)
            dms__flatview_free(fv->child[i]);
    }
    node_free(fv);
}

const DmsFlatRange *dms__flatview_lookup_top(const DmsFlatView *fv)
{
    const DmsFlatRange *fr = find_le(fv, UINT64_MAX);

    return fr && fr->last == UINT64_MAX ? fr : NULL;
}

/* ---- structural check (tests and fuzzing) ---- */

typedef struct ViewCheck {
    uint64_t first, last; /* the addresses to check */
    bool any;             /* a range was seen */
    uint64_t prev_last;   /* the last byte of the previous range */
} ViewCheck;

/* NULL if the subtree at @n is sound, else what is wrong with it. */
static char *check_node(const DmsViewNode *n, bool is_root, unsigned depth,
                        ViewCheck *vc)
{
    if (n->n > FANOUT)
        return g_strdup_printf("depth %u: %u items, fanout %u", depth, n->n,
                               FANOUT);
    if (n->n == 0 && !(is_root && n->height == 0))
        return g_strdup_printf("depth %u: an empty %s", depth,
                               n->height ? "inner node" : "leaf");
    if (is_root && n->height > 0 && n->n < 2)
        return g_strdup_printf("an inner root with one child");
    for (unsigned i = 0; i < FANOUT; i++) {
        if (i >= n->n && n->keys[i] != UINT64_MAX)
            return g_strdup_printf("depth %u: unused key %u is 0x%" PRIx64,
                                   depth, i, n->keys[i]);
        if (i > 0 && i < n->n && n->keys[i - 1] >= n->keys[i])
            return g_strdup_printf("depth %u: keys %u and %u out of order",
                                   depth, i - 1, i);
    }
    for (unsigned i = 0; i < n->n; i++) {
        char *why;

        if (n->height == 0) {
            const DmsFlatRange *e = &n->ent[i];

            if (n->keys[i] != e->start)
                return g_strdup_printf("depth %u: key %u is not its start",
                                       depth, i);
            if (e->last < e->start || !e->region ||
                !dms__region_is_leaf(e->region) ||
                e->offset > e->region->last ||
                e->last - e->start > e->region->last - e->offset)
                return g_strdup_printf(
                    "range [0x%" PRIx64 ", 0x%" PRIx64 "] at 0x%" PRIx64
                    " is not a piece of leaf region %s (0x%" PRIx64 " bytes)",
                    e->start, e->last, e->offset,
                    e->region ? e->region->name : "(none)",
                    e->region ? e->region->last + 1 : 0);
            if (e->host != (e->region->kind == DMS_KIND_RAM
                                ? e->region->host + e->offset
                                : NULL))
                return g_strdup_printf("range at 0x%" PRIx64 ": host "
                                       "pointer",
                                       e->start);
            if (vc->any && e->start <= vc->prev_last)
                return g_strdup_printf("range at 0x%" PRIx64 " overlaps or "
                                       "precedes the range before it",
                                       e->start);
            vc->any = true;
            vc->prev_last = e->last;
            continue;
        }
        /* Only the children whose keys may hold the addresses asked. */
        if (n->keys[i] > vc->last ||
            (i + 1u < n->n && n->keys[i + 1] <= vc->first))
            continue;
        if (!n->child[i] || n->child[i]->height + 1u != n->height)
            return g_strdup_printf(
                "depth %u: child %u has height %u under "
                "height %u",
                depth, i, n->child[i] ? n->child[i]->height : 0u, n->height);
        why = check_node(n->child[i], false, depth + 1, vc);
        if (why)
            return why;
        /* After the child's own check: an empty child is reported as one. */
        if (n->keys[i] != n->child[i]->keys[0])
            return g_strdup_printf("depth %u: key %u is 0x%" PRIx64
                                   ", its child's first 0x%" PRIx64,
                                   depth, i, n->keys[i], n->child[i]->keys[0]);
    }
    return NULL;
}

char *dms__view_check(const DmsFlatView *fv, uint64_t first, uint64_t last)
{
    ViewCheck vc = {.first = first, .last = last};

    return check_node(fv, true, 0, &vc);
}
