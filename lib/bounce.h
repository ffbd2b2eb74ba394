/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Between map.c and bounce.c / map-client.c: the bounce half of
 * dms_space_map() and dms_space_unmap(). Never installed.
 */
#ifndef DMS_BOUNCE_H
#define DMS_BOUNCE_H

#include "dms-private.h"

/*
 * Lends a bounce buffer for up to @want bytes at @offset of message region
 * @region, filled (to-device) or zeroed (from-device). On success the
 * mapping owns the caller's reference on @region and *@len, *@ret describe
 * it (map.c takes the mapping's reference on @space). On failure the caller
 * keeps its reference and the failure is counted in @space's stats.
 */
int dms__bounce_map(DmsSpace *space, DmsRegion *region, uint64_t offset,
                    size_t want, DmsDirection dir, const DmsAttrs *attrs,
                    size_t *len, void **ret);

/*
 * Ends the bounce mapping at @ptr if @space lent one there with this @len
 * and @dir: writes back @access_len bytes (from-device), returns buffer and
 * budget, wakes map clients and drops the region reference (map.c drops the
 * space's).
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

#endif /* DMS_BOUNCE_H */
