/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The remote-dma example's memory server against a raw-byte client.
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
    RdmaFrame w = peer_frame(RDMA_OP_WRITE, 7, 1000, 3000);
    RdmaFrame rd = peer_frame(RDMA_OP_READ, 8, 999, 3002);
    uint8_t data[3000], got[3002];

    memdev_random_fill(data, sizeof(data), 6);
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
    RdmaFrame last = peer_frame(RDMA_OP_READ, 1, MEM_SIZE - 1, 1);
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
        RdmaFrame w = peer_frame(RDMA_OP_WRITE, id, bad[i].addr, len);
        RdmaFrame rd = peer_frame(RDMA_OP_READ, id + 1, bad[i].addr, len);

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
        RdmaFrame z = peer_frame(RDMA_OP_WRITE, 5, 0, 0);

        assert_int_equal(peer_send_frame(ps->fd, &z, NULL), 0);
        expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, 5, RDMA_STATUS_INVALID, 0,
                     0);
    }
    /* Still serving. */
    {
        RdmaFrame w = peer_frame(RDMA_OP_WRITE, 6, 0, 8);

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
    RdmaFrame read8 = peer_frame(RDMA_OP_READ, 1, 0, 8);
    RdmaFrame big = peer_frame(RDMA_OP_WRITE, 1, 0, RDMA_MAX_PAYLOAD + 1);
    RdmaFrame reply = peer_frame(RDMA_OP_WRITE_REPLY, 1, 0, 8);
    RdmaFrame unknown = peer_frame(0x05, 1, 0, 8);
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
    RdmaFrame w = peer_frame(RDMA_OP_WRITE, 1, 0, 4096);
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
    RdmaFrame rd = peer_frame(RDMA_OP_READ, 1, 0, 8);
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
    RdmaFrame w = peer_frame(RDMA_OP_WRITE, 3, 12, 20);
    uint8_t wire[RDMA_HEADER_SIZE + 20];

    rdma_header_encode(&w, wire);
    memdev_random_fill(wire + RDMA_HEADER_SIZE, 20, 7);
    assert_int_equal(peer_send_slowly(ps->fd, wire, sizeof(wire)), 0);
    expect_reply(ps->fd, RDMA_OP_WRITE_REPLY, 3, RDMA_STATUS_OK, 12, 20);
    assert_memory_equal(ps->mem + 12, wire + RDMA_HEADER_SIZE, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };

    return cmocka_run_group_tests_name("remote-dma-server", tests, NULL, NULL);
}
