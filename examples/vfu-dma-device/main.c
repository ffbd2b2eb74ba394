/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfu-dma-device: a vfio-user PCI device that copies client memory, a DMA
 * engine over libdmaspace-vfio-user. It serves any client (QEMU's
 * vfio-user client, the tests' client) over memory shared with a file
 * descriptor and memory without one, one client after another, until it
 * is killed.
 *
 *   vfu-dma-device --socket PATH
 *
 * BAR0 holds the registers of regs.h.
 */
#include <dmaspace/dmaspace.h>
#include <dmaspace/vfio-user.h>

#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vfio-user/libvfio-user.h>

#include "regs.h"

#define BAR0_SIZE 4096
#define COPY_MAX ((uint32_t)16 << 20)

/* PCI identity: an unassigned vendor id, a "other system peripheral". */
#define DEV_VENDOR 0x4e58
#define DEV_DEVICE 0x0001

typedef struct Device {
    DmsVfu *vfu;
    DmsSpace *space;
    uint8_t regs[REG_END]; /* the register file, little-endian */
    unsigned generation;   /* bumped by every reset */
} Device;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    stopping = 1;
}

static uint32_t reg32(const Device *d, unsigned off)
{
    return (uint32_t)d->regs[off] | (uint32_t)d->regs[off + 1] << 8 |
           (uint32_t)d->regs[off + 2] << 16 | (uint32_t)d->regs[off + 3] << 24;
}

static uint64_t reg64(const Device *d, unsigned off)
{
    return (uint64_t)reg32(d, off) | (uint64_t)reg32(d, off + 4) << 32;
}

static void set_reg32(Device *d, unsigned off, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        d->regs[off + i] = (uint8_t)(v >> (8 * i));
}

/* The copy engine. Returns 0 or a negative errno. */
static int copy(Device *d, uint64_t src, uint64_t dst, uint32_t len)
{
    uint8_t *buf;
    int r;

    if (len > COPY_MAX)
        return -EINVAL;
    if (len == 0)
        return 0;
    /* Both ranges wholly client memory, before any byte moves. */
    r = dms_space_check(d->space, src, len, DMS_DIR_TO_DEVICE, NULL);
    if (r == 0)
        r = dms_space_check(d->space, dst, len, DMS_DIR_FROM_DEVICE, NULL);
    if (r < 0)
        return r;
    buf = g_try_malloc(len);
    if (buf == NULL)
        return -ENOMEM;
    /* Read all, then write: DST is untouched if the source fails. */
    r = dms_space_read(d->space, src, buf, len, NULL, NULL);
    if (r == 0)
        r = dms_space_write(d->space, dst, buf, len, NULL, NULL);
    g_free(buf);
    return r;
}

static void doorbell(Device *d)
{
    unsigned generation = d->generation;
    int r = copy(d, reg64(d, REG_SRC), reg64(d, REG_DST), reg32(d, REG_LEN));

    /* A copy cut short by the client's disconnect: the registers are gone. */
    if (generation != d->generation)
        return;
    set_reg32(d, REG_STATUS, (uint32_t)-r);
    if (r == 0)
        set_reg32(d, REG_COUNT, reg32(d, REG_COUNT) + 1);
}

static int bar0_read(void *opaque, uint64_t offset, uint64_t *value,
                     unsigned size, const DmsAttrs *attrs)
{
    Device *d = opaque;
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++) {
        uint64_t at = offset + i;

        if (at < REG_END && (at < REG_DOORBELL || at >= REG_DOORBELL + 4))
            v |= (uint64_t)d->regs[at] << (8 * i);
    }
    *value = v;
    return 0;
}

static int bar0_write(void *opaque, uint64_t offset, uint64_t value,
                      unsigned size, const DmsAttrs *attrs)
{
    Device *d = opaque;
    bool ring = false;

    for (unsigned i = 0; i < size; i++) {
        uint64_t at = offset + i;

        /* STATUS and COUNT are read-only. */
        if (at >= REG_STATUS)
            continue;
        d->regs[at] = (uint8_t)(value >> (8 * i));
        ring |= at >= REG_DOORBELL && at < REG_DOORBELL + 4;
    }
    if (ring && reg32(d, REG_DOORBELL) == 1)
        doorbell(d);
    if (ring)
        set_reg32(d, REG_DOORBELL, 0);
    return 0;
}

static const DmsMessageOps bar0_ops = {
    .size = sizeof(DmsMessageOps),
    .read_value = bar0_read,
    .write_value = bar0_write,
    .endian = DMS_ENDIAN_LITTLE,
    .valid = {.min_access = 1, .max_access = 8},
    .impl = {.min_access = 1, .max_access = 8},
};

static int device_reset(vfu_ctx_t *ctx, vfu_reset_type_t type)
{
    Device *d = vfu_get_private(ctx);

    memset(d->regs, 0, sizeof(d->regs));
    d->generation++;
    return 0;
}

static void log_fn(vfu_ctx_t *ctx, int level, const char *msg)
{
    fprintf(stderr, "vfu-dma-device: libvfio-user: %s\n", msg);
}

static int usage(void)
{
    fprintf(stderr, "usage: vfu-dma-device --socket PATH [--verbose]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    char *tmp_path;
    bool verbose = false;
    Device dev = {0};
    DmsRegion *bar0 = NULL;
    struct sigaction sa;
    struct stat st;
    vfu_ctx_t *ctx;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else
            return usage();
    }
    if (path == NULL)
        return usage();

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /*
     * libvfio-user binds, then listens: a client that connects as soon as
     * the path appears could find nobody listening. Listen on a private
     * path and rename it into place once the device is ready.
     */
    tmp_path = g_strdup_printf("%s.%ld.tmp", path, (long)getpid());
    if (strlen(tmp_path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
        /* Too long for a socket address: bind the path itself. */
        g_free(tmp_path);
        tmp_path = g_strdup(path);
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    }
    unlink(tmp_path);
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, tmp_path, LIBVFIO_USER_FLAG_ATTACH_NB,
                         &dev, VFU_DEV_TYPE_PCI);
    if (ctx == NULL) {
        fprintf(stderr, "vfu-dma-device: %s: %s\n", tmp_path, strerror(errno));
        g_free(tmp_path);
        return 1;
    }
    vfu_setup_log(ctx, log_fn, verbose ? LOG_DEBUG : LOG_ERR);
    if (vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL,
                     0) < 0 ||
        vfu_setup_region(ctx, VFU_PCI_DEV_CFG_REGION_IDX, PCI_CFG_SPACE_SIZE,
                         NULL, VFU_REGION_FLAG_RW, NULL, 0, -1, 0) < 0 ||
        vfu_setup_device_nr_irqs(ctx, VFU_DEV_INTX_IRQ, 1) < 0 ||
        vfu_setup_device_reset_cb(ctx, device_reset) < 0) {
        fprintf(stderr, "vfu-dma-device: device setup: %s\n", strerror(errno));
        vfu_destroy_ctx(ctx);
        g_free(tmp_path);
        return 1;
    }
    vfu_pci_set_id(ctx, DEV_VENDOR, DEV_DEVICE, DEV_VENDOR, DEV_DEVICE);
    vfu_pci_set_class(ctx, 0x08, 0x80, 0x00);

    r = dms_vfu_attach(ctx, NULL, &dev.vfu);
    if (r < 0) {
        fprintf(stderr, "vfu-dma-device: attach: %s\n", strerror(-r));
        vfu_destroy_ctx(ctx);
        g_free(tmp_path);
        return 1;
    }
    dev.space = dms_vfu_get_space(dev.vfu);
    r = dms_region_new_message("vfu-dma-device bar0", BAR0_SIZE, &bar0_ops,
                               &dev, NULL, &bar0);
    if (r == 0)
        r = dms_vfu_setup_region(dev.vfu, VFU_PCI_DEV_BAR0_REGION_IDX, bar0,
                                 BAR0_SIZE,
                                 VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM);
    if (r == 0 && vfu_realize_ctx(ctx) < 0)
        r = -errno;
    /* A socket left by an earlier run is replaced. */
    if (r == 0 && lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        r = -EEXIST;
    if (r == 0 && strcmp(tmp_path, path) != 0 && rename(tmp_path, path) < 0)
        r = -errno;
    if (r < 0) {
        fprintf(stderr, "vfu-dma-device: setup of %s: %s\n", path,
                strerror(-r));
        dms_vfu_unref(dev.vfu);
        dms_region_unref(bar0);
        g_free(tmp_path);
        return 1;
    }
    fprintf(stderr, "vfu-dma-device: listening on %s\n", path);

    /* One client after another, until a signal. */
    while (!stopping) {
        if (!dms_vfu_is_connected(dev.vfu)) {
            r = dms_vfu_accept(dev.vfu, 200);
            if (r == 0)
                fprintf(stderr, "vfu-dma-device: client attached%s\n",
                        dms_vfu_has_twin_socket(dev.vfu) ? " (twin sockets)"
                                                         : "");
            else if (r != -ETIMEDOUT && r != -EINTR)
                fprintf(stderr, "vfu-dma-device: attach failed: %s\n",
                        strerror(-r));
            continue;
        }
        r = dms_vfu_run(dev.vfu, 200);
        if (r == -ENOTCONN)
            fprintf(stderr, "vfu-dma-device: client gone\n");
        else if (r < 0 && r != -EINTR && verbose)
            fprintf(stderr, "vfu-dma-device: request failed: %s\n",
                    strerror(-r));
    }

    fprintf(stderr, "vfu-dma-device: stopping\n");
    dms_vfu_unref(dev.vfu); /* destroys ctx */
    dms_region_unref(bar0);
    unlink(path);
    g_free(tmp_path);
    return 0;
}
