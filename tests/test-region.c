/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Regions and the flattened view: containers, priorities, overlap rules,
 * aliases, resizing, reference counting, batching, and lookups checked
 * against a brute-force model.
 */
#include "tc.h"

#include "dms-private.h"

/* Releases of ram() regions so far. */
static int notified;

static void release_ram(void *mem)
{
    notified++;
    g_free(mem);
}

/*
 * Each test RAM byte says which buffer it is in: 'A', 'B', ... The region
 * owns *@mem: its release counts in @notified and frees it.
 */
static DmsRegion *ram(char tag, size_t size, uint8_t **mem)
{
    DmsRegion *r;

    *mem = g_malloc(size);
    memset(*mem, tag, size);
    assert_int_equal(
        dms_region_new_ram(NULL, *mem, size, 0, *mem, release_ram, &r), 0);
    return r;
}

static char tag_at(DmsSpace *s, uint64_t addr)
{
    uint8_t b = 0;
    int r = dms_space_read(s, addr, &b, 1, NULL, NULL);

    return r == -EFAULT ? '.' : r == 0 ? (char)b : '!';
}

/*
 * A test's regions: a root container of @root_size, RAM tagged 'A' of
 * @a_size bytes and 'B' of @b_size (0: none), not placed yet; the test
 * places them, then scene_space() makes the space.
 */
typedef struct Scene {
    DmsRegion *root, *ra, *rb;
    uint8_t *a, *b;
    DmsSpace *s;
} Scene;

static Scene scene_new(uint64_t root_size, size_t a_size, size_t b_size)
{
    Scene sc = {.ra = ram('A', a_size, &sc.a)};

    if (b_size)
        sc.rb = ram('B', b_size, &sc.b);
    assert_int_equal(dms_region_new_container("root", root_size, &sc.root), 0);
    return sc;
}

static DmsSpace *scene_space(Scene *sc, const char *name)
{
    assert_int_equal(dms_space_new(sc->root, name, &sc->s), 0);
    return sc->s;
}

/* A scene with only 'A' (@a_size bytes), at 0, and its space. */
static Scene scene_a_at_0(size_t a_size)
{
    Scene sc = scene_new(DMS_SIZE_ALL, a_size, 0);

    assert_int_equal(dms_region_add_subregion(sc.root, 0, sc.ra, 0, 0), 0);
    scene_space(&sc, NULL);
    return sc;
}

static void scene_free(Scene *sc)
{
    dms_space_unref(sc->s);
    dms_region_unref(sc->ra);
    dms_region_unref(sc->rb);
    dms_region_unref(sc->root);
}

static void test_higher_priority_wins_and_gaps_decode_to_nothing(void **state)
{
    Scene sc = scene_new(0x1000, 0x100, 0x100);
    DmsSpace *s;
    (void)state;

    assert_int_equal(dms_region_add_subregion(sc.root, 0x100, sc.ra, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(sc.root, 0x180, sc.rb, 1, 0), 0);
    s = scene_space(&sc, NULL);
    assert_int_equal(tag_at(s, 0x0ff), '.');
    assert_int_equal(tag_at(s, 0x100), 'A');
    assert_int_equal(tag_at(s, 0x17f), 'A');
    assert_int_equal(tag_at(s, 0x180), 'B');
    assert_int_equal(tag_at(s, 0x27f), 'B');
    assert_int_equal(tag_at(s, 0x280), '.');
    /* past the container's end: nothing, even though the root is small */
    assert_int_equal(tag_at(s, 0x1000), '.');
    scene_free(&sc);
}

static void test_lower_priority_shows_through_on_both_sides(void **state)
{
    Scene sc = scene_new(DMS_SIZE_ALL, 0x300, 0x100);
    uint8_t buf[0x300];
    DmsSpace *s;
    (void)state;

    assert_int_equal(dms_region_add_subregion(sc.root, 0, sc.ra, -1, 0), 0);
    assert_int_equal(dms_region_add_subregion(sc.root, 0x100, sc.rb, 5, 0), 0);
    s = scene_space(&sc, NULL);
    sc.a[0x250] = 'a'; /* the visible part keeps its offset in A */
    assert_int_equal(dms_space_read(s, 0, buf, sizeof(buf), NULL, NULL), 0);
    assert_int_equal(buf[0xff], 'A');
    assert_int_equal(buf[0x100], 'B');
    assert_int_equal(buf[0x1ff], 'B');
    assert_int_equal(buf[0x200], 'A');
    assert_int_equal(buf[0x250], 'a');
    scene_free(&sc);
}

static void test_equal_priority_overlap_refused_unless_asked(void **state)
{
    Scene sc = scene_new(DMS_SIZE_ALL, 0x100, 0x100);
    DmsRegion *root = sc.root, *rb = sc.rb;
    DmsSpace *s;
    (void)state;

    assert_int_equal(dms_region_add_subregion(root, 0, sc.ra, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(root, 0xff, rb, 0, 0), -EEXIST);
    assert_null(rb->parent);
    /* touching is not overlapping */
    assert_int_equal(dms_region_add_subregion(root, 0x100, rb, 0, 0), 0);
    assert_int_equal(dms_region_remove_subregion(root, rb), 0);
    assert_int_equal(
        dms_region_add_subregion(root, 0x80, rb, 0, DMS_SUBREGION_OVERLAP), 0);
    s = scene_space(&sc, NULL);
    /* the later one wins among equals */
    assert_int_equal(tag_at(s, 0x7f), 'A');
    assert_int_equal(tag_at(s, 0x80), 'B');
    scene_free(&sc);
}

static void test_subregion_rules_busy_loop_and_bounds(void **state)
{
    uint8_t *a;
    DmsRegion *c1, *c2, *alias, *ra = ram('A', 0x100, &a);
    (void)state;

    assert_int_equal(dms_region_new_container("c1", DMS_SIZE_ALL, &c1), 0);
    assert_int_equal(dms_region_new_container("c2", 0x1000, &c2), 0);
    assert_int_equal(dms_region_add_subregion(c1, 0, ra, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(c2, 0, ra, 0, 0), -EBUSY);
    assert_int_equal(dms_region_add_subregion(c1, 0, c1, 0, 0), -ELOOP);
    assert_int_equal(dms_region_add_subregion(c1, 0x1000, c2, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(c2, 0x100, c1, 0, 0), -EINVAL);
    assert_int_equal(dms_region_add_subregion(c2, 0, c1, 0, 0), -ELOOP);
    /* an alias of c1 placed inside c1's own subtree would recurse forever */
    assert_int_equal(dms_region_new_alias("loop", c1, 0, 0x100, &alias), 0);
    assert_int_equal(dms_region_add_subregion(c2, 0x100, alias, 0, 0), -ELOOP);
    dms_region_unref(alias);
    /* offset + size past 2^64 */
    assert_int_equal(dms_region_remove_subregion(c1, ra), 0);
    assert_int_equal(dms_region_add_subregion(c1, UINT64_MAX - 0xfe, ra, 1, 0),
                     -EINVAL);
    assert_int_equal(dms_region_add_subregion(c1, UINT64_MAX - 0xff, ra, 1, 0),
                     0);
    assert_int_equal(dms_region_remove_subregion(c2, ra), -ENOENT);
    dms_region_unref(c2);
    dms_region_unref(c1);
    notified = 0;
    dms_region_unref(ra);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1);
}

static void test_alias_shows_a_window_elsewhere(void **state)
{
    uint8_t *a, buf[0x10];
    DmsRegion *root, *alias, *bad, *ra = ram('A', 0x100, &a);
    DmsSpace *s;
    (void)state;

    for (int i = 0; i < 0x100; i++)
        a[i] = (uint8_t)i;
    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    assert_int_equal(dms_region_add_subregion(root, 0, ra, 0, 0), 0);
    assert_int_equal(dms_region_new_alias("win", ra, 0xf8, 0x10, &alias), 0);
    assert_int_equal(dms_region_add_subregion(root, 0x10000, alias, 0, 0), 0);
    assert_int_equal(dms_space_new(root, NULL, &s), 0);
    /* 8 bytes of A, then past A's end: nothing */
    assert_int_equal(dms_space_read(s, 0x10000, buf, 8, NULL, NULL), 0);
    assert_int_equal(buf[0], 0xf8);
    assert_int_equal(buf[7], 0xff);
    assert_int_equal(tag_at(s, 0x10008), '.');
    /* writes through the alias reach the target */
    assert_int_equal(dms_space_write(s, 0x10001, "\x01", 1, NULL, NULL), 0);
    assert_int_equal(a[0xf9], 1);
    /* a whole-target alias with DMS_SIZE_ALL */
    dms_region_unref(alias);
    assert_int_equal(
        dms_region_new_alias("all", ra, 0x10, DMS_SIZE_ALL, &alias), 0);
    assert_int_equal(dms_region_get_size(alias), 0xf0);
    assert_int_equal(
        dms_region_new_alias("bad", ra, 0x100, DMS_SIZE_ALL, &bad), -EINVAL);
    assert_null(bad);
    dms_space_unref(s);
    dms_region_unref(alias);
    /* the alias's reference keeps ra alive until it goes */
    notified = 0;
    dms_region_unref(ra);
    assert_int_equal(notified, 0);
    dms_region_unref(root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1);
}

static void test_removed_region_is_released_by_the_space(void **state)
{
    Scene sc = scene_a_at_0(0x100);
    DmsRegion *ra = sc.ra;
    DmsSpace *s = sc.s;
    (void)state;

    notified = 0;
    dms_region_unref(ra); /* the container and the view keep it */
    sc.ra = NULL;
    assert_int_equal(notified, 0);
    assert_int_equal(tag_at(s, 0), 'A');
    /* the seed's reference-leak fix: after removal nothing holds it */
    assert_int_equal(dms_region_remove_subregion(sc.root, ra), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1);
    assert_int_equal(tag_at(s, 0), '.');
    scene_free(&sc);
}

static void test_resize_publishes_new_view(void **state)
{
    Scene sc = scene_a_at_0(0x100);
    DmsRegion *ra = sc.ra;
    DmsSpace *s = sc.s;
    (void)state;

    assert_int_equal(dms_region_set_size(ra, 0x80), 0);
    assert_int_equal(tag_at(s, 0x7f), 'A');
    assert_int_equal(tag_at(s, 0x80), '.');
    assert_int_equal(dms_region_set_size(ra, 0x101), -EINVAL); /* capacity */
    assert_int_equal(dms_region_set_size(ra, 0), -EINVAL);
    assert_int_equal(dms_region_set_size(ra, 0x100), 0);
    assert_int_equal(tag_at(s, 0xff), 'A');
    assert_int_equal(dms_region_set_size(sc.root, 0x10), 0);
    assert_int_equal(tag_at(s, 0x10), '.');
    scene_free(&sc);
}

static void test_new_ram_rejects_bad_arguments(void **state)
{
    uint8_t mem[4];
    DmsRegion *r = (DmsRegion *)mem;
    (void)state;

    assert_int_equal(dms_region_new_ram("x", NULL, 4, 0, NULL, NULL, &r),
                     -EINVAL);
    assert_null(r);
    assert_int_equal(dms_region_new_ram("x", mem, 0, 0, NULL, NULL, &r),
                     -EINVAL);
    assert_int_equal(dms_region_new_ram("x", mem, 4, 0x80, NULL, NULL, &r),
                     -EINVAL);
    assert_int_equal(dms_region_new_ram("x", mem, 4, 0, NULL, NULL, NULL),
                     -EINVAL);
    assert_int_equal(dms_region_new_ram(NULL, mem, 4, 0, NULL, NULL, &r), 0);
    assert_string_equal(dms_region_get_name(r), "");
    dms_region_unref(r);
    assert_null(dms_region_unref(NULL));
    assert_null(dms_region_ref(NULL));
}

/*
 * Many regions in one batch, with random priorities and overlaps: every
 * address answers as a brute-force walk of the placements says.
 */
typedef struct Placement {
    uint64_t start, size;
    int priority;
    unsigned seq;
} Placement;

static void test_random_layouts_match_brute_force_model(void **state)
{
    enum { N = 300, SPAN = 1 << 16 };
    GRand *rng = g_rand_new_with_seed(1234);
    (void)state;

    for (int round = 0; round < 5; round++) {
        Placement p[N];
        DmsRegion *root, *leaf[N];
        uint8_t *mem[N];
        DmsSpace *s;
        unsigned seq = 0;

        assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root),
                         0);
        assert_int_equal(dms_space_new(root, NULL, &s), 0);
        dms_update_begin();
        for (int i = 0; i < N; i++) {
            p[i].size = (uint64_t)g_rand_int_range(rng, 1, 2048);
            p[i].start = (uint64_t)g_rand_int_range(rng, 0, SPAN);
            p[i].priority = g_rand_int_range(rng, 0, 4);
            mem[i] = g_malloc(p[i].size);
            for (uint64_t j = 0; j < p[i].size; j++)
                mem[i][j] = (uint8_t)(i + j);
            assert_int_equal(dms_region_new_ram(NULL, mem[i], p[i].size, 0,
                                                NULL, NULL, &leaf[i]),
                             0);
            assert_int_equal(dms_region_add_subregion(root, p[i].start,
                                                      leaf[i], p[i].priority,
                                                      DMS_SUBREGION_OVERLAP),
                             0);
            p[i].seq = seq++;
        }
        dms_update_commit();

        for (uint64_t a = 0; a < SPAN + 2048; a += 3) {
            int best = -1;
            uint8_t b;
            int r;

            for (int i = 0; i < N; i++) {
                if (a < p[i].start || a >= p[i].start + p[i].size)
                    continue;
                if (best < 0 || p[i].priority > p[best].priority ||
                    (p[i].priority == p[best].priority &&
                     p[i].seq > p[best].seq))
                    best = i;
            }
            r = dms_space_read(s, a, &b, 1, NULL, NULL);
            if (best < 0) {
                assert_int_equal(r, -EFAULT);
            } else {
                assert_int_equal(r, 0);
                assert_int_equal(b, (uint8_t)(best + a - p[best].start));
            }
        }
        dms_space_unref(s);
        dms_region_unref(root);
        for (int i = 0; i < N; i++) {
            dms_region_unref(leaf[i]);
            g_free(mem[i]);
        }
    }
    g_rand_free(rng);
}

/* 65,536 regions: one render per batch, and every one is found. */
static void test_many_regions_lookup_every_one(void **state)
{
    enum { N = 65536 };
    static uint8_t mem[N];
    DmsRegion *root;
    DmsSpace *s;
    (void)state;

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    assert_int_equal(dms_space_new(root, NULL, &s), 0);
    dms_update_begin();
    for (uint64_t i = 0; i < N; i++) {
        DmsRegion *r;
        mem[i] = (uint8_t)(i * 13);
        /* one byte every 4 KiB, spread over 256 MiB */
        assert_int_equal(
            dms_region_new_ram(NULL, &mem[i], 1, 0, NULL, NULL, &r), 0);
        assert_int_equal(dms_region_add_subregion(root, i << 12, r, 0, 0), 0);
        dms_region_unref(r);
    }
    dms_update_commit();
    for (uint64_t i = 0; i < N; i++) {
        uint8_t b;
        assert_int_equal(dms_space_read(s, i << 12, &b, 1, NULL, NULL), 0);
        assert_int_equal(b, (uint8_t)(i * 13));
        assert_int_equal(
            dms_space_check(s, (i << 12) + 1, 1, DMS_DIR_TO_DEVICE, NULL),
            -EFAULT);
    }
    dms_space_unref(s);
    dms_region_unref(root);
}

static void test_nested_containers_offsets_add_up(void **state)
{
    Scene sc = scene_new(DMS_SIZE_ALL, 0x10, 0);
    DmsRegion *mid;
    DmsSpace *s;
    (void)state;

    assert_int_equal(dms_region_new_container("mid", 0x1000, &mid), 0);
    assert_int_equal(dms_region_add_subregion(mid, 0x200, sc.ra, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(sc.root, 0x10000, mid, 0, 0), 0);
    s = scene_space(&sc, "nested");
    assert_string_equal(dms_space_get_name(s), "nested");
    assert_int_equal(tag_at(s, 0x101ff), '.');
    assert_int_equal(tag_at(s, 0x10200), 'A');
    assert_int_equal(tag_at(s, 0x1020f), 'A');
    assert_int_equal(tag_at(s, 0x10210), '.');
    /* removing the middle container hides its whole subtree */
    assert_int_equal(dms_region_remove_subregion(sc.root, mid), 0);
    assert_int_equal(tag_at(s, 0x10200), '.');
    dms_region_unref(mid);
    scene_free(&sc);
}

static void test_batch_publishes_at_the_outermost_commit(void **state)
{
    Scene sc = scene_new(DMS_SIZE_ALL, 0x10, 0);
    DmsSpace *s = scene_space(&sc, NULL);
    (void)state;

    dms_update_begin();
    assert_int_equal(dms_region_add_subregion(sc.root, 0, sc.ra, 0, 0), 0);
    dms_update_begin();
    dms_update_commit();
    /* still the view from before the batch */
    assert_int_equal(tag_at(s, 0), '.');
    dms_update_commit();
    assert_int_equal(tag_at(s, 0), 'A');
    scene_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_higher_priority_wins_and_gaps_decode_to_nothing),
        cmocka_unit_test(test_lower_priority_shows_through_on_both_sides),
        cmocka_unit_test(test_equal_priority_overlap_refused_unless_asked),
        cmocka_unit_test(test_subregion_rules_busy_loop_and_bounds),
        cmocka_unit_test(test_alias_shows_a_window_elsewhere),
        cmocka_unit_test(test_removed_region_is_released_by_the_space),
        cmocka_unit_test(test_resize_publishes_new_view),
        cmocka_unit_test(test_new_ram_rejects_bad_arguments),
        cmocka_unit_test(test_random_layouts_match_brute_force_model),
        cmocka_unit_test(test_many_regions_lookup_every_one),
        cmocka_unit_test(test_nested_containers_offsets_add_up),
        cmocka_unit_test(test_batch_publishes_at_the_outermost_commit),
    };

    return cmocka_run_group_tests_name("region", tests, NULL, NULL);
}
