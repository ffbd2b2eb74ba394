/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peers for the remote-dma tests; see remote-dma-peer.h.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "remote-dma-peer.h"

/* How long peer_sees_eof() waits before calling the EOF missing. */
#define PEER_EOF_WAIT_MS 10000

/* Test helpers abort on setup failures: nothing to test without them. */
static void *xmalloc(size_t len)
{
    void *p = malloc(len ? len : 1);

    if (!p) {
        abort();
    }
    return p;
}

static void *xzalloc(size_t len)
{
    return memset(xmalloc(len), 0, len);
}

static void start_thread(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    if (pthread_create(thread, NULL, fn, arg) != 0) {
        abort();
    }
}

/* Joins @thread, the owner of *@fd, then closes *@fd; only once. */
static void join_and_close(pthread_t thread, int *fd)
{
    if (*fd >= 0) {
        pthread_join(thread, NULL);
        close(*fd);
        *fd = -1;
    }
}

static void make_pair(int *a, int *b)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    *a = sv[0];
    *b = sv[1];
}

static void *server_main(void *opaque)
{
    PeerServer *ps = opaque;

    ps->result =
        rdma_server_serve(ps->server_fd, ps->mem, ps->mem_size, &ps->stats);
    return NULL;
}

PeerServer *peer_server_start(uint64_t mem_size)
{
    PeerServer *ps = xzalloc(sizeof(*ps));

    ps->mem_size = mem_size;
    ps->mem = xmalloc(mem_size);
    ps->orig = xmalloc(mem_size);
    memdev_random_fill(ps->mem, mem_size, mem_size);
    memcpy(ps->orig, ps->mem, mem_size);
    make_pair(&ps->fd, &ps->server_fd);
    start_thread(&ps->thread, server_main, ps);
    return ps;
}

int peer_server_join(PeerServer *ps)
{
    join_and_close(ps->thread, &ps->server_fd);
    return ps->result;
}

void peer_server_free(PeerServer *ps)
{
    if (ps->fd >= 0) {
        close(ps->fd);
    }
    peer_server_join(ps);
    free(ps->orig);
    free(ps->mem);
    free(ps);
}

bool peer_server_untouched(const PeerServer *ps)
{
    return memcmp(ps->mem, ps->orig, ps->mem_size) == 0;
}

static void *script_main(void *opaque)
{
    PeerScripted *ps = opaque;

    ps->fn(ps->peer_fd, ps->arg);
    return NULL;
}

PeerScripted *peer_scripted_start(PeerScript fn, void *arg)
{
    PeerScripted *ps = xzalloc(sizeof(*ps));

    ps->fn = fn;
    ps->arg = arg;
    make_pair(&ps->fd, &ps->peer_fd);
    start_thread(&ps->thread, script_main, ps);
    return ps;
}

void peer_scripted_join(PeerScripted *ps)
{
    join_and_close(ps->thread, &ps->peer_fd);
}

void peer_scripted_free(PeerScripted *ps)
{
    if (ps->fd >= 0) {
        /* Wakes a script still waiting on us. */
        shutdown(ps->fd, SHUT_RDWR);
    }
    peer_scripted_join(ps);
    if (ps->fd >= 0) {
        close(ps->fd);
    }
    free(ps);
}

int peer_send_frame(int fd, const RdmaFrame *f, const void *payload)
{
    uint8_t hdr[RDMA_HEADER_SIZE];
    struct iovec iov[2] = {
        {.iov_base = hdr, .iov_len = sizeof(hdr)},
        {.iov_base = (void *)payload, .iov_len = payload ? f->payload_len : 0},
    };

    rdma_header_encode(f, hdr);
    return rdma_io_send(fd, iov, 2);
}

int peer_send_slowly(int fd, const void *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        struct iovec iov = {.iov_base = (uint8_t *)buf + i, .iov_len = 1};
        int r = rdma_io_send(fd, &iov, 1);

        if (r < 0) {
            return r;
        }
        /* Give the reader a chance to see each byte on its own. */
        sched_yield();
    }
    return 0;
}

int peer_recv_header(int fd, RdmaFrame *f)
{
    uint8_t hdr[RDMA_HEADER_SIZE];
    int r = rdma_io_recv(fd, hdr, sizeof(hdr), NULL);

    return r < 0 ? r : rdma_header_parse(hdr, sizeof(hdr), f);
}

bool peer_sees_eof(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    uint8_t byte;
    ssize_t n;
    int ready;

    /*
     * Not a timing assertion: EOF is expected at once, and the bound only
     * turns a missing one into a failure instead of a hung test.
     */
    do {
        ready = poll(&pfd, 1, PEER_EOF_WAIT_MS);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) {
        return false;
    }
    do {
        n = recv(fd, &byte, 1, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

RdmaFrame peer_frame(uint8_t op, uint32_t id, uint64_t addr, uint32_t len)
{
    RdmaFrame f = {.op = op, .id = id, .addr = addr, .len = len};

    if (op == RDMA_OP_WRITE || op == RDMA_OP_READ_REPLY) {
        f.payload_len = len;
    }
    return f;
}

void peer_close_at_once(int fd, void *arg)
{
}

void peer_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

typedef struct RoundTripper {
    PeerRoundTrip fn;
    void *target;
    uint64_t addr;
    unsigned rounds;
    unsigned failures;
    pthread_t thread;
} RoundTripper;

static void *round_trip_main(void *arg)
{
    RoundTripper *t = arg;
    uint8_t data[2048], got[2048];

    for (unsigned k = 0; k < t->rounds; k++) {
        size_t len = 1 + (k * 769) % sizeof(data);

        memdev_random_fill(data, len, t->addr * 31 + k);
        if (t->fn(t->target, t->addr, data, got, len) != 0 ||
            memcmp(data, got, len) != 0)
            t->failures++;
    }
    return NULL;
}

unsigned peer_round_trips(PeerRoundTrip fn, void *target, uint64_t base,
                          unsigned rounds)
{
    RoundTripper t[PEER_THREADS];
    unsigned failures = 0, started = 0;

    for (unsigned i = 0; i < PEER_THREADS; i++) {
        t[i] = (RoundTripper){.fn = fn,
                              .target = target,
                              .addr = base + i * 4096,
                              .rounds = rounds};
        if (pthread_create(&t[i].thread, NULL, round_trip_main, &t[i]) != 0)
            break;
        started++;
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(t[i].thread, NULL);
        failures += t[i].failures;
    }
    /* A thread that did not start failed all its rounds. */
    return failures + (PEER_THREADS - started) * rounds;
}
