/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client side of the remote-dma protocol as a bulk DmsMessageOps backend.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dmaspace/region.h>

#include "backend.h"
#include "proto.h"

struct RdmaBackend {
    atomic_int refcount;
    int fd;
    /*
     * Held from sending a request to receiving its reply: the protocol
     * has one request in flight per connection, so two threads (or two
     * regions sharing this backend) must not interleave their frames.
     * DMS_MESSAGE_SERIALIZE would not do: it serialises one region only.
     */
    pthread_mutex_t lock;
    uint32_t next_id;    /* under lock */
    unsigned timeout_ms; /* the deadline of one request */
    atomic_bool closed;  /* set once, never cleared */
    /* A machine word: 32-bit hosts without 64-bit atomics (mipsel) need
     * no libatomic; there the count wraps after 2^32 messages. */
    atomic_ulong messages;
};

int rdma_backend_new(int fd, RdmaBackend **ret)
{
    return rdma_backend_new_full(fd, NULL, ret);
}

int rdma_backend_new_full(int fd, const RdmaBackendOptions *opts,
                          RdmaBackend **ret)
{
    RdmaBackend *b;

    if (fd < 0 || !ret || (opts && opts->size < sizeof(*opts))) {
        if (fd >= 0) {
            close(fd);
        }
        return -EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    atomic_init(&b->refcount, 1);
    b->fd = fd;
    pthread_mutex_init(&b->lock, NULL);
    b->next_id = 1;
    b->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
                                             : RDMA_BACKEND_DEFAULT_TIMEOUT_MS;
    atomic_init(&b->closed, false);
    atomic_init(&b->messages, 0);
    *ret = b;
    return 0;
}

RdmaBackend *rdma_backend_ref(RdmaBackend *backend)
{
    if (backend) {
        atomic_fetch_add(&backend->refcount, 1);
    }
    return backend;
}

void rdma_backend_unref(void *opaque)
{
    RdmaBackend *b = opaque;

    if (!b || atomic_fetch_sub(&b->refcount, 1) != 1) {
        return;
    }
    close(b->fd);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

uint64_t rdma_backend_get_messages(const RdmaBackend *backend)
{
    return atomic_load(&((RdmaBackend *)backend)->messages);
}

void rdma_backend_close(RdmaBackend *backend)
{
    atomic_store(&backend->closed, true);
    /* Not close(): the fd number must not be reused while a request that
     * is blocked in recv() on it still runs. shutdown() wakes it. */
    shutdown(backend->fd, SHUT_RDWR);
}

/*
 * One request and its reply, under the lock. @rbuf receives a READ's
 * payload; @wbuf is a WRITE's. Returns 0 or a negative errno.
 */
static int transact(RdmaBackend *b, uint8_t op, uint64_t addr, uint32_t len,
                    void *rbuf, const void *wbuf)
{
    RdmaFrame req = {
        .op = op,
        .addr = addr,
        .len = len,
        .payload_len = op == RDMA_OP_WRITE ? len : 0,
    };
    uint8_t hdr[RDMA_HEADER_SIZE];
    struct iovec iov[2];
    RdmaFrame reply;
    int64_t deadline;
    int r;

    if (atomic_load(&b->closed)) {
        return -ENOTCONN;
    }
    /* One deadline for the whole exchange: a server that trickles its
     * reply a byte at a time cannot stretch it. */
    deadline = rdma_deadline_after(b->timeout_ms);
    req.id = b->next_id++;
    rdma_header_encode(&req, hdr);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)wbuf;
    iov[1].iov_len = req.payload_len;

    r = rdma_io_send_until(b->fd, iov, req.payload_len ? 2 : 1, deadline);
    if (r < 0) {
        goto fail;
    }
    atomic_fetch_add(&b->messages, 1);

    r = rdma_io_recv_until(b->fd, hdr, sizeof(hdr), NULL, deadline);
    if (r < 0) {
        goto fail;
    }
    /*
     * Whatever is wrong with a reply, the stream can no longer be trusted
     * to be at a frame boundary, or the server no longer answers what we
     * asked: either way later replies could be applied to the wrong
     * request, so the connection is closed.
     */
    if (rdma_header_parse(hdr, sizeof(hdr), &reply) < 0 ||
        reply.op != (op | RDMA_OP_REPLY) || reply.id != req.id ||
        reply.addr != addr || reply.len != len) {
        r = -EPROTO;
        goto fail;
    }
    if (reply.status != RDMA_STATUS_OK) {
        return rdma_status_to_errno(reply.status);
    }
    if (reply.payload_len > 0) {
        /* The parser guarantees payload_len == len for an OK READ reply. */
        r = rdma_io_recv_until(b->fd, rbuf, reply.payload_len, NULL, deadline);
        if (r < 0) {
            goto fail;
        }
    }
    return 0;

fail:
    rdma_backend_close(b);
    /* A closed connection is reported the same way however it was seen;
     * a broken protocol or a deadline says what closed it. */
    return r == -EPROTO || r == -ETIMEDOUT ? r : -ENOTCONN;
}

static int64_t do_access(void *opaque, uint8_t op, uint64_t offset, void *rbuf,
                         const void *wbuf, size_t len)
{
    RdmaBackend *b = opaque;
    uint32_t chunk;
    int r;

    /*
     * The library cuts accesses at the region's max_access; this also
     * covers a table someone built with a larger limit: returning fewer
     * bytes makes the library call again for the rest.
     */
    chunk = len > RDMA_MAX_PAYLOAD ? RDMA_MAX_PAYLOAD : (uint32_t)len;

    pthread_mutex_lock(&b->lock);
    r = transact(b, op, offset, chunk, rbuf, wbuf);
    pthread_mutex_unlock(&b->lock);
    return r < 0 ? r : (int64_t)chunk;
}

static int64_t backend_read(void *opaque, uint64_t offset, void *buf,
                            size_t len, const DmsAttrs *attrs)
{
    return do_access(opaque, RDMA_OP_READ, offset, buf, NULL, len);
}

static int64_t backend_write(void *opaque, uint64_t offset, const void *buf,
                             size_t len, const DmsAttrs *attrs)
{
    return do_access(opaque, RDMA_OP_WRITE, offset, NULL, buf, len);
}

void rdma_backend_get_ops(size_t max_access, DmsMessageOps *ops)
{
    *ops = (DmsMessageOps){
        .size = sizeof(*ops),
        .read = backend_read,
        .write = backend_write,
        .max_access = max_access == 0 || max_access > RDMA_MAX_PAYLOAD
                          ? RDMA_MAX_PAYLOAD
                          : max_access,
    };
}

int rdma_backend_new_region(RdmaBackend *backend, const char *name,
                            uint64_t size, size_t max_access, DmsRegion **ret)
{
    DmsMessageOps ops;
    int r;

    rdma_backend_get_ops(max_access, &ops);
    r = dms_region_new_message(name, size, &ops, rdma_backend_ref(backend),
                               rdma_backend_unref, ret);
    if (r < 0) {
        /* On failure the notify is not called: drop our reference here. */
        rdma_backend_unref(backend);
    }
    return r;
}
