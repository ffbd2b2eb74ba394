/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * simple-dma: the smallest complete use of libdmaspace.
 *
 * A device model's view of memory is built from two regions placed back to
 * back in one address space:
 *
 *   0x00000 .. 0x0ffff  RAM: a buffer of this process, accessed by memcpy
 *   0x10000 .. 0x13fff  "device memory" reached through a message backend
 *                       (here a MemDev, a buffer behind two callbacks that
 *                       count their calls; in a real program, messages to
 *                       another process)
 *
 * The program writes and reads ranges that cross from one to the other,
 * maps RAM directly and the message region through bounce buffers, checks
 * every byte and prints what it did. It uses only <dmaspace/dmaspace.h>
 * and the examples' helpers in examples/common/: memdev.c shows how a
 * message backend is written, layout.c the calls that build the space
 * from the table in main(). It exits 0 on success.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaspace/dmaspace.h>

#include "expect.h"
#include "layout.h"
#include "memdev.h"

#define RAM_BASE 0x0u
#define RAM_SIZE 0x10000u
#define DEV_BASE (RAM_BASE + RAM_SIZE)
#define DEV_SIZE 0x4000u

static void ram_release(void *data)
{
    unsigned *released = data;

    (*released)++;
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
                                     MemDev *dev)
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

/* Maps @len bytes at @addr for @dir, all of them, or says why not. */
static void *map_whole(DmsSpace *space, uint64_t addr, size_t len,
                       DmsDirection dir, const char *what)
{
    size_t got = len;
    void *ptr = NULL;
    int r = dms_space_map(space, addr, &got, dir, NULL, &ptr);

    if (!expect(r == 0 && got == len, "%s: %d (%s), len %zu", what, r,
                strerror(-r), got)) {
        return NULL;
    }
    return ptr;
}

/* Unmaps what map_whole() gave, every byte of it accessed. */
static void unmap_whole(DmsSpace *space, void *ptr, size_t len,
                        DmsDirection dir, const char *what)
{
    int r = dms_space_unmap(space, ptr, len, dir, len);

    expect(r == 0, "%s: %d (%s)", what, r, strerror(-r));
}

/* RAM maps in place: the pointer is into our own buffer. */
static void map_ram_directly(DmsSpace *space, uint8_t *ram)
{
    const uint64_t addr = 0x100;
    const size_t len = 4096;
    void *ptr = map_whole(space, addr, len, DMS_DIR_FROM_DEVICE, "map RAM");

    if (!ptr) {
        return;
    }
    expect(ptr == ram + addr, "RAM map is not direct: %p, want %p", ptr,
           (void *)(ram + addr));
    fill(ptr, addr, len, 2);
    unmap_whole(space, ptr, len, DMS_DIR_FROM_DEVICE, "unmap RAM");
    matches(ram + addr, addr, len, 2, "RAM after direct map");
    printf("  map RAM:    %zu bytes at 0x%" PRIx64 " mapped in place\n", len,
           addr);
}

/* The device is only reachable by messages: maps bounce. */
static void map_device_through_bounce(DmsSpace *space, MemDev *dev)
{
    const uint64_t addr = DEV_BASE + 0x200;
    const size_t want = 2048;
    void *ptr;
    unsigned reads = dev->reads;
    unsigned writes = dev->writes;

    /* To the device: the bounce buffer is filled from the backend. */
    fill(dev->mem + 0x200, addr, want, 3);
    ptr = map_whole(space, addr, want, DMS_DIR_TO_DEVICE,
                    "bounce map to device");
    if (!ptr) {
        return;
    }
    expect((uint8_t *)ptr < dev->mem || (uint8_t *)ptr >= dev->mem + DEV_SIZE,
           "bounce buffer points into the backend's memory");
    expect(dev->reads == reads + 1, "bounce fill took %u backend reads",
           dev->reads - reads);
    matches(ptr, addr, want, 3, "bounce buffer after map");
    unmap_whole(space, ptr, want, DMS_DIR_TO_DEVICE, "unmap to device");

    /* From the device: what it wrote is written back at unmap. */
    ptr = map_whole(space, addr, want, DMS_DIR_FROM_DEVICE,
                    "bounce map from device");
    if (!ptr) {
        return;
    }
    fill(ptr, addr, want, 4);
    expect(dev->writes == writes, "the backend was written before unmap");
    unmap_whole(space, ptr, want, DMS_DIR_FROM_DEVICE, "unmap from device");
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
    uint8_t *ram = calloc(1, RAM_SIZE);
    MemDev *dev = NULL;
    unsigned ram_released = 0;
    DmsSpace *space = NULL;
    int r;

    expect_init("simple-dma");
    if (!ram || memdev_new(DEV_SIZE, 0, &dev) != 0) {
        fputs("simple-dma: out of memory\n", stderr);
        return 1;
    }

    /* The space holds its regions: we keep no reference to them. */
    r = layout_space_new("simple-dma",
                         (const LayoutPiece[]){
                             {.kind = LAYOUT_RAM,
                              .addr = RAM_BASE,
                              .host = ram,
                              .size = RAM_SIZE,
                              .notify = ram_release,
                              .notify_data = &ram_released},
                             {.kind = LAYOUT_MESSAGE,
                              .addr = DEV_BASE,
                              .dev = dev,
                              .name = "device"},
                             {.kind = LAYOUT_END},
                         },
                         0, &space, NULL);
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
    printf("  backend:    %u reads (%zu bytes), %u writes (%zu bytes)\n",
           dev->reads, (size_t)dev->bytes_read, dev->writes,
           (size_t)dev->bytes_written);

    space = dms_space_unref(space);
    /* Nothing holds the regions any more: their notifies have run. */
    expect(ram_released == 1 && dev->notified == 1,
           "destroy notifies ran %u and %u times, want 1 each", ram_released,
           dev->notified);

    memdev_free(dev);
    free(ram);
    printf("simple-dma: %s\n", expect_status() == 0 ? "ok" : "FAILED");
    return expect_status();
}
