/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsRegion: a range of DMA-visible memory and how it is reached.
 *
 * Four kinds:
 *  - RAM: host memory the process can touch; accesses are memcpy.
 *  - message: memory reached through callbacks (a vfio-user client, a PCIe
 *    bridge, a simulator). Either bulk accessors that take a whole run of
 *    bytes, or register-style accessors that take 1/2/4/8-byte values.
 *  - container: subregions at offsets, with priorities.
 *  - alias: a window onto part of another region.
 *
 * Sizes: RAM sizes are 1..SIZE_MAX bytes. For the other kinds a size of
 * DMS_SIZE_ALL (0) means the whole 2^64-byte range, so a root container or
 * a message region can cover every address including 2^64 - 1.
 *
 * Regions are refcounted. dms_region_new_*() returns one reference owned by
 * the caller. A container holds a reference on each subregion, an alias on
 * its target, a DmsSpace on its root and on every region its current view
 * reaches, and every live mapping or in-flight message access on its
 * region. The destroy notify registered at creation runs once, after the
 * last of those references is gone. A view's references outlive the view
 * by a grace period (accesses may still be reading it) and are dropped on
 * a thread of the library, so the notify of a region removed from a space
 * runs there, a little after the removal; dms_update_barrier() waits for
 * it.
 *
 * Topology calls (add/remove subregion, resize) are thread-safe and may run
 * while other threads access spaces built from these regions: each change
 * publishes new views of the spaces that show it, without waiting for
 * accesses; accesses already running finish on the view they started with.
 */
#ifndef DMASPACE_REGION_H
#define DMASPACE_REGION_H

#include <stdbool.h>

#include <dmaspace/endian.h>
#include <dmaspace/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct DmsRegion DmsRegion;

/* Size argument meaning "all 2^64 bytes" (not valid for RAM). */
#define DMS_SIZE_ALL UINT64_C(0)

/* dms_region_new_ram() flags */
#define DMS_RAM_READONLY (1u << 0) /* writes fail with -EACCES */

/* dms_region_add_subregion() flags */
#define DMS_SUBREGION_OVERLAP (1u << 0) /* may overlap equal priority */

/* DmsMessageOps.flags */
/*
 * Serialise backend calls: at most one call into this region's ops runs at
 * a time, process-wide. For backends whose transport cannot carry two
 * requests at once (libvfio-user without twin sockets).
 */
#define DMS_MESSAGE_SERIALIZE (1u << 0)

/**
 * DmsAccessSizes:
 * @min_access: smallest access in bytes (1, 2, 4 or 8; 0 means 1)
 * @max_access: largest access in bytes (1, 2, 4 or 8; 0 means 4)
 * @unaligned: true if accesses need not be aligned to their size
 *
 * Access sizes of a register-style message region: DmsMessageOps.valid is
 * what callers may do, DmsMessageOps.impl what the backend implements. The
 * defaults of zeroed fields match QEMU's MemoryRegionOps, so a QEMU device
 * ports by copying its .valid and .impl.
 */
typedef struct DmsAccessSizes {
    uint8_t min_access;
    uint8_t max_access;
    bool unaligned;
} DmsAccessSizes;

/**
 * DmsMessageOps:
 * @size: sizeof(DmsMessageOps) as the caller compiled it; lets the table
 *   grow without breaking callers built against an older header
 * @flags: DMS_MESSAGE_* bits
 * @read: bulk read of @len bytes at @offset into @buf. Returns the number
 *   of bytes read (1..@len; fewer means "call me again for the rest") or a
 *   negative errno. Returning 0 or more than @len is a backend bug and
 *   fails the access with -EIO.
 * @write: bulk write, same contract as @read.
 * @max_access: largest @len passed to @read/@write; 0 means no limit.
 *   The library never cuts a bulk access into smaller pieces for any other
 *   reason than this limit or the end of the region.
 * @read_value: register-style read of @size (1/2/4/8) bytes at @offset,
 *   returning the value in host numeric form through @value. Returns 0 or
 *   a negative errno. Used only when @read is NULL.
 * @write_value: register-style write, same contract. Used only when @write
 *   is NULL.
 * @endian: byte order of the device's registers: how a value maps to bytes
 *   in memory.
 * @valid: access sizes callers may use.
 * @impl: access sizes @read_value / @write_value implement. Accesses
 *   larger than @impl.max_access are split, and the pieces placed in the
 *   device's byte order; reads smaller than @impl.min_access are widened
 *   and the wanted bytes extracted; writes smaller than @impl.min_access
 *   fail with -EOPNOTSUPP rather than clobber neighbouring bytes.
 *
 * Each callback receives the attributes the access was made with, or NULL
 * if it was made with none. Callbacks run without any library lock held
 * and outside the library's read-side critical sections: they may block
 * (send a message, wait for a reply), and may call back into the library
 * (access the same space, add or remove regions, even remove their own
 * region: the region stays alive until the callback returns). The one
 * thing refused is a re-entrant access to the same region from its own
 * callback, which fails with -EDEADLK instead of recursing.
 */
typedef struct DmsMessageOps {
    size_t size;
    uint32_t flags;

    int64_t (*read)(void *opaque, uint64_t offset, void *buf, size_t len,
                    const DmsAttrs *attrs);
    int64_t (*write)(void *opaque, uint64_t offset, const void *buf,
                     size_t len, const DmsAttrs *attrs);
    size_t max_access;

    int (*read_value)(void *opaque, uint64_t offset, uint64_t *value,
                      unsigned size, const DmsAttrs *attrs);
    int (*write_value)(void *opaque, uint64_t offset, uint64_t value,
                       unsigned size, const DmsAttrs *attrs);
    DmsEndian endian;
    DmsAccessSizes valid;
    DmsAccessSizes impl;
} DmsMessageOps;

/**
 * dms_region_new_ram:
 * @name: (nullable): a name for messages and debugging; copied
 * @host: the memory; must stay valid until @notify runs
 * @size: bytes at @host, at least 1
 * @flags: DMS_RAM_* bits
 * @notify_data: passed to @notify
 * @notify: (nullable): called with @notify_data after the last reference
 * @ret: (out): the new region, one reference owned by the caller
 *
 * Creates a RAM region. The library never frees @host; @notify tells its
 * owner when no mapping or view can reach it any more. If this call fails,
 * @notify is not called.
 *
 * Returns: 0; -EINVAL for a NULL @host, a zero @size, unknown @flags or a
 * NULL @ret; -ENOMEM.
 */
DMS_PUBLIC int dms_region_new_ram(const char *name, void *host, uint64_t size,
                                  uint32_t flags, void *notify_data,
                                  DmsDestroyNotify notify, DmsRegion **ret);

/**
 * dms_region_new_message:
 * @name: (nullable): copied
 * @size: bytes the region spans, or DMS_SIZE_ALL
 * @ops: the backend; copied (up to @ops->size bytes), so it need not live on
 * @opaque: passed to every callback
 * @notify: (nullable): called with @opaque after the last reference, when no
 *   callback is running or can start any more
 * @ret: (out): the new region, one reference owned by the caller
 *
 * Creates a region whose memory is reached through callbacks. A table that
 * sets @read must set @write and vice versa; otherwise both @read_value and
 * @write_value must be set. If this call fails, @notify is not called.
 *
 * Returns: 0; -EINVAL for a bad @ops (size too small, no accessors, invalid
 * access sizes or endian, unknown flags) or NULL @ret; -ENOMEM.
 */
DMS_PUBLIC int dms_region_new_message(const char *name, uint64_t size,
                                      const DmsMessageOps *ops, void *opaque,
                                      DmsDestroyNotify notify,
                                      DmsRegion **ret);

/**
 * dms_region_new_container:
 * @name: (nullable): copied
 * @size: bytes the container spans, or DMS_SIZE_ALL
 * @ret: (out): the new region, one reference owned by the caller
 *
 * Creates an empty container. Addresses it spans that no subregion covers
 * decode to nothing (-EFAULT on access).
 *
 * Returns: 0; -EINVAL for a NULL @ret; -ENOMEM.
 */
DMS_PUBLIC int dms_region_new_container(const char *name, uint64_t size,
                                        DmsRegion **ret);

/**
 * dms_region_new_alias:
 * @name: (nullable): copied
 * @target: the region to show a window of; the alias takes a reference
 * @offset: first byte of @target that the alias shows
 * @size: bytes shown, or DMS_SIZE_ALL for "to the end of @target"
 * @ret: (out): the new region, one reference owned by the caller
 *
 * Creates a region that shows bytes [@offset, @offset + @size) of @target,
 * wherever the alias itself is placed. Bytes past @target's end decode to
 * nothing.
 *
 * Returns: 0; -EINVAL for NULL arguments or @offset + @size past 2^64;
 * -ENOMEM.
 */
DMS_PUBLIC int dms_region_new_alias(const char *name, DmsRegion *target,
                                    uint64_t offset, uint64_t size,
                                    DmsRegion **ret);

/**
 * dms_region_ref:
 * @region: (nullable): a region
 *
 * Returns: @region, with one more reference owned by the caller.
 */
DMS_PUBLIC DmsRegion *dms_region_ref(DmsRegion *region);

/**
 * dms_region_unref:
 * @region: (nullable): a region
 *
 * Drops one reference; the last one frees the region and runs its notify.
 *
 * Returns: NULL, so that `r = dms_region_unref(r);` clears the pointer.
 */
DMS_PUBLIC DmsRegion *dms_region_unref(DmsRegion *region);

/**
 * dms_region_add_subregion:
 * @container: a container region
 * @offset: where @sub's first byte goes, relative to @container
 * @sub: the region to place; @container takes a reference
 * @priority: higher wins where subregions overlap
 * @flags: DMS_SUBREGION_* bits
 *
 * Places @sub inside @container. Where subregions of different priority
 * overlap, the higher one is visible. Subregions of equal priority may
 * overlap only if this call passes DMS_SUBREGION_OVERLAP, and then the one
 * added last is visible. The parts of @sub past @container's end are not
 * visible. Every space built over @container sees the change at once,
 * unless a dms_update_begin() is open.
 *
 * Returns: 0; -EINVAL for NULL arguments, a @container that is not a
 * container, unknown @flags, or @offset + size of @sub past 2^64; -EBUSY if
 * @sub is already in a container; -ELOOP if @container is @sub or is
 * reachable from it; -EEXIST if @sub overlaps a subregion of equal priority
 * and DMS_SUBREGION_OVERLAP was not given; -ENOMEM.
 */
DMS_PUBLIC int dms_region_add_subregion(DmsRegion *container, uint64_t offset,
                                        DmsRegion *sub, int priority,
                                        uint32_t flags);

/**
 * dms_region_remove_subregion:
 * @container: the container @sub is in
 * @sub: the region to remove
 *
 * Removes @sub and drops @container's reference on it. Accesses and
 * mappings that already reach @sub keep it alive until they end; new ones
 * no longer see it. May be called from a message callback, including one
 * of @sub itself.
 *
 * Returns: 0; -EINVAL for NULL arguments; -ENOENT if @sub is not in
 * @container.
 */
DMS_PUBLIC int dms_region_remove_subregion(DmsRegion *container,
                                           DmsRegion *sub);

/**
 * dms_region_set_size:
 * @region: a region
 * @size: the new size, or DMS_SIZE_ALL (not for RAM)
 *
 * Resizes @region; spaces that show it publish new views. A RAM region can
 * change size only within the size it was created with, since the library
 * cannot know how far the memory at its host pointer extends.
 *
 * Returns: 0; -EINVAL for a NULL @region, a zero or too large RAM size, or
 * a size that would put the region past 2^64 in its container.
 */
DMS_PUBLIC int dms_region_set_size(DmsRegion *region, uint64_t size);

/**
 * dms_region_get_size:
 * @region: a region
 *
 * Returns: the size in bytes; DMS_SIZE_ALL (0) for a full 2^64 span.
 */
DMS_PUBLIC uint64_t dms_region_get_size(const DmsRegion *region);

/**
 * dms_region_get_name:
 * @region: a region
 *
 * Returns: (transfer none): the name, valid as long as @region is; "" if
 * none was given.
 */
DMS_PUBLIC const char *dms_region_get_name(const DmsRegion *region);

/**
 * dms_region_enable_dirty_log:
 * @ram: a RAM region
 * @page_size: bytes tracked per bit; a power of two from 1 to 2^30
 *
 * Starts tracking which pages of @ram are written through the library:
 * by dms_space_write(), by from-device unmaps (exactly the access_len
 * given to dms_space_unmap()) and by the SG helpers. Writes the host makes
 * itself through the host pointer are not seen. Can be called once per
 * region; the log lives as long as the region.
 *
 * Returns: 0; -EINVAL if @ram is not RAM or @page_size is invalid;
 * -EEXIST if the log is already enabled; -ENOMEM.
 */
DMS_PUBLIC int dms_region_enable_dirty_log(DmsRegion *ram, uint64_t page_size);

/**
 * dms_region_take_dirty_log:
 * @ram: a RAM region with the dirty log enabled
 * @bitmap: (out caller-allocates): receives one bit per page, bit i of
 *   word i / 64 for page i, least significant bit first
 * @nbits: pages @bitmap has room for; at most this many are taken
 *
 * Copies the dirty bits into @bitmap and clears them, atomically per
 * machine word of the log (64 pages on 64-bit hosts, 32 on 32-bit ones):
 * a page written while this runs is either in @bitmap or still set in the
 * log afterwards, never lost, and a page taken here is seen with the data
 * written before its bit was set. Pages past @nbits stay set.
 *
 * Returns: the number of pages the log has (which may exceed @nbits);
 * -EINVAL if @ram is not RAM, has no dirty log, or @bitmap is NULL while
 * @nbits is not 0.
 */
DMS_PUBLIC int64_t dms_region_take_dirty_log(DmsRegion *ram, uint64_t *bitmap,
                                             uint64_t nbits);

/**
 * dms_update_begin:
 *
 * Opens a batch of topology changes: until the matching dms_update_commit(),
 * changes to regions are collected and no space publishes a new view, so a
 * thousand additions cost one rebuild. Batches nest. While a batch is open
 * on one thread, topology calls on other threads wait for it. Accesses on
 * all threads continue on the views published before the batch.
 */
DMS_PUBLIC void dms_update_begin(void);

/**
 * dms_update_commit:
 *
 * Closes the batch opened by the matching dms_update_begin(); the outermost
 * commit publishes new views of every changed space.
 */
DMS_PUBLIC void dms_update_commit(void);

/**
 * dms_update_barrier:
 *
 * Waits until everything that topology changes made before this call left
 * for later is done: old views freed, and the references they held on
 * regions dropped, so that the destroy notify of a region removed (or of
 * a space released) before this call has run, unless something else still
 * holds it (a mapping, an access in flight, a reference of the caller).
 *
 * Topology changes do not wait for accesses running on other threads:
 * they publish the new view and leave the old one to be freed once no
 * access can still be reading it, on a thread of the library. A removed
 * region's destroy notify therefore runs a little after
 * dms_region_remove_subregion() returns, on that thread, with no library
 * lock held. Call this where the notify must have run, for example
 * before checking for leaks at exit.
 *
 * Must not be called with a batch open or from a destroy notify.
 *
 * Returns: 0; -EDEADLK inside a dms_update_begin() batch or from a
 * destroy notify (the wait would never end); -EAGAIN if the library
 * cannot start the thread that does this work (thread limits).
 */
DMS_PUBLIC int dms_update_barrier(void);

#ifdef __cplusplus
}
#endif

#endif /* DMASPACE_REGION_H */
