/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the remote-dma example's protocol pieces, without a DmsSpace:
 * the frame parser and encoder, the socket I/O helpers, the memory server
 * against a raw-byte client, and the backend's callbacks against the real
 * server or a scripted misbehaving one. Real threads and real sockets
 * throughout; every exact error code the protocol promises is asserted.
 * test-remote-dma.c does the same through a DmsSpace.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "proto.h"
#include "remote-dma-peer.h"
#include "server.h"

#define MEM_SIZE (256 * 1024)
#define BIG (RDMA_MAX_PAYLOAD + 64) /* buffers that hold any payload */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- parser and encoder ---------------------------------------------- */

static RdmaFrame frame(uint8_t op, uint32_t id, uint64_t addr, uint32_t len)
{
    RdmaFrame f = {.op = op, .id = id, .addr = addr, .len = len};

    if (op == RDMA_OP_WRITE || op == RDMA_OP_READ_REPLY) {
        f.payload_len = len;
    }
    return f;
}

static int parse_encoded(const RdmaFrame *f)
{
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    rdma_header_encode(f, hdr);
    return rdma_header_parse(hdr, sizeof(hdr), &out);
}

static void test_header_is_little_endian_on_the_wire(void **state)
{
    RdmaFrame f = frame(RDMA_OP_WRITE, 0x11223344, 0x0102030405060708, 0x10);
    const uint8_t want[RDMA_HEADER_SIZE] = {
        'R',  'D',  'M',  'A',  1,    0x02, 0,    0,    /* magic ver op */
        0x44, 0x33, 0x22, 0x11, 0,    0,    0,    0,    /* id status */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* addr */
        0x10, 0,    0,    0,    0x10, 0,    0,    0,    /* len payload */
    };
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    rdma_header_encode(&f, hdr);
    assert_memory_equal(hdr, want, sizeof(want));

    assert_int_equal(rdma_header_parse(hdr, sizeof(hdr), &out), 0);
    assert_int_equal(out.op, RDMA_OP_WRITE);
    assert_int_equal(out.id, 0x11223344);
    assert_int_equal(out.status, 0);
    assert_true(out.addr == UINT64_C(0x0102030405060708));
    assert_int_equal(out.len, 0x10);
    assert_int_equal(out.payload_len, 0x10);
    assert_null(out.payload);
}

static void test_parse_accepts_every_valid_op(void **state)
{
    RdmaFrame ok_reply = frame(RDMA_OP_READ_REPLY, 1, 0, 8);
    RdmaFrame err_reply = frame(RDMA_OP_READ_REPLY, 1, 0, 8);
    RdmaFrame wr_reply = frame(RDMA_OP_WRITE_REPLY, 1, 0, 8);

    err_reply.status = RDMA_STATUS_RANGE;
    err_reply.payload_len = 0;
    wr_reply.status = RDMA_STATUS_INVALID;

    assert_int_equal(parse_encoded(&(RdmaFrame){.op = RDMA_OP_READ}), 0);
    assert_int_equal(parse_encoded(&(RdmaFrame){.op = RDMA_OP_WRITE}), 0);
    assert_int_equal(parse_encoded(&ok_reply), 0);
    assert_int_equal(parse_encoded(&err_reply), 0);
    assert_int_equal(parse_encoded(&wr_reply), 0);
}

static void test_parse_rejects_bad_magic(void **state)
{
    RdmaFrame f = frame(RDMA_OP_READ, 1, 0, 8);
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out = {.id = 77};

    for (unsigned byte = 0; byte < 4; byte++) {
        rdma_header_encode(&f, hdr);
        hdr[byte] ^= 0x20;
        assert_int_equal(rdma_header_parse(hdr, sizeof(hdr), &out), -EBADMSG);
    }
    /* A failed parse leaves @out alone. */
    assert_int_equal(out.id, 77);
}

static void test_parse_rejects_other_versions(void **state)
{
    RdmaFrame f = frame(RDMA_OP_READ, 1, 0, 8);
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    rdma_header_encode(&f, hdr);
    hdr[4] = 0;
    assert_int_equal(rdma_header_parse(hdr, sizeof(hdr), &out),
                     -EPROTONOSUPPORT);
    hdr[4] = 2;
    assert_int_equal(rdma_header_parse(hdr, sizeof(hdr), &out),
                     -EPROTONOSUPPORT);
}

static void test_parse_rejects_unknown_ops(void **state)
{
    const uint8_t bad[] = {0x00, 0x03, 0x7f, 0x80, 0x83, 0xc1, 0xff};

    for (size_t i = 0; i < sizeof(bad); i++) {
        RdmaFrame f = {.op = bad[i]};

        assert_int_equal(parse_encoded(&f), -EBADMSG);
    }
}

static void test_parse_rejects_reserved_bits(void **state)
{
    RdmaFrame f = frame(RDMA_OP_READ, 1, 0, 8);
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    for (unsigned byte = 6; byte < 8; byte++) {
        rdma_header_encode(&f, hdr);
        hdr[byte] = 0x01;
        assert_int_equal(rdma_header_parse(hdr, sizeof(hdr), &out), -EBADMSG);
    }
}

static void test_parse_rejects_oversized_lengths(void **state)
{
    RdmaFrame max_write = frame(RDMA_OP_WRITE, 1, 0, RDMA_MAX_PAYLOAD);
    RdmaFrame big_write = frame(RDMA_OP_WRITE, 1, 0, RDMA_MAX_PAYLOAD + 1);
    RdmaFrame big_read = frame(RDMA_OP_READ, 1, 0, RDMA_MAX_PAYLOAD + 1);
    RdmaFrame big_payload = frame(RDMA_OP_READ, 1, 0, 8);
    RdmaFrame huge = frame(RDMA_OP_WRITE, 1, 0, UINT32_MAX);

    big_payload.payload_len = RDMA_MAX_PAYLOAD + 1;
    assert_int_equal(parse_encoded(&max_write), 0);
    assert_int_equal(parse_encoded(&big_write), -EMSGSIZE);
    assert_int_equal(parse_encoded(&big_read), -EMSGSIZE);
    assert_int_equal(parse_encoded(&big_payload), -EMSGSIZE);
    assert_int_equal(parse_encoded(&huge), -EMSGSIZE);
}

static void test_parse_rejects_payload_that_does_not_fit_op(void **state)
{
    RdmaFrame write_short = frame(RDMA_OP_WRITE, 1, 0, 16);
    RdmaFrame read_with_data = frame(RDMA_OP_READ, 1, 0, 16);
    RdmaFrame error_with_data = frame(RDMA_OP_READ_REPLY, 1, 0, 16);
    RdmaFrame ok_without_data = frame(RDMA_OP_READ_REPLY, 1, 0, 16);
    RdmaFrame write_reply_with_data = frame(RDMA_OP_WRITE_REPLY, 1, 0, 16);

    write_short.payload_len = 15;
    read_with_data.payload_len = 16;
    error_with_data.status = RDMA_STATUS_RANGE;
    ok_without_data.payload_len = 0;
    write_reply_with_data.payload_len = 16;

    assert_int_equal(parse_encoded(&write_short), -EBADMSG);
    assert_int_equal(parse_encoded(&read_with_data), -EBADMSG);
    assert_int_equal(parse_encoded(&error_with_data), -EBADMSG);
    assert_int_equal(parse_encoded(&ok_without_data), -EBADMSG);
    assert_int_equal(parse_encoded(&write_reply_with_data), -EBADMSG);
}

static void test_parse_rejects_bad_status(void **state)
{
    RdmaFrame request = frame(RDMA_OP_READ, 1, 0, 8);
    RdmaFrame reply = frame(RDMA_OP_WRITE_REPLY, 1, 0, 8);

    request.status = RDMA_STATUS_RANGE;
    reply.status = RDMA_STATUS_LAST + 1;
    assert_int_equal(parse_encoded(&request), -EBADMSG);
    assert_int_equal(parse_encoded(&reply), -EBADMSG);
}

/*
 * Each prefix is parsed from a heap buffer of exactly its length, so
 * ASan reports any read past what the parser was given.
 */
static void test_frame_parse_waits_for_the_whole_frame(void **state)
{
    RdmaFrame f = frame(RDMA_OP_WRITE, 9, 0x1000, 40);
    size_t total = RDMA_HEADER_SIZE + 40 + 5; /* and 5 bytes of the next */
    uint8_t *wire = malloc(total);
    RdmaFrame out;

    rdma_header_encode(&f, wire);
    for (size_t i = 0; i < 45; i++) {
        wire[RDMA_HEADER_SIZE + i] = (uint8_t)(i + 1);
    }
    for (size_t len = 0; len <= total; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        int r;

        memcpy(copy, wire, len);
        r = rdma_frame_parse(copy, len, &out);
        if (len < RDMA_HEADER_SIZE + 40) {
            assert_int_equal(r, -ENODATA);
        } else {
            assert_int_equal(r, RDMA_HEADER_SIZE + 40);
            assert_ptr_equal(out.payload, copy + RDMA_HEADER_SIZE);
            assert_int_equal(out.payload[0], 1);
            assert_int_equal(out.payload[39], 40);
        }
        free(copy);
    }
    free(wire);
}

static void test_frame_parse_refuses_bad_header_before_payload(void **state)
{
    RdmaFrame f = frame(RDMA_OP_WRITE, 1, 0, RDMA_MAX_PAYLOAD + 1);
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    rdma_header_encode(&f, hdr);
    assert_int_equal(rdma_frame_parse(hdr, sizeof(hdr), &out), -EMSGSIZE);
    assert_int_equal(rdma_frame_parse(hdr, 3, &out), -ENODATA);
}

static void test_status_maps_to_errno(void **state)
{
    assert_int_equal(rdma_status_to_errno(RDMA_STATUS_OK), 0);
    assert_int_equal(rdma_status_to_errno(RDMA_STATUS_RANGE), -EFAULT);
    assert_int_equal(rdma_status_to_errno(RDMA_STATUS_INVALID), -EINVAL);
    assert_int_equal(rdma_status_to_errno(99), -EIO);
}

/* ---- socket I/O -------------------------------------------------------- */

typedef struct Chunks {
    const uint8_t *data;
    size_t len;
    size_t chunk;  /* bytes per send */
    long pause_ms; /* between sends */
    int result;
} Chunks;

static void send_in_chunks(int fd, void *arg)
{
    Chunks *c = arg;

    c->result = 0;
    for (size_t off = 0; off < c->len && c->result == 0; off += c->chunk) {
        struct iovec iov = {
            .iov_base = (void *)(c->data + off),
            .iov_len = c->len - off < c->chunk ? c->len - off : c->chunk,
        };

        c->result = rdma_io_send(fd, &iov, 1);
        if (c->pause_ms) {
            sleep_ms(c->pause_ms);
        }
    }
}

static void test_recv_reassembles_byte_by_byte_sends(void **state)
{
    uint8_t data[300], got[300];
    Chunks c = {.data = data, .len = sizeof(data), .chunk = 1};
    PeerScripted *ps;
    size_t n = 0;

    peer_pattern(data, sizeof(data), 1);
    ps = peer_scripted_start(send_in_chunks, &c);
    assert_int_equal(rdma_io_recv(ps->fd, got, sizeof(got), &n), 0);
    assert_int_equal(n, sizeof(got));
    assert_memory_equal(got, data, sizeof(data));
    peer_scripted_join(ps);
    assert_int_equal(c.result, 0);
    peer_scripted_free(ps);
}

typedef struct SlowReader {
    uint8_t *buf;
    size_t len;
    size_t chunk;
    long pause_ms; /* between reads */
    int result;
} SlowReader;

static void read_in_chunks(int fd, void *arg)
{
    SlowReader *s = arg;

    s->result = 0;
    for (size_t off = 0; off < s->len && s->result == 0; off += s->chunk) {
        size_t n = s->len - off < s->chunk ? s->len - off : s->chunk;

        s->result = rdma_io_recv(fd, s->buf + off, n, NULL);
        if (s->pause_ms) {
            sleep_ms(s->pause_ms);
        }
    }
}

/*
 * A non-blocking socket with a small send buffer takes a megabyte in many
 * partial sends with EAGAIN in between; the iovec bookkeeping must carry
 * every byte across the header/payload boundary in order.
 */
static void
test_send_completes_partial_sends_on_nonblocking_socket(void **state)
{
    size_t plen = RDMA_MAX_PAYLOAD;
    uint8_t hdr[37];
    uint8_t *payload = malloc(plen), *got = malloc(sizeof(hdr) + plen);
    SlowReader s = {.buf = got, .len = sizeof(hdr) + plen, .chunk = 4093};
    struct iovec iov[3] = {
        {.iov_base = hdr, .iov_len = sizeof(hdr)},
        {.iov_base = NULL, .iov_len = 0},
        {.iov_base = payload, .iov_len = plen},
    };
    int sndbuf = 4096;
    PeerScripted *ps;

    peer_pattern(hdr, sizeof(hdr), 2);
    peer_pattern(payload, plen, 3);
    ps = peer_scripted_start(read_in_chunks, &s);
    assert_int_equal(
        setsockopt(ps->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    assert_int_equal(fcntl(ps->fd, F_SETFL, O_NONBLOCK), 0);

    assert_int_equal(rdma_io_send(ps->fd, iov, 3), 0);
    /* The caller's iovec is not consumed. */
    assert_ptr_equal(iov[2].iov_base, payload);
    assert_int_equal(iov[2].iov_len, plen);

    peer_scripted_join(ps);
    assert_int_equal(s.result, 0);
    assert_memory_equal(got, hdr, sizeof(hdr));
    assert_memory_equal(got + sizeof(hdr), payload, plen);
    peer_scripted_free(ps);
    free(got);
    free(payload);
}

static void test_recv_on_nonblocking_socket_waits_for_data(void **state)
{
    uint8_t data[5000], got[5000];
    Chunks c = {
        .data = data, .len = sizeof(data), .chunk = 1000, .pause_ms = 5};
    PeerScripted *ps;

    peer_pattern(data, sizeof(data), 4);
    ps = peer_scripted_start(send_in_chunks, &c);
    assert_int_equal(fcntl(ps->fd, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(rdma_io_recv(ps->fd, got, sizeof(got), NULL), 0);
    assert_memory_equal(got, data, sizeof(data));
    peer_scripted_join(ps);
    peer_scripted_free(ps);
}

static volatile sig_atomic_t signals_seen;

static void count_signal(int sig)
{
    signals_seen++;
}

typedef struct Interrupter {
    pthread_t target;
    atomic_int stop;
    pthread_t thread;
} Interrupter;

static void *interrupt_main(void *opaque)
{
    Interrupter *in = opaque;

    /* At least once, however late this thread gets to run. */
    do {
        pthread_kill(in->target, SIGUSR1);
        sleep_ms(1);
    } while (!atomic_load(&in->stop));
    return NULL;
}

/*
 * Without SA_RESTART a signal makes a blocked send or recv fail with
 * EINTR or return short; both transfers must still complete exactly. The
 * peers pause so that we block often, with signals arriving every 1 ms.
 */
static void test_io_survives_signals_without_sa_restart(void **state)
{
    struct sigaction sa = {.sa_handler = count_signal}, old;
    size_t len = 512 * 1024;
    uint8_t *data = malloc(len), *got = malloc(len);
    Chunks c = {.data = data, .len = len, .chunk = 64 * 1024, .pause_ms = 2};
    SlowReader s = {.buf = got, .len = len, .chunk = 16384, .pause_ms = 1};
    Interrupter in = {.target = pthread_self()};
    PeerScripted *ps;

    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    signals_seen = 0;
    peer_pattern(data, len, 5);
    assert_int_equal(pthread_create(&in.thread, NULL, interrupt_main, &in), 0);

    /* We receive while the peer sends slowly... */
    ps = peer_scripted_start(send_in_chunks, &c);
    assert_int_equal(rdma_io_recv(ps->fd, got, len, NULL), 0);
    peer_scripted_join(ps);
    assert_int_equal(c.result, 0);
    assert_memory_equal(got, data, len);
    peer_scripted_free(ps);

    /* ...and send while the peer reads slowly. */
    memset(got, 0, len);
    ps = peer_scripted_start(read_in_chunks, &s);
    assert_int_equal(rdma_io_send(ps->fd, &(struct iovec){data, len}, 1), 0);
    peer_scripted_join(ps);
    assert_int_equal(s.result, 0);
    assert_memory_equal(got, data, len);
    peer_scripted_free(ps);

    atomic_store(&in.stop, 1);
    pthread_join(in.thread, NULL);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
    assert_true(signals_seen > 0);
    free(got);
    free(data);
}

static void close_at_once(int fd, void *arg)
{
}

/* SIGPIPE keeps its default action here: raising it would kill us. */
static void
test_send_to_closed_peer_fails_enotconn_without_sigpipe(void **state)
{
    uint8_t data[65536] = {0};
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    PeerScripted *ps = peer_scripted_start(close_at_once, NULL);

    peer_scripted_join(ps);
    assert_int_equal(rdma_io_send(ps->fd, &iov, 1), -ENOTCONN);
    assert_int_equal(rdma_io_send(ps->fd, &iov, 1), -ENOTCONN);
    peer_scripted_free(ps);
    signal(SIGPIPE, old);
}

static void test_recv_reports_bytes_before_eof(void **state)
{
    uint8_t data[5] = {1, 2, 3, 4, 5}, got[10];
    Chunks c = {.data = data, .len = sizeof(data), .chunk = 2};
    PeerScripted *ps = peer_scripted_start(send_in_chunks, &c);
    size_t n = 99;

    peer_scripted_join(ps); /* sent, then closed */
    assert_int_equal(rdma_io_recv(ps->fd, got, sizeof(got), &n), -ENOTCONN);
    assert_int_equal(n, 5);
    assert_memory_equal(got, data, 5);
    assert_int_equal(rdma_io_recv(ps->fd, got, 1, &n), -ENOTCONN);
    assert_int_equal(n, 0);
    peer_scripted_free(ps);
}

static void test_send_refuses_too_many_iovecs(void **state)
{
    struct iovec iov[9] = {{0}};

    assert_int_equal(rdma_io_send(-1, iov, 9), -EINVAL);
    assert_int_equal(rdma_io_send(-1, iov, -1), -EINVAL);
}

/* ---- the server against a raw-byte client ---------------------------- */

static int server_setup(void **state)
{
    *state = peer_server_start(MEM_SIZE);
    return 0;
}

static int server_teardown(void **state)
{
    peer_server_free(*state);
    return 0;
}

static void expect_reply(int fd, uint8_t op, uint32_t id, uint32_t status,
                         uint64_t addr, uint32_t len)
{
    RdmaFrame r;

    assert_int_equal(peer_recv_header(fd, &r), 0);
    assert_int_equal(r.op, op);
    assert_int_equal(r.id, id);
    assert_int_equal(r.status, status);
    assert_true(r.addr == addr);
    assert_int_equal(r.len, len);
}

static void test_server_writes_and_reads_memory(void **state)
{
    PeerServer *ps = *state;
    RdmaFrame w = frame(RDMA_OP_WRITE, 7, 1000, 3000);
    RdmaFrame rd = frame(RDMA_OP_READ, 8, 999, 3002);
    uint8_t data[3000], got[3002];

    peer_pattern(data, sizeof(data), 6);
    assert_int_equal(peer_send_frame(ps->fd, &w, data), 0);
    expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, 7, RDMA_STATUS_OK, 1000, 3000);
    assert_memory_equal(ps->mem + 1000, data, sizeof(data));
    /* Only those bytes changed. */
    assert_int_equal(ps->mem[999], ps->orig[999]);
    assert_int_equal(ps->mem[4000], ps->orig[4000]);

    assert_int_equal(peer_send_frame(ps->fd, &rd, NULL), 0);
    expect_reply(ps->fd, RDMA_OP_READ_REPLY, 8, RDMA_STATUS_OK, 999, 3002);
    assert_int_equal(rdma_io_recv(ps->fd, got, sizeof(got), NULL), 0);
    assert_memory_equal(got, ps->mem + 999, sizeof(got));

    close(ps->fd);
    ps->fd = -1;
    assert_int_equal(peer_server_join(ps), 0);
    assert_int_equal(ps->stats.requests, 2);
    assert_int_equal(ps->stats.writes, 1);
    assert_int_equal(ps->stats.reads, 1);
    assert_int_equal(ps->stats.bytes_written, 3000);
    assert_int_equal(ps->stats.bytes_read, 3002);
    assert_int_equal(ps->stats.error_replies, 0);
}

static void
test_server_serves_the_last_byte_and_the_largest_payload(void **state)
{
    PeerServer *ps = *state;
    RdmaFrame last = frame(RDMA_OP_READ, 1, MEM_SIZE - 1, 1);
    uint8_t byte;

    assert_int_equal(peer_send_frame(ps->fd, &last, NULL), 0);
    expect_reply(ps->fd, RDMA_OP_READ_REPLY, 1, RDMA_STATUS_OK, MEM_SIZE - 1,
                 1);
    assert_int_equal(rdma_io_recv(ps->fd, &byte, 1, NULL), 0);
    assert_int_equal(byte, ps->mem[MEM_SIZE - 1]);
}

/*
 * Out of range in every way a peer can say it, including sums that wrap
 * past 2^64: each gets RANGE, memory stays as it was, the connection
 * keeps working.
 */
static void test_server_refuses_out_of_range_and_leaves_memory(void **state)
{
    PeerServer *ps = *state;
    uint8_t data[64];
    const struct {
        uint64_t addr;
        uint32_t len;
    } bad[] = {
        {MEM_SIZE, 1},   {MEM_SIZE - 8, 9},    {MEM_SIZE + 4096, 8},
        {UINT64_MAX, 1}, {UINT64_MAX - 7, 64}, {UINT64_C(1) << 63, 64},
    };
    uint32_t id = 100;

    memset(data, 0xee, sizeof(data));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t len = bad[i].len;
        RdmaFrame w = frame(RDMA_OP_WRITE, id, bad[i].addr, len);
        RdmaFrame rd = frame(RDMA_OP_READ, id + 1, bad[i].addr, len);

        assert_int_equal(peer_send_frame(ps->fd, &w, data), 0);
        expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, id, RDMA_STATUS_RANGE,
                     bad[i].addr, len);
        /* An error reply has no payload: the next header follows. */
        assert_int_equal(peer_send_frame(ps->fd, &rd, NULL), 0);
        expect_reply(ps->fd, RDMA_OP_READ_REPLY, id + 1, RDMA_STATUS_RANGE,
                     bad[i].addr, len);
        id += 2;
    }
    assert_true(peer_server_untouched(ps));

    /* Zero length: INVALID. */
    {
        RdmaFrame z = frame(RDMA_OP_WRITE, 5, 0, 0);

        assert_int_equal(peer_send_frame(ps->fd, &z, NULL), 0);
        expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, 5, RDMA_STATUS_INVALID, 0,
                     0);
    }
    /* Still serving. */
    {
        RdmaFrame w = frame(RDMA_OP_WRITE, 6, 0, 8);

        assert_int_equal(peer_send_frame(ps->fd, &w, data), 0);
        expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, 6, RDMA_STATUS_OK, 0, 8);
        assert_memory_equal(ps->mem, data, 8);
    }
    close(ps->fd);
    ps->fd = -1;
    assert_int_equal(peer_server_join(ps), 0);
    assert_int_equal(ps->stats.error_replies, 13);
}

/* A header with one field broken, sent on its own. */
typedef struct BadHeader {
    const char *what;
    uint8_t bytes[RDMA_HEADER_SIZE];
    int expect;
} BadHeader;

static void bad_headers(BadHeader *out, size_t *count)
{
    RdmaFrame read8 = frame(RDMA_OP_READ, 1, 0, 8);
    RdmaFrame big = frame(RDMA_OP_WRITE, 1, 0, RDMA_MAX_PAYLOAD + 1);
    RdmaFrame reply = frame(RDMA_OP_WRITE_REPLY, 1, 0, 8);
    RdmaFrame unknown = frame(0x05, 1, 0, 8);
    size_t n = 0;

    out[n] = (BadHeader){"bad magic", {0}, -EBADMSG};
    rdma_header_encode(&read8, out[n].bytes);
    out[n++].bytes[0] = 'X';
    out[n] = (BadHeader){"bad version", {0}, -EPROTONOSUPPORT};
    rdma_header_encode(&read8, out[n].bytes);
    out[n++].bytes[4] = 9;
    out[n] = (BadHeader){"unknown op", {0}, -EBADMSG};
    rdma_header_encode(&unknown, out[n++].bytes);
    out[n] = (BadHeader){"reply sent to server", {0}, -EBADMSG};
    rdma_header_encode(&reply, out[n++].bytes);
    out[n] = (BadHeader){"oversized write", {0}, -EMSGSIZE};
    rdma_header_encode(&big, out[n++].bytes);
    *count = n;
}

/*
 * Each bad header closes the connection with no reply, before any payload
 * is read (the oversized write's megabyte is never sent), memory
 * untouched.
 */
static void test_server_closes_connection_on_bad_frame(void **state)
{
    BadHeader bad[8];
    size_t count;

    bad_headers(bad, &count);
    for (size_t i = 0; i < count; i++) {
        PeerServer *ps = peer_server_start(4096);
        struct iovec iov = {bad[i].bytes, RDMA_HEADER_SIZE};

        assert_int_equal(rdma_io_send(ps->fd, &iov, 1), 0);
        assert_true(peer_sees_eof(ps->fd));
        assert_int_equal(peer_server_join(ps), bad[i].expect);
        assert_int_equal(ps->stats.requests, 0);
        assert_true(peer_server_untouched(ps));
        peer_server_free(ps);
    }
}

static void test_server_peer_closing_mid_payload_leaves_memory(void **state)
{
    PeerServer *ps = *state;
    RdmaFrame w = frame(RDMA_OP_WRITE, 1, 0, 4096);
    uint8_t hdr[RDMA_HEADER_SIZE], data[2048];
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {data, sizeof(data)}};

    memset(data, 0x5a, sizeof(data));
    rdma_header_encode(&w, hdr);
    assert_int_equal(rdma_io_send(ps->fd, iov, 2), 0);
    close(ps->fd);
    ps->fd = -1;
    assert_int_equal(peer_server_join(ps), -ENOTCONN);
    assert_int_equal(ps->stats.requests, 0);
    assert_true(peer_server_untouched(ps));
}

static void test_server_peer_closing_mid_header_is_an_error(void **state)
{
    PeerServer *ps = *state;
    RdmaFrame rd = frame(RDMA_OP_READ, 1, 0, 8);
    uint8_t hdr[RDMA_HEADER_SIZE];

    rdma_header_encode(&rd, hdr);
    assert_int_equal(rdma_io_send(ps->fd, &(struct iovec){hdr, 10}, 1), 0);
    close(ps->fd);
    ps->fd = -1;
    assert_int_equal(peer_server_join(ps), -ENOTCONN);
}

static void test_server_clean_close_returns_zero(void **state)
{
    PeerServer *ps = *state;

    close(ps->fd);
    ps->fd = -1;
    assert_int_equal(peer_server_join(ps), 0);
    assert_int_equal(ps->stats.requests, 0);
}

static void test_server_reassembles_request_sent_byte_by_byte(void **state)
{
    PeerServer *ps = *state;
    RdmaFrame w = frame(RDMA_OP_WRITE, 3, 12, 20);
    uint8_t wire[RDMA_HEADER_SIZE + 20];

    rdma_header_encode(&w, wire);
    peer_pattern(wire + RDMA_HEADER_SIZE, 20, 7);
    assert_int_equal(peer_send_slowly(ps->fd, wire, sizeof(wire)), 0);
    expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, 3, RDMA_STATUS_OK, 12, 20);
    assert_memory_equal(ps->mem + 12, wire + RDMA_HEADER_SIZE, 20);
}

/* ---- the backend's callbacks ----------------------------------------- */

typedef struct BackendFixture {
    PeerServer *server;
    RdmaBackend *backend;
    DmsMessageOps ops;
} BackendFixture;

static int backend_setup(void **state)
{
    BackendFixture *f = calloc(1, sizeof(*f));

    f->server = peer_server_start(2 * RDMA_MAX_PAYLOAD);
    assert_int_equal(rdma_backend_new(dup(f->server->fd), &f->backend), 0);
    rdma_backend_get_ops(0, &f->ops);
    *state = f;
    return 0;
}

static int backend_teardown(void **state)
{
    BackendFixture *f = *state;

    rdma_backend_close(f->backend);
    rdma_backend_unref(f->backend);
    peer_server_free(f->server);
    free(f);
    return 0;
}

static void test_backend_ops_table_is_bulk_with_clamped_limit(void **state)
{
    DmsMessageOps ops;

    rdma_backend_get_ops(0, &ops);
    assert_int_equal(ops.size, sizeof(ops));
    assert_non_null(ops.read);
    assert_non_null(ops.write);
    assert_int_equal(ops.max_access, RDMA_MAX_PAYLOAD);
    rdma_backend_get_ops(8, &ops);
    assert_int_equal(ops.max_access, 8);
    rdma_backend_get_ops((size_t)RDMA_MAX_PAYLOAD * 4, &ops);
    assert_int_equal(ops.max_access, RDMA_MAX_PAYLOAD);
}

static void test_backend_moves_each_access_in_one_message(void **state)
{
    BackendFixture *f = *state;
    const size_t sizes[] = {1, 7, 8, 4096, 12345, RDMA_MAX_PAYLOAD};
    uint8_t *data = malloc(RDMA_MAX_PAYLOAD), *got = malloc(RDMA_MAX_PAYLOAD);

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i];
        uint64_t off = 3 + i * 1000;
        uint64_t m0 = rdma_backend_get_messages(f->backend);

        peer_pattern(data, len, 10 + i);
        assert_int_equal(f->ops.write(f->backend, off, data, len, NULL),
                         (int64_t)len);
        assert_memory_equal(f->server->mem + off, data, len);
        memset(got, 0, len);
        assert_int_equal(f->ops.read(f->backend, off, got, len, NULL),
                         (int64_t)len);
        assert_memory_equal(got, data, len);
        assert_int_equal(rdma_backend_get_messages(f->backend) - m0, 2);
    }
    free(got);
    free(data);
}

/* Given more than a message can carry, it moves a message's worth and
 * says so: the library calls again for the rest. */
static void test_backend_caps_an_access_at_the_largest_payload(void **state)
{
    BackendFixture *f = *state;
    size_t len = RDMA_MAX_PAYLOAD + 100;
    uint8_t *data = malloc(len);

    peer_pattern(data, len, 11);
    assert_int_equal(f->ops.write(f->backend, 0, data, len, NULL),
                     (int64_t)RDMA_MAX_PAYLOAD);
    assert_memory_equal(f->server->mem, data, RDMA_MAX_PAYLOAD);
    assert_memory_equal(f->server->mem + RDMA_MAX_PAYLOAD,
                        f->server->orig + RDMA_MAX_PAYLOAD, 100);
    assert_int_equal(rdma_backend_get_messages(f->backend), 1);
    free(data);
}

static void test_backend_maps_range_error_to_efault_and_stays_up(void **state)
{
    BackendFixture *f = *state;
    uint64_t end = f->server->mem_size;
    uint8_t buf[16];

    memset(buf, 0x77, sizeof(buf));
    assert_int_equal(f->ops.write(f->backend, end - 8, buf, 16, NULL),
                     -EFAULT);
    assert_int_equal(f->ops.read(f->backend, end, buf, 1, NULL), -EFAULT);
    assert_int_equal(f->ops.read(f->backend, UINT64_MAX - 3, buf, 16, NULL),
                     -EFAULT);
    /* The read buffer is not touched by an error. */
    assert_int_equal(buf[0], 0x77);
    assert_true(peer_server_untouched(f->server));
    assert_int_equal(f->ops.read(f->backend, end - 16, buf, 16, NULL), 16);
    assert_memory_equal(buf, f->server->mem + end - 16, 16);
}

typedef struct WorkerArgs {
    const DmsMessageOps *ops;
    RdmaBackend *backend;
    uint64_t base;
    unsigned rounds;
    int failures;
    pthread_t thread;
} WorkerArgs;

static void *backend_worker(void *opaque)
{
    WorkerArgs *w = opaque;
    uint8_t data[3000], got[3000];

    for (unsigned k = 0; k < w->rounds; k++) {
        size_t len = 1 + (k * 997) % sizeof(data);

        peer_pattern(data, len, w->base + k);
        if (w->ops->write(w->backend, w->base, data, len, NULL) !=
                (int64_t)len ||
            w->ops->read(w->backend, w->base, got, len, NULL) !=
                (int64_t)len ||
            memcmp(data, got, len) != 0) {
            w->failures++;
        }
    }
    return NULL;
}

/* Threads share one connection; frames never interleave. */
static void test_backend_serialises_threads_on_one_socket(void **state)
{
    BackendFixture *f = *state;
    WorkerArgs w[4];

    for (unsigned i = 0; i < 4; i++) {
        w[i] = (WorkerArgs){.ops = &f->ops,
                            .backend = f->backend,
                            .base = i * 4096,
                            .rounds = 200};
        assert_int_equal(
            pthread_create(&w[i].thread, NULL, backend_worker, &w[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(w[i].thread, NULL);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(rdma_backend_get_messages(f->backend), 4 * 200 * 2);

    close(f->server->fd);
    f->server->fd = -1;
    rdma_backend_close(f->backend);
    assert_int_equal(peer_server_join(f->server), 0);
    assert_int_equal(f->server->stats.requests, 4 * 200 * 2);
}

/* ---- the backend against a misbehaving server ------------------------ */

/* How the scripted server answers the one request it reads. */
typedef enum Misbehaviour {
    REPLY_WRONG_ID,
    REPLY_WRONG_OP,
    REPLY_WRONG_ADDR,
    REPLY_WRONG_LEN,
    REPLY_BAD_MAGIC,
    REPLY_OVERSIZED,
    REPLY_REQUEST_OP,
    REPLY_UNKNOWN_STATUS,
    CLOSE_MID_REPLY,
    CLOSE_BEFORE_REPLY,
    REPLY_BYTE_BY_BYTE,
    NEVER_REPLY,
} Misbehaviour;

typedef struct Script {
    Misbehaviour how;
    RdmaFrame request;
    int result;       /* of reading the request */
    bool saw_eof;     /* the backend closed the connection afterwards */
    uint8_t data[64]; /* what a read reply carries */
} Script;

static void misbehave(int fd, void *arg)
{
    Script *s = arg;
    RdmaFrame r;
    uint8_t hdr[RDMA_HEADER_SIZE];
    uint8_t payload[64];

    s->result = peer_recv_header(fd, &s->request);
    if (s->result < 0) {
        return;
    }
    if (s->request.payload_len &&
        rdma_io_recv(fd, payload, s->request.payload_len, NULL) < 0) {
        s->result = -EIO;
        return;
    }
    r = s->request;
    r.op |= RDMA_OP_REPLY;
    r.payload_len = r.op == RDMA_OP_READ_REPLY ? r.len : 0;

    switch (s->how) {
    case REPLY_WRONG_ID:
        r.id++;
        break;
    case REPLY_WRONG_OP:
        r.op = r.op == RDMA_OP_READ_REPLY ? RDMA_OP_WRITE_REPLY
                                          : RDMA_OP_READ_REPLY;
        r.payload_len = r.op == RDMA_OP_READ_REPLY ? r.len : 0;
        break;
    case REPLY_WRONG_ADDR:
        r.addr += 8;
        break;
    case REPLY_WRONG_LEN:
        r.len /= 2;
        r.payload_len = r.op == RDMA_OP_READ_REPLY ? r.len : 0;
        break;
    case REPLY_OVERSIZED:
        r.len = RDMA_MAX_PAYLOAD + 8;
        r.payload_len = r.op == RDMA_OP_READ_REPLY ? r.len : 0;
        break;
    case REPLY_REQUEST_OP:
        r.op &= (uint8_t)~RDMA_OP_REPLY;
        r.payload_len = r.op == RDMA_OP_WRITE ? r.len : 0;
        break;
    case REPLY_UNKNOWN_STATUS:
        r.status = RDMA_STATUS_LAST + 1;
        r.payload_len = 0;
        break;
    default:
        break;
    }
    rdma_header_encode(&r, hdr);
    switch (s->how) {
    case REPLY_BAD_MAGIC:
        hdr[1] = 'X';
        /* fall through */
    default:
        rdma_io_send(fd, &(struct iovec){hdr, sizeof(hdr)}, 1);
        if (r.op == RDMA_OP_READ_REPLY) {
            rdma_io_send(fd, &(struct iovec){s->data, r.payload_len}, 1);
        }
        break;
    case REPLY_OVERSIZED:
        rdma_io_send(fd, &(struct iovec){hdr, sizeof(hdr)}, 1);
        break;
    case CLOSE_MID_REPLY:
        rdma_io_send(fd, &(struct iovec){hdr, sizeof(hdr)}, 1);
        if (r.payload_len) {
            rdma_io_send(fd, &(struct iovec){s->data, r.payload_len / 2}, 1);
        }
        shutdown(fd, SHUT_RDWR);
        return;
    case CLOSE_BEFORE_REPLY:
        shutdown(fd, SHUT_RDWR);
        return;
    case REPLY_BYTE_BY_BYTE:
        peer_send_slowly(fd, hdr, sizeof(hdr));
        if (r.op == RDMA_OP_READ_REPLY) {
            peer_send_slowly(fd, s->data, r.payload_len);
        }
        break;
    case NEVER_REPLY:
        break;
    }
    s->saw_eof = peer_sees_eof(fd);
}

/*
 * Runs one read (or write) of 32 bytes at 0x100 against @how. With
 * @closes, waits for the script to see the backend close the connection
 * before our own end is shut down, so s->saw_eof tells whether the
 * backend did it.
 */
static int64_t against(Misbehaviour how, bool is_write, bool closes, Script *s,
                       uint8_t *buf, RdmaBackend **backend_out)
{
    DmsMessageOps ops;
    RdmaBackend *b;
    PeerScripted *ps;
    int64_t r;

    memset(s, 0, sizeof(*s));
    s->how = how;
    peer_pattern(s->data, sizeof(s->data), 12);
    ps = peer_scripted_start(misbehave, s);
    assert_int_equal(rdma_backend_new(dup(ps->fd), &b), 0);
    rdma_backend_get_ops(0, &ops);
    r = is_write ? ops.write(b, 0x100, buf, 32, NULL)
                 : ops.read(b, 0x100, buf, 32, NULL);
    if (closes) {
        peer_scripted_join(ps);
    }
    if (backend_out) {
        *backend_out = b;
    } else {
        rdma_backend_unref(b);
    }
    peer_scripted_free(ps);
    assert_int_equal(s->result, 0);
    return r;
}

/*
 * Every way a reply can fail to match its request is a protocol error:
 * -EPROTO, the connection shut down at once (the server sees EOF), and
 * every later access fails with -ENOTCONN without sending anything.
 */
static void test_backend_refuses_mismatched_or_malformed_replies(void **state)
{
    const Misbehaviour cases[] = {
        REPLY_WRONG_ID,   REPLY_WRONG_OP,       REPLY_WRONG_ADDR,
        REPLY_WRONG_LEN,  REPLY_BAD_MAGIC,      REPLY_OVERSIZED,
        REPLY_REQUEST_OP, REPLY_UNKNOWN_STATUS,
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int is_write = 0; is_write < 2; is_write++) {
            uint8_t buf[32];
            DmsMessageOps ops;
            RdmaBackend *b;
            Script s;
            uint64_t msgs;

            memset(buf, 0x33, sizeof(buf));
            assert_int_equal(against(cases[i], is_write, true, &s, buf, &b),
                             -EPROTO);
            assert_true(s.saw_eof);
            msgs = rdma_backend_get_messages(b);
            assert_int_equal(msgs, 1);
            if (!is_write) {
                /* Nothing from a refused reply reaches the caller. */
                for (size_t k = 0; k < sizeof(buf); k++) {
                    assert_int_equal(buf[k], 0x33);
                }
            }
            rdma_backend_get_ops(0, &ops);
            assert_int_equal(ops.read(b, 0, buf, 8, NULL), -ENOTCONN);
            assert_int_equal(ops.write(b, 0, buf, 8, NULL), -ENOTCONN);
            assert_int_equal(rdma_backend_get_messages(b), msgs);
            rdma_backend_unref(b);
        }
    }
}

static void
test_backend_fails_enotconn_when_server_dies_mid_reply(void **state)
{
    uint8_t buf[32];
    Script s;

    assert_int_equal(against(CLOSE_MID_REPLY, false, false, &s, buf, NULL),
                     -ENOTCONN);
    assert_int_equal(against(CLOSE_BEFORE_REPLY, false, false, &s, buf, NULL),
                     -ENOTCONN);
    assert_int_equal(against(CLOSE_BEFORE_REPLY, true, false, &s, buf, NULL),
                     -ENOTCONN);
}

static void test_backend_fails_enotconn_when_server_is_gone(void **state)
{
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    PeerScripted *ps = peer_scripted_start(close_at_once, NULL);
    size_t len = RDMA_MAX_PAYLOAD;
    uint8_t *data = calloc(1, len);
    DmsMessageOps ops;
    RdmaBackend *b;

    peer_scripted_join(ps);
    assert_int_equal(rdma_backend_new(dup(ps->fd), &b), 0);
    rdma_backend_get_ops(0, &ops);
    /* A megabyte into a closed socket: EPIPE, not SIGPIPE. */
    assert_int_equal(ops.write(b, 0, data, len, NULL), -ENOTCONN);
    assert_int_equal(ops.read(b, 0, data, 8, NULL), -ENOTCONN);
    rdma_backend_unref(b);
    peer_scripted_free(ps);
    free(data);
    signal(SIGPIPE, old);
}

static void test_backend_reassembles_reply_sent_byte_by_byte(void **state)
{
    uint8_t buf[32];
    Script s;

    assert_int_equal(against(REPLY_BYTE_BY_BYTE, false, false, &s, buf, NULL),
                     32);
    assert_memory_equal(buf, s.data, 32);
    assert_int_equal(against(REPLY_BYTE_BY_BYTE, true, false, &s, buf, NULL),
                     32);
}

typedef struct Closer {
    RdmaBackend *backend;
    pthread_t thread;
} Closer;

static void *close_later(void *opaque)
{
    Closer *c = opaque;

    /* Once the request is out, so the close finds it in flight. */
    while (rdma_backend_get_messages(c->backend) == 0) {
        sleep_ms(1);
    }
    sleep_ms(5);
    rdma_backend_close(c->backend);
    return NULL;
}

/* A server that never answers does not hold a request forever once the
 * backend is closed from another thread. */
static void test_backend_close_fails_request_in_flight(void **state)
{
    Script s = {.how = NEVER_REPLY};
    PeerScripted *ps = peer_scripted_start(misbehave, &s);
    DmsMessageOps ops;
    Closer c;
    uint8_t buf[32];

    assert_int_equal(rdma_backend_new(dup(ps->fd), &c.backend), 0);
    rdma_backend_get_ops(0, &ops);
    assert_int_equal(pthread_create(&c.thread, NULL, close_later, &c), 0);
    assert_int_equal(ops.read(c.backend, 0, buf, 32, NULL), -ENOTCONN);
    pthread_join(c.thread, NULL);
    assert_int_equal(ops.read(c.backend, 0, buf, 32, NULL), -ENOTCONN);
    rdma_backend_unref(c.backend);
    peer_scripted_free(ps);
    assert_true(s.saw_eof);
}

static void test_backend_new_checks_arguments(void **state)
{
    RdmaBackend *b = NULL;
    int fd = dup(STDERR_FILENO);

    assert_int_equal(rdma_backend_new(-1, &b), -EINVAL);
    /* The fd is the backend's even on failure: closed, not leaked. */
    assert_int_equal(rdma_backend_new(fd, NULL), -EINVAL);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_null(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_is_little_endian_on_the_wire),
        cmocka_unit_test(test_parse_accepts_every_valid_op),
        cmocka_unit_test(test_parse_rejects_bad_magic),
        cmocka_unit_test(test_parse_rejects_other_versions),
        cmocka_unit_test(test_parse_rejects_unknown_ops),
        cmocka_unit_test(test_parse_rejects_reserved_bits),
        cmocka_unit_test(test_parse_rejects_oversized_lengths),
        cmocka_unit_test(test_parse_rejects_payload_that_does_not_fit_op),
        cmocka_unit_test(test_parse_rejects_bad_status),
        cmocka_unit_test(test_frame_parse_waits_for_the_whole_frame),
        cmocka_unit_test(test_frame_parse_refuses_bad_header_before_payload),
        cmocka_unit_test(test_status_maps_to_errno),

        cmocka_unit_test(test_recv_reassembles_byte_by_byte_sends),
        cmocka_unit_test(
            test_send_completes_partial_sends_on_nonblocking_socket),
        cmocka_unit_test(test_recv_on_nonblocking_socket_waits_for_data),
        cmocka_unit_test(test_io_survives_signals_without_sa_restart),
        cmocka_unit_test(
            test_send_to_closed_peer_fails_enotconn_without_sigpipe),
        cmocka_unit_test(test_recv_reports_bytes_before_eof),
        cmocka_unit_test(test_send_refuses_too_many_iovecs),

        cmocka_unit_test_setup_teardown(test_server_writes_and_reads_memory,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_server_serves_the_last_byte_and_the_largest_payload,
            server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_server_refuses_out_of_range_and_leaves_memory, server_setup,
            server_teardown),
        cmocka_unit_test(test_server_closes_connection_on_bad_frame),
        cmocka_unit_test_setup_teardown(
            test_server_peer_closing_mid_payload_leaves_memory, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(
            test_server_peer_closing_mid_header_is_an_error, server_setup,
            server_teardown),
        cmocka_unit_test_setup_teardown(test_server_clean_close_returns_zero,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(
            test_server_reassembles_request_sent_byte_by_byte, server_setup,
            server_teardown),

        cmocka_unit_test(test_backend_ops_table_is_bulk_with_clamped_limit),
        cmocka_unit_test_setup_teardown(
            test_backend_moves_each_access_in_one_message, backend_setup,
            backend_teardown),
        cmocka_unit_test_setup_teardown(
            test_backend_caps_an_access_at_the_largest_payload, backend_setup,
            backend_teardown),
        cmocka_unit_test_setup_teardown(
            test_backend_maps_range_error_to_efault_and_stays_up,
            backend_setup, backend_teardown),
        cmocka_unit_test_setup_teardown(
            test_backend_serialises_threads_on_one_socket, backend_setup,
            backend_teardown),
        cmocka_unit_test(test_backend_refuses_mismatched_or_malformed_replies),
        cmocka_unit_test(
            test_backend_fails_enotconn_when_server_dies_mid_reply),
        cmocka_unit_test(test_backend_fails_enotconn_when_server_is_gone),
        cmocka_unit_test(test_backend_reassembles_reply_sent_byte_by_byte),
        cmocka_unit_test(test_backend_close_fails_request_in_flight),
        cmocka_unit_test(test_backend_new_checks_arguments),
    };

    return cmocka_run_group_tests_name("remote-dma-proto", tests, NULL, NULL);
}
