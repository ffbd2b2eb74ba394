/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state of bounce.c: one space's budget, pool and thread caches.
 * Never installed; only bounce.c (and tests that look inside) include it.
 */
#ifndef DMS_BOUNCE_IMPL_H
#define DMS_BOUNCE_IMPL_H

#include "bounce-cache.h"
#include "bounce.h"
#include "budget.h"
#include "pool.h"

struct DmsBounce {
    DmsBudget budget; /* first: its padding assumes a line-aligned start */
    DmsPool pool;
    DmsCaches caches;
    DmsSpaceCounters *counters; /* the space's */
    atomic_size_t *holds;       /* the space's hold count */
};

#endif /* DMS_BOUNCE_IMPL_H */
