/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce buffers: the per-space budget, the pool that makes small buffers
 * cheap, and the bounce half of map/unmap. doc/map.md tells the whole
 * story; the comments here say why each piece is the way it is.
 *
 * Budget. One size_t of bytes lent ("used") and one of the limit, both
 * machine words so that 32-bit hosts need no libatomic. A grant is taken
 * with a compare-and-swap loop and is min(limit - used, want), or nothing
 * when used >= limit: a limit lowered below what is lent never wraps.
 * Because the limit and the counter are two words, a grant computed from
 * one limit could land after the limit was lowered; the grant re-reads the
 * limit after its CAS and gives itself back if it changed, so no grant
 * ever completes against a limit that is no longer in force.
 *
 * Pool. Buffers up to 64 KiB come from chunks of 64 KiB, one size class
 * (a power of two from 64 B) per chunk, with a bitmap of free slots that
 * threads claim with a CAS on one word: no lock on the map/unmap path.
 * A space keeps at most POOL_MAX_CHUNKS chunks (1 MiB, the default
 * budget) until it goes; beyond that, and for larger buffers, a buffer is
 * allocated for the mapping alone.
 *
 * Exact unmap checks. A pointer is only ever dereferenced after it was
 * found to be ours: pooled pointers by an address-range test against the
 * space's own chunk list, then by a per-slot state word (live bit,
 * direction and a generation) that unmap claims with a CAS, so two racing
 * unmaps of one buffer cannot both win; other buffers by a hash table.
 */
#include "bounce.h"

#include <limits.h>
#include <string.h>

enum {
    POOL_MIN_SHIFT = 6,  /* smallest class: 64 B */
    POOL_MAX_SHIFT = 16, /* largest class: 64 KiB */
    POOL_CLASSES = POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1,
    CHUNK_SHIFT = 16, /* every chunk holds 64 KiB of buffers */
    POOL_MAX_CHUNKS = 16,
    MAX_SLOTS = 1 << (CHUNK_SHIFT - POOL_MIN_SHIFT),
    /* Large buffers: a header, then the data, 64-byte aligned from it. */
    LARGE_HEADER = 64,
};

#define CHUNK_BYTES ((size_t)1 << CHUNK_SHIFT)
#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)
#define FREE_WORDS (MAX_SLOTS / WORD_BITS)

/* PoolSlot.state: live bit, direction bit, generation in the rest. */
#define SLOT_LIVE 1u
#define SLOT_FROM_DEVICE 2u
#define SLOT_GEN_ONE 4u

/* What unmap needs to end a bounce mapping. */
typedef struct Lent {
    DmsRegion *region; /* reference held by the mapping */
    uint64_t offset;
    DmsAttrs attrs; /* the map-time attributes, for the write-back */
    bool has_attrs; /* false: the backend gets NULL, as at map time */
} Lent;

typedef struct PoolSlot {
    atomic_uint state;
    /* Read by unmap before it owns the slot, hence atomic. */
    atomic_size_t len;
    /* Owned by whoever set or cleared SLOT_LIVE last. */
    Lent lent;
} PoolSlot;

typedef struct PoolChunk {
    uint8_t *data; /* CHUNK_BYTES, nslots buffers of 1 << shift bytes */
    unsigned shift;
    unsigned nslots;
    atomic_ulong free[FREE_WORDS]; /* bit set: slot free */
    PoolSlot slots[];
} PoolChunk;

typedef struct LargeBuf {
    size_t len;
    DmsDirection dir;
    Lent lent;
} LargeBuf;

G_STATIC_ASSERT(sizeof(LargeBuf) <= LARGE_HEADER);

struct DmsBounce {
    DmsSpace *space; /* the owner; not a reference */
    atomic_size_t limit;

    /*
     * Append-only until the space is freed: an entry below a count is
     * written before the count is released, so readers need no lock.
     */
    atomic_uint nchunks;
    uintptr_t chunk_base[POOL_MAX_CHUNKS];
    PoolChunk *chunk[POOL_MAX_CHUNKS];
    atomic_uint nclass[POOL_CLASSES];
    PoolChunk *class_chunk[POOL_CLASSES][POOL_MAX_CHUNKS];
    GMutex grow_lock;

    atomic_uint nlarge; /* live large buffers: skip the lock at 0 */
    GMutex large_lock;
    GHashTable *large; /* data pointer -> LargeBuf, large_lock */

    /*
     * Written by every map and unmap: alone on its cache line, so that
     * the read-mostly fields above (read by every map and unmap too) do
     * not bounce between the threads' caches with it.
     */
    char pad_before[DMS_CACHE_LINE];
    atomic_size_t used;
    char pad_after[DMS_CACHE_LINE - sizeof(atomic_size_t)];
};

/* One lent buffer while map or unmap works on it. */
typedef struct Buf {
    uint8_t *data;
    PoolChunk *chunk; /* pooled: its chunk and slot */
    unsigned slot;
    LargeBuf *large; /* otherwise */
    Lent *lent;
} Buf;

/* ---- budget ---- */

static void high_water(DmsBounce *b, size_t used)
{
    atomic_size_t *hw = &b->space->counters.bounce_high_water;
    size_t seen = atomic_load_explicit(hw, memory_order_relaxed);

    while (used > seen &&
           !atomic_compare_exchange_weak_explicit(
               hw, &seen, used, memory_order_relaxed, memory_order_relaxed))
        ;
}

/*
 * Gives @n bytes back and wakes map clients. Sequentially consistent, and
 * before the check for waiters: see "Wake-ups" in doc/map.md.
 */
static void budget_put(DmsBounce *b, size_t n)
{
    atomic_fetch_sub_explicit(&b->used, n, memory_order_seq_cst);
    dms__map_clients_notify(b->space);
}

static int budget_take(DmsBounce *b, size_t want, size_t *grant)
{
    for (;;) {
        size_t limit = atomic_load_explicit(&b->limit, memory_order_seq_cst);
        size_t used = atomic_load_explicit(&b->used, memory_order_relaxed);
        size_t n;

        if (limit == 0)
            return -ENOBUFS;
        do {
            if (used >= limit)
                return -EAGAIN;
            n = MIN(limit - used, want);
        } while (!atomic_compare_exchange_weak_explicit(
            &b->used, &used, used + n, memory_order_seq_cst,
            memory_order_relaxed));
        if (atomic_load_explicit(&b->limit, memory_order_seq_cst) == limit) {
            high_water(b, used + n);
            *grant = n;
            return 0;
        }
        /*
         * The limit changed between our read and our CAS, so the grant
         * may exceed the new limit. Give it back (waking anyone who saw
         * it taken and went to wait) and decide again.
         */
        budget_put(b, n);
    }
}

size_t dms__bounce_room(const DmsBounce *bounce)
{
    DmsBounce *b = (DmsBounce *)bounce; /* loads only */
    size_t used = atomic_load_explicit(&b->used, memory_order_seq_cst);
    size_t limit = atomic_load_explicit(&b->limit, memory_order_seq_cst);

    if (limit == 0)
        return SIZE_MAX;
    return used < limit ? limit - used : 0;
}

size_t dms__bounce_in_use(const DmsBounce *bounce)
{
    DmsBounce *b = (DmsBounce *)bounce; /* loads only */

    return atomic_load_explicit(&b->used, memory_order_relaxed);
}

void dms_space_set_bounce_limit(DmsSpace *space, size_t limit)
{
    g_return_if_fail(space != NULL);
    atomic_store_explicit(&space->bounce->limit, limit, memory_order_seq_cst);
    /* A raised limit is freed budget: same protocol as budget_put(). */
    dms__map_clients_notify(space);
}

size_t dms_space_get_bounce_limit(const DmsSpace *space)
{
    g_return_val_if_fail(space != NULL, 0);
    return atomic_load_explicit(&space->bounce->limit, memory_order_relaxed);
}

/* ---- pool ---- */

static PoolChunk *chunk_new(unsigned shift)
{
    unsigned nslots = (unsigned)(CHUNK_BYTES >> shift);
    PoolChunk *c = g_try_malloc0(sizeof(*c) + nslots * sizeof(PoolSlot));

    if (!c)
        return NULL;
    c->data = g_try_malloc(CHUNK_BYTES);
    if (!c->data) {
        g_free(c);
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
    g_free(c->data);
    g_free(c);
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

/*
 * A slot of class @shift. -ENOSPC when the pool has reached its size and
 * every slot of the class is lent; -ENOMEM.
 */
static int pool_get(DmsBounce *b, unsigned shift, Buf *buf)
{
    unsigned cls = shift - POOL_MIN_SHIFT;

    for (;;) {
        unsigned n =
            atomic_load_explicit(&b->nclass[cls], memory_order_acquire);
        unsigned total;
        PoolChunk *c;

        for (unsigned i = 0; i < n; i++) {
            c = b->class_chunk[cls][i];
            if (chunk_claim(c, &buf->slot)) {
                buf->chunk = c;
                return 0;
            }
        }

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
        b->class_chunk[cls][n] = c;
        atomic_store_explicit(&b->nclass[cls], n + 1, memory_order_release);
        b->chunk_base[total] = (uintptr_t)c->data;
        b->chunk[total] = c;
        atomic_store_explicit(&b->nchunks, total + 1, memory_order_release);
        g_mutex_unlock(&b->grow_lock);
        buf->chunk = c;
        buf->slot = 0;
        return 0;
    }
}

/* The chunk whose buffers contain @ptr, or NULL. Reads only our memory. */
static PoolChunk *pool_find(DmsBounce *b, const void *ptr)
{
    unsigned n = atomic_load_explicit(&b->nchunks, memory_order_acquire);

    for (unsigned i = 0; i < n; i++) {
        if ((uintptr_t)ptr - b->chunk_base[i] < CHUNK_BYTES)
            return b->chunk[i];
    }
    return NULL;
}

/* ---- buffers ---- */

static int buf_get(DmsBounce *b, size_t len, Buf *buf)
{
    unsigned shift = POOL_MIN_SHIFT;
    int r = -ENOSPC;

    memset(buf, 0, sizeof(*buf));
    while (((size_t)1 << shift) < len && shift <= POOL_MAX_SHIFT)
        shift++;
    if (shift <= POOL_MAX_SHIFT)
        r = pool_get(b, shift, buf);
    if (r == 0) {
        PoolSlot *s = &buf->chunk->slots[buf->slot];

        buf->data = buf->chunk->data + ((size_t)buf->slot << shift);
        buf->lent = &s->lent;
        return 0;
    }
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

static void buf_put(Buf *buf)
{
    if (buf->chunk)
        chunk_release(buf->chunk, buf->slot);
    else
        g_free(buf->large);
}

/* Makes the buffer findable by unmap: the mapping is live from here. */
static void buf_publish(DmsBounce *b, Buf *buf, size_t len, DmsDirection dir)
{
    if (buf->chunk) {
        PoolSlot *s = &buf->chunk->slots[buf->slot];
        unsigned old = atomic_load_explicit(&s->state, memory_order_relaxed);
        unsigned state = ((old & ~(SLOT_GEN_ONE - 1)) + SLOT_GEN_ONE) |
                         (dir == DMS_DIR_FROM_DEVICE ? SLOT_FROM_DEVICE : 0) |
                         SLOT_LIVE;

        atomic_store_explicit(&s->len, len, memory_order_relaxed);
        /* Release: len and lent are seen by whoever sees it live. */
        atomic_store_explicit(&s->state, state, memory_order_release);
        return;
    }
    buf->large->dir = dir;
    atomic_fetch_add_explicit(&b->nlarge, 1, memory_order_relaxed);
    g_mutex_lock(&b->large_lock);
    g_hash_table_insert(b->large, buf->data, buf->large);
    g_mutex_unlock(&b->large_lock);
}

/*
 * Takes the live pooled mapping at @ptr with this @len and @dir for
 * unmapping. Nothing is dereferenced before @ptr is known to lie in one of
 * our chunks, at a slot boundary.
 */
static bool pool_take(DmsBounce *b, void *ptr, size_t len, DmsDirection dir,
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
    buf->data = ptr;
    buf->chunk = c;
    buf->slot = (unsigned)(off >> c->shift);
    buf->large = NULL;
    buf->lent = &s->lent;
    return true;
}

static bool large_take(DmsBounce *b, void *ptr, size_t len, DmsDirection dir,
                       Buf *buf)
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

/* ---- map and unmap ---- */

int dms__bounce_map(DmsSpace *space, DmsRegion *region, uint64_t offset,
                    size_t want, DmsDirection dir, const DmsAttrs *attrs,
                    size_t *len, void **ret)
{
    DmsBounce *b = space->bounce;
    DmsSpaceCounters *cnt = &space->counters;
    size_t grant;
    Buf buf;
    int r;

    r = budget_take(b, want, &grant);
    if (r < 0) {
        dms__count(r == -ENOBUFS ? &cnt->fail_no_budget
                                 : &cnt->fail_exhausted);
        return r;
    }
    r = buf_get(b, grant, &buf);
    if (r < 0) {
        budget_put(b, grant);
        dms__count(&cnt->fail_nomem);
        return r;
    }
    if (dir == DMS_DIR_TO_DEVICE) {
        /* One bulk read; the backend's error is the map's error. */
        r = dms__region_read(region, offset, buf.data, grant, attrs, NULL);
        if (r < 0) {
            buf_put(&buf);
            budget_put(b, grant);
            dms__count(&cnt->fail_backend);
            return r;
        }
    } else {
        /* Never show the device what an earlier mapping left here. */
        memset(buf.data, 0, grant);
    }
    buf.lent->region = region;
    buf.lent->offset = offset;
    buf.lent->has_attrs = attrs != NULL;
    if (attrs)
        buf.lent->attrs = *attrs;
    buf_publish(b, &buf, grant, dir);
    dms__count(&cnt->bounced_maps);
    *len = grant;
    *ret = buf.data;
    return 0;
}

int dms__bounce_unmap(DmsSpace *space, void *ptr, size_t len, DmsDirection dir,
                      size_t access_len, bool *found)
{
    DmsBounce *b = space->bounce;
    Lent lent;
    Buf buf;
    int r = 0;

    if (!pool_take(b, ptr, len, dir, &buf) &&
        !large_take(b, ptr, len, dir, &buf)) {
        *found = false;
        return -EINVAL;
    }
    *found = true;
    lent = *buf.lent;
    buf.lent->region = NULL;
    /*
     * Straight into the region the buffer was filled from, with the
     * map-time attributes: if the region was removed meanwhile, our
     * reference kept it, and its backend gets the data (or fails it).
     */
    if (dir == DMS_DIR_FROM_DEVICE && access_len > 0)
        r = dms__region_write(lent.region, lent.offset, ptr, access_len,
                              lent.has_attrs ? &lent.attrs : NULL, NULL);
    /* Buffer first, then budget: a woken waiter finds both free. */
    buf_put(&buf);
    budget_put(b, len);
    dms_region_unref(lent.region);
    return r;
}

/* ---- lifecycle ---- */

int dms__bounce_new(DmsSpace *space, DmsBounce **ret)
{
    DmsBounce *b = g_try_new0(DmsBounce, 1);

    *ret = NULL;
    if (!b)
        return -ENOMEM;
    b->space = space;
    atomic_init(&b->used, 0);
    atomic_init(&b->limit, DMS_BOUNCE_LIMIT_DEFAULT);
    atomic_init(&b->nchunks, 0);
    for (unsigned i = 0; i < POOL_CLASSES; i++)
        atomic_init(&b->nclass[i], 0);
    atomic_init(&b->nlarge, 0);
    g_mutex_init(&b->grow_lock);
    g_mutex_init(&b->large_lock);
    b->large = g_hash_table_new(NULL, NULL);
    *ret = b;
    return 0;
}

void dms__bounce_free(DmsBounce *bounce)
{
    unsigned n;

    if (!bounce)
        return;
    /* Every mapping holds a space reference: none can be live now. */
    g_warn_if_fail(atomic_load(&bounce->used) == 0);
    n = atomic_load_explicit(&bounce->nchunks, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        chunk_free(bounce->chunk[i]);
    g_hash_table_unref(bounce->large);
    g_mutex_clear(&bounce->grow_lock);
    g_mutex_clear(&bounce->large_lock);
    g_free(bounce);
}
