/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The message transport of dms-bench: the remote-dma example's server in
 * a thread and its backend, joined by a socketpair. Using the example's
 * code means the figures are those of a real framed protocol with a
 * header per request, not of a toy.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "bench-remote.h"
#include "bench.h"
#include "server.h"

struct BenchRemote {
    RdmaBackend *backend;
    int server_fd;
    uint8_t *mem;
    uint64_t mem_size;
    GThread *thread;
    RdmaServerStats stats; /* written by the server thread until joined */
    int result;
};

static void *server_main(void *opaque)
{
    BenchRemote *remote = opaque;

    remote->result = rdma_server_serve(remote->server_fd, remote->mem,
                                       remote->mem_size, &remote->stats);
    return NULL;
}

BenchRemote *bench_remote_start(uint64_t mem_size)
{
    BenchRemote *remote = g_new0(BenchRemote, 1);
    int fds[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        bench_fail("socketpair: %s", g_strerror(errno));
    remote->mem = g_malloc(mem_size);
    remote->mem_size = mem_size;
    for (uint64_t i = 0; i < mem_size; i++)
        remote->mem[i] = (uint8_t)(i * 7 + (i >> 8));
    remote->server_fd = fds[1];
    bench_check(rdma_backend_new(fds[0], &remote->backend),
                "rdma_backend_new");
    remote->thread = g_thread_new("bench-server", server_main, remote);
    return remote;
}

DmsRegion *bench_remote_region(BenchRemote *remote, size_t max_access)
{
    DmsRegion *region;

    bench_check(rdma_backend_new_region(remote->backend, "remote",
                                        remote->mem_size, max_access, &region),
                "rdma_backend_new_region");
    return region;
}

uint64_t bench_remote_messages(const BenchRemote *remote)
{
    return rdma_backend_get_messages(remote->backend);
}

uint8_t *bench_remote_memory(BenchRemote *remote)
{
    return remote->mem;
}

void bench_remote_stop(BenchRemote *remote)
{
    uint64_t sent = rdma_backend_get_messages(remote->backend);

    /* The server sees EOF between frames and returns 0. */
    rdma_backend_close(remote->backend);
    g_thread_join(remote->thread);
    if (remote->result != 0)
        bench_fail("memory server: %s", g_strerror(-remote->result));
    if (remote->stats.requests != sent || remote->stats.error_replies)
        bench_fail("memory server answered %" G_GUINT64_FORMAT
                   " requests (%" G_GUINT64_FORMAT " errors), backend sent "
                   "%" G_GUINT64_FORMAT,
                   remote->stats.requests, remote->stats.error_replies, sent);
    close(remote->server_fd);
    /* Regions made from the backend hold their own references on it. */
    rdma_backend_unref(remote->backend);
    g_free(remote->mem);
    g_free(remote);
}
