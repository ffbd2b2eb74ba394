/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * simple-dma: the smallest complete use of libdmaspace.
 *
 * A device model's view of memory is built from two regions placed back to
 * back in one address space:
 *
 *   0x00000 .. 0x0ffff  RAM: a buffer of this process, accessed by memcpy
 *   0x10000 .. 0x13fff  "device memory" reached through a message backend
 *                       (here a buffer behind two callbacks that count
 *                       their calls; in a real program, messages to
 *                       another process)
 *
 * The program writes and reads ranges that cross from one to the other,
 * maps RAM directly and the message region through bounce buffers, checks
 * every byte and prints what it did. It uses only <dmaspace/dmaspace.h>
 * and exits 0 on success.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaspace/dmaspace.h>

#define RAM_BASE 0x0u
#define RAM_SIZE 0x10000u
#define DEV_BASE (RAM_BASE + RAM_SIZE)
#define DEV_SIZE 0x4000u

/* The message backend: a buffer plus counters of what it was asked. */
typedef struct Device {
    uint8_t mem[DEV_SIZE];
    unsigned reads;
    unsigned writes;
    uint64_t bytes_read;
    uint64_t bytes_written;
    unsigned released; /* destroy notify calls */
} Device;

static int64_t device_read(void *opaque, uint64_t offset, void *buf,
                           size_t len, const DmsAttrs *attrs)
{
    Device *dev = opaque;

    (void)attrs;
    /* A backend checks what it is asked, like any peer would. */
    if (offset > DEV_SIZE || len > DEV_SIZE - offset) {
        return -EFAULT;
    }
    memcpy(buf, dev->mem + offset, len);
    dev->reads++;
    dev->bytes_read += len;
    return (int64_t)len;
}

static int64_t device_write(void *opaque, uint64_t offset, const void *buf,
                            size_t len, const DmsAttrs *attrs)
{
    Device *dev = opaque;

    (void)attrs;
    if (offset > DEV_SIZE || len > DEV_SIZE - offset) {
        return -EFAULT;
    }
    memcpy(dev->mem + offset, buf, len);
    dev->writes++;
    dev->bytes_written += len;
    return (int64_t)len;
}

static void device_release(void *opaque)
{
    Device *dev = opaque;

    dev->released++;
}

static void ram_release(void *data)
{
    unsigned *released = data;

    (*released)++;
}

static bool ok = true;

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PRINTF_LIKE(fmt, args)
#endif

/* Records a failed expectation; the program carries on and exits 1. */
PRINTF_LIKE(2, 3) static bool expect(bool cond, const char *fmt, ...)
{
    va_list ap;

    if (cond) {
        return true;
    }
    va_start(ap, fmt);
    fputs("simple-dma: FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    ok = false;
    return false;
}

static uint8_t pattern(uint64_t addr, unsigned seed)
{
    return (uint8_t)((addr * 131u) ^ (addr >> 8) ^ seed);
}

/* Is every byte of @buf the pattern of its address? */
static bool matches(const uint8_t *buf, uint64_t addr, size_t len,
                    unsigned seed, const char *what)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != pattern(addr + i, seed)) {
            return expect(false,
                          "%s: byte at 0x%" PRIx64 " is 0x%02x, "
                          "want 0x%02x",
                          what, addr + i, buf[i], pattern(addr + i, seed));
        }
    }
    return true;
}

static void fill(uint8_t *buf, uint64_t addr, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = pattern(addr + i, seed);
    }
}

/* Write then read back a range that starts in RAM and ends in the device. */
static void copy_across_the_boundary(DmsSpace *space, uint8_t *ram,
                                     Device *dev)
{
    enum { LEN = 8192 };
    const uint64_t addr = DEV_BASE - LEN / 2;
    uint8_t *out = malloc(LEN);
    uint8_t *in = malloc(LEN);
    unsigned writes = dev->writes;
    unsigned reads = dev->reads;
    size_t done = 0;
    int r;

    if (!expect(out && in, "out of memory")) {
        goto out;
    }
    fill(out, addr, LEN, 1);
    r = dms_space_write(space, addr, out, LEN, NULL, &done);
    expect(r == 0 && done == LEN, "write: %d (%s), %zu of %d bytes", r,
           strerror(-r), done, LEN);
    /* Half landed in RAM by memcpy, half in one backend call. */
    matches(ram + (addr - RAM_BASE), addr, LEN / 2, 1, "RAM after write");
    matches(dev->mem, DEV_BASE, LEN / 2, 1, "device after write");
    expect(dev->writes == writes + 1, "write took %u backend calls, not 1",
           dev->writes - writes);

    memset(in, 0, LEN);
    r = dms_space_read(space, addr, in, LEN, NULL, &done);
    expect(r == 0 && done == LEN, "read: %d (%s), %zu of %d bytes", r,
           strerror(-r), done, LEN);
    matches(in, addr, LEN, 1, "read back");
    expect(dev->reads == reads + 1, "read took %u backend calls, not 1",
           dev->reads - reads);

    printf("  read/write: %d bytes across 0x%" PRIx64 ", one backend call "
           "each way\n",
           LEN, (uint64_t)DEV_BASE);
out:
    free(out);
    free(in);
}

/* RAM maps in place: the pointer is into our own buffer. */
static void map_ram_directly(DmsSpace *space, uint8_t *ram)
{
    const uint64_t addr = 0x100;
    size_t len = 4096;
    void *ptr = NULL;
    int r;

    r = dms_space_map(space, addr, &len, DMS_DIR_FROM_DEVICE, NULL, &ptr);
    if (!expect(r == 0 && len == 4096, "map RAM: %d (%s), len %zu", r,
                strerror(-r), len)) {
        return;
    }
    expect(ptr == ram + addr, "RAM map is not direct: %p, want %p", ptr,
           (void *)(ram + addr));
    fill(ptr, addr, len, 2);
    r = dms_space_unmap(space, ptr, len, DMS_DIR_FROM_DEVICE, len);
    expect(r == 0, "unmap RAM: %d (%s)", r, strerror(-r));
    matches(ram + addr, addr, len, 2, "RAM after direct map");
    printf("  map RAM:    %zu bytes at 0x%" PRIx64 " mapped in place\n", len,
           addr);
}

/* The device is only reachable by messages: maps bounce. */
static void map_device_through_bounce(DmsSpace *space, Device *dev)
{
    const uint64_t addr = DEV_BASE + 0x200;
    const size_t want = 2048;
    size_t len = want;
    void *ptr = NULL;
    unsigned reads = dev->reads;
    unsigned writes = dev->writes;
    int r;

    /* To the device: the bounce buffer is filled from the backend. */
    fill(dev->mem + 0x200, addr, want, 3);
    r = dms_space_map(space, addr, &len, DMS_DIR_TO_DEVICE, NULL, &ptr);
    if (!expect(r == 0 && len == want,
                "bounce map to device: %d (%s), "
                "len %zu",
                r, strerror(-r), len)) {
        return;
    }
    expect((uint8_t *)ptr < dev->mem || (uint8_t *)ptr >= dev->mem + DEV_SIZE,
           "bounce buffer points into the backend's memory");
    expect(dev->reads == reads + 1, "bounce fill took %u backend reads",
           dev->reads - reads);
    matches(ptr, addr, len, 3, "bounce buffer after map");
    r = dms_space_unmap(space, ptr, len, DMS_DIR_TO_DEVICE, len);
    expect(r == 0, "unmap to device: %d (%s)", r, strerror(-r));

    /* From the device: what it wrote is written back at unmap. */
    len = want;
    r = dms_space_map(space, addr, &len, DMS_DIR_FROM_DEVICE, NULL, &ptr);
    if (!expect(r == 0 && len == want,
                "bounce map from device: %d (%s), "
                "len %zu",
                r, strerror(-r), len)) {
        return;
    }
    fill(ptr, addr, len, 4);
    expect(dev->writes == writes, "the backend was written before unmap");
    r = dms_space_unmap(space, ptr, len, DMS_DIR_FROM_DEVICE, len);
    expect(r == 0, "unmap from device: %d (%s)", r, strerror(-r));
    expect(dev->writes == writes + 1, "write-back took %u backend writes",
           dev->writes - writes);
    matches(dev->mem + 0x200, addr, want, 4, "device after bounce unmap");
    printf("  map device: %zu bytes at 0x%" PRIx64 " bounced both ways\n",
           want, addr);
}

static void check_stats(DmsSpace *space)
{
    DmsSpaceStats stats;
    int r;

    memset(&stats, 0, sizeof(stats));
    stats.size = sizeof(stats);
    r = dms_space_get_stats(space, &stats);
    if (!expect(r == 0, "get_stats: %d (%s)", r, strerror(-r))) {
        return;
    }
    expect(stats.direct_maps == 1 && stats.bounced_maps == 2,
           "stats: %" PRIu64 " direct and %" PRIu64 " bounced maps, want 1 "
           "and 2",
           stats.direct_maps, stats.bounced_maps);
    expect(stats.bounce_in_use == 0, "%" PRIu64 " bounce bytes still lent",
           stats.bounce_in_use);
    printf("  stats:      %" PRIu64 " direct, %" PRIu64 " bounced maps, "
           "bounce high water %" PRIu64 " of %" PRIu64 " bytes\n",
           stats.direct_maps, stats.bounced_maps, stats.bounce_high_water,
           stats.bounce_limit);
}

int main(void)
{
    static const DmsMessageOps device_ops = {
        .size = sizeof(DmsMessageOps),
        .read = device_read,
        .write = device_write,
    };
    uint8_t *ram = calloc(1, RAM_SIZE);
    Device *dev = calloc(1, sizeof(*dev));
    unsigned ram_released = 0;
    DmsRegion *root = NULL, *ram_region = NULL, *dev_region = NULL;
    DmsSpace *space = NULL;
    int r;

    if (!ram || !dev) {
        fputs("simple-dma: out of memory\n", stderr);
        return 1;
    }

    /*
     * Each _new() hands us one reference; add_subregion() and
     * dms_space_new() take their own, so ours can go at the end.
     */
    r = dms_region_new_container("root", DMS_SIZE_ALL, &root);
    if (r == 0) {
        r = dms_region_new_ram("ram", ram, RAM_SIZE, 0, ram_release,
                               &ram_released, &ram_region);
    }
    if (r == 0) {
        r = dms_region_new_message("device", DEV_SIZE, &device_ops, dev,
                                   device_release, &dev_region);
    }
    if (r == 0) {
        r = dms_region_add_subregion(root, RAM_BASE, ram_region, 0, 0);
    }
    if (r == 0) {
        r = dms_region_add_subregion(root, DEV_BASE, dev_region, 0, 0);
    }
    if (r == 0) {
        r = dms_space_new(root, "simple-dma", &space);
    }
    if (r != 0) {
        fprintf(stderr, "simple-dma: cannot build the space: %s\n",
                strerror(-r));
        return 1;
    }

    printf("simple-dma: RAM at 0x%x+0x%x, device at 0x%x+0x%x\n", RAM_BASE,
           RAM_SIZE, DEV_BASE, DEV_SIZE);
    copy_across_the_boundary(space, ram, dev);
    map_ram_directly(space, ram);
    map_device_through_bounce(space, dev);
    check_stats(space);
    printf("  backend:    %u reads (%" PRIu64 " bytes), %u writes (%" PRIu64
           " bytes)\n",
           dev->reads, dev->bytes_read, dev->writes, dev->bytes_written);

    space = dms_space_unref(space);
    root = dms_region_unref(root);
    ram_region = dms_region_unref(ram_region);
    dev_region = dms_region_unref(dev_region);
    /* Nothing holds the regions any more: their notifies have run. */
    expect(ram_released == 1 && dev->released == 1,
           "destroy notifies ran %u and %u times, want 1 each", ram_released,
           dev->released);

    free(dev);
    free(ram);
    printf("simple-dma: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
