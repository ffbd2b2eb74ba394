/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bounce budget: bytes charged against a limit, and both halves of the
 * wake-up protocol between those who free bytes and those who wait for
 * them (doc/design.md, "Wake-ups"). It knows neither spaces nor map
 * clients: whoever frees bytes is told "wake the waiters" and does it.
 * Never installed.
 */
#ifndef DMS_BUDGET_H
#define DMS_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

typedef struct DmsBudget {
    /* Read-mostly. */
    atomic_size_t limit;
    atomic_uint waiting; /* waiters registered (their owner counts them) */

    /*
     * Written by every charge and release that does not go through a
     * thread cache: alone on its line, so that the fields above stay in
     * every reader's cache.
     */
    char pad_before[DMS_CACHE_LINE];
    atomic_size_t used; /* bytes charged: lent, or held idle by caches */
    char pad_after[DMS_CACHE_LINE - sizeof(atomic_size_t)];
} DmsBudget;

void dms__budget_init(DmsBudget *bg, size_t limit);

/*
 * Charges min(limit - used, @want) bytes (never past the limit, never
 * wrapping when the limit was lowered below what is charged) and sets
 * *@grant. Returns 0; -EAGAIN if nothing is left; -ENOBUFS if the limit
 * is 0. Sets *@wake if it had to give bytes back (a limit that changed
 * under it) while someone waits.
 */
int dms__budget_take(DmsBudget *bg, size_t want, size_t *grant, bool *wake);

/*
 * Charges exactly @n bytes if that leaves at least half the limit
 * uncharged; false otherwise (*@wake as above).
 */
bool dms__budget_take_spare(DmsBudget *bg, size_t n, bool *wake);

/*
 * Gives @n bytes back. Returns true if waiters must be woken: the
 * releasing half of the protocol.
 */
bool dms__budget_release(DmsBudget *bg, size_t n);

/*
 * The waiting half: @n waiters now (called on every change, under the
 * waiters' own lock); after a rise, the caller checks dms__budget_room().
 */
void dms__budget_set_waiting(DmsBudget *bg, unsigned n);

/* Inline: the thread caches' fast path reads these at every map. */
static inline bool dms__budget_waiting(const DmsBudget *bg)
{
    DmsBudget *b = (DmsBudget *)bg; /* loads only */

    return atomic_load_explicit(&b->waiting, memory_order_seq_cst) != 0;
}

/* Bytes charged now. */
static inline size_t dms__budget_used(const DmsBudget *bg)
{
    return atomic_load_explicit(&((DmsBudget *)bg)->used,
                                memory_order_relaxed);
}

static inline size_t dms__budget_limit(const DmsBudget *bg)
{
    return atomic_load_explicit(&((DmsBudget *)bg)->limit,
                                memory_order_relaxed);
}

/*
 * Bytes a take could get now (limit - used, 0 when used up); SIZE_MAX
 * when the limit is 0, since a take then fails for good and waiting for
 * room is pointless.
 */
size_t dms__budget_room(const DmsBudget *bg);

/*
 * Sets the limit. Returns true if waiters must be woken (a raised limit
 * is freed budget).
 */
bool dms__budget_set_limit(DmsBudget *bg, size_t limit);

#endif /* DMS_BUDGET_H */
