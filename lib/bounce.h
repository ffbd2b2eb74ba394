/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Between map.c and bounce.c / map-client.c / space.c: the bounce half of
 * dms_space_map() and dms_space_unmap(), and what the budget tells the
 * rest. Never installed.
 */
#ifndef DMS_BOUNCE_H
#define DMS_BOUNCE_H

#include "dms-private.h"

typedef struct PoolChunk PoolChunk; /* bounce-impl.h */
typedef struct LargeBuf LargeBuf;
typedef struct Lent Lent;

/* One lent buffer while map or unmap works on it. */
typedef struct Buf {
    uint8_t *data;
    PoolChunk *chunk; /* pooled: its chunk and slot */
    unsigned slot;
    LargeBuf *large; /* otherwise */
    Lent *lent;
} Buf;

/* Work a cache call leaves for after the read-side section. */
typedef struct CacheLater {
    DmsRegion *unref; /* drop @nunref references on it */
    unsigned nunref;
    size_t give_back; /* budget to return */
} CacheLater;

/*
 * Lends a bounce buffer for up to @want bytes at @offset of message region
 * @region, filled (to-device) or zeroed (from-device). On success the
 * mapping owns the caller's reference on @region and *@len, *@ret describe
 * it; the mapping's budget keeps @space alive (no space reference). On
 * failure the caller keeps its reference and the failure is counted.
 */
int dms__bounce_map(DmsSpace *space, DmsRegion *region, uint64_t offset,
                    size_t want, DmsDirection dir, const DmsAttrs *attrs,
                    size_t *len, void **ret);

/*
 * The fast path of the above. Called inside the read-side section in
 * which @t was looked up (so the view holds t->region), and ends it. If
 * the calling thread's cache can serve all of t->len bytes, lends from it
 * and returns what dms_space_map() returns. Otherwise returns
 * DMS__NOT_CACHED holding a reference on t->region, for
 * dms__bounce_map().
 */
#define DMS__NOT_CACHED 1
int dms__bounce_map_rcu(DmsSpace *space, const DmsTranslation *t,
                        DmsDirection dir, const DmsAttrs *attrs, size_t *len,
                        void **ret);

/*
 * Ends the bounce mapping at @ptr if @space lent one there with this @len
 * and @dir: writes back @access_len bytes (from-device), returns buffer and
 * budget, wakes map clients and drops the region reference. The returned
 * budget may be the last thing keeping @space alive: do not touch @space
 * after this returns with *@found true.
 * Returns the write-back's result and sets *@found; if @ptr is not such a
 * mapping, sets *@found to false and touches nothing outside @space.
 */
int dms__bounce_unmap(DmsSpace *space, void *ptr, size_t len, DmsDirection dir,
                      size_t access_len, bool *found);

/*
 * Bytes a bounce map could get now (limit - used, 0 when used up), for
 * deciding whether a waiting map client should retry; SIZE_MAX when the
 * limit is 0, since the retry then fails with the final -ENOBUFS and must
 * not wait. Sequentially consistent, for the wake-up protocol in
 * map-client.c.
 */
size_t dms__bounce_room(const DmsBounce *bounce);

/* Bytes lent now (not counting what caches hold idle); maps counted. */
void dms__bounce_stats(DmsBounce *bounce, size_t *in_use, unsigned long *maps);

/*
 * Map clients wait (or no longer do): thread caches are bypassed while
 * they wait, so that every freed byte goes through the notifying path.
 * Called by map-client.c under its lock, on every change of "waiting".
 */
void dms__bounce_waiters(DmsBounce *bounce, bool waiting);

/*
 * dms__spaces_republish(): thread caches bank region references, which
 * must not outlive a view. Hold before the grace period that retires the
 * old views, drain after it.
 */
void dms__caches_hold(DmsBounce *bounce); /* bounce-cache.c */
void dms__caches_drain(DmsBounce *bounce);

/*
 * Returns budget that thread caches hold idle to the shared budget, for
 * a map client that starts waiting; may wait for a grace period.
 */
void dms__bounce_unstash(DmsBounce *bounce);

/*
 * The space lost its last user reference: no more maps. True if no bounce
 * mapping is live either, so the caller frees the space now; otherwise
 * the last unmap does.
 */
bool dms__bounce_retire(DmsBounce *bounce);

/*
 * dms_space_ref() brought the space back from no reference (its caller
 * holds a live mapping): undo dms__bounce_retire().
 */
void dms__bounce_revive(DmsBounce *bounce);

#endif /* DMS_BOUNCE_H */
