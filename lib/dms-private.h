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

/* What a message region needs beyond a RAM one: allocated with it. */
typedef struct DmsRegionMessage {
    DmsMessageOps ops; /* a full-size copy of the caller's table */
    void *opaque;
    GMutex serialize_lock; /* held around calls if DMS_MESSAGE_SERIALIZE */
} DmsRegionMessage;

/*
 * Kept small (a million of them describe a 4 GiB guest in 4 KiB pages):
 * what only one kind needs is in a union, and a region's place in its
 * container is in the region itself (a region is in at most one).
 */
struct DmsRegion {
    atomic_int refcount;
    uint8_t kind;  /* DmsRegionKind */
    bool readonly; /* RAM: immutable after creation */
    /*
     * In @parent, under the topology lock: @priority, @offset and the
     * insertion order @seq (later wins among equal priority) key the
     * parent's children tree.
     */
    int priority;
    uint64_t offset;
    uint64_t seq;
    /*
     * Last byte's offset (size - 1): an inclusive bound lets a region span
     * all 2^64 bytes. Changed only under the topology lock; readers never
     * look at it, they see sizes through the flattened views.
     */
    uint64_t last;
    DmsRegion *parent;  /* container we are in, or NULL; topology lock */
    GPtrArray *aliases; /* of DmsRegion *: aliases of us (no reference),
                           or NULL; topology lock */
    DmsDestroyNotify notify;
    void *notify_data;

    union {
        struct { /* DMS_KIND_RAM: immutable after creation except dirty */
            uint8_t *host;
            uint64_t capacity;          /* bytes at host, the largest size */
            DmsDirtyLog *_Atomic dirty; /* set once, freed with the region */
        };
        DmsRegionMessage *msg; /* DMS_KIND_MESSAGE: immutable */
        /*
         * DMS_KIND_CONTAINER, under the topology lock: the subregions
         * (owning references), indexed by (priority, offset, seq).
         */
        struct DmsChildren *children;
        struct {               /* DMS_KIND_ALIAS */
            DmsRegion *target; /* reference held */
            uint64_t alias_offset;
        };
    };
    char name[]; /* NUL-terminated */
};

/* The subregions of one priority in a container. */
typedef struct DmsPriorityGroup {
    int priority;
    unsigned count;
    uint64_t max_last; /* largest last of any of them, ever: a bound */
} DmsPriorityGroup;

static inline bool dms__region_is_leaf(const DmsRegion *r)
{
    return r->kind == DMS_KIND_RAM || r->kind == DMS_KIND_MESSAGE;
}

/*
 * children.c: a container's subregions, a B+tree keyed by (priority,
 * offset, seq) with the keys in its nodes (doc/design.md, "The children
 * index"). Rendering a span looks at each priority's subregions starting
 * in [first - max_last, last] only. Topology lock held throughout.
 */
#define DMS_CHILD_FANOUT 30

typedef struct DmsChildNode DmsChildNode;

typedef struct DmsChildren {
    DmsChildNode *root; /* NULL when empty */
    /*
     * A leaf of the tree where the last lower bound or removal ended, or
     * NULL: an add searches one place three times (overlap check,
     * insertion, render), a removal twice; only the first comes down.
     */
    DmsChildNode *finger;
    DmsChildNode *spare; /* nodes for the next insertion, linked by next */
    unsigned nspare;
    size_t count;
    GArray *prios; /* of DmsPriorityGroup, ascending, count > 0 each */
} DmsChildren;

/* A place in the index, and what is there (read from the node, so that
 * a walk touches no region it does not use). */
typedef struct DmsChildCursor {
    const DmsChildNode *leaf;
    unsigned slot;
    DmsRegion *region;
    int priority;
    uint64_t offset;
} DmsChildCursor;

int dms__children_new(DmsChildren **ret);
/* Frees the index; the regions in it are the caller's to drop. */
void dms__children_free(DmsChildren *c);
/* Empties the index (as dms__children_free(), keeping @c). */
void dms__children_clear(DmsChildren *c);
/*
 * Adds @sub under its priority, offset and seq (unique: seq > 0 and never
 * reused) and counts it in its priority group. Takes no reference.
 * Returns 0 or -ENOMEM, with the index unchanged.
 */
int dms__children_insert(DmsChildren *c, DmsRegion *sub);
/*
 * Removes @sub, which must still have the key it was inserted with.
 * Never allocates. False if it is not in the index.
 */
bool dms__children_remove(DmsChildren *c, const DmsRegion *sub);
/* The group of @priority, or NULL; *@index: where it is or would go. */
DmsPriorityGroup *dms__children_group(const DmsChildren *c, int priority,
                                      guint *index);
/*
 * Moves @cur to the first subregion at or after (@priority, @offset) in
 * index order, or to the first one if ..._first(); ..._next() to the one
 * after. They return false when there is none.
 */
bool dms__children_lower_bound(DmsChildren *c, int priority, uint64_t offset,
                               DmsChildCursor *cur);
bool dms__children_first(const DmsChildren *c, DmsChildCursor *cur);
bool dms__children_next(DmsChildCursor *cur);
/* Checks every invariant of the tree (tests): 0 or -EINVAL. */
int dms__children_check(const DmsChildren *c);

/*
 * One piece of a flattened view: addresses [start, last] show bytes
 * [offset, offset + last - start] of leaf region @region.
 */
typedef struct DmsFlatRange {
    uint64_t start;
    uint64_t last;
    uint64_t offset;
    DmsRegion *region; /* reference held by the view node */
    uint8_t *host;     /* RAM: host address of @start; else NULL */
} DmsFlatRange;

/*
 * A flattened view is a persistent B+tree of DmsFlatRange keyed by start
 * (doc/design.md, "Views"). A published node is never written again: a
 * change copies the path it touches and shares every other node with the
 * old view. A view is its root node.
 */
#define DMS_VIEW_FANOUT 16

/*
 * A node is cache-line shaped for the lookup: keys in lines 0-1, an inner
 * node's child pointers in lines 2-3, a leaf's ranges from line 2 on, and
 * what only writers read after them. A lookup touches the key lines and
 * one child pointer or range per level; it fetches an inner node's four
 * lines at once (dms__flatview_lookup()).
 */
typedef struct DmsViewNode {
    /* keys[i]: start of ent[i], or of the first range under child[i];
     * UINT64_MAX in unused slots. */
    _Alignas(64) uint64_t keys[DMS_VIEW_FANOUT];
    union {
        struct DmsViewNode *child[DMS_VIEW_FANOUT];
        DmsFlatRange ent[DMS_VIEW_FANOUT];
    };
    uint16_t n;     /* used slots */
    uint8_t height; /* 0: a leaf */
    uint64_t gen;   /* writer generation that may still write it */
} DmsViewNode;

typedef DmsViewNode DmsFlatView;

/*
 * The slot of the last of the 16 @keys <= @addr, given keys[0] <= addr
 * (else 0), as unused slots hold UINT64_MAX. Two rounds of independent
 * compares: keys 4, 8 and 12 pick the group of four, then its keys 1-3
 * the slot. About twenty instructions with no branch the address could
 * mispredict, and two dependent loads (both in the node's two key lines),
 * where a binary search has four and a count of all sixteen keys a chain
 * of sixteen additions (measured in doc/benchmarks.md). The one search
 * of the lookup and of the writers (dms__view_slot()).
 */
_Static_assert(DMS_VIEW_FANOUT == 16, "dms__view_search() assumes 16 keys");

static inline unsigned dms__view_search(const uint64_t *keys, uint64_t addr)
{
    unsigned group = (unsigned)(keys[4] <= addr) +
                     (unsigned)(keys[8] <= addr) +
                     (unsigned)(keys[12] <= addr);
    const uint64_t *g = keys + 4 * group;

    return 4 * group + (unsigned)(g[1] <= addr) + (unsigned)(g[2] <= addr) +
           (unsigned)(g[3] <= addr);
}

/* Slot of the last key <= addr among the n of @keys, or -1. */
static inline int dms__view_slot(const uint64_t *keys, unsigned n,
                                 uint64_t addr)
{
    unsigned s;

    if (n == 0 || keys[0] > addr)
        return -1;
    s = dms__view_search(keys, addr);
    /* At addr UINT64_MAX the unused slots count too. */
    return (int)(s < n ? s : n - 1);
}

/* dms__flatview_lookup() of the last address, where unused slots count. */
const DmsFlatRange *dms__flatview_lookup_top(const DmsFlatView *fv);

/*
 * The range holding @addr, which is below UINT64_MAX, or NULL. Inline: it
 * is most of the cost of a small access, and every access does one.
 */
static inline const DmsFlatRange *dms__flatview_find(const DmsFlatView *fv,
                                                     uint64_t addr)
{
    const DmsViewNode *node = fv;
    const DmsFlatRange *fr;

    /* Below the first range; also the empty view, whose keys are all
     * UINT64_MAX. */
    if (addr < fv->keys[0])
        return NULL;
    /*
     * Below the root every node holds addr >= keys[0]: its parent's key
     * for it is its first key, and the parent chose it by that key. Only
     * the root's height is read, so each level reads its keys and one
     * pointer; the child's key and pointer lines are fetched together, so
     * that a level costs one cache miss, not two in a row.
     */
    for (unsigned h = fv->height; h > 0; h--) {
        node = node->child[dms__view_search(node->keys, addr)];
        __builtin_prefetch(&node->keys[0]);
        if (h > 1) {
            __builtin_prefetch(&node->child[0]);
            __builtin_prefetch(&node->child[8]);
        }
    }
    fr = &node->ent[dms__view_search(node->keys, addr)];
    return addr <= fr->last ? fr : NULL;
}

/* The range holding @addr, or NULL. */
static inline const DmsFlatRange *dms__flatview_lookup(const DmsFlatView *fv,
                                                       uint64_t addr)
{
    if (__builtin_expect(addr == UINT64_MAX, 0))
        return dms__flatview_lookup_top(fv);
    return dms__flatview_find(fv, addr);
}

/*
 * The range starting at @addr if it directly follows @fr (which must come
 * from @fv), else NULL: the next range of a run, for accesses that cross
 * range boundaries.
 */
static inline const DmsFlatRange *dms__flatview_next(const DmsFlatView *fv,
                                                     const DmsFlatRange *fr,
                                                     uint64_t addr)
{
    const DmsFlatRange *next;

    if (fr->last == UINT64_MAX || fr->last + 1 != addr)
        return NULL;
    next = dms__flatview_lookup(fv, addr);
    return next && next->start == addr ? next : NULL;
}

/*
 * Renders the whole of @root from scratch into a sorted array of merged
 * ranges, without region references: the reference the incremental views
 * are checked against (fuzz-topology and tests). Walks every subregion
 * of every container. Topology lock held.
 */
int dms__flatview_render_reference(DmsRegion *root, GArray **ret);
/* Every range of @fv in order, without references. */
GArray *dms__flatview_ranges(const DmsFlatView *fv);
/*
 * Checks the B+tree of @fv: keys sorted, unused keys UINT64_MAX, an inner
 * key equal to its child's first key, heights consistent, no empty node
 * but an empty root leaf, no inner root with one child, counts within the
 * fanout, ranges disjoint and in order, each a piece of its leaf region.
 * Only the nodes on the paths to addresses [first, last] are visited
 * (all of them for 0, UINT64_MAX). Returns NULL if all hold, else a
 * description to g_free(). For tests and fuzzing; topology lock held.
 */
char *dms__view_check(const DmsFlatView *fv, uint64_t first, uint64_t last);
/* Frees a view no reader can reach any more, with all its nodes. */
void dms__flatview_free(DmsFlatView *fv);

/* A flattened view under construction by one writer (topology.c). */
typedef struct DmsViewTxn {
    uint64_t gen;       /* nodes of this generation are ours to write */
    GPtrArray *retired; /* published nodes replaced: free after a grace */
    GPtrArray *created; /* our nodes: freed if the change fails */
    GPtrArray *unrefs;  /* region references to drop after a grace */
    GPtrArray *refs;    /* references taken: dropped if the change fails */
    int error;
} DmsViewTxn;

/*
 * Renders addresses [first, last] of @root (a space's root, at address 0)
 * into @out, sorted and merged, without references. Finds the subregions
 * of a container that a span touches in logarithmic time. Topology lock
 * held.
 */
int dms__flatview_render_span(DmsRegion *root, uint64_t first, uint64_t last,
                              GArray *out);
/*
 * Replaces what @root shows in [first, last] by @ranges (sorted, within
 * the span, merged), merging at both ends; returns the new root. On
 * failure sets txn->error and returns @root.
 */
DmsViewNode *dms__view_replace(DmsViewTxn *txn, DmsViewNode *root,
                               uint64_t first, uint64_t last,
                               const GArray *ranges);
/* A new tree of @ranges (sorted, merged), taking references. */
DmsViewNode *dms__view_build(DmsViewTxn *txn, const GArray *ranges);
/* Appends the ranges of @root that meet [first, last] to @out. */
void dms__view_collect(const DmsViewNode *root, uint64_t first, uint64_t last,
                       GArray *out);
/* After a grace period: frees retired nodes (to a pool for reuse). */
void dms__view_nodes_free(DmsViewNode *const *nodes, unsigned count);

/* topology.c: the process-wide topology lock (recursive) and batching. */
void dms__topology_lock(void);
void dms__topology_unlock(void);
/*
 * What a region shows changed in its bytes [first, last]: every space
 * whose root reaches them through containers and aliases re-renders that
 * span at the outermost unlock. Topology lock held.
 */
void dms__topology_changed(DmsRegion *region, uint64_t first, uint64_t last);
/*
 * For single-threaded test models only (fuzz-space): retired views are
 * reclaimed by the thread whose outermost unlock published the new ones,
 * after a grace period it waits for, as before deferred reclamation, so
 * that destroy notifies run at predictable points. Set before any space
 * exists.
 */
void dms__topology_reclaim_inline(bool on);
/* Next insertion order number; topology lock held. */
uint64_t dms__topology_next_seq(void);

/*
 * A space as topology.c sees it. Hooks let space.c act on its own kind of
 * object without topology.c calling up into it.
 */
typedef struct DmsTopoHooks {
    /*
     * Under the topology lock, as old nodes of @opaque's view are retired:
     * returns true if @after_grace must be called for this retirement
     * (space.c pins the space and holds its thread caches).
     */
    bool (*before_grace)(void *opaque);
    /* On the reclaimer thread, after the grace period, without locks. */
    void (*after_grace)(void *opaque);
} DmsTopoHooks;

typedef struct DmsTopoSpace DmsTopoSpace;

/*
 * Renders @root into *@view and keeps it current until
 * dms__topology_remove_space(). @name is for the dump.
 */
int dms__topology_add_space(DmsRegion *root, DmsFlatView *_Atomic *view,
                            const DmsTopoHooks *hooks, void *opaque,
                            const char *name, DmsTopoSpace **ret);
/* Stops updating; the caller frees *view after a grace period. */
void dms__topology_remove_space(DmsTopoSpace *ts);

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
    atomic_ulong engine_waits;
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
    /* RCU-protected; replaced by topology.c */
    DmsFlatView *_Atomic view;
    DmsTopoSpace *topo; /* our entry in topology.c */
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
                                  DmsDestroyNotify notify, size_t min_room,
                                  DmsMapClient **ret);

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
