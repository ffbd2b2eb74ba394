/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Message DMA: reads and writes of memory that only a remote peer holds,
 * over a real socket to a server thread (bench-remote.c).
 *
 * Two windows onto the same server memory: one whose backend takes whole
 * runs (one request per transfer, up to the protocol's 1 MiB), one with
 * max_access = 8, which is what QEMU does to every access of an I/O
 * region: one round trip per 8 bytes. The 8-byte window is the baseline.
 *
 * Messages per transfer are counted, not timed: a separate pass makes a
 * known number of transfers and reads the backend's request counter, and
 * verifies every byte that moved.
 */
#include <string.h>

#include "bench-remote.h"
#include "bench.h"
#include "layout.h"

#define MSG_MEM_SIZE (1u << 20)
#define WHOLE_BASE UINT64_C(0x100000000)
#define PIECE_BASE UINT64_C(0x200000000)
#define PIECE_SIZE 8

/*
 * Round trips one timed sample of the 8-byte window may make: its
 * transfers are 1/8 of their size in round trips (a 1 MiB one is 131,072
 * of them, seconds on this machine), so they are timed over fewer
 * transfers than the whole-run window.
 */
#define PIECE_TRIPS_FULL 2048
#define PIECE_TRIPS_QUICK 512

typedef struct MsgSetup {
    BenchRemote *remote;
    DmsSpace *space;
} MsgSetup;

static void msg_setup(MsgSetup *s)
{
    DmsRegion *whole, *piece;

    s->remote = bench_remote_start(MSG_MEM_SIZE);
    whole = bench_remote_region(s->remote, 0);
    piece = bench_remote_region(s->remote, PIECE_SIZE);
    bench_check(
        layout_space_new(
            "message",
            (const LayoutPiece[]){
                {.kind = LAYOUT_REGION, .addr = WHOLE_BASE, .region = whole},
                {.kind = LAYOUT_REGION, .addr = PIECE_BASE, .region = piece},
                {.kind = LAYOUT_END},
            },
            0, &s->space, NULL),
        "layout_space_new");
    dms_region_unref(whole);
    dms_region_unref(piece);
}

static void msg_teardown(MsgSetup *s)
{
    dms_space_unref(s->space);
    bench_remote_stop(s->remote);
}

/*
 * Makes one transfer of @m with fresh data and checks every byte against
 * the server's memory. Returns the messages it took.
 */
static double count_and_verify(BenchRemote *remote, BenchRw *m, uint8_t seed)
{
    uint8_t *mem = bench_remote_memory(remote);
    uint64_t before;

    if (m->write) {
        for (size_t i = 0; i < m->size; i++)
            m->buf[i] = (uint8_t)(seed + i * 13);
    } else {
        memset(m->buf, 0, m->size);
    }
    before = bench_remote_messages(remote);
    bench_read_write(m, 1);
    /*
     * The server wrote its memory before it replied, and the reply was
     * received before the transfer returned: the bytes are there to check.
     */
    if (memcmp(m->buf, mem, m->size) != 0)
        bench_fail("message: %s of %zu bytes moved wrong data",
                   m->write ? "write" : "read", m->size);
    return (double)(bench_remote_messages(remote) - before);
}

static const size_t msg_sizes[] = {8, 64, 512, 4096, 65536, 1u << 20};

static void msg_size(const BenchOptions *o, MsgSetup *s, size_t size,
                     bool write, uint8_t *buf)
{
    uint64_t trips_per_op = (size + PIECE_SIZE - 1) / PIECE_SIZE;
    uint64_t cap = o->quick ? PIECE_TRIPS_QUICK : PIECE_TRIPS_FULL;
    BenchRw whole = {"message", s->space, WHOLE_BASE, buf, size, write};
    BenchRw piece = {"message", s->space, PIECE_BASE, buf, size, write};
    BenchSpec specs[2] = {
        {.fn = bench_read_write, .ctx = &whole},
        {
            .fn = bench_read_write,
            .ctx = &piece,
            .max_iters = MAX(1, cap / trips_per_op),
            /* One transfer over the cap: a few samples, or one. */
            .max_repeats = trips_per_op <= cap                  ? 0
                           : o->quick || trips_per_op > 8 * cap ? 1
                                                                : 3,
        },
    };
    double ns[2], msgs_whole, msgs_piece;

    msgs_whole = count_and_verify(s->remote, &whole, (uint8_t)size);
    msgs_piece = count_and_verify(s->remote, &piece, (uint8_t)(size + 1));
    bench_run(o, specs, 2, ns);

    bench_report(o, &(BenchResult){
                        .bench = write ? "message-write" : "message-read",
                        .mode = "8-byte",
                        .size = size,
                        .ns_per_op = ns[1],
                        .msgs_per_op = msgs_piece,
                        .target_msgs = size == 4096 ? 512 : 0,
                    });
    bench_report(o, &(BenchResult){
                        .bench = write ? "message-write" : "message-read",
                        .mode = "whole",
                        .size = size,
                        .ns_per_op = ns[0],
                        .msgs_per_op = msgs_whole,
                        .baseline_ns = ns[1],
                        .baseline = "8-byte pieces",
                        .target_msgs = size == 4096 ? 1 : 0,
                        .target_ratio = size == 4096 ? 50 : 0,
                    });
}

void bench_message(const BenchOptions *o)
{
    MsgSetup s;
    uint8_t *buf = g_malloc(MSG_MEM_SIZE);

    msg_setup(&s);
    for (size_t i = 0; i < G_N_ELEMENTS(msg_sizes); i++) {
        /* A quick run stops the 8-byte mode's seconds-long sizes. */
        if (o->quick && msg_sizes[i] > 4096)
            break;
        msg_size(o, &s, msg_sizes[i], false, buf);
        msg_size(o, &s, msg_sizes[i], true, buf);
    }
    msg_teardown(&s);
    g_free(buf);
}

/*
 * Two threads reading 4 KiB at once, each from its own server over its
 * own socket, through one space, against one thread: whether the library
 * lets independent transports proceed in parallel (2 at best; the server
 * threads share the same two cores).
 */
void bench_message_threads(const BenchOptions *o)
{
    MsgSetup s[2];
    BenchRw dma[2];
    BenchParallel one = {.fn = bench_read_write, .threads = 1};
    BenchParallel two = {.fn = bench_read_write, .threads = 2};
    LayoutPiece pieces[3] = {{.kind = LAYOUT_END}};
    DmsSpace *space;
    double ns[2];

    for (int t = 0; t < 2; t++) {
        s[t].remote = bench_remote_start(MSG_MEM_SIZE);
        pieces[t] = (LayoutPiece){
            .kind = LAYOUT_REGION,
            .addr = WHOLE_BASE * (t + 1),
            .region = bench_remote_region(s[t].remote, 0),
        };
    }
    bench_check(layout_space_new("threads", pieces, 0, &space, NULL),
                "layout_space_new");
    for (int t = 0; t < 2; t++)
        dms_region_unref(pieces[t].region);
    for (int t = 0; t < 2; t++) {
        dma[t] = (BenchRw){.what = "threads",
                           .space = space,
                           .addr = WHOLE_BASE * (t + 1),
                           .buf = g_malloc(4096),
                           .size = 4096};
        if (count_and_verify(s[t].remote, &dma[t], 0) != 1)
            bench_fail("threads: a 4 KiB read took more than one message");
        two.ctx[t] = &dma[t];
    }
    one.ctx[0] = &dma[0];

    bench_run_threads(o, &two, &one, ns);
    bench_report(o, &(BenchResult){
                        .bench = "threads-message",
                        .mode = "whole-read",
                        .size = 4096,
                        .threads = 2,
                        .ns_per_op = ns[0] / 2,
                        .msgs_per_op = 1,
                        .baseline_ns = ns[1],
                        .baseline = "1 thread",
                    });

    dms_space_unref(space);
    for (int t = 0; t < 2; t++) {
        g_free(dma[t].buf);
        bench_remote_stop(s[t].remote);
    }
}
