/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reference counts of the library's opaque objects: one way to take and
 * drop them, so the memory orders are argued once. Never installed.
 */
#ifndef DMS_REFCOUNT_H
#define DMS_REFCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>

/*
 * Takes a reference. Relaxed: the caller already holds one, so the
 * object cannot go meanwhile, and taking orders nothing.
 */
static inline void dms__ref_get(atomic_int *count)
{
    atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

/*
 * Drops a reference; true when it was the last, and the caller frees.
 * Release so that this thread's writes to the object come before the
 * drop, acquire so that the freeing thread sees every other holder's.
 */
static inline bool dms__ref_put(atomic_int *count)
{
    return atomic_fetch_sub_explicit(count, 1, memory_order_acq_rel) == 1;
}

#endif /* DMS_REFCOUNT_H */
