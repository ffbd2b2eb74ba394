/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DmsSpace: an address space a device model does DMA in.
 *
 * A space is built over a root region and always shows a flattened view of
 * it: which leaf region (RAM or message) answers each address. Reads and
 * writes of any range cross region boundaries freely; map/unmap hand out a
 * host pointer to RAM directly, or lend a bounce buffer from the space's
 * budget for memory that is reached by messages. Typed loads and stores
 * (dms_space_load_le32(), dms_space_store_be64()...) and dms_space_fill()
 * are short forms of read and write, next to them below.
 *
 * Error codes used throughout (negative errno):
 *   -EFAULT      nothing is mapped at an address (a decode error)
 *   -EACCES      write to read-only RAM
 *   -EINVAL      bad arguments; addr + len past 2^64
 *   -EOPNOTSUPP  a register-style region cannot do an access of that size
 *                or alignment
 *   -EDEADLK     a message callback accessed its own region
 *   -EAGAIN      bounce budget used up for now (map only)
 *   -ENOBUFS     bounce budget can never be enough: the limit is 0
 *   -ENOMEM      out of memory
 *   -EIO         a backend broke its contract (see DmsMessageOps)
 *   anything a backend returns is passed on unchanged.
 */
#ifndef DMASPACE_SPACE_H
#define DMASPACE_SPACE_H

#include <stdbool.h>

#include <dmaspace/region.h>
#include <dmaspace/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct DmsSpace DmsSpace;
/**
 * DmsMapClient:
 *
 * A waiter for bounce budget, registered by dms_space_add_map_client().
 */
typedef struct DmsMapClient DmsMapClient;

/* glib's main context, named without including glib. */
struct _GMainContext;

/*
 * Default bounce budget per space: 1 MiB. QEMU's 4 KiB default is smaller
 * than one virtio descriptor chain or one NVMe transfer of 8 KiB and made
 * users raise it to 512 KiB-1 MiB by hand; 1 MiB lets 16 concurrent 64 KiB
 * block transfers (or 256 of 4 KiB) proceed without tuning, while still
 * bounding what a guest can make the device model allocate.
 */
#define DMS_BOUNCE_LIMIT_DEFAULT ((size_t)1 << 20)

/**
 * dms_space_new:
 * @root: the region the space shows at address 0; the space takes a
 *   reference
 * @name: (nullable): copied
 * @ret: (out): the new space, one reference owned by the caller
 *
 * Returns: 0; -EINVAL for NULL @root or @ret; -ENOMEM.
 */
DMS_PUBLIC int dms_space_new(DmsRegion *root, const char *name,
                             DmsSpace **ret);

/**
 * dms_space_ref:
 * @space: (nullable): a space
 *
 * Returns: @space, with one more reference owned by the caller.
 */
DMS_PUBLIC DmsSpace *dms_space_ref(DmsSpace *space);

/**
 * dms_space_unref:
 * @space: (nullable): a space
 *
 * Drops one reference. Every live mapping keeps the space alive, so it
 * outlives its DMA. When the last reference goes, map clients still
 * waiting are cancelled without being called (only unmaps could free
 * budget from then on, and nobody holds the space to map with it); the
 * views, the root region and the space itself go with the last of its
 * references and mappings.
 *
 * Returns: NULL.
 */
DMS_PUBLIC DmsSpace *dms_space_unref(DmsSpace *space);

/**
 * dms_space_get_name:
 * @space: a space
 *
 * Returns: (transfer none): the name; "" if none was given.
 */
DMS_PUBLIC const char *dms_space_get_name(const DmsSpace *space);

/**
 * dms_space_read:
 * @space: a space
 * @addr: DMA address of the first byte
 * @buf: (out caller-allocates): @len bytes
 * @len: bytes to read; 0 succeeds at once
 * @attrs: (nullable): passed untouched to the backends
 * @done: (out) (optional): bytes read before an error; @len on success
 *
 * Reads any range: RAM by memcpy, message regions with one backend call
 * per contiguous run (split only at a region's end or its max_access).
 * Thread-safe; lock-free on RAM.
 *
 * Returns: 0; -EINVAL if @addr + @len passes 2^64 (nothing is read) or
 * @buf is NULL with @len > 0; -EFAULT at an unmapped address;
 * -EOPNOTSUPP, -EDEADLK, -EIO or a backend's error as listed above.
 */
DMS_PUBLIC int dms_space_read(DmsSpace *space, uint64_t addr, void *buf,
                              size_t len, const DmsAttrs *attrs, size_t *done);

/**
 * dms_space_write:
 * @space: a space
 * @addr: DMA address of the first byte
 * @buf: @len bytes
 * @len: bytes to write; 0 succeeds at once
 * @attrs: (nullable): passed untouched to the backends
 * @done: (out) (optional): bytes written before an error; @len on success
 *
 * Like dms_space_read() in the other direction. Writing read-only RAM
 * fails with -EACCES and leaves that RAM untouched; writes to RAM with a
 * dirty log set its bits.
 *
 * Returns: as dms_space_read(), plus -EACCES.
 */
DMS_PUBLIC int dms_space_write(DmsSpace *space, uint64_t addr, const void *buf,
                               size_t len, const DmsAttrs *attrs,
                               size_t *done);

/**
 * dms_space_check:
 * @space: a space
 * @addr: DMA address of the first byte
 * @len: bytes
 * @dir: DMS_DIR_TO_DEVICE to check a read, DMS_DIR_FROM_DEVICE a write
 * @attrs: (nullable): attributes the access would use
 *
 * Tells whether dms_space_read() or dms_space_write() of this range would
 * get past decoding and permissions: every byte mapped, no read-only RAM
 * for a write, every register-style piece a valid size. Calls no backend,
 * changes nothing, takes no lock. A backend may still fail the real access.
 *
 * Returns: 0, or the error the access would fail with.
 */
DMS_PUBLIC int dms_space_check(DmsSpace *space, uint64_t addr, uint64_t len,
                               DmsDirection dir, const DmsAttrs *attrs);

/*
 * Typed accesses at a DMA address: a device reading a descriptor field or
 * writing a completion entry. Each is one dms_space_read() or
 * dms_space_write() of 1, 2, 4 or 8 bytes after a full memory barrier, so
 * register-style message regions see one access of that size. They are
 * not atomic with respect to other agents writing the same memory.
 *
 * Loads return 0 or an error as dms_space_read(); on failure *value is 0.
 * Stores return 0 or an error as dms_space_write(); on failure some bytes
 * may have been written.
 */
DMS_PUBLIC int dms_space_load_u8(DmsSpace *space, uint64_t addr,
                                 uint8_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_le16(DmsSpace *space, uint64_t addr,
                                   uint16_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_le32(DmsSpace *space, uint64_t addr,
                                   uint32_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_le64(DmsSpace *space, uint64_t addr,
                                   uint64_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_be16(DmsSpace *space, uint64_t addr,
                                   uint16_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_be32(DmsSpace *space, uint64_t addr,
                                   uint32_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_be64(DmsSpace *space, uint64_t addr,
                                   uint64_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_u8(DmsSpace *space, uint64_t addr,
                                  uint8_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_le16(DmsSpace *space, uint64_t addr,
                                    uint16_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_le32(DmsSpace *space, uint64_t addr,
                                    uint32_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_le64(DmsSpace *space, uint64_t addr,
                                    uint64_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_be16(DmsSpace *space, uint64_t addr,
                                    uint16_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_be32(DmsSpace *space, uint64_t addr,
                                    uint32_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_be64(DmsSpace *space, uint64_t addr,
                                    uint64_t value, const DmsAttrs *attrs);

/**
 * dms_space_fill:
 * @space: a space
 * @addr: DMA address of the first byte
 * @value: the byte to store
 * @len: bytes to fill; 0 succeeds at once
 * @attrs: (nullable): passed untouched to the backends
 * @done: (out) (optional): bytes filled before an error; @len on success
 *
 * memset() of a DMA range, after a full memory barrier. Message regions
 * receive writes of up to 4 KiB at a time.
 *
 * Returns: 0; -EINVAL if @addr + @len passes 2^64 (nothing is written);
 * otherwise as dms_space_write().
 */
DMS_PUBLIC int dms_space_fill(DmsSpace *space, uint64_t addr, uint8_t value,
                              uint64_t len, const DmsAttrs *attrs,
                              uint64_t *done);

/**
 * dms_space_map:
 * @space: a space
 * @addr: DMA address of the first byte
 * @len: (inout): bytes wanted; on return, bytes mapped, possibly fewer;
 *   0 on failure
 * @dir: the direction; never read-modify-write through one mapping
 * @attrs: (nullable): used for the fill at map time and the write-back at
 *   unmap time (copied: it need not live on)
 * @ret: (out): the host pointer, valid until dms_space_unmap()
 *
 * Maps a range for direct access. RAM is mapped in place, as far as it is
 * contiguous in host memory. Anything else is copied through a bounce
 * buffer lent from the space's budget (dms_space_set_bounce_limit()):
 * filled by the backend now for DMS_DIR_TO_DEVICE, zeroed for
 * DMS_DIR_FROM_DEVICE and written back at unmap. A bounce mapping may be
 * shorter than asked if budget is short or the range changes kind.
 *
 * Every mapping keeps its region and @space alive until
 * dms_space_unmap(); a caller left with only a mapping may take a new
 * reference with dms_space_ref(). Thread-safe. A @len of 0 succeeds and maps
 * nothing
 * (*@ret is NULL).
 *
 * Returns: 0; -EINVAL for bad arguments or a range past 2^64; -EFAULT if
 * nothing is mapped at @addr; -EACCES for a from-device map of read-only
 * RAM; -EAGAIN if bounce budget is used up now (see
 * dms_space_add_map_client()); -ENOBUFS if the bounce limit is 0;
 * -ENOMEM; for to-device bounce maps, the backend's error.
 */
DMS_PUBLIC int dms_space_map(DmsSpace *space, uint64_t addr, size_t *len,
                             DmsDirection dir, const DmsAttrs *attrs,
                             void **ret);

/**
 * dms_space_unmap:
 * @space: the space that mapped @ptr
 * @ptr: a pointer dms_space_map() returned
 * @len: the length dms_space_map() returned
 * @dir: the direction given to dms_space_map()
 * @access_len: bytes the device actually accessed, from the start
 *
 * Ends a mapping. For a from-device bounce mapping, writes the first
 * @access_len bytes back with the attributes given at map time; for
 * from-device RAM, marks those bytes dirty. Releases the references and
 * the budget, and wakes map clients.
 *
 * Anything not handed out by this space (NULL, a foreign or interior
 * pointer, a second unmap, a @len or @dir that does not match) is refused
 * with -EINVAL and a g_critical(), touching no memory the space does not
 * own; the mapping, if any, stays live.
 *
 * Returns: 0; -EINVAL as above or for @access_len > @len (nothing is
 * written back, the mapping stays live); the write-back's error (the
 * mapping is released anyway).
 */
DMS_PUBLIC int dms_space_unmap(DmsSpace *space, void *ptr, size_t len,
                               DmsDirection dir, size_t access_len);

/**
 * dms_space_set_bounce_limit:
 * @space: a space
 * @limit: bytes of bounce buffers that may be lent at once; 0 disables
 *   bounce mapping
 *
 * May be called at any time, also while buffers are lent: lowering the
 * limit below what is lent refuses new bounce maps until enough is
 * returned, and never lets the total exceed the new limit; raising it
 * wakes map clients. Setting 0 wakes them too: their retries fail with
 * -ENOBUFS instead of waiting for budget that cannot come.
 */
DMS_PUBLIC void dms_space_set_bounce_limit(DmsSpace *space, size_t limit);

/**
 * dms_space_get_bounce_limit:
 * @space: a space
 *
 * Returns: the current bounce limit in bytes.
 */
DMS_PUBLIC size_t dms_space_get_bounce_limit(const DmsSpace *space);

/**
 * DmsMapClientFunc:
 * @space: the space whose budget freed up
 * @data: the pointer given to dms_space_add_map_client()
 *
 * Budget is free: retrying dms_space_map() may now succeed (another waiter
 * may have taken it first; register again if it did not).
 */
typedef void (*DmsMapClientFunc)(DmsSpace *space, void *data);

/**
 * dms_space_add_map_client:
 * @space: a space
 * @ctx: (nullable): the GMainContext to call @cb on, or NULL to call it on
 *   the thread that frees budget, after the library dropped its locks
 * @cb: called once, when bounce budget frees up
 * @data: passed to @cb and @notify
 * @notify: (nullable): called with @data exactly once, when the client is
 *   over: after @cb returned, or when the client was cancelled (by
 *   dms_map_client_cancel(), by the space going away, or by @ctx being
 *   freed with the call pending), whichever comes first; never while @cb
 *   runs. It may run on any thread, without library locks.
 * @ret: (out) (optional): a handle to cancel with, one reference owned by
 *   the caller (release with dms_map_client_unref(), also after @cb ran);
 *   NULL if the caller will never cancel
 *
 * Registers a one-shot retry callback. If budget is free already, or the
 * limit is 0 (so that the retry reports -ENOBUFS), @cb is called promptly
 * (from this call if @ctx is NULL). Waiters are called in
 * the order they registered. A waiter registered concurrently with the
 * last unmap is never lost. If the space goes away first, @cb is never
 * called. If this call fails, neither @cb nor @notify is ever called.
 *
 * Returns: 0; -EINVAL for NULL @space or @cb; -ENOMEM.
 */
DMS_PUBLIC int dms_space_add_map_client(DmsSpace *space,
                                        struct _GMainContext *ctx,
                                        DmsMapClientFunc cb, void *data,
                                        DmsDestroyNotify notify,
                                        DmsMapClient **ret);

/**
 * dms_map_client_cancel:
 * @client: a handle from dms_space_add_map_client()
 *
 * Cancels a waiting client. After this returns, its callback is not
 * running (this waits for a callback running on another thread) and never
 * will run. Safe in any state and from any thread, including from the
 * callback itself.
 *
 * Returns: 0 if the callback was prevented; -EALREADY if it had already run
 * or is the caller; -EINVAL for NULL.
 */
DMS_PUBLIC int dms_map_client_cancel(DmsMapClient *client);

/**
 * dms_map_client_ref:
 * @client: (nullable): a handle
 *
 * Returns: @client with one more reference.
 */
DMS_PUBLIC DmsMapClient *dms_map_client_ref(DmsMapClient *client);

/**
 * dms_map_client_unref:
 * @client: (nullable): a handle
 *
 * Drops a reference. Dropping the last one does not cancel the client: a
 * waiting callback still runs.
 *
 * Returns: NULL.
 */
DMS_PUBLIC DmsMapClient *dms_map_client_unref(DmsMapClient *client);

/**
 * DmsSpaceStats:
 * @size: set by the caller to sizeof(DmsSpaceStats) before the call
 *
 * Counters of one space since it was created (monotonic unless noted).
 *
 * fail_exhausted counts every map refused with -EAGAIN: back-pressure, not
 * lost work. The SG engine and dms_sglist_map() meet one at the end of most
 * batches under a small budget, then go on with what they mapped or wait;
 * the engine's waits are counted in engine_waits, never in
 * map_clients_fired, which counts only the caller's own clients.
 */
typedef struct DmsSpaceStats {
    size_t size;
    uint64_t bounce_in_use;     /* bytes lent now */
    uint64_t bounce_high_water; /* most bytes ever lent at once */
    uint64_t bounce_limit;      /* the current limit */
    uint64_t direct_maps;       /* successful direct maps */
    uint64_t bounced_maps;      /* successful bounce maps */
    uint64_t fail_unassigned;   /* maps that failed with -EFAULT */
    uint64_t fail_access;       /* ... -EACCES */
    uint64_t fail_exhausted;    /* ... -EAGAIN (see below) */
    uint64_t fail_no_budget;    /* ... -ENOBUFS */
    uint64_t fail_backend;      /* ... because the fill failed */
    uint64_t fail_nomem;        /* ... -ENOMEM */
    uint64_t bad_unmaps;        /* unmaps refused with -EINVAL */
    uint64_t map_clients_fired; /* dms_space_add_map_client() callbacks run */
    uint64_t engine_waits;      /* SG engine requests resumed after a wait */
} DmsSpaceStats;

/**
 * dms_space_get_stats:
 * @space: a space
 * @stats: (out caller-allocates): with @stats->size set; fields past it are
 *   not written
 *
 * Returns: 0; -EINVAL for NULL arguments or a @size smaller than
 * sizeof(size_t) + sizeof(uint64_t).
 */
DMS_PUBLIC int dms_space_get_stats(DmsSpace *space, DmsSpaceStats *stats);

/**
 * DmsViewRange:
 * @addr: first address of the range in the space
 * @size: bytes; 0 means all 2^64
 * @region: the leaf (RAM or message) region the range shows; valid
 *   during the callback (take a reference to keep it)
 * @offset: offset in @region of the byte at @addr
 *
 * One piece of a space's flattened view, as a change listener sees it.
 */
typedef struct DmsViewRange {
    uint64_t addr;
    uint64_t size;
    DmsRegion *region;
    uint64_t offset;
} DmsViewRange;

/**
 * DmsViewListener:
 *
 * A change listener of one space, from dms_space_add_listener() until
 * dms_space_remove_listener() or the space goes.
 */
typedef struct DmsViewListener DmsViewListener;

/**
 * DmsViewListenerFunc:
 * @opaque: the pointer given to dms_space_add_listener()
 * @removed: ranges that left the view, in address order
 * @n_removed: their count
 * @added: ranges that entered it, in address order
 * @n_added: their count
 *
 * Called once per published change of a space's view (one committed
 * batch, or one change outside a batch), after the new view is published,
 * without any library lock held. A range whose bounds, region or offset
 * changed is removed and added again; ranges that stayed as they were
 * are not mentioned. Applying each call's removals, then its additions,
 * to the ranges seen so far gives the current view.
 *
 * The arrays are valid only during the call. Listeners of one process
 * are called one at a time, in the order the changes were published; a
 * listener may change the topology or add and remove listeners: what that
 * publishes is delivered after it returns.
 */
typedef void (*DmsViewListenerFunc)(void *opaque, const DmsViewRange *removed,
                                    size_t n_removed,
                                    const DmsViewRange *added, size_t n_added);

/**
 * dms_space_add_listener:
 * @space: a space
 * @func: called for each change of @space's view
 * @opaque: passed to @func and @notify
 * @notify: (nullable): called with @opaque exactly once, after the
 *   listener's last call, once it was removed or its space went away; on
 *   any thread, without library locks
 * @ret: (out): a handle for dms_space_remove_listener()
 *
 * Registers a change listener, like QEMU's MemoryListener. Its first call
 * replays the current view (everything added, nothing removed); it is made
 * before this returns, unless another thread is delivering changes at the
 * time or this is called from a listener, in which case it comes right
 * after, still in order. Thread-safe.
 *
 * The space does not keep @opaque alive: free it from @notify, or after
 * removing the listener. The listener does not keep @space alive: a listener
 * still registered when the space goes is removed with it, never called again,
 * and its handle is freed (a call already running on another thread may
 * still be finishing).
 *
 * Returns: 0; -EINVAL for NULL @space, @func or @ret; -ENOMEM.
 */
DMS_PUBLIC int dms_space_add_listener(DmsSpace *space,
                                      DmsViewListenerFunc func, void *opaque,
                                      DmsDestroyNotify notify,
                                      DmsViewListener **ret);

/**
 * dms_space_remove_listener:
 * @space: the space @listener was added to
 * @listener: (transfer full): a handle from dms_space_add_listener()
 *
 * Unregisters @listener and frees its handle. When this returns, @func is
 * not running on another thread and will not be called again (a call
 * from this very thread, if we are inside it, finishes normally).
 *
 * Returns: 0; -EINVAL for NULL arguments; -ENOENT if @listener is not
 * registered with @space (its handle is then left alone).
 */
DMS_PUBLIC int dms_space_remove_listener(DmsSpace *space,
                                         DmsViewListener *listener);

/**
 * dms_space_dump_view:
 * @space: a space
 * @ret: (out): the text, to be released with free()
 *
 * Writes @space's current flattened view as text, one line per range,
 * like QEMU's `info mtree -f`: first and last address, the priority of
 * the leaf region in its container, its kind (ram, rom or message), its
 * name and the offset in it of the first address. For debugging and
 * tests; the format may change.
 *
 * Returns: 0; -EINVAL for NULL arguments; -ENOMEM.
 */
DMS_PUBLIC int dms_space_dump_view(DmsSpace *space, char **ret);

#ifdef __cplusplus
}
#endif

#endif /* DMASPACE_SPACE_H */
