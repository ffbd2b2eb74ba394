/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms_space_map() / dms_space_unmap(): direct and bounce mappings, where
 * a mapping stops, the fill and the write-back, the exact checks of unmap,
 * direct mappings that share a pointer, and the counters. The budget is in
 * test-map-budget.c, lifetimes during DMA in test-map-lifetime.c.
 */
#include "map-fixture.h"

/* ---- direct and bounce, and where a mapping stops ---- */

static void test_map_len_zero_maps_nothing(void **state)
{
    Fix *f = *state;
    size_t len = 0;
    void *p = (void *)&len;

    assert_int_equal(dms_space_map(f->space, RAM_ADDR, &len, TO, NULL, &p), 0);
    assert_null(p);
    assert_int_equal(len, 0);
    p = (void *)&len;
    assert_int_equal(dms_space_map(f->space, HOLE_ADDR, &len, FROM, NULL, &p),
                     0);
    assert_null(p);
    assert_int_equal(tc_stats(f->space).direct_maps, 0);
    assert_int_equal(tc_stats(f->space).bounced_maps, 0);
}

static void test_map_ram_is_direct(void **state)
{
    Fix *f = *state;
    uint8_t *p = tc_map(f->space, RAM_ADDR + 0x100, 0x200, FROM, 0x200);

    assert_ptr_equal(p, f->ram + 0x100);
    memset(p, 0x11, 0x200);
    assert_int_equal(dms_space_unmap(f->space, p, 0x200, FROM, 0x200), 0);
    assert_int_equal(f->ram[0x100], 0x11);
    assert_int_equal(tc_stats(f->space).direct_maps, 1);
    assert_int_equal(tc_stats(f->space).bounce_in_use, 0);
    assert_int_equal(tc_stats(f->space).bounce_high_water, 0);
}

static void test_map_across_ram_and_message_takes_two_maps(void **state)
{
    Fix *f = *state;
    uint64_t addr = RAM_ADDR + RAM_SIZE - 0x100;
    uint8_t *p, *q;

    /* RAM first: the direct mapping stops where the RAM ends. */
    p = tc_map(f->space, addr, 0x300, TO, 0x100);
    assert_ptr_equal(p, f->ram + RAM_SIZE - 0x100);
    /* The rest is the message region: a bounce buffer. */
    q = tc_map(f->space, addr + 0x100, 0x200, TO, 0x200);
    assert_memory_equal(q, f->msg_b->mem, 0x200);
    assert_int_equal(dms_space_unmap(f->space, p, 0x100, TO, 0x100), 0);
    assert_int_equal(dms_space_unmap(f->space, q, 0x200, TO, 0x200), 0);
    assert_int_equal(tc_stats(f->space).direct_maps, 1);
    assert_int_equal(tc_stats(f->space).bounced_maps, 1);
}

static void test_bounce_stops_where_its_region_ends(void **state)
{
    MemDev *b = tc_memdev(0x1000, SEED);
    uint8_t ram[0x1000];
    DmsSpace *s;
    uint8_t *p, *q;
    (void)state;

    memset(ram, 0x77, sizeof(ram));
    s = tc_space("ends",
                 (const LayoutPiece[]){
                     {.kind = LAYOUT_MESSAGE, .addr = 0, .dev = b},
                     {.kind = LAYOUT_RAM,
                      .addr = 0x1000,
                      .host = ram,
                      .size = sizeof(ram)},
                     {.kind = LAYOUT_END},
                 },
                 0, NULL);

    /* Message then RAM: the bounce buffer covers the message part only. */
    p = tc_map(s, 0x800, 0x1000, TO, 0x800);
    assert_memory_equal(p, b->mem + 0x800, 0x800);
    assert_int_equal(b->reads, 1);
    q = tc_map(s, 0x1000, 0x800, TO, 0x800);
    assert_ptr_equal(q, ram);
    assert_int_equal(tc_stats(s).bounce_in_use, 0x800);
    assert_int_equal(dms_space_unmap(s, p, 0x800, TO, 0x800), 0);
    assert_int_equal(dms_space_unmap(s, q, 0x800, TO, 0x800), 0);
    /* RAM then a hole: short as well. */
    q = tc_map(s, 0x1f00, 0x1000, FROM, 0x100);
    assert_int_equal(dms_space_unmap(s, q, 0x100, FROM, 0), 0);

    dms_space_unref(s);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1);
    tc_memdev_free(b);
}

static void test_map_joins_pieces_that_continue_one_region(void **state)
{
    uint8_t ram[0x2000];
    DmsRegion *ram_r, *lo, *hi;
    DmsSpace *s;
    void *p;
    (void)state;

    /* Two aliases that show consecutive halves of one RAM region. */
    assert_int_equal(
        dms_region_new_ram("ram", ram, sizeof(ram), 0, NULL, NULL, &ram_r), 0);
    assert_int_equal(dms_region_new_alias("lo", ram_r, 0, 0x1000, &lo), 0);
    assert_int_equal(dms_region_new_alias("hi", ram_r, 0x1000, 0x1000, &hi),
                     0);
    s = tc_space("joins",
                 (const LayoutPiece[]){
                     {.kind = LAYOUT_REGION, .addr = 0x4000, .region = lo},
                     {.kind = LAYOUT_REGION, .addr = 0x5000, .region = hi},
                     {.kind = LAYOUT_END},
                 },
                 0, NULL);

    p = tc_map(s, 0x4800, 0x1000, FROM, 0x1000);
    assert_ptr_equal(p, ram + 0x800);
    assert_int_equal(dms_space_unmap(s, p, 0x1000, FROM, 0x1000), 0);

    dms_space_unref(s);
    dms_region_unref(lo);
    dms_region_unref(hi);
    dms_region_unref(ram_r);
}

static void test_map_unassigned_fails_efault(void **state)
{
    Fix *f = *state;

    tc_map_fails(f->space, HOLE_ADDR, 16, TO, -EFAULT);
    tc_map_fails(f->space, HOLE_ADDR, 16, FROM, -EFAULT);
    assert_int_equal(tc_stats(f->space).fail_unassigned, 2);
}

static void test_map_readonly_ram_from_device_fails_eacces(void **state)
{
    Fix *f = *state;
    void *p;

    tc_map_fails(f->space, ROM_ADDR, 16, FROM, -EACCES);
    assert_int_equal(tc_stats(f->space).fail_access, 1);
    p = tc_map(f->space, ROM_ADDR, 16, TO, 16);
    assert_ptr_equal(p, f->rom);
    assert_int_equal(dms_space_unmap(f->space, p, 16, TO, 16), 0);
}

static void test_map_past_the_end_of_the_address_space_fails(void **state)
{
    Fix *f = *state;

    tc_map_fails(f->space, UINT64_MAX - 10, 100, TO, -EINVAL);
    /* Guest-controlled: an error code, not a critical. */
    assert_int_equal(tc_criticals(), 0);
}

static void test_map_bad_arguments_fail_einval(void **state)
{
    Fix *f = *state;
    size_t len = 16;
    void *p;

    assert_int_equal(dms_space_map(NULL, RAM_ADDR, &len, TO, NULL, &p),
                     -EINVAL);
    assert_int_equal(dms_space_map(f->space, RAM_ADDR, NULL, TO, NULL, &p),
                     -EINVAL);
    len = 16;
    assert_int_equal(dms_space_map(f->space, RAM_ADDR, &len, TO, NULL, NULL),
                     -EINVAL);
    len = 16;
    assert_int_equal(
        dms_space_map(f->space, RAM_ADDR, &len, (DmsDirection)7, NULL, &p),
        -EINVAL);
    assert_int_equal(tc_criticals(), 4);
}

/* ---- bounce buffers ---- */

static void test_bounce_to_device_fills_with_one_backend_call(void **state)
{
    Fix *f = *state;
    uint8_t *p = tc_map(f->space, MSG_ADDR + 0x10, 3000, TO, 3000);

    assert_int_equal(f->msg_b->reads, 1);
    assert_int_equal(f->msg_b->last.offset, 0x10);
    assert_int_equal(f->msg_b->last.len, 3000);
    assert_memory_equal(p, f->msg_b->mem + 0x10, 3000);
    assert_int_equal(dms_space_unmap(f->space, p, 3000, TO, 3000), 0);
    /* A to-device unmap writes nothing back. */
    assert_int_equal(f->msg_b->writes, 0);
}

static void test_bounce_backend_error_fails_the_map(void **state)
{
    Fix *f = *state;
    DmsSpaceStats st;
    void *p;

    f->msg_b->fail_read = EHOSTDOWN;
    tc_map_fails(f->space, MSG_ADDR, 512, TO, -EHOSTDOWN);
    tc_map_fails(f->space, MSG_ADDR, 200000, TO, -EHOSTDOWN); /* large too */
    st = tc_stats(f->space);
    assert_int_equal(st.fail_backend, 2);
    assert_int_equal(st.bounced_maps, 0);
    assert_int_equal(st.bounce_in_use, 0); /* the budget came back */
    f->msg_b->fail_read = 0;
    p = tc_map(f->space, MSG_ADDR, 512, TO, 512);
    assert_int_equal(dms_space_unmap(f->space, p, 512, TO, 512), 0);
}

static void test_bounce_from_device_buffers_are_zeroed(void **state)
{
    Fix *f = *state;
    static const size_t sizes[] = {1, 64, 100, 4096, 65536, 70000};

    /* Every round leaves garbage behind; no map may show any of it. */
    for (unsigned round = 0; round < 4; round++) {
        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
            uint8_t *p = tc_map(f->space, MSG_ADDR, sizes[i], FROM, sizes[i]);

            for (size_t j = 0; j < sizes[i]; j++)
                assert_int_equal(p[j], 0);
            memset(p, 0xee, sizes[i]);
            assert_int_equal(dms_space_unmap(f->space, p, sizes[i], FROM, 0),
                             0);
        }
    }
    assert_int_equal(f->msg_b->writes, 0);
}

static void test_unmap_writes_back_exactly_access_len(void **state)
{
    Fix *f = *state;
    uint8_t before[1100];
    uint8_t *p;

    memcpy(before, f->msg_b->mem + 0x100, sizeof(before));

    /* access_len 0: nothing is written */
    p = tc_map(f->space, MSG_ADDR + 0x100, 1000, FROM, 1000);
    memset(p, 0x5a, 1000);
    assert_int_equal(dms_space_unmap(f->space, p, 1000, FROM, 0), 0);
    assert_int_equal(f->msg_b->writes, 0);
    assert_memory_equal(f->msg_b->mem + 0x100, before, sizeof(before));

    /* access_len < len: exactly that much, in one call */
    p = tc_map(f->space, MSG_ADDR + 0x100, 1000, FROM, 1000);
    memset(p, 0x5a, 1000);
    assert_int_equal(dms_space_unmap(f->space, p, 1000, FROM, 300), 0);
    assert_int_equal(f->msg_b->writes, 1);
    assert_int_equal(f->msg_b->last.offset, 0x100);
    assert_int_equal(f->msg_b->last.len, 300);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(f->msg_b->mem[0x100 + i], 0x5a);
    assert_memory_equal(f->msg_b->mem + 0x100 + 300, before + 300, 800);

    /* access_len == len */
    p = tc_map(f->space, MSG_ADDR + 0x100, 1000, FROM, 1000);
    memset(p, 0x6b, 1000);
    assert_int_equal(dms_space_unmap(f->space, p, 1000, FROM, 1000), 0);
    assert_int_equal(f->msg_b->writes, 2);
    assert_int_equal(f->msg_b->last.len, 1000);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(f->msg_b->mem[0x100 + i], 0x6b);
    assert_memory_equal(f->msg_b->mem + 0x100 + 1000, before + 1000, 100);
}

static void test_unmap_access_len_beyond_len_is_refused(void **state)
{
    Fix *f = *state;
    uint8_t *p = tc_map(f->space, MSG_ADDR, 100, FROM, 100);
    uint8_t *d = tc_map(f->space, RAM_ADDR, 100, FROM, 100);

    assert_int_equal(dms_space_unmap(f->space, p, 100, FROM, 101), -EINVAL);
    assert_int_equal(dms_space_unmap(f->space, d, 100, FROM, 101), -EINVAL);
    /* A guest's descriptor can cause it: an error, not a critical. */
    assert_int_equal(tc_criticals(), 0);
    assert_int_equal(f->msg_b->writes, 0);
    /* Both mappings are still live. */
    assert_int_equal(tc_stats(f->space).bounce_in_use, 100);
    assert_int_equal(dms_space_unmap(f->space, p, 100, FROM, 100), 0);
    assert_int_equal(dms_space_unmap(f->space, d, 100, FROM, 100), 0);
    assert_int_equal(f->msg_b->writes, 1);
    assert_int_equal(tc_stats(f->space).bad_unmaps, 2);
}

static void test_unmap_writes_back_with_the_map_time_attrs(void **state)
{
    Fix *f = *state;
    DmsAttrs attrs = tc_attrs();
    const DmsAttrs want = attrs;
    size_t len = 64;
    void *p;

    assert_int_equal(dms_space_map(f->space, MSG_ADDR, &len, TO, &attrs, &p),
                     0);
    assert_true(f->msg_b->last.has_attrs);
    assert_memory_equal(&f->msg_b->last.attrs, &want, sizeof(want));
    assert_int_equal(dms_space_unmap(f->space, p, len, TO, len), 0);

    assert_int_equal(dms_space_map(f->space, MSG_ADDR, &len, FROM, &attrs, &p),
                     0);
    /* The caller's copy may change or die: the mapping has its own. */
    memset(&attrs, 0, sizeof(attrs));
    memset(&f->msg_b->last.attrs, 0, sizeof(f->msg_b->last.attrs));
    assert_int_equal(dms_space_unmap(f->space, p, len, FROM, len), 0);
    assert_true(f->msg_b->last.has_attrs);
    assert_memory_equal(&f->msg_b->last.attrs, &want, sizeof(want));

    /* Mapped without attributes: the write-back has none either. */
    p = tc_map(f->space, MSG_ADDR, 64, FROM, 64);
    assert_int_equal(dms_space_unmap(f->space, p, 64, FROM, 64), 0);
    assert_false(f->msg_b->last.has_attrs);
}

static void test_unmap_returns_the_write_back_error(void **state)
{
    Fix *f = *state;
    uint8_t *p = tc_map(f->space, MSG_ADDR, 256, FROM, 256);

    f->msg_b->fail_write = ENOSPC;
    assert_int_equal(dms_space_unmap(f->space, p, 256, FROM, 256), -ENOSPC);
    f->msg_b->fail_write = 0;
    /* The mapping ended anyway: budget back, a second unmap refused. */
    assert_int_equal(tc_stats(f->space).bounce_in_use, 0);
    assert_int_equal(dms_space_unmap(f->space, p, 256, FROM, 256), -EINVAL);
    assert_int_equal(tc_criticals(), 1);
}

static void test_unmap_refuses_what_the_space_did_not_hand_out(void **state)
{
    Fix *f = *state;
    uint8_t stack_buf[64];
    uint8_t *heap = g_malloc0(64);
    uint8_t *p = tc_map(f->space, MSG_ADDR, 64, FROM, 64);
    uint8_t *d = tc_map(f->space, RAM_ADDR + 0x40, 64, FROM, 64);
    DmsSpace *other;
    uint8_t *o;

    assert_int_equal(dms_space_new(f->root, "other", &other), 0);
    o = tc_map(other, MSG_ADDR, 64, FROM, 64);

    refused(f, NULL, 64, FROM, 0);
    refused(f, stack_buf, 64, FROM, 0);
    refused(f, heap, 64, FROM, 0);
    refused(f, p + 1, 64, FROM, 0);        /* interior */
    refused(f, p + 63, 1, FROM, 0);        /* interior */
    refused(f, p + 64, 64, FROM, 0);       /* the next, unlent slot */
    refused(f, p, 63, FROM, 0);            /* wrong length */
    refused(f, p, 64, TO, 0);              /* wrong direction */
    refused(f, o, 64, FROM, 0);            /* another space's buffer */
    refused(f, d + 1, 63, FROM, 0);        /* interior of a direct map */
    refused(f, d, 65, FROM, 0);            /* wrong length */
    refused(f, d, 64, TO, 0);              /* wrong direction */
    refused(f, f->ram, 64, FROM, 0);       /* RAM, but never mapped */
    refused(f, p, 64, (DmsDirection)5, 0); /* no such direction */

    /* Every real mapping survived all that. */
    assert_int_equal(tc_stats(f->space).bounce_in_use, 64);
    assert_int_equal(dms_space_unmap(f->space, p, 64, FROM, 0), 0);
    assert_int_equal(dms_space_unmap(f->space, d, 64, FROM, 0), 0);
    assert_int_equal(dms_space_unmap(other, o, 64, FROM, 0), 0);
    /* and now they are gone: a second unmap is refused */
    refused(f, p, 64, FROM, 0);
    refused(f, d, 64, FROM, 0);
    dms_space_unref(other);
    g_free(heap);
}

static void test_unmap_of_large_buffers_is_exact(void **state)
{
    Fix *f = *state;
    size_t n = 300 * 1024;
    uint8_t *p = tc_map(f->space, MSG_ADDR + 1, n, TO, n);

    assert_memory_equal(p, f->msg_b->mem + 1, n);
    assert_int_equal(f->msg_b->reads, 1);
    refused(f, p + 1, n - 1, TO, 0);
    refused(f, p, n - 1, TO, 0);
    refused(f, p, n, FROM, 0);
    assert_int_equal(dms_space_unmap(f->space, p, n, TO, n), 0);
    refused(f, p, n, TO, 0);
}

/* ---- direct mappings that share a pointer ---- */

static void test_direct_range_mapped_twice_needs_two_unmaps(void **state)
{
    Fix *f = *state;
    void *a = tc_map(f->space, RAM_ADDR, 128, FROM, 128);
    void *b = tc_map(f->space, RAM_ADDR, 128, FROM, 128);
    void *c = tc_map(f->space, RAM_ADDR, 64, FROM, 64);

    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    assert_int_equal(dms_space_unmap(f->space, a, 128, FROM, 128), 0);
    assert_int_equal(dms_space_unmap(f->space, a, 64, FROM, 64), 0);
    refused(f, a, 64, FROM, 64);
    assert_int_equal(dms_space_unmap(f->space, a, 128, FROM, 128), 0);
    refused(f, a, 128, FROM, 128);
}

static void test_many_live_direct_maps_are_each_found(void **state)
{
    Fix *f = *state;
    enum { N = 3000 };
    uint8_t **p = g_new(uint8_t *, N);
    GRand *rand = g_rand_new_with_seed(7);

    /* Enough live mappings to make the registry grow several times. */
    for (unsigned i = 0; i < N; i++) {
        p[i] = tc_map(f->space, RAM_ADDR + i * 16, 8, FROM, 8);
        assert_ptr_equal(p[i], f->ram + i * 16);
    }
    /* Unmapped in random order, each exactly once. */
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = (unsigned)g_rand_int_range(rand, 0, (gint32)i + 1);
        uint8_t *t = p[i];

        p[i] = p[j];
        p[j] = t;
    }
    for (unsigned i = 0; i < N; i++) {
        refused(f, p[i], 7, FROM, 0);
        assert_int_equal(dms_space_unmap(f->space, p[i], 8, FROM, 0), 0);
    }
    for (unsigned i = 0; i < N; i += 97)
        refused(f, p[i], 8, FROM, 0);
    assert_int_equal(tc_stats(f->space).direct_maps, N);
    g_rand_free(rand);
    g_free(p);
}

static void test_direct_regions_sharing_host_memory_keep_counts(void **state)
{
    uint8_t mem[0x1000];
    atomic_uint notified_a = 0, notified_b = 0;
    DmsRegion *root, *ra, *rb;
    DmsSpace *s;
    void *pa, *pb;
    (void)state;

    s = tc_space("shared",
                 (const LayoutPiece[]){
                     {TC_COUNTED_RAM(0x1000, mem, sizeof(mem), &notified_a),
                      .keep = &ra, .name = "a"},
                     {TC_COUNTED_RAM(0x8000, mem, sizeof(mem), &notified_b),
                      .keep = &rb, .name = "b"},
                     {.kind = LAYOUT_END},
                 },
                 0, &root);

    pa = tc_map(s, 0x1000, 256, TO, 256);
    pb = tc_map(s, 0x8000, 256, TO, 256);
    assert_ptr_equal(pa, pb);
    assert_int_equal(dms_region_remove_subregion(root, ra), 0);
    assert_int_equal(dms_region_remove_subregion(root, rb), 0);
    dms_region_unref(ra);
    dms_region_unref(rb);
    /* Each mapping still holds its own region. */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified_a + notified_b, 0);
    assert_int_equal(dms_space_unmap(s, pa, 256, TO, 0), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified_a + notified_b, 1);
    assert_int_equal(dms_space_unmap(s, pb, 256, TO, 0), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified_a, 1);
    assert_int_equal(notified_b, 1);

    dms_space_unref(s);
    dms_region_unref(root);
}

/* ---- counters ---- */

static void test_stats_count_every_outcome(void **state)
{
    Fix *f = *state;
    DmsSpaceStats st;
    uint8_t canary[sizeof(DmsSpaceStats)];
    DmsSpaceStats *small = (DmsSpaceStats *)canary;
    void *p, *q, *d;

    dms_space_set_bounce_limit(f->space, 1000);
    d = tc_map(f->space, RAM_ADDR, 10, TO, 10);
    f->msg_b->fail_read = EIO;
    tc_map_fails(f->space, MSG_ADDR, 10, TO, -EIO);
    f->msg_b->fail_read = 0;
    p = tc_map(f->space, MSG_ADDR, 700, TO, 700);
    tc_map_fails(f->space, HOLE_ADDR, 1, TO, -EFAULT);
    tc_map_fails(f->space, ROM_ADDR, 1, FROM, -EACCES);
    refused(f, p, 1, TO, 0);
    st = tc_stats(f->space);
    assert_int_equal(st.size, sizeof(st));
    assert_int_equal(st.bounce_in_use, 700);
    assert_int_equal(st.bounce_high_water, 700);
    assert_int_equal(st.bounce_limit, 1000);
    assert_int_equal(st.direct_maps, 1);
    assert_int_equal(st.bounced_maps, 1);
    assert_int_equal(st.fail_exhausted, 0);
    assert_int_equal(st.fail_unassigned, 1);
    assert_int_equal(st.fail_access, 1);
    assert_int_equal(st.fail_backend, 1);
    assert_int_equal(st.fail_no_budget, 0);
    assert_int_equal(st.fail_nomem, 0);
    assert_int_equal(st.bad_unmaps, 1);
    assert_int_equal(st.map_clients_fired, 0);
    q = tc_map(f->space, MSG_ADDR, 700, TO, 300); /* partial: no failure */
    tc_map_fails(f->space, MSG_ADDR, 700, TO, -EAGAIN);
    assert_int_equal(tc_stats(f->space).fail_exhausted, 1);
    assert_int_equal(tc_stats(f->space).bounce_high_water, 1000);
    assert_int_equal(tc_stats(f->space).bounced_maps, 2);
    dms_space_set_bounce_limit(f->space, 0);
    tc_map_fails(f->space, MSG_ADDR, 10, TO, -ENOBUFS);
    assert_int_equal(tc_stats(f->space).fail_no_budget, 1);
    assert_int_equal(dms_space_unmap(f->space, q, 300, TO, 0), 0);
    assert_int_equal(dms_space_unmap(f->space, p, 700, TO, 0), 0);
    assert_int_equal(dms_space_unmap(f->space, d, 10, TO, 0), 0);

    /* An older, shorter struct: nothing past its size is written. */
    memset(canary, 0xcc, sizeof(canary));
    small->size = offsetof(DmsSpaceStats, bounce_high_water);
    assert_int_equal(dms_space_get_stats(f->space, small), 0);
    assert_int_equal(small->bounce_in_use, 0);
    for (size_t i = offsetof(DmsSpaceStats, bounce_high_water);
         i < sizeof(canary); i++)
        assert_int_equal(canary[i], 0xcc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, map_setup, map_teardown)
        T(test_map_len_zero_maps_nothing),
        T(test_map_ram_is_direct),
        T(test_map_across_ram_and_message_takes_two_maps),
        cmocka_unit_test(test_bounce_stops_where_its_region_ends),
        cmocka_unit_test(test_map_joins_pieces_that_continue_one_region),
        T(test_map_unassigned_fails_efault),
        T(test_map_readonly_ram_from_device_fails_eacces),
        T(test_map_past_the_end_of_the_address_space_fails),
        T(test_map_bad_arguments_fail_einval),
        T(test_bounce_to_device_fills_with_one_backend_call),
        T(test_bounce_backend_error_fails_the_map),
        T(test_bounce_from_device_buffers_are_zeroed),
        T(test_unmap_writes_back_exactly_access_len),
        T(test_unmap_access_len_beyond_len_is_refused),
        T(test_unmap_writes_back_with_the_map_time_attrs),
        T(test_unmap_returns_the_write_back_error),
        T(test_unmap_refuses_what_the_space_did_not_hand_out),
        T(test_unmap_of_large_buffers_is_exact),
        T(test_direct_range_mapped_twice_needs_two_unmaps),
        T(test_many_live_direct_maps_are_each_found),
        cmocka_unit_test(test_direct_regions_sharing_host_memory_keep_counts),
        T(test_stats_count_every_outcome),
#undef T
    };

    return cmocka_run_group_tests_name("map", tests, NULL, NULL);
}
