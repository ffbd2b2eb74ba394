/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The remote-dma demo under a stalled peer, over real sockets: the memory
 * server serves every client on its own thread, so one that stops
 * mid-frame holds up nobody else; the server closes a connection whose
 * frame stays unfinished, or whose replies stay untaken, past its deadline
 * with -ETIMEDOUT; and a device whose server stops answering, mid-reply or
 * before, or stops reading its request, gets -ETIMEDOUT from
 * dms_space_read()/dms_space_write() and a closed connection.
 *
 * The deadlines here are short (a few hundred ms) and nothing checks how
 * long anything took: a test only waits for an outcome that must come
 * (a result, an EOF), however slow the machine. The one long deadline is
 * the one that must not pass.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <dmaspace/dmaspace.h>

#include "backend.h"
#include "proto.h"
#include "remote-dma-peer.h"
#include "server.h"

#define MEM_SIZE (2 * RDMA_MAX_PAYLOAD)

/* A deadline a stalled peer runs into soon. */
#define SHORT_MS 200u
/* A deadline that must never pass in a test: only a hang gets near it. */
#define LONG_MS 600000u

/* The deadline of a device that must be served while others stall. */
#define DEVICE_PATIENCE_MS 20000u

/* How long a test waits for an outcome that must come before failing. */
#define OUTCOME_WAIT_S 60

/* ---- the server on a listening socket, in a thread ---- */

typedef struct Listen {
    int lfd;
    struct sockaddr_un sa;
    socklen_t sa_len;
    uint8_t *mem;
    uint8_t *orig;
    pthread_t thread;
    int result; /* rdma_server_listen()'s */
    bool stopped;
    RdmaServerOptions opts;
    /* What the connections ended with, in the order they ended. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int results[16];
    RdmaServerStats stats[16];
    unsigned ended;
} Listen;

static void connection_done(const RdmaServerStats *st, int result,
                            void *opaque)
{
    Listen *l = opaque;

    pthread_mutex_lock(&l->lock);
    if (l->ended < 16) {
        l->results[l->ended] = result;
        l->stats[l->ended] = *st;
    }
    l->ended++;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void *listen_main(void *opaque)
{
    Listen *l = opaque;

    l->result = rdma_server_listen(l->lfd, l->mem, MEM_SIZE, &l->opts);
    return NULL;
}

/* A server with deadline @timeout_ms on an abstract UNIX socket. */
static Listen *listen_start(unsigned timeout_ms)
{
    static unsigned counter;
    Listen *l = calloc(1, sizeof(*l));
    int n;

    assert_non_null(l);
    l->mem = malloc(MEM_SIZE);
    l->orig = malloc(MEM_SIZE);
    assert_non_null(l->mem);
    assert_non_null(l->orig);
    memdev_random_fill(l->mem, MEM_SIZE, 12);
    memcpy(l->orig, l->mem, MEM_SIZE);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->opts = (RdmaServerOptions){
        .size = sizeof(l->opts),
        .timeout_ms = timeout_ms,
        .connection_done = connection_done,
        .opaque = l,
    };

    /* Abstract: no file to clean up, unique per process and server. */
    l->sa.sun_family = AF_UNIX;
    n = snprintf(l->sa.sun_path + 1, sizeof(l->sa.sun_path) - 1,
                 "dms-stall-%ld-%u", (long)getpid(), counter++);
    l->sa_len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    l->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l->lfd >= 0);
    assert_int_equal(bind(l->lfd, (struct sockaddr *)&l->sa, l->sa_len), 0);
    assert_int_equal(listen(l->lfd, 8), 0);
    assert_int_equal(pthread_create(&l->thread, NULL, listen_main, l), 0);
    return l;
}

static int listen_connect(Listen *l)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&l->sa, l->sa_len), 0);
    return fd;
}

static unsigned listen_ended(Listen *l)
{
    unsigned n;

    pthread_mutex_lock(&l->lock);
    n = l->ended;
    pthread_mutex_unlock(&l->lock);
    return n;
}

/* Waits until @n connections have ended; fails if they never do. */
static void listen_wait_ended(Listen *l, unsigned n)
{
    struct timespec until;
    int r = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += OUTCOME_WAIT_S;
    pthread_mutex_lock(&l->lock);
    while (l->ended < n && r == 0) {
        r = pthread_cond_timedwait(&l->cond, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    assert_true(listen_ended(l) >= n);
}

/* Stops the server, which closes what is still open and returns once
 * every connection has ended. */
static void listen_stop(Listen *l)
{
    assert_int_equal(shutdown(l->lfd, SHUT_RDWR), 0);
    pthread_join(l->thread, NULL);
    assert_int_equal(l->result, 0);
    l->stopped = true;
}

/* Stops the server unless the test did, and frees it. */
static void listen_free(Listen *l)
{
    if (!l->stopped)
        listen_stop(l);
    close(l->lfd);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l->orig);
    free(l->mem);
    free(l);
}

/* ---- helpers for the peers ---- */

/* A request header, as a stalled client starts it. */
static void request_header(uint8_t op, uint64_t addr, uint32_t len,
                           uint8_t hdr[RDMA_HEADER_SIZE])
{
    RdmaFrame f = {
        .op = op,
        .id = 1,
        .addr = addr,
        .len = len,
        .payload_len = op == RDMA_OP_WRITE ? len : 0,
    };

    rdma_header_encode(&f, hdr);
}

static void send_all(int fd, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

    assert_int_equal(rdma_io_send(fd, &iov, 1), 0);
}

/*
 * Reads and drops whatever comes until EOF (or a reset); returns true if
 * it came. No deadline of its own beyond OUTCOME_WAIT_S: the EOF must come.
 */
static bool drain_until_eof(int fd)
{
    uint8_t buf[4096];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        ssize_t n;
        int ready = poll(&pfd, 1, OUTCOME_WAIT_S * 1000);

        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return false;
        }
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return false;
        }
    }
}

/* The server closed @fd: it reads to EOF. Closes our end too. */
static void closed_by_server(int fd)
{
    assert_true(drain_until_eof(fd));
    close(fd);
}

/* A device: a space of one window onto the server behind @fd. */
static DmsSpace *device_space(int fd, unsigned timeout_ms, RdmaBackend **ret)
{
    RdmaBackendOptions opts = {.size = sizeof(opts), .timeout_ms = timeout_ms};
    RdmaBackend *b;
    DmsRegion *w;
    DmsSpace *space;

    assert_int_equal(rdma_backend_new_full(fd, &opts, &b), 0);
    assert_int_equal(rdma_backend_new_region(b, "win", MEM_SIZE, 0, &w), 0);
    assert_int_equal(dms_space_new(w, "device", &space), 0);
    dms_region_unref(w);
    if (ret) {
        *ret = b;
    } else {
        rdma_backend_unref(b);
    }
    return space;
}

/* ---- the server ---- */

/*
 * Two clients stop mid-frame, one in a header and one in a WRITE's
 * payload, and stay stalled (the deadline is far off): a third is served
 * all the same, and once the server stops, the stalled ones are closed
 * with their writes not applied.
 */
static void test_server_serves_others_while_clients_stall(void **state)
{
    Listen *l = listen_start(LONG_MS);
    uint8_t hdr[RDMA_HEADER_SIZE], *data = malloc(65536), *got = malloc(65536);
    int stalled_hdr = listen_connect(l), stalled_payload = listen_connect(l);
    DmsSpace *space;
    size_t done = 0;

    request_header(RDMA_OP_READ, 0, 4096, hdr);
    send_all(stalled_hdr, hdr, 10);
    request_header(RDMA_OP_WRITE, 0, 65536, hdr);
    send_all(stalled_payload, hdr, sizeof(hdr));
    memdev_random_fill(data, 65536, 99);
    send_all(stalled_payload, data, 1000);

    /* Served one connection after another, the device would wait for
     * the stalled ones forever: its deadline turns that into a failure
     * here. A long one, that only a hang gets near. */
    space = device_space(listen_connect(l), DEVICE_PATIENCE_MS, NULL);
    assert_int_equal(dms_space_write(space, 65536, data, 65536, NULL, &done),
                     0);
    assert_int_equal(done, 65536);
    assert_int_equal(dms_space_read(space, 65536, got, 65536, NULL, &done), 0);
    assert_memory_equal(got, data, 65536);
    dms_space_unref(space); /* the device hangs up: a clean end */
    listen_wait_ended(l, 1);
    assert_int_equal(l->results[0], 0);
    assert_int_equal(l->stats[0].writes, 1);
    assert_int_equal(l->stats[0].reads, 1);

    /* The stalled ones are still open; stopping the server closes them,
     * mid-frame, with nothing of the unfinished WRITE applied. */
    assert_int_equal(listen_ended(l), 1);
    listen_stop(l);
    assert_int_equal(l->ended, 3);
    assert_int_equal(l->results[1], -ENOTCONN);
    assert_int_equal(l->results[2], -ENOTCONN);
    assert_memory_equal(l->mem, l->orig, 65536);
    closed_by_server(stalled_hdr);
    closed_by_server(stalled_payload);
    listen_free(l);
    free(data);
    free(got);
}

/*
 * The fixture of the tests of a client that stalls: a server with a
 * short deadline and one client connected to it, which the server must
 * have closed by the end of the test.
 */
typedef struct Stalled {
    Listen *l;
    int fd;
} Stalled;

static int stalled_setup(void **state)
{
    Stalled *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->l = listen_start(SHORT_MS);
    c->fd = listen_connect(c->l);
    *state = c;
    return 0;
}

static int stalled_teardown(void **state)
{
    Stalled *c = *state;

    closed_by_server(c->fd);
    listen_free(c->l);
    free(c);
    return 0;
}

/* The server ended the connection with -ETIMEDOUT. */
static void assert_server_timed_out(Listen *l)
{
    listen_wait_ended(l, 1);
    assert_int_equal(l->results[0], -ETIMEDOUT);
}

/* A client that stops inside a header is closed with -ETIMEDOUT. */
static void test_server_closes_client_stalled_mid_header(void **state)
{
    Stalled *c = *state;
    uint8_t hdr[RDMA_HEADER_SIZE];

    request_header(RDMA_OP_READ, 0, 4096, hdr);
    send_all(c->fd, hdr, 31);
    assert_server_timed_out(c->l);
    assert_int_equal(c->l->stats[0].requests, 0);
}

/* A client that stops inside a WRITE's payload is closed with -ETIMEDOUT,
 * and the WRITE is not applied, not even in part. */
static void test_server_closes_client_stalled_mid_payload(void **state)
{
    Stalled *c = *state;
    uint8_t hdr[RDMA_HEADER_SIZE], data[8192];

    request_header(RDMA_OP_WRITE, 4096, sizeof(data), hdr);
    memdev_random_fill(data, sizeof(data), 5);
    send_all(c->fd, hdr, sizeof(hdr));
    send_all(c->fd, data, sizeof(data) - 1);
    assert_server_timed_out(c->l);
    assert_int_equal(c->l->stats[0].writes, 0);
    assert_memory_equal(c->l->mem, c->l->orig, MEM_SIZE);
}

/*
 * A client that sends requests but never reads the replies: once the
 * socket's buffers are full the server cannot send, and closes the
 * connection with -ETIMEDOUT instead of blocking on it.
 */
static void test_server_closes_client_that_takes_no_replies(void **state)
{
    Stalled *c = *state;
    uint8_t hdr[RDMA_HEADER_SIZE];

    /* 64 MiB of replies asked for: more than any socket buffers. */
    request_header(RDMA_OP_READ, 0, RDMA_MAX_PAYLOAD, hdr);
    for (int i = 0; i < 64; i++) {
        send_all(c->fd, hdr, sizeof(hdr));
    }
    assert_server_timed_out(c->l);
    assert_true(c->l->stats[0].requests < 64);
}

/*
 * The deadline runs only inside a frame: a client may idle between
 * frames for longer than it, and is then served as usual.
 */
static void test_server_lets_idle_client_be(void **state)
{
    Listen *l = listen_start(50);
    DmsSpace *space = device_space(listen_connect(l), LONG_MS, NULL);
    uint8_t byte = 0x5a, got = 0;
    struct timespec idle = {.tv_nsec = 300 * 1000000};

    assert_int_equal(dms_space_write(space, 100, &byte, 1, NULL, NULL), 0);
    /* At least six deadlines long, however slow the machine. */
    while (nanosleep(&idle, &idle) < 0 && errno == EINTR) {
    }
    assert_int_equal(dms_space_read(space, 100, &got, 1, NULL, NULL), 0);
    assert_int_equal(got, 0x5a);
    assert_int_equal(listen_ended(l), 0);
    dms_space_unref(space);
    listen_wait_ended(l, 1);
    assert_int_equal(l->results[0], 0);
    listen_free(l);
}

/* The single-connection call takes the same deadline. */
static void test_serve_full_times_out_on_socketpair(void **state)
{
    RdmaServerOptions opts = {.size = sizeof(opts), .timeout_ms = SHORT_MS};
    uint8_t mem[4096] = {0}, hdr[RDMA_HEADER_SIZE];
    RdmaServerStats st;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    request_header(RDMA_OP_READ, 0, 16, hdr);
    send_all(sv[0], hdr, 1);
    assert_int_equal(
        rdma_server_serve_full(sv[1], mem, sizeof(mem), &opts, &st),
        -ETIMEDOUT);
    assert_int_equal(st.requests, 0);
    assert_true(drain_until_eof(sv[0]));
    close(sv[0]);
    close(sv[1]);
}

static void test_options_of_wrong_size_are_refused(void **state)
{
    RdmaServerOptions sopts = {.size = sizeof(sopts) - 1};
    RdmaBackendOptions bopts = {.size = sizeof(bopts) - 1};
    RdmaBackend *b = NULL;
    uint8_t mem[16];
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    assert_int_equal(
        rdma_server_serve_full(sv[1], mem, sizeof(mem), &sopts, NULL),
        -EINVAL);
    assert_int_equal(rdma_server_listen(sv[1], mem, sizeof(mem), &sopts),
                     -EINVAL);
    /* The backend owns the fd even when it fails: it is closed. */
    assert_int_equal(rdma_backend_new_full(sv[1], &bopts, &b), -EINVAL);
    assert_null(b);
    assert_true(drain_until_eof(sv[0]));
    close(sv[0]);
}

/* ---- the device ---- */

/* What a scripted server does, and what it saw. */
typedef struct Script {
    int go[2]; /* a pipe: the test writes a byte when the script may go on */
    bool saw_eof; /* the device closed the connection */
    int recv_err; /* the first request could not be read */
} Script;

static void script_wait_go(Script *s)
{
    uint8_t byte;

    while (read(s->go[0], &byte, 1) < 0 && errno == EINTR) {
    }
}

/* Reads a request and never answers it. */
static void silent_server(int fd, void *arg)
{
    Script *s = arg;
    RdmaFrame f;

    s->recv_err = peer_recv_header(fd, &f);
    s->saw_eof = drain_until_eof(fd);
}

/* Reads a READ request and sends its reply's header and half of its
 * payload. */
static void half_reply_server(int fd, void *arg)
{
    Script *s = arg;
    uint8_t half[2048];
    RdmaFrame f;

    s->recv_err = peer_recv_header(fd, &f);
    if (s->recv_err == 0) {
        f.op |= RDMA_OP_REPLY;
        f.status = RDMA_STATUS_OK;
        f.payload_len = f.len; /* announced; only sizeof(half) follow */
        memdev_random_fill(half, sizeof(half), 3);
        s->recv_err = f.len > sizeof(half) ? 0 : -EINVAL;
    }
    if (s->recv_err == 0) {
        uint8_t hdr[RDMA_HEADER_SIZE];
        struct iovec iov[2] = {
            {.iov_base = hdr, .iov_len = sizeof(hdr)},
            {.iov_base = half, .iov_len = sizeof(half)},
        };

        rdma_header_encode(&f, hdr);
        s->recv_err = rdma_io_send(fd, iov, 2);
    }
    s->saw_eof = drain_until_eof(fd);
}

/* Reads nothing until told to, then everything until EOF. */
static void deaf_server(int fd, void *arg)
{
    Script *s = arg;

    script_wait_go(s);
    s->saw_eof = drain_until_eof(fd);
}

static PeerScripted *script_start(PeerScript fn, Script *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(pipe(s->go), 0);
    return peer_scripted_start(fn, s);
}

static void script_finish(PeerScripted *ps, Script *s)
{
    uint8_t byte = 1;

    assert_int_equal(write(s->go[1], &byte, 1), 1);
    peer_scripted_join(ps);
    close(s->go[0]);
    close(s->go[1]);
    assert_true(s->saw_eof);
    peer_scripted_free(ps);
}

/*
 * A device whose server takes a request and never answers gets
 * -ETIMEDOUT, the server sees the connection close, and later accesses
 * fail at once with -ENOTCONN.
 */
static void test_device_times_out_on_silent_server(void **state)
{
    Script s;
    PeerScripted *ps = script_start(silent_server, &s);
    DmsSpace *space = device_space(dup(ps->fd), SHORT_MS, NULL);
    uint8_t buf[64];
    size_t done = 1;

    assert_int_equal(dms_space_read(space, 0, buf, sizeof(buf), NULL, &done),
                     -ETIMEDOUT);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_read(space, 0, buf, sizeof(buf), NULL, NULL),
                     -ENOTCONN);
    script_finish(ps, &s);
    assert_int_equal(s.recv_err, 0);
    dms_space_unref(space);
}

/* A server that stops in the middle of a reply's payload: -ETIMEDOUT. */
static void test_device_times_out_on_half_reply(void **state)
{
    Script s;
    PeerScripted *ps = script_start(half_reply_server, &s);
    RdmaBackend *b;
    DmsSpace *space = device_space(dup(ps->fd), SHORT_MS, &b);
    uint8_t buf[4096];

    assert_int_equal(dms_space_read(space, 0, buf, sizeof(buf), NULL, NULL),
                     -ETIMEDOUT);
    assert_int_equal(rdma_backend_get_messages(b), 1);
    assert_int_equal(dms_space_write(space, 0, buf, 1, NULL, NULL), -ENOTCONN);
    assert_int_equal(rdma_backend_get_messages(b), 1);
    script_finish(ps, &s);
    assert_int_equal(s.recv_err, 0);
    rdma_backend_unref(b);
    dms_space_unref(space);
}

/*
 * A server that reads nothing: a 1 MiB WRITE fills the socket's buffers
 * and cannot be sent whole; the device gets -ETIMEDOUT instead of
 * blocking in send.
 */
static void test_device_times_out_on_server_not_reading(void **state)
{
    Script s;
    PeerScripted *ps = script_start(deaf_server, &s);
    DmsSpace *space = device_space(dup(ps->fd), SHORT_MS, NULL);
    uint8_t *data = calloc(1, RDMA_MAX_PAYLOAD);
    size_t done = 1;

    assert_non_null(data);
    assert_int_equal(
        dms_space_write(space, 0, data, RDMA_MAX_PAYLOAD, NULL, &done),
        -ETIMEDOUT);
    assert_int_equal(done, 0);
    script_finish(ps, &s);
    dms_space_unref(space);
    free(data);
}

int main(void)
{
#define STALLED_TEST(t)                                                       \
    cmocka_unit_test_setup_teardown(t, stalled_setup, stalled_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_serves_others_while_clients_stall),
        STALLED_TEST(test_server_closes_client_stalled_mid_header),
        STALLED_TEST(test_server_closes_client_stalled_mid_payload),
        STALLED_TEST(test_server_closes_client_that_takes_no_replies),
        cmocka_unit_test(test_server_lets_idle_client_be),
        cmocka_unit_test(test_serve_full_times_out_on_socketpair),
        cmocka_unit_test(test_options_of_wrong_size_are_refused),
        cmocka_unit_test(test_device_times_out_on_silent_server),
        cmocka_unit_test(test_device_times_out_on_half_reply),
        cmocka_unit_test(test_device_times_out_on_server_not_reading),
    };
#undef STALLED_TEST

    return cmocka_run_group_tests_name("remote-dma-stall", tests, NULL, NULL);
}
