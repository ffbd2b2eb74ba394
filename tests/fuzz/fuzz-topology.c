/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: random topology changes, and after every step each space's
 * incremental view against a from-scratch render of the same tree.
 *
 * The input is a program of one-byte operations with their arguments:
 * create RAM, message, container and alias regions; place them (nested,
 * overlapping, at any priority, up to the top of the 2^64 space), remove
 * and resize them; open and commit batches; create and drop spaces over
 * any region. Op bytes from BANK_OP_BYTES on work a "bank": a container
 * of up to BANK_SLOTS small RAM regions with a space of its own, filled
 * to a given count as a guest's memory map grows and shrinks at its end,
 * or changed in runs (ascending, descending, random or strided order),
 * always one region at a time, so that views get two levels below the
 * root and every node split, append split, borrow and merge of the B+tree
 * is reached (the other objects are too few to fill one leaf). At the end
 * the bank is emptied from the top. After each step outside a batch,
 * every space is checked (the bank's own space only after bank runs and
 * commits, or when its view moved; see check_all()):
 *
 *  - its view (lib/flatview.c's persistent B+tree, built incrementally by
 *    lib/topology.c) is a sound tree (dms__view_check(); in a bank run
 *    also the path to each region changed, after each change) and equals
 *    dms__flatview_render_reference() of its root,
 *    range by range, and lookups at every range's ends and in the gaps
 *    find what the reference says;
 *  - its change listener got exactly one call if the view changed and
 *    none if not (after a bank run: at most one per change), whose
 *    removals and additions, applied to the ranges the listener saw
 *    before, give the new view, with no range both removed and added (so
 *    each call is exactly the difference of two views).
 *
 * At the end every leaf's destroy notify must have run exactly once,
 * once dms_update_barrier() says old views are reclaimed.
 */
#include <inttypes.h>
#include <string.h>

#include "dms-private.h"
#include "fuzz.h"
#include "memdev.h"

enum {
    MAX_OBJS = 24,
    MAX_SPACES = 3, /* the program's; the bank has one more */
    BANK_SPACE = MAX_SPACES,
    UNIT = 16, /* sizes and offsets are multiples: overlaps are likely */
    MAX_DEPTH = 3,
    /*
     * Regions of the bank: over 16 * 16 ranges make a view three levels
     * deep (two below the root). A power of two, so that every odd stride
     * visits every slot.
     */
    BANK_SLOTS = 512,
    /*
     * Changes bank runs may make in one input: two fills of the bank.
     * Each change re-renders and checks, so this bounds the time of an
     * execution (the other operations need many executions too).
     */
    BANK_BUDGET = 2 * BANK_SLOTS,
    /* Op bytes from here on are bank runs; below, the other operations,
     * as they were before the bank (the committed corpus keeps its
     * meaning). */
    BANK_OP_BYTES = 248,
};

typedef enum Op {
    OP_NEW_RAM,
    OP_NEW_MESSAGE,
    OP_NEW_CONTAINER,
    OP_NEW_ALIAS,
    OP_ADD,
    OP_ADD_TOP, /* near 2^64 */
    OP_REMOVE,
    OP_RESIZE,
    OP_BEGIN,
    OP_COMMIT,
    OP_NEW_SPACE,
    OP_DROP_SPACE,
    OP_COUNT, /* the operations below come from bytes >= BANK_OP_BYTES */
    OP_BANK_ADD = OP_COUNT,
    OP_BANK_REMOVE,
    OP_BANK_SET, /* the bank to its first n slots, as a guest's map grows */
} Op;

/* The order in which a bank run visits its slots. */
typedef enum BankOrder {
    BANK_ASCENDING,
    BANK_DESCENDING,
    BANK_RANDOM,
    BANK_STRIDED,
    BANK_ORDERS
} BankOrder;

typedef struct Space {
    DmsSpace *space;
    DmsRegion *root;
    DmsViewListener *listener;
    GArray *seen;   /* of DmsFlatRange: what the listener was told */
    GArray *before; /* the reference view after the previous step */
    unsigned calls; /* listener calls since the last check */
    const DmsFlatView *checked; /* the view the last check saw */
} Space;

/*
 * The bank: a container (also one of Fuzz.obj, if there was room, so
 * that other operations may nest, alias or resize it) with slots for
 * small RAM regions, slot i at offset i * 2 * UNIT. Even slots are one
 * unit long, odd ones two, so that some neighbours touch.
 */
typedef struct Bank {
    DmsRegion *box;
    DmsRegion *slot[BANK_SLOTS]; /* created on first use; we hold one ref */
    bool placed[BANK_SLOTS];
    int notified[BANK_SLOTS];
    unsigned spent; /* changes made by runs, up to BANK_BUDGET */
} Bank;

typedef struct Fuzz {
    DmsRegion *obj[MAX_OBJS];
    bool leaf[MAX_OBJS];
    int notified[MAX_OBJS];
    unsigned nobj;
    Space spaces[MAX_SPACES + 1];
    unsigned depth;
    Bank bank;
} Fuzz;

static uint8_t host_mem[64 * UNIT];

static void leaf_notify(void *data)
{
    int *n = data;

    (*n)++;
}

/* Message regions with nothing behind them: the fuzzer reads no bytes. */
static const DmsMessageOps msg_ops = {
    .size = sizeof(DmsMessageOps),
    .read = memdev_zero_read,
    .write = memdev_drop_write,
};

static DmsRegion *pick(Fuzz *f, FuzzInput *in)
{
    uint8_t i = fuzz_u8(in);

    return f->nobj ? f->obj[i % f->nobj] : NULL;
}

/* 1..64 units, or the whole 2^64 for @all_ok kinds when asked. */
static uint64_t pick_size(FuzzInput *in, bool all_ok)
{
    uint8_t b = fuzz_u8(in);

    if (all_ok && b >= 0xf8)
        return DMS_SIZE_ALL;
    return (uint64_t)(b % 64 + 1) * UNIT;
}

static bool same_range(const DmsFlatRange *a, const DmsFlatRange *b)
{
    return a->start == b->start && a->last == b->last &&
           a->offset == b->offset && a->region == b->region;
}

/* The first of @seen (sorted, disjoint) starting at or after @addr. */
static guint seen_index(const GArray *seen, uint64_t addr)
{
    guint lo = 0, hi = seen->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;

        if (g_array_index(seen, DmsFlatRange, mid).start < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void listen_cb(void *opaque, const DmsViewRange *removed,
                      size_t n_removed, const DmsViewRange *added,
                      size_t n_added)
{
    Space *sp = opaque;

    sp->calls++;
    for (size_t i = 0; i < n_removed; i++) {
        guint j = seen_index(sp->seen, removed[i].addr);
        const DmsFlatRange *s = j < sp->seen->len
                                    ? &g_array_index(sp->seen, DmsFlatRange, j)
                                    : NULL;

        FUZZ_CHECK(s && s->start == removed[i].addr &&
                       s->last == removed[i].addr + (removed[i].size - 1) &&
                       s->region == removed[i].region &&
                       s->offset == removed[i].offset,
                   "listener: removed range at 0x%" PRIx64 " was not there",
                   removed[i].addr);
        g_array_remove_index(sp->seen, j);
        for (size_t k = 0; k < n_added; k++)
            FUZZ_CHECK(!(added[k].addr == removed[i].addr &&
                         added[k].size == removed[i].size &&
                         added[k].region == removed[i].region &&
                         added[k].offset == removed[i].offset),
                       "listener: range at 0x%" PRIx64
                       " removed and added unchanged",
                       removed[i].addr);
    }
    for (size_t i = 0; i < n_added; i++) {
        DmsFlatRange fr = {
            .start = added[i].addr,
            .last = added[i].addr + (added[i].size - 1),
            .offset = added[i].offset,
            .region = added[i].region,
        };
        guint j = seen_index(sp->seen, fr.start);

        FUZZ_CHECK(
            j == sp->seen->len ||
                g_array_index(sp->seen, DmsFlatRange, j).start > fr.last,
            "listener: added range at 0x%" PRIx64 " overlaps", fr.start);
        FUZZ_CHECK(
            j == 0 ||
                g_array_index(sp->seen, DmsFlatRange, j - 1).last < fr.start,
            "listener: added range at 0x%" PRIx64 " overlaps", fr.start);
        g_array_insert_val(sp->seen, j, fr);
    }
}

static GArray *reference(DmsRegion *root)
{
    GArray *ref;
    int r;

    dms__topology_lock();
    r = dms__flatview_render_reference(root, &ref);
    dms__topology_unlock();
    FUZZ_CHECK(r == 0, "reference render: %d", r);
    return ref;
}

static bool same_list(const GArray *a, const GArray *b)
{
    if (a->len != b->len)
        return false;
    for (guint i = 0; i < a->len; i++) {
        if (!same_range(&g_array_index(a, DmsFlatRange, i),
                        &g_array_index(b, DmsFlatRange, i)))
            return false;
    }
    return true;
}

static void check_lookup(const DmsFlatView *fv, const GArray *ref)
{
    for (guint i = 0; i < ref->len; i++) {
        const DmsFlatRange *e = &g_array_index(ref, DmsFlatRange, i);
        const DmsFlatRange *a = dms__flatview_lookup(fv, e->start);
        const DmsFlatRange *b = dms__flatview_lookup(fv, e->last);

        FUZZ_CHECK(a && same_range(a, e), "lookup of 0x%" PRIx64, e->start);
        FUZZ_CHECK(b && same_range(b, e), "lookup of 0x%" PRIx64, e->last);
        FUZZ_CHECK(e->region->kind != DMS_KIND_RAM ||
                       a->host == e->region->host + e->offset,
                   "host pointer of range at 0x%" PRIx64, e->start);
        /* The byte before a range that does not touch the previous one
         * is a gap. */
        if (e->start > 0 &&
            (i == 0 ||
             g_array_index(ref, DmsFlatRange, i - 1).last + 1 < e->start))
            FUZZ_CHECK(!dms__flatview_lookup(fv, e->start - 1),
                       "lookup in the gap at 0x%" PRIx64, e->start - 1);
    }
    if (ref->len == 0)
        FUZZ_CHECK(!dms__flatview_lookup(fv, 0) &&
                       !dms__flatview_lookup(fv, UINT64_MAX),
                   "lookup in an empty view");
}

/* The nodes of @sp's view on the paths to [first, last] are sound. */
static void check_tree(const Space *sp, uint64_t first, uint64_t last)
{
    char *why = dms__view_check(
        atomic_load_explicit(&sp->space->view, memory_order_acquire), first,
        last);

    FUZZ_CHECK(!why, "view tree: %s", why);
}

/*
 * The view of @sp against the reference; @changes is how many changes
 * the step made (more than one for a bank run), each of which may have
 * called the listener once.
 */
static void check_space(Space *sp, unsigned changes)
{
    GArray *ref = reference(sp->root);
    const DmsFlatView *fv =
        atomic_load_explicit(&sp->space->view, memory_order_acquire);
    GArray *cur;
    bool changed;

    check_tree(sp, 0, UINT64_MAX);
    cur = dms__flatview_ranges(fv);

    for (guint i = 0; i < cur->len && i < ref->len; i++) {
        const DmsFlatRange *a = &g_array_index(cur, DmsFlatRange, i);
        const DmsFlatRange *b = &g_array_index(ref, DmsFlatRange, i);
        FUZZ_CHECK(same_range(a, b),
                   "range %u: view [0x%" PRIx64 ", 0x%" PRIx64
                   "] of %s, reference [0x%" PRIx64 ", 0x%" PRIx64 "] of %s",
                   i, a->start, a->last, a->region->name, b->start, b->last,
                   b->region->name);
    }
    FUZZ_CHECK(cur->len == ref->len, "view has %u ranges, reference %u",
               cur->len, ref->len);
    check_lookup(fv, ref);
    changed = !same_list(sp->before, ref);
    if (changes <= 1)
        FUZZ_CHECK(sp->calls == (changed ? 1u : 0u),
                   "listener called %u times for one change", sp->calls);
    else
        FUZZ_CHECK(sp->calls <= changes && (sp->calls > 0 || !changed),
                   "listener called %u times for %u changes", sp->calls,
                   changes);
    FUZZ_CHECK(same_list(sp->seen, ref),
               "listener's ranges (%u) differ from the view (%u)",
               sp->seen->len, ref->len);
    sp->calls = 0;
    g_array_free(sp->before, TRUE);
    sp->before = ref;
    sp->checked = fv;
    g_array_free(cur, TRUE);
}

/*
 * Checks every space after a step that made @changes changes. The bank's
 * own space, hundreds of ranges whose reference render dominates a run,
 * is checked in full after bank runs (@bank_step), and after other steps
 * only if its view or listener moved: otherwise the one thing left
 * unchecked is an update it missed, which its next full check finds (the
 * view then differs from the reference).
 */
static void check_all(Fuzz *f, unsigned changes, bool bank_step)
{
    if (f->depth)
        return;
    for (unsigned i = 0; i <= BANK_SPACE; i++) {
        Space *sp = &f->spaces[i];

        if (!sp->space)
            continue;
        if (i == BANK_SPACE && !bank_step && sp->calls == 0 &&
            atomic_load(&sp->space->view) == sp->checked)
            continue;
        check_space(sp, changes);
    }
}

static void space_over(DmsRegion *root, Space *sp)
{
    int r;

    r = dms_space_new(root, "fuzz", &sp->space);
    FUZZ_CHECK(r == 0, "space_new: %d", r);
    sp->root = root;
    sp->seen = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));
    sp->before = g_array_new(FALSE, FALSE, sizeof(DmsFlatRange));
    r = dms_space_add_listener(sp->space, listen_cb, sp, NULL, &sp->listener);
    FUZZ_CHECK(r == 0, "add_listener: %d", r);
    FUZZ_CHECK(sp->calls == 1 || sp->seen->len == 0,
               "the replay came %u times", sp->calls);
    /* An empty view replays as one call with nothing in it, or none. */
    sp->calls = 0;
    g_array_free(sp->before, TRUE);
    sp->before = reference(root);
}

static Space *free_space(Fuzz *f)
{
    for (unsigned i = 0; i < MAX_SPACES; i++) {
        if (!f->spaces[i].space)
            return &f->spaces[i];
    }
    return NULL;
}

static void new_space(Fuzz *f, FuzzInput *in)
{
    DmsRegion *root = pick(f, in);
    Space *sp = free_space(f);

    /* The listener's replay comes at once: not inside a batch. */
    if (!root || !sp || f->depth)
        return;
    space_over(root, sp);
}

static void drop_space(Space *sp)
{
    int r;

    if (!sp->space)
        return;
    r = dms_space_remove_listener(sp->space, sp->listener);
    FUZZ_CHECK(r == 0, "remove_listener: %d", r);
    sp->space = dms_space_unref(sp->space);
    g_array_free(sp->seen, TRUE);
    g_array_free(sp->before, TRUE);
    memset(sp, 0, sizeof(*sp));
}

static void add_obj(Fuzz *f, DmsRegion *r, bool leaf)
{
    f->leaf[f->nobj] = leaf;
    f->obj[f->nobj++] = r;
}

/*
 * The bank, created by its first run: a container of all 2^64 bytes, one
 * of the objects if there is room, and the root of a space of its own
 * (created outside a batch, at the first run there), so that its runs
 * show at once.
 */
static Bank *bank_get(Fuzz *f)
{
    Bank *b = &f->bank;
    int r;

    if (!b->box) {
        r = dms_region_new_container("bank", DMS_SIZE_ALL, &b->box);
        FUZZ_CHECK(r == 0, "new_container: %d", r);
        if (f->nobj < MAX_OBJS)
            add_obj(f, dms_region_ref(b->box), false);
    }
    if (!f->spaces[BANK_SPACE].space && !f->depth)
        space_over(b->box, &f->spaces[BANK_SPACE]);
    return b;
}

/* Adds or removes the region of one slot; true if that changed the bank. */
static bool bank_toggle(Bank *b, unsigned slot, bool add)
{
    int r;

    if (b->placed[slot] == add)
        return false;
    if (add) {
        if (!b->slot[slot]) {
            r = dms_region_new_ram("slot", host_mem, (1 + slot % 2) * UNIT, 0,
                                   &b->notified[slot], leaf_notify,
                                   &b->slot[slot]);
            FUZZ_CHECK(r == 0, "new_ram: %d", r);
        }
        /* Other objects placed in the bank may overlap the slot. */
        r = dms_region_add_subregion(b->box, (uint64_t)slot * 2 * UNIT,
                                     b->slot[slot], 0, DMS_SUBREGION_OVERLAP);
        FUZZ_CHECK(r == 0, "bank add of slot %u: %d", slot, r);
    } else {
        r = dms_region_remove_subregion(b->box, b->slot[slot]);
        FUZZ_CHECK(r == 0, "bank remove of slot %u: %d", slot, r);
    }
    b->placed[slot] = add;
    return true;
}

/*
 * Adds (or removes) the regions of @slots one at a time, in that order,
 * while the input's budget lasts; returns how many changes that made.
 */
static unsigned bank_apply(Fuzz *f, const unsigned *slots, unsigned count,
                           bool add)
{
    Bank *b = &f->bank;
    unsigned changes = 0;

    for (unsigned i = 0; i < count && b->spent < BANK_BUDGET; i++) {
        if (!bank_toggle(b, slots[i], add))
            continue;
        b->spent++;
        changes++;
        /*
         * The paths to the slot in the spaces over the bank itself (the
         * whole trees are checked after the run: checking them after each
         * change would cost the square of the bank's size). Inside a batch
         * the views wait for the commit.
         */
        for (unsigned s = 0; s <= BANK_SPACE && !f->depth; s++) {
            if (f->spaces[s].space && f->spaces[s].root == b->box)
                check_tree(&f->spaces[s], (uint64_t)slots[i] * 2 * UNIT,
                           (uint64_t)slots[i] * 2 * UNIT + 2 * UNIT - 1);
        }
    }
    return changes;
}

/*
 * The length of a run: any, or half the time one of the sizes where
 * nodes split or empty, give or take one: a leaf's worth (16) or a
 * level's (256), once or twice. The other lengths rarely reach them.
 */
static unsigned bank_count(FuzzInput *in)
{
    uint16_t c = fuzz_u16(in);
    unsigned node =
        c & 1 ? DMS_VIEW_FANOUT * DMS_VIEW_FANOUT : DMS_VIEW_FANOUT;

    if (c & 0x8000)
        return (c & 0x7fff) % BANK_SLOTS + 1;
    return MIN(node * (1 + (c >> 1 & 1)) + (c >> 2 & 3) - 1, BANK_SLOTS);
}

/*
 * A run of single changes to the bank: @count slots from @from on (mod
 * BANK_SLOTS) in ascending, descending (from @from down), random or
 * strided order, each added (or removed) alone. Every view is checked
 * for soundness after each change, and against the reference after the
 * run. Returns how many changes there were.
 */
static unsigned bank_run(Fuzz *f, FuzzInput *in, bool add)
{
    unsigned from = fuzz_u16(in) % BANK_SLOTS;
    unsigned count = bank_count(in);
    BankOrder order = (BankOrder)(fuzz_u8(in) % BANK_ORDERS);
    uint8_t arg = fuzz_u8(in);
    unsigned stride = 2u * arg + 1, changes;
    unsigned *slots = g_new(unsigned, count);
    uint32_t rnd = arg + 1u;

    bank_get(f);

    for (unsigned i = 0; i < count; i++) {
        switch (order) {
        case BANK_ASCENDING:
        case BANK_RANDOM:
            slots[i] = (from + i) % BANK_SLOTS;
            break;
        case BANK_DESCENDING:
            slots[i] = (from + BANK_SLOTS - i) % BANK_SLOTS;
            break;
        case BANK_STRIDED:
        case BANK_ORDERS:
            slots[i] = (from + i * stride) % BANK_SLOTS;
            break;
        }
    }
    if (order == BANK_RANDOM) {
        /* Fisher-Yates with a xorshift seeded by the argument. */
        for (unsigned i = count; i > 1; i--) {
            unsigned j, t;

            rnd ^= rnd << 13;
            rnd ^= rnd >> 17;
            rnd ^= rnd << 5;
            j = rnd % i;
            t = slots[i - 1];
            slots[i - 1] = slots[j];
            slots[j] = t;
        }
    }
    changes = bank_apply(f, slots, count, add);
    g_free(slots);
    return changes;
}

/*
 * Fills the bank to its first @n slots and empties the rest: adds
 * ascending, then removes descending from the top, one at a time, as a
 * guest's memory map grows and shrinks at its end. Appending to full
 * nodes leaves nodes with one child, and removing from the end empties
 * them: the shape of the bug of a23b35c.
 */
static unsigned bank_set(Fuzz *f, FuzzInput *in)
{
    unsigned n = bank_count(in), changes = 0, slots[BANK_SLOTS];
    unsigned count = 0;

    bank_get(f);
    for (unsigned i = 0; i < n; i++)
        slots[count++] = i;
    changes += bank_apply(f, slots, count, true);
    count = 0;
    for (unsigned i = BANK_SLOTS; i-- > n;)
        slots[count++] = i;
    changes += bank_apply(f, slots, count, false);
    return changes;
}

/*
 * At the end, the bank is emptied from the top, one region at a time, as
 * a guest's memory map is torn down: what appending left behind (nodes
 * with one child) empties first.
 */
static void bank_empty(Fuzz *f)
{
    unsigned slots[BANK_SLOTS], count = 0;

    if (!f->bank.box)
        return;
    f->bank.spent = 0;
    for (unsigned i = BANK_SLOTS; i-- > 0;)
        slots[count++] = i;
    check_all(f, bank_apply(f, slots, count, false), true);
}

/* Op bytes from BANK_OP_BYTES on: half of them set the bank's size. */
static Op bank_op(uint8_t code)
{
    static const Op ops[] = {OP_BANK_ADD, OP_BANK_REMOVE, OP_BANK_SET,
                             OP_BANK_SET};

    return ops[code % G_N_ELEMENTS(ops)];
}

static void step(Fuzz *f, FuzzInput *in)
{
    uint8_t code = fuzz_u8(in);
    Op op = code < BANK_OP_BYTES ? (Op)(code % OP_COUNT) : bank_op(code);
    DmsRegion *r = NULL, *c, *s;
    unsigned changes = 1;
    int ret;

    switch (op) {
    case OP_NEW_RAM:
        if (f->nobj == MAX_OBJS)
            break;
        ret = dms_region_new_ram("ram", host_mem, pick_size(in, false), 0,
                                 &f->notified[f->nobj], leaf_notify, &r);
        FUZZ_CHECK(ret == 0, "new_ram: %d", ret);
        add_obj(f, r, true);
        break;
    case OP_NEW_MESSAGE:
        if (f->nobj == MAX_OBJS)
            break;
        ret = dms_region_new_message("msg", pick_size(in, true), &msg_ops,
                                     &f->notified[f->nobj], leaf_notify, &r);
        FUZZ_CHECK(ret == 0, "new_message: %d", ret);
        add_obj(f, r, true);
        break;
    case OP_NEW_CONTAINER:
        if (f->nobj == MAX_OBJS)
            break;
        ret = dms_region_new_container("box", pick_size(in, true), &r);
        FUZZ_CHECK(ret == 0, "new_container: %d", ret);
        add_obj(f, r, false);
        break;
    case OP_NEW_ALIAS: {
        uint64_t offset = (uint64_t)fuzz_u8(in) % 64 * UNIT;
        uint64_t size = pick_size(in, true);

        s = pick(f, in);
        if (f->nobj == MAX_OBJS || !s)
            break;
        /* Past the target's end is refused: that is not what we test. */
        if (size == DMS_SIZE_ALL && offset >= dms_region_get_size(s) - 1)
            offset = 0;
        ret = dms_region_new_alias("alias", s, offset, size, &r);
        FUZZ_CHECK(ret == 0, "new_alias: %d", ret);
        add_obj(f, r, false);
        break;
    }
    case OP_ADD:
    case OP_ADD_TOP: {
        uint64_t offset = (uint64_t)fuzz_u8(in) * UNIT;
        int prio = (int)(fuzz_u8(in) % 4) - 1;
        uint32_t flags = fuzz_bool(in) ? DMS_SUBREGION_OVERLAP : 0;

        c = pick(f, in);
        s = pick(f, in);
        if (!c || !s || c->kind != DMS_KIND_CONTAINER)
            break;
        if (op == OP_ADD_TOP)
            offset = UINT64_MAX - offset - (dms_region_get_size(s) - 1);
        /* Errors (-EBUSY, -ELOOP, -EEXIST, -EINVAL) are fine: the views
         * must still match. */
        dms_region_add_subregion(c, offset, s, prio, flags);
        break;
    }
    case OP_REMOVE:
        c = pick(f, in);
        s = pick(f, in);
        if (c && s)
            dms_region_remove_subregion(c, s);
        break;
    case OP_RESIZE: {
        uint64_t size;

        s = pick(f, in);
        size = pick_size(in, true);
        if (s)
            dms_region_set_size(s, size);
        break;
    }
    case OP_BEGIN:
        if (f->depth < MAX_DEPTH) {
            dms_update_begin();
            f->depth++;
        }
        break;
    case OP_COMMIT:
        if (f->depth) {
            dms_update_commit();
            f->depth--;
        }
        break;
    case OP_NEW_SPACE:
        new_space(f, in);
        break;
    case OP_DROP_SPACE:
        drop_space(&f->spaces[fuzz_u8(in) % MAX_SPACES]);
        break;
    case OP_BANK_ADD:
    case OP_BANK_REMOVE:
        changes = bank_run(f, in, op == OP_BANK_ADD);
        break;
    case OP_BANK_SET:
        changes = bank_set(f, in);
        break;
    }
    check_all(f, changes, op >= OP_BANK_ADD || op == OP_COMMIT);
}

static GLogWriterOutput quiet_writer(GLogLevelFlags level,
                                     const GLogField *fields, gsize n_fields,
                                     gpointer data)
{
    (void)level;
    (void)fields;
    (void)n_fields;
    (void)data;
    return G_LOG_WRITER_HANDLED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    FuzzInput in = {data, size};
    Fuzz f;

    if (!init) {
        /* Bad sizes and the like are refused with a critical: expected. */
        g_log_set_writer_func(quiet_writer, NULL, NULL);
        init = true;
    }
    memset(&f, 0, sizeof(f));
    while (in.left > 0)
        step(&f, &in);
    while (f.depth) {
        dms_update_commit();
        f.depth--;
    }
    check_all(&f, 1, true);
    bank_empty(&f);
    for (unsigned i = 0; i <= BANK_SPACE; i++)
        drop_space(&f.spaces[i]);
    for (unsigned i = 0; i < f.nobj; i++)
        dms_region_unref(f.obj[i]);
    dms_region_unref(f.bank.box);
    for (unsigned i = 0; i < BANK_SLOTS; i++)
        dms_region_unref(f.bank.slot[i]);
    FUZZ_CHECK(dms_update_barrier() == 0, "barrier");
    for (unsigned i = 0; i < f.nobj; i++) {
        if (f.leaf[i])
            FUZZ_CHECK(f.notified[i] == 1, "leaf %u notified %d times", i,
                       f.notified[i]);
    }
    for (unsigned i = 0; i < BANK_SLOTS; i++)
        FUZZ_CHECK(f.bank.notified[i] == (f.bank.slot[i] != NULL),
                   "bank slot %u notified %d times", i, f.bank.notified[i]);
    return 0;
}
