/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Space lifetime under races, through the public API only.
 *
 * A caller left with only a bounce mapping may take a new reference with
 * dms_space_ref() (include/dmaspace/space.h). Round after round, one
 * thread drops the last reference of a fresh space while another, which
 * holds only a bounce mapping of it, takes a reference, drops it and
 * unmaps. Whatever the interleaving, the space must be freed exactly once
 * and only after both are done with it: under ASan a free under either
 * thread is a use-after-free report, a double free a crash, and a space
 * never freed keeps the message region, whose destroy notify the test
 * counts.
 *
 * Once with a budget too small for thread caches (every byte goes through
 * the shared budget) and once with the default limit (the maps and
 * unmaps go through the threads' caches). Bounded by rounds, not by time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include <dmaspace/dmaspace.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * ThreadSanitizer does not see a use-after-free, and every handover costs
 * it ten times more: there the rounds only check that the lifetime code
 * orders its accesses, which few rounds do.
 */
#if defined(__SANITIZE_THREAD__)
#define ROUNDS 400
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ROUNDS 400
#endif
#endif
#ifndef ROUNDS
#define ROUNDS 2000
#endif

enum {
    MAP_LEN = 64,
    AREA = 4096,
    SMALL_LIMIT = 4096, /* below what thread caches need: no caching */
    SPINS = 2000,       /* spins before yielding, waiting for the other */
};

typedef struct Race {
    DmsRegion *root;
    uint8_t backend[AREA];
    atomic_int msg_notified; /* its destroy notify ran */

    size_t limit; /* 0: the default */
    /* Written by the main thread before it bumps @round. */
    DmsSpace *space;
    void *ptr;
    atomic_uint round; /* the round the helper may run */
    atomic_uint done;  /* the last round the helper finished */
    atomic_bool stop;
} Race;

static int64_t backend_read(void *opaque, uint64_t off, void *buf, size_t len,
                            const DmsAttrs *attrs)
{
    (void)attrs;
    memcpy(buf, ((Race *)opaque)->backend + off, len);
    return (int64_t)len;
}

static int64_t backend_write(void *opaque, uint64_t off, const void *buf,
                             size_t len, const DmsAttrs *attrs)
{
    (void)attrs;
    memcpy(((Race *)opaque)->backend + off, buf, len);
    return (int64_t)len;
}

static const DmsMessageOps backend_ops = {
    .size = sizeof(DmsMessageOps),
    .read = backend_read,
    .write = backend_write,
};

static void msg_notify(void *opaque)
{
    Race *race = opaque;

    atomic_fetch_add(&race->msg_notified, 1);
}

/*
 * Both threads spin while the other is busy, so that the next round
 * starts on both at once; but on a loaded machine the other may not be
 * running at all, so they soon give up their time slice instead.
 */
static void pause_a_little(unsigned spins)
{
    if (spins >= SPINS)
        sched_yield();
}

/* The helper: holds only the mapping, revives, drops, unmaps. */
static void *helper_main(void *opaque)
{
    Race *race = opaque;
    unsigned seen = 0;

    for (;;) {
        unsigned round;

        while ((round = atomic_load_explicit(&race->round,
                                             memory_order_acquire)) == seen &&
               !atomic_load_explicit(&race->stop, memory_order_acquire))
            sched_yield();
        if (round == seen)
            return NULL;
        seen = round;
        dms_space_ref(race->space);
        dms_space_unref(race->space);
        assert_int_equal(dms_space_unmap(race->space, race->ptr, MAP_LEN,
                                         DMS_DIR_TO_DEVICE, MAP_LEN),
                         0);
        atomic_store_explicit(&race->done, seen, memory_order_release);
    }
}

static void run_race(size_t limit)
{
    Race *race = calloc(1, sizeof(*race));
    DmsRegion *msg;
    pthread_t helper;

    race->limit = limit;
    assert_non_null(race);
    assert_int_equal(dms_region_new_container("root", AREA, &race->root), 0);
    assert_int_equal(dms_region_new_message("msg", AREA, &backend_ops, race,
                                            msg_notify, &msg),
                     0);
    assert_int_equal(dms_region_add_subregion(race->root, 0, msg, 0, 0), 0);
    dms_region_unref(msg);
    assert_int_equal(pthread_create(&helper, NULL, helper_main, race), 0);

    for (unsigned round = 1; round <= ROUNDS; round++) {
        size_t len = MAP_LEN;
        DmsSpace *space;
        void *ptr;

        assert_int_equal(dms_space_new(race->root, "race", &space), 0);
        if (race->limit)
            dms_space_set_bounce_limit(space, race->limit);
        assert_int_equal(
            dms_space_map(space, 0, &len, DMS_DIR_TO_DEVICE, NULL, &ptr), 0);
        assert_int_equal(len, MAP_LEN);
        race->space = space;
        race->ptr = ptr;
        atomic_store_explicit(&race->round, round, memory_order_release);
        /* The last reference, racing the helper's ref/unref/unmap. */
        dms_space_unref(space);
        for (unsigned spins = 0;
             atomic_load_explicit(&race->done, memory_order_acquire) != round;
             spins++)
            pause_a_little(spins);
    }
    atomic_store_explicit(&race->stop, true, memory_order_release);
    assert_int_equal(pthread_join(helper, NULL), 0);

    /* Every space let go of the root: the test's reference is the last. */
    assert_int_equal(atomic_load(&race->msg_notified), 0);
    dms_region_unref(race->root);
    assert_int_equal(atomic_load(&race->msg_notified), 1);
    free(race);
}

static void test_last_unref_races_revive_through_mapping_uncached(void **state)
{
    (void)state;
    run_race(SMALL_LIMIT);
}

static void test_last_unref_races_revive_through_mapping_cached(void **state)
{
    (void)state;
    run_race(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_last_unref_races_revive_through_mapping_uncached),
        cmocka_unit_test(test_last_unref_races_revive_through_mapping_cached),
    };

    return cmocka_run_group_tests_name("space-lifetime", tests, NULL, NULL);
}
