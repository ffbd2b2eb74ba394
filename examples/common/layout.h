/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Layout: a space built from a list of pieces, for the examples, the
 * tests and dms-bench.
 *
 * Every program that does DMA first builds the same thing: a container
 * covering all 2^64 addresses, RAM and message regions placed in it, a
 * space over it, perhaps a bounce limit. layout_space_new() does those
 * calls in order from a table, so a program's layout reads as a table:
 *
 *     LayoutPiece pieces[] = {
 *         {.kind = LAYOUT_RAM, .addr = 0x0, .host = ram, .size = 0x10000},
 *         {.kind = LAYOUT_MESSAGE, .addr = 0x10000, .dev = dev},
 *         {.kind = LAYOUT_END},
 *     };
 *     r = layout_space_new("my-device", pieces, 0, &space, NULL);
 *
 * layout.c shows the calls one by one. Uses the public API only.
 */
#ifndef DMS_EXAMPLE_LAYOUT_H
#define DMS_EXAMPLE_LAYOUT_H

#include <dmaspace/dmaspace.h>

#include "memdev.h"

typedef enum LayoutKind {
    LAYOUT_END,     /* ends the table */
    LAYOUT_RAM,     /* dms_region_new_ram() over @host */
    LAYOUT_MESSAGE, /* memdev_region_new() over @dev */
    LAYOUT_REGION,  /* @region, made by the caller */
} LayoutKind;

typedef struct LayoutPiece {
    LayoutKind kind;
    uint64_t addr;    /* where it goes in the root container */
    const char *name; /* NULL: "ram", "msg" */
    int priority;
    /* LAYOUT_RAM */
    void *host;
    uint64_t size;  /* also LAYOUT_MESSAGE: 0 for the device's size */
    uint32_t flags; /* DMS_RAM_* */
    DmsDestroyNotify notify;
    void *notify_data;
    /* LAYOUT_MESSAGE */
    MemDev *dev;
    const DmsMessageOps *ops; /* NULL: bulk ops */
    /* LAYOUT_REGION: the space takes its own reference */
    DmsRegion *region;
    /* (out) (optional): a reference to the region, for the caller */
    DmsRegion **keep;
} LayoutPiece;

/*
 * layout_space_new:
 * @name: the space's name
 * @pieces: regions to place, up to a LAYOUT_END piece
 * @bounce_limit: the space's bounce limit; 0 leaves the default
 * @space: (out): the space, one reference; it holds its regions
 * @root: (out) (optional): a reference to the root container
 *
 * On failure nothing is left behind: no reference in @space, @root or a
 * piece's @keep, every region made here released.
 *
 * Returns: 0, or the first error of the calls it makes.
 */
int layout_space_new(const char *name, const LayoutPiece *pieces,
                     size_t bounce_limit, DmsSpace **space, DmsRegion **root);

#endif /* DMS_EXAMPLE_LAYOUT_H */
