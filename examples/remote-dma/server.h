/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memory server of the remote-dma example: serves connections of the
 * protocol in doc/protocol.md over a buffer it is given, one connection
 * per call (rdma_server_serve()) or every connection a listening socket
 * accepts, each in its own thread (rdma_server_listen()). Used by the
 * demo's server process, by the tests (in a thread) and by dms-bench.
 */
#ifndef RDMA_SERVER_H
#define RDMA_SERVER_H

#include <stddef.h>
#include <stdint.h>

/**
 * RdmaServerStats:
 *
 * What one rdma_server_serve() call did. Written only by that call: read
 * it after the call returns.
 */
typedef struct RdmaServerStats {
    uint64_t requests;      /* well-formed requests answered */
    uint64_t reads;         /* READ requests answered with OK */
    uint64_t writes;        /* WRITE requests answered with OK */
    uint64_t bytes_read;    /* payload bytes sent in READ replies */
    uint64_t bytes_written; /* payload bytes stored by WRITE requests */
    uint64_t error_replies; /* requests answered with a non-OK status */
} RdmaServerStats;

/* A frame begun must be complete, and a reply sent, within this. */
#define RDMA_SERVER_DEFAULT_TIMEOUT_MS 10000u

/* Connections rdma_server_listen() serves at once, unless told. */
#define RDMA_SERVER_DEFAULT_MAX_CONNECTIONS 64u

/**
 * RdmaServerOptions:
 * @size: sizeof(RdmaServerOptions), so that the struct can grow
 * @timeout_ms: the deadline: once the first byte of a request has come,
 *   the rest of its header and payload must come within this many
 *   milliseconds, and its reply must be taken by the peer within as many
 *   again; otherwise the connection is closed with -ETIMEDOUT. An idle
 *   connection (between frames) has no deadline. 0: the default,
 *   RDMA_SERVER_DEFAULT_TIMEOUT_MS.
 * @max_connections: rdma_server_listen() only: connections served at
 *   once; one more is closed as soon as it is accepted. 0: the default,
 *   RDMA_SERVER_DEFAULT_MAX_CONNECTIONS.
 * @connection_done: (nullable): rdma_server_listen() only: called on the
 *   connection's thread when it ends, with what rdma_server_serve_full()
 *   counted and returned
 * @opaque: passed to @connection_done
 */
typedef struct RdmaServerOptions {
    size_t size;
    unsigned timeout_ms;
    unsigned max_connections;
    void (*connection_done)(const RdmaServerStats *stats, int result,
                            void *opaque);
    void *opaque;
} RdmaServerOptions;

/**
 * rdma_server_serve:
 * @fd: a connected stream socket; the caller keeps ownership
 * @mem: the memory requests address, from address 0
 * @mem_size: bytes at @mem
 * @stats: (out caller-allocates) (optional): zeroed, then counted into
 *
 * Answers requests on @fd until the peer closes the connection or breaks
 * the protocol. A request outside [0, @mem_size) or of length 0 gets an
 * error reply and leaves @mem untouched; a WRITE is applied only once its
 * whole payload has arrived. A malformed or oversized frame gets no reply:
 * the connection is shut down (shutdown(SHUT_RDWR)) and this returns; the
 * caller still closes @fd.
 *
 * Returns: 0 when the peer closed the connection between frames;
 * -ENOTCONN if it closed in the middle of a frame; -EBADMSG,
 * -EPROTONOSUPPORT or -EMSGSIZE for a frame that broke the protocol
 * (a reply op sent to the server is -EBADMSG); -ETIMEDOUT if the peer
 * left a frame unfinished, or a reply untaken, for longer than
 * RDMA_SERVER_DEFAULT_TIMEOUT_MS (the connection is shut down as for a
 * bad frame); -ENOMEM; another negative errno from the socket.
 */
int rdma_server_serve(int fd, uint8_t *mem, uint64_t mem_size,
                      RdmaServerStats *stats);

/**
 * rdma_server_serve_full:
 * @fd: a connected stream socket; the caller keeps ownership
 * @mem: the memory requests address, from address 0
 * @mem_size: bytes at @mem
 * @opts: (nullable): options; NULL for the defaults
 * @stats: (out caller-allocates) (optional): as for rdma_server_serve()
 *
 * rdma_server_serve() (which is this with the default options) with the
 * deadline of @opts.
 *
 * Returns: as rdma_server_serve(); -ETIMEDOUT if a peer left a frame
 * unfinished, or a reply untaken, for longer than the deadline (a WRITE
 * it did not finish is not applied); -EINVAL for an @opts->size too
 * small.
 */
int rdma_server_serve_full(int fd, uint8_t *mem, uint64_t mem_size,
                           const RdmaServerOptions *opts,
                           RdmaServerStats *stats);

/**
 * rdma_server_listen:
 * @listen_fd: a listening stream socket; the caller keeps ownership
 * @mem: the memory requests address, shared by every connection
 * @mem_size: bytes at @mem
 * @opts: (nullable): options; NULL for the defaults
 *
 * Accepts connections on @listen_fd and serves each on a thread of its
 * own with rdma_server_serve_full(), so that a peer that stalls holds up
 * only itself. Connections access @mem with no ordering between them,
 * like devices sharing RAM. Runs until accept() fails for good: to stop
 * it, shutdown(@listen_fd, SHUT_RDWR) from another thread (Linux then
 * fails accept() with EINVAL). It then shuts down the connections still
 * open and waits for their threads, so @mem may be freed once it returns.
 *
 * Returns: 0 when stopped by shutdown(); -EINVAL for an @opts->size too
 * small; else the negative errno accept() failed with.
 */
int rdma_server_listen(int listen_fd, uint8_t *mem, uint64_t mem_size,
                       const RdmaServerOptions *opts);

#endif /* RDMA_SERVER_H */
