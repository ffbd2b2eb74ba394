/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounce budget: one word of bytes charged and one of the limit, both
 * machine words so that 32-bit hosts need no libatomic.
 *
 * A take is a compare-and-swap loop that grants min(limit - used, want),
 * or nothing when used >= limit, so a limit lowered below what is
 * charged never wraps. The limit and the counter are two words: a grant
 * computed from one limit could land after the limit was lowered. The
 * take therefore re-reads the limit after its CAS and gives itself back
 * if it changed, so no grant completes against a limit that is no longer
 * in force.
 *
 * Both halves of the wake-up protocol are here, and explained in
 * doc/design.md, "Wake-ups": dms__budget_release() and
 * dms__budget_set_limit() are the releasing half,
 * dms__budget_set_waiting() and dms__budget_room() the waiting half.
 */
#include "budget.h"

#include <errno.h>
#include <stdint.h>

void dms__budget_init(DmsBudget *bg, size_t limit)
{
    atomic_init(&bg->limit, limit);
    atomic_init(&bg->waiting, 0);
    atomic_init(&bg->used, 0);
}

bool dms__budget_release(DmsBudget *bg, size_t n)
{
    atomic_fetch_sub_explicit(&bg->used, n, memory_order_seq_cst);
    DMS_SCHED_POINT();
    return atomic_load_explicit(&bg->waiting, memory_order_seq_cst) != 0;
}

/*
 * One grant against one limit: min(cap - used, @want) bytes, where cap is
 * the limit, or half of it for a @spare take, which also wants all of
 * @want or nothing. Returns the bytes charged (0: none); *@limit_seen is
 * the limit it was charged against.
 */
static size_t charge(DmsBudget *bg, size_t want, bool spare,
                     size_t *limit_seen, bool *wake)
{
    for (;;) {
        size_t limit = atomic_load_explicit(&bg->limit, memory_order_seq_cst);
        size_t used = atomic_load_explicit(&bg->used, memory_order_relaxed);
        size_t cap = spare ? limit / 2 : limit, n;

        *limit_seen = limit;
        do {
            if (used >= cap || (spare && cap - used < want))
                return 0;
            n = cap - used < want ? cap - used : want;
        } while (!atomic_compare_exchange_weak_explicit(
            &bg->used, &used, used + n, memory_order_seq_cst,
            memory_order_relaxed));
        DMS_SCHED_POINT();
        if (atomic_load_explicit(&bg->limit, memory_order_seq_cst) == limit)
            return n;
        /*
         * The limit changed between our read and our CAS: the grant may
         * exceed the new one. Give it back (waking anyone who saw it
         * taken and went to wait) and decide again.
         */
        if (dms__budget_release(bg, n))
            *wake = true;
    }
}

int dms__budget_take(DmsBudget *bg, size_t want, size_t *grant, bool *wake)
{
    size_t limit, n = charge(bg, want, false, &limit, wake);

    if (n == 0)
        return limit == 0 ? -ENOBUFS : -EAGAIN;
    *grant = n;
    return 0;
}

bool dms__budget_take_spare(DmsBudget *bg, size_t n, bool *wake)
{
    size_t limit;

    return charge(bg, n, true, &limit, wake) == n;
}

void dms__budget_set_waiting(DmsBudget *bg, unsigned n)
{
    atomic_store_explicit(&bg->waiting, n, memory_order_seq_cst);
}

size_t dms__budget_room(const DmsBudget *bg)
{
    DmsBudget *b = (DmsBudget *)bg; /* loads only */
    size_t used = atomic_load_explicit(&b->used, memory_order_seq_cst);
    size_t limit = atomic_load_explicit(&b->limit, memory_order_seq_cst);

    if (limit == 0)
        return SIZE_MAX;
    return used < limit ? limit - used : 0;
}

bool dms__budget_set_limit(DmsBudget *bg, size_t limit)
{
    atomic_store_explicit(&bg->limit, limit, memory_order_seq_cst);
    DMS_SCHED_POINT();
    return atomic_load_explicit(&bg->waiting, memory_order_seq_cst) != 0;
}
