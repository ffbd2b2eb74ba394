/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bulk DmsMessageOps backend that carries every access to a remote
 * memory server as one request of the remote-dma protocol
 * (doc/protocol.md): the client side of server.c.
 *
 * One RdmaBackend owns one socket and may back several regions, each with
 * its own max_access (the demo shows the same memory through a whole-run
 * window and an 8-byte one). Requests on the socket are serialised by the
 * backend's own lock, so any number of threads and regions may use it.
 *
 * Errors the backend's read/write callbacks return, passed on unchanged
 * by dms_space_read()/dms_space_write():
 *   -EFAULT    the server answered RANGE: the request is outside its memory
 *   -EINVAL    the server answered INVALID
 *   -EPROTO    the server broke the protocol (malformed or oversized reply,
 *              wrong request id, op, address or length); the connection is
 *              closed
 *   -ETIMEDOUT the reply did not come, whole, within the backend's
 *              deadline (RdmaBackendOptions.timeout_ms) of starting to
 *              send the request; the connection is closed
 *   -ENOTCONN  the connection is closed: the server went away, or an
 *              earlier -EPROTO or -ETIMEDOUT closed it
 */
#ifndef RDMA_BACKEND_H
#define RDMA_BACKEND_H

#include <stdint.h>

#include <dmaspace/region.h>

typedef struct RdmaBackend RdmaBackend;

/* From sending a request to the last byte of its reply, at most this. */
#define RDMA_BACKEND_DEFAULT_TIMEOUT_MS 10000u

/**
 * RdmaBackendOptions:
 * @size: sizeof(RdmaBackendOptions), so that the struct can grow
 * @timeout_ms: the deadline of one request: from starting to send it to
 *   the last byte of its reply, in milliseconds; past it the request fails
 *   with -ETIMEDOUT and the connection is closed. 0: the default,
 *   RDMA_BACKEND_DEFAULT_TIMEOUT_MS.
 */
typedef struct RdmaBackendOptions {
    size_t size;
    unsigned timeout_ms;
} RdmaBackendOptions;

/**
 * rdma_backend_new:
 * @fd: a connected stream socket to a memory server; the backend owns it
 *   from now on (also when this call fails) and closes it when freed
 * @ret: (out): the new backend, one reference owned by the caller
 *
 * rdma_backend_new_full() with the default options.
 *
 * Returns: 0; -EINVAL for a negative @fd or NULL @ret; -ENOMEM.
 */
int rdma_backend_new(int fd, RdmaBackend **ret);

/**
 * rdma_backend_new_full:
 * @fd: as for rdma_backend_new(): owned by the backend from now on, also
 *   when this call fails
 * @opts: (nullable): options; NULL for the defaults
 * @ret: (out): the new backend, one reference owned by the caller
 *
 * Returns: 0; -EINVAL for a negative @fd, NULL @ret or an @opts->size too
 * small; -ENOMEM.
 */
int rdma_backend_new_full(int fd, const RdmaBackendOptions *opts,
                          RdmaBackend **ret);

/**
 * rdma_backend_ref:
 * @backend: (nullable): a backend
 *
 * Returns: @backend, with one more reference.
 */
RdmaBackend *rdma_backend_ref(RdmaBackend *backend);

/**
 * rdma_backend_unref:
 * @backend: (nullable): a backend
 *
 * Drops a reference; the last one closes the socket and frees the backend.
 * Its signature fits #DmsDestroyNotify.
 */
void rdma_backend_unref(void *backend);

/**
 * rdma_backend_get_ops:
 * @max_access: the most bytes per request; 0 or anything above
 *   RDMA_MAX_PAYLOAD means RDMA_MAX_PAYLOAD
 * @ops: (out caller-allocates): filled with a bulk ops table
 *
 * Fills a table for dms_region_new_message() with the backend as opaque.
 * An access is sent as one request per @max_access bytes.
 */
void rdma_backend_get_ops(size_t max_access, DmsMessageOps *ops);

/**
 * rdma_backend_new_region:
 * @backend: a backend
 * @name: (nullable): the region's name
 * @size: bytes of the server's memory the region shows, from address 0
 * @max_access: as for rdma_backend_get_ops()
 * @ret: (out): the new region, one reference owned by the caller
 *
 * Creates a message region whose accesses go to @backend. The region holds
 * a reference on @backend, dropped when the region is destroyed.
 *
 * Returns: 0, or dms_region_new_message()'s error.
 */
int rdma_backend_new_region(RdmaBackend *backend, const char *name,
                            uint64_t size, size_t max_access, DmsRegion **ret);

/**
 * rdma_backend_get_messages:
 * @backend: a backend
 *
 * Thread-safe.
 *
 * Returns: the number of requests sent so far (each gets one reply).
 */
uint64_t rdma_backend_get_messages(const RdmaBackend *backend);

/**
 * rdma_backend_close:
 * @backend: a backend
 *
 * Shuts the connection down: requests in flight and all later ones fail
 * with -ENOTCONN. The socket itself is closed when the backend is freed.
 * Thread-safe.
 */
void rdma_backend_close(RdmaBackend *backend);

#endif /* RDMA_BACKEND_H */
