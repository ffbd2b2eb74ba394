/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dirty log of RAM regions: one bit per page, set by every write the
 * library makes into the region (dms_space_write(), from-device unmaps of
 * direct mappings, the SG helpers) and taken, read and cleared in one
 * step, by live migration.
 *
 * The bitmap is an array of machine words (unsigned long), so that it
 * needs only the atomics every host has: 64 pages per word on 64-bit
 * hosts, 32 on 32-bit ones. Writers set bits with an atomic OR; the taker
 * swaps each word with 0 (or clears just the bits it takes), so a bit set
 * concurrently is either taken now or left for the next call, never lost.
 * The public bitmap has 64 pages per uint64_t word whatever the host.
 *
 * Ordering: a writer sets the bit after it stored the data (release), the
 * taker swaps with acquire, so a page seen dirty is seen with its data.
 */
#include "dms-private.h"

#include <limits.h>

#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)

struct DmsDirtyLog {
    unsigned shift;  /* log2 of the page size */
    uint64_t npages; /* pages covering the region's capacity */
    size_t nwords;
    atomic_ulong words[];
};

int dms_region_enable_dirty_log(DmsRegion *ram, uint64_t page_size)
{
    DmsDirtyLog *log, *expected = NULL;
    uint64_t npages;
    unsigned shift;
    size_t nwords;

    g_return_val_if_fail(ram != NULL, -EINVAL);
    g_return_val_if_fail(ram->kind == DMS_KIND_RAM, -EINVAL);
    g_return_val_if_fail(page_size != 0 &&
                             (page_size & (page_size - 1)) == 0 &&
                             page_size <= (UINT64_C(1) << 30),
                         -EINVAL);

    shift = (unsigned)__builtin_ctzll(page_size);
    npages = ((ram->capacity - 1) >> shift) + 1;
    /* The public count is an int64_t; the bitmap must fit in memory. */
    if (npages > INT64_MAX ||
        npages / WORD_BITS >= SIZE_MAX / 2 / sizeof(unsigned long))
        return -ENOMEM;
    nwords = (size_t)((npages + WORD_BITS - 1) / WORD_BITS);
    log = g_try_malloc0(sizeof(*log) + nwords * sizeof(unsigned long));
    if (!log)
        return -ENOMEM;
    log->shift = shift;
    log->npages = npages;
    log->nwords = nwords;

    /* Release: whoever sees the pointer sees the zeroed bitmap. */
    if (!atomic_compare_exchange_strong_explicit(&ram->dirty, &expected, log,
                                                 memory_order_release,
                                                 memory_order_relaxed)) {
        g_free(log);
        return -EEXIST;
    }
    return 0;
}

void dms__dirty_mark(DmsRegion *r, uint64_t offset, uint64_t len)
{
    DmsDirtyLog *log = atomic_load_explicit(&r->dirty, memory_order_acquire);
    uint64_t first, last;

    if (!log || len == 0)
        return;
    first = offset >> log->shift;
    /* Inclusive end, without overflow at the top of the range. */
    last = (offset + (len - 1)) >> log->shift;
    if (offset > UINT64_MAX - (len - 1) || last >= log->npages)
        last = log->npages - 1; /* callers never pass this; stay inside */
    if (first > last)
        return;

    for (uint64_t w = first / WORD_BITS; w <= last / WORD_BITS; w++) {
        uint64_t lo = w == first / WORD_BITS ? first % WORD_BITS : 0;
        uint64_t hi = w == last / WORD_BITS ? last % WORD_BITS : WORD_BITS - 1;
        unsigned long mask = (~0UL >> (WORD_BITS - 1 - (hi - lo))) << lo;
        atomic_ulong *word = &log->words[w];

        /*
         * Always the OR, even when the bits look set: its release is what
         * lets a taker that takes them see this write's data. A skipped
         * OR would leave the bit, set by an earlier write, to be taken
         * without our data, and nothing would mark the page again.
         */
        atomic_fetch_or_explicit(word, mask, memory_order_release);
    }
}

void dms__dirty_free(DmsDirtyLog *log)
{
    g_free(log);
}

/* Takes the bits of @word below @nbits (all if @nbits >= WORD_BITS). */
static unsigned long take_word(atomic_ulong *word, uint64_t nbits)
{
    unsigned long mask;

    if (nbits >= WORD_BITS)
        return atomic_exchange_explicit(word, 0, memory_order_acq_rel);
    mask = (1UL << nbits) - 1;
    return atomic_fetch_and_explicit(word, ~mask, memory_order_acq_rel) & mask;
}

int64_t dms_region_take_dirty_log(DmsRegion *ram, uint64_t *bitmap,
                                  uint64_t nbits)
{
    DmsDirtyLog *log;
    uint64_t n;

    g_return_val_if_fail(ram != NULL, -EINVAL);
    g_return_val_if_fail(ram->kind == DMS_KIND_RAM, -EINVAL);
    g_return_val_if_fail(bitmap != NULL || nbits == 0, -EINVAL);
    log = atomic_load_explicit(&ram->dirty, memory_order_acquire);
    g_return_val_if_fail(log != NULL, -EINVAL);

    n = MIN(nbits, log->npages);
    for (uint64_t page = 0; page < n; page += 64) {
        uint64_t out = 0;

        /* One public word: one internal word, or two on 32-bit hosts. */
        for (unsigned part = 0; part < 64 / WORD_BITS; part++) {
            uint64_t base = page + part * WORD_BITS;

            if (base >= n)
                break;
            out |= (uint64_t)take_word(&log->words[base / WORD_BITS], n - base)
                   << (part * WORD_BITS);
        }
        bitmap[page / 64] = out;
    }
    return (int64_t)log->npages;
}
