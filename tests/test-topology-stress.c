/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stress: readers look addresses up and copy through the view while
 * writers add and remove 10^5 regions, one at a time and in batches.
 *
 * Each slot's address shows either nothing or the RAM region made for
 * that slot, whose bytes all hold the slot's tag: a read must get either
 * -EFAULT or the tag, whole (the old view or the new one, never a torn
 * or freed one; under TSan and ASan a freed node or region read by a
 * reader is a report). Every region's notify runs exactly once, after
 * the last reader that could see it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dms-private.h"

enum {
    SLOTS = 2048, /* addresses in play, shared by the writers */
    WRITERS = 2,  /* each owns every WRITERS-th slot */
    READERS = 2,
    OPS = 100000,       /* adds and removes, all writers together */
    SLOT_SIZE = 256,    /* bytes a region spans */
    SLOT_STRIDE = 4096, /* apart: gaps between the regions */
};

typedef struct Shared {
    DmsSpace *space;
    DmsRegion *root;
    uint8_t *mem; /* SLOTS * SLOT_SIZE bytes, slot i filled with tag(i) */
    atomic_int created;
    atomic_int notified;
    atomic_bool stop;
    atomic_ulong reads_ok, reads_fault, bad;
} Shared;

typedef struct Writer {
    Shared *sh;
    unsigned index;
} Writer;

static uint8_t tag(unsigned slot)
{
    return (uint8_t)(slot * 7 + 1);
}

static void count_notify(void *data)
{
    atomic_fetch_add(&((Shared *)data)->notified, 1);
}

static gpointer reader_main(gpointer data)
{
    Shared *sh = data;
    uint32_t seed = 12345;
    uint8_t buf[16];

    while (!atomic_load(&sh->stop)) {
        unsigned slot;
        uint64_t addr;
        int r;

        seed = seed * 1103515245u + 12345u;
        slot = (seed >> 8) % SLOTS;
        addr = (uint64_t)slot * SLOT_STRIDE + (seed >> 4) % (SLOT_SIZE - 16);
        r = dms_space_read(sh->space, addr, buf, sizeof(buf), NULL, NULL);
        if (r == -EFAULT) {
            atomic_fetch_add(&sh->reads_fault, 1);
        } else if (r == 0) {
            for (size_t i = 0; i < sizeof(buf); i++) {
                if (buf[i] != tag(slot))
                    atomic_fetch_add(&sh->bad, 1);
            }
            atomic_fetch_add(&sh->reads_ok, 1);
        } else {
            atomic_fetch_add(&sh->bad, 1);
        }

        /* A raw lookup: the range, read whole inside the section. */
        dms__rcu_read_lock();
        {
            const DmsFlatRange *fr = dms__flatview_lookup(
                atomic_load_explicit(&sh->space->view, memory_order_acquire),
                addr);
            if (fr && (fr->start != (uint64_t)slot * SLOT_STRIDE ||
                       fr->last != fr->start + SLOT_SIZE - 1 ||
                       fr->region->kind != DMS_KIND_RAM ||
                       fr->host[addr - fr->start] != tag(slot)))
                atomic_fetch_add(&sh->bad, 1);
        }
        dms__rcu_read_unlock();
    }
    return NULL;
}

static gpointer writer_main(gpointer data)
{
    Writer *w = data;
    Shared *sh = w->sh;
    DmsRegion *placed[SLOTS] = {0};
    uint32_t seed = 777 + w->index;
    unsigned ops = 0;

    while (ops < OPS / WRITERS) {
        /* Now and then a batch of several changes. */
        bool batch = (seed & 15) == 0;
        unsigned n = batch ? 8 : 1;

        if (batch)
            dms_update_begin();
        for (unsigned k = 0; k < n && ops < OPS / WRITERS; k++, ops++) {
            unsigned slot;

            seed = seed * 1103515245u + 12345u;
            slot = ((seed >> 8) % (SLOTS / WRITERS)) * WRITERS + w->index;
            if (placed[slot]) {
                assert_int_equal(
                    dms_region_remove_subregion(sh->root, placed[slot]), 0);
                placed[slot] = dms_region_unref(placed[slot]);
            } else {
                DmsRegion *r;

                assert_int_equal(
                    dms_region_new_ram("slot", sh->mem + slot * SLOT_SIZE,
                                       SLOT_SIZE, 0, sh, count_notify, &r),
                    0);
                atomic_fetch_add(&sh->created, 1);
                assert_int_equal(
                    dms_region_add_subregion(
                        sh->root, (uint64_t)slot * SLOT_STRIDE, r, 0, 0),
                    0);
                placed[slot] = r;
            }
        }
        if (batch)
            dms_update_commit();
    }
    /*
     * About half the slots are placed now: let the readers meet both a
     * region and a gap before clearing them (no matter how the machine
     * scheduled them so far).
     */
    while (atomic_load(&sh->reads_ok) == 0 ||
           atomic_load(&sh->reads_fault) == 0)
        g_usleep(1000);
    for (unsigned slot = 0; slot < SLOTS; slot++) {
        if (placed[slot]) {
            assert_int_equal(
                dms_region_remove_subregion(sh->root, placed[slot]), 0);
            dms_region_unref(placed[slot]);
        }
    }
    return NULL;
}

static void test_readers_see_old_or_new_view_while_writers_churn(void **state)
{
    Shared sh = {0};
    GThread *readers[READERS], *writers[WRITERS];
    Writer w[WRITERS];

    (void)state;
    sh.mem = g_malloc((size_t)SLOTS * SLOT_SIZE);
    for (unsigned i = 0; i < SLOTS; i++)
        memset(sh.mem + (size_t)i * SLOT_SIZE, tag(i), SLOT_SIZE);
    assert_int_equal(dms_region_new_container("root", DMS_SIZE_ALL, &sh.root),
                     0);
    assert_int_equal(dms_space_new(sh.root, "stress", &sh.space), 0);

    for (unsigned i = 0; i < READERS; i++)
        readers[i] = g_thread_new("reader", reader_main, &sh);
    for (unsigned i = 0; i < WRITERS; i++) {
        w[i] = (Writer){&sh, i};
        writers[i] = g_thread_new("writer", writer_main, &w[i]);
    }
    for (unsigned i = 0; i < WRITERS; i++)
        g_thread_join(writers[i]);
    atomic_store(&sh.stop, true);
    for (unsigned i = 0; i < READERS; i++)
        g_thread_join(readers[i]);

    assert_int_equal(atomic_load(&sh.bad), 0);
    assert_true(atomic_load(&sh.reads_ok) > 0);
    assert_true(atomic_load(&sh.reads_fault) > 0);
    /* Everything is removed: the view is empty. */
    assert_null(dms__flatview_lookup(atomic_load(&sh.space->view), 0));

    dms_space_unref(sh.space);
    dms_region_unref(sh.root);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&sh.notified), atomic_load(&sh.created));
    g_free(sh.mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_see_old_or_new_view_while_writers_churn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
