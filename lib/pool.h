/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounce buffer pool of one space: slabs of small buffers, large
 * buffers allocated one by one, and the exact checks that let unmap
 * refuse any pointer it did not lend. Used by bounce.c and by the thread
 * caches (bounce-cache.c), which keep claimed slots of their own. Never
 * installed.
 */
#ifndef DMS_POOL_H
#define DMS_POOL_H

#include "dms-private.h"

#include <limits.h>

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

/*
 * One per buffer, on a line of its own: the map and unmap of a buffer
 * write it, and neighbouring buffers are often another thread's.
 */
typedef struct PoolSlot {
    _Alignas(DMS_CACHE_LINE) atomic_uint state;
    /* Read by unmap before it owns the slot, hence atomic. */
    atomic_size_t len;
    /* Owned by whoever set or cleared SLOT_LIVE last. */
    Lent lent;
} PoolSlot;

#define WORD_BITS (sizeof(unsigned long) * CHAR_BIT)
#define FREE_WORDS (MAX_SLOTS / WORD_BITS)

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

/* One lent buffer while map or unmap works on it. */
typedef struct Buf {
    uint8_t *data;
    PoolChunk *chunk; /* pooled: its chunk and slot */
    unsigned slot;
    LargeBuf *large; /* otherwise */
    Lent *lent;
} Buf;

typedef struct DmsPool {
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
} DmsPool;

void dms__pool_init(DmsPool *pool);
void dms__pool_clear(DmsPool *pool);

/* A buffer for @len bytes: pooled, or allocated alone. -ENOMEM. */
int dms__buf_get(DmsPool *pool, size_t len, Buf *buf);
/* A free slot of class @shift from the chunks there are; lock-free. */
bool dms__pool_claim(DmsPool *pool, unsigned shift, Buf *buf);
/* The pooled buffer of slot @slot of @chunk. */
static inline void dms__buf_of_slot(Buf *buf, PoolChunk *c, unsigned slot)
{
    buf->chunk = c;
    buf->slot = slot;
    buf->large = NULL;
    buf->data = c->data + ((size_t)slot << c->shift);
    buf->lent = &c->slots[slot].lent;
}
void dms__buf_put(Buf *buf);
/* dms__buf_publish() of a large buffer: a lock and a hash table. */
void dms__large_publish(DmsPool *pool, Buf *buf, DmsDirection dir);
/*
 * Makes @buf a live mapping of @len bytes in direction @dir. Inline: a
 * pooled buffer's is two stores, on every bounce map.
 */
static inline void dms__buf_publish(DmsPool *pool, Buf *buf, size_t len,
                                    DmsDirection dir)
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
    dms__large_publish(pool, buf, dir);
}
/*
 * Takes the live mapping at @ptr with this @len and @dir for unmapping
 * (exactly one of several racing callers wins); false if there is none.
 */
bool dms__buf_take(DmsPool *pool, void *ptr, size_t len, DmsDirection dir,
                   Buf *buf);

/* Class (shift) of a buffer of @len bytes; POOL_MAX_SHIFT + 1 if none. */
static inline unsigned dms__pool_shift(size_t len)
{
    if (len <= ((size_t)1 << POOL_MIN_SHIFT))
        return POOL_MIN_SHIFT;
    if (len > ((size_t)1 << POOL_MAX_SHIFT))
        return POOL_MAX_SHIFT + 1;
    /* The smallest power of two at or above len. */
    return (unsigned)(sizeof(unsigned long) * CHAR_BIT) -
           (unsigned)__builtin_clzl((unsigned long)(len - 1));
}

#endif /* DMS_POOL_H */
