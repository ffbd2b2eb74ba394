/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A memory server in a thread, reached over a socketpair through the
 * remote-dma example's protocol and backend (examples/remote-dma/): the
 * transport of dms-bench's message DMA figures.
 */
#ifndef DMS_BENCH_REMOTE_H
#define DMS_BENCH_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include <dmaspace/dmaspace.h>

typedef struct BenchRemote BenchRemote;

/*
 * Starts a server thread owning @mem_size bytes (filled with a pattern)
 * and connects a backend to it. Fails the benchmark on error.
 */
BenchRemote *bench_remote_start(uint64_t mem_size);

/*
 * A message region over the whole server memory whose accesses are sent
 * as requests of at most @max_access bytes (0: the protocol's limit).
 * One reference owned by the caller.
 */
DmsRegion *bench_remote_region(BenchRemote *remote, size_t max_access);

/* Requests sent so far. Thread-safe. */
uint64_t bench_remote_messages(const BenchRemote *remote);

/* The server's memory, to verify what moved. */
uint8_t *bench_remote_memory(BenchRemote *remote);

/*
 * Closes the connection, joins the server and checks it answered every
 * request the backend sent, all successfully.
 */
void bench_remote_stop(BenchRemote *remote);

#endif /* DMS_BENCH_REMOTE_H */
