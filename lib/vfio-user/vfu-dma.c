/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The client's DMA regions as regions of the DmsVfu's container.
 *
 * A DMA_MAP becomes RAM when libvfio-user mmap-ed the whole region and the
 * file behind it really reaches its last byte; the RAM is a second mapping
 * of the same pages (mremap with old size 0), so it stays valid until the
 * region's last user is gone even though libvfio-user unmaps its own
 * mapping as soon as dma_unregister returns. Where that second mapping
 * cannot be made (valgrind refuses it), the region is reached through
 * libvfio-user's direct access (VFU_SGL_DIRECT_ACCESS: a memcpy into its
 * own mapping, under the lock that also covers the unmap, so never into
 * memory already gone), without messages; or by messages where
 * libvfio-user has no direct access.
 *
 * Anything else is a message region: one vfu_sgl_read/write per run, the
 * library cutting runs at DMS_VFU_MAX_TRANSFER. Regions without an fd may
 * go by pread/pwrite when libvfio-user offers VFU_SGL_DIRECT_ACCESS (the
 * FILE_IO mode); regions whose mapping is broken (odd offset, short fd)
 * always go by messages, since a direct access there would fault.
 */
#include "vfu-private.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

struct VfuDma {
    DmsVfu *vfu; /* a reference */
    uint64_t iova;
    uint64_t len;
    uint32_t prot;
    bool ram;
    int sgl_flags;
    bool direct;   /* fd memory by libvfio-user's direct access */
    void *own_map; /* our second mapping, unmapped at release */
    size_t own_map_len;
    atomic_bool gone;  /* set under vfu->lock: unregistered */
    DmsRegion *region; /* the DmsVfu's reference while registered */
};

static gint compare_iova(gconstpointer a, gconstpointer b, gpointer data)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void free_dma(VfuDma *d)
{
    dms__vfu_release(d->vfu);
    g_free(d);
}

/* RAM region notify: after the last view, mapping or access is gone. */
static void ram_released(void *data)
{
    VfuDma *d = data;

    munmap(d->own_map, d->own_map_len);
    free_dma(d);
}

static void message_released(void *data)
{
    free_dma(data);
}

/*
 * One run of a message region: one vfu_sgl_read/write, under the lock.
 * The library never passes more than DMS_VFU_MAX_TRANSFER bytes.
 */
static int64_t transfer(VfuDma *d, uint64_t offset, void *buf, size_t len,
                        bool write)
{
    DmsVfu *vfu = d->vfu;
    int r, err;

    /*
     * Unregistered (client gone or region unmapped): its IOVA may already
     * belong to another region, or to the next client. Never look it up,
     * and never wait for the lock to learn it: between two clients the
     * lock may be held by the next client's negotiation, for as long as
     * its deadline (dms_vfu_set_negotiation_timeout()).
     */
    if (atomic_load(&d->gone) || !atomic_load(&vfu->connected)) {
        atomic_fetch_add(&vfu->n_lost, 1);
        return -ENOTCONN;
    }
    g_rec_mutex_lock(&vfu->lock);
    if (atomic_load(&d->gone) || !atomic_load(&vfu->connected)) {
        atomic_fetch_add(&vfu->n_lost, 1);
        g_rec_mutex_unlock(&vfu->lock);
        return -ENOTCONN;
    }
    r = vfu_addr_to_sgl(vfu->ctx,
                        (vfu_dma_addr_t)(uintptr_t)(d->iova + offset), len,
                        vfu->sg, 1, write ? PROT_WRITE : PROT_READ);
    if (r != 1) {
        err = r == -1 && errno == EACCES ? EACCES : EFAULT;
        g_rec_mutex_unlock(&vfu->lock);
        return -err;
    }
    atomic_fetch_add(&vfu->n_messages, 1);
    if (write)
        r = dms__vfu_sgl_write(vfu->ctx, vfu->sg, buf, d->sgl_flags);
    else
        r = dms__vfu_sgl_read(vfu->ctx, vfu->sg, buf, d->sgl_flags);
    if (r < 0) {
        err = errno > 0 ? errno : EIO;
        if (err == ENOTCONN) {
            /* libvfio-user has reset the context inside the call. */
            atomic_fetch_add(&vfu->n_lost, 1);
            dms__vfu_lost_client(vfu);
        }
        g_rec_mutex_unlock(&vfu->lock);
        return -err;
    }
    g_rec_mutex_unlock(&vfu->lock);
    return (int64_t)len;
}

static int64_t message_read(void *opaque, uint64_t offset, void *buf,
                            size_t len, const DmsAttrs *attrs)
{
    VfuDma *d = opaque;

    if (!(d->prot & PROT_READ))
        return -EACCES;
    return transfer(d, offset, buf, len, false);
}

static int64_t message_write(void *opaque, uint64_t offset, const void *buf,
                             size_t len, const DmsAttrs *attrs)
{
    VfuDma *d = opaque;

    if (!(d->prot & PROT_WRITE))
        return -EACCES;
    /* libvfio-user's API takes a non-const buffer it only reads from. */
    return transfer(d, offset, (void *)(uintptr_t)buf, len, true);
}

static const DmsMessageOps message_ops = {
    .size = sizeof(DmsMessageOps),
    .read = message_read,
    .write = message_write,
    .max_access = DMS_VFU_MAX_TRANSFER,
};

/* Does libvfio-user's mapping hold all of [vaddr, vaddr + len)? */
static bool mapping_covers(const vfu_dma_info_t *info, uint64_t len)
{
    uintptr_t base = (uintptr_t)info->mapping.iov_base;
    uintptr_t v = (uintptr_t)info->vaddr;

    if (info->vaddr == NULL || info->mapping.iov_base == NULL)
        return false;
    return v >= base && v - base <= info->mapping.iov_len &&
           len <= info->mapping.iov_len - (v - base);
}

/*
 * Does the file reach the region's last byte? A mapping past the end of
 * its file faults with SIGBUS; the kernel reading it for us fails with
 * EFAULT instead.
 */
static bool file_reaches(const void *vaddr, uint64_t len)
{
    struct iovec local, remote;
    char byte;

    local.iov_base = &byte;
    local.iov_len = 1;
    remote.iov_base = (char *)(uintptr_t)vaddr + len - 1;
    remote.iov_len = 1;
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

/*
 * The RAM region's memory, or NULL if it must be a message region (with
 * d->direct set when libvfio-user's own mapping is sound).
 */
static void *ram_host(VfuDma *d, const vfu_dma_info_t *info)
{
    void *copy;

    if (!(d->prot & PROT_READ) || !mapping_covers(info, d->len) ||
        !file_reaches(info->vaddr, d->len))
        return NULL;
    copy = mremap(info->mapping.iov_base, 0, info->mapping.iov_len,
                  MREMAP_MAYMOVE);
    if (copy == MAP_FAILED) {
        d->direct = DMS_VFU_SGL_DIRECT != 0;
        return NULL;
    }
    d->own_map = copy;
    d->own_map_len = info->mapping.iov_len;
    return (char *)copy +
           ((uintptr_t)info->vaddr - (uintptr_t)info->mapping.iov_base);
}

/*
 * "vfio-user dma 0x<iova>": by hand, since snprintf() was 8% of the
 * callback's cost with 10,000 regions coming and going.
 */
static void region_name(char name[64], uint64_t iova)
{
    static const char prefix[] = "vfio-user dma 0x";
    char *p = name + sizeof(prefix) - 1;
    int digits = 1;

    memcpy(name, prefix, sizeof(prefix) - 1);
    while (digits < 16 && (iova >> (4 * digits)) != 0)
        digits++;
    for (int i = digits - 1; i >= 0; i--)
        *p++ = "0123456789abcdef"[(iova >> (4 * i)) & 0xf];
    *p = '\0';
}

static void dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    DmsVfu *vfu = dms__vfu_lookup(ctx);
    char name[64];
    VfuDma *d;
    void *host;
    int r;

    if (vfu == NULL)
        return;
    uint64_t iova = (uint64_t)(uintptr_t)info->iova.iov_base;
    uint64_t len = info->iova.iov_len;

    /*
     * Wrapping past 2^64 (libvfio-user accepts it) or repeated (it hands
     * the existing region to this callback again): not added.
     */
    if (len == 0 || iova + (len - 1) < iova ||
        g_tree_lookup(vfu->dmas, &iova) != NULL) {
        atomic_fetch_add(&vfu->n_refused, 1);
        return;
    }
    d = g_try_new0(VfuDma, 1);
    if (d == NULL) {
        atomic_fetch_add(&vfu->n_refused, 1);
        return;
    }
    d->vfu = dms__vfu_hold(vfu);
    d->iova = iova;
    d->len = len;
    d->prot = info->prot;
    region_name(name, iova);

    host = ram_host(d, info);
    if (host != NULL) {
        d->ram = true;
        r = dms_region_new_ram(name, host, len,
                               d->prot & PROT_WRITE ? 0 : DMS_RAM_READONLY, d,
                               ram_released, &d->region);
        if (r == 0 && (d->prot & PROT_WRITE))
            r = dms_region_enable_dirty_log(d->region,
                                            DMS_VFU_DIRTY_PAGE_SIZE);
    } else {
        /*
         * An unmapped fd region (FILE_IO) and a sound mapping we could not
         * duplicate may be reached directly; a broken mapping never.
         */
        d->sgl_flags =
            info->vaddr == NULL || d->direct ? DMS_VFU_SGL_DIRECT : 0;
        r = dms_region_new_message(name, len, &message_ops, d,
                                   message_released, &d->region);
    }
    if (r == 0)
        r = dms_region_add_subregion(vfu->container, iova, d->region, 0, 0);
    if (r < 0) {
        atomic_fetch_add(&vfu->n_refused, 1);
        if (d->region != NULL) {
            d->region = dms_region_unref(d->region); /* frees d */
        } else {
            if (d->own_map != NULL)
                munmap(d->own_map, d->own_map_len);
            free_dma(d);
        }
        return;
    }
    g_tree_insert(vfu->dmas, &d->iova, d);
    atomic_fetch_add(&vfu->n_regions, 1);
    if (d->ram)
        atomic_fetch_add(&vfu->n_ram_regions, 1);
    if (d->direct)
        atomic_fetch_add(&vfu->n_direct_regions, 1);
}

/* Under the lock, @d already out of the table. */
static void remove_dma(DmsVfu *vfu, VfuDma *d)
{
    DmsRegion *region = d->region;

    /* From now on its message accesses fail without a lookup. */
    atomic_store(&d->gone, true);
    atomic_fetch_sub(&vfu->n_regions, 1);
    if (d->ram)
        atomic_fetch_sub(&vfu->n_ram_regions, 1);
    if (d->direct)
        atomic_fetch_sub(&vfu->n_direct_regions, 1);
    dms_region_remove_subregion(vfu->container, region);
    d->region = NULL;
    dms_region_unref(region); /* may free d */
}

static void dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    DmsVfu *vfu = dms__vfu_lookup(ctx);
    uint64_t iova = (uint64_t)(uintptr_t)info->iova.iov_base;
    VfuDma *d;

    if (vfu == NULL)
        return;
    d = g_tree_lookup(vfu->dmas, &iova);
    if (d == NULL || d->len != info->iova.iov_len)
        return; /* one this module refused */
    g_tree_remove(vfu->dmas, &iova);
    remove_dma(vfu, d);
}

static gboolean collect(gpointer key, gpointer value, gpointer data)
{
    g_ptr_array_add(data, value);
    return FALSE;
}

void dms__vfu_dma_remove_all(DmsVfu *vfu)
{
    GPtrArray *all = g_ptr_array_new();

    g_tree_foreach(vfu->dmas, collect, all);
    g_tree_destroy(vfu->dmas);
    vfu->dmas = g_tree_new_full(compare_iova, NULL, NULL, NULL);
    for (guint i = 0; i < all->len; i++)
        remove_dma(vfu, g_ptr_array_index(all, i));
    g_ptr_array_free(all, TRUE);
}

int dms__vfu_dma_setup(DmsVfu *vfu)
{
    int r;

    vfu->dmas = g_tree_new_full(compare_iova, NULL, NULL, NULL);
#if DMS_VFU_DMA_HAS_MAX_REGIONS
    r = vfu_setup_device_dma(vfu->ctx, LIBVFIO_USER_MAX_DMA_REGIONS,
                             dma_register, dma_unregister);
#else
    r = vfu_setup_device_dma(vfu->ctx, dma_register, dma_unregister);
#endif
    if (r < 0) {
        r = -errno;
        g_tree_destroy(vfu->dmas);
        vfu->dmas = NULL;
        return r;
    }
    return 0;
}

/* Hand the pages written through the space to libvfio-user's log. */
static void flush_one(DmsVfu *vfu, VfuDma *d)
{
    uint64_t pages, words, first;
    int64_t n;

    if (!d->ram || !(d->prot & PROT_WRITE))
        return;
    pages = (d->len + DMS_VFU_DIRTY_PAGE_SIZE - 1) / DMS_VFU_DIRTY_PAGE_SIZE;
    words = (pages + 63) / 64;
    if (words > vfu->dirty_bitmap_words) {
        uint64_t *bigger = g_try_new(uint64_t, words);

        if (bigger == NULL)
            return; /* pages stay in the log for the next flush */
        g_free(vfu->dirty_bitmap);
        vfu->dirty_bitmap = bigger;
        vfu->dirty_bitmap_words = words;
    }
    n = dms_region_take_dirty_log(d->region, vfu->dirty_bitmap, pages);
    if (n < 0)
        return;
    for (uint64_t page = 0; page < pages; page++) {
        bool dirty = vfu->dirty_bitmap[page / 64] >> (page % 64) & 1;

        if (!dirty)
            continue;
        first = page;
        while (page + 1 < pages &&
               (vfu->dirty_bitmap[(page + 1) / 64] >> ((page + 1) % 64) & 1))
            page++;
        uint64_t start = first * DMS_VFU_DIRTY_PAGE_SIZE;
        uint64_t end = MIN(d->len, (page + 1) * DMS_VFU_DIRTY_PAGE_SIZE);
        if (vfu_addr_to_sgl(vfu->ctx,
                            (vfu_dma_addr_t)(uintptr_t)(d->iova + start),
                            end - start, vfu->sg, 1, PROT_WRITE) == 1)
            vfu_sgl_mark_dirty(vfu->ctx, vfu->sg, 1);
    }
}

/* Under the lock: every region overlapping [iova, iova + len). */
void dms__vfu_dma_flush_dirty(DmsVfu *vfu, uint64_t iova, uint64_t len)
{
    uint64_t end = iova + len;
    GTreeNode *node;

    if (vfu->dmas == NULL || len == 0)
        return;
    if (end < iova)
        end = UINT64_MAX;
    /* The first region at or after iova, or the one before it. */
    node = g_tree_lower_bound(vfu->dmas, &iova);
    {
        GTreeNode *prev = node != NULL ? g_tree_node_previous(node)
                                       : g_tree_node_last(vfu->dmas);

        if (prev != NULL) {
            VfuDma *d = g_tree_node_value(prev);

            if (d->iova + (d->len - 1) >= iova)
                flush_one(vfu, d);
        }
    }
    for (; node != NULL; node = g_tree_node_next(node)) {
        VfuDma *d = g_tree_node_value(node);

        if (d->iova >= end)
            break;
        flush_one(vfu, d);
    }
}
