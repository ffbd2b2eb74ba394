/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where bounce buffers lie, through the public API only.
 *
 * Two threads bouncing 4 KiB on one space hold neighbouring buffers of
 * one pool chunk. If a chunk's buffers do not start on a cache line,
 * every two neighbours share one, and the threads' fills contend for it
 * at every map: two threads then ran slower than one, but only in a
 * process whose heap earlier spaces had left in the wrong state (issue
 * 13). Every bounce buffer must start on a line, whatever the heap.
 */
#include "tc.h"

#include <stdlib.h>

enum {
    AREA = 1 << 20,
    SPACES = 24,
    LINE = 64,
};

/* Leaves holes of assorted sizes in the heap, as earlier spaces would. */
static void *churn_heap(unsigned seed)
{
    void *keep[64];
    void *chain = NULL;

    for (unsigned i = 0; i < 64; i++)
        keep[i] = malloc(16 + ((seed * 7919u + i * 104729u) % 70000u));
    for (unsigned i = 0; i < 64; i++) {
        if ((i + seed) % 3 == 0) {
            /* Kept until the end, linked through their first word. */
            *(void **)keep[i] = chain;
            chain = keep[i];
        } else {
            free(keep[i]);
        }
    }
    return chain;
}

static void free_chain(void *chain)
{
    while (chain) {
        void *next = *(void **)chain;

        free(chain);
        chain = next;
    }
}

static void test_bounce_buffers_start_on_a_cache_line(void **state)
{
    static const size_t sizes[] = {64, 512, 4096, 65536};
    MemDev *dev = tc_memdev(AREA, 1);
    DmsRegion *root, *msg;
    (void)state;

    assert_int_equal(dms_region_new_container("root", AREA, &root), 0);
    assert_int_equal(memdev_region_new(dev, "msg", 0, NULL, &msg), 0);
    assert_int_equal(dms_region_add_subregion(root, 0, msg, 0, 0), 0);
    dms_region_unref(msg);

    for (unsigned s = 0; s < SPACES; s++) {
        void *chain = churn_heap(s);
        DmsSpace *space;

        assert_int_equal(dms_space_new(root, "layout", &space), 0);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            void *p[2];

            /* Two at once: neighbours in one chunk. */
            for (int k = 0; k < 2; k++) {
                size_t len = sizes[i];

                assert_int_equal(dms_space_map(space, (uint64_t)k * sizes[i],
                                               &len, DMS_DIR_TO_DEVICE, NULL,
                                               &p[k]),
                                 0);
                assert_int_equal(len, sizes[i]);
                assert_int_equal((uintptr_t)p[k] % LINE, 0);
            }
            for (int k = 0; k < 2; k++)
                assert_int_equal(dms_space_unmap(space, p[k], sizes[i],
                                                 DMS_DIR_TO_DEVICE, 0),
                                 0);
        }
        dms_space_unref(space);
        free_chain(chain);
    }
    dms_region_unref(root);
    assert_int_equal(dms_update_barrier(), 0);
    tc_memdev_free(dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounce_buffers_start_on_a_cache_line),
    };

    return cmocka_run_group_tests_name("bounce-layout", tests, NULL, NULL);
}
