/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peers for the remote-dma tests: the real memory server in a thread, and
 * scripted peers that write raw bytes to play a misbehaving server or
 * client. Shared by test-remote-dma-proto.c and test-remote-dma.c.
 */
#ifndef TEST_REMOTE_DMA_PEER_H
#define TEST_REMOTE_DMA_PEER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memdev.h"
#include "proto.h"
#include "server.h"

/* The real server on one end of a socketpair, in a thread. */
typedef struct PeerServer {
    int fd;        /* our end: the client side */
    int server_fd; /* the server thread's end */
    uint8_t *mem;  /* the server's memory, filled by memdev_random_fill() */
    uint8_t *orig; /* a copy of it as it was at start */
    uint64_t mem_size;
    pthread_t thread;
    RdmaServerStats stats; /* read after peer_server_join() */
    int result;            /* rdma_server_serve()'s return value */
} PeerServer;

/* Starts a server over @mem_size bytes of patterned memory. */
PeerServer *peer_server_start(uint64_t mem_size);

/* Waits for the server thread to end; returns its result. */
int peer_server_join(PeerServer *ps);

/* Closes our end if still open, joins, frees everything. */
void peer_server_free(PeerServer *ps);

/* Whether the server's memory is still as it was at start. */
bool peer_server_untouched(const PeerServer *ps);

/* A scripted peer: @fn runs in a thread with the other end of the pair. */
typedef void (*PeerScript)(int fd, void *arg);

typedef struct PeerScripted {
    int fd;      /* our end */
    int peer_fd; /* the script's end, closed by peer_scripted_join() */
    pthread_t thread;
    PeerScript fn;
    void *arg;
} PeerScripted;

PeerScripted *peer_scripted_start(PeerScript fn, void *arg);

/* Joins the script and closes its end; our end stays open. */
void peer_scripted_join(PeerScripted *ps);

/* Joins if needed, closes both ends, frees. */
void peer_scripted_free(PeerScripted *ps);

/*
 * These return 0 or a negative errno rather than assert: scripts run them
 * on their own thread, where a cmocka failure could not unwind.
 */

/* Writes a header (and @f->payload_len bytes of @payload) as given, valid
 * or not. */
int peer_send_frame(int fd, const RdmaFrame *f, const void *payload);

/* Writes @len bytes one at a time, yielding in between. */
int peer_send_slowly(int fd, const void *buf, size_t len);

/* Receives and parses one header. */
int peer_recv_header(int fd, RdmaFrame *f);

/* True if the other end has closed (a read returns EOF); false if data
 * comes instead, or nothing within 10 s. */
bool peer_sees_eof(int fd);

/* A frame of @op for @len bytes at @addr; writes and read replies carry
 * their @len bytes of payload. */
RdmaFrame peer_frame(uint8_t op, uint32_t id, uint64_t addr, uint32_t len);

/* A PeerScript that only closes its end (at once, by returning). */
void peer_close_at_once(int fd, void *arg);

/* Sleeps @ms milliseconds, signals or not. */
void peer_sleep_ms(long ms);

/*
 * One round trip of a worker thread through @target: writes @len bytes of
 * @data at @addr, reads them back into @got. 0 when both calls succeeded.
 */
typedef int (*PeerRoundTrip)(void *target, uint64_t addr, const uint8_t *data,
                             uint8_t *got, size_t len);

/*
 * Runs PEER_THREADS threads at once, each doing @rounds round trips of
 * assorted lengths (1 to 2 KiB) through @fn at its own address, @base +
 * i * 4 KiB. Returns how many round trips failed or read back other bytes.
 */
#define PEER_THREADS 4
unsigned peer_round_trips(PeerRoundTrip fn, void *target, uint64_t base,
                          unsigned rounds);

#endif /* TEST_REMOTE_DMA_PEER_H */
