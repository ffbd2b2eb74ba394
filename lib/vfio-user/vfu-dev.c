/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device regions (BARs...) served from a DmsRegion.
 *
 * libvfio-user's region callback gets the context but not the region
 * index, so each index has its own small trampoline. An access of N bytes
 * at an offset is dms_space_read/write of N bytes on a space over the
 * region: the library applies its valid/impl sizes and places values in
 * the region's byte order, so the bytes on the wire are the region's
 * memory image (little-endian for a DMS_ENDIAN_LITTLE register region on
 * every host).
 */
#include "vfu-private.h"

#include <errno.h>

static ssize_t dev_access(vfu_ctx_t *ctx, int idx, char *buf, size_t count,
                          loff_t offset, bool is_write)
{
    DmsVfu *vfu = dms__vfu_lookup(ctx);
    DmsSpace *space;
    int r;

    if (vfu == NULL || vfu->dev_space[idx] == NULL) {
        errno = ENODEV;
        return -1;
    }
    space = vfu->dev_space[idx];
    if (offset < 0 || (uint64_t)offset > vfu->dev_size[idx] ||
        count > vfu->dev_size[idx] - (uint64_t)offset) {
        errno = EINVAL;
        return -1;
    }
    if (is_write)
        r = dms_space_write(space, (uint64_t)offset, buf, count, NULL, NULL);
    else
        r = dms_space_read(space, (uint64_t)offset, buf, count, NULL, NULL);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return (ssize_t)count;
}

#define DEV_TRAMPOLINE(i)                                                     \
    static ssize_t dev_access_##i(vfu_ctx_t *ctx, char *buf, size_t count,    \
                                  loff_t offset, bool is_write)               \
    {                                                                         \
        return dev_access(ctx, i, buf, count, offset, is_write);              \
    }
DEV_TRAMPOLINE(0)
DEV_TRAMPOLINE(1)
DEV_TRAMPOLINE(2)
DEV_TRAMPOLINE(3)
DEV_TRAMPOLINE(4)
DEV_TRAMPOLINE(5)
DEV_TRAMPOLINE(6)
DEV_TRAMPOLINE(7)
DEV_TRAMPOLINE(8)
DEV_TRAMPOLINE(9)
DEV_TRAMPOLINE(10)
DEV_TRAMPOLINE(11)
DEV_TRAMPOLINE(12)
DEV_TRAMPOLINE(13)
DEV_TRAMPOLINE(14)
DEV_TRAMPOLINE(15)

static vfu_region_access_cb_t *const trampolines[DMS_VFU_DEV_REGIONS] = {
    dev_access_0,  dev_access_1,  dev_access_2,  dev_access_3,
    dev_access_4,  dev_access_5,  dev_access_6,  dev_access_7,
    dev_access_8,  dev_access_9,  dev_access_10, dev_access_11,
    dev_access_12, dev_access_13, dev_access_14, dev_access_15,
};

int dms_vfu_setup_region(DmsVfu *vfu, int region_idx, DmsRegion *region,
                         uint64_t size, int vfu_flags)
{
    DmsSpace *space;
    int r;

    g_return_val_if_fail(vfu != NULL, -EINVAL);
    g_return_val_if_fail(region != NULL, -EINVAL);
    g_return_val_if_fail(size != 0, -EINVAL);
    if (region_idx < 0 || region_idx >= DMS_VFU_DEV_REGIONS ||
        region_idx == VFU_PCI_DEV_CFG_REGION_IDX ||
        vfu->dev_space[region_idx] != NULL)
        return -EINVAL;

    r = dms_space_new(region, "vfio-user device region", &space);
    if (r < 0)
        return r;
    vfu->dev_space[region_idx] = space;
    vfu->dev_size[region_idx] = size;

    dms_vfu_lock(vfu);
    r = vfu_setup_region(vfu->ctx, region_idx, size, trampolines[region_idx],
                         vfu_flags, NULL, 0, -1, 0);
    r = r < 0 ? -errno : 0;
    dms_vfu_unlock(vfu);
    if (r < 0) {
        vfu->dev_space[region_idx] = dms_space_unref(space);
        vfu->dev_size[region_idx] = 0;
    }
    return r;
}

void dms__vfu_dev_clear(DmsVfu *vfu)
{
    for (int i = 0; i < DMS_VFU_DEV_REGIONS; i++)
        vfu->dev_space[i] = dms_space_unref(vfu->dev_space[i]);
}
