/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tests' common helpers; see tc.h.
 */
#include "tc.h"

MemDev *tc_memdev(uint64_t size, unsigned seed)
{
    MemDev *dev = NULL;

    assert_int_equal(memdev_new(size, 0, &dev), 0);
    memdev_fill_pattern(dev, seed);
    return dev;
}

void tc_memdev_free(MemDev *dev)
{
    /*
     * A view replaced by the test's last change drops its region
     * references on the library's reclaimer thread, after a grace
     * period: the regions' destroy notify (count_notify) may still be
     * due, and it writes to @dev.
     */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(dev->bad, 0);
    assert_true(memdev_guards_intact(dev));
    memdev_free(dev);
}

DmsSpace *tc_space(const char *name, const LayoutPiece *pieces,
                   size_t bounce_limit, DmsRegion **root)
{
    DmsSpace *space = NULL;

    assert_int_equal(
        layout_space_new(name, pieces, bounce_limit, &space, root), 0);
    return space;
}

DmsSpace *tc_space_msg(const char *name, MemDev *dev, uint64_t addr,
                       size_t bounce_limit, DmsRegion **region,
                       DmsRegion **root)
{
    const LayoutPiece pieces[] = {
        {.kind = LAYOUT_MESSAGE, .addr = addr, .dev = dev, .keep = region},
        {.kind = LAYOUT_END},
    };

    return tc_space(name, pieces, bounce_limit, root);
}

DmsSpace *tc_space_ram(const char *name, void *host, uint64_t size,
                       uint64_t addr, DmsRegion **region, DmsRegion **root)
{
    const LayoutPiece pieces[] = {
        {.kind = LAYOUT_RAM,
         .addr = addr,
         .host = host,
         .size = size,
         .keep = region},
        {.kind = LAYOUT_END},
    };

    return tc_space(name, pieces, 0, root);
}

DmsSpace *tc_space_ram_msg(const char *name, void *ram, uint64_t ram_size,
                           uint64_t ram_addr, MemDev *dev, uint64_t msg_addr,
                           size_t bounce_limit)
{
    const LayoutPiece pieces[] = {
        {.kind = LAYOUT_RAM, .addr = ram_addr, .host = ram, .size = ram_size},
        {.kind = LAYOUT_MESSAGE, .addr = msg_addr, .dev = dev},
        {.kind = LAYOUT_END},
    };

    return tc_space(name, pieces, bounce_limit, NULL);
}

DmsSpace *tc_space_over(const char *name, DmsRegion *region, uint64_t addr,
                        DmsRegion **root)
{
    const LayoutPiece pieces[] = {
        {.kind = LAYOUT_REGION, .addr = addr, .region = region},
        {.kind = LAYOUT_END},
    };

    return tc_space(name, pieces, 0, root);
}

DmsAttrs tc_attrs(void)
{
    return (DmsAttrs){
        .flags = DMS_ATTR_SECURE | DMS_ATTR_REQUESTER_VALID,
        .requester_id = 0x1234,
        .pasid = 7,
        .user = UINT64_C(0xdeadbeefcafe),
    };
}

DmsSpaceStats tc_stats(DmsSpace *space)
{
    DmsSpaceStats st = {.size = sizeof(st)};

    assert_int_equal(dms_space_get_stats(space, &st), 0);
    return st;
}

void *tc_map(DmsSpace *space, uint64_t addr, size_t want, DmsDirection dir,
             size_t expect_len)
{
    size_t len = want;
    void *p = NULL;

    assert_int_equal(dms_space_map(space, addr, &len, dir, NULL, &p), 0);
    assert_int_equal(len, expect_len);
    assert_non_null(p);
    return p;
}

void tc_map_fails(DmsSpace *space, uint64_t addr, size_t want,
                  DmsDirection dir, int err)
{
    size_t len = want;
    void *p = (void *)&len;

    assert_int_equal(dms_space_map(space, addr, &len, dir, NULL, &p), err);
    assert_int_equal(len, 0);
    assert_null(p);
}

static atomic_uint criticals;

static void count_critical(const gchar *domain, GLogLevelFlags level,
                           const gchar *message, gpointer data)
{
    atomic_fetch_add(&criticals, 1);
}

void tc_count_criticals(void)
{
    atomic_store(&criticals, 0);
    g_log_set_handler("dmaspace", G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL,
                      count_critical, NULL);
}

unsigned tc_criticals(void)
{
    return atomic_load(&criticals);
}

void tc_count_notify(void *counter)
{
    atomic_fetch_add((atomic_uint *)counter, 1);
}
