/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The remote-dma example's backend callbacks against the real server or
 * a scripted misbehaving one.
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

        memdev_random_fill(data, len, 10 + i);
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

    memdev_random_fill(data, len, 11);
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

static int backend_round_trip(void *target, uint64_t addr, const uint8_t *data,
                              uint8_t *got, size_t len)
{
    BackendFixture *f = target;

    return f->ops.write(f->backend, addr, data, len, NULL) != (int64_t)len ||
           f->ops.read(f->backend, addr, got, len, NULL) != (int64_t)len;
}

/* Threads share one connection; frames never interleave. */
static void test_backend_serialises_threads_on_one_socket(void **state)
{
    BackendFixture *f = *state;

    assert_int_equal(peer_round_trips(backend_round_trip, f, 0, 200), 0);
    assert_int_equal(rdma_backend_get_messages(f->backend),
                     PEER_THREADS * 200 * 2);

    close(f->server->fd);
    f->server->fd = -1;
    rdma_backend_close(f->backend);
    assert_int_equal(peer_server_join(f->server), 0);
    assert_int_equal(f->server->stats.requests, PEER_THREADS * 200 * 2);
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
    memdev_random_fill(s->data, sizeof(s->data), 12);
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
    PeerScripted *ps = peer_scripted_start(peer_close_at_once, NULL);
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
        peer_sleep_ms(1);
    }
    peer_sleep_ms(5);
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

    return cmocka_run_group_tests_name("remote-dma-backend", tests, NULL,
                                       NULL);
}
