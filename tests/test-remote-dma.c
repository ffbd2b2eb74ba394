/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The remote-dma backend under a DmsSpace: message counts per transfer
 * (one per contiguous run, or one per 8 bytes through an 8-byte window),
 * every byte landing in the server's memory, and each protocol failure
 * reaching the device model as an exact error code from dms_space_read(),
 * dms_space_write(), dms_space_map() and dms_space_unmap(), with the
 * process alive and the server's memory untouched where it should be.
 * test-remote-dma-proto.c tests the pieces on their own.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <dmaspace/dmaspace.h>

#include "backend.h"
#include "proto.h"
#include "remote-dma-peer.h"
#include "server.h"
#include "tc.h"

#define MEM_SIZE (2 * RDMA_MAX_PAYLOAD + 8192)

/* The windows, in the space. */
#define WHOLE_BASE UINT64_C(0x10000)      /* max_access 1 MiB */
#define PIECE_BASE UINT64_C(0x10000000)   /* max_access 8 */
#define OVERSIZE_BASE UINT64_C(0x2000000) /* claims twice the memory */

typedef struct Fixture {
    PeerServer *server;     /* NULL when a scripted peer plays it */
    PeerScripted *scripted; /* NULL when the real server runs */
    RdmaBackend *backend;
    DmsSpace *space;
} Fixture;

static DmsRegion *window(RdmaBackend *b, uint64_t size, size_t max_access)
{
    DmsRegion *r = NULL;

    assert_int_equal(rdma_backend_new_region(b, "win", size, max_access, &r),
                     0);
    return r;
}

/* A space with the three windows over the connection @fd. */
static void build_space(Fixture *f, int fd, uint64_t mem_size)
{
    LayoutPiece pieces[] = {
        {.kind = LAYOUT_REGION, .addr = WHOLE_BASE},
        {.kind = LAYOUT_REGION, .addr = PIECE_BASE},
        {.kind = LAYOUT_REGION, .addr = OVERSIZE_BASE},
        {.kind = LAYOUT_END},
    };

    assert_int_equal(rdma_backend_new(fd, &f->backend), 0);
    pieces[0].region = window(f->backend, mem_size, 0);
    pieces[1].region = window(f->backend, mem_size, 8);
    pieces[2].region = window(f->backend, 2 * mem_size, 0);
    f->space = tc_space("remote", pieces, 0, NULL);
    for (int i = 0; i < 3; i++)
        dms_region_unref(pieces[i].region);
}

static int setup_server(void **state)
{
    Fixture *f = calloc(1, sizeof(*f));

    f->server = peer_server_start(MEM_SIZE);
    build_space(f, dup(f->server->fd), MEM_SIZE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    if (f->backend) {
        rdma_backend_close(f->backend);
    }
    dms_space_unref(f->space);
    rdma_backend_unref(f->backend);
    if (f->server) {
        peer_server_free(f->server);
    }
    if (f->scripted) {
        peer_scripted_free(f->scripted);
    }
    free(f);
    return 0;
}

static uint64_t msgs(const Fixture *f)
{
    return rdma_backend_get_messages(f->backend);
}

/* Writes a pattern at @addr (a window address for server offset @off)
 * and reads it back; returns the messages each direction took. */
static uint64_t roundtrip(Fixture *f, uint64_t addr, uint64_t off, size_t len)
{
    uint8_t *data = malloc(len), *got = malloc(len);
    uint64_t m0, m1;
    size_t done = 0;

    memdev_random_fill(data, len, len + off);
    m0 = msgs(f);
    assert_int_equal(dms_space_write(f->space, addr, data, len, NULL, &done),
                     0);
    assert_int_equal(done, len);
    m1 = msgs(f);
    assert_memory_equal(f->server->mem + off, data, len);

    memset(got, 0, len);
    assert_int_equal(dms_space_read(f->space, addr, got, len, NULL, &done), 0);
    assert_int_equal(done, len);
    assert_memory_equal(got, data, len);
    assert_int_equal(msgs(f) - m1, m1 - m0);
    free(got);
    free(data);
    return m1 - m0;
}

static void test_whole_run_takes_one_message_per_transfer(void **state)
{
    Fixture *f = *state;
    const size_t sizes[] = {1, 8, 13, 4096, 65536, RDMA_MAX_PAYLOAD};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t off = 4093 + i; /* unaligned on purpose */

        assert_int_equal(roundtrip(f, WHOLE_BASE + off, off, sizes[i]), 1);
    }
}

/* Past the backend's limit, the library cuts exactly at it. */
static void test_transfer_above_max_payload_takes_two_messages(void **state)
{
    Fixture *f = *state;

    assert_int_equal(roundtrip(f, WHOLE_BASE + 5, 5, RDMA_MAX_PAYLOAD + 1), 2);
    assert_int_equal(roundtrip(f, WHOLE_BASE, 0, 2 * RDMA_MAX_PAYLOAD), 2);
}

static void test_8_byte_window_takes_one_message_per_8_bytes(void **state)
{
    Fixture *f = *state;

    /* QEMU's 512 round trips for one 4 KiB block. */
    assert_int_equal(roundtrip(f, PIECE_BASE + 4096, 4096, 4096), 512);
    assert_int_equal(roundtrip(f, PIECE_BASE + 3, 3, 12345), 1544);
    assert_int_equal(roundtrip(f, PIECE_BASE + 100, 100, 5), 1);
}

/* Both windows show the same memory. */
static void test_windows_see_each_others_writes(void **state)
{
    Fixture *f = *state;
    uint8_t data[256], got[256];

    memdev_random_fill(data, sizeof(data), 42);
    assert_int_equal(dms_space_write(f->space, WHOLE_BASE + 512, data,
                                     sizeof(data), NULL, NULL),
                     0);
    assert_int_equal(dms_space_read(f->space, PIECE_BASE + 512, got,
                                    sizeof(got), NULL, NULL),
                     0);
    assert_memory_equal(got, data, sizeof(data));
}

/*
 * The oversize window claims addresses the server does not have: the
 * server answers RANGE, the device model sees -EFAULT, nothing is written.
 */
static void test_access_past_server_memory_fails_efault(void **state)
{
    Fixture *f = *state;
    uint8_t data[64], got[64];
    size_t done = 99;

    memset(data, 0xab, sizeof(data));
    memset(got, 0xcd, sizeof(got));
    assert_int_equal(dms_space_write(f->space, OVERSIZE_BASE + MEM_SIZE - 8,
                                     data, 16, NULL, &done),
                     -EFAULT);
    assert_int_equal(done, 0);
    assert_int_equal(dms_space_write(f->space, OVERSIZE_BASE + MEM_SIZE, data,
                                     sizeof(data), NULL, NULL),
                     -EFAULT);
    assert_int_equal(dms_space_read(f->space, OVERSIZE_BASE + MEM_SIZE + 8,
                                    got, sizeof(got), NULL, &done),
                     -EFAULT);
    assert_int_equal(done, 0);
    assert_int_equal(got[0], 0xcd);
    assert_true(peer_server_untouched(f->server));

    /* The connection is fine: an error reply is not a protocol error. */
    assert_int_equal(roundtrip(f, OVERSIZE_BASE + 64, 64, 64), 1);
}

static void test_bounce_maps_move_data_in_one_message(void **state)
{
    Fixture *f = *state;
    uint64_t addr = WHOLE_BASE + 8192 + 3;
    uint8_t data[4096];
    size_t len = sizeof(data);
    uint64_t m0 = msgs(f);
    void *host;

    /* From device: nothing moves until unmap, then one write message. */
    memdev_random_fill(data, sizeof(data), 7);
    assert_int_equal(
        dms_space_map(f->space, addr, &len, DMS_DIR_FROM_DEVICE, NULL, &host),
        0);
    assert_int_equal(len, sizeof(data));
    memcpy(host, data, len);
    assert_int_equal(msgs(f), m0);
    assert_true(peer_server_untouched(f->server));
    assert_int_equal(
        dms_space_unmap(f->space, host, len, DMS_DIR_FROM_DEVICE, len), 0);
    assert_int_equal(msgs(f), m0 + 1);
    assert_memory_equal(f->server->mem + 8192 + 3, data, len);

    /* To device: one read message at map time. */
    assert_int_equal(
        dms_space_map(f->space, addr, &len, DMS_DIR_TO_DEVICE, NULL, &host),
        0);
    assert_int_equal(msgs(f), m0 + 2);
    assert_memory_equal(host, data, len);
    assert_int_equal(
        dms_space_unmap(f->space, host, len, DMS_DIR_TO_DEVICE, len), 0);
    assert_int_equal(msgs(f), m0 + 2);
}

static void test_bounce_map_reports_server_range_error(void **state)
{
    Fixture *f = *state;
    size_t len = 4096;
    void *host = NULL;

    assert_int_equal(dms_space_map(f->space, OVERSIZE_BASE + MEM_SIZE, &len,
                                   DMS_DIR_TO_DEVICE, NULL, &host),
                     -EFAULT);
    assert_int_equal(len, 0);
}

/* The server goes away with a bounce mapping open: the write-back fails
 * with -ENOTCONN and the mapping is released anyway. */
static void test_unmap_write_back_to_dead_server_fails_enotconn(void **state)
{
    Fixture *f = *state;
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    size_t len = 4096;
    DmsSpaceStats st = {.size = sizeof(st)};
    void *host;

    assert_int_equal(dms_space_map(f->space, WHOLE_BASE, &len,
                                   DMS_DIR_FROM_DEVICE, NULL, &host),
                     0);
    memset(host, 0x11, len);
    /* The server hangs up: a clean close between frames. */
    shutdown(f->server->server_fd, SHUT_RDWR);
    assert_int_equal(peer_server_join(f->server), 0);

    assert_int_equal(
        dms_space_unmap(f->space, host, len, DMS_DIR_FROM_DEVICE, len),
        -ENOTCONN);
    assert_int_equal(dms_space_get_stats(f->space, &st), 0);
    assert_int_equal(st.bounce_in_use, 0);
    assert_true(peer_server_untouched(f->server));
    signal(SIGPIPE, old);
}

/* A server that answers @good write requests, then drops the line. */
static void die_after_some_writes(int fd, void *arg)
{
    unsigned good = *(unsigned *)arg;
    uint8_t payload[64];

    for (unsigned n = 0;; n++) {
        RdmaFrame req, reply;

        if (peer_recv_header(fd, &req) < 0 || req.payload_len > 64 ||
            rdma_io_recv(fd, payload, req.payload_len, NULL) < 0) {
            return;
        }
        if (n == good) {
            shutdown(fd, SHUT_RDWR);
            return;
        }
        reply = req;
        reply.op |= RDMA_OP_REPLY;
        reply.payload_len = 0;
        if (peer_send_frame(fd, &reply, NULL) < 0) {
            return;
        }
    }
}

static int setup_dying(void **state)
{
    static unsigned good = 100;
    Fixture *f = calloc(1, sizeof(*f));

    f->scripted = peer_scripted_start(die_after_some_writes, &good);
    build_space(f, dup(f->scripted->fd), MEM_SIZE);
    *state = f;
    return 0;
}

/*
 * A 4 KiB write through the 8-byte window is 512 messages; the server dies
 * after answering 100. The DMA fails with -ENOTCONN, reports the 800 bytes
 * that made it, later DMA fails at once, and the process lives on (SIGPIPE
 * keeps its default action: raising it would kill the test).
 */
static void test_server_dying_mid_transfer_fails_dma_enotconn(void **state)
{
    Fixture *f = *state;
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    uint8_t data[4096] = {0}, got[8];
    size_t done = 0;

    assert_int_equal(
        dms_space_write(f->space, PIECE_BASE, data, sizeof(data), NULL, &done),
        -ENOTCONN);
    assert_int_equal(done, 100 * 8);
    assert_int_equal(msgs(f), 101);

    assert_int_equal(
        dms_space_write(f->space, WHOLE_BASE, data, sizeof(data), NULL, &done),
        -ENOTCONN);
    assert_int_equal(done, 0);
    assert_int_equal(
        dms_space_read(f->space, WHOLE_BASE, got, sizeof(got), NULL, NULL),
        -ENOTCONN);
    assert_int_equal(msgs(f), 101);
    signal(SIGPIPE, old);
}

/* Answers one request with another request's id. */
static void reply_with_wrong_id(int fd, void *arg)
{
    uint8_t payload[64] = {0};
    RdmaFrame req, reply;

    if (peer_recv_header(fd, &req) < 0 || req.payload_len > 64 ||
        rdma_io_recv(fd, payload, req.payload_len, NULL) < 0) {
        return;
    }
    reply = req;
    reply.op |= RDMA_OP_REPLY;
    reply.id = req.id + 1;
    reply.payload_len = reply.op == RDMA_OP_READ_REPLY ? reply.len : 0;
    peer_send_frame(fd, &reply, payload);
    *(bool *)arg = peer_sees_eof(fd);
}

static void test_mismatched_reply_fails_dma_eproto_and_closes(void **state)
{
    Fixture f = {0};
    bool saw_eof = false;
    uint8_t got[8];

    f.scripted = peer_scripted_start(reply_with_wrong_id, &saw_eof);
    build_space(&f, dup(f.scripted->fd), MEM_SIZE);

    memset(got, 0x5e, sizeof(got));
    assert_int_equal(
        dms_space_read(f.space, WHOLE_BASE, got, sizeof(got), NULL, NULL),
        -EPROTO);
    assert_int_equal(got[0], 0x5e);
    /* The backend closed the connection by itself. */
    peer_scripted_join(f.scripted);
    assert_true(saw_eof);
    assert_int_equal(
        dms_space_read(f.space, WHOLE_BASE, got, sizeof(got), NULL, NULL),
        -ENOTCONN);

    rdma_backend_close(f.backend);
    dms_space_unref(f.space);
    rdma_backend_unref(f.backend);
    peer_scripted_free(f.scripted);
}

static int space_round_trip(void *target, uint64_t addr, const uint8_t *data,
                            uint8_t *got, size_t len)
{
    DmsSpace *space = target;

    return dms_space_write(space, WHOLE_BASE + addr, data, len, NULL, NULL) ||
           dms_space_read(space, WHOLE_BASE + addr, got, len, NULL, NULL);
}

static void test_threads_share_one_connection(void **state)
{
    Fixture *f = *state;

    assert_int_equal(peer_round_trips(space_round_trip, f->space, 0, 150), 0);
    assert_int_equal(msgs(f), PEER_THREADS * 150 * 2);
}

/*
 * Each region holds a reference on the backend: the connection stays open
 * after the caller's own reference is gone, and closes (the server sees
 * EOF) when the last region is destroyed.
 */
static void test_regions_keep_backend_until_destroyed(void **state)
{
    PeerServer *ps = peer_server_start(4096);
    RdmaBackend *b;
    DmsRegion *r;
    DmsSpace *space;
    uint8_t byte = 0x42, got = 0;

    assert_int_equal(rdma_backend_new(ps->fd, &b), 0);
    ps->fd = -1; /* the backend's now */
    assert_int_equal(rdma_backend_new_region(b, "r", 4096, 0, &r), 0);
    rdma_backend_unref(b);
    assert_int_equal(dms_space_new(r, "s", &space), 0);
    dms_region_unref(r);

    assert_int_equal(dms_space_write(space, 7, &byte, 1, NULL, NULL), 0);
    assert_int_equal(dms_space_read(space, 7, &got, 1, NULL, NULL), 0);
    assert_int_equal(got, 0x42);

    dms_space_unref(space);
    /* Clean EOF after the last region went: the fd was closed. */
    assert_int_equal(peer_server_join(ps), 0);
    assert_int_equal(ps->stats.requests, 2);
    peer_server_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_whole_run_takes_one_message_per_transfer, setup_server,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_transfer_above_max_payload_takes_two_messages, setup_server,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_8_byte_window_takes_one_message_per_8_bytes, setup_server,
            teardown),
        cmocka_unit_test_setup_teardown(test_windows_see_each_others_writes,
                                        setup_server, teardown),
        cmocka_unit_test_setup_teardown(
            test_access_past_server_memory_fails_efault, setup_server,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_bounce_maps_move_data_in_one_message, setup_server, teardown),
        cmocka_unit_test_setup_teardown(
            test_bounce_map_reports_server_range_error, setup_server,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_unmap_write_back_to_dead_server_fails_enotconn, setup_server,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_server_dying_mid_transfer_fails_dma_enotconn, setup_dying,
            teardown),
        cmocka_unit_test(test_mismatched_reply_fails_dma_eproto_and_closes),
        cmocka_unit_test_setup_teardown(test_threads_share_one_connection,
                                        setup_server, teardown),
        cmocka_unit_test(test_regions_keep_backend_until_destroyed),
    };

    return cmocka_run_group_tests_name("remote-dma", tests, NULL, NULL);
}
