/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memory server of the remote-dma example: serves one connection of
 * the protocol in doc/protocol.md over a buffer it is given. Used by the
 * demo's server process, by the tests (in a thread) and by dms-bench.
 */
#ifndef RDMA_SERVER_H
#define RDMA_SERVER_H

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
 * (a reply op sent to the server is -EBADMSG); -ENOMEM; another negative
 * errno from the socket.
 */
int rdma_server_serve(int fd, uint8_t *mem, uint64_t mem_size,
                      RdmaServerStats *stats);

#endif /* RDMA_SERVER_H */
