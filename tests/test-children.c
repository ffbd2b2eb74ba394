/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The children index of a container (lib/children.c): a B+tree of
 * subregions keyed by (priority, offset, seq). Its order, lower bounds,
 * removal, the per-priority groups and their max_last bound, checked
 * against a sorted array through many random insertions and removals,
 * with every structural invariant checked after each step.
 */
#include "tc.h"

#include "dms-private.h"

/* Bare regions: the index reads only priority, offset, seq and last. */
static DmsRegion *fake(int priority, uint64_t offset, uint64_t seq,
                       uint64_t last)
{
    DmsRegion *r = g_malloc0(sizeof(DmsRegion) + 1);

    r->priority = priority;
    r->offset = offset;
    r->seq = seq;
    r->last = last;
    return r;
}

static int compare_key(const void *a, const void *b)
{
    const DmsRegion *x = *(DmsRegion *const *)a, *y = *(DmsRegion *const *)b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The model: the regions in the index, sorted by key. */
typedef struct Model {
    GPtrArray *in;
} Model;

static void model_sort(Model *m)
{
    qsort(m->in->pdata, m->in->len, sizeof(gpointer), compare_key);
}

/* Index of the first region of @m at or after (priority, offset). */
static guint model_lower_bound(const Model *m, int priority, uint64_t offset)
{
    guint lo = 0, hi = m->in->len;

    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const DmsRegion *r = g_ptr_array_index(m->in, mid);

        if (r->priority > priority ||
            (r->priority == priority && r->offset >= offset))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The index walks exactly the model's regions in the model's order. */
/* The first region at or after (priority, offset) of unsorted @m. */
static DmsRegion *model_lower_bound_scan(const Model *m, int priority,
                                         uint64_t offset)
{
    DmsRegion probe = {.priority = priority, .offset = offset, .seq = 0};
    const DmsRegion *probe_ptr = &probe;
    DmsRegion *best = NULL;

    for (guint i = 0; i < m->in->len; i++) {
        DmsRegion *r = g_ptr_array_index(m->in, i);

        if (compare_key(&r, &probe_ptr) > 0 &&
            (!best || compare_key(&r, &best) < 0))
            best = r;
    }
    return best;
}

static void assert_same(const DmsChildren *c, Model *m)
{
    DmsChildCursor cur;
    guint i = 0;

    assert_int_equal(dms__children_check(c), 0);
    assert_int_equal(c->count, m->in->len);
    model_sort(m);
    for (bool more = dms__children_first(c, &cur); more;
         more = dms__children_next(&cur), i++) {
        DmsRegion *r;

        assert_true(i < m->in->len);
        r = g_ptr_array_index(m->in, i);
        assert_ptr_equal(cur.region, r);
        assert_int_equal(cur.priority, r->priority);
        assert_int_equal(cur.offset, r->offset);
    }
    assert_int_equal(i, m->in->len);
}

static void assert_lower_bound(DmsChildren *c, Model *m, int priority,
                               uint64_t offset)
{
    guint want = model_lower_bound(m, priority, offset);
    DmsChildCursor cur;
    bool found = dms__children_lower_bound(c, priority, offset, &cur);

    if (want == m->in->len) {
        assert_false(found);
        return;
    }
    assert_true(found);
    assert_ptr_equal(cur.region, g_ptr_array_index(m->in, want));
    /* The walk goes on from there in order. */
    for (guint i = want + 1; i < MIN(want + 40, m->in->len); i++) {
        assert_true(dms__children_next(&cur));
        assert_ptr_equal(cur.region, g_ptr_array_index(m->in, i));
    }
}

static void free_all(DmsChildren *c, Model *m)
{
    dms__children_free(c);
    g_ptr_array_free(m->in, TRUE);
}

static void test_children_walk_in_key_order(void **state)
{
    DmsChildren *c;
    Model m = {g_ptr_array_new_with_free_func(g_free)};
    GRand *rand = g_rand_new_with_seed(1);
    uint64_t seq = 0;
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    /* Several priorities, many equal offsets (overlapping subregions
     * told apart by seq), in random order: enough for four levels. */
    for (unsigned i = 0; i < 40000; i++) {
        DmsRegion *r = fake(g_rand_int_range(rand, -3, 4),
                            (uint64_t)g_rand_int_range(rand, 0, 5000) << 12,
                            ++seq, 0xfff);

        assert_int_equal(dms__children_insert(c, r), 0);
        g_ptr_array_add(m.in, r);
    }
    assert_same(c, &m);
    free_all(c, &m);
    g_rand_free(rand);
}

static void test_children_ascending_and_descending_fill(void **state)
{
    DmsChildren *c;
    Model m = {g_ptr_array_new_with_free_func(g_free)};
    uint64_t seq = 0;
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    for (unsigned i = 0; i < 5000; i++) {
        DmsRegion *r = fake(0, (uint64_t)i << 13, ++seq, 0xfff);

        assert_int_equal(dms__children_insert(c, r), 0);
        g_ptr_array_add(m.in, r);
    }
    for (unsigned i = 5000; i-- > 0;) {
        DmsRegion *r = fake(1, (uint64_t)i << 13, ++seq, 0xfff);

        assert_int_equal(dms__children_insert(c, r), 0);
        g_ptr_array_add(m.in, r);
    }
    assert_same(c, &m);
    /* Drained from the front, then from the back. */
    while (m.in->len > 5000) {
        DmsRegion *r = g_ptr_array_index(m.in, 0);

        assert_true(dms__children_remove(c, r));
        g_ptr_array_remove_index(m.in, 0);
        if (m.in->len % 500 == 0)
            assert_same(c, &m);
    }
    while (m.in->len > 0) {
        DmsRegion *r = g_ptr_array_index(m.in, m.in->len - 1);

        assert_true(dms__children_remove(c, r));
        g_ptr_array_remove_index(m.in, m.in->len - 1);
        if (m.in->len % 500 == 0)
            assert_same(c, &m);
    }
    assert_null(c->root);
    assert_int_equal(c->prios->len, 0);
    free_all(c, &m);
}

static void test_children_lower_bound_finds_first_at_or_after(void **state)
{
    DmsChildren *c;
    Model m = {g_ptr_array_new_with_free_func(g_free)};
    GRand *rand = g_rand_new_with_seed(2);
    DmsChildCursor cur;
    uint64_t seq = 0;
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    assert_false(dms__children_lower_bound(c, 0, 0, &cur));
    assert_false(dms__children_first(c, &cur));
    for (unsigned i = 0; i < 3000; i++) {
        DmsRegion *r =
            fake(g_rand_int_range(rand, 0, 3) * 10,
                 (uint64_t)g_rand_int_range(rand, 1, 2000) * 16, ++seq, 15);

        assert_int_equal(dms__children_insert(c, r), 0);
        g_ptr_array_add(m.in, r);
    }
    assert_same(c, &m);
    /* Between, at and beyond keys; priorities in and out of the index. */
    for (int p = -1; p <= 21; p += 1) {
        for (uint64_t off = 0; off < 2001 * 16; off += 7)
            assert_lower_bound(c, &m, p, off);
        assert_lower_bound(c, &m, p, UINT64_MAX);
    }
    assert_lower_bound(c, &m, INT_MIN, 0);
    assert_lower_bound(c, &m, INT_MAX, UINT64_MAX);
    free_all(c, &m);
    g_rand_free(rand);
}

/*
 * Insertions right after a lower bound at their own place (what an add
 * does) take the finger's shortcut; at a leaf's first slot, in a full
 * leaf or past its last key they must not, and the order must hold.
 */
static void test_children_insert_at_the_finger_keeps_order(void **state)
{
    DmsChildren *c;
    Model m = {g_ptr_array_new_with_free_func(g_free)};
    DmsChildCursor cur;
    uint64_t seq = 0;
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    /* Every 16th slot first, then the holes from the top down and from
     * the bottom up, each after a lower bound at its place. */
    for (unsigned i = 0; i < 4096; i += 16) {
        DmsRegion *r = fake(0, i, ++seq, 0);

        assert_int_equal(dms__children_insert(c, r), 0);
        g_ptr_array_add(m.in, r);
    }
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned j = 0; j < 4096; j++) {
            unsigned i = pass ? j : 4095 - j;
            DmsRegion *r;

            if (i % 16 == 0 || (i % 2) != pass)
                continue;
            r = fake(0, i, ++seq, 0);
            dms__children_lower_bound(c, 0, i, &cur);
            assert_int_equal(dms__children_insert(c, r), 0);
            g_ptr_array_add(m.in, r);
            if (j % 64 == 0)
                assert_int_equal(dms__children_check(c), 0);
        }
    }
    /* Equal offsets: a later seq goes after the earlier ones. */
    for (unsigned i = 0; i < 200; i++) {
        DmsRegion *r = fake(0, 2048, ++seq, 0);

        dms__children_lower_bound(c, 0, 2048, &cur);
        assert_int_equal(dms__children_insert(c, r), 0);
        g_ptr_array_add(m.in, r);
    }
    assert_same(c, &m);
    for (uint64_t off = 0; off < 4100; off += 3)
        assert_lower_bound(c, &m, 0, off);
    free_all(c, &m);
}

static void test_children_remove_missing_is_refused(void **state)
{
    DmsChildren *c;
    DmsRegion *in = fake(0, 0x1000, 1, 0xfff), *twin = fake(0, 0x1000, 1, 0);
    DmsRegion *out = fake(0, 0x2000, 2, 0xfff);
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    assert_false(dms__children_remove(c, in));
    assert_int_equal(dms__children_insert(c, in), 0);
    /* Not there, or another region under the same key. */
    assert_false(dms__children_remove(c, out));
    assert_false(dms__children_remove(c, twin));
    assert_int_equal(dms__children_check(c), 0);
    assert_int_equal(c->count, 1);
    assert_true(dms__children_remove(c, in));
    assert_false(dms__children_remove(c, in));
    assert_int_equal(dms__children_check(c), 0);
    dms__children_free(c);
    g_free(in);
    g_free(twin);
    g_free(out);
}

static void test_children_groups_count_and_bound_max_last(void **state)
{
    DmsChildren *c;
    DmsRegion *small = fake(5, 0, 1, 0xfff),
              *big = fake(5, 0x10000, 2, 0xfffff);
    DmsRegion *other = fake(-2, 0, 3, 0x1f);
    DmsPriorityGroup *g;
    guint index;
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    assert_null(dms__children_group(c, 5, &index));
    assert_int_equal(index, 0);
    assert_int_equal(dms__children_insert(c, small), 0);
    assert_int_equal(dms__children_insert(c, big), 0);
    assert_int_equal(dms__children_insert(c, other), 0);
    /* Ascending by priority. */
    assert_int_equal(c->prios->len, 2);
    assert_int_equal(g_array_index(c->prios, DmsPriorityGroup, 0).priority,
                     -2);
    g = dms__children_group(c, 5, &index);
    assert_non_null(g);
    assert_int_equal(index, 1);
    assert_int_equal(g->count, 2);
    assert_int_equal(g->max_last, 0xfffff);
    assert_null(dms__children_group(c, 0, &index));
    assert_int_equal(index, 1);
    /* A bound: the largest stays after it leaves, while the group lives. */
    assert_true(dms__children_remove(c, big));
    g = dms__children_group(c, 5, &index);
    assert_int_equal(g->count, 1);
    assert_int_equal(g->max_last, 0xfffff);
    /* An emptied group goes, and a new one starts from its first. */
    assert_true(dms__children_remove(c, small));
    assert_null(dms__children_group(c, 5, &index));
    assert_int_equal(dms__children_insert(c, small), 0);
    assert_int_equal(dms__children_group(c, 5, &index)->max_last, 0xfff);
    g = dms__children_group(c, -2, &index);
    assert_int_equal(g->count, 1);
    assert_int_equal(g->max_last, 0x1f);
    dms__children_free(c);
    g_free(small);
    g_free(big);
    g_free(other);
}

static void test_children_random_changes_match_model(void **state)
{
    DmsChildren *c;
    Model m = {g_ptr_array_new()};
    GRand *rand = g_rand_new_with_seed(3);
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
    /* The model's groups: count and max_last of priorities 0, 1, 2. */
    unsigned count[3] = {0};
    uint64_t max_last[3] = {0};
    uint64_t seq = 0;
    (void)state;

    assert_int_equal(dms__children_new(&c), 0);
    for (unsigned step = 0; step < 60000; step++) {
        /* Grow to a few thousand, shrink to none, and again: every
         * split, borrow, merge and root change on the way. */
        unsigned phase = (step / 15000) % 2;
        bool add = m.in->len == 0 ||
                   g_rand_int_range(rand, 0, 100) < (phase ? 30 : 70);

        if (add) {
            int p = g_rand_int_range(rand, 0, 3);
            DmsRegion *r =
                fake(p, (uint64_t)g_rand_int_range(rand, 0, 1 << 20) << 4,
                     ++seq, (uint64_t)g_rand_int_range(rand, 0, 1 << 16));

            g_ptr_array_add(all, r);
            /* As dms_region_add_subregion() does, mostly: the overlap
             * check's lower bound leaves the finger where @r goes. */
            if (g_rand_int_range(rand, 0, 4) > 0) {
                DmsChildCursor cur;

                dms__children_lower_bound(c, p, r->offset, &cur);
            }
            assert_int_equal(dms__children_insert(c, r), 0);
            g_ptr_array_add(m.in, r);
            max_last[p] = count[p]++ ? MAX(max_last[p], r->last) : r->last;
        } else {
            guint i = (guint)g_rand_int_range(rand, 0, (gint32)m.in->len);
            DmsRegion *r = g_ptr_array_index(m.in, i);

            assert_true(dms__children_remove(c, r));
            g_ptr_array_remove_index_fast(m.in, i);
            count[r->priority]--;
            /* As the render of the removed span does: a lower bound
             * where the removal left the finger. */
            if (step % 5 == 0) {
                DmsChildCursor cur;
                DmsRegion *want = model_lower_bound_scan(
                    &m, r->priority, r->offset > 64 ? r->offset - 64 : 0);

                if (want) {
                    assert_true(dms__children_lower_bound(
                        c, r->priority, r->offset > 64 ? r->offset - 64 : 0,
                        &cur));
                    assert_ptr_equal(cur.region, want);
                } else {
                    assert_false(dms__children_lower_bound(
                        c, r->priority, r->offset > 64 ? r->offset - 64 : 0,
                        &cur));
                }
            }
        }
        if (step % 997 == 0 || m.in->len < 40) {
            assert_same(c, &m);
            for (int p = 0; p < 3; p++) {
                guint index;
                DmsPriorityGroup *g = dms__children_group(c, p, &index);

                if (!count[p]) {
                    assert_null(g);
                    continue;
                }
                assert_non_null(g);
                assert_int_equal(g->count, count[p]);
                assert_int_equal(g->max_last, max_last[p]);
            }
            for (unsigned k = 0; k < 20; k++)
                assert_lower_bound(c, &m, g_rand_int_range(rand, -1, 4),
                                   (uint64_t)g_rand_int_range(rand, 0, 1 << 20)
                                       << 4);
        }
    }
    assert_same(c, &m);
    dms__children_free(c);
    g_ptr_array_free(m.in, TRUE);
    g_ptr_array_free(all, TRUE);
    g_rand_free(rand);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_children_walk_in_key_order),
        cmocka_unit_test(test_children_ascending_and_descending_fill),
        cmocka_unit_test(test_children_lower_bound_finds_first_at_or_after),
        cmocka_unit_test(test_children_insert_at_the_finger_keeps_order),
        cmocka_unit_test(test_children_remove_missing_is_refused),
        cmocka_unit_test(test_children_groups_count_and_bound_max_last),
        cmocka_unit_test(test_children_random_changes_match_model),
    };

    return cmocka_run_group_tests_name("children", tests, NULL, NULL);
}
