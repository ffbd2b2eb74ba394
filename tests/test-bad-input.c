/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bad-input matrix of issue 5, through the public API only: every
 * address, length and pointer a guest or a remote peer could hand a device
 * model, and every way a backend could misbehave. Each test asserts the
 * exact error, that nothing outside the target was touched (guard bytes
 * around every buffer the library could reach), that no backend was
 * called when none should be, and that every region's destroy notify ran
 * exactly once at the end (leaks are the valgrind and LeakSanitizer runs'
 * part).
 */
#include <errno.h>
#include <string.h>

#include "tc.h"

/*
 * The allocation-failure test asks for terabytes on purpose; under ASan
 * that must come back as NULL rather than end the run. Unused otherwise.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

#define GUARD 64
#define GUARD_BYTE 0xee

/* Where things are in the test space. */
#define RAM_A 0x1000u /* RAM, 4 KiB */
#define GAP 0x2000u   /* nothing, 4 KiB */
#define RAM_B 0x3000u /* RAM, 4 KiB */
#define ROM 0x5000u   /* read-only RAM, 256 B */
#define MSG 0x10000u  /* bulk message region, 64 KiB */
#define REG 0x30000u  /* register-style region, 256 B */
#define PAGE 0x1000u
#define TOP (UINT64_MAX - 0xfff) /* bulk region, the last 4 KiB */
#define BIG (UINT64_C(1) << 62)  /* bulk region of 2^62 bytes, no memory */

/* Memory with guard bytes on both sides. */
typedef struct Guarded {
    uint8_t *alloc;
    uint8_t *mem;
    size_t size;
} Guarded;

static void guarded_init(Guarded *g, size_t size, uint8_t fill)
{
    g->alloc = g_malloc(size + 2 * GUARD);
    memset(g->alloc, GUARD_BYTE, GUARD);
    memset(g->alloc + GUARD + size, GUARD_BYTE, GUARD);
    g->mem = g->alloc + GUARD;
    g->size = size;
    memset(g->mem, fill, size);
}

static void assert_guards_intact(const Guarded *g)
{
    for (size_t i = 0; i < GUARD; i++) {
        assert_int_equal(g->alloc[i], GUARD_BYTE);
        assert_int_equal(g->mem[g->size + i], GUARD_BYTE);
    }
}

static void assert_filled(const uint8_t *p, size_t len, uint8_t byte)
{
    for (size_t i = 0; i < len; i++)
        assert_int_equal(p[i], byte);
}

typedef struct World {
    DmsRegion *root;
    DmsSpace *space;
    Guarded ram_a, ram_b, rom;
    atomic_uint ram_a_notified, ram_b_notified, rom_notified;
    DmsRegion *r_ram_a, *r_ram_b, *r_rom, *r_msg, *r_reg, *r_top, *r_big;
    MemDev *msg, *top; /* bulk, their memory 0x11 */
    MemDev *regs;      /* 4-byte registers only, callers may use 1 to 4 */
    MemDev *big;       /* no memory behind it: any call is a failure */
} World;

static MemDev *memdev_filled(size_t size, uint8_t fill)
{
    MemDev *dev = tc_memdev(size, 0);

    memset(dev->mem, fill, size);
    return dev;
}

static int setup(void **state)
{
    World *w = g_new0(World, 1);
    const DmsAccessSizes valid = {1, 4, false}, impl = {4, 4, false};
    DmsMessageOps reg_ops;

    guarded_init(&w->ram_a, PAGE, 0xaa);
    guarded_init(&w->ram_b, PAGE, 0xbb);
    guarded_init(&w->rom, 0x100, 0xcc);
    w->msg = memdev_filled(0x10000, 0x11);
    w->top = memdev_filled(PAGE, 0x11);
    w->regs = memdev_filled(0x100, 0);
    memdev_register_ops(w->regs, &reg_ops, DMS_ENDIAN_LITTLE, valid, impl);
    assert_int_equal(memdev_new(0, MEMDEV_ABSENT, &w->big), 0);
    w->space = tc_space(
        "bad-input",
        (const LayoutPiece[]){
            {TC_COUNTED_RAM(RAM_A, w->ram_a.mem, PAGE, &w->ram_a_notified),
             .keep = &w->r_ram_a},
            {TC_COUNTED_RAM(RAM_B, w->ram_b.mem, PAGE, &w->ram_b_notified),
             .keep = &w->r_ram_b},
            {TC_COUNTED_RAM(ROM, w->rom.mem, 0x100, &w->rom_notified),
             .keep = &w->r_rom, .flags = DMS_RAM_READONLY},
            {.kind = LAYOUT_MESSAGE,
             .addr = MSG,
             .dev = w->msg,
             .keep = &w->r_msg},
            {.kind = LAYOUT_MESSAGE,
             .addr = TOP,
             .dev = w->top,
             .keep = &w->r_top},
            {.kind = LAYOUT_MESSAGE,
             .addr = REG,
             .name = "regs",
             .dev = w->regs,
             .ops = &reg_ops,
             .keep = &w->r_reg},
            {.kind = LAYOUT_MESSAGE,
             .addr = BIG,
             .name = "big",
             .size = BIG,
             .dev = w->big,
             .keep = &w->r_big},
            {.kind = LAYOUT_END},
        },
        0, &w->root);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    World *w = *state;
    DmsRegion **all[] = {&w->r_ram_a, &w->r_ram_b, &w->r_rom, &w->r_msg,
                         &w->r_top,   &w->r_reg,   &w->r_big};

    w->space = dms_space_unref(w->space);
    w->root = dms_region_unref(w->root);
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        *all[i] = dms_region_unref(*all[i]);

    /* Everything was released, exactly once. */
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(w->ram_a_notified, 1);
    assert_int_equal(w->ram_b_notified, 1);
    assert_int_equal(w->rom_notified, 1);
    assert_int_equal(w->msg->notified, 1);
    assert_int_equal(w->top->notified, 1);
    assert_int_equal(w->regs->notified, 1);
    assert_int_equal(w->big->notified, 1);

    /* Nothing wrote outside any buffer the library could reach, and no
     * backend was asked what it cannot do (the big one: anything). */
    assert_guards_intact(&w->ram_a);
    assert_guards_intact(&w->ram_b);
    assert_guards_intact(&w->rom);
    tc_memdev_free(w->msg);
    tc_memdev_free(w->top);
    tc_memdev_free(w->regs);
    tc_memdev_free(w->big);
    g_free(w->ram_a.alloc);
    g_free(w->ram_b.alloc);
    g_free(w->rom.alloc);
    g_free(w);
    return 0;
}

/* ---- addresses and lengths ---- */

static void test_range_past_2_64_fails_einval_touching_nothing(void **state)
{
    World *w = *state;
    Guarded buf;
    size_t done = 99, len = 16;
    void *ptr = &len;

    guarded_init(&buf, 32, 0x5a);
    /* [TOP + 0xff8, + 32) would wrap to address 0x17 */
    assert_int_equal(
        dms_space_read(w->space, TOP + 0xff8, buf.mem, 32, NULL, &done),
        -EINVAL);
    assert_int_equal(done, 0);
    assert_int_equal(
        dms_space_write(w->space, TOP + 0xff8, buf.mem, 32, NULL, &done),
        -EINVAL);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_check(w->space, TOP + 0xff8, 32, TO, NULL),
                     -EINVAL);
    assert_int_equal(dms_space_check(w->space, 2, UINT64_MAX, FROM, NULL),
                     -EINVAL);
    tc_map_fails(w->space, UINT64_MAX, len, TO, -EINVAL);

    assert_int_equal(w->top->calls, 0);
    assert_filled(buf.mem, 32, 0x5a);
    assert_guards_intact(&buf);
    assert_filled(w->top->mem, PAGE, 0x11);
    g_free(buf.alloc);

    /* Up to and including the last byte is fine. */
    assert_int_equal(dms_space_check(w->space, TOP, PAGE, FROM, NULL), 0);
    len = 8;
    assert_int_equal(
        dms_space_map(w->space, UINT64_MAX - 7, &len, FROM, NULL, &ptr), 0);
    assert_int_equal(len, 8);
    assert_int_equal(dms_space_unmap(w->space, ptr, 8, FROM, 8), 0);
    assert_filled(w->top->mem + PAGE - 8, 8, 0);
}

static void test_zero_length_succeeds_and_touches_nothing(void **state)
{
    World *w = *state;
    size_t done = 99, len = 0;
    void *ptr = &len;

    /* Anywhere, even unassigned or at the very top, with a NULL buffer. */
    assert_int_equal(dms_space_read(w->space, GAP, NULL, 0, NULL, &done), 0);
    assert_int_equal(done, 0);
    assert_int_equal(
        dms_space_write(w->space, UINT64_MAX, NULL, 0, NULL, &done), 0);
    assert_int_equal(dms_space_check(w->space, GAP, 0, FROM, NULL), 0);
    assert_int_equal(dms_space_map(w->space, MSG, &len, TO, NULL, &ptr), 0);
    assert_null(ptr);
    assert_int_equal(len, 0);
    assert_int_equal(w->msg->calls, 0);
    assert_int_equal(tc_stats(w->space).bounced_maps, 0);
}

/* The longest length that does not run past 2^64 from @addr. */
static size_t longest_at(uint64_t addr)
{
    uint64_t room = UINT64_MAX - addr;

    return room >= SIZE_MAX ? SIZE_MAX : (size_t)room + 1;
}

static void test_huge_lengths_are_cut_or_refused_not_trusted(void **state)
{
    World *w = *state;
    size_t len = longest_at(RAM_A + 16);
    void *ptr = NULL;

    /* A direct map is as long as the RAM, whatever was asked. */
    assert_int_equal(
        dms_space_map(w->space, RAM_A + 16, &len, FROM, NULL, &ptr), 0);
    assert_int_equal(len, PAGE - 16);
    assert_ptr_equal(ptr, w->ram_a.mem + 16);
    assert_int_equal(dms_space_unmap(w->space, ptr, len, FROM, 0), 0);

    /* A bounce map is as long as its region, whatever was asked. */
    len = longest_at(MSG);
    assert_int_equal(dms_space_map(w->space, MSG, &len, FROM, NULL, &ptr), 0);
    assert_int_equal(len, 0x10000);
    assert_int_equal(dms_space_unmap(w->space, ptr, len, FROM, 0), 0);

    /* A check of terabytes stops at the first hole, in bounded time. */
    assert_int_equal(
        dms_space_check(w->space, BIG, UINT64_C(1) << 40, TO, NULL), 0);
    assert_int_equal(
        dms_space_check(w->space, RAM_A, UINT64_C(1) << 40, TO, NULL),
        -EFAULT);
    assert_int_equal(w->msg->calls, 0);
}

/* ---- unassigned gaps ---- */

static void test_access_across_a_gap_stops_at_the_gap(void **state)
{
    World *w = *state;
    Guarded buf;
    size_t done = 0;

    guarded_init(&buf, 3 * PAGE, 0x5a);
    /* RAM_A's last 16 bytes, then the gap. */
    assert_int_equal(
        dms_space_read(w->space, GAP - 16, buf.mem, 3 * PAGE, NULL, &done),
        -EFAULT);
    assert_int_equal(done, 16);
    assert_filled(buf.mem, 16, 0xaa);
    assert_guards_intact(&buf);

    /* A write across the gap writes up to it and not beyond: RAM_B, past
     * the gap, stays as it was. */
    memset(buf.mem, 0x77, 3 * PAGE);
    assert_int_equal(
        dms_space_write(w->space, GAP - 16, buf.mem, 3 * PAGE, NULL, &done),
        -EFAULT);
    assert_int_equal(done, 16);
    assert_filled(w->ram_a.mem + PAGE - 16, 16, 0x77);
    assert_filled(w->ram_a.mem, PAGE - 16, 0xaa);
    assert_filled(w->ram_b.mem, PAGE, 0xbb);

    /* Inside the gap: nothing at all. */
    assert_int_equal(
        dms_space_read(w->space, GAP + 5, buf.mem, 1, NULL, &done), -EFAULT);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_check(w->space, GAP - 1, 2, TO, NULL), -EFAULT);
    g_free(buf.alloc);
}

static void test_map_of_a_gap_fails_efault_and_counts(void **state)
{
    World *w = *state;

    tc_map_fails(w->space, GAP, 16, TO, -EFAULT);
    assert_int_equal(tc_stats(w->space).fail_unassigned, 1);
}

/* ---- unmap of what was not handed out ---- */

static void test_unmap_refuses_null_foreign_twice_and_overlong(void **state)
{
    World *w = *state;
    uint8_t foreign[16];
    size_t len = 64;
    void *ptr = NULL;

    assert_int_equal(dms_space_map(w->space, MSG, &len, FROM, NULL, &ptr), 0);
    assert_int_equal(len, 64);
    memset(ptr, 0x42, 64);

    assert_int_equal(dms_space_unmap(w->space, NULL, 64, FROM, 0), -EINVAL);
    assert_int_equal(dms_space_unmap(w->space, foreign, 16, FROM, 0), -EINVAL);
    assert_int_equal(dms_space_unmap(w->space, w->ram_a.mem, 16, FROM, 16),
                     -EINVAL); /* RAM, but never mapped */
    assert_int_equal(
        dms_space_unmap(w->space, (uint8_t *)ptr + 8, 64, FROM, 0),
        -EINVAL); /* interior */
    assert_int_equal(dms_space_unmap(w->space, ptr, 64, FROM, 65), -EINVAL);
    assert_int_equal(dms_space_unmap(w->space, ptr, 63, FROM, 0), -EINVAL);
    assert_int_equal(dms_space_unmap(w->space, ptr, 64, TO, 0), -EINVAL);
    /* None of that wrote anything back or ended the mapping. */
    assert_int_equal(w->msg->calls, 0);
    assert_filled(w->msg->mem, 64, 0x11);
    assert_filled(w->ram_a.mem, PAGE, 0xaa);
    assert_int_equal(tc_stats(w->space).bounce_in_use, 64);
    assert_int_equal(tc_stats(w->space).bad_unmaps, 7);

    assert_int_equal(dms_space_unmap(w->space, ptr, 64, FROM, 64), 0);
    assert_filled(w->msg->mem, 64, 0x42);
    /* The second unmap of the same pointer is refused, touching nothing. */
    assert_int_equal(dms_space_unmap(w->space, ptr, 64, FROM, 64), -EINVAL);
    assert_int_equal(w->msg->calls, 1);
    assert_int_equal(tc_stats(w->space).bounce_in_use, 0);
    assert_int_equal(tc_stats(w->space).bad_unmaps, 8);
}

static void test_direct_unmap_twice_is_refused(void **state)
{
    World *w = *state;
    size_t len = 32;
    void *ptr = NULL;

    assert_int_equal(dms_space_map(w->space, RAM_B, &len, TO, NULL, &ptr), 0);
    assert_int_equal(dms_space_unmap(w->space, ptr, len, TO, len), 0);
    assert_int_equal(dms_space_unmap(w->space, ptr, len, TO, len), -EINVAL);
    assert_int_equal(tc_stats(w->space).bad_unmaps, 1);
}

/* ---- overlapping regions ---- */

static void test_overlap_of_equal_priority_is_refused_unchanged(void **state)
{
    World *w = *state;
    Guarded over;
    atomic_uint over_notified = 0;
    DmsRegion *r;
    uint8_t byte = 0;

    guarded_init(&over, 0x100, 0x99);
    assert_int_equal(dms_region_new_ram("over", over.mem, 0x100, 0,
                                        &over_notified, tc_count_notify, &r),
                     0);
    /* Half over RAM_A, at RAM_A's priority, without the overlap flag. */
    assert_int_equal(dms_region_add_subregion(w->root, RAM_A - 0x80, r, 0, 0),
                     -EEXIST);
    assert_int_equal(dms_space_read(w->space, RAM_A, &byte, 1, NULL, NULL), 0);
    assert_int_equal(byte, 0xaa);

    /* Higher priority: visible where it overlaps, and only there. */
    assert_int_equal(dms_region_add_subregion(w->root, RAM_A - 0x80, r, 1, 0),
                     0);
    assert_int_equal(
        dms_space_read(w->space, RAM_A + 0x7f, &byte, 1, NULL, NULL), 0);
    assert_int_equal(byte, 0x99);
    assert_int_equal(
        dms_space_read(w->space, RAM_A + 0x80, &byte, 1, NULL, NULL), 0);
    assert_int_equal(byte, 0xaa);
    assert_int_equal(dms_region_remove_subregion(w->root, r), 0);
    r = dms_region_unref(r);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(over_notified, 1);
    assert_guards_intact(&over);
    g_free(over.alloc);
}

/* ---- lifetimes during DMA ---- */

static void test_region_removed_during_a_direct_mapping_lives_on(void **state)
{
    World *w = *state;
    size_t len = PAGE;
    void *ptr = NULL;
    uint8_t byte;

    assert_int_equal(dms_space_map(w->space, RAM_B, &len, FROM, NULL, &ptr),
                     0);
    assert_int_equal(dms_region_remove_subregion(w->root, w->r_ram_b), 0);
    w->r_ram_b = dms_region_unref(w->r_ram_b);
    /* Gone from the space, not yet released: the mapping holds it. */
    assert_int_equal(dms_space_read(w->space, RAM_B, &byte, 1, NULL, NULL),
                     -EFAULT);
    assert_int_equal(w->ram_b_notified, 0);

    memset(ptr, 0x31, len);
    assert_int_equal(dms_space_unmap(w->space, ptr, len, FROM, len), 0);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(w->ram_b_notified, 1);
    assert_filled(w->ram_b.mem, PAGE, 0x31);
}

/* ---- the bounce budget ---- */

static void test_limit_lowered_below_use_refuses_until_returned(void **state)
{
    World *w = *state;
    size_t len_a = 0x1000, len_b = 0x1000, len;
    void *a = NULL, *b = NULL, *c = NULL;
    DmsSpaceStats st;

    assert_int_equal(dms_space_map(w->space, MSG, &len_a, TO, NULL, &a), 0);
    assert_int_equal(
        dms_space_map(w->space, MSG + 0x1000, &len_b, TO, NULL, &b), 0);
    dms_space_set_bounce_limit(w->space, 0x1000);
    tc_map_fails(w->space, MSG, 1, TO, -EAGAIN);
    /* Back to exactly the limit: still nothing free. */
    assert_int_equal(dms_space_unmap(w->space, a, len_a, TO, 0), 0);
    tc_map_fails(w->space, MSG, 1, TO, -EAGAIN);
    assert_int_equal(dms_space_unmap(w->space, b, len_b, TO, 0), 0);
    /* Now a grant, never above the new limit. */
    len = 0x2000;
    assert_int_equal(dms_space_map(w->space, MSG, &len, TO, NULL, &c), 0);
    assert_int_equal(len, 0x1000);
    st = tc_stats(w->space);
    assert_int_equal(st.bounce_in_use, 0x1000);
    assert_int_equal(st.fail_exhausted, 2);
    assert_int_equal(st.bounce_high_water, 0x2000);
    assert_int_equal(dms_space_unmap(w->space, c, len, TO, 0), 0);
    dms_space_set_bounce_limit(w->space, 0);
    tc_map_fails(w->space, MSG, 1, TO, -ENOBUFS);
}

/* ---- backends that misbehave ---- */

static void test_backend_failing_part_way_reports_progress(void **state)
{
    World *w = *state;
    uint8_t buf[0x100];
    size_t done = 0;

    /* max_access is not set: the library splits only at short counts. */
    w->msg->short_len = 0x40;
    w->msg->fail_call = 3;
    w->msg->fail_call_errno = ENOTCONN;
    memset(buf, 0x66, sizeof(buf));
    assert_int_equal(
        dms_space_write(w->space, MSG, buf, sizeof(buf), NULL, &done),
        -ENOTCONN);
    assert_int_equal(done, 0x80);
    assert_int_equal(w->msg->calls, 3);
    assert_filled(w->msg->mem, 0x80, 0x66);
    assert_filled(w->msg->mem + 0x80, 0x100, 0x11);
}

static void test_backend_returning_wrong_counts_is_eio(void **state)
{
    World *w = *state;
    uint8_t buf[32];
    size_t done = 9;
    const int64_t bogus[] = {0, 33, INT64_MAX, -100000};

    for (size_t i = 0; i < G_N_ELEMENTS(bogus); i++) {
        w->msg->reply_set = true;
        w->msg->reply = bogus[i];
        memset(buf, 0x5a, sizeof(buf));
        assert_int_equal(
            dms_space_read(w->space, MSG, buf, sizeof(buf), NULL, &done),
            -EIO);
        assert_int_equal(done, 0);
        assert_int_equal(
            dms_space_write(w->space, MSG, buf, sizeof(buf), NULL, &done),
            -EIO);
        assert_int_equal(done, 0);
    }
    /* A fill that fails fails the map, and gives its budget back. */
    tc_map_fails(w->space, MSG, 32, TO, -EIO);
    assert_int_equal(tc_stats(w->space).bounce_in_use, 0);
    assert_int_equal(tc_stats(w->space).fail_backend, 1);
    assert_filled(w->msg->mem, 0x10000, 0x11);
}

static void test_short_backend_counts_are_continued(void **state)
{
    World *w = *state;
    uint8_t buf[100];
    size_t done = 0;

    w->msg->short_len = 7;
    memset(buf, 0x23, sizeof(buf));
    assert_int_equal(
        dms_space_write(w->space, MSG + 1, buf, sizeof(buf), NULL, &done), 0);
    assert_int_equal(done, sizeof(buf));
    assert_int_equal(w->msg->calls, (sizeof(buf) + 6) / 7);
    assert_int_equal(w->msg->mem[0], 0x11);
    assert_filled(w->msg->mem + 1, sizeof(buf), 0x23);
    assert_int_equal(w->msg->mem[1 + sizeof(buf)], 0x11);
}

static void test_register_sizes_not_implemented_are_refused(void **state)
{
    World *w = *state;
    uint8_t buf[4] = {1, 2, 3, 4};
    size_t done = 9;

    /* A 1-byte write cannot be widened without clobbering neighbours. */
    assert_int_equal(dms_space_write(w->space, REG + 1, buf, 1, NULL, &done),
                     -EOPNOTSUPP);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_check(w->space, REG + 1, 1, FROM, NULL),
                     -EOPNOTSUPP);
    /* Writes of whole registers work... */
    assert_int_equal(dms_space_write(w->space, REG + 4, buf, 4, NULL, &done),
                     0);
    /* ...and a 1-byte read is widened to the register and cut out. */
    assert_int_equal(dms_space_read(w->space, REG + 6, buf, 1, NULL, &done),
                     0);
    assert_int_equal(buf[0], 3);
    /* Callers may not go past valid.max_access (4) in one access, but a
     * longer access is split into valid ones. */
    assert_int_equal(dms_space_check(w->space, REG, 16, FROM, NULL), 0);
    assert_int_equal(w->regs->calls, 2);
    assert_int_equal(w->regs->mem[0], 0);
    assert_int_equal(w->regs->mem[4], 1);
}

/* ---- allocation sized by the guest ---- */

static void
test_huge_bounce_buffer_fails_enomem_and_returns_budget(void **state)
{
    World *w = *state;
    /* More than any machine (or a 32-bit address space) can give. */
#if SIZE_MAX > 0xffffffffu
    size_t len = (size_t)1 << 46;
#else
    size_t len = 0xf0000000u;
#endif
    void *ptr = &len;
    DmsSpaceStats st;

    dms_space_set_bounce_limit(w->space, SIZE_MAX);
    tc_map_fails(w->space, BIG, len, FROM, -ENOMEM);
    st = tc_stats(w->space);
    assert_int_equal(st.fail_nomem, 1);
    assert_int_equal(st.bounce_in_use, 0);
    /* The space goes on working. */
    len = 16;
    assert_int_equal(dms_space_map(w->space, MSG, &len, TO, NULL, &ptr), 0);
    assert_int_equal(dms_space_unmap(w->space, ptr, len, TO, 0), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_range_past_2_64_fails_einval_touching_nothing),
        T(test_zero_length_succeeds_and_touches_nothing),
        T(test_huge_lengths_are_cut_or_refused_not_trusted),
        T(test_access_across_a_gap_stops_at_the_gap),
        T(test_map_of_a_gap_fails_efault_and_counts),
        T(test_unmap_refuses_null_foreign_twice_and_overlong),
        T(test_direct_unmap_twice_is_refused),
        T(test_overlap_of_equal_priority_is_refused_unchanged),
        T(test_region_removed_during_a_direct_mapping_lives_on),
        T(test_limit_lowered_below_use_refuses_until_returned),
        T(test_backend_failing_part_way_reports_progress),
        T(test_backend_returning_wrong_counts_is_eio),
        T(test_short_backend_counts_are_continued),
        T(test_register_sizes_not_implemented_are_refused),
        T(test_huge_bounce_buffer_fails_enomem_and_returns_budget),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
