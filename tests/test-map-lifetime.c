/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lifetimes during DMA: a region removed or a space dropped while a
 * mapping is live keeps what the mapping needs until its unmap, and no
 * longer; a space referenced again through a mapping comes back.
 */
#include "map-fixture.h"

static void test_region_removed_during_bounce_dma_gets_its_data(void **state)
{
    Fix *f = *state;
    MemDev *b = tc_memdev(0x1000, SEED);
    DmsRegion *msg = msg_region(b);
    uint8_t *p;

    assert_int_equal(dms_region_add_subregion(f->root, HOLE_ADDR, msg, 0, 0),
                     0);
    p = tc_map(f->space, HOLE_ADDR + 0x10, 0x100, FROM, 0x100);
    assert_int_equal(dms_region_remove_subregion(f->root, msg), 0);
    dms_region_unref(msg);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 0);
    /* The address now decodes to nothing ... */
    tc_map_fails(f->space, HOLE_ADDR + 0x10, 1, TO, -EFAULT);
    /* ... but the DMA in flight still ends in the removed region. */
    memset(p, 0x42, 0x100);
    assert_int_equal(dms_space_unmap(f->space, p, 0x100, FROM, 0x80), 0);
    assert_int_equal(b->writes, 1);
    assert_int_equal(b->last.offset, 0x10);
    assert_int_equal(b->last.len, 0x80);
    assert_int_equal(b->mem[0x10], 0x42);
    assert_int_equal(b->mem[0x8f], 0x42);
    assert_int_equal(b->mem[0x90], memdev_pattern(0x90, SEED));
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1); /* exactly once, after the unmap */
    tc_memdev_free(b);
}

static void
test_region_removed_during_direct_dma_lives_until_unmap(void **state)
{
    Fix *f = *state;
    uint8_t mem[256];
    atomic_uint notified = 0;
    DmsRegion *ram;
    uint8_t *p;

    ram = ram_at_hole(f, "dma", mem, sizeof(mem), &notified);
    p = tc_map(f->space, HOLE_ADDR, 256, FROM, 256);
    assert_int_equal(dms_region_remove_subregion(f->root, ram), 0);
    dms_region_unref(ram);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 0);
    memset(p, 1, 256);
    assert_int_equal(dms_space_unmap(f->space, p, 256, FROM, 256), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1);
}

static void test_removing_a_region_releases_the_space_reference(void **state)
{
    Fix *f = *state;
    uint8_t mem[64];
    atomic_uint notified = 0;
    DmsRegion *ram;

    ram = ram_at_hole(f, "gone", mem, sizeof(mem), &notified);
    /* Used once through the space, so its view references it. */
    assert_int_equal(dms_space_read(f->space, HOLE_ADDR, mem, 8, NULL, NULL),
                     0);
    dms_region_unref(ram);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 0);
    assert_int_equal(dms_region_remove_subregion(f->root, ram), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1);
}

/*
 * A space whose last user reference went while a bounce mapping is live
 * still follows topology changes: a region removed meanwhile must not be
 * kept by the dying space's old view until that unmap.
 */
static void test_dying_space_does_not_keep_a_removed_region(void **state)
{
    MemDev *b = tc_memdev(0x1000, SEED);
    uint8_t mem[64];
    atomic_uint notified = 0;
    DmsRegion *root, *msg, *ram;
    DmsSpace *s;
    uint8_t *bp;
    (void)state;

    s = tc_space(
        "dying",
        (const LayoutPiece[]){
            {.kind = LAYOUT_MESSAGE, .addr = 0, .dev = b, .keep = &msg},
            {TC_COUNTED_RAM(0x1000, mem, sizeof(mem), &notified),
             .keep = &ram},
            {.kind = LAYOUT_END},
        },
        0, &root);
    bp = tc_map(s, 0x10, 0x20, TO, 0x20);
    dms_space_unref(s); /* the mapping keeps the space */
    dms_region_unref(ram);
    assert_int_equal(dms_region_remove_subregion(root, ram), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1); /* not held until the unmap */
    assert_int_equal(dms_space_unmap(s, bp, 0x20, TO, 0), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 0); /* root still holds it */
    dms_region_unref(msg);
    dms_region_unref(root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1);
    tc_memdev_free(b);
}

/*
 * A caller left with only a bounce mapping may take a new reference: the
 * space, retired when the last reference went, comes back and works.
 */
static void test_space_referenced_again_through_a_mapping_revives(void **state)
{
    MemDev *b = tc_memdev(0x1000, SEED);
    DmsSpace *s;
    uint8_t *bp, *q;
    (void)state;

    s = tc_space_msg("revives", b, 0, 0, NULL, NULL);
    bp = tc_map(s, 0x10, 0x20, FROM, 0x20);
    dms_space_unref(s); /* the caller's last reference */
    assert_ptr_equal(dms_space_ref(s), s);
    memset(bp, 0x5a, 0x20);
    assert_int_equal(dms_space_unmap(s, bp, 0x20, FROM, 0x20), 0);
    assert_int_equal(b->mem[0x10], 0x5a);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 0); /* our new reference keeps it */
    assert_int_equal(tc_stats(s).bounce_in_use, 0);
    q = tc_map(s, 0x40, 0x40, TO, 0x40);
    assert_int_equal(q[0], memdev_pattern(0x40, SEED));
    assert_int_equal(dms_space_unmap(s, q, 0x40, TO, 0), 0);
    dms_space_unref(s);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1); /* space, root and region gone */
    tc_memdev_free(b);
}

static void
test_space_dropped_with_live_mappings_lives_until_unmap(void **state)
{
    MemDev *b = tc_memdev(0x1000, SEED);
    uint8_t mem[0x1000];
    atomic_uint ram_notified = 0;
    DmsSpace *s;
    uint8_t *bp, *dp;
    (void)state;

    s = tc_space("dropped",
                 (const LayoutPiece[]){
                     {.kind = LAYOUT_MESSAGE, .addr = 0, .dev = b},
                     {TC_COUNTED_RAM(0x1000, mem, sizeof(mem), &ram_notified)},
                     {.kind = LAYOUT_END},
                 },
                 0, NULL);
    bp = tc_map(s, 0x10, 0x20, FROM, 0x20);
    dp = tc_map(s, 0x1010, 0x20, FROM, 0x20);
    dms_space_unref(s); /* the caller's last reference */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified + ram_notified, 0);

    memset(bp, 0x99, 0x20);
    assert_int_equal(dms_space_unmap(s, bp, 0x20, FROM, 0x20), 0);
    assert_int_equal(b->mem[0x10], 0x99);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified + ram_notified, 0);
    /* The last mapping's unmap frees the space, and with it all. */
    assert_int_equal(dms_space_unmap(s, dp, 0x20, FROM, 0x20), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1);
    assert_int_equal(ram_notified, 1);
    tc_memdev_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, map_setup, map_teardown)
        T(test_region_removed_during_bounce_dma_gets_its_data),
        T(test_region_removed_during_direct_dma_lives_until_unmap),
        T(test_removing_a_region_releases_the_space_reference),
        cmocka_unit_test(
            test_space_dropped_with_live_mappings_lives_until_unmap),
        cmocka_unit_test(test_dying_space_does_not_keep_a_removed_region),
        cmocka_unit_test(
            test_space_referenced_again_through_a_mapping_revives),
#undef T
    };

    return cmocka_run_group_tests_name("map-lifetime", tests, NULL, NULL);
}
