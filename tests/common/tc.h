/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tests' common helpers, on top of the examples' (memdev.h, layout.h):
 * the same things with cmocka assertions, so that a test says in one line
 * what it needs and fails at the first thing that goes wrong.
 *
 *   tc_memdev()       a MemDev (the recording message backend), asserted
 *   tc_memdev_free()  ... checked (no bad call, guards intact) and freed
 *   tc_space()        a space from a table of LayoutPieces, asserted
 *   tc_space_msg(), tc_space_ram(), tc_space_over()  ... of one region
 *   tc_space_ram_msg()  ... of RAM and a message region
 *   tc_stats()        dms_space_get_stats(), asserted
 *   tc_map()          a map that must give exactly so many bytes
 *   tc_map_fails()    a map that must fail with exactly this error
 *   tc_count_criticals()  g_critical()s of the library counted, not fatal
 *   tc_count_notify   a DmsDestroyNotify that counts in an atomic_uint
 *
 * Public API only: internal tests and public-API tests both use it.
 */
#ifndef DMS_TEST_COMMON_H
#define DMS_TEST_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include <glib.h>
#include <stdatomic.h>

#include <dmaspace/dmaspace.h>

#include "layout.h"
#include "memdev.h"

#define TO DMS_DIR_TO_DEVICE
#define FROM DMS_DIR_FROM_DEVICE

/* A MemDev of @size bytes filled with memdev_pattern(i, @seed). */
MemDev *tc_memdev(uint64_t size, unsigned seed);

/* Asserts @dev saw no bad call and its guards are intact; frees it. */
void tc_memdev_free(MemDev *dev);

/* layout_space_new(), which must succeed. */
DmsSpace *tc_space(const char *name, const LayoutPiece *pieces,
                   size_t bounce_limit, DmsRegion **root);

/*
 * A space over one region: @dev's bulk message region, or RAM over @host,
 * at @addr. @region and @root (optional) get references for the caller.
 */
DmsSpace *tc_space_msg(const char *name, MemDev *dev, uint64_t addr,
                       size_t bounce_limit, DmsRegion **region,
                       DmsRegion **root);
DmsSpace *tc_space_ram(const char *name, void *host, uint64_t size,
                       uint64_t addr, DmsRegion **region, DmsRegion **root);
/*
 * A space of two regions: RAM over @ram_size bytes of @ram at @ram_addr,
 * and @dev's bulk message region at @msg_addr.
 */
DmsSpace *tc_space_ram_msg(const char *name, void *ram, uint64_t ram_size,
                           uint64_t ram_addr, MemDev *dev, uint64_t msg_addr,
                           size_t bounce_limit);
/* A space over @region (the caller's, which keeps its reference) at @addr. */
DmsSpace *tc_space_over(const char *name, DmsRegion *region, uint64_t addr,
                        DmsRegion **root);

DmsSpaceStats tc_stats(DmsSpace *space);

/* Attributes with every field set, to check they reach a backend whole. */
DmsAttrs tc_attrs(void);

/* Maps @want bytes at @addr, which must give @expect_len bytes. */
void *tc_map(DmsSpace *space, uint64_t addr, size_t want, DmsDirection dir,
             size_t expect_len);

/* A map that must fail with @err, leaving len 0 and the pointer NULL. */
void tc_map_fails(DmsSpace *space, uint64_t addr, size_t want,
                  DmsDirection dir, int err);

/*
 * From here the library's g_critical()s (programmer errors at the public
 * boundary) count in tc_criticals() instead of aborting; the count starts
 * at 0.
 */
void tc_count_criticals(void);
unsigned tc_criticals(void);

/* A DmsDestroyNotify whose data is an atomic_uint to count in. */
void tc_count_notify(void *counter);

/*
 * The designators of a LayoutPiece of RAM at @addr over @size bytes of
 * @host whose release counts in the atomic_uint @counter; more (.keep,
 * .name, .flags) may follow: {TC_COUNTED_RAM(...), .keep = &r}.
 */
#define TC_COUNTED_RAM(addr_, host_, size_, counter_)                         \
    .kind = LAYOUT_RAM, .addr = (addr_), .host = (host_), .size = (size_),    \
    .notify = tc_count_notify, .notify_data = (counter_)

#endif /* DMS_TEST_COMMON_H */
