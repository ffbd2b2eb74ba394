/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Readers against a writer: threads read and write through a space while
 * another thread adds, removes and resizes regions. Every access must see
 * either nothing (-EFAULT) or one whole, correct region; no region may be
 * freed while an access uses it; every destroy notify runs exactly once.
 * Bounded by iteration counts, not by time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include "stress-rounds.h"
#include <cmocka.h>

#include "dms-private.h"
#include "memdev.h"

enum { SLOTS = 8, SLOT_SIZE = 4096, READERS = 3, WRITER_ROUNDS = 400 };

typedef struct Slot {
    uint8_t mem[SLOT_SIZE];
    atomic_int notified;
} Slot;

/* One per message region, freed by its destroy notify: a callback may
 * still run on it after the region was removed. */
typedef struct Msg {
    uint8_t tag;
    atomic_int calls;
} Msg;

static atomic_int msgs_notified;

typedef struct Shared {
    DmsSpace *space;
    atomic_bool stop;
    atomic_ulong reads_ok, reads_fault;
    atomic_int bad;
} Shared;

static int64_t msg_read(void *opaque, uint64_t off, void *buf, size_t len,
                        const DmsAttrs *attrs)
{
    Msg *m = opaque;
    (void)off;
    (void)attrs;
    atomic_fetch_add(&m->calls, 1);
    memset(buf, m->tag, len);
    return (int64_t)len;
}

static void slot_notify(void *data)
{
    atomic_fetch_add(&((Slot *)data)->notified, 1);
}

static void msg_notify(void *data)
{
    g_free(data);
    atomic_fetch_add(&msgs_notified, 1);
}

static gpointer reader(gpointer data)
{
    Shared *sh = data;
    uint8_t buf[SLOT_SIZE];
    unsigned seed = (unsigned)(uintptr_t)g_thread_self();

    while (!atomic_load(&sh->stop)) {
        /* slot SLOTS is never populated: some reads must fault */
        unsigned slot =
            ((seed = seed * 1103515245u + 12345u) >> 16) % (SLOTS + 1);
        uint64_t addr = (uint64_t)slot * 0x10000;
        int r = dms_space_read(sh->space, addr, buf, 512, NULL, NULL);

        if (r == 0) {
            /* one region answered all 512 bytes: they all carry its tag */
            for (int i = 1; i < 512; i++) {
                if (buf[i] != buf[0])
                    atomic_fetch_add(&sh->bad, 1);
            }
            if (buf[0] != 0xa0 + slot && buf[0] != 0xc0 + slot)
                atomic_fetch_add(&sh->bad, 1);
            atomic_fetch_add(&sh->reads_ok, 1);
        } else if (r == -EFAULT) {
            atomic_fetch_add(&sh->reads_fault, 1);
        } else {
            atomic_fetch_add(&sh->bad, 1);
        }
        dms_space_check(sh->space, addr, 512, DMS_DIR_TO_DEVICE, NULL);
    }
    return NULL;
}

static void test_readers_never_see_torn_or_freed_views(void **state)
{
    static Slot slots[SLOTS];
    DmsRegion *root, *ram[SLOTS] = {0}, *msg[SLOTS] = {0};
    DmsMessageOps ops = {
        .size = sizeof(ops), .read = msg_read, .write = memdev_drop_write};
    GThread *threads[READERS];
    Shared sh = {0};
    int created = 0;
    (void)state;

    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &root), 0);
    assert_int_equal(dms_space_new(root, "stress", &sh.space), 0);
    for (int i = 0; i < READERS; i++)
        threads[i] = g_thread_new("reader", reader, &sh);

    for (unsigned round = 0; round < dms_stress_rounds(WRITER_ROUNDS);
         round++) {
        int i = round % SLOTS;

        /* Retire whatever the slot holds, then put a fresh region there,
         * alternating RAM and message backends. */
        if (ram[i]) {
            assert_int_equal(dms_region_remove_subregion(root, ram[i]), 0);
            ram[i] = dms_region_unref(ram[i]);
        }
        if (msg[i]) {
            assert_int_equal(dms_region_remove_subregion(root, msg[i]), 0);
            msg[i] = dms_region_unref(msg[i]);
        }
        if (round % 2 == 0) {
            /* The slot's memory is the old region's until its notify,
             * which comes after the readers left the old views. */
            assert_int_equal(dms_update_barrier(), 0);
            memset(slots[i].mem, 0xa0 + i, SLOT_SIZE);
            assert_int_equal(dms_region_new_ram(NULL, slots[i].mem, SLOT_SIZE,
                                                0, &slots[i], slot_notify,
                                                &ram[i]),
                             0);
            assert_int_equal(dms_region_add_subregion(
                                 root, (uint64_t)i * 0x10000, ram[i], 0, 0),
                             0);
            /* resizing under the readers' feet */
            assert_int_equal(dms_region_set_size(ram[i], 256 + round % 3000),
                             0);
            assert_int_equal(dms_region_set_size(ram[i], SLOT_SIZE), 0);
        } else {
            Msg *m = g_new0(Msg, 1);

            m->tag = (uint8_t)(0xc0 + i);
            assert_int_equal(dms_region_new_message(NULL, SLOT_SIZE, &ops, m,
                                                    msg_notify, &msg[i]),
                             0);
            assert_int_equal(dms_region_add_subregion(
                                 root, (uint64_t)i * 0x10000, msg[i], 0, 0),
                             0);
        }
        created++;
        /* Let the readers in every few rounds, so that they really run
         * against the changes even on a loaded machine. */
        if (round % 8 == 0) {
            unsigned long seen =
                atomic_load(&sh.reads_ok) + atomic_load(&sh.reads_fault);
            while (atomic_load(&sh.reads_ok) + atomic_load(&sh.reads_fault) <
                   seen + READERS)
                g_thread_yield();
        }
    }
    atomic_store(&sh.stop, true);
    for (int i = 0; i < READERS; i++)
        g_thread_join(threads[i]);

    assert_int_equal(atomic_load(&sh.bad), 0);
    /* both outcomes happened: the readers met regions and gaps */
    assert_true(atomic_load(&sh.reads_ok) > 0);
    assert_true(atomic_load(&sh.reads_fault) > 0);

    dms_space_unref(sh.space);
    dms_region_unref(root);
    for (int i = 0; i < SLOTS; i++) {
        dms_region_unref(ram[i]);
        dms_region_unref(msg[i]);
    }
    /* every region ever created was released exactly once */
    assert_int_equal(dms_update_barrier(), 0);
    {
        int total = atomic_load(&msgs_notified);
        for (int i = 0; i < SLOTS; i++)
            total += atomic_load(&slots[i].notified);
        assert_int_equal(total, created);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_never_see_torn_or_freed_views),
    };

    return cmocka_run_group_tests_name("space-stress", tests, NULL, NULL);
}
