/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The delays behind DMS_SCHED_POINT() (sched-point.h), compiled only
 * with -Dsched_points=true. Each thread draws from its own xorshift
 * generator, seeded from its address and the clock, so threads do not
 * meet on a shared word here and runs differ: at one point in four
 * nothing happens, at one in four the thread yields its time slice, and
 * otherwise it spins for up to about a thousand pause-free iterations.
 */
#include "sched-point.h"

#include "compiler.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static DMS_THREAD_LOCAL uint64_t sched_state;
/* -1: not read yet; 0: off (DMS_SCHED_POINTS=0); 1: on */
static atomic_int sched_enabled = -1;

static bool sched_on(void)
{
    int on = atomic_load_explicit(&sched_enabled, memory_order_relaxed);

    if (on < 0) {
        const char *s = getenv("DMS_SCHED_POINTS");

        on = !(s && strcmp(s, "0") == 0);
        atomic_store_explicit(&sched_enabled, on, memory_order_relaxed);
    }
    return on != 0;
}

static uint64_t sched_next(void)
{
    uint64_t x = sched_state;

    if (x == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)(uintptr_t)&sched_state ^ ((uint64_t)ts.tv_nsec << 20) ^
            (uint64_t)ts.tv_sec;
        if (x == 0)
            x = 0x9e3779b97f4a7c15u;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sched_state = x;
    return x;
}

void dms__sched_point(void)
{
    uint64_t r;

    if (!sched_on())
        return;
    r = sched_next();
    switch (r & 3) {
    case 0:
        return;
    case 1:
        sched_yield();
        return;
    default:
        for (volatile unsigned i = (unsigned)((r >> 8) & 1023); i > 0; i--)
            ;
        return;
    }
}
