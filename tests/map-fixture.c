/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The space of the map tests; see map-fixture.h.
 */
#include "map-fixture.h"

int map_setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    f->ram = g_malloc(RAM_SIZE);
    for (size_t i = 0; i < RAM_SIZE; i++)
        f->ram[i] = (uint8_t)i;
    f->rom = g_malloc(ROM_SIZE);
    memset(f->rom, 0xa5, ROM_SIZE);
    f->msg_b = tc_memdev(MSG_SIZE, SEED);
    f->space = tc_space(
        "test",
        (const LayoutPiece[]){
            {TC_COUNTED_RAM(RAM_ADDR, f->ram, RAM_SIZE, &f->ram_notified),
             .keep = &f->ram_r},
            {.kind = LAYOUT_MESSAGE,
             .addr = MSG_ADDR,
             .dev = f->msg_b,
             .keep = &f->msg_r},
            {.kind = LAYOUT_RAM,
             .addr = ROM_ADDR,
             .name = "rom",
             .host = f->rom,
             .size = ROM_SIZE,
             .flags = DMS_RAM_READONLY,
             .keep = &f->rom_r},
            {.kind = LAYOUT_END},
        },
        0, &f->root);
    tc_count_criticals();
    *state = f;
    return 0;
}

int map_teardown(void **state)
{
    Fix *f = *state;

    /* Every test returns all it borrowed. */
    assert_int_equal(tc_stats(f->space).bounce_in_use, 0);
    dms_space_unref(f->space);
    dms_region_unref(f->ram_r);
    dms_region_unref(f->rom_r);
    dms_region_unref(f->msg_r);
    dms_region_unref(f->root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(f->ram_notified, 1);
    assert_int_equal(f->msg_b->notified, 1);
    tc_memdev_free(f->msg_b);
    g_free(f->ram);
    g_free(f->rom);
    g_free(f);
    return 0;
}

DmsRegion *msg_region(MemDev *dev)
{
    DmsRegion *r;

    assert_int_equal(memdev_region_new(dev, "msg", 0, NULL, &r), 0);
    return r;
}

DmsRegion *ram_at_hole(Fix *f, const char *name, void *mem, size_t size,
                       atomic_uint *notified)
{
    DmsRegion *ram;

    assert_int_equal(dms_region_new_ram(name, mem, size, 0, notified,
                                        tc_count_notify, &ram),
                     0);
    assert_int_equal(dms_region_add_subregion(f->root, HOLE_ADDR, ram, 0, 0),
                     0);
    return ram;
}

void refused(Fix *f, void *ptr, size_t len, DmsDirection dir,
             size_t access_len)
{
    unsigned before = tc_criticals();
    uint64_t bad = tc_stats(f->space).bad_unmaps;
    unsigned writes = f->msg_b->writes;

    assert_int_equal(dms_space_unmap(f->space, ptr, len, dir, access_len),
                     -EINVAL);
    assert_int_equal(tc_criticals(), before + 1);
    assert_int_equal(tc_stats(f->space).bad_unmaps, bad + 1);
    assert_int_equal(f->msg_b->writes, writes);
}
