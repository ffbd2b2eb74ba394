/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmaspace-vfio-user: a vfio-user device server's DMA as a DmsSpace.
 *
 * A device served with libvfio-user (nutanix) reaches its client's memory
 * through the regions the client registers with DMA_MAP. DmsVfu turns each
 * of them into a region of a DmsSpace at its IOVA: memory the client shared
 * with a file descriptor becomes RAM (direct memcpy, direct maps), memory
 * without one becomes a message region whose accesses go out as
 * VFIO_USER_DMA_READ / DMA_WRITE, one message per contiguous run of up to
 * 1 MiB. A device model written against the DmsSpace runs unchanged either
 * way. See doc/vfio-user.md.
 *
 * This header needs only the C11 standard headers and libdmaspace's: the
 * libvfio-user context appears as an incomplete `struct vfu_ctx` (the type
 * behind libvfio-user's vfu_ctx_t), so callers may include it before or
 * after <vfio-user/libvfio-user.h>.
 *
 * Threads: libvfio-user is not thread-safe. A DmsVfu serialises every
 * vfu_* call it makes on its context under one recursive lock, and serves
 * the client's requests (dms_vfu_run()) under the same lock, so device
 * threads may access the space while the serve loop runs and while other
 * threads access it. The device's own vfu_* calls (vfu_irq_trigger()...)
 * go between dms_vfu_lock() and dms_vfu_unlock().
 *
 * Errors: negative errno values, as in the rest of libdmaspace.
 */
#ifndef DMASPACE_VFIO_USER_H
#define DMASPACE_VFIO_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaspace/region.h>
#include <dmaspace/space.h>
#include <dmaspace/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DMS_VFU_PUBLIC __attribute__((visibility("default")))
#else
#define DMS_VFU_PUBLIC
#endif

/* libvfio-user's context (vfu_ctx_t); only pointers to it are used. */
struct vfu_ctx;

/**
 * DmsVfu:
 *
 * A vfio-user device context attached to a space: its client's DMA
 * memory as regions of the space, from dms_vfu_attach() until its last
 * reference goes (dms_vfu_unref()). Refcounted, like every object of
 * libdmaspace; every thread that calls it holds a reference.
 */
typedef struct DmsVfu DmsVfu;

/*
 * Largest run one vfu_sgl_read/write carries: libvfio-user refuses any
 * reply above 1 MiB, whatever the client offered.
 */
#define DMS_VFU_MAX_TRANSFER ((size_t)1 << 20)

/* Page size of the dirty tracking of shared client memory. */
#define DMS_VFU_DIRTY_PAGE_SIZE ((uint64_t)4096)

/**
 * dms_vfu_attach:
 * @ctx: a libvfio-user context created with LIBVFIO_USER_FLAG_ATTACH_NB
 *   and not realized yet; the DmsVfu takes it over: the caller must not
 *   destroy it (the last dms_vfu_unref() calls vfu_destroy_ctx())
 * @container: (nullable): a container region that receives the client's
 *   DMA regions at their IOVAs (the DmsVfu takes a reference); NULL makes
 *   a new container spanning all 2^64 addresses
 * @ret: (out): the new DmsVfu, one reference owned by the caller
 *
 * Sets up @ctx's DMA callbacks (vfu_setup_device_dma()); from then on
 * every DMA_MAP of a client becomes a subregion of @container and every
 * DMA_UNMAP, reset or disconnect removes it. A region whose memory is
 * mmap-ed whole by libvfio-user is RAM (read-only without write
 * permission); any other is a message region. A region the client gave
 * without read permission fails reads with -EACCES, one without write
 * permission fails writes with -EACCES. A DMA_MAP that wraps past 2^64
 * adds nothing (accesses there fail with -EFAULT).
 *
 * The DmsVfu also builds a space over @container: dms_vfu_get_space().
 * Call from the thread that will run vfu_realize_ctx() next; not
 * thread-safe against other calls on @ctx.
 *
 * Returns: 0; -EINVAL for NULL @ctx or @ret, a @container that is not a
 * container, a context already attached, or a blocking context (without
 * LIBVFIO_USER_FLAG_ATTACH_NB, vfu_run_ctx() would hold the lock forever);
 * -ENOMEM; or the error of vfu_setup_device_dma().
 */
DMS_VFU_PUBLIC int dms_vfu_attach(struct vfu_ctx *ctx, DmsRegion *container,
                                  DmsVfu **ret);

/**
 * dms_vfu_ref:
 * @vfu: (nullable): a DmsVfu
 *
 * Takes a reference: a thread that runs dms_vfu_run() or DMA through the
 * space on its own, or an object that keeps the pointer, holds one.
 * Thread-safe.
 *
 * Returns: @vfu, with one more reference owned by the caller.
 */
DMS_VFU_PUBLIC DmsVfu *dms_vfu_ref(DmsVfu *vfu);

/**
 * dms_vfu_unref:
 * @vfu: (nullable): a DmsVfu
 *
 * Drops one reference. Thread-safe. The last one destroys the
 * libvfio-user context (vfu_destroy_ctx(), which removes the client's
 * regions and closes its connection), then drops the DmsVfu's references
 * on the space, the container and the device regions. Accesses and
 * mappings still running keep their regions alive until they end; they
 * fail or land in memory no client sees any more. Since every caller
 * holds a reference, no thread can be inside dms_vfu_run() or
 * dms_vfu_accept() when the last one goes.
 *
 * Returns: NULL.
 */
DMS_VFU_PUBLIC DmsVfu *dms_vfu_unref(DmsVfu *vfu);

/**
 * dms_vfu_get_space:
 * @vfu: a DmsVfu
 *
 * Returns: (transfer none): the space over the container, valid while the
 * caller holds its reference on @vfu (take a reference on the space to
 * keep it longer).
 */
DMS_VFU_PUBLIC DmsSpace *dms_vfu_get_space(DmsVfu *vfu);

/**
 * dms_vfu_get_container:
 * @vfu: a DmsVfu
 *
 * Returns: (transfer none): the container of the client's regions, valid
 * while the caller holds its reference on @vfu.
 */
DMS_VFU_PUBLIC DmsRegion *dms_vfu_get_container(DmsVfu *vfu);

/**
 * dms_vfu_get_ctx:
 * @vfu: a DmsVfu
 *
 * Returns: (transfer none): the libvfio-user context, owned by @vfu and
 * valid while the caller holds its reference on @vfu.
 */
DMS_VFU_PUBLIC struct vfu_ctx *dms_vfu_get_ctx(DmsVfu *vfu);

/*
 * How long a client that has connected may take to complete the version
 * negotiation, by default (dms_vfu_set_negotiation_timeout()).
 */
#define DMS_VFU_NEGOTIATION_TIMEOUT_MS 3000

/**
 * dms_vfu_accept:
 * @vfu: a DmsVfu whose context is realized
 * @timeout_ms: how long to wait for a client to connect; -1 forever, 0
 *   not at all
 *
 * Waits for a client to connect (without holding the lock), then attaches
 * it (vfu_attach_ctx(), version negotiation included, under the lock).
 * libvfio-user negotiates with blocking reads, so a client that connects
 * and never sends its VERSION would hold the lock, and every device
 * thread that takes it, for ever: the negotiation has a deadline
 * (dms_vfu_set_negotiation_timeout(), DMS_VFU_NEGOTIATION_TIMEOUT_MS by
 * default), after which the connection is shut down and the call returns
 * -ETIMEDOUT. Message DMA through regions of an earlier client never
 * waits for the lock meanwhile: it fails at once with -ENOTCONN.
 *
 * Returns: 0 when a client is attached; -ETIMEDOUT if none came in
 * @timeout_ms, or one came but did not complete the negotiation before
 * the deadline (it is dropped: call again for the next one); -EINTR if a
 * signal interrupted the wait; -EISCONN if a client is already attached;
 * -EAGAIN if no thread could be made to watch the deadline (the client
 * stays queued); or the error of vfu_attach_ctx() (a client that failed
 * the negotiation: call again for the next one).
 */
DMS_VFU_PUBLIC int dms_vfu_accept(DmsVfu *vfu, int timeout_ms);

/**
 * dms_vfu_set_negotiation_timeout:
 * @vfu: a DmsVfu
 * @timeout_ms: the deadline of the version negotiation of each new
 *   client, counted from the moment dms_vfu_accept() starts it; -1 for
 *   none (a client that connects and sends nothing then blocks
 *   dms_vfu_accept() and the lock until it goes)
 *
 * Thread-safe; applies from the next dms_vfu_accept() on.
 *
 * Returns: 0; -EINVAL for a NULL @vfu or a @timeout_ms of 0 or below -1.
 */
DMS_VFU_PUBLIC int dms_vfu_set_negotiation_timeout(DmsVfu *vfu,
                                                   int timeout_ms);

/**
 * dms_vfu_run:
 * @vfu: a DmsVfu with a client attached
 * @timeout_ms: how long to wait for a request; -1 forever, 0 not at all
 *
 * Waits for the client's next request without holding the lock, then
 * serves it with vfu_run_ctx() under the lock. Device callbacks run on
 * this thread, under the lock: they may access the space (message DMA
 * from a callback is always safe, see dms_vfu_has_twin_socket()) and call
 * vfu_* functions. Before a request that reads dirty pages, pages written
 * through the space into shared client memory are handed to libvfio-user.
 *
 * The wait also ends when a device thread finds the client gone in the
 * middle of a message access.
 *
 * Returns: the number of requests served (0 after a timeout); -ENOTCONN
 * when the client is gone (its regions are removed; call
 * dms_vfu_accept() for the next one); -EINTR; -EBUSY while the device is
 * quiescing; or another error of vfu_run_ctx(), after which the client is
 * still attached.
 */
DMS_VFU_PUBLIC int dms_vfu_run(DmsVfu *vfu, int timeout_ms);

/**
 * dms_vfu_lock:
 * @vfu: a DmsVfu
 *
 * Takes the lock every vfu_* call on the context runs under. Recursive:
 * a device callback (which already runs under it) may take it again. Hold
 * it around the device's own vfu_* calls; never wait under it for
 * something only the serve loop can do.
 */
DMS_VFU_PUBLIC void dms_vfu_lock(DmsVfu *vfu);

/**
 * dms_vfu_unlock:
 * @vfu: a DmsVfu
 *
 * Releases the lock taken by dms_vfu_lock().
 */
DMS_VFU_PUBLIC void dms_vfu_unlock(DmsVfu *vfu);

/**
 * dms_vfu_is_connected:
 * @vfu: a DmsVfu
 *
 * Returns: true while a client is attached and has not been seen to go.
 */
DMS_VFU_PUBLIC bool dms_vfu_is_connected(DmsVfu *vfu);

/**
 * dms_vfu_has_twin_socket:
 * @vfu: a DmsVfu
 *
 * Tells whether the attached client negotiated twin sockets, a second
 * socket that carries the server's DMA messages. With it, device threads
 * may send message DMA at any time. Without it, DMA messages share the
 * client's command socket: a device thread's message that crosses a
 * command the client sends at the same moment breaks the connection
 * (libvfio-user issue #279). Without twin sockets, do message DMA only
 * from device callbacks (which run inside dms_vfu_run()) or while the
 * client is known to send nothing, or use only fd-backed client memory.
 *
 * libvfio-user has no query for this: the DmsVfu learns it by looking at
 * the sockets libvfio-user opened during the negotiation.
 *
 * Returns: true if the attached client uses twin sockets.
 */
DMS_VFU_PUBLIC bool dms_vfu_has_twin_socket(DmsVfu *vfu);

/**
 * DmsVfuStats:
 * @regions: client DMA regions in the container now
 * @ram_regions: of those, served as RAM (the module's own mapping of
 *   the client's file)
 * @direct_regions: of those, fd memory the module could not map itself
 *   (valgrind refuses the mapping), reached by libvfio-user's direct
 *   access under the lock: no message, but no direct maps either
 * @refused_regions: DMA_MAPs seen but not added (wrapping, repeated)
 * @messages: vfu_sgl_read/write calls made (each may be several
 *   vfio-user messages when the client offered less than 1 MiB, or none
 *   for a direct region)
 * @lost_accesses: message accesses that failed because the client went
 * @clients: clients attached so far
 *
 * Counters of a DmsVfu, read by dms_vfu_get_stats().
 */
typedef struct DmsVfuStats {
    uint64_t regions;
    uint64_t ram_regions;
    uint64_t direct_regions;
    uint64_t refused_regions;
    uint64_t messages;
    uint64_t lost_accesses;
    uint64_t clients;
} DmsVfuStats;

/**
 * dms_vfu_get_stats:
 * @vfu: a DmsVfu
 * @stats: (out caller-allocates): the counters
 *
 * Thread-safe.
 *
 * Returns: 0; -EINVAL for NULL arguments.
 */
DMS_VFU_PUBLIC int dms_vfu_get_stats(DmsVfu *vfu, DmsVfuStats *stats);

/**
 * dms_vfu_setup_region:
 * @vfu: a DmsVfu whose context is not realized yet
 * @region_idx: the vfio-user region index (VFU_PCI_DEV_BAR0_REGION_IDX...;
 *   0 to 15, not the PCI config space, which libvfio-user serves)
 * @region: the region that serves it, usually a register-style message
 *   region; the DmsVfu takes a reference until its last reference goes
 * @size: the size the client sees
 * @vfu_flags: VFU_REGION_FLAG_* bits for vfu_setup_region()
 *
 * Serves a device region of the vfio-user device from @region: a client's
 * REGION_READ / REGION_WRITE of N bytes at an offset is an access of N
 * bytes at that offset of @region, with its valid/impl sizes and device
 * byte order. The bytes on the wire are the region's memory image, so a
 * register region declared DMS_ENDIAN_LITTLE is little-endian on the wire
 * on every host (declare PCI registers little-endian, not host-endian).
 * A failed access fails the client's request with the error's errno.
 * Accesses run on the serve loop's thread, under the lock.
 *
 * Returns: 0; -EINVAL for NULL arguments, an index out of range or
 * already served, or a zero @size; -ENOMEM; or the error of
 * vfu_setup_region().
 */
DMS_VFU_PUBLIC int dms_vfu_setup_region(DmsVfu *vfu, int region_idx,
                                        DmsRegion *region, uint64_t size,
                                        int vfu_flags);

#ifdef __cplusplus
}
#endif

/*
 * g_autoptr(DmsVfu), for users who include glib before this header (as
 * <dmaspace/dmaspace.h> does for the core's types).
 */
#if defined(G_DEFINE_AUTOPTR_CLEANUP_FUNC)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmsVfu, dms_vfu_unref)
#endif

#endif /* DMASPACE_VFIO_USER_H */
