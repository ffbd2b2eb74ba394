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
 *
 * The two threads hand each round over through gates that poll for a
 * moment, then sleep until the other thread opens them: a waiting thread
 * never polls the scheduler, so a round on a loaded machine costs a
 * wake-up or two, not time slices of every other runnable process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include <dmaspace/dmaspace.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stress-rounds.h"

/*
 * Rounds where they find something. With schedule points (the ASan and
 * TSan stages) the old lifetime code failed within 3-76 rounds in 8 runs
 * of 8 (doc/testing.md): 300 leave a wide margin, and each point may
 * yield, which on a loaded machine is what a round costs. Plain ASan
 * found it within 400-1663 rounds in 6 runs of 8. TSan does not see a
 * use-after-free at all: there the rounds only check that the lifetime
 * code orders its accesses. Without a sanitizer a use-after-free goes
 * unseen unless it crashes; the rounds check the counts.
 */
#if defined(__SANITIZE_THREAD__)
#define RACE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RACE_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RACE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RACE_ASAN 1
#endif
#endif

#if defined(RACE_TSAN)
#define ROUNDS 200
#elif defined(DMS_SCHED_POINTS)
#define ROUNDS 300
#elif defined(RACE_ASAN)
#define ROUNDS 2000
#else
#define ROUNDS 500
#endif

enum {
    MAP_LEN = 64,
    AREA = 4096,
    SMALL_LIMIT = 4096, /* below what thread caches need: no caching */
    SPIN_NS = 200000,   /* a gate is polled this long before sleeping */
};

/*
 * A counter one thread raises and the other waits on. The waiter polls it
 * for up to SPIN_NS (on an idle machine the other thread is running, and
 * the round must start on both at once: a helper asleep when the round
 * opens wakes too late to race the last unref), then sleeps on the
 * condition variable until the raise. Under load that costs a round at
 * most the poll, never time slices of other processes.
 */
typedef struct Gate {
    atomic_uint value;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} Gate;

static void gate_init(Gate *g)
{
    atomic_init(&g->value, 0);
    assert_int_equal(pthread_mutex_init(&g->lock, NULL), 0);
    assert_int_equal(pthread_cond_init(&g->cond, NULL), 0);
}

static void gate_destroy(Gate *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

static void gate_raise(Gate *g, unsigned value)
{
    pthread_mutex_lock(&g->lock);
    atomic_store_explicit(&g->value, value, memory_order_release);
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Waits until the value is no longer @old; returns it. */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned gate_wait(Gate *g, unsigned old)
{
    uint64_t start = now_ns();
    unsigned v;

    for (unsigned polls = 1;; polls++) {
        v = atomic_load_explicit(&g->value, memory_order_acquire);
        if (v != old)
            return v;
        if (polls % 64 == 0 && now_ns() - start > SPIN_NS)
            break;
    }
    pthread_mutex_lock(&g->lock);
    while ((v = atomic_load_explicit(&g->value, memory_order_acquire)) == old)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return v;
}

typedef struct Race {
    DmsRegion *root;
    uint8_t backend[AREA];
    atomic_int msg_notified; /* its destroy notify ran */

    size_t limit; /* 0: the default */
    /* Written by the main thread before it bumps @round. */
    DmsSpace *space;
    void *ptr;
    Gate round; /* the round the helper may run; UINT_MAX: stop */
    Gate done;  /* the last round the helper finished */
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

/* The helper: holds only the mapping, revives, drops, unmaps. */
static void *helper_main(void *opaque)
{
    Race *race = opaque;
    unsigned seen = 0;

    for (;;) {
        seen = gate_wait(&race->round, seen);
        if (seen == UINT_MAX)
            return NULL;
        dms_space_ref(race->space);
        dms_space_unref(race->space);
        assert_int_equal(dms_space_unmap(race->space, race->ptr, MAP_LEN,
                                         DMS_DIR_TO_DEVICE, MAP_LEN),
                         0);
        gate_raise(&race->done, seen);
    }
}

/* A fresh space of @race's root, with one bounce mapping of MAP_LEN. */
static void race_prepare(Race *race, DmsSpace **space, void **ptr)
{
    size_t len = MAP_LEN;

    assert_int_equal(dms_space_new(race->root, "race", space), 0);
    if (race->limit)
        dms_space_set_bounce_limit(*space, race->limit);
    assert_int_equal(
        dms_space_map(*space, 0, &len, DMS_DIR_TO_DEVICE, NULL, ptr), 0);
    assert_int_equal(len, MAP_LEN);
}

static void run_race(size_t limit)
{
    Race *race = calloc(1, sizeof(*race));
    unsigned rounds = dms_stress_rounds(ROUNDS);
    DmsSpace *space;
    DmsRegion *msg;
    pthread_t helper;
    void *ptr;

    assert_non_null(race);
    race->limit = limit;
    gate_init(&race->round);
    gate_init(&race->done);
    assert_int_equal(dms_region_new_container("root", AREA, &race->root), 0);
    assert_int_equal(dms_region_new_message("msg", AREA, &backend_ops, race,
                                            msg_notify, &msg),
                     0);
    assert_int_equal(dms_region_add_subregion(race->root, 0, msg, 0, 0), 0);
    dms_region_unref(msg);
    assert_int_equal(pthread_create(&helper, NULL, helper_main, race), 0);

    /*
     * Each round's space is made before the round opens (the one after
     * it while the helper works), so that main raises the round as soon
     * as it sees the helper's last one done, while the helper still
     * polls: both then run into the race together.
     */
    race_prepare(race, &space, &ptr);
    for (unsigned round = 1; round <= rounds; round++) {
        DmsSpace *next_space = NULL;
        void *next_ptr = NULL;

        race->space = space;
        race->ptr = ptr;
        gate_raise(&race->round, round);
        /* The last reference, racing the helper's ref/unref/unmap. */
        dms_space_unref(space);
        if (round < rounds)
            race_prepare(race, &next_space, &next_ptr);
        assert_int_equal(gate_wait(&race->done, round - 1), round);
        space = next_space;
        ptr = next_ptr;
    }
    gate_raise(&race->round, UINT_MAX);
    assert_int_equal(pthread_join(helper, NULL), 0);
    gate_destroy(&race->round);
    gate_destroy(&race->done);

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
