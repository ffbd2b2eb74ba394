/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms_sglist_map()/dms_sglist_unmap(): a list mapped to an iovec in one
 * call, as far as the iovec and the bounce budget allow, and unmapped in
 * one call with the bytes really accessed. Public API only.
 */
#include <errno.h>
#include <string.h>

#include "tc.h"

/*
 * The space:
 *   [0x0000, 0x4000)  RAM
 *   [0x4000, 0x8000)  bulk message region over a MemDev
 *   [0x8000, 0x9000)  nothing
 */
#define RAM_BASE 0x0000u
#define DEV_BASE 0x4000u
#define HOLE_BASE 0x8000u
#define BOUNCE_LIMIT 0x1000u

typedef struct Fix {
    uint8_t ram[0x4000];
    MemDev *dev;
    DmsSpace *space;
    DmsSgList *sg;
} Fix;

static int fix_setup(void **state)
{
    Fix *f = g_new0(Fix, 1);

    for (size_t i = 0; i < sizeof(f->ram); i++)
        f->ram[i] = (uint8_t)i;
    f->dev = tc_memdev(0x4000, 7);
    f->space = tc_space_ram_msg("sg-map", f->ram, sizeof(f->ram), RAM_BASE,
                                f->dev, DEV_BASE, BOUNCE_LIMIT);
    assert_int_equal(dms_sglist_new(f->space, 0, &f->sg), 0);
    tc_count_criticals();
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    Fix *f = *state;

    /* Every test gives back all it mapped. */
    assert_int_equal(tc_stats(f->space).bounce_in_use, 0);
    dms_sglist_unref(f->sg);
    dms_space_unref(f->space);
    tc_memdev_free(f->dev);
    g_free(f);
    return 0;
}

static void add(Fix *f, uint64_t addr, uint64_t len)
{
    assert_int_equal(dms_sglist_add(f->sg, addr, len), 0);
}

/* One dms_sglist_map() batch: its pieces and the bytes they hold. */
typedef struct Batch {
    DmsIovec iov[8];
    unsigned n;
    size_t mapped;
} Batch;

/*
 * Maps the list from @offset for @dir into @b, with room for @room
 * pieces: it must return @err with @n pieces of @mapped bytes.
 */
static void map_batch(Fix *f, Batch *b, uint64_t offset, DmsDirection dir,
                      unsigned room, int err, unsigned n, size_t mapped)
{
    assert_true(room <= G_N_ELEMENTS(b->iov));
    b->n = room;
    b->mapped = SIZE_MAX;
    assert_int_equal(
        dms_sglist_map(f->sg, offset, dir, NULL, b->iov, &b->n, &b->mapped),
        err);
    assert_int_equal(b->n, n);
    assert_int_equal(b->mapped, mapped);
}

/* Unmaps @b, of which the device accessed @access_len bytes. */
static void unmap_batch(Fix *f, const Batch *b, DmsDirection dir,
                        size_t access_len)
{
    assert_int_equal(dms_sglist_unmap(f->sg, dir, b->iov, b->n, access_len),
                     0);
}

/* RAM entries map in place, one piece each, in one call. */
static void test_sg_map_ram_in_place(void **state)
{
    Fix *f = *state;
    Batch b;

    add(f, RAM_BASE + 0x100, 0x200);
    add(f, RAM_BASE + 0x2000, 0x1000);
    map_batch(f, &b, 0, DMS_DIR_TO_DEVICE, 4, 0, 2, 0x1200);
    assert_ptr_equal(b.iov[0].iov_base, f->ram + 0x100);
    assert_int_equal(b.iov[0].iov_len, 0x200);
    assert_ptr_equal(b.iov[1].iov_base, f->ram + 0x2000);
    assert_int_equal(b.iov[1].iov_len, 0x1000);
    unmap_batch(f, &b, DMS_DIR_TO_DEVICE, b.mapped);

    /* At the end of the list: nothing mapped, no error. */
    map_batch(f, &b, 0x1200, DMS_DIR_TO_DEVICE, 4, 0, 0, 0);
}

/* An offset inside an entry starts there; the iovec's room bounds a batch. */
static void test_sg_map_offset_and_iov_room(void **state)
{
    Fix *f = *state;
    Batch b;

    add(f, RAM_BASE, 0x100);
    add(f, RAM_BASE + 0x1000, 0x100);
    add(f, RAM_BASE + 0x2000, 0x100);
    map_batch(f, &b, 0x80, DMS_DIR_FROM_DEVICE, 2, 0, 2, 0x180);
    assert_ptr_equal(b.iov[0].iov_base, f->ram + 0x80);
    assert_ptr_equal(b.iov[1].iov_base, f->ram + 0x1000);
    unmap_batch(f, &b, DMS_DIR_FROM_DEVICE, b.mapped);

    map_batch(f, &b, 0x80 + 0x180, DMS_DIR_FROM_DEVICE, 2, 0, 1, 0x100);
    assert_ptr_equal(b.iov[0].iov_base, f->ram + 0x2000);
    unmap_batch(f, &b, DMS_DIR_FROM_DEVICE, 0);
}

/*
 * Message memory bounces within the budget: a batch that the budget cuts
 * short comes back as it is, and -EAGAIN only when nothing is held; the
 * map client fires when the held batch is unmapped, and the next call
 * resumes at the exact byte.
 */
static void fired_cb(DmsSpace *space, void *data)
{
    (*(int *)data)++;
}

static void test_sg_map_budget_never_held_while_waiting(void **state)
{
    Fix *f = *state;
    Batch b, other;
    uint8_t got[0x1800];
    int fired = 0;

    add(f, DEV_BASE, 0x800);
    add(f, RAM_BASE + 0x3000, 0x400);
    add(f, DEV_BASE + 0x1000, 0x1000);
    /* 0x800 bounced, 0x400 in place, then 0x800 of the 0x1000 budget. */
    map_batch(f, &b, 0, DMS_DIR_TO_DEVICE, 8, 0, 3, 0x800 + 0x400 + 0x800);
    assert_memory_equal(b.iov[0].iov_base, f->dev->mem, 0x800);
    assert_ptr_equal(b.iov[1].iov_base, f->ram + 0x3000);
    assert_memory_equal(b.iov[2].iov_base, f->dev->mem + 0x1000, 0x800);
    memcpy(got, b.iov[0].iov_base, 0x800);
    memcpy(got + 0x800, b.iov[1].iov_base, 0x400);
    memcpy(got + 0xc00, b.iov[2].iov_base, 0x800);

    /* Budget gone: a second batch holds nothing and says -EAGAIN. */
    map_batch(f, &other, b.mapped, DMS_DIR_TO_DEVICE, 8, -EAGAIN, 0, 0);
    assert_int_equal(
        dms_space_add_map_client(f->space, NULL, fired_cb, &fired, NULL, NULL),
        0);
    assert_int_equal(fired, 0);

    unmap_batch(f, &b, DMS_DIR_TO_DEVICE, b.mapped);
    assert_int_equal(fired, 1);

    map_batch(f, &other, b.mapped, DMS_DIR_TO_DEVICE, 8, 0, 1, 0x800);
    assert_memory_equal(other.iov[0].iov_base, f->dev->mem + 0x1800, 0x800);
    unmap_batch(f, &other, DMS_DIR_TO_DEVICE, other.mapped);
    assert_memory_equal(got, f->dev->mem, 0x800);
    assert_memory_equal(got + 0xc00, f->dev->mem + 0x1000, 0x800);
}

/*
 * From the device: access_len is spread over the pieces in order, so the
 * bounce write-back carries exactly the bytes the device produced, and
 * nothing past them reaches memory.
 */
static void test_sg_unmap_writes_back_access_len(void **state)
{
    Fix *f = *state;
    uint8_t before[0x4000];
    Batch b;

    memcpy(before, f->dev->mem, sizeof(before));
    add(f, RAM_BASE + 0x100, 0x100);
    add(f, DEV_BASE + 0x200, 0x300);
    add(f, DEV_BASE + 0x800, 0x100);
    map_batch(f, &b, 0, DMS_DIR_FROM_DEVICE, 4, 0, 3, 0x500);
    for (unsigned i = 0; i < b.n; i++)
        memset(b.iov[i].iov_base, 0xa0 + (int)i, b.iov[i].iov_len);
    /* The device produced the RAM piece and 0x180 bytes of the next. */
    unmap_batch(f, &b, DMS_DIR_FROM_DEVICE, 0x280);
    assert_int_equal(atomic_load(&f->dev->writes), 1);
    assert_int_equal(atomic_load(&f->dev->bytes_written), 0x180);
    assert_int_equal(f->ram[0x100], 0xa0);
    assert_int_equal(f->dev->mem[0x200], 0xa1);
    assert_int_equal(f->dev->mem[0x37f], 0xa1);
    assert_memory_equal(f->dev->mem + 0x380, before + 0x380, 0x4000 - 0x380);
}

/*
 * A map error after some pieces ends the batch with them; the next call
 * reports the error for its first byte. An error at the first byte holds
 * nothing.
 */
static void test_sg_map_error_after_pieces_comes_next(void **state)
{
    Fix *f = *state;
    Batch b;

    add(f, RAM_BASE, 0x100);
    add(f, HOLE_BASE, 0x100);
    add(f, RAM_BASE + 0x200, 0x100);
    map_batch(f, &b, 0, DMS_DIR_TO_DEVICE, 4, 0, 1, 0x100);
    unmap_batch(f, &b, DMS_DIR_TO_DEVICE, b.mapped);

    map_batch(f, &b, 0x100, DMS_DIR_TO_DEVICE, 4, -EFAULT, 0, 0);

    /* Past the hole the list maps again. */
    map_batch(f, &b, 0x200, DMS_DIR_TO_DEVICE, 4, 0, 1, 0x100);
    unmap_batch(f, &b, DMS_DIR_TO_DEVICE, 0);
}

/* Bad arguments fail with -EINVAL and map nothing. */
static void test_sg_map_bad_arguments(void **state)
{
    Fix *f = *state;
    Batch b;

    add(f, DEV_BASE, 0x100);
    /* An offset past the end may come from a device: no critical. */
    map_batch(f, &b, 0x101, DMS_DIR_TO_DEVICE, 2, -EINVAL, 0, 0);
    assert_int_equal(tc_criticals(), 0);

    map_batch(f, &b, 0, DMS_DIR_TO_DEVICE, 2, 0, 1, 0x100);
    /* access_len past the pieces: a caller's bug, refused, all mapped. */
    assert_int_equal(
        dms_sglist_unmap(f->sg, DMS_DIR_TO_DEVICE, b.iov, b.n, b.mapped + 1),
        -EINVAL);
    assert_int_equal(tc_criticals(), 1);
    unmap_batch(f, &b, DMS_DIR_TO_DEVICE, b.mapped);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fix_setup, fix_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sg_map_ram_in_place),
        T(test_sg_map_offset_and_iov_room),
        T(test_sg_map_budget_never_held_while_waiting),
        T(test_sg_unmap_writes_back_access_len),
        T(test_sg_map_error_after_pieces_comes_next),
        T(test_sg_map_bad_arguments),
    };
#undef T
    return cmocka_run_group_tests_name("sg-map", tests, NULL, NULL);
}
