/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The index of a container's subregions: a B+tree keyed by (priority,
 * offset, insertion order), with the keys stored in the nodes.
 *
 * A change of topology places or removes one subregion and asks which
 * subregions of one priority meet a span; at 10^6 subregions that search
 * was most of a change's cost in a balanced binary tree of regions (about
 * 20 levels, each a cache miss on the tree node and one on the region it
 * keys through). Here a level is one node: a binary search over keys held
 * in the node itself, so the regions are not touched until found, and
 * four full levels hold 810,000 subregions.
 *
 * Leaves are linked both ways so that walking in order from a lower
 * bound is a step, and a leaf can leave the list wherever it is. Only
 * the writer (topology lock) uses the index; readers never see it, so
 * nodes are changed in place.
 *
 * Each priority also has a group: how many subregions it has, and a bound
 * on their last offset (the largest ever placed, until the group empties)
 * that limits how far left of a span the search for subregions meeting
 * it must start.
 */
#include "dms-private.h"

/*
 * Keys (24 bytes) and items of a node: 30 of each and the header fill 984
 * bytes, and a binary search reads 5 keys. Chosen by measurement against
 * 16 and 60 (doc/design.md, "The children index").
 */
#define FANOUT DMS_CHILD_FANOUT
/* Below this a node borrows from or merges with a sibling. */
#define MIN_FILL (FANOUT / 4)

typedef struct Key {
    uint64_t offset;
    uint64_t seq;
    int32_t priority;
} Key;

struct DmsChildNode {
    uint16_t n;     /* used slots */
    uint8_t height; /* 0: a leaf */
    /* Leaves: the neighbours in order, or NULL. */
    DmsChildNode *prev, *next;
    /* key[i]: of region[i] in a leaf, the first key under child[i] above */
    Key key[FANOUT];
    union {
        DmsRegion *region[FANOUT];
        DmsChildNode *child[FANOUT];
        void *item[FANOUT];
    };
};

/*
 * Under 1 KiB with malloc's header: glibc serves larger requests from its
 * sorted bins, and each one first consolidates every small free chunk
 * (the render frees many), which cost more than the insertion itself.
 */
G_STATIC_ASSERT(sizeof(DmsChildNode) + 2 * sizeof(size_t) < 1024);

static Key key_of(const DmsRegion *r)
{
    return (Key){.offset = r->offset, .seq = r->seq, .priority = r->priority};
}

/* a <= b */
static inline bool key_le(const Key *a, const Key *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->offset != b->offset)
        return a->offset < b->offset;
    return a->seq <= b->seq;
}

static bool key_eq(const Key *a, const Key *b)
{
    return a->priority == b->priority && a->offset == b->offset &&
           a->seq == b->seq;
}

/* How many keys of @n are <= @k. */
static inline unsigned count_le(const DmsChildNode *n, const Key *k)
{
    unsigned lo = 0, hi = n->n;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;

        if (key_le(&n->key[mid], k))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The child of internal node @n whose subtree holds @k's place. */
static inline unsigned child_for(const DmsChildNode *n, const Key *k)
{
    unsigned c = count_le(n, k);

    return c ? c - 1 : 0;
}

/* ---- nodes ---- */

/*
 * A node from the spares, which dms__children_insert() tops up before it
 * changes anything: an insertion cannot fail half-way.
 */
static DmsChildNode *node_take(DmsChildren *c, unsigned height)
{
    DmsChildNode *n = c->spare;

    g_assert(n);
    c->spare = n->next;
    c->nspare--;
    memset(n, 0, offsetof(DmsChildNode, key));
    n->height = (uint8_t)height;
    return n;
}

static void node_free(DmsChildNode *n)
{
    g_free(n);
}

/*
 * Spares kept beyond what an insertion needs: merges give nodes back and
 * splits take them, so churn at one size goes through malloc rarely.
 */
#define SPARE_MAX 16

/* Node @n left the tree: a spare, or freed. */
static void node_give(DmsChildren *c, DmsChildNode *n)
{
    if (c->nspare >= SPARE_MAX) {
        node_free(n);
        return;
    }
    n->next = c->spare;
    c->spare = n;
    c->nspare++;
}

/* Moves @count slots of @src from @si to @dst at @di (dst has room). */
static void move_slots(DmsChildNode *dst, unsigned di, DmsChildNode *src,
                       unsigned si, unsigned count)
{
    memmove(&dst->key[di + count], &dst->key[di], (dst->n - di) * sizeof(Key));
    memmove(&dst->item[di + count], &dst->item[di],
            (dst->n - di) * sizeof(void *));
    memcpy(&dst->key[di], &src->key[si], count * sizeof(Key));
    memcpy(&dst->item[di], &src->item[si], count * sizeof(void *));
    dst->n = (uint16_t)(dst->n + count);
    memmove(&src->key[si], &src->key[si + count],
            (src->n - si - count) * sizeof(Key));
    memmove(&src->item[si], &src->item[si + count],
            (src->n - si - count) * sizeof(void *));
    src->n = (uint16_t)(src->n - count);
}

static void put(DmsChildNode *n, unsigned pos, const Key *k, void *item)
{
    memmove(&n->key[pos + 1], &n->key[pos], (n->n - pos) * sizeof(Key));
    memmove(&n->item[pos + 1], &n->item[pos], (n->n - pos) * sizeof(void *));
    n->key[pos] = *k;
    n->item[pos] = item;
    n->n++;
}

static void take(DmsChildNode *n, unsigned pos)
{
    memmove(&n->key[pos], &n->key[pos + 1], (n->n - pos - 1) * sizeof(Key));
    memmove(&n->item[pos], &n->item[pos + 1],
            (n->n - pos - 1) * sizeof(void *));
    n->n--;
}

/* Leaf @r goes into the list right after leaf @l. */
static void link_after(DmsChildNode *l, DmsChildNode *r)
{
    r->prev = l;
    r->next = l->next;
    if (l->next)
        l->next->prev = r;
    l->next = r;
}

static void unlink_leaf(DmsChildNode *n)
{
    if (n->prev)
        n->prev->next = n->next;
    if (n->next)
        n->next->prev = n->prev;
}

/* Node @n leaves the tree. */
static void discard(DmsChildren *c, DmsChildNode *n)
{
    if (c->finger == n)
        c->finger = NULL;
    if (n->height == 0)
        unlink_leaf(n);
    node_give(c, n);
}

/* ---- insertion ---- */

/*
 * Puts @item at @pos of @n, splitting a full node: then *@split gets the
 * new right half. Appending at the end of a full node moves only the new
 * item over, so that ascending insertions (the usual order of a guest's
 * memory map) leave full nodes behind.
 */
static void insert_at(DmsChildren *c, DmsChildNode *n, unsigned pos,
                      const Key *k, void *item, DmsChildNode **split)
{
    DmsChildNode *r;
    unsigned keep;

    *split = NULL;
    if (n->n < FANOUT) {
        put(n, pos, k, item);
        return;
    }
    r = node_take(c, n->height);
    if (n->height == 0)
        link_after(n, r);
    keep = pos == FANOUT ? FANOUT : (FANOUT + 1) / 2;
    if (pos >= keep) {
        move_slots(r, 0, n, keep, FANOUT - keep);
        put(r, pos - keep, k, item);
    } else {
        move_slots(r, 0, n, keep - 1, FANOUT - (keep - 1));
        put(n, pos, k, item);
    }
    *split = r;
}

static void insert_rec(DmsChildren *c, DmsChildNode *n, const Key *k,
                       DmsRegion *sub, DmsChildNode **split)
{
    DmsChildNode *sp;
    unsigned i;

    if (n->height == 0) {
        insert_at(c, n, count_le(n, k), k, sub, split);
        return;
    }
    i = child_for(n, k);
    insert_rec(c, n->child[i], k, sub, &sp);
    n->key[i] = n->child[i]->key[0];
    if (sp)
        insert_at(c, n, i + 1, &sp->key[0], sp, split);
    else
        *split = NULL;
}

int dms__children_new(DmsChildren **ret)
{
    DmsChildren *c = g_try_new0(DmsChildren, 1);

    *ret = NULL;
    if (!c)
        return -ENOMEM;
    c->prios = g_array_new(FALSE, FALSE, sizeof(DmsPriorityGroup));
    *ret = c;
    return 0;
}

static void free_subtree(DmsChildNode *n)
{
    for (unsigned i = 0; n->height && i < n->n; i++)
        free_subtree(n->child[i]);
    node_free(n);
}

void dms__children_clear(DmsChildren *c)
{
    if (c->root)
        free_subtree(c->root);
    c->root = NULL;
    c->finger = NULL;
    while (c->spare) {
        DmsChildNode *next = c->spare->next;

        node_free(c->spare);
        c->spare = next;
    }
    c->nspare = 0;
    c->count = 0;
    g_array_set_size(c->prios, 0);
}

void dms__children_free(DmsChildren *c)
{
    if (!c)
        return;
    dms__children_clear(c);
    g_array_free(c->prios, TRUE);
    g_free(c);
}

DmsPriorityGroup *dms__children_group(const DmsChildren *c, int priority,
                                      guint *index)
{
    guint lo = 0, hi = c->prios->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        DmsPriorityGroup *g = &g_array_index(c->prios, DmsPriorityGroup, mid);

        if (g->priority == priority) {
            *index = mid;
            return g;
        }
        if (g->priority < priority)
            lo = mid + 1;
        else
            hi = mid;
    }
    *index = lo;
    return NULL;
}

int dms__children_insert(DmsChildren *c, DmsRegion *sub)
{
    unsigned need = c->root ? c->root->height + 2u : 1u;
    DmsChildNode *split, *f;
    DmsPriorityGroup *g;
    Key k = key_of(sub);
    guint index;

    /* A split on every level and a new root, at most. */
    while (c->nspare < need) {
        DmsChildNode *n = g_try_new(DmsChildNode, 1);

        if (!n)
            return -ENOMEM;
        n->next = c->spare;
        c->spare = n;
        c->nspare++;
    }
    g = dms__children_group(c, sub->priority, &index);
    if (!g) {
        DmsPriorityGroup fresh = {.priority = sub->priority};

        g_array_insert_val(c->prios, index, fresh);
        g = &g_array_index(c->prios, DmsPriorityGroup, index);
    }
    g->count++;
    g->max_last = MAX(g->max_last, sub->last);

    f = c->finger;
    if (!c->root) {
        c->root = node_take(c, 0);
        put(c->root, 0, &k, sub);
    } else if (f && f->n > 0 && f->n < FANOUT && key_le(&f->key[0], &k) &&
               (!f->next || !key_le(&f->next->key[0], &k))) {
        /*
         * @k goes into the finger's leaf, after its first key (keys are
         * unique): no split and no first key changes, so nothing above
         * the leaf does either.
         */
        put(f, count_le(f, &k), &k, sub);
    } else {
        insert_rec(c, c->root, &k, sub, &split);
        if (split) {
            DmsChildNode *top = node_take(c, c->root->height + 1u);

            put(top, 0, &c->root->key[0], c->root);
            put(top, 1, &split->key[0], split);
            c->root = top;
        }
    }
    c->count++;
    return 0;
}

/* ---- removal ---- */

/* Child @i of @n has fewer than MIN_FILL slots: borrow or merge. */
static void fix_underflow(DmsChildren *c, DmsChildNode *n, unsigned i)
{
    unsigned l = i > 0 ? i - 1 : i;
    DmsChildNode *left, *right;

    if (n->n < 2) {
        /*
         * No sibling here: an underfull only child is fine (appending to
         * a full node makes one), but an empty one goes, and @n, empty
         * in turn, is removed by its parent or by dms__children_remove().
         */
        if (n->child[i]->n == 0) {
            discard(c, n->child[i]);
            take(n, i);
        }
        return;
    }
    left = n->child[l];
    right = n->child[l + 1];
    if (left->n + right->n <= FANOUT) {
        move_slots(left, left->n, right, 0, right->n);
        take(n, l + 1);
        discard(c, right);
        if (left->n == 0) {
            take(n, l);
            discard(c, left);
            return;
        }
    } else if (left->n < right->n) {
        move_slots(left, left->n, right, 0, (right->n - left->n) / 2u);
        n->key[l + 1] = right->key[0];
    } else {
        unsigned count = (left->n - right->n) / 2u;

        move_slots(right, 0, left, left->n - count, count);
        n->key[l + 1] = right->key[0];
    }
    n->key[l] = left->key[0];
}

static bool remove_rec(DmsChildren *c, DmsChildNode *n, const Key *k,
                       const DmsRegion *sub)
{
    unsigned i = child_for(n, k);

    if (n->height == 0) {
        if (n->n == 0 || n->region[i] != sub)
            return false;
        take(n, i);
        /* The render of the span looks here next (a merge that frees
         * this leaf clears the finger). */
        c->finger = n;
        return true;
    }
    if (!remove_rec(c, n->child[i], k, sub))
        return false;
    if (n->child[i]->n > 0)
        n->key[i] = n->child[i]->key[0];
    if (n->child[i]->n < MIN_FILL)
        fix_underflow(c, n, i);
    return true;
}

bool dms__children_remove(DmsChildren *c, const DmsRegion *sub)
{
    Key k = key_of(sub);
    guint index;
    DmsPriorityGroup *g;

    if (!c->root || !remove_rec(c, c->root, &k, sub))
        return false;
    /* A root with one child gives way to it; an empty one goes. */
    while (c->root->height > 0 && c->root->n == 1) {
        DmsChildNode *only = c->root->child[0];

        node_give(c, c->root);
        c->root = only;
    }
    if (c->root->n == 0) {
        discard(c, c->root);
        c->root = NULL;
    }
    c->count--;
    g = dms__children_group(c, sub->priority, &index);
    if (--g->count == 0)
        g_array_remove_index(c->prios, index);
    return true;
}

/* ---- walking ---- */

static bool cursor_load(DmsChildCursor *cur)
{
    const DmsChildNode *n = cur->leaf;

    while (n && cur->slot >= n->n) {
        n = n->next;
        cur->slot = 0;
    }
    cur->leaf = n;
    if (!n)
        return false;
    cur->region = n->region[cur->slot];
    cur->priority = n->key[cur->slot].priority;
    cur->offset = n->key[cur->slot].offset;
    return true;
}

bool dms__children_lower_bound(DmsChildren *c, int priority, uint64_t offset,
                               DmsChildCursor *cur)
{
    /* Insertion orders start at 1: seq 0 is below every subregion. */
    Key k = {.offset = offset, .seq = 0, .priority = priority};
    DmsChildNode *n = c->finger;
    unsigned pos;

    cur->leaf = NULL;
    /* The finger's keys straddle @k: the first key above it is there. */
    if (!n || n->n == 0 || !key_le(&n->key[0], &k) ||
        key_le(&n->key[n->n - 1], &k)) {
        n = c->root;
        if (!n)
            return false;
        while (n->height)
            n = n->child[child_for(n, &k)];
        c->finger = n;
    }
    /* Every key <= k is below k here (seq 0 is never used): the first
     * key above k is the lower bound, perhaps in the next leaf. */
    pos = count_le(n, &k);
    cur->leaf = n;
    cur->slot = pos;
    return cursor_load(cur);
}

bool dms__children_first(const DmsChildren *c, DmsChildCursor *cur)
{
    const DmsChildNode *n = c->root;

    cur->leaf = NULL;
    if (!n)
        return false;
    while (n->height)
        n = n->child[0];
    cur->leaf = n;
    cur->slot = 0;
    return cursor_load(cur);
}

bool dms__children_next(DmsChildCursor *cur)
{
    cur->slot++;
    return cursor_load(cur);
}

/* ---- checking (tests) ---- */

static int check_node(const DmsChildNode *n, const Key *lo, const Key *hi,
                      const DmsChildNode **leaf, size_t *count)
{
    for (unsigned i = 0; i < n->n; i++) {
        if (i > 0 && key_le(&n->key[i], &n->key[i - 1]))
            return -EINVAL; /* keys out of order */
        if (lo && !key_le(lo, &n->key[i]))
            return -EINVAL;
        if (hi && key_le(hi, &n->key[i]))
            return -EINVAL;
    }
    if (n->height == 0) {
        if (n->prev != *leaf || (*leaf && (*leaf)->next != n))
            return -EINVAL; /* leaf list broken */
        *leaf = n;
        for (unsigned i = 0; i < n->n; i++) {
            Key k = key_of(n->region[i]);

            if (!key_eq(&k, &n->key[i]))
                return -EINVAL; /* key is not the region's */
        }
        *count += n->n;
        return 0;
    }
    if (n->n == 0)
        return -EINVAL;
    for (unsigned i = 0; i < n->n; i++) {
        const DmsChildNode *ch = n->child[i];
        int r;

        if (ch->height + 1u != n->height || ch->n == 0 ||
            !key_eq(&ch->key[0], &n->key[i]))
            return -EINVAL;
        r = check_node(ch, &n->key[i], i + 1 < n->n ? &n->key[i + 1] : hi,
                       leaf, count);
        if (r)
            return r;
    }
    return 0;
}

int dms__children_check(const DmsChildren *c)
{
    const DmsChildNode *leaf = NULL;
    size_t count = 0;
    int r;

    if (!c->root)
        return c->count == 0 && c->prios->len == 0 ? 0 : -EINVAL;
    r = check_node(c->root, NULL, NULL, &leaf, &count);
    if (r == 0 && (leaf->next || count != c->count))
        r = -EINVAL;
    return r;
}
