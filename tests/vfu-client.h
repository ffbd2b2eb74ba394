/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vfio-user client for the tests, written from the protocol
 * specification (QEMU docs/interop/vfio-user.rst): version negotiation
 * with or without twin sockets, DMA_MAP with or without file descriptors,
 * region access, dirty page logging, and serving the server's DMA_READ /
 * DMA_WRITE from memory the test registers. A reader thread takes every
 * message: replies go to the waiting caller, the server's commands are
 * served at once, so the server may send DMA while a command waits.
 *
 * Nothing here uses libvfio-user: it is the other side of the socket.
 */
#ifndef DMS_TEST_VFU_CLIENT_H
#define DMS_TEST_VFU_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Commands (vfio-user.rst, "Commands"). */
enum {
    VFC_VERSION = 1,
    VFC_DMA_MAP = 2,
    VFC_DMA_UNMAP = 3,
    VFC_DEVICE_GET_INFO = 4,
    VFC_DEVICE_GET_REGION_INFO = 5,
    VFC_DEVICE_GET_IRQ_INFO = 7,
    VFC_REGION_READ = 9,
    VFC_REGION_WRITE = 10,
    VFC_DMA_READ = 11,
    VFC_DMA_WRITE = 12,
    VFC_DEVICE_RESET = 13,
    VFC_DEVICE_FEATURE = 16,
};

/* DMA_MAP flags. */
#define VFC_MAP_READ (1u << 0)
#define VFC_MAP_WRITE (1u << 1)
#define VFC_MAP_RW (VFC_MAP_READ | VFC_MAP_WRITE)

typedef struct VfcOptions {
    bool twin_socket;      /* offer twin sockets */
    uint64_t max_transfer; /* max_data_xfer_size offered; 0: not sent */
} VfcOptions;

typedef struct VfuClient VfuClient;

/*
 * Called by the reader thread before it serves a DMA_READ / DMA_WRITE of
 * the server; returning false kills the connection instead of replying
 * (a client that goes away in the middle of a transfer).
 */
typedef bool (*VfcDmaHook)(VfuClient *c, unsigned cmd, uint64_t addr,
                           uint64_t count, void *data);

/* Connects to the socket at @path and negotiates. 0 or -errno. */
int vfc_connect(const char *path, const VfcOptions *opts, VfuClient **ret);
/*
 * A stream socket connected to @path that has sent nothing: where
 * vfc_connect() starts, and alone a client that never negotiates. The
 * socket, or -errno.
 */
int vfc_connect_silent(const char *path);
/* Closes the connection (if still open), stops the reader, frees. */
void vfc_free(VfuClient *c);
/* Closes the sockets at once, as a crashing client would. */
void vfc_kill(VfuClient *c);
bool vfc_has_twin_socket(VfuClient *c);
void vfc_set_dma_hook(VfuClient *c, VfcDmaHook hook, void *data);

/*
 * Sends a command and waits for its reply. @fd (or -1) goes with it.
 * Returns 0, -errno from an error reply, or -ECONNRESET if the connection
 * closed. The reply payload (without header) is copied to @reply, up to
 * @reply_cap bytes; its full length goes to @reply_len.
 */
int vfc_request(VfuClient *c, unsigned cmd, const void *payload, size_t len,
                int fd, void *reply, size_t reply_cap, size_t *reply_len);

/*
 * Memory the client serves DMA_READ / DMA_WRITE from, at an IOVA. The
 * client neither owns nor frees @host. Requests outside any such memory,
 * or writes into memory added read-only, get an EFAULT error reply and
 * count as stray.
 */
void vfc_add_memory(VfuClient *c, uint64_t iova, uint64_t size, void *host,
                    bool writable);
void vfc_remove_memory(VfuClient *c, uint64_t iova);

/* DMA_MAP (fd -1: none) and DMA_UNMAP. 0 or -errno. */
int vfc_dma_map(VfuClient *c, uint64_t iova, uint64_t size, uint32_t flags,
                int fd, uint64_t offset);
int vfc_dma_unmap(VfuClient *c, uint64_t iova, uint64_t size);

int vfc_region_info(VfuClient *c, uint32_t index, uint64_t *size,
                    uint32_t *flags);
int vfc_region_read(VfuClient *c, uint32_t index, uint64_t offset, void *buf,
                    uint32_t count);
int vfc_region_write(VfuClient *c, uint32_t index, uint64_t offset,
                     const void *buf, uint32_t count);

/* Dirty page logging (DEVICE_FEATURE DMA_LOGGING_START/STOP/REPORT). */
int vfc_dirty_start(VfuClient *c, uint64_t page_size, uint64_t iova,
                    uint64_t len);
int vfc_dirty_stop(VfuClient *c);
int vfc_dirty_report(VfuClient *c, uint64_t iova, uint64_t len,
                     uint64_t page_size, uint8_t *bitmap, size_t bitmap_len);

typedef struct VfcStats {
    uint64_t dma_reads;  /* DMA_READ requests served */
    uint64_t dma_writes; /* DMA_WRITE requests served */
    uint64_t stray;      /* requests outside registered memory */
    uint64_t largest;    /* largest count in one request */
} VfcStats;
void vfc_get_stats(VfuClient *c, VfcStats *stats);
void vfc_reset_stats(VfuClient *c);

/*
 * A socket path in a new private directory, for a server to listen on:
 * the directory's file "sock", the directory itself in *@dir. NULL (and
 * *@dir NULL) when the directory cannot be made. vfc_socket_path_free()
 * removes both and frees them.
 */
char *vfc_socket_path_new(char **dir);
void vfc_socket_path_free(char *path, char *dir);

/* A memfd of @size bytes mapped shared at *@host. Returns the fd or -1. */
int vfc_memfd(uint64_t size, void **host);
/* Unmaps and closes what vfc_memfd() gave. */
void vfc_memfd_free(int fd, void *host, uint64_t size);

#endif /* DMS_TEST_VFU_CLIENT_H */
