/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of libdmaspace-vfio-user (never installed).
 *
 * The module sits on top of libdmaspace and uses only its public headers,
 * like the SG engine. Files:
 *   vfu.c       DmsVfu: attach, the lock, accept/run, twin sockets, stats
 *   vfu-dma.c   the client's DMA regions: register/unregister callbacks,
 *               RAM or message regions, message accesses, dirty pages
 *   vfu-dev.c   device regions served from a DmsRegion
 *
 * Locking: every vfu_* call runs under DmsVfu.lock (recursive, since
 * device callbacks run under it inside vfu_run_ctx() and may DMA).
 * Counters are atomics, read without the lock.
 */
#ifndef DMS_VFU_PRIVATE_H
#define DMS_VFU_PRIVATE_H

#include <dmaspace/dmaspace.h>
#include <dmaspace/vfio-user.h>

#include <glib.h>
#include <stdatomic.h>
#include <vfio-user/libvfio-user.h>

/* Device regions the helper can serve: vfio-user indexes 0..15. */
#define DMS_VFU_DEV_REGIONS 16

typedef struct VfuDma VfuDma;

struct DmsVfu {
    atomic_int users;    /* dms_vfu_ref/unref: the last one tears down */
    atomic_int refcount; /* the memory: one for all users, one per VfuDma */
    vfu_ctx_t *ctx;
    GRecMutex lock; /* every vfu_* call */

    DmsRegion *container;
    DmsSpace *space;

    /* Under lock: the client's regions by IOVA, and the SG scratch. */
    GTree *dmas;
    dma_sg_t *sg;
    uint64_t *dirty_bitmap;
    size_t dirty_bitmap_words;

    /* Under lock: the attached connection. */
    int conn_fd;
    atomic_bool connected;
    atomic_bool twin_socket;
    int wake_fd; /* eventfd: a device thread saw the client go */
    atomic_int negotiation_timeout_ms;

    /* Device regions (vfu-dev.c): a space over each served region. */
    DmsSpace *dev_space[DMS_VFU_DEV_REGIONS];
    uint64_t dev_size[DMS_VFU_DEV_REGIONS];

    /* Counters (DmsVfuStats). */
    atomic_uint_fast64_t n_regions;
    atomic_uint_fast64_t n_ram_regions;
    atomic_uint_fast64_t n_direct_regions;
    atomic_uint_fast64_t n_refused;
    atomic_uint_fast64_t n_messages;
    atomic_uint_fast64_t n_lost;
    atomic_uint_fast64_t n_clients;
};

/* vfu.c */
DmsVfu *dms__vfu_lookup(vfu_ctx_t *ctx);
DmsVfu *dms__vfu_hold(DmsVfu *vfu);
void dms__vfu_release(DmsVfu *vfu);
void dms__vfu_lost_client(DmsVfu *vfu);

/* vfu-dma.c */
int dms__vfu_dma_setup(DmsVfu *vfu);
void dms__vfu_dma_remove_all(DmsVfu *vfu);
void dms__vfu_dma_flush_dirty(DmsVfu *vfu, uint64_t iova, uint64_t len);

/* vfu-dev.c */
void dms__vfu_dev_clear(DmsVfu *vfu);

/*
 * The two generations of vfu_sgl_read/write: with a flags argument
 * (libvfio-user PR #845) or without. Decided by meson compile checks.
 */
#if DMS_VFU_SGL_HAS_FLAGS
#define dms__vfu_sgl_read(ctx, sg, buf, flags)                                \
    vfu_sgl_read((ctx), (sg), 1, (buf), (flags))
#define dms__vfu_sgl_write(ctx, sg, buf, flags)                               \
    vfu_sgl_write((ctx), (sg), 1, (buf), (flags))
#else
#define dms__vfu_sgl_read(ctx, sg, buf, flags)                                \
    ((void)(flags), vfu_sgl_read((ctx), (sg), 1, (buf)))
#define dms__vfu_sgl_write(ctx, sg, buf, flags)                               \
    ((void)(flags), vfu_sgl_write((ctx), (sg), 1, (buf)))
#endif

#if DMS_VFU_SGL_HAS_FLAGS && DMS_VFU_HAVE_DIRECT_ACCESS
/* fd-backed but unmapped regions (FILE_IO) by pread/pwrite, no message */
#define DMS_VFU_SGL_DIRECT VFU_SGL_DIRECT_ACCESS
#else
#define DMS_VFU_SGL_DIRECT 0
#endif

#endif /* DMS_VFU_PRIVATE_H */
