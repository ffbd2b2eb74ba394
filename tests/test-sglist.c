/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scatter-gather lists, the copies with their residual, and the typed
 * accesses and fill: over RAM, bulk message regions, register-style
 * regions, holes and the very top of the address space.
 */
#include "tc.h"

/*
 * The space:
 *   [0x1000, 0x3000)        RAM
 *   [0x3000, 0x5000)        bulk message region
 *   [0x5000, 0x6000)        nothing
 *   [0x6000, 0x6040)        register-style region, 4-byte LE registers
 *   [2^64 - 0x100, 2^64)    RAM at the very top
 */
#define RAM_BASE 0x1000u
#define MSG_BASE 0x3000u
#define HOLE_BASE 0x5000u
#define REGS_BASE 0x6000u
#define TOP_BASE (UINT64_MAX - 0xffu)

typedef struct Fix {
    uint8_t ram[0x2000];
    uint8_t top[0x100];
    MemDev *bulk; /* memdev_pattern(i, 0) */
    MemDev *regs; /* 16 registers, little-endian, 4 bytes only */
    DmsRegion *root;
    DmsSpace *space;
    DmsSgList *sg; /* an empty list of the space, for the test to fill */
} Fix;

/* Adds @r to the space at @at; the container keeps the only reference. */
static void add_region(Fix *f, uint64_t at, DmsRegion *r)
{
    assert_int_equal(dms_region_add_subregion(f->root, at, r, 0, 0), 0);
    dms_region_unref(r);
}

static int fix_setup(void **state)
{
    Fix *f = g_new0(Fix, 1);
    const DmsAccessSizes four = {.min_access = 4, .max_access = 4};
    DmsMessageOps regs_ops;

    for (size_t i = 0; i < sizeof(f->ram); i++)
        f->ram[i] = (uint8_t)(i * 3 + 1);
    for (size_t i = 0; i < sizeof(f->top); i++)
        f->top[i] = (uint8_t)(0x80 + i);
    f->bulk = tc_memdev(0x2000, 0);
    f->regs = tc_memdev(0x40, 0);
    memset(f->regs->mem, 0, 0x40);
    memdev_register_ops(f->regs, &regs_ops, DMS_ENDIAN_LITTLE, four, four);
    f->space = tc_space("sg",
                        (const LayoutPiece[]){
                            {.kind = LAYOUT_RAM,
                             .addr = RAM_BASE,
                             .host = f->ram,
                             .size = sizeof(f->ram)},
                            {.kind = LAYOUT_MESSAGE,
                             .addr = MSG_BASE,
                             .name = "bulk",
                             .dev = f->bulk},
                            {.kind = LAYOUT_MESSAGE,
                             .addr = REGS_BASE,
                             .name = "regs",
                             .dev = f->regs,
                             .ops = &regs_ops},
                            {.kind = LAYOUT_RAM,
                             .addr = TOP_BASE,
                             .name = "top",
                             .host = f->top,
                             .size = sizeof(f->top)},
                            {.kind = LAYOUT_END},
                        },
                        0, &f->root);
    assert_int_equal(dms_sglist_new(f->space, 0, &f->sg), 0);
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    Fix *f = *state;

    dms_sglist_unref(f->sg);
    dms_space_unref(f->space);
    dms_region_unref(f->root);
    tc_memdev_free(f->bulk);
    tc_memdev_free(f->regs);
    g_free(f);
    return 0;
}

static DmsSgList *new_list(Fix *f)
{
    DmsSgList *sg;

    assert_int_equal(dms_sglist_new(f->space, 0, &sg), 0);
    return sg;
}

/* Adds the (addr, len) entries given, each of which must be taken. */
static void add_entries(DmsSgList *sg, const uint64_t (*e)[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dms_sglist_add(sg, e[i][0], e[i][1]), 0);
}
#define ADD_ENTRIES(sg, ...)                                                  \
    add_entries((sg), (const uint64_t[][2]){__VA_ARGS__},                     \
                sizeof((const uint64_t[][2]){__VA_ARGS__}) /                  \
                    sizeof(uint64_t[2]))

/*
 * A copy with @copy (dms_sglist_read, dms_sglist_write...) that must
 * return @err and set the residual to @want, failure or not.
 */
#define COPY_GIVES(copy, sg, buf, len, err, want)                             \
    do {                                                                      \
        uint64_t residual_ = UINT64_MAX - 1;                                  \
        assert_int_equal(copy((sg), (buf), (len), NULL, &residual_), (err));  \
        assert_int_equal(residual_, (want));                                  \
    } while (0)

/*
 * The typed load @load of @type at @addr must return @err and give @want
 * (0 on failure), over whatever the variable held before.
 */
#define LOAD_GIVES(load, type, space, addr, err, want)                        \
    do {                                                                      \
        type value_ = (type) ~(type)(want);                                   \
        assert_int_equal(load((space), (addr), &value_, NULL), (err));        \
        assert_int_equal(value_, (want));                                     \
    } while (0)

/* ---- the list ---- */

static void test_list_counts_entries_and_size(void **state)
{
    Fix *f = *state;
    DmsSgList *sg;
    const DmsSgEntry *e;

    assert_int_equal(dms_sglist_new(f->space, 2, &sg), 0);
    assert_ptr_equal(dms_sglist_get_space(sg), f->space);
    assert_int_equal(dms_sglist_get_count(sg), 0);
    assert_int_equal(dms_sglist_get_size(sg), 0);
    /* More than the hint and more than the first growth step. */
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(dms_sglist_add(sg, RAM_BASE + i, i + 1), 0);
    assert_int_equal(dms_sglist_get_count(sg), 100);
    assert_int_equal(dms_sglist_get_size(sg), 100 * 101 / 2);
    e = dms_sglist_get_entry(sg, 41);
    assert_non_null(e);
    assert_int_equal(e->addr, RAM_BASE + 41);
    assert_int_equal(e->len, 42);
    assert_null(dms_sglist_get_entry(sg, 100));

    assert_int_equal(dms_sglist_clear(sg), 0);
    assert_int_equal(dms_sglist_get_count(sg), 0);
    assert_int_equal(dms_sglist_get_size(sg), 0);
    assert_ptr_equal(dms_sglist_ref(sg), sg);
    assert_null(dms_sglist_unref(sg));
    assert_null(dms_sglist_unref(sg));
    assert_null(dms_sglist_unref(NULL));
}

static void test_list_keeps_its_space_alive(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = new_list(f);
    uint8_t buf[4];

    /* The fixture's reference goes; the list's must keep the space. */
    f->space = dms_space_unref(f->space);
    assert_int_equal(dms_sglist_add(sg, RAM_BASE, sizeof(buf)), 0);
    assert_int_equal(dms_sglist_read(sg, buf, sizeof(buf), NULL, NULL), 0);
    assert_memory_equal(buf, f->ram, sizeof(buf));
    dms_sglist_unref(sg);
}

static void test_zero_length_entry_is_not_stored(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;

    assert_int_equal(dms_sglist_add(sg, RAM_BASE, 0), 0);
    /* Even at the last address: 0 bytes there do not wrap. */
    assert_int_equal(dms_sglist_add(sg, UINT64_MAX, 0), 0);
    assert_int_equal(dms_sglist_get_count(sg), 0);
}

static void test_entry_that_wraps_is_refused(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;

    assert_int_equal(dms_sglist_add(sg, RAM_BASE, 16), 0);
    assert_int_equal(dms_sglist_add(sg, UINT64_MAX, 2), -EINVAL);
    assert_int_equal(dms_sglist_add(sg, 2, UINT64_MAX), -EINVAL);
    assert_int_equal(dms_sglist_add(sg, TOP_BASE, 0x101), -EINVAL);
    /* Refusals leave the list as it was. */
    assert_int_equal(dms_sglist_get_count(sg), 1);
    assert_int_equal(dms_sglist_get_size(sg), 16);
    /* Ending exactly at 2^64 is fine, and so is a whole-space entry. */
    ADD_ENTRIES(sg, {TOP_BASE, 0x100}, {UINT64_MAX, 1});
    assert_int_equal(dms_sglist_get_size(sg), 16 + 0x100 + 1);
}

static void test_total_past_64_bits_is_refused(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;

    assert_int_equal(dms_sglist_add(sg, 0, UINT64_MAX), 0);
    assert_int_equal(dms_sglist_add(sg, 0, 1), -EOVERFLOW);
    assert_int_equal(dms_sglist_get_count(sg), 1);
    assert_int_equal(dms_sglist_get_size(sg), UINT64_MAX);
}

/* ---- copies ---- */

static void test_read_gathers_ram_entries_in_order(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[300], want[300];

    /* Out of address order on purpose: the list order is what counts. */
    ADD_ENTRIES(sg, {RAM_BASE + 0x1000, 100}, {RAM_BASE + 0x10, 150},
                {RAM_BASE + 0x1f00, 50});
    memcpy(want, f->ram + 0x1000, 100);
    memcpy(want + 100, f->ram + 0x10, 150);
    memcpy(want + 250, f->ram + 0x1f00, 50);

    COPY_GIVES(dms_sglist_read, sg, buf, sizeof(buf), 0, 0);
    assert_memory_equal(buf, want, sizeof(want));
}

static void test_write_scatters_into_message_region(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x300];

    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(0xa0 ^ i);
    ADD_ENTRIES(sg, {MSG_BASE + 0x1000, 0x100}, {MSG_BASE, 0x200});

    COPY_GIVES(dms_sglist_write, sg, buf, sizeof(buf), 0, 0);
    assert_memory_equal(f->bulk->mem + 0x1000, buf, 0x100);
    assert_memory_equal(f->bulk->mem, buf + 0x100, 0x200);
    /* One backend call per entry, each of the entry's full length. */
    assert_int_equal(f->bulk->calls, 2);
    assert_int_equal(f->bulk->log[0].len, 0x100);
    assert_int_equal(f->bulk->log[1].len, 0x200);
}

static void test_mixed_list_round_trips(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    DmsAttrs attrs = {.flags = DMS_ATTR_REQUESTER_VALID, .requester_id = 42};
    uint8_t out[0x600], in[0x600];
    uint64_t residual = 99;

    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 13 + 7);
    /* RAM, then one entry straddling RAM and message, then message. */
    ADD_ENTRIES(sg, {RAM_BASE + 0x100, 0x100}, {MSG_BASE - 0x80, 0x200},
                {MSG_BASE + 0x1800, 0x300});

    assert_int_equal(
        dms_sglist_write_relaxed(sg, out, sizeof(out), &attrs, &residual), 0);
    assert_int_equal(residual, 0);
    assert_int_equal(f->bulk->last.attrs.requester_id, 42);
    assert_memory_equal(f->ram + 0x100, out, 0x100);
    assert_memory_equal(f->ram + 0x2000 - 0x80, out + 0x100, 0x80);
    assert_memory_equal(f->bulk->mem, out + 0x180, 0x180);
    assert_memory_equal(f->bulk->mem + 0x1800, out + 0x300, 0x300);

    memset(in, 0, sizeof(in));
    assert_int_equal(
        dms_sglist_read_relaxed(sg, in, sizeof(in), &attrs, &residual), 0);
    assert_int_equal(residual, 0);
    assert_memory_equal(in, out, sizeof(out));
}

static void test_short_buffer_leaves_a_residual(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x280];

    memset(buf, 0x55, sizeof(buf));
    ADD_ENTRIES(sg, {RAM_BASE, 0x100}, {MSG_BASE, 0x100});
    /* 0x150 of 0x200 bytes: the copy stops inside the second entry. */
    COPY_GIVES(dms_sglist_read, sg, buf, 0x150, 0, 0xb0);
    assert_memory_equal(buf, f->ram, 0x100);
    assert_memory_equal(buf + 0x100, f->bulk->mem, 0x50);
    assert_int_equal(buf[0x150], 0x55);
    assert_int_equal(f->bulk->log[0].len, 0x50);

    /* A buffer longer than the list copies the list and no more. */
    COPY_GIVES(dms_sglist_write, sg, buf, sizeof(buf), 0, 0);
}

static void test_unmapped_entry_stops_copy_with_residual(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x300];

    memset(buf, 0x55, sizeof(buf));
    ADD_ENTRIES(sg, {RAM_BASE, 0x100}, {HOLE_BASE, 0x100},
                {RAM_BASE + 0x100, 0x100});

    COPY_GIVES(dms_sglist_read, sg, buf, sizeof(buf), -EFAULT, 0x200);
    assert_memory_equal(buf, f->ram, 0x100);
    /* Nothing past the failed entry was copied. */
    for (size_t i = 0x100; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0x55);
}

static void test_entry_running_into_a_hole_counts_its_first_part(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x200];

    /* 0x80 bytes of message region, then the hole. */
    assert_int_equal(dms_sglist_add(sg, HOLE_BASE - 0x80, 0x100), 0);
    memset(buf, 0x11, sizeof(buf));
    COPY_GIVES(dms_sglist_write, sg, buf, 0x100, -EFAULT, 0x80);
    assert_memory_equal(f->bulk->mem + 0x2000 - 0x80, buf, 0x80);
}

static void test_backend_error_in_middle_entry_is_returned(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x300];

    ADD_ENTRIES(sg, {MSG_BASE, 0x100}, {MSG_BASE + 0x400, 0x100},
                {RAM_BASE, 0x100});
    f->bulk->fail_call = 2;
    f->bulk->fail_call_errno = EIO;
    memset(buf, 0x55, sizeof(buf));

    COPY_GIVES(dms_sglist_read, sg, buf, sizeof(buf), -EIO, 0x200);
    assert_memory_equal(buf, f->bulk->mem, 0x100);
    assert_int_equal(buf[0x200], 0x55);
    /* The copy stopped: the RAM entry after the failure was not read. */
    assert_int_equal(f->bulk->calls, 2);
}

static void test_entry_ending_at_top_of_space_is_copied(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x40];

    assert_int_equal(dms_sglist_add(sg, UINT64_MAX - 0x3f, 0x40), 0);
    COPY_GIVES(dms_sglist_read, sg, buf, sizeof(buf), 0, 0);
    assert_memory_equal(buf, f->top + 0xc0, 0x40);
}

static void test_empty_list_copies_nothing(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    uint8_t buf[16];

    memset(buf, 0x55, sizeof(buf));
    COPY_GIVES(dms_sglist_read, sg, buf, sizeof(buf), 0, 0);
    assert_int_equal(buf[0], 0x55);
    COPY_GIVES(dms_sglist_write, sg, NULL, 0, 0, 0);
    assert_int_equal(f->bulk->calls, 0);
}

static void ignore_critical(const gchar *domain, GLogLevelFlags level,
                            const gchar *message, gpointer data)
{
    (*(unsigned *)data)++;
}

/* The residual is documented as set on failure: also on this one. */
static void test_null_buffer_is_refused_with_residual(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    unsigned criticals = 0;
    guint h = g_log_set_handler("dmaspace", G_LOG_LEVEL_CRITICAL,
                                ignore_critical, &criticals);

    assert_int_equal(dms_sglist_add(sg, RAM_BASE, 0x20), 0);
    COPY_GIVES(dms_sglist_read, sg, NULL, 0x10, -EINVAL, 0x20);
    COPY_GIVES(dms_sglist_write_relaxed, sg, NULL, 0x10, -EINVAL, 0x20);
    assert_int_equal(criticals, 2);
    g_log_remove_handler("dmaspace", h);
}

static void test_copy_into_read_only_is_refused_with_residual(void **state)
{
    Fix *f = *state;
    uint8_t rom[0x100] = {0};
    DmsRegion *r;
    DmsSgList *sg = f->sg;
    uint8_t buf[0x200];

    assert_int_equal(dms_region_new_ram("rom", rom, sizeof(rom),
                                        DMS_RAM_READONLY, NULL, NULL, &r),
                     0);
    add_region(f, 0x8000, r);
    memset(buf, 0x77, sizeof(buf));
    ADD_ENTRIES(sg, {RAM_BASE, 0x100}, {0x8000, 0x100});
    COPY_GIVES(dms_sglist_write, sg, buf, sizeof(buf), -EACCES, 0x100);
    assert_int_equal(f->ram[0], 0x77);
    assert_int_equal(rom[0], 0);
}

static void test_write_marks_ram_dirty(void **state)
{
    Fix *f = *state;
    DmsSgList *sg = f->sg;
    DmsRegion *ram = NULL;
    uint8_t buf[8] = {0};
    uint8_t store[0x1000];
    uint64_t bits = 0;

    assert_int_equal(dms_region_new_ram("logged", store, sizeof(store), 0,
                                        NULL, NULL, &ram),
                     0);
    assert_int_equal(dms_region_enable_dirty_log(ram, 0x100), 0);
    assert_int_equal(dms_region_add_subregion(f->root, 0x10000, ram, 0, 0), 0);
    ADD_ENTRIES(sg, {0x10000 + 0x300, 4}, {0x10000 + 0xa00, 4});
    assert_int_equal(dms_sglist_write(sg, buf, sizeof(buf), NULL, NULL), 0);
    assert_int_equal(dms_region_take_dirty_log(ram, &bits, 64), 16);
    assert_int_equal(bits, (1u << 3) | (1u << 10));
    dms_region_unref(ram);
}

/* ---- typed accesses ---- */

static void test_typed_stores_use_the_stated_byte_order(void **state)
{
    Fix *f = *state;
    static const uint8_t want[] = {
        0xab,                                           /* u8 */
        0x34, 0x12,                                     /* le16 */
        0x12, 0x34,                                     /* be16 */
        0x78, 0x56, 0x34, 0x12,                         /* le32 */
        0x12, 0x34, 0x56, 0x78,                         /* be32 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* le64 */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* be64 */
    };

    /* Odd address: the helpers work at any alignment. */
    uint64_t a = RAM_BASE + 0x101;
    assert_int_equal(dms_space_store_u8(f->space, a, 0xab, NULL), 0);
    assert_int_equal(dms_space_store_le16(f->space, a + 1, 0x1234, NULL), 0);
    assert_int_equal(dms_space_store_be16(f->space, a + 3, 0x1234, NULL), 0);
    assert_int_equal(dms_space_store_le32(f->space, a + 5, 0x12345678, NULL),
                     0);
    assert_int_equal(dms_space_store_be32(f->space, a + 9, 0x12345678, NULL),
                     0);
    assert_int_equal(dms_space_store_le64(f->space, a + 13,
                                          UINT64_C(0x0102030405060708), NULL),
                     0);
    assert_int_equal(dms_space_store_be64(f->space, a + 21,
                                          UINT64_C(0x0102030405060708), NULL),
                     0);
    assert_memory_equal(f->ram + 0x101, want, sizeof(want));
}

static void test_typed_loads_read_back_from_message_region(void **state)
{
    Fix *f = *state;
    static const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x04,
                                    0x05, 0x06, 0x07, 0x08};
    uint64_t at = MSG_BASE + 0x40;

    memcpy(f->bulk->mem + 0x40, bytes, sizeof(bytes));
    LOAD_GIVES(dms_space_load_u8, uint8_t, f->space, at + 1, 0, 0x02);
    LOAD_GIVES(dms_space_load_le16, uint16_t, f->space, at, 0, 0x0201);
    LOAD_GIVES(dms_space_load_be16, uint16_t, f->space, at, 0, 0x0102);
    LOAD_GIVES(dms_space_load_le32, uint32_t, f->space, at, 0, 0x04030201);
    LOAD_GIVES(dms_space_load_be32, uint32_t, f->space, at, 0, 0x01020304);
    LOAD_GIVES(dms_space_load_le64, uint64_t, f->space, at, 0,
               UINT64_C(0x0807060504030201));
    LOAD_GIVES(dms_space_load_be64, uint64_t, f->space, at, 0,
               UINT64_C(0x0102030405060708));
    /* Each load was one backend call of the value's size. */
    assert_int_equal(f->bulk->calls, 7);
    assert_int_equal(f->bulk->log[6].len, 8);
}

static void test_typed_access_to_register_is_one_access(void **state)
{
    Fix *f = *state;

    assert_int_equal(
        dms_space_store_le32(f->space, REGS_BASE + 8, 0xcafef00d, NULL), 0);
    assert_int_equal(dms_le32_load(f->regs->mem + 8), 0xcafef00d);
    assert_int_equal(f->regs->calls, 1);
    assert_int_equal(f->regs->last.len, 4);
    /* The register is little-endian; read as big-endian bytes it swaps. */
    LOAD_GIVES(dms_space_load_be32, uint32_t, f->space, REGS_BASE + 8, 0,
               0x0df0feca);
    assert_int_equal(f->regs->calls, 2);
}

static void test_typed_load_failure_gives_zero_and_error(void **state)
{
    Fix *f = *state;

    LOAD_GIVES(dms_space_load_le32, uint32_t, f->space, HOLE_BASE, -EFAULT, 0);
    /* Past 2^64: refused before any access. */
    LOAD_GIVES(dms_space_load_be64, uint64_t, f->space, UINT64_MAX - 3,
               -EINVAL, 0);
    /* A 2-byte access to a region that only takes 4-byte ones. */
    LOAD_GIVES(dms_space_load_le16, uint16_t, f->space, REGS_BASE, -EOPNOTSUPP,
               0);
    assert_int_equal(dms_space_store_le32(f->space, HOLE_BASE, 1, NULL),
                     -EFAULT);
}

/* ---- fill ---- */

static void test_fill_spans_ram_and_message(void **state)
{
    Fix *f = *state;
    uint64_t done = 0;

    /* 0x100 bytes of RAM, then 0x2000 of the message region. */
    assert_int_equal(
        dms_space_fill(f->space, MSG_BASE - 0x100, 0x5a, 0x2100, NULL, &done),
        0);
    assert_int_equal(done, 0x2100);
    for (size_t i = 0x1f00; i < 0x2000; i++)
        assert_int_equal(f->ram[i], 0x5a);
    assert_int_equal(f->ram[0x1eff], (uint8_t)(0x1eff * 3 + 1));
    for (size_t i = 0; i < sizeof(f->bulk->mem); i++)
        assert_int_equal(f->bulk->mem[i], 0x5a);
    /* Message bytes go in chunks of at most 4 KiB, not byte by byte. */
    assert_true(f->bulk->calls >= 2 && f->bulk->calls <= 3);
    for (unsigned i = 0; i < f->bulk->calls; i++)
        assert_true(f->bulk->log[i].len <= 4096);
}

static void test_fill_stops_at_hole_and_counts(void **state)
{
    Fix *f = *state;
    uint64_t done = 0;

    assert_int_equal(
        dms_space_fill(f->space, HOLE_BASE - 0x10, 0, 0x100, NULL, &done),
        -EFAULT);
    assert_int_equal(done, 0x10);
    for (size_t i = 0x2000 - 0x10; i < 0x2000; i++)
        assert_int_equal(f->bulk->mem[i], 0);
}

static void test_fill_that_wraps_writes_nothing(void **state)
{
    Fix *f = *state;
    uint64_t done = 99;

    assert_int_equal(dms_space_fill(f->space, TOP_BASE, 0, 0x101, NULL, &done),
                     -EINVAL);
    assert_int_equal(done, 0);
    assert_int_equal(f->top[0], 0x80);
    /* Up to 2^64 exactly is fine. */
    assert_int_equal(dms_space_fill(f->space, TOP_BASE, 0, 0x100, NULL, &done),
                     0);
    assert_int_equal(done, 0x100);
    assert_int_equal(f->top[0xff], 0);
    assert_int_equal(dms_space_fill(f->space, HOLE_BASE, 0, 0, NULL, &done),
                     0);
    assert_int_equal(done, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fix_setup, fix_teardown)
        T(test_list_counts_entries_and_size),
        T(test_list_keeps_its_space_alive),
        T(test_zero_length_entry_is_not_stored),
        T(test_entry_that_wraps_is_refused),
        T(test_total_past_64_bits_is_refused),
        T(test_read_gathers_ram_entries_in_order),
        T(test_write_scatters_into_message_region),
        T(test_mixed_list_round_trips),
        T(test_short_buffer_leaves_a_residual),
        T(test_unmapped_entry_stops_copy_with_residual),
        T(test_entry_running_into_a_hole_counts_its_first_part),
        T(test_backend_error_in_middle_entry_is_returned),
        T(test_entry_ending_at_top_of_space_is_copied),
        T(test_empty_list_copies_nothing),
        T(test_null_buffer_is_refused_with_residual),
        T(test_copy_into_read_only_is_refused_with_residual),
        T(test_write_marks_ram_dirty),
        T(test_typed_stores_use_the_stated_byte_order),
        T(test_typed_loads_read_back_from_message_region),
        T(test_typed_access_to_register_is_one_access),
        T(test_typed_load_failure_gives_zero_and_error),
        T(test_fill_spans_ram_and_message),
        T(test_fill_stops_at_hole_and_counts),
        T(test_fill_that_wraps_writes_nothing),
#undef T
    };

    return cmocka_run_group_tests_name("sglist", tests, NULL, NULL);
}
