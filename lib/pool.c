/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce buffers: the pool that makes small buffers cheap, large buffers
 * allocated one by one, and the exact checks that let unmap refuse any
 * pointer it did not lend.
 *
 * Pool. Buffers up to 64 KiB come from chunks of 64 KiB, one size class
 * (a power of two from 64 B) per chunk, with a bitmap of free slots that
 * threads claim with a CAS on one word: no lock on the map/unmap path.
 * A space keeps at most POOL_MAX_CHUNKS chunks (1 MiB, the default
 * budget) until it goes; beyond that, and for larger buffers, a buffer is
 * allocated for the mapping alone. Thread caches (bounce-cache.c) hold
 * claimed slots of their own; to the bitmap those are simply in use.
 * Chunk headers and slots are line-aligned (dms__lines_alloc0()): the
 * slots of one chunk are written by whichever threads lend them.
 *
 * Exact unmap checks. A pointer is only ever dereferenced after it was
 * found to be ours: pooled pointers by an address-range test against the
 * space's own chunk list, then by a per-slot state word (live bit,
 * direction and a generation) that unmap claims with a CAS, so two racing
 * unmaps of one buffer cannot both win; other buffers by a hash table.
 */
#include "pool.h"

#include <string.h>

static PoolChunk *chunk_new(unsigned shift)
{
    unsigned nslots = (unsigned)(CHUNK_BYTES >> shift);
    PoolChunk *c = dms__lines_alloc0(sizeof(*c) + nslots * sizeof(PoolSlot));

    if (!c)
        return NULL;
    /* Line-aligned: no two slots' buffers share a line. */
    if (posix_memalign((void **)&c->data, DMS_CACHE_LINE, CHUNK_BYTES) != 0) {
        free(c);
        return NULL;
    }
    c->shift = shift;
    c->nslots = nslots;
    for (unsigned w = 0; w < FREE_WORDS; w++) {
        unsigned first = w * (unsigned)WORD_BITS;
        unsigned long bits = 0;

        if (nslots >= first + WORD_BITS)
            bits = ~0UL;
        else if (nslots > first)
            bits = (1UL << (nslots - first)) - 1;
        atomic_init(&c->free[w], bits);
    }
    return c;
}

static void chunk_free(PoolChunk *c)
{
    free(c->data);
    free(c);
}

/* Claims a free slot of @c; false if all are lent. Lock-free. */
static bool chunk_claim(PoolChunk *c, unsigned *slot)
{
    unsigned words = (c->nslots + (unsigned)WORD_BITS - 1) / WORD_BITS;

    for (unsigned w = 0; w < words; w++) {
        unsigned long bits =
            atomic_load_explicit(&c->free[w], memory_order_relaxed);

        while (bits) {
            unsigned long lowest = bits & (~bits + 1);

            /* Acquire: the previous holder's writes are done. */
            if (atomic_compare_exchange_weak_explicit(
                    &c->free[w], &bits, bits & ~lowest, memory_order_acquire,
                    memory_order_relaxed)) {
                *slot =
                    w * (unsigned)WORD_BITS + (unsigned)__builtin_ctzl(lowest);
                return true;
            }
        }
    }
    return false;
}

static void chunk_release(PoolChunk *c, unsigned slot)
{
    /* Release: our last reads of the buffer come before its next use. */
    atomic_fetch_or_explicit(&c->free[slot / WORD_BITS],
                             1UL << (slot % WORD_BITS), memory_order_release);
}

bool dms__pool_claim(DmsPool *b, unsigned shift, Buf *buf)
{
    unsigned cls = shift - POOL_MIN_SHIFT;
    unsigned n = atomic_load_explicit(&b->nclass[cls], memory_order_acquire);
    unsigned slot;

    for (unsigned i = 0; i < n; i++) {
        PoolChunk *c = b->class_chunk[cls][i];

        if (chunk_claim(c, &slot)) {
            dms__buf_of_slot(buf, c, slot);
            return true;
        }
    }
    return false;
}

/*
 * A slot of class @shift, growing the pool if needed. -ENOSPC when the
 * pool has reached its size and every slot of the class is lent; -ENOMEM.
 */
static int pool_get(DmsPool *b, unsigned shift, Buf *buf)
{
    unsigned cls = shift - POOL_MIN_SHIFT;

    for (;;) {
        unsigned n =
            atomic_load_explicit(&b->nclass[cls], memory_order_acquire);
        unsigned total;
        PoolChunk *c;

        if (dms__pool_claim(b, shift, buf))
            return 0;

        g_mutex_lock(&b->grow_lock);
        if (atomic_load_explicit(&b->nclass[cls], memory_order_relaxed) != n) {
            /* Someone grew the class while we looked: look again. */
            g_mutex_unlock(&b->grow_lock);
            continue;
        }
        total = atomic_load_explicit(&b->nchunks, memory_order_relaxed);
        if (total == POOL_MAX_CHUNKS) {
            g_mutex_unlock(&b->grow_lock);
            return -ENOSPC;
        }
        c = chunk_new(shift);
        if (!c) {
            g_mutex_unlock(&b->grow_lock);
            return -ENOMEM;
        }
        /* Slot 0 is ours before anyone can see the chunk. */
        atomic_fetch_and_explicit(&c->free[0], ~1UL, memory_order_relaxed);
        /*
         * Findable by unmap before claimable by map: otherwise a map on
         * another thread could claim a slot here, and its unmap be
         * refused, while we are preempted between the two.
         */
        b->chunk_base[total] = (uintptr_t)c->data;
        b->chunk[total] = c;
        atomic_store_explicit(&b->nchunks, total + 1, memory_order_release);
        b->class_chunk[cls][n] = c;
        atomic_store_explicit(&b->nclass[cls], n + 1, memory_order_release);
        g_mutex_unlock(&b->grow_lock);
        dms__buf_of_slot(buf, c, 0);
        return 0;
    }
}

/* The chunk whose buffers contain @ptr, or NULL. Reads only our memory. */
static PoolChunk *pool_find(DmsPool *b, const void *ptr)
{
    unsigned n = atomic_load_explicit(&b->nchunks, memory_order_acquire);

    for (unsigned i = 0; i < n; i++) {
        if ((uintptr_t)ptr - b->chunk_base[i] < CHUNK_BYTES)
            return b->chunk[i];
    }
    return NULL;
}

int dms__buf_get(DmsPool *b, size_t len, Buf *buf)
{
    unsigned shift = dms__pool_shift(len);
    int r = -ENOSPC;

    memset(buf, 0, sizeof(*buf));
    if (shift <= POOL_MAX_SHIFT)
        r = pool_get(b, shift, buf);
    if (r == 0)
        return 0;
    if (r != -ENOSPC)
        return r;
    /* Too large for the pool, or the pool is at its size. */
    if (len > SIZE_MAX - LARGE_HEADER)
        return -ENOMEM;
    buf->large = g_try_malloc(LARGE_HEADER + len);
    if (!buf->large)
        return -ENOMEM;
    buf->large->len = len;
    buf->data = (uint8_t *)buf->large + LARGE_HEADER;
    buf->lent = &buf->large->lent;
    return 0;
}

void dms__buf_put(Buf *buf)
{
    if (buf->chunk)
        chunk_release(buf->chunk, buf->slot);
    else
        g_free(buf->large);
}

void dms__large_publish(DmsPool *b, Buf *buf, DmsDirection dir)
{
    buf->large->dir = dir;
    atomic_fetch_add_explicit(&b->nlarge, 1, memory_order_relaxed);
    g_mutex_lock(&b->large_lock);
    g_hash_table_insert(b->large, buf->data, buf->large);
    g_mutex_unlock(&b->large_lock);
}

/*
 * Nothing is dereferenced before @ptr is known to lie in one of our
 * chunks, at a slot boundary.
 */
static bool pool_take(DmsPool *b, void *ptr, size_t len, DmsDirection dir,
                      Buf *buf)
{
    PoolChunk *c = pool_find(b, ptr);
    unsigned want_dir = dir == DMS_DIR_FROM_DEVICE ? SLOT_FROM_DEVICE : 0;
    size_t off;
    PoolSlot *s;
    unsigned state;

    if (!c)
        return false;
    off = (size_t)((uint8_t *)ptr - c->data);
    if (off & (((size_t)1 << c->shift) - 1))
        return false; /* interior pointer */
    s = &c->slots[off >> c->shift];
    state = atomic_load_explicit(&s->state, memory_order_acquire);
    if (!(state & SLOT_LIVE) || (state & SLOT_FROM_DEVICE) != want_dir ||
        atomic_load_explicit(&s->len, memory_order_relaxed) != len)
        return false;
    /*
     * The CAS succeeds only if the slot is still the incarnation whose
     * len we checked (the generation changes with every map), and only
     * for one of several racing unmaps.
     */
    if (!atomic_compare_exchange_strong_explicit(
            &s->state, &state, state & ~SLOT_LIVE, memory_order_acq_rel,
            memory_order_relaxed))
        return false;
    dms__buf_of_slot(buf, c, (unsigned)(off >> c->shift));
    return true;
}

G_GNUC_NO_INLINE static bool large_take(DmsPool *b, void *ptr, size_t len,
                                        DmsDirection dir, Buf *buf)
{
    LargeBuf *lb;

    if (atomic_load_explicit(&b->nlarge, memory_order_acquire) == 0)
        return false;
    g_mutex_lock(&b->large_lock);
    lb = g_hash_table_lookup(b->large, ptr);
    if (lb && lb->len == len && lb->dir == dir)
        g_hash_table_remove(b->large, ptr);
    else
        lb = NULL;
    g_mutex_unlock(&b->large_lock);
    if (!lb)
        return false;
    atomic_fetch_sub_explicit(&b->nlarge, 1, memory_order_relaxed);
    buf->data = ptr;
    buf->chunk = NULL;
    buf->large = lb;
    buf->lent = &lb->lent;
    return true;
}

bool dms__buf_take(DmsPool *b, void *ptr, size_t len, DmsDirection dir,
                   Buf *buf)
{
    return pool_take(b, ptr, len, dir, buf) ||
           large_take(b, ptr, len, dir, buf);
}

void dms__pool_init(DmsPool *b)
{
    atomic_init(&b->nchunks, 0);
    for (unsigned i = 0; i < POOL_CLASSES; i++)
        atomic_init(&b->nclass[i], 0);
    atomic_init(&b->nlarge, 0);
    g_mutex_init(&b->grow_lock);
    g_mutex_init(&b->large_lock);
    b->large = g_hash_table_new(NULL, NULL);
}

void dms__pool_clear(DmsPool *b)
{
    unsigned n = atomic_load_explicit(&b->nchunks, memory_order_acquire);

    for (unsigned i = 0; i < n; i++)
        chunk_free(b->chunk[i]);
    g_hash_table_unref(b->large);
    g_mutex_clear(&b->grow_lock);
    g_mutex_clear(&b->large_lock);
}
