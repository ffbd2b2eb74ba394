/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reads, writes and checks through a space: RAM, bulk message regions,
 * register-style regions, and every error path of issue 2.
 */
#include "tc.h"

/* ---- what a backend does besides copying: reenter, remove itself ---- */

typedef struct Reenter {
    DmsSpace *space; /* read 4 bytes at @addr of it, result in @result */
    uint64_t addr;
    int result;
    DmsRegion *remove_from, *remove_self; /* remove once, if set */
} Reenter;

static int reenter_hook(MemDev *dev, const MemDevCall *call, void *data)
{
    Reenter *re = data;

    if (re->space) {
        uint8_t tmp[4];
        re->result = dms_space_read(re->space, re->addr, tmp, 4, NULL, NULL);
    }
    if (re->remove_self) {
        assert_int_equal(
            dms_region_remove_subregion(re->remove_from, re->remove_self), 0);
        re->remove_self = NULL;
    }
    return 0;
}

#define SEED 0

/* ---- fixture: RAM [0x1000, 0x3000), bulk [0x3000, 0x5000), gap, RO RAM
 * [0x8000, 0x9000) ---- */

typedef struct Fix {
    uint8_t ram[0x2000];
    uint8_t rom[0x1000];
    MemDev *bulk;
    Reenter re;
    DmsSpace *space;
} Fix;

static int fix_setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    for (size_t i = 0; i < sizeof(f->ram); i++)
        f->ram[i] = (uint8_t)i;
    memset(f->rom, 0xa5, sizeof(f->rom));
    f->bulk = tc_memdev(0x2000, SEED);
    f->bulk->hook = reenter_hook;
    f->bulk->hook_data = &f->re;
    f->space =
        tc_space("test",
                 (const LayoutPiece[]){
                     {.kind = LAYOUT_RAM,
                      .addr = 0x1000,
                      .host = f->ram,
                      .size = sizeof(f->ram)},
                     {.kind = LAYOUT_MESSAGE, .addr = 0x3000, .dev = f->bulk},
                     {.kind = LAYOUT_RAM,
                      .addr = 0x8000,
                      .name = "rom",
                      .host = f->rom,
                      .size = sizeof(f->rom),
                      .flags = DMS_RAM_READONLY},
                     {.kind = LAYOUT_END},
                 },
                 0, NULL);
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    Fix *f = *state;

    dms_space_unref(f->space);
    tc_memdev_free(f->bulk);
    g_free(f);
    return 0;
}

static void test_read_across_ram_and_message_is_exact(void **state)
{
    Fix *f = *state;
    uint8_t buf[0x2000];
    size_t done = 0;

    /* 0x2800..0x4800: 0x800 of RAM then 0x1800 of the message region */
    assert_int_equal(
        dms_space_read(f->space, 0x2800, buf, sizeof(buf), NULL, &done), 0);
    assert_int_equal(done, sizeof(buf));
    assert_memory_equal(buf, f->ram + 0x1800, 0x800);
    assert_memory_equal(buf + 0x800, f->bulk->mem, 0x1800);
    /* The whole message part went in one call: never 8-byte pieces. */
    assert_int_equal(f->bulk->calls, 1);
    assert_int_equal(f->bulk->log[0].len, 0x1800);
}

static void test_write_across_ram_and_message_lands_everywhere(void **state)
{
    Fix *f = *state;
    uint8_t buf[0x1000];

    memset(buf, 0x3c, sizeof(buf));
    assert_int_equal(
        dms_space_write(f->space, 0x2c00, buf, sizeof(buf), NULL, NULL), 0);
    for (size_t i = 0x1c00; i < 0x2000; i++)
        assert_int_equal(f->ram[i], 0x3c);
    assert_int_equal(f->ram[0x1bff], (uint8_t)0x1bff);
    for (size_t i = 0; i < 0xc00; i++)
        assert_int_equal(f->bulk->mem[i], 0x3c);
    assert_int_equal(f->bulk->mem[0xc00], memdev_pattern(0xc00, SEED));
    assert_int_equal(f->bulk->calls, 1);
}

static void test_max_access_splits_bulk_calls(void **state)
{
    MemDev *b = tc_memdev(4096, SEED);
    DmsMessageOps ops;
    DmsSpace *s;
    uint8_t buf[100];
    (void)state;

    memdev_bulk_ops(&ops, 32);
    s = tc_space(
        "split",
        (const LayoutPiece[]){
            {.kind = LAYOUT_MESSAGE, .addr = 0, .dev = b, .ops = &ops},
            {.kind = LAYOUT_END},
        },
        0, NULL);
    assert_int_equal(dms_space_read(s, 10, buf, sizeof(buf), NULL, NULL), 0);
    assert_memory_equal(buf, b->mem + 10, sizeof(buf));
    assert_int_equal(b->calls, 4);
    assert_int_equal(b->log[0].len, 32);
    assert_int_equal(b->log[3].len, 4);
    dms_space_unref(s);
    tc_memdev_free(b);
}

static void
test_read_of_gap_fails_with_efault_and_reports_progress(void **state)
{
    Fix *f = *state;
    uint8_t buf[0x1000];
    size_t done = 99;

    /* 0x4800..0x5800: 0x800 message bytes, then the gap at 0x5000 */
    assert_int_equal(
        dms_space_read(f->space, 0x4800, buf, sizeof(buf), NULL, &done),
        -EFAULT);
    assert_int_equal(done, 0x800);
    assert_int_equal(dms_space_read(f->space, 0x6000, buf, 1, NULL, &done),
                     -EFAULT);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_read(f->space, 0, buf, 1, NULL, NULL), -EFAULT);
}

static void test_write_to_readonly_ram_fails_and_leaves_it(void **state)
{
    Fix *f = *state;
    uint8_t buf[16];
    size_t done = 99;

    memset(buf, 0, sizeof(buf));
    assert_int_equal(
        dms_space_write(f->space, 0x8000, buf, sizeof(buf), NULL, &done),
        -EACCES);
    assert_int_equal(done, 0);
    for (size_t i = 0; i < sizeof(f->rom); i++)
        assert_int_equal(f->rom[i], 0xa5);
    /* Reading it is fine. */
    assert_int_equal(dms_space_read(f->space, 0x8ff0, buf, 16, NULL, NULL), 0);
    assert_int_equal(buf[15], 0xa5);
}

static void test_backend_error_propagates_with_progress(void **state)
{
    Fix *f = *state;
    uint8_t buf[0x1000];
    size_t done = 0;

    f->bulk->fail_call = 1;
    f->bulk->fail_call_errno = ENOTCONN;
    assert_int_equal(
        dms_space_read(f->space, 0x2800, buf, sizeof(buf), NULL, &done),
        -ENOTCONN);
    assert_int_equal(done, 0x800); /* the RAM part was read */
}

static void test_short_backend_counts_are_continued(void **state)
{
    Fix *f = *state;
    uint8_t buf[1000];

    f->bulk->short_len = 900; /* 100 bytes short of the 1000 asked */
    assert_int_equal(
        dms_space_read(f->space, 0x3000, buf, sizeof(buf), NULL, NULL), 0);
    assert_memory_equal(buf, f->bulk->mem, sizeof(buf));
    assert_true(f->bulk->calls > 1);
}

static void test_backend_returning_zero_or_too_much_is_eio(void **state)
{
    Fix *f = *state;
    uint8_t buf[64];
    size_t done = 99;

    f->bulk->reply_set = true;
    f->bulk->reply = 0x10000;
    assert_int_equal(
        dms_space_read(f->space, 0x3000, buf, sizeof(buf), NULL, &done), -EIO);
    assert_int_equal(done, 0);
    f->bulk->reply_set = false;
    f->bulk->fail_call = f->bulk->calls + 1;
    f->bulk->fail_call_errno = 0; /* returns -0 = 0 bytes */
    assert_int_equal(
        dms_space_write(f->space, 0x3000, buf, sizeof(buf), NULL, &done),
        -EIO);
    f->bulk->fail_call = 0;
    f->bulk->reply_set = true;
    f->bulk->reply = INT64_MIN;
    assert_int_equal(dms_space_read(f->space, 0x3000, buf, 8, NULL, NULL),
                     -EIO);
}

static void test_zero_length_succeeds_anywhere(void **state)
{
    Fix *f = *state;
    size_t done = 99;

    assert_int_equal(dms_space_read(f->space, 0x6000, NULL, 0, NULL, &done),
                     0);
    assert_int_equal(done, 0);
    assert_int_equal(
        dms_space_write(f->space, UINT64_MAX, NULL, 0, NULL, NULL), 0);
    assert_int_equal(
        dms_space_check(f->space, 0x6000, 0, DMS_DIR_TO_DEVICE, NULL), 0);
}

static void test_range_past_2_64_is_einval_not_wrap(void **state)
{
    Fix *f = *state;
    uint8_t buf[16];
    size_t done = 99;

    assert_int_equal(
        dms_space_read(f->space, UINT64_MAX - 3, buf, 16, NULL, &done),
        -EINVAL);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_write(f->space, UINT64_MAX, buf, 2, NULL, NULL),
                     -EINVAL);
    assert_int_equal(
        dms_space_check(f->space, 2, UINT64_MAX, DMS_DIR_TO_DEVICE, NULL),
        -EINVAL);
    /* Ending exactly at 2^64 is not past it: just unmapped here. */
    assert_int_equal(dms_space_read(f->space, UINT64_MAX, buf, 1, NULL, NULL),
                     -EFAULT);
}

static void test_last_byte_of_address_space_is_reachable(void **state)
{
    uint8_t mem[16], buf[16];
    DmsSpace *s;
    (void)state;

    memset(mem, 0x77, sizeof(mem));
    s = tc_space_ram("top", mem, 16, UINT64_MAX - 15, NULL, NULL);
    assert_int_equal(dms_space_read(s, UINT64_MAX - 15, buf, 16, NULL, NULL),
                     0);
    assert_memory_equal(buf, mem, 16);
    assert_int_equal(dms_space_write(s, UINT64_MAX, "\x42", 1, NULL, NULL), 0);
    assert_int_equal(mem[15], 0x42);
    dms_space_unref(s);
}

static void test_attrs_reach_backend_untouched(void **state)
{
    Fix *f = *state;
    DmsAttrs attrs = tc_attrs();
    uint8_t buf[8];

    assert_int_equal(dms_space_read(f->space, 0x3000, buf, 8, &attrs, NULL),
                     0);
    assert_true(f->bulk->last.has_attrs);
    assert_memory_equal(&f->bulk->last.attrs, &attrs, sizeof(attrs));
    assert_int_equal(dms_space_write(f->space, 0x3000, buf, 8, NULL, NULL), 0);
    assert_false(f->bulk->last.has_attrs);
}

static void test_check_has_no_side_effects_and_predicts_errors(void **state)
{
    Fix *f = *state;

    assert_int_equal(
        dms_space_check(f->space, 0x1000, 0x4000, DMS_DIR_FROM_DEVICE, NULL),
        0);
    assert_int_equal(
        dms_space_check(f->space, 0x1000, 0x4001, DMS_DIR_TO_DEVICE, NULL),
        -EFAULT);
    assert_int_equal(
        dms_space_check(f->space, 0x8000, 0x1000, DMS_DIR_TO_DEVICE, NULL), 0);
    assert_int_equal(
        dms_space_check(f->space, 0x8000, 0x1000, DMS_DIR_FROM_DEVICE, NULL),
        -EACCES);
    assert_int_equal(f->bulk->calls, 0);
}

/* A callback reading another region of its own space must not deadlock;
 * reading its own region is refused with -EDEADLK. */
static void test_callback_may_access_same_space(void **state)
{
    Fix *f = *state;
    uint8_t buf[8];

    f->re.space = f->space;
    f->re.addr = 0x1000; /* RAM */
    f->re.result = 1;
    assert_int_equal(dms_space_read(f->space, 0x3000, buf, 8, NULL, NULL), 0);
    assert_int_equal(f->re.result, 0);

    f->re.addr = 0x3100; /* its own region */
    assert_int_equal(dms_space_read(f->space, 0x3000, buf, 8, NULL, NULL), 0);
    assert_int_equal(f->re.result, -EDEADLK);
    f->re.space = NULL;
}

/* The vfio-user disconnect case: the backend removes its own region from
 * inside the access. The access completes; the region dies afterwards. */
static void test_callback_may_remove_its_own_region(void **state)
{
    MemDev *b = tc_memdev(4096, SEED);
    Reenter re = {0};
    DmsRegion *root, *msg;
    DmsSpace *s;
    uint8_t buf[8];
    (void)state;

    s = tc_space_msg("remove", b, 0, 0, &msg, &root);
    b->hook = reenter_hook;
    b->hook_data = &re;
    re.remove_from = root;
    re.remove_self = msg; /* still valid: the container holds a reference */
    msg = dms_region_unref(msg);
    assert_int_equal(dms_space_read(s, 0, buf, 8, NULL, NULL), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(b->notified, 1); /* gone once the access ended */
    assert_int_equal(dms_space_read(s, 0, buf, 8, NULL, NULL), -EFAULT);
    dms_space_unref(s);
    dms_region_unref(root);
    tc_memdev_free(b);
}

/* ---- register-style regions ---- */

/*
 * A space with 64 bytes of registers at 0x100, holding 0x10 + i, in
 * @endian, callers' sizes @valid, the device's @impl.
 */
typedef struct Regs {
    MemDev *dev;
    DmsSpace *space;
} Regs;

static Regs regs_new(DmsEndian endian, DmsAccessSizes valid,
                     DmsAccessSizes impl)
{
    DmsMessageOps ops;
    Regs r = {.dev = tc_memdev(64, 0)};

    for (size_t i = 0; i < 64; i++)
        r.dev->mem[i] = (uint8_t)(0x10 + i);
    memdev_register_ops(r.dev, &ops, endian, valid, impl);
    r.space = tc_space("regs",
                       (const LayoutPiece[]){
                           {.kind = LAYOUT_MESSAGE,
                            .addr = 0x100,
                            .name = "regs",
                            .dev = r.dev,
                            .ops = &ops},
                           {.kind = LAYOUT_END},
                       },
                       0, NULL);
    return r;
}

static void regs_free(Regs *r)
{
    dms_space_unref(r->space);
    tc_memdev_free(r->dev);
}

/*
 * Reads @len bytes at @addr of @r, which must give the bytes stored
 * there, in the @n device calls @pieces lists as (length, offset).
 */
static void read_regs(const Regs *r, uint64_t addr, size_t len,
                      const uint64_t (*pieces)[2], unsigned n)
{
    uint8_t buf[64];

    assert_true(len <= sizeof(buf));
    assert_int_equal(dms_space_read(r->space, addr, buf, len, NULL, NULL), 0);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(buf[i], 0x10 + (addr - 0x100) + i);
    assert_int_equal(r->dev->calls, n);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(r->dev->log[i].len, pieces[i][0]);
        assert_int_equal(r->dev->log[i].offset, pieces[i][1]);
    }
}
/* read_regs() with the pieces inline, as {length, offset}... */
#define READ_REGS(r, addr, len, ...)                                          \
    read_regs((r), (addr), (len), (const uint64_t[][2]){__VA_ARGS__},         \
              sizeof((const uint64_t[][2]){__VA_ARGS__}) /                    \
                  sizeof(uint64_t[2]))

static void test_register_bytes_are_memory_order_for_each_endian(void **state)
{
    static const DmsEndian endians[] = {DMS_ENDIAN_LITTLE, DMS_ENDIAN_BIG,
                                        DMS_ENDIAN_HOST};
    (void)state;

    for (size_t e = 0; e < 3; e++) {
        Regs r = regs_new(endians[e], (DmsAccessSizes){1, 8, false},
                          (DmsAccessSizes){1, 8, false});
        uint8_t buf[8];

        /* Whatever the device order, the bytes read are the bytes stored:
         * the value round trip through the callback must not swap them. */
        READ_REGS(&r, 0x108, 8, {8, 8});

        /* A 32-bit value a device writes little-endian... */
        dms_le32_store(buf, 0x11223344);
        assert_int_equal(dms_space_write(r.space, 0x110, buf, 4, NULL, NULL),
                         0);
        assert_int_equal(dms_le32_load(r.dev->mem + 0x10), 0x11223344);
        regs_free(&r);
    }
}

/*
 * What a vfio-user device region (dms_vfu_setup_region()) puts on the
 * wire: a little-endian register holding the value V reads as the bytes of
 * V, least significant first, and those bytes written back are V again,
 * whatever the host's byte order. The cross stage runs this on s390x.
 */
static int le_reg_read(void *opaque, uint64_t offset, uint64_t *value,
                       unsigned size, const DmsAttrs *attrs)
{
    *value = *(uint32_t *)opaque;
    return 0;
}

static int le_reg_write(void *opaque, uint64_t offset, uint64_t value,
                        unsigned size, const DmsAttrs *attrs)
{
    *(uint32_t *)opaque = (uint32_t)value;
    return 0;
}

static void
test_little_endian_register_is_little_endian_on_any_host(void **state)
{
    static const DmsMessageOps ops = {
        .size = sizeof(DmsMessageOps),
        .read_value = le_reg_read,
        .write_value = le_reg_write,
        .endian = DMS_ENDIAN_LITTLE,
        .valid = {4, 4, false},
        .impl = {4, 4, false},
    };
    static const uint8_t wire[4] = {0x44, 0x33, 0x22, 0x11};
    uint32_t reg = 0x11223344;
    uint8_t buf[4];
    DmsRegion *r;
    DmsSpace *s;
    (void)state;

    assert_int_equal(dms_region_new_message("bar0", 4, &ops, &reg, NULL, &r),
                     0);
    assert_int_equal(dms_space_new(r, "bar0", &s), 0);
    assert_int_equal(dms_space_read(s, 0, buf, 4, NULL, NULL), 0);
    assert_memory_equal(buf, wire, 4);
    reg = 0;
    assert_int_equal(dms_space_write(s, 0, wire, 4, NULL, NULL), 0);
    assert_int_equal(reg, 0x11223344);
    dms_space_unref(s);
    dms_region_unref(r);
}

static void test_register_value_seen_by_backend_uses_device_order(void **state)
{
    Regs r = regs_new(DMS_ENDIAN_BIG, (DmsAccessSizes){4, 4, false},
                      (DmsAccessSizes){4, 4, false});
    uint8_t buf[4] = {0x12, 0x34, 0x56, 0x78};
    (void)state;

    /* Bytes 12 34 56 78 in memory are the value 0x12345678 to a big-endian
     * device: its register holds that value, big-endian. */
    assert_int_equal(dms_space_write(r.space, 0x100, buf, 4, NULL, NULL), 0);
    assert_int_equal(dms_be32_load(r.dev->mem), 0x12345678);
    regs_free(&r);
}

/*
 * A read the library must split: @len bytes at @addr of registers in
 * @endian, with callers' sizes @valid and the device's @impl, reach the
 * device as @pieces, each {length, offset} (a length of 0 ends them).
 */
typedef struct RegSplit {
    DmsEndian endian;
    DmsAccessSizes valid, impl;
    uint64_t addr;
    size_t len;
    uint64_t pieces[4][2];
} RegSplit;

static void test_register_split(void **state)
{
    const RegSplit *c = *state;
    Regs r = regs_new(c->endian, c->valid, c->impl);
    unsigned n = 0;

    while (n < G_N_ELEMENTS(c->pieces) && c->pieces[n][0])
        n++;
    read_regs(&r, c->addr, c->len, c->pieces, n);
    regs_free(&r);
}

/* A cmocka test named @test: test_register_split() of the RegSplit @c. */
#define REG_SPLIT_TEST(test, c)                                               \
    {                                                                         \
        .name = #test, .test_func = test_register_split,                      \
        .initial_state = &(c)                                                 \
    }

/* One case a row: endian, valid, impl; addr, len, pieces. */
/* clang-format off */
static RegSplit split_larger_than_impl = {
    DMS_ENDIAN_BIG, {1, 8, false}, {1, 2, false},
    0x100, 8, {{2, 0}, {2, 2}, {2, 4}, {2, 6}}};
/* 0x101..0x10b: alignment forces the pieces. */
static RegSplit split_long_range = {
    DMS_ENDIAN_LITTLE, {1, 4, false}, {1, 4, false},
    0x101, 11, {{1, 1}, {2, 2}, {4, 4}, {4, 8}}};
/* A 4-byte access at 0x103 is valid; the backend gets aligned pieces. */
static RegSplit split_unaligned_valid = {
    DMS_ENDIAN_LITTLE, {1, 4, true}, {1, 4, false},
    0x103, 4, {{1, 3}, {2, 4}, {1, 6}}};
/* clang-format on */

static void
test_register_narrow_read_is_widened_narrow_write_refused(void **state)
{
    Regs r = regs_new(DMS_ENDIAN_BIG, (DmsAccessSizes){1, 4, false},
                      (DmsAccessSizes){4, 4, false});
    uint8_t b = 0, before[64];
    (void)state;

    assert_int_equal(dms_space_read(r.space, 0x106, &b, 1, NULL, NULL), 0);
    assert_int_equal(b, 0x16);
    assert_int_equal(r.dev->log[0].len, 4);
    assert_int_equal(r.dev->log[0].offset, 4);

    memcpy(before, r.dev->mem, sizeof(before));
    assert_int_equal(dms_space_write(r.space, 0x106, &b, 1, NULL, NULL),
                     -EOPNOTSUPP);
    assert_memory_equal(before, r.dev->mem, sizeof(before));
    assert_int_equal(
        dms_space_check(r.space, 0x106, 1, DMS_DIR_FROM_DEVICE, NULL),
        -EOPNOTSUPP);
    assert_int_equal(
        dms_space_check(r.space, 0x106, 1, DMS_DIR_TO_DEVICE, NULL), 0);
    regs_free(&r);
}

static void test_register_sizes_callers_may_not_use_are_refused(void **state)
{
    Regs r = regs_new(DMS_ENDIAN_LITTLE, (DmsAccessSizes){4, 4, false},
                      (DmsAccessSizes){4, 4, false});
    uint8_t buf[8] = {0};
    size_t done = 99;
    (void)state;

    assert_int_equal(dms_space_read(r.space, 0x100, buf, 2, NULL, &done),
                     -EOPNOTSUPP);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_read(r.space, 0x102, buf, 4, NULL, NULL),
                     -EOPNOTSUPP); /* unaligned */
    assert_int_equal(dms_space_read(r.space, 0x100, buf, 6, NULL, &done),
                     -EOPNOTSUPP);
    assert_int_equal(done, 4); /* the first word was read */
    assert_int_equal(r.dev->calls, 1);
    assert_int_equal(
        dms_space_check(r.space, 0x100, 8, DMS_DIR_TO_DEVICE, NULL), 0);
    assert_int_equal(
        dms_space_check(r.space, 0x100, 6, DMS_DIR_TO_DEVICE, NULL),
        -EOPNOTSUPP);
    assert_int_equal(r.dev->calls, 1);
    regs_free(&r);
}

/* A check longer than SIZE_MAX on a 32-bit host must not be cut short
 * (it once was, to an odd length that a 2-byte minimum refused). */
static void test_register_check_of_huge_range_is_exact(void **state)
{
    DmsAccessSizes sizes = {2, 4, false};
    MemDev *none;
    DmsMessageOps ops;
    DmsSpace *s;
    (void)state;

    /* Checks call no backend: a device with no memory at all. */
    assert_int_equal(memdev_new(0, MEMDEV_ABSENT, &none), 0);
    memdev_register_ops(none, &ops, DMS_ENDIAN_LITTLE, sizes, sizes);
    s = tc_space("big",
                 (const LayoutPiece[]){
                     {.kind = LAYOUT_MESSAGE,
                      .addr = 0,
                      .name = "big",
                      .size = UINT64_C(1) << 33,
                      .dev = none,
                      .ops = &ops},
                     {.kind = LAYOUT_END},
                 },
                 0, NULL);
    assert_int_equal(
        dms_space_check(s, 0, UINT64_C(1) << 33, DMS_DIR_TO_DEVICE, NULL), 0);
    assert_int_equal(dms_space_check(s, 0, (UINT64_C(1) << 33) - 1,
                                     DMS_DIR_TO_DEVICE, NULL),
                     -EOPNOTSUPP);
    assert_int_equal(dms_space_check(s, 2, (UINT64_C(1) << 33) - 2,
                                     DMS_DIR_FROM_DEVICE, NULL),
                     0);
    dms_space_unref(s);
    tc_memdev_free(none);
}

static void test_message_ops_validation(void **state)
{
    DmsMessageOps ops, regs;
    DmsRegion *r = (DmsRegion *)&r;
    MemDev *none;
    (void)state;

    assert_int_equal(memdev_new(0, MEMDEV_ABSENT, &none), 0);
    memdev_register_ops(none, &regs, DMS_ENDIAN_LITTLE, (DmsAccessSizes){0},
                        (DmsAccessSizes){0});
    memdev_bulk_ops(&ops, 0);
    ops.write = NULL;
    /* bulk read without write */
    assert_int_equal(dms_region_new_message("x", 16, &ops, NULL, NULL, &r),
                     -EINVAL);
    assert_null(r);
    ops.read = NULL;
    ops.read_value = regs.read_value;
    ops.write_value = regs.write_value;
    ops.valid.max_access = 3;
    assert_int_equal(dms_region_new_message("x", 16, &ops, NULL, NULL, &r),
                     -EINVAL);
    ops.valid.max_access = 2;
    ops.valid.min_access = 4;
    assert_int_equal(dms_region_new_message("x", 16, &ops, NULL, NULL, &r),
                     -EINVAL);
    ops.valid.min_access = 0;
    ops.flags = 0x100;
    assert_int_equal(dms_region_new_message("x", 16, &ops, NULL, NULL, &r),
                     -EINVAL);
    ops.flags = 0;
    ops.size = 8;
    assert_int_equal(dms_region_new_message("x", 16, &ops, NULL, NULL, &r),
                     -EINVAL);
    ops.size = sizeof(ops);
    assert_int_equal(dms_region_new_message("x", 16, &ops, NULL, NULL, &r), 0);
    dms_region_unref(r);
    memdev_free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fix_setup, fix_teardown)
        T(test_read_across_ram_and_message_is_exact),
        T(test_write_across_ram_and_message_lands_everywhere),
        cmocka_unit_test(test_max_access_splits_bulk_calls),
        T(test_read_of_gap_fails_with_efault_and_reports_progress),
        T(test_write_to_readonly_ram_fails_and_leaves_it),
        T(test_backend_error_propagates_with_progress),
        T(test_short_backend_counts_are_continued),
        T(test_backend_returning_zero_or_too_much_is_eio),
        T(test_zero_length_succeeds_anywhere),
        T(test_range_past_2_64_is_einval_not_wrap),
        cmocka_unit_test(test_last_byte_of_address_space_is_reachable),
        T(test_attrs_reach_backend_untouched),
        T(test_check_has_no_side_effects_and_predicts_errors),
        T(test_callback_may_access_same_space),
        cmocka_unit_test(test_callback_may_remove_its_own_region),
        cmocka_unit_test(test_register_bytes_are_memory_order_for_each_endian),
        cmocka_unit_test(
            test_register_value_seen_by_backend_uses_device_order),
        cmocka_unit_test(
            test_little_endian_register_is_little_endian_on_any_host),
        REG_SPLIT_TEST(test_register_access_larger_than_impl_is_split,
                       split_larger_than_impl),
        REG_SPLIT_TEST(test_register_long_range_uses_valid_max_pieces,
                       split_long_range),
        cmocka_unit_test(
            test_register_narrow_read_is_widened_narrow_write_refused),
        cmocka_unit_test(test_register_sizes_callers_may_not_use_are_refused),
        cmocka_unit_test(test_register_check_of_huge_range_is_exact),
        REG_SPLIT_TEST(test_register_unaligned_allowed_when_valid_says_so,
                       split_unaligned_valid),
        cmocka_unit_test(test_message_ops_validation),
#undef T
    };

    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
