/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The remote-dma example's protocol, without a DmsSpace: the frame
 * parser and encoder, and the socket I/O helpers.
 * Real threads and real sockets throughout; every exact error code the
 * protocol promises is asserted. The peers are in remote-dma-peer.c;
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

/* ---- parser and encoder ---------------------------------------------- */

static int parse_encoded(const RdmaFrame *f)
{
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    rdma_header_encode(f, hdr);
    return rdma_header_parse(hdr, sizeof(hdr), &out);
}

static void test_header_is_little_endian_on_the_wire(void **state)
{
    RdmaFrame f =
        peer_frame(RDMA_OP_WRITE, 0x11223344, 0x0102030405060708, 0x10);
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
    RdmaFrame ok_reply = peer_frame(RDMA_OP_READ_REPLY, 1, 0, 8);
    RdmaFrame err_reply = peer_frame(RDMA_OP_READ_REPLY, 1, 0, 8);
    RdmaFrame wr_reply = peer_frame(RDMA_OP_WRITE_REPLY, 1, 0, 8);

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
    RdmaFrame f = peer_frame(RDMA_OP_READ, 1, 0, 8);
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
    RdmaFrame f = peer_frame(RDMA_OP_READ, 1, 0, 8);
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
    RdmaFrame f = peer_frame(RDMA_OP_READ, 1, 0, 8);
    uint8_t hdr[RDMA_HEADER_SIZE];
    RdmaFrame out;

    for (unsigned byte = 6; byte < 8; byte++) {
        rdma_header_encode(&f, hdr);
        hdr[byte] = 0x01;
        assert_int_equal(rdma_header_parse(hdr, sizeof(hdr), &out), -EBADMSG);
    }
}

/*
 * A header to parse: peer_frame(@op, 1, 0, @len), then @payload_len and
 * @status as given (KEEP: as peer_frame() set them).
 */
#define KEEP UINT32_MAX
typedef struct ParseCase {
    const char *what;
    uint8_t op;
    uint32_t len, payload_len, status;
    int want;
} ParseCase;

/* Each case's header, encoded, must parse with its @want result. */
static void parse_cases(const ParseCase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ParseCase *c = &cases[i];
        RdmaFrame f = peer_frame(c->op, 1, 0, c->len);
        int got;

        if (c->payload_len != KEEP)
            f.payload_len = c->payload_len;
        if (c->status != KEEP)
            f.status = (uint8_t)c->status;
        got = parse_encoded(&f);
        if (got != c->want)
            fail_msg("%s: %d, want %d", c->what, got, c->want);
    }
}

static void test_parse_rejects_oversized_lengths(void **state)
{
    static const ParseCase cases[] = {
        {"max write", RDMA_OP_WRITE, RDMA_MAX_PAYLOAD, KEEP, KEEP, 0},
        {"big write", RDMA_OP_WRITE, RDMA_MAX_PAYLOAD + 1, KEEP, KEEP,
         -EMSGSIZE},
        {"big read", RDMA_OP_READ, RDMA_MAX_PAYLOAD + 1, KEEP, KEEP,
         -EMSGSIZE},
        {"big payload", RDMA_OP_READ, 8, RDMA_MAX_PAYLOAD + 1, KEEP,
         -EMSGSIZE},
        {"huge", RDMA_OP_WRITE, UINT32_MAX, KEEP, KEEP, -EMSGSIZE},
    };

    parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_rejects_payload_that_does_not_fit_op(void **state)
{
    static const ParseCase cases[] = {
        {"write short", RDMA_OP_WRITE, 16, 15, KEEP, -EBADMSG},
        {"read with data", RDMA_OP_READ, 16, 16, KEEP, -EBADMSG},
        {"error with data", RDMA_OP_READ_REPLY, 16, KEEP, RDMA_STATUS_RANGE,
         -EBADMSG},
        {"ok without data", RDMA_OP_READ_REPLY, 16, 0, KEEP, -EBADMSG},
        {"write reply with data", RDMA_OP_WRITE_REPLY, 16, 16, KEEP, -EBADMSG},
    };

    parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_rejects_bad_status(void **state)
{
    static const ParseCase cases[] = {
        {"request with status", RDMA_OP_READ, 8, KEEP, RDMA_STATUS_RANGE,
         -EBADMSG},
        {"unknown status", RDMA_OP_WRITE_REPLY, 8, KEEP, RDMA_STATUS_LAST + 1,
         -EBADMSG},
    };

    parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * Each prefix is parsed from a heap buffer of exactly its length, so
 * ASan reports any read past what the parser was given.
 */
static void test_frame_parse_waits_for_the_whole_frame(void **state)
{
    RdmaFrame f = peer_frame(RDMA_OP_WRITE, 9, 0x1000, 40);
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
    RdmaFrame f = peer_frame(RDMA_OP_WRITE, 1, 0, RDMA_MAX_PAYLOAD + 1);
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

/*
 * A peer that moves @len bytes of @buf in pieces of @chunk bytes,
 * pausing @pause_ms after each (0: none); @result is the first error.
 */
typedef struct Chunks {
    uint8_t *buf;
    size_t len;
    size_t chunk;
    long pause_ms;
    int result;
} Chunks;

static void move_in_chunks(int fd, Chunks *c, bool send)
{
    c->result = 0;
    for (size_t off = 0; off < c->len && c->result == 0; off += c->chunk) {
        struct iovec iov = {
            .iov_base = c->buf + off,
            .iov_len = c->len - off < c->chunk ? c->len - off : c->chunk,
        };

        c->result = send ? rdma_io_send(fd, &iov, 1)
                         : rdma_io_recv(fd, iov.iov_base, iov.iov_len, NULL);
        if (c->pause_ms) {
            peer_sleep_ms(c->pause_ms);
        }
    }
}

static void send_in_chunks(int fd, void *arg)
{
    move_in_chunks(fd, arg, true);
}

static void read_in_chunks(int fd, void *arg)
{
    move_in_chunks(fd, arg, false);
}

static void test_recv_reassembles_byte_by_byte_sends(void **state)
{
    uint8_t data[300], got[300];
    Chunks c = {.buf = data, .len = sizeof(data), .chunk = 1};
    PeerScripted *ps;
    size_t n = 0;

    memdev_random_fill(data, sizeof(data), 1);
    ps = peer_scripted_start(send_in_chunks, &c);
    assert_int_equal(rdma_io_recv(ps->fd, got, sizeof(got), &n), 0);
    assert_int_equal(n, sizeof(got));
    assert_memory_equal(got, data, sizeof(data));
    peer_scripted_join(ps);
    assert_int_equal(c.result, 0);
    peer_scripted_free(ps);
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
    Chunks s = {.buf = got, .len = sizeof(hdr) + plen, .chunk = 4093};
    struct iovec iov[3] = {
        {.iov_base = hdr, .iov_len = sizeof(hdr)},
        {.iov_base = NULL, .iov_len = 0},
        {.iov_base = payload, .iov_len = plen},
    };
    int sndbuf = 4096;
    PeerScripted *ps;

    memdev_random_fill(hdr, sizeof(hdr), 2);
    memdev_random_fill(payload, plen, 3);
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
        .buf = data, .len = sizeof(data), .chunk = 1000, .pause_ms = 5};
    PeerScripted *ps;

    memdev_random_fill(data, sizeof(data), 4);
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
        peer_sleep_ms(1);
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
    Chunks c = {.buf = data, .len = len, .chunk = 64 * 1024, .pause_ms = 2};
    Chunks s = {.buf = got, .len = len, .chunk = 16384, .pause_ms = 1};
    Interrupter in = {.target = pthread_self()};
    PeerScripted *ps;

    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    signals_seen = 0;
    memdev_random_fill(data, len, 5);
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

/* SIGPIPE keeps its default action here: raising it would kill us. */
static void
test_send_to_closed_peer_fails_enotconn_without_sigpipe(void **state)
{
    uint8_t data[65536] = {0};
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    PeerScripted *ps = peer_scripted_start(peer_close_at_once, NULL);

    peer_scripted_join(ps);
    assert_int_equal(rdma_io_send(ps->fd, &iov, 1), -ENOTCONN);
    assert_int_equal(rdma_io_send(ps->fd, &iov, 1), -ENOTCONN);
    peer_scripted_free(ps);
    signal(SIGPIPE, old);
}

static void test_recv_reports_bytes_before_eof(void **state)
{
    uint8_t data[5] = {1, 2, 3, 4, 5}, got[10];
    Chunks c = {.buf = data, .len = sizeof(data), .chunk = 2};
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
    };

    return cmocka_run_group_tests_name("remote-dma-proto", tests, NULL, NULL);
}
