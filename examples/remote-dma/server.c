/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memory server: one connection, one request at a time, in order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"
#include "server.h"

/* Written so that addr + len cannot wrap: both are peer-controlled. */
static uint32_t check_request(const RdmaFrame *req, uint64_t mem_size)
{
    if (req->len == 0) {
        return RDMA_STATUS_INVALID;
    }
    if (req->addr > mem_size || req->len > mem_size - req->addr) {
        return RDMA_STATUS_RANGE;
    }
    return RDMA_STATUS_OK;
}

/*
 * Reads the next request. Returns 1 with @req (and @scratch, for a WRITE)
 * filled, 0 on a clean close between frames, or a negative errno.
 */
static int receive_request(int fd, uint8_t *scratch, RdmaFrame *req)
{
    uint8_t hdr[RDMA_HEADER_SIZE];
    size_t got;
    int r;

    r = rdma_io_recv(fd, hdr, sizeof(hdr), &got);
    if (r == -ENOTCONN && got == 0) {
        return 0;
    }
    if (r < 0) {
        return r;
    }
    r = rdma_header_parse(hdr, sizeof(hdr), req);
    if (r < 0) {
        return r;
    }
    if (req->op & RDMA_OP_REPLY) {
        return -EBADMSG;
    }
    /*
     * The payload goes to scratch, not straight into memory: a peer that
     * dies mid-payload, or a write out of range, must not leave a torn
     * write behind. payload_len was checked against RDMA_MAX_PAYLOAD.
     */
    if (req->payload_len > 0) {
        r = rdma_io_recv(fd, scratch, req->payload_len, NULL);
        if (r < 0) {
            return r;
        }
        req->payload = scratch;
    }
    return 1;
}

static int send_reply(int fd, const RdmaFrame *req, uint32_t status,
                      uint8_t *mem)
{
    RdmaFrame reply = {
        .op = (uint8_t)(req->op | RDMA_OP_REPLY),
        .id = req->id,
        .status = status,
        .addr = req->addr,
        .len = req->len,
    };
    uint8_t hdr[RDMA_HEADER_SIZE];
    struct iovec iov[2];
    int iovcnt = 1;

    /* A read reply is sent from memory itself: no copy of the payload. */
    if (req->op == RDMA_OP_READ && status == RDMA_STATUS_OK) {
        reply.payload_len = req->len;
        iov[1].iov_base = mem + req->addr;
        iov[1].iov_len = req->len;
        iovcnt = 2;
    }
    rdma_header_encode(&reply, hdr);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    return rdma_io_send(fd, iov, iovcnt);
}

int rdma_server_serve(int fd, uint8_t *mem, uint64_t mem_size,
                      RdmaServerStats *stats)
{
    RdmaServerStats local = {0};
    uint8_t *scratch;
    int r;

    if (!stats) {
        stats = &local;
    }
    memset(stats, 0, sizeof(*stats));

    scratch = malloc(RDMA_MAX_PAYLOAD);
    if (!scratch) {
        return -ENOMEM;
    }

    for (;;) {
        RdmaFrame req;
        uint32_t status;

        r = receive_request(fd, scratch, &req);
        if (r <= 0) {
            break;
        }

        status = check_request(&req, mem_size);
        if (status == RDMA_STATUS_OK && req.op == RDMA_OP_WRITE) {
            memcpy(mem + req.addr, req.payload, req.len);
            stats->writes++;
            stats->bytes_written += req.len;
        } else if (status == RDMA_STATUS_OK) {
            stats->reads++;
            stats->bytes_read += req.len;
        } else {
            stats->error_replies++;
        }
        stats->requests++;

        r = send_reply(fd, &req, status, mem);
        if (r < 0) {
            break;
        }
    }

    /*
     * After a bad frame the stream cannot be trusted to be in step any
     * more: close both directions now so the peer sees EOF at once,
     * whenever our caller gets round to close().
     */
    if (r < 0) {
        shutdown(fd, SHUT_RDWR);
    }
    free(scratch);
    return r;
}
