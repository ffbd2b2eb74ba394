/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms_space_map() / dms_space_unmap(): direct and bounce mappings, the
 * bounce budget, the exact checks of unmap, region and space lifetime
 * during DMA, and the counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include "dms-private.h"

#define RAM_ADDR 0x10000u
#define RAM_SIZE 0x10000u
#define MSG_ADDR 0x20000u
#define MSG_SIZE 0x200000u
#define ROM_ADDR 0x400000u
#define ROM_SIZE 0x1000u
#define HOLE_ADDR 0x500000u

#define TO DMS_DIR_TO_DEVICE
#define FROM DMS_DIR_FROM_DEVICE

/* ---- a bulk backend over a buffer that records its calls ---- */

typedef struct Backend {
    uint8_t *mem;
    size_t size;
    unsigned reads, writes;
    uint64_t last_off;
    size_t last_len;
    int fail_read, fail_write; /* errno to fail with; 0: succeed */
    bool attrs_null;
    DmsAttrs attrs;
    int notified; /* destroy notify runs */
} Backend;

static int64_t backend_io(Backend *b, uint64_t off, void *dst, const void *src,
                          size_t len, const DmsAttrs *attrs, bool is_write)
{
    b->last_off = off;
    b->last_len = len;
    b->attrs_null = attrs == NULL;
    if (attrs)
        b->attrs = *attrs;
    assert_true(off + len <= b->size);
    if (is_write) {
        b->writes++;
        if (b->fail_write)
            return -b->fail_write;
        memcpy(b->mem + off, src, len);
    } else {
        b->reads++;
        if (b->fail_read)
            return -b->fail_read;
        memcpy(dst, b->mem + off, len);
    }
    return (int64_t)len;
}

static int64_t backend_read(void *opaque, uint64_t off, void *buf, size_t len,
                            const DmsAttrs *attrs)
{
    return backend_io(opaque, off, buf, NULL, len, attrs, false);
}

static int64_t backend_write(void *opaque, uint64_t off, const void *buf,
                             size_t len, const DmsAttrs *attrs)
{
    return backend_io(opaque, off, NULL, buf, len, attrs, true);
}

static void backend_notify(void *opaque)
{
    ((Backend *)opaque)->notified++;
}

static Backend *backend_new(size_t size)
{
    Backend *b = g_new0(Backend, 1);

    b->mem = g_malloc(size);
    b->size = size;
    for (size_t i = 0; i < size; i++)
        b->mem[i] = (uint8_t)(i * 7 + 1);
    return b;
}

static void backend_free(Backend *b)
{
    g_free(b->mem);
    g_free(b);
}

static DmsRegion *message_region(Backend *b)
{
    const DmsMessageOps ops = {
        .size = sizeof(ops),
        .read = backend_read,
        .write = backend_write,
    };
    DmsRegion *r;

    assert_int_equal(
        dms_region_new_message("msg", b->size, &ops, b, backend_notify, &r),
        0);
    return r;
}

static void count_notify(void *data)
{
    (*(int *)data)++;
}

/* ---- criticals are counted, not printed ---- */

static unsigned criticals;

static void count_critical(const gchar *domain, GLogLevelFlags level,
                           const gchar *message, gpointer data)
{
    criticals++;
}

/* ---- fixture: RAM, a message region right after it, ROM, a hole ---- */

typedef struct Fix {
    uint8_t *ram, *rom;
    int ram_notified;
    Backend *msg_b;
    DmsRegion *root, *ram_r, *msg_r, *rom_r;
    DmsSpace *space;
} Fix;

static int setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    f->ram = g_malloc(RAM_SIZE);
    for (size_t i = 0; i < RAM_SIZE; i++)
        f->ram[i] = (uint8_t)i;
    f->rom = g_malloc(ROM_SIZE);
    memset(f->rom, 0xa5, ROM_SIZE);
    f->msg_b = backend_new(MSG_SIZE);
    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &f->root),
                     0);
    assert_int_equal(dms_region_new_ram("ram", f->ram, RAM_SIZE, 0,
                                        count_notify, &f->ram_notified,
                                        &f->ram_r),
                     0);
    assert_int_equal(dms_region_new_ram("rom", f->rom, ROM_SIZE,
                                        DMS_RAM_READONLY, NULL, NULL,
                                        &f->rom_r),
                     0);
    f->msg_r = message_region(f->msg_b);
    assert_int_equal(
        dms_region_add_subregion(f->root, RAM_ADDR, f->ram_r, 0, 0), 0);
    assert_int_equal(
        dms_region_add_subregion(f->root, MSG_ADDR, f->msg_r, 0, 0), 0);
    assert_int_equal(
        dms_region_add_subregion(f->root, ROM_ADDR, f->rom_r, 0, 0), 0);
    assert_int_equal(dms_space_new(f->root, "test", &f->space), 0);
    criticals = 0;
    g_log_set_handler("dmaspace", G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL,
                      count_critical, NULL);
    *state = f;
    return 0;
}

static DmsSpaceStats stats_of(DmsSpace *space)
{
    DmsSpaceStats st = {.size = sizeof(st)};

    assert_int_equal(dms_space_get_stats(space, &st), 0);
    return st;
}

static int teardown(void **state)
{
    Fix *f = *state;

    /* Every test returns all it borrowed. */
    assert_int_equal(stats_of(f->space).bounce_in_use, 0);
    dms_space_unref(f->space);
    dms_region_unref(f->ram_r);
    dms_region_unref(f->rom_r);
    dms_region_unref(f->msg_r);
    dms_region_unref(f->root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(f->ram_notified, 1);
    assert_int_equal(f->msg_b->notified, 1);
    backend_free(f->msg_b);
    g_free(f->ram);
    g_free(f->rom);
    g_free(f);
    return 0;
}

static void *map_ok(DmsSpace *space, uint64_t addr, size_t want,
                    DmsDirection dir, size_t expect_len)
{
    size_t len = want;
    void *p = NULL;

    assert_int_equal(dms_space_map(space, addr, &len, dir, NULL, &p), 0);
    assert_int_equal(len, expect_len);
    assert_non_null(p);
    return p;
}

static void map_fails(DmsSpace *space, uint64_t addr, size_t want,
                      DmsDirection dir, int err)
{
    size_t len = want;
    void *p = (void *)&len;

    assert_int_equal(dms_space_map(space, addr, &len, dir, NULL, &p), err);
    assert_int_equal(len, 0);
    assert_null(p);
}

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
    assert_int_equal(stats_of(f->space).direct_maps, 0);
    assert_int_equal(stats_of(f->space).bounced_maps, 0);
}

static void test_map_ram_is_direct(void **state)
{
    Fix *f = *state;
    uint8_t *p = map_ok(f->space, RAM_ADDR + 0x100, 0x200, FROM, 0x200);

    assert_ptr_equal(p, f->ram + 0x100);
    memset(p, 0x11, 0x200);
    assert_int_equal(dms_space_unmap(f->space, p, 0x200, FROM, 0x200), 0);
    assert_int_equal(f->ram[0x100], 0x11);
    assert_int_equal(stats_of(f->space).direct_maps, 1);
    assert_int_equal(stats_of(f->space).bounce_in_use, 0);
    assert_int_equal(stats_of(f->space).bounce_high_water, 0);
}

static void test_map_across_ram_and_message_takes_two_maps(void **state)
{
    Fix *f = *state;
    uint64_t addr = RAM_ADDR + RAM_SIZE - 0x100;
    uint8_t *p, *q;

    /* RAM first: the direct mapping stops where the RAM ends. */
    p = map_ok(f->space, addr, 0x300, TO, 0x100);
    assert_ptr_equal(p, f->ram + RAM_SIZE - 0x100);
    /* The rest is the message region: a bounce buffer. */
    q = map_ok(f->space, addr + 0x100, 0x200, TO, 0x200);
    assert_memory_equal(q, f->msg_b->mem, 0x200);
    assert_int_equal(dms_space_unmap(f->space, p, 0x100, TO, 0x100), 0);
    assert_int_equal(dms_space_unmap(f->space, q, 0x200, TO, 0x200), 0);
    assert_int_equal(stats_of(f->space).direct_maps, 1);
    assert_int_equal(stats_of(f->space).bounced_maps, 1);
}

static void test_bounce_stops_where_its_region_ends(void **state)
{
    Backend *b = backend_new(0x1000);
    uint8_t ram[0x1000];
    DmsRegion *root, *msg, *ram_r;
    DmsSpace *s;
    uint8_t *p, *q;
    (void)state;

    memset(ram, 0x77, sizeof(ram));
    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    msg = message_region(b);
    assert_int_equal(
        dms_region_new_ram("ram", ram, sizeof(ram), 0, NULL, NULL, &ram_r), 0);
    assert_int_equal(dms_region_add_subregion(root, 0, msg, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(root, 0x1000, ram_r, 0, 0), 0);
    assert_int_equal(dms_space_new(root, NULL, &s), 0);

    /* Message then RAM: the bounce buffer covers the message part only. */
    p = map_ok(s, 0x800, 0x1000, TO, 0x800);
    assert_memory_equal(p, b->mem + 0x800, 0x800);
    assert_int_equal(b->reads, 1);
    q = map_ok(s, 0x1000, 0x800, TO, 0x800);
    assert_ptr_equal(q, ram);
    assert_int_equal(stats_of(s).bounce_in_use, 0x800);
    assert_int_equal(dms_space_unmap(s, p, 0x800, TO, 0x800), 0);
    assert_int_equal(dms_space_unmap(s, q, 0x800, TO, 0x800), 0);
    /* RAM then a hole: short as well. */
    q = map_ok(s, 0x1f00, 0x1000, FROM, 0x100);
    assert_int_equal(dms_space_unmap(s, q, 0x100, FROM, 0), 0);

    dms_space_unref(s);
    dms_region_unref(msg);
    dms_region_unref(ram_r);
    dms_region_unref(root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1);
    backend_free(b);
}

static void test_map_joins_pieces_that_continue_one_region(void **state)
{
    uint8_t ram[0x2000];
    DmsRegion *root, *ram_r, *lo, *hi;
    DmsSpace *s;
    void *p;
    (void)state;

    /* Two aliases that show consecutive halves of one RAM region. */
    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    assert_int_equal(
        dms_region_new_ram("ram", ram, sizeof(ram), 0, NULL, NULL, &ram_r), 0);
    assert_int_equal(dms_region_new_alias("lo", ram_r, 0, 0x1000, &lo), 0);
    assert_int_equal(dms_region_new_alias("hi", ram_r, 0x1000, 0x1000, &hi),
                     0);
    assert_int_equal(dms_region_add_subregion(root, 0x4000, lo, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(root, 0x5000, hi, 0, 0), 0);
    assert_int_equal(dms_space_new(root, NULL, &s), 0);

    p = map_ok(s, 0x4800, 0x1000, FROM, 0x1000);
    assert_ptr_equal(p, ram + 0x800);
    assert_int_equal(dms_space_unmap(s, p, 0x1000, FROM, 0x1000), 0);

    dms_space_unref(s);
    dms_region_unref(lo);
    dms_region_unref(hi);
    dms_region_unref(ram_r);
    dms_region_unref(root);
}

static void test_map_unassigned_fails_efault(void **state)
{
    Fix *f = *state;

    map_fails(f->space, HOLE_ADDR, 16, TO, -EFAULT);
    map_fails(f->space, HOLE_ADDR, 16, FROM, -EFAULT);
    assert_int_equal(stats_of(f->space).fail_unassigned, 2);
}

static void test_map_readonly_ram_from_device_fails_eacces(void **state)
{
    Fix *f = *state;
    void *p;

    map_fails(f->space, ROM_ADDR, 16, FROM, -EACCES);
    assert_int_equal(stats_of(f->space).fail_access, 1);
    p = map_ok(f->space, ROM_ADDR, 16, TO, 16);
    assert_ptr_equal(p, f->rom);
    assert_int_equal(dms_space_unmap(f->space, p, 16, TO, 16), 0);
}

static void test_map_past_the_end_of_the_address_space_fails(void **state)
{
    Fix *f = *state;

    map_fails(f->space, UINT64_MAX - 10, 100, TO, -EINVAL);
    /* Guest-controlled: an error code, not a critical. */
    assert_int_equal(criticals, 0);
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
    assert_int_equal(criticals, 4);
}

/* ---- bounce buffers ---- */

static void test_bounce_to_device_fills_with_one_backend_call(void **state)
{
    Fix *f = *state;
    uint8_t *p = map_ok(f->space, MSG_ADDR + 0x10, 3000, TO, 3000);

    assert_int_equal(f->msg_b->reads, 1);
    assert_int_equal(f->msg_b->last_off, 0x10);
    assert_int_equal(f->msg_b->last_len, 3000);
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
    map_fails(f->space, MSG_ADDR, 512, TO, -EHOSTDOWN);
    map_fails(f->space, MSG_ADDR, 200000, TO, -EHOSTDOWN); /* large too */
    st = stats_of(f->space);
    assert_int_equal(st.fail_backend, 2);
    assert_int_equal(st.bounced_maps, 0);
    assert_int_equal(st.bounce_in_use, 0); /* the budget came back */
    f->msg_b->fail_read = 0;
    p = map_ok(f->space, MSG_ADDR, 512, TO, 512);
    assert_int_equal(dms_space_unmap(f->space, p, 512, TO, 512), 0);
}

static void test_bounce_from_device_buffers_are_zeroed(void **state)
{
    Fix *f = *state;
    static const size_t sizes[] = {1, 64, 100, 4096, 65536, 70000};

    /* Every round leaves garbage behind; no map may show any of it. */
    for (unsigned round = 0; round < 4; round++) {
        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
            uint8_t *p = map_ok(f->space, MSG_ADDR, sizes[i], FROM, sizes[i]);

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
    p = map_ok(f->space, MSG_ADDR + 0x100, 1000, FROM, 1000);
    memset(p, 0x5a, 1000);
    assert_int_equal(dms_space_unmap(f->space, p, 1000, FROM, 0), 0);
    assert_int_equal(f->msg_b->writes, 0);
    assert_memory_equal(f->msg_b->mem + 0x100, before, sizeof(before));

    /* access_len < len: exactly that much, in one call */
    p = map_ok(f->space, MSG_ADDR + 0x100, 1000, FROM, 1000);
    memset(p, 0x5a, 1000);
    assert_int_equal(dms_space_unmap(f->space, p, 1000, FROM, 300), 0);
    assert_int_equal(f->msg_b->writes, 1);
    assert_int_equal(f->msg_b->last_off, 0x100);
    assert_int_equal(f->msg_b->last_len, 300);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(f->msg_b->mem[0x100 + i], 0x5a);
    assert_memory_equal(f->msg_b->mem + 0x100 + 300, before + 300, 800);

    /* access_len == len */
    p = map_ok(f->space, MSG_ADDR + 0x100, 1000, FROM, 1000);
    memset(p, 0x6b, 1000);
    assert_int_equal(dms_space_unmap(f->space, p, 1000, FROM, 1000), 0);
    assert_int_equal(f->msg_b->writes, 2);
    assert_int_equal(f->msg_b->last_len, 1000);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(f->msg_b->mem[0x100 + i], 0x6b);
    assert_memory_equal(f->msg_b->mem + 0x100 + 1000, before + 1000, 100);
}

static void test_unmap_access_len_beyond_len_is_refused(void **state)
{
    Fix *f = *state;
    uint8_t *p = map_ok(f->space, MSG_ADDR, 100, FROM, 100);
    uint8_t *d = map_ok(f->space, RAM_ADDR, 100, FROM, 100);

    assert_int_equal(dms_space_unmap(f->space, p, 100, FROM, 101), -EINVAL);
    assert_int_equal(dms_space_unmap(f->space, d, 100, FROM, 101), -EINVAL);
    /* A guest's descriptor can cause it: an error, not a critical. */
    assert_int_equal(criticals, 0);
    assert_int_equal(f->msg_b->writes, 0);
    /* Both mappings are still live. */
    assert_int_equal(stats_of(f->space).bounce_in_use, 100);
    assert_int_equal(dms_space_unmap(f->space, p, 100, FROM, 100), 0);
    assert_int_equal(dms_space_unmap(f->space, d, 100, FROM, 100), 0);
    assert_int_equal(f->msg_b->writes, 1);
    assert_int_equal(stats_of(f->space).bad_unmaps, 2);
}

static void test_unmap_writes_back_with_the_map_time_attrs(void **state)
{
    Fix *f = *state;
    DmsAttrs attrs = {
        .flags = DMS_ATTR_SECURE | DMS_ATTR_REQUESTER_VALID,
        .requester_id = 0x1234,
        .pasid = 7,
        .user = 0xdeadbeef,
    };
    const DmsAttrs want = attrs;
    size_t len = 64;
    void *p;

    assert_int_equal(dms_space_map(f->space, MSG_ADDR, &len, TO, &attrs, &p),
                     0);
    assert_false(f->msg_b->attrs_null);
    assert_memory_equal(&f->msg_b->attrs, &want, sizeof(want));
    assert_int_equal(dms_space_unmap(f->space, p, len, TO, len), 0);

    assert_int_equal(dms_space_map(f->space, MSG_ADDR, &len, FROM, &attrs, &p),
                     0);
    /* The caller's copy may change or die: the mapping has its own. */
    memset(&attrs, 0, sizeof(attrs));
    memset(&f->msg_b->attrs, 0, sizeof(f->msg_b->attrs));
    assert_int_equal(dms_space_unmap(f->space, p, len, FROM, len), 0);
    assert_false(f->msg_b->attrs_null);
    assert_memory_equal(&f->msg_b->attrs, &want, sizeof(want));

    /* Mapped without attributes: the write-back has none either. */
    p = map_ok(f->space, MSG_ADDR, 64, FROM, 64);
    assert_int_equal(dms_space_unmap(f->space, p, 64, FROM, 64), 0);
    assert_true(f->msg_b->attrs_null);
}

static void test_unmap_returns_the_write_back_error(void **state)
{
    Fix *f = *state;
    uint8_t *p = map_ok(f->space, MSG_ADDR, 256, FROM, 256);

    f->msg_b->fail_write = ENOSPC;
    assert_int_equal(dms_space_unmap(f->space, p, 256, FROM, 256), -ENOSPC);
    f->msg_b->fail_write = 0;
    /* The mapping ended anyway: budget back, a second unmap refused. */
    assert_int_equal(stats_of(f->space).bounce_in_use, 0);
    assert_int_equal(dms_space_unmap(f->space, p, 256, FROM, 256), -EINVAL);
    assert_int_equal(criticals, 1);
}

/* Each refused unmap: -EINVAL, a critical, a count, nothing else. */
static void refused(Fix *f, void *ptr, size_t len, DmsDirection dir,
                    size_t access_len)
{
    unsigned before = criticals;
    uint64_t bad = stats_of(f->space).bad_unmaps;
    unsigned writes = f->msg_b->writes;

    assert_int_equal(dms_space_unmap(f->space, ptr, len, dir, access_len),
                     -EINVAL);
    assert_int_equal(criticals, before + 1);
    assert_int_equal(stats_of(f->space).bad_unmaps, bad + 1);
    assert_int_equal(f->msg_b->writes, writes);
}

static void test_unmap_refuses_what_the_space_did_not_hand_out(void **state)
{
    Fix *f = *state;
    uint8_t stack_buf[64];
    uint8_t *heap = g_malloc0(64);
    uint8_t *p = map_ok(f->space, MSG_ADDR, 64, FROM, 64);
    uint8_t *d = map_ok(f->space, RAM_ADDR + 0x40, 64, FROM, 64);
    DmsSpace *other;
    uint8_t *o;

    assert_int_equal(dms_space_new(f->root, "other", &other), 0);
    o = map_ok(other, MSG_ADDR, 64, FROM, 64);

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
    assert_int_equal(stats_of(f->space).bounce_in_use, 64);
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
    uint8_t *p = map_ok(f->space, MSG_ADDR + 1, n, TO, n);

    assert_memory_equal(p, f->msg_b->mem + 1, n);
    assert_int_equal(f->msg_b->reads, 1);
    refused(f, p + 1, n - 1, TO, 0);
    refused(f, p, n - 1, TO, 0);
    refused(f, p, n, FROM, 0);
    assert_int_equal(dms_space_unmap(f->space, p, n, TO, n), 0);
    refused(f, p, n, TO, 0);
}

/* ---- the budget ---- */

static void test_budget_default_lets_sixteen_64k_transfers_run(void **state)
{
    Fix *f = *state;
    void *p[16];

    assert_int_equal(dms_space_get_bounce_limit(f->space),
                     DMS_BOUNCE_LIMIT_DEFAULT);
    assert_int_equal(DMS_BOUNCE_LIMIT_DEFAULT, 1u << 20);
    for (int i = 0; i < 16; i++)
        p[i] = map_ok(f->space, MSG_ADDR + (uint64_t)i * 65536, 65536, FROM,
                      65536);
    map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    for (int i = 0; i < 16; i++)
        assert_int_equal(dms_space_unmap(f->space, p[i], 65536, FROM, 0), 0);
    assert_int_equal(stats_of(f->space).bounce_high_water, 1u << 20);
}

static void test_budget_grants_partial_buffers(void **state)
{
    Fix *f = *state;
    uint8_t *p;

    dms_space_set_bounce_limit(f->space, 4096);
    p = map_ok(f->space, MSG_ADDR, 6000, TO, 4096);
    assert_memory_equal(p, f->msg_b->mem, 4096);
    assert_int_equal(f->msg_b->last_len, 4096);
    map_fails(f->space, MSG_ADDR + 4096, 1904, TO, -EAGAIN);
    assert_int_equal(stats_of(f->space).fail_exhausted, 1);
    assert_int_equal(dms_space_unmap(f->space, p, 4096, TO, 4096), 0);
    /* Part of the budget free: a part of the request granted. */
    p = map_ok(f->space, MSG_ADDR, 1000, TO, 1000);
    {
        uint8_t *q = map_ok(f->space, MSG_ADDR, 5000, TO, 3096);
        assert_int_equal(dms_space_unmap(f->space, q, 3096, TO, 0), 0);
    }
    assert_int_equal(dms_space_unmap(f->space, p, 1000, TO, 0), 0);
}

static void test_budget_exact_fit_then_exhausted(void **state)
{
    Fix *f = *state;
    void *p;

    dms_space_set_bounce_limit(f->space, 4096);
    p = map_ok(f->space, MSG_ADDR, 4096, FROM, 4096);
    map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    /* Direct maps never need budget. */
    {
        void *d = map_ok(f->space, RAM_ADDR, 4096, FROM, 4096);
        assert_int_equal(dms_space_unmap(f->space, d, 4096, FROM, 0), 0);
    }
    assert_int_equal(dms_space_unmap(f->space, p, 4096, FROM, 0), 0);
    p = map_ok(f->space, MSG_ADDR, 4096, FROM, 4096);
    assert_int_equal(dms_space_unmap(f->space, p, 4096, FROM, 0), 0);
    assert_int_equal(stats_of(f->space).bounce_high_water, 4096);
}

static void test_budget_limit_zero_fails_enobufs(void **state)
{
    Fix *f = *state;
    void *d;

    dms_space_set_bounce_limit(f->space, 0);
    assert_int_equal(dms_space_get_bounce_limit(f->space), 0);
    map_fails(f->space, MSG_ADDR, 64, TO, -ENOBUFS);
    assert_int_equal(stats_of(f->space).fail_no_budget, 1);
    assert_int_equal(stats_of(f->space).fail_exhausted, 0);
    d = map_ok(f->space, RAM_ADDR, 64, TO, 64);
    assert_int_equal(dms_space_unmap(f->space, d, 64, TO, 0), 0);
}

static void test_budget_lowered_while_lent_is_never_exceeded(void **state)
{
    Fix *f = *state;
    DmsSpaceStats st;
    void *p, *q;

    dms_space_set_bounce_limit(f->space, 8192);
    p = map_ok(f->space, MSG_ADDR, 6000, FROM, 6000);
    dms_space_set_bounce_limit(f->space, 4096);
    assert_int_equal(dms_space_get_bounce_limit(f->space), 4096);
    /* 6000 lent, limit 4096: QEMU's limit - used would wrap here. */
    map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    map_fails(f->space, MSG_ADDR, 100000, TO, -EAGAIN);
    st = stats_of(f->space);
    assert_int_equal(st.bounce_in_use, 6000);
    assert_int_equal(st.bounce_limit, 4096);
    assert_int_equal(dms_space_unmap(f->space, p, 6000, FROM, 0), 0);
    p = map_ok(f->space, MSG_ADDR, 5000, FROM, 4096);
    map_fails(f->space, MSG_ADDR, 1, FROM, -EAGAIN);
    /* Raised again: room for more. */
    dms_space_set_bounce_limit(f->space, 5000);
    q = map_ok(f->space, MSG_ADDR, 5000, TO, 904);
    assert_int_equal(dms_space_unmap(f->space, p, 4096, FROM, 0), 0);
    assert_int_equal(dms_space_unmap(f->space, q, 904, TO, 0), 0);
    assert_int_equal(stats_of(f->space).bounce_high_water, 6000);
}

static void test_pool_at_its_size_falls_back_to_separate_buffers(void **state)
{
    Fix *f = *state;
    enum { N = 40 };
    uint8_t *p[N], *small;

    dms_space_set_bounce_limit(f->space, 8u << 20);
    /* 40 x 64 KiB is more than the pool keeps (1 MiB). */
    for (int i = 0; i < N; i++) {
        p[i] = map_ok(f->space, MSG_ADDR, 65536, FROM, 65536);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(p[i], p[j]);
        assert_int_equal(p[i][0], 0);
        assert_int_equal(p[i][65535], 0);
        p[i][0] = (uint8_t)i;
    }
    /* A new size class has no chunk to come from either. */
    small = map_ok(f->space, MSG_ADDR + 8, 100, TO, 100);
    assert_memory_equal(small, f->msg_b->mem + 8, 100);
    refused(f, small + 1, 99, TO, 0);
    assert_int_equal(dms_space_unmap(f->space, small, 100, TO, 100), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(dms_space_unmap(f->space, p[i], 65536, FROM, 1), 0);
        assert_int_equal(f->msg_b->mem[0], (uint8_t)i);
    }
    assert_int_equal(stats_of(f->space).bounced_maps, N + 1);
}

/* ---- direct mappings that share a pointer ---- */

static void test_direct_range_mapped_twice_needs_two_unmaps(void **state)
{
    Fix *f = *state;
    void *a = map_ok(f->space, RAM_ADDR, 128, FROM, 128);
    void *b = map_ok(f->space, RAM_ADDR, 128, FROM, 128);
    void *c = map_ok(f->space, RAM_ADDR, 64, FROM, 64);

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
        p[i] = map_ok(f->space, RAM_ADDR + i * 16, 8, FROM, 8);
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
    assert_int_equal(stats_of(f->space).direct_maps, N);
    g_rand_free(rand);
    g_free(p);
}

static void test_direct_regions_sharing_host_memory_keep_counts(void **state)
{
    uint8_t mem[0x1000];
    int notified_a = 0, notified_b = 0;
    DmsRegion *root, *ra, *rb;
    DmsSpace *s;
    void *pa, *pb;
    (void)state;

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    assert_int_equal(dms_region_new_ram("a", mem, sizeof(mem), 0, count_notify,
                                        &notified_a, &ra),
                     0);
    assert_int_equal(dms_region_new_ram("b", mem, sizeof(mem), 0, count_notify,
                                        &notified_b, &rb),
                     0);
    assert_int_equal(dms_region_add_subregion(root, 0x1000, ra, 0, 0), 0);
    assert_int_equal(dms_region_add_subregion(root, 0x8000, rb, 0, 0), 0);
    assert_int_equal(dms_space_new(root, NULL, &s), 0);

    pa = map_ok(s, 0x1000, 256, TO, 256);
    pb = map_ok(s, 0x8000, 256, TO, 256);
    assert_ptr_equal(pa, pb);
    assert_int_equal(dms_region_remove_subregion(root, ra), 0);
    assert_int_equal(dms_region_remove_subregion(root, rb), 0);
    dms_region_unref(ra);
    dms_region_unref(rb);
    /* Each mapping still holds its own region. */
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

/* ---- lifetimes ---- */

static void test_region_removed_during_bounce_dma_gets_its_data(void **state)
{
    Fix *f = *state;
    Backend *b = backend_new(0x1000);
    DmsRegion *msg = message_region(b);
    uint8_t *p;

    assert_int_equal(dms_region_add_subregion(f->root, HOLE_ADDR, msg, 0, 0),
                     0);
    p = map_ok(f->space, HOLE_ADDR + 0x10, 0x100, FROM, 0x100);
    assert_int_equal(dms_region_remove_subregion(f->root, msg), 0);
    dms_region_unref(msg);
    assert_int_equal(b->notified, 0);
    /* The address now decodes to nothing ... */
    map_fails(f->space, HOLE_ADDR + 0x10, 1, TO, -EFAULT);
    /* ... but the DMA in flight still ends in the removed region. */
    memset(p, 0x42, 0x100);
    assert_int_equal(dms_space_unmap(f->space, p, 0x100, FROM, 0x80), 0);
    assert_int_equal(b->writes, 1);
    assert_int_equal(b->last_off, 0x10);
    assert_int_equal(b->last_len, 0x80);
    assert_int_equal(b->mem[0x10], 0x42);
    assert_int_equal(b->mem[0x8f], 0x42);
    assert_int_equal(b->mem[0x90], (uint8_t)(0x90 * 7 + 1));
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1); /* exactly once, after the unmap */
    backend_free(b);
}

static void
test_region_removed_during_direct_dma_lives_until_unmap(void **state)
{
    Fix *f = *state;
    uint8_t mem[256];
    int notified = 0;
    DmsRegion *ram;
    uint8_t *p;

    assert_int_equal(dms_region_new_ram("dma", mem, sizeof(mem), 0,
                                        count_notify, &notified, &ram),
                     0);
    assert_int_equal(dms_region_add_subregion(f->root, HOLE_ADDR, ram, 0, 0),
                     0);
    p = map_ok(f->space, HOLE_ADDR, 256, FROM, 256);
    assert_int_equal(dms_region_remove_subregion(f->root, ram), 0);
    dms_region_unref(ram);
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
    int notified = 0;
    DmsRegion *ram;

    assert_int_equal(dms_region_new_ram("gone", mem, sizeof(mem), 0,
                                        count_notify, &notified, &ram),
                     0);
    assert_int_equal(dms_region_add_subregion(f->root, HOLE_ADDR, ram, 0, 0),
                     0);
    /* Used once through the space, so its view references it. */
    assert_int_equal(dms_space_read(f->space, HOLE_ADDR, mem, 8, NULL, NULL),
                     0);
    dms_region_unref(ram);
    assert_int_equal(notified, 0);
    assert_int_equal(dms_region_remove_subregion(f->root, ram), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1);
}

/* A space over @msg at 0 and @ram (if any) at 0x1000, in container @root. */
static DmsSpace *space_of(DmsRegion *root, DmsRegion *msg, DmsRegion *ram)
{
    DmsSpace *s;

    assert_int_equal(dms_region_add_subregion(root, 0, msg, 0, 0), 0);
    if (ram)
        assert_int_equal(dms_region_add_subregion(root, 0x1000, ram, 0, 0), 0);
    assert_int_equal(dms_space_new(root, NULL, &s), 0);
    return s;
}

/*
 * A space whose last user reference went while a bounce mapping is live
 * still follows topology changes: a region removed meanwhile must not be
 * kept by the dying space's old view until that unmap.
 */
static void test_dying_space_does_not_keep_a_removed_region(void **state)
{
    Backend *b = backend_new(0x1000);
    uint8_t mem[64];
    int notified = 0;
    DmsRegion *root, *msg, *ram;
    DmsSpace *s;
    uint8_t *bp;
    (void)state;

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    msg = message_region(b);
    assert_int_equal(dms_region_new_ram("ram", mem, sizeof(mem), 0,
                                        count_notify, &notified, &ram),
                     0);
    s = space_of(root, msg, ram);
    bp = map_ok(s, 0x10, 0x20, TO, 0x20);
    dms_space_unref(s); /* the mapping keeps the space */
    dms_region_unref(ram);
    assert_int_equal(dms_region_remove_subregion(root, ram), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(notified, 1); /* not held until the unmap */
    assert_int_equal(dms_space_unmap(s, bp, 0x20, TO, 0), 0);
    assert_int_equal(b->notified, 0); /* root still holds it */
    dms_region_unref(msg);
    dms_region_unref(root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1);
    backend_free(b);
}

/*
 * A caller left with only a bounce mapping may take a new reference: the
 * space, retired when the last reference went, comes back and works.
 */
static void test_space_referenced_again_through_a_mapping_revives(void **state)
{
    Backend *b = backend_new(0x1000);
    DmsRegion *root, *msg;
    DmsSpace *s;
    uint8_t *bp, *q;
    (void)state;

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    msg = message_region(b);
    s = space_of(root, msg, NULL);
    dms_region_unref(msg);
    dms_region_unref(root);
    bp = map_ok(s, 0x10, 0x20, FROM, 0x20);
    dms_space_unref(s); /* the caller's last reference */
    assert_ptr_equal(dms_space_ref(s), s);
    memset(bp, 0x5a, 0x20);
    assert_int_equal(dms_space_unmap(s, bp, 0x20, FROM, 0x20), 0);
    assert_int_equal(b->mem[0x10], 0x5a);
    assert_int_equal(b->notified, 0); /* our new reference keeps it */
    assert_int_equal(stats_of(s).bounce_in_use, 0);
    q = map_ok(s, 0x40, 0x40, TO, 0x40);
    assert_int_equal(q[0], (uint8_t)(0x40 * 7 + 1));
    assert_int_equal(dms_space_unmap(s, q, 0x40, TO, 0), 0);
    dms_space_unref(s);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1); /* space, root and region gone */
    backend_free(b);
}

static void
test_space_dropped_with_live_mappings_lives_until_unmap(void **state)
{
    Backend *b = backend_new(0x1000);
    uint8_t mem[0x1000];
    int ram_notified = 0;
    DmsRegion *root, *msg, *ram;
    DmsSpace *s;
    uint8_t *bp, *dp;
    (void)state;

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    msg = message_region(b);
    assert_int_equal(dms_region_new_ram("ram", mem, sizeof(mem), 0,
                                        count_notify, &ram_notified, &ram),
                     0);
    s = space_of(root, msg, ram);
    bp = map_ok(s, 0x10, 0x20, FROM, 0x20);
    dp = map_ok(s, 0x1010, 0x20, FROM, 0x20);
    dms_region_unref(msg);
    dms_region_unref(ram);
    dms_region_unref(root);
    dms_space_unref(s); /* the caller's last reference */
    assert_int_equal(b->notified + ram_notified, 0);

    memset(bp, 0x99, 0x20);
    assert_int_equal(dms_space_unmap(s, bp, 0x20, FROM, 0x20), 0);
    assert_int_equal(b->mem[0x10], 0x99);
    assert_int_equal(b->notified + ram_notified, 0);
    /* The last mapping's unmap frees the space, and with it all. */
    assert_int_equal(dms_space_unmap(s, dp, 0x20, FROM, 0x20), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1);
    assert_int_equal(ram_notified, 1);
    backend_free(b);
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
    d = map_ok(f->space, RAM_ADDR, 10, TO, 10);
    f->msg_b->fail_read = EIO;
    map_fails(f->space, MSG_ADDR, 10, TO, -EIO);
    f->msg_b->fail_read = 0;
    p = map_ok(f->space, MSG_ADDR, 700, TO, 700);
    map_fails(f->space, HOLE_ADDR, 1, TO, -EFAULT);
    map_fails(f->space, ROM_ADDR, 1, FROM, -EACCES);
    refused(f, p, 1, TO, 0);
    st = stats_of(f->space);
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
    q = map_ok(f->space, MSG_ADDR, 700, TO, 300); /* partial: no failure */
    map_fails(f->space, MSG_ADDR, 700, TO, -EAGAIN);
    assert_int_equal(stats_of(f->space).fail_exhausted, 1);
    assert_int_equal(stats_of(f->space).bounce_high_water, 1000);
    assert_int_equal(stats_of(f->space).bounced_maps, 2);
    dms_space_set_bounce_limit(f->space, 0);
    map_fails(f->space, MSG_ADDR, 10, TO, -ENOBUFS);
    assert_int_equal(stats_of(f->space).fail_no_budget, 1);
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
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
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
        T(test_budget_default_lets_sixteen_64k_transfers_run),
        T(test_budget_grants_partial_buffers),
        T(test_budget_exact_fit_then_exhausted),
        T(test_budget_limit_zero_fails_enobufs),
        T(test_budget_lowered_while_lent_is_never_exceeded),
        T(test_pool_at_its_size_falls_back_to_separate_buffers),
        T(test_direct_range_mapped_twice_needs_two_unmaps),
        T(test_many_live_direct_maps_are_each_found),
        cmocka_unit_test(test_direct_regions_sharing_host_memory_keep_counts),
        T(test_region_removed_during_bounce_dma_gets_its_data),
        T(test_region_removed_during_direct_dma_lives_until_unmap),
        T(test_removing_a_region_releases_the_space_reference),
        cmocka_unit_test(
            test_space_dropped_with_live_mappings_lives_until_unmap),
        cmocka_unit_test(test_dying_space_does_not_keep_a_removed_region),
        cmocka_unit_test(
            test_space_referenced_again_through_a_mapping_revives),
        T(test_stats_count_every_outcome),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
