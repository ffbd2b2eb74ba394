/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The memory server: on one connection, one request at a time, in order;
 * connections of a listening socket each on a thread of their own.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Waits, with no deadline, until a frame starts (or the peer closes). */
static int wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    while (poll(&pfd, 1, -1) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

/*
 * Reads the next request. Returns 1 with @req (and @scratch, for a WRITE)
 * filled, 0 on a clean close between frames, or a negative errno. A peer
 * may idle between frames for as long as it likes; once a frame has begun,
 * the rest of it must come within @timeout_ms.
 */
static int receive_request(int fd, uint8_t *scratch, unsigned timeout_ms,
                           RdmaFrame *req)
{
    uint8_t hdr[RDMA_HEADER_SIZE];
    int64_t deadline;
    size_t got;
    int r;

    r = wait_readable(fd);
    if (r < 0) {
        return r;
    }
    deadline = rdma_deadline_after(timeout_ms);
    r = rdma_io_recv_until(fd, hdr, sizeof(hdr), &got, deadline);
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
        r = rdma_io_recv_until(fd, scratch, req->payload_len, NULL, deadline);
        if (r < 0) {
            return r;
        }
        req->payload = scratch;
    }
    return 1;
}

static int send_reply(int fd, const RdmaFrame *req, uint32_t status,
                      uint8_t *mem, unsigned timeout_ms)
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
    /* A peer that stops reading replies must not hold us either. */
    return rdma_io_send_until(fd, iov, iovcnt,
                              rdma_deadline_after(timeout_ms));
}

/* The options in effect: @opts with defaults for its zeros. */
static int resolve_options(const RdmaServerOptions *opts,
                           RdmaServerOptions *out)
{
    *out = (RdmaServerOptions){.size = sizeof(*out)};
    if (opts) {
        if (opts->size < sizeof(*opts)) {
            return -EINVAL;
        }
        *out = *opts;
    }
    if (out->timeout_ms == 0) {
        out->timeout_ms = RDMA_SERVER_DEFAULT_TIMEOUT_MS;
    }
    if (out->max_connections == 0) {
        out->max_connections = RDMA_SERVER_DEFAULT_MAX_CONNECTIONS;
    }
    return 0;
}

int rdma_server_serve(int fd, uint8_t *mem, uint64_t mem_size,
                      RdmaServerStats *stats)
{
    return rdma_server_serve_full(fd, mem, mem_size, NULL, stats);
}

int rdma_server_serve_full(int fd, uint8_t *mem, uint64_t mem_size,
                           const RdmaServerOptions *opts,
                           RdmaServerStats *stats)
{
    RdmaServerStats local = {0};
    RdmaServerOptions o;
    uint8_t *scratch;
    int r;

    if (!stats) {
        stats = &local;
    }
    memset(stats, 0, sizeof(*stats));
    r = resolve_options(opts, &o);
    if (r < 0) {
        return r;
    }

    scratch = malloc(RDMA_MAX_PAYLOAD);
    if (!scratch) {
        return -ENOMEM;
    }

    for (;;) {
        RdmaFrame req;
        uint32_t status;

        r = receive_request(fd, scratch, o.timeout_ms, &req);
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

        r = send_reply(fd, &req, status, mem, o.timeout_ms);
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

/* ---- every connection of a listening socket, a thread each ---- */

typedef struct Listener Listener;

typedef struct Conn {
    Listener *listener;
    int fd;
    pthread_t thread;
    bool finished; /* under listener->lock: the thread may be joined */
    struct Conn *next;
} Conn;

struct Listener {
    uint8_t *mem;
    uint64_t mem_size;
    RdmaServerOptions opts;
    pthread_mutex_t lock;
    Conn *conns;   /* every connection whose thread is not joined yet */
    unsigned live; /* entries of conns not finished */
};

static void *conn_thread(void *opaque)
{
    Conn *c = opaque;
    Listener *l = c->listener;
    RdmaServerStats st;
    int r;

    r = rdma_server_serve_full(c->fd, l->mem, l->mem_size, &l->opts, &st);
    if (l->opts.connection_done) {
        l->opts.connection_done(&st, r, l->opts.opaque);
    }
    pthread_mutex_lock(&l->lock);
    c->finished = true;
    l->live--;
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* Joins and frees the connections whose thread has ended; with @all,
 * shuts down the others first and waits for them too. */
static void reap(Listener *l, bool all)
{
    Conn **link = &l->conns;

    pthread_mutex_lock(&l->lock);
    if (all) {
        for (Conn *c = l->conns; c; c = c->next) {
            if (!c->finished) {
                shutdown(c->fd, SHUT_RDWR);
            }
        }
    }
    while (*link) {
        Conn *c = *link;

        if (!c->finished && !all) {
            link = &c->next;
            continue;
        }
        *link = c->next;
        /* The thread touches only its own Conn after finishing, and
         * needs the lock to finish: join it without the lock. */
        pthread_mutex_unlock(&l->lock);
        pthread_join(c->thread, NULL);
        close(c->fd);
        free(c);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
}

/* Starts serving @fd on a thread; closes it if that cannot be done. */
static void start_conn(Listener *l, int fd)
{
    Conn *c;

    pthread_mutex_lock(&l->lock);
    if (l->live >= l->opts.max_connections) {
        pthread_mutex_unlock(&l->lock);
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        pthread_mutex_unlock(&l->lock);
        close(fd);
        return;
    }
    c->listener = l;
    c->fd = fd;
    if (pthread_create(&c->thread, NULL, conn_thread, c) != 0) {
        pthread_mutex_unlock(&l->lock);
        close(fd);
        free(c);
        return;
    }
    c->next = l->conns;
    l->conns = c;
    l->live++;
    pthread_mutex_unlock(&l->lock);
}

int rdma_server_listen(int listen_fd, uint8_t *mem, uint64_t mem_size,
                       const RdmaServerOptions *opts)
{
    Listener l = {.mem = mem, .mem_size = mem_size};
    int r;

    r = resolve_options(opts, &l.opts);
    if (r < 0) {
        return r;
    }
    pthread_mutex_init(&l.lock, NULL);
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0) {
            /* A connection reset before we took it, or a signal: go on.
             * Out of file descriptors: go on too, once some are back. */
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE) {
                reap(&l, false);
                poll(NULL, 0, 10);
                continue;
            }
            r = errno == EINVAL ? 0 : -errno;
            break;
        }
        reap(&l, false);
        start_conn(&l, fd);
    }
    reap(&l, true);
    pthread_mutex_destroy(&l.lock);
    return r;
}
