/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal declarations shared by the files of lib/. Never installed.
 *
 * The files of lib/ and which calls which: see the top of doc/design.md.
 */
#ifndef DMS_PRIVATE_H
#define DMS_PRIVATE_H

#include <errno.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "compiler.h"
#include "dmaspace/dmaspace.h"
#include "rcu.h"

typedef enum DmsRegionKind {
    DMS_KIND_RAM,
    DMS_KIND_MESSAGE,
    DMS_KIND_CONTAINER,
    DMS_KIND_ALIAS,
} DmsRegionKind;

typedef struct DmsDirtyLog DmsDirtyLog;

/* One subregion slot of a container. */
typedef struct DmsSubregion {
    DmsRegion *region; /* reference held by the container */
    uint64_t offset;
    int priority;
    uint64_t seq; /* insertion order: later wins among equal priority */
} DmsSubregion;

struct DmsRegion {
    atomic_int refcount;
    DmsRegionKind kind;
    char *name;
    /*
     * Last byte's offset (size - 1): an inclusive bound lets a region span
     * all 2^64 bytes. Changed only under the topology lock; readers never
     * look at it, they see sizes through the flattened views.
     */
    uint64_t last;
    DmsRegion *parent; /* container we are in, or NULL; topology lock */

    DmsDestroyNotify notify;
    void *notify_data;

    /* DMS_KIND_RAM: immutable after creation except as noted */
    uint8_t *host;
    uint64_t capacity; /* bytes at host, the largest size allowed */
    bool readonly;
    DmsDirtyLog *_Atomic dirty; /* set once, freed with the region */

    /* DMS_KIND_MESSAGE: immutable after creation */
    DmsMessageOps ops; /* a full-size copy of the caller's table */
    void *opaque;
    GMutex serialize_lock; /* held around calls if DMS_MESSAGE_SERIALIZE */

    /*
     * DMS_KIND_CONTAINER, all under the topology lock. children is in
     * rendering order reversed (priority ascending, then insertion order),
     * so the common case, adding at the top, is an append. by_place holds
     * the same slots keyed by (priority, offset, seq) for the overlap check,
     * which then looks only at neighbours within max_child_last of the new
     * offset instead of at every sibling.
     */
    GPtrArray *children; /* of DmsSubregion *, owning */
    GTree *by_place;
    uint64_t max_child_last;

    /* DMS_KIND_ALIAS */
    DmsRegion *target; /* reference held */
    uint64_t alias_offset;
};

static inline bool dms__region_is_leaf(const DmsRegion *r)
{
    return r->kind == DMS_KIND_RAM || r->kind == DMS_KIND_MESSAGE;
}

/* region.c: the process-wide topology lock (recursive) and batching. */
void dms__topology_lock(void);
void dms__topology_unlock(void);
/* Marks every space stale; the outermost unlock then republishes them. */
void dms__topology_changed(void);

/*
 * One piece of a flattened view: addresses [start, last] show bytes
 * [offset, offset + last - start] of leaf region @region.
 */
typedef struct DmsFlatRange {
    uint64_t start;
    uint64_t last;
    uint64_t offset;
    DmsRegion *region; /* reference held by the view */
    uint8_t *host;     /* RAM: host address of @start; else NULL */
    bool readonly;     /* RAM only */
} DmsFlatRange;

typedef struct DmsFlatView {
    size_t nr;
    DmsFlatRange *ranges; /* sorted by start, disjoint */
    /*
     * Bucket index for O(1) typical lookup: bucket b covers addresses
     * from base + (b << shift); index[b] is the first range that may hold
     * such an address. Searching stays logarithmic in the worst case.
     */
    uint64_t base;
    unsigned shift;
    size_t nbuckets;
    uint32_t *index; /* nbuckets + 1 entries */
} DmsFlatView;

/* flatview.c */
int dms__flatview_render(DmsRegion *root, DmsFlatView **ret);
void dms__flatview_free(DmsFlatView *fv);

/*
 * The range holding @addr, or NULL. Inline: it is most of the cost of a
 * small access, and every access does one.
 */
static inline const DmsFlatRange *dms__flatview_lookup(const DmsFlatView *fv,
                                                       uint64_t addr)
{
    const DmsFlatRange *fr;
    size_t lo, hi, b;

    if (fv->nr == 0 || addr < fv->base)
        return NULL;
    b = (size_t)((addr - fv->base) >> fv->shift);
    if (b >= fv->nbuckets)
        return NULL;
    lo = fv->index[b];
    hi = fv->index[b + 1];
    /* The range, if any, is the last in [lo, hi] starting at or before
     * addr: see build_index() in flatview.c. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (fv->ranges[mid].start <= addr)
            lo = mid;
        else
            hi = mid - 1;
    }
    /*
     * Most buckets hold at most one boundary, so most lookups end here
     * with hi - lo <= 1: decide that last step without a branch, which
     * random addresses would mispredict half the time.
     */
    lo += hi > lo && fv->ranges[hi].start <= addr;
    fr = &fv->ranges[lo];
    return fr->start <= addr && addr <= fr->last ? fr : NULL;
}

/* Counters of a space; machine-word atomics so 32-bit hosts need no libatomic.
 */
typedef struct DmsSpaceCounters {
    atomic_size_t bounce_high_water;
    atomic_ulong direct_maps;
    atomic_ulong bounced_maps;
    atomic_ulong fail_unassigned;
    atomic_ulong fail_access;
    atomic_ulong fail_exhausted;
    atomic_ulong fail_no_budget;
    atomic_ulong fail_backend;
    atomic_ulong fail_nomem;
    atomic_ulong bad_unmaps;
    atomic_ulong map_clients_fired;
} DmsSpaceCounters;

static inline void dms__count(atomic_ulong *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

typedef struct DmsBounce DmsBounce;         /* bounce.c */
typedef struct DmsDirectMaps DmsDirectMaps; /* direct.c */
typedef struct DmsMapClients DmsMapClients; /* map-client.c */

struct DmsSpace {
    /* Read-mostly: read by every access and map. */
    char *name;
    DmsRegion *root; /* reference held */
    /* RCU-protected; replaced under the topology lock */
    DmsFlatView *_Atomic view;
    bool stale; /* topology lock: needs a new view at the next commit */
    DmsBounce *bounce;
    DmsDirectMaps *direct;
    DmsMapClients *clients;

    /*
     * Written by maps and unmaps that no thread cache serves (see space.c
     * for what each counts): on cache lines of their own, so that
     * accesses on other threads keep the line with the view pointer in
     * their caches.
     */
    char pad_refcount[DMS_CACHE_LINE];
    atomic_int refcount;
    atomic_size_t holds;
    char pad_counters[DMS_CACHE_LINE - sizeof(atomic_int) -
                      sizeof(atomic_size_t)];
    DmsSpaceCounters counters;
};

/*
 * A translation of one address: the leaf region that answers it, with a
 * reference the caller must drop, and how many bytes from there on the
 * same region answers contiguously (never more than asked).
 */
typedef struct DmsTranslation {
    DmsRegion *region;
    uint64_t offset; /* offset in region of the address */
    uint64_t len;    /* contiguous bytes, 1..asked */
} DmsTranslation;

/* access.c */
/*
 * Inside a read-side section: looks @addr up in the current view and
 * fills @t, or returns -EFAULT. Takes no reference: t->region is held by
 * the view until the section ends. Inline: the map path does one per
 * call.
 */
static inline int dms__space_translate_rcu(DmsSpace *space, uint64_t addr,
                                           uint64_t len, DmsTranslation *t)
{
    /* Acquire pairs with the release in the exchange that published it. */
    const DmsFlatRange *fr = dms__flatview_lookup(
        atomic_load_explicit(&space->view, memory_order_acquire), addr);

    if (!fr)
        return -EFAULT;
    t->region = fr->region;
    t->offset = fr->offset + (addr - fr->start);
    /* The rest of @fr from addr on, capped at len (no overflow at 2^64). */
    t->len = fr->last - addr >= len - 1 ? len : fr->last - addr + 1;
    return 0;
}

/*
 * Reads or writes @len bytes at @offset of leaf region @r, splitting only
 * where the backend needs it. The caller holds a reference on @r and no
 * RCU read lock. @done (optional) gets the bytes moved before an error.
 */
int dms__region_read(DmsRegion *r, uint64_t offset, void *buf, size_t len,
                     const DmsAttrs *attrs, size_t *done);
int dms__region_write(DmsRegion *r, uint64_t offset, const void *buf,
                      size_t len, const DmsAttrs *attrs, size_t *done);

/* dirty.c: marks [offset, offset + len) of RAM region @r, if it logs. */
void dms__dirty_mark(DmsRegion *r, uint64_t offset, uint64_t len);
void dms__dirty_free(DmsDirtyLog *log);

/* direct.c: the registry of a space's live direct mappings. */
int dms__direct_maps_new(DmsDirectMaps **ret);
void dms__direct_maps_free(DmsDirectMaps *direct);
/* Records one more live mapping; it owns one reference on @region. */
int dms__direct_add(DmsDirectMaps *d, void *ptr, size_t len, DmsDirection dir,
                    DmsRegion *region, uint64_t offset);
/*
 * Ends one live mapping at @ptr with this @len and @dir, handing its
 * region reference to the caller. Returns false if there is none.
 */
bool dms__direct_take(DmsDirectMaps *d, void *ptr, size_t len,
                      DmsDirection dir, DmsRegion **region, uint64_t *offset);

/*
 * map-client.c: the waiting clients of @space, whose budget is @bounce's.
 * A fired client holds a space reference, taken and dropped through @ref
 * and @unref (space.c's, which sits above).
 */
int dms__map_clients_new(DmsSpace *space, DmsBounce *bounce,
                         DmsSpace *(*ref)(DmsSpace *),
                         DmsSpace *(*unref)(DmsSpace *), DmsMapClients **ret);
/* Cancels every waiting client without calling it. */
void dms__map_clients_free(DmsMapClients *clients);
/*
 * The space lost its last reference: cancels every waiting client without
 * calling it, unless *@refs shows that a caller with a live mapping took
 * a reference again meanwhile (its own last unref will cancel then).
 */
void dms__map_clients_cancel(DmsMapClients *clients, const atomic_int *refs);
/*
 * Budget was freed or the limit raised: fire waiting clients. Callers
 * hold the space and no library lock. Cheap when nobody waits.
 */
void dms__map_clients_notify(DmsSpace *space);
/*
 * dms_space_add_map_client() for a waiter that cannot use less than
 * @min_room bytes of budget (the SG engine with an alignment): it fires
 * only once that much is free, or all of the limit if the limit is
 * smaller, or the limit is 0, instead of at every free byte, which would
 * make such a waiter retry in a loop while others hold the rest.
 */
int dms__space_add_map_client_min(DmsSpace *space, struct _GMainContext *ctx,
                                  DmsMapClientFunc cb, void *data,
                                  size_t min_room, DmsMapClient **ret);

/* region.c: @n references at once (thread caches bank them). */
void dms__region_ref_n(DmsRegion *r, unsigned n);
void dms__region_unref_n(DmsRegion *r, unsigned n);

/* space.c */
/*
 * Drops @n holds (see space.c); the last frees the space, so the caller
 * touches it no more. Outside any section.
 */
void dms__space_release(DmsSpace *space, size_t n);
/* A hold, if the space still has one (it is not being freed). */
bool dms__space_tryhold(DmsSpace *space);
/* Re-renders every stale space; called by the outermost topology unlock. */
void dms__spaces_republish(void);

/*
 * sglist.c: a request of the engine (dma-engine.c) holds its list for its
 * whole life; dms_sglist_add()/clear() refuse with -EBUSY meanwhile.
 */
void dms__sglist_hold(DmsSgList *sg);
void dms__sglist_release(DmsSgList *sg);

/* A position in a list: entry index and byte offset inside that entry. */
typedef struct DmsSgCursor {
    size_t entry;
    uint64_t offset;
} DmsSgCursor;

/*
 * sglist.c: maps up to @max bytes (at least 1) at @cursor, never past the
 * end of its entry, into *@iov, and moves the cursor past them. Returns 0,
 * or dms_space_map()'s error with the cursor unchanged. The cursor must be
 * inside the list. The one mapping step of dms_sglist_map() and the
 * engine.
 */
int dms__sglist_map_piece(DmsSgList *sg, DmsSgCursor *cursor, size_t max,
                          DmsDirection dir, const DmsAttrs *attrs,
                          DmsIovec *iov);

/* Inclusive-bound helper: does [addr, addr + len) fit below 2^64? */
static inline bool dms__range_ok(uint64_t addr, uint64_t len)
{
    return len == 0 || addr <= UINT64_MAX - (len - 1);
}

#endif /* DMS_PRIVATE_H */
