/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dirty log of RAM regions: what sets bits (writes, from-device unmaps
 * of exactly access_len), how taking the log reads and clears it, and
 * that a page written while the log is taken is never lost.
 */
#include "tc.h"

#define RAM_ADDR 0x100000u
#define RAM_SIZE 0x40000u /* 256 KiB: 64 pages of 4 KiB */

typedef struct Fix {
    uint8_t *mem;
    DmsRegion *root, *ram;
    DmsSpace *space;
} Fix;

static int setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    f->mem = g_malloc0(RAM_SIZE);
    f->space =
        tc_space_ram(NULL, f->mem, RAM_SIZE, RAM_ADDR, &f->ram, &f->root);
    tc_count_criticals();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fix *f = *state;

    dms_space_unref(f->space);
    dms_region_unref(f->ram);
    dms_region_unref(f->root);
    g_free(f->mem);
    g_free(f);
    return 0;
}

/* Takes the log of @f->ram into a 64-page bitmap. */
static uint64_t take(Fix *f)
{
    uint64_t bits = ~UINT64_C(0);

    assert_int_equal(dms_region_take_dirty_log(f->ram, &bits, 64), 64);
    return bits;
}

static void test_enable_rejects_bad_arguments(void **state)
{
    Fix *f = *state;
    uint64_t bits;

    assert_int_equal(dms_region_enable_dirty_log(NULL, 4096), -EINVAL);
    assert_int_equal(dms_region_enable_dirty_log(f->root, 4096), -EINVAL);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, 0), -EINVAL);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, 3), -EINVAL);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4097), -EINVAL);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, UINT64_C(1) << 31),
                     -EINVAL);
    /* no log yet */
    assert_int_equal(dms_region_take_dirty_log(f->ram, &bits, 64), -EINVAL);
    assert_int_equal(dms_region_take_dirty_log(f->root, &bits, 64), -EINVAL);
    assert_int_equal(tc_criticals(), 8);

    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4096), 0);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4096), -EEXIST);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, 512), -EEXIST);
    assert_int_equal(dms_region_take_dirty_log(f->ram, NULL, 1), -EINVAL);
    assert_int_equal(dms_region_take_dirty_log(f->ram, NULL, 0), 64);
}

static void test_page_sizes_from_1_byte_to_1_gib_are_accepted(void **state)
{
    uint8_t mem[100];
    (void)state;

    for (unsigned shift = 0; shift <= 30; shift++) {
        DmsRegion *r;
        uint64_t bits[2] = {0};
        int64_t pages = (int64_t)((sizeof(mem) - 1) >> shift) + 1;

        assert_int_equal(
            dms_region_new_ram("r", mem, sizeof(mem), 0, NULL, NULL, &r), 0);
        assert_int_equal(dms_region_enable_dirty_log(r, UINT64_C(1) << shift),
                         0);
        assert_int_equal(dms_region_take_dirty_log(r, bits, 128), pages);
        assert_int_equal(bits[0], 0);
        dms_region_unref(r);
    }
}

static void test_writes_set_the_pages_they_touch(void **state)
{
    Fix *f = *state;
    uint8_t buf[0x2000] = {0};

    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4096), 0);
    assert_int_equal(take(f), 0);
    /* one byte in page 0; 0x1001 bytes from the end of page 2 */
    assert_int_equal(
        dms_space_write(f->space, RAM_ADDR + 5, buf, 1, NULL, NULL), 0);
    assert_int_equal(
        dms_space_write(f->space, RAM_ADDR + 0x2fff, buf, 0x1002, NULL, NULL),
        0);
    assert_int_equal(take(f), UINT64_C(0x1) | UINT64_C(0x18) | UINT64_C(0x4));
    /* Taking cleared them. */
    assert_int_equal(take(f), 0);
    /* Reads set nothing. */
    assert_int_equal(
        dms_space_read(f->space, RAM_ADDR, buf, sizeof(buf), NULL, NULL), 0);
    assert_int_equal(take(f), 0);
    /* The last page. */
    assert_int_equal(
        dms_space_write(f->space, RAM_ADDR + RAM_SIZE - 1, buf, 1, NULL, NULL),
        0);
    assert_int_equal(take(f), UINT64_C(1) << 63);
}

static void test_from_device_unmap_marks_exactly_access_len(void **state)
{
    Fix *f = *state;
    size_t len = 0x4000;
    void *p;

    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4096), 0);

    /* Pages 1..4 mapped, the device wrote 0x1001 bytes: pages 1 and 2. */
    assert_int_equal(dms_space_map(f->space, RAM_ADDR + 0x1000, &len,
                                   DMS_DIR_FROM_DEVICE, NULL, &p),
                     0);
    assert_int_equal(take(f), 0); /* mapping alone marks nothing */
    assert_int_equal(
        dms_space_unmap(f->space, p, len, DMS_DIR_FROM_DEVICE, 0x1001), 0);
    assert_int_equal(take(f), UINT64_C(0x6));

    /* access_len 0: nothing */
    assert_int_equal(dms_space_map(f->space, RAM_ADDR + 0x1000, &len,
                                   DMS_DIR_FROM_DEVICE, NULL, &p),
                     0);
    assert_int_equal(dms_space_unmap(f->space, p, len, DMS_DIR_FROM_DEVICE, 0),
                     0);
    assert_int_equal(take(f), 0);

    /* to-device: the device only read */
    assert_int_equal(dms_space_map(f->space, RAM_ADDR + 0x1000, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &p),
                     0);
    assert_int_equal(dms_space_unmap(f->space, p, len, DMS_DIR_TO_DEVICE, len),
                     0);
    assert_int_equal(take(f), 0);

    /* A refused unmap marks nothing either. */
    assert_int_equal(dms_space_map(f->space, RAM_ADDR + 0x1000, &len,
                                   DMS_DIR_FROM_DEVICE, NULL, &p),
                     0);
    assert_int_equal(
        dms_space_unmap(f->space, p, len, DMS_DIR_FROM_DEVICE, len + 1),
        -EINVAL);
    assert_int_equal(take(f), 0);
    assert_int_equal(
        dms_space_unmap(f->space, p, len, DMS_DIR_FROM_DEVICE, len), 0);
    assert_int_equal(take(f), UINT64_C(0x1e));
}

static void test_byte_granular_log_is_exact(void **state)
{
    uint8_t mem[300];
    uint64_t bits[5];
    DmsRegion *root, *r;
    DmsSpace *s;
    size_t len = 200;
    void *p;
    (void)state;

    s = tc_space_ram(NULL, mem, sizeof(mem), 0, &r, &root);
    assert_int_equal(dms_region_enable_dirty_log(r, 1), 0);

    assert_int_equal(dms_space_map(s, 60, &len, DMS_DIR_FROM_DEVICE, NULL, &p),
                     0);
    assert_int_equal(dms_space_unmap(s, p, len, DMS_DIR_FROM_DEVICE, 70), 0);
    memset(bits, 0xff, sizeof(bits));
    assert_int_equal(dms_region_take_dirty_log(r, bits, 300), 300);
    /* bytes 60..129 */
    assert_int_equal(bits[0], ~UINT64_C(0) << 60);
    assert_int_equal(bits[1], ~UINT64_C(0));
    assert_int_equal(bits[2], 0x3);
    assert_int_equal(bits[3], 0);
    assert_int_equal(bits[4], 0); /* bits past page 299 are zero */

    dms_space_unref(s);
    dms_region_unref(r);
    dms_region_unref(root);
}

static void test_pages_past_nbits_stay_dirty(void **state)
{
    Fix *f = *state;
    uint8_t buf[RAM_SIZE] = {0};
    uint64_t bits[1];

    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4096), 0);
    assert_int_equal(
        dms_space_write(f->space, RAM_ADDR, buf, RAM_SIZE, NULL, NULL), 0);
    /* Room for 10 pages: those are taken, the other 54 stay set. */
    bits[0] = 0;
    assert_int_equal(dms_region_take_dirty_log(f->ram, bits, 10), 64);
    assert_int_equal(bits[0], 0x3ff);
    assert_int_equal(take(f), ~UINT64_C(0) << 10);
    assert_int_equal(take(f), 0);
}

static void test_log_covers_the_capacity_of_a_shrunk_region(void **state)
{
    Fix *f = *state;
    uint8_t buf[16] = {0};

    assert_int_equal(dms_region_set_size(f->ram, 0x1000), 0);
    assert_int_equal(dms_region_enable_dirty_log(f->ram, 4096), 0);
    assert_int_equal(dms_region_set_size(f->ram, RAM_SIZE), 0);
    assert_int_equal(dms_space_write(f->space, RAM_ADDR + RAM_SIZE - 16, buf,
                                     16, NULL, NULL),
                     0);
    assert_int_equal(take(f), UINT64_C(1) << 63);
}

/* ---- no bit is lost to a concurrent take ---- */

enum { RACE_BYTES = 16384, RACE_WORDS = RACE_BYTES / 64 };

typedef struct Race {
    DmsSpace *space;
    atomic_int done;
} Race;

/* Writes every byte exactly once: with 1-byte pages, one bit each. */
static gpointer writer(gpointer data)
{
    Race *r = data;
    uint8_t byte = 1;

    for (uint64_t i = 0; i < RACE_BYTES; i++) {
        /* odd bytes first, then even: words are hit twice, far apart */
        uint64_t at =
            i < RACE_BYTES / 2 ? 2 * i + 1 : 2 * (i - RACE_BYTES / 2);

        assert_int_equal(dms_space_write(r->space, at, &byte, 1, NULL, NULL),
                         0);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static void take_into(DmsRegion *r, uint64_t *seen)
{
    uint64_t bits[RACE_WORDS];

    assert_int_equal(dms_region_take_dirty_log(r, bits, RACE_BYTES),
                     RACE_BYTES);
    for (unsigned w = 0; w < RACE_WORDS; w++) {
        /* Each bit was set once, so it can be taken at most once. */
        assert_int_equal(seen[w] & bits[w], 0);
        seen[w] |= bits[w];
    }
}

static void test_concurrent_take_never_loses_a_page(void **state)
{
    uint8_t *mem = g_malloc0(RACE_BYTES);
    uint64_t *seen = g_new0(uint64_t, RACE_WORDS);
    Race race = {0};
    DmsRegion *root, *r;
    GThread *t;
    (void)state;

    race.space = tc_space_ram(NULL, mem, RACE_BYTES, 0, &r, &root);
    assert_int_equal(dms_region_enable_dirty_log(r, 1), 0);

    t = g_thread_new("writer", writer, &race);
    while (!atomic_load(&race.done))
        take_into(r, seen);
    g_thread_join(t);
    take_into(r, seen);
    /* Every write is in exactly one take. */
    for (unsigned w = 0; w < RACE_WORDS; w++)
        assert_int_equal(seen[w], ~UINT64_C(0));

    dms_space_unref(race.space);
    dms_region_unref(r);
    dms_region_unref(root);
    g_free(seen);
    g_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_enable_rejects_bad_arguments),
        cmocka_unit_test(test_page_sizes_from_1_byte_to_1_gib_are_accepted),
        T(test_writes_set_the_pages_they_touch),
        T(test_from_device_unmap_marks_exactly_access_len),
        cmocka_unit_test(test_byte_granular_log_is_exact),
        T(test_pages_past_nbits_stay_dirty),
        T(test_log_covers_the_capacity_of_a_shrunk_region),
        cmocka_unit_test(test_concurrent_take_never_loses_a_page),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
