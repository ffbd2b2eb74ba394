/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device model of the remote-dma demo: a block device whose DMA
 * reaches host memory only through the memory server's socket.
 */
#ifndef RDMA_DEVICE_H
#define RDMA_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <dmaspace/dmaspace.h>

#include "backend.h"

/* Where the two windows onto the server's memory sit in the DMA space. */
#define DEMO_WHOLE_BASE UINT64_C(0x100000000) /* max_access 1 MiB */
#define DEMO_PIECE_BASE UINT64_C(0x200000000) /* max_access 8 */

/**
 * DemoDevice:
 * @space: the device's DMA address space: both windows, nothing else
 * @backend: the connection both windows send their messages on
 * @mem_size: bytes of server memory each window shows
 */
typedef struct DemoDevice {
    DmsSpace *space;
    RdmaBackend *backend;
    uint64_t mem_size;
} DemoDevice;

/**
 * DemoConfig:
 * @sizes: transfer sizes to measure, 0-terminated
 * @whole_bytes: bytes per direction to move in whole-run mode per size
 *   (at least @min_transfers transfers, at most @max_transfers)
 * @piece_bytes: the same for 8-byte mode, without the minimum: the cap
 *   that keeps the demo short (one message per 8 bytes at ~10-30 us a
 *   round trip); one transfer is made at sizes above it
 * @min_transfers: fewest transfers per size and mode
 * @max_transfers: most transfers per size and mode
 * @block_count: 4 KiB blocks in the block-DMA check
 */
typedef struct DemoConfig {
    const size_t *sizes;
    uint64_t whole_bytes;
    uint64_t piece_bytes;
    unsigned min_transfers;
    unsigned max_transfers;
    unsigned block_count;
} DemoConfig;

/**
 * demo_device_init:
 * @dev: (out caller-allocates): the device
 * @backend: a connected backend; @dev takes a reference
 * @mem_size: bytes of server memory to show in each window
 *
 * Builds the space: a root container with a whole-run window at
 * DEMO_WHOLE_BASE and an 8-byte window at DEMO_PIECE_BASE.
 *
 * Returns: 0 or a negative errno from the library.
 */
int demo_device_init(DemoDevice *dev, RdmaBackend *backend, uint64_t mem_size);

/* Releases what demo_device_init() made. */
void demo_device_fini(DemoDevice *dev);

/**
 * demo_block_dma:
 * @dev: the device
 * @cfg: the run's configuration
 *
 * Block-style DMA with every byte verified: 4 KiB blocks from the disk
 * into scattered host pages and back, the same through map/unmap bounce
 * buffers, and a cross-check of one block through the 8-byte window.
 * Prints what it checked.
 *
 * Returns: 0; -EBADE if a byte differs or a message count is not what the
 * protocol promises; the DMA's error.
 */
int demo_block_dma(DemoDevice *dev, const DemoConfig *cfg);

/**
 * demo_measure:
 * @dev: the device
 * @cfg: the run's configuration
 *
 * For each size in @cfg, writes and reads back patterns through both
 * windows, verifies every byte, and prints a table of messages per
 * transfer and throughput, whole runs next to 8-byte pieces.
 *
 * Returns: 0; -EBADE on a verification failure; the DMA's error.
 */
int demo_measure(DemoDevice *dev, const DemoConfig *cfg);

#endif /* RDMA_DEVICE_H */
