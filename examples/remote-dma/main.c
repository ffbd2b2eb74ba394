/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * remote-dma-demo: a device model whose DMA memory lives in another
 * process, reached only by messages over a UNIX stream socket.
 *
 *   remote-dma-demo                 fork a memory server, run the demo
 *   remote-dma-demo --quick         the same, small (run as a test)
 *   remote-dma-demo --piece-cap N   let the 8-byte mode move N bytes per
 *                                   size (default 128 KiB)
 *   remote-dma-demo --listen PATH   only the memory server, on PATH;
 *                                   each client on a thread of its own
 *   remote-dma-demo --connect PATH  only the device model, to PATH
 *   remote-dma-demo --timeout MS    the deadline of both sides (default
 *                                   10 s): a frame begun, a reply awaited
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "backend.h"
#include "device.h"
#include "proto.h"
#include "server.h"

/* Server memory: the "host" RAM the device does DMA into. */
#define MEM_SIZE (UINT64_C(64) << 20)

static const size_t full_sizes[] = {
    1, 7, 8, 64, 512, 4096, 12345, 65536, 262144, 1048576, 0,
};

static DemoConfig full_config = {
    .sizes = full_sizes,
    .whole_bytes = UINT64_C(16) << 20,
    .piece_bytes = UINT64_C(128) << 10,
    .min_transfers = 8,
    .max_transfers = 2000,
    .block_count = 256,
};

/* Small enough for valgrind: about 2,000 messages in all. */
static const size_t quick_sizes[] = {1, 8, 4096, 16384, 0};

static DemoConfig quick_config = {
    .sizes = quick_sizes,
    .whole_bytes = UINT64_C(256) << 10,
    .piece_bytes = 4096,
    .min_transfers = 2,
    .max_transfers = 8,
    .block_count = 16,
};

/* The deadline of both sides, from --timeout; 0: their defaults. */
static unsigned timeout_ms;

static void print_server_stats(const RdmaServerStats *st, int r, void *opaque)
{
    (void)opaque;
    printf("memory server: %" PRIu64 " requests, %" PRIu64
           " bytes read, %" PRIu64 " bytes written, %" PRIu64
           " error replies%s%s\n",
           st->requests, st->bytes_read, st->bytes_written, st->error_replies,
           r < 0 ? "; connection dropped: " : "", r < 0 ? strerror(-r) : "");
    fflush(stdout);
}

static int serve_connection(int fd, uint8_t *mem)
{
    RdmaServerOptions opts = {.size = sizeof(opts), .timeout_ms = timeout_ms};
    RdmaServerStats st;
    int r = rdma_server_serve_full(fd, mem, MEM_SIZE, &opts, &st);

    print_server_stats(&st, r, NULL);
    return r;
}

static int unix_address(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        fprintf(stderr, "socket path too long: %s\n", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* Serves every connection, each on a thread of its own, until killed. */
static int run_listen(const char *path)
{
    RdmaServerOptions opts = {
        .size = sizeof(opts),
        .timeout_ms = timeout_ms,
        .connection_done = print_server_stats,
    };
    struct sockaddr_un sa;
    uint8_t *mem;
    int lfd, r;

    if (unix_address(path, &sa) < 0) {
        return 1;
    }
    mem = calloc(1, MEM_SIZE);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!mem || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 4) < 0) {
        perror("memory server");
        return 1;
    }
    printf("memory server: %" PRIu64 " MiB on %s\n", MEM_SIZE >> 20, path);
    fflush(stdout);
    r = rdma_server_listen(lfd, mem, MEM_SIZE, &opts);
    fprintf(stderr, "accept: %s\n", strerror(-r));
    return 1;
}

static int run_device(int fd, const DemoConfig *cfg)
{
    RdmaBackendOptions opts = {.size = sizeof(opts), .timeout_ms = timeout_ms};
    RdmaBackend *backend;
    DemoDevice dev;
    int r;

    r = rdma_backend_new_full(fd, &opts, &backend);
    if (r < 0) {
        fprintf(stderr, "backend: %s\n", strerror(-r));
        return 1;
    }
    r = demo_device_init(&dev, backend, MEM_SIZE);
    rdma_backend_unref(backend);
    if (r < 0) {
        fprintf(stderr, "device: %s\n", strerror(-r));
        return 1;
    }
    printf("device model: DMA space with two windows onto %" PRIu64
           " MiB of server memory:\n"
           "  0x%" PRIx64 " whole runs (max_access %u), 0x%" PRIx64
           " 8-byte pieces (max_access 8)\n\n",
           MEM_SIZE >> 20, DEMO_WHOLE_BASE, RDMA_MAX_PAYLOAD, DEMO_PIECE_BASE);
    fflush(stdout);

    r = demo_block_dma(&dev, cfg);
    if (r == 0) {
        r = demo_measure(&dev, cfg);
    }
    fflush(stdout);
    /* Closing the connection ends the server. */
    rdma_backend_close(dev.backend);
    demo_device_fini(&dev);
    return r < 0 ? 1 : 0;
}

static int run_connect(const char *path, const DemoConfig *cfg)
{
    struct sockaddr_un sa;
    int fd;

    if (unix_address(path, &sa) < 0) {
        return 1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror(path);
        return 1;
    }
    return run_device(fd, cfg);
}

static int run_both(const DemoConfig *cfg)
{
    int sv[2], status, r;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        return 1;
    }
    fflush(stdout); /* or the child would print our buffer again */
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        uint8_t *mem = calloc(1, MEM_SIZE);

        close(sv[0]);
        if (!mem) {
            _exit(1);
        }
        r = serve_connection(sv[1], mem);
        fflush(stdout);
        free(mem);
        close(sv[1]);
        _exit(r < 0 ? 1 : 0);
    }

    close(sv[1]);
    printf("memory server: pid %ld, %" PRIu64 " MiB, socketpair\n", (long)pid,
           MEM_SIZE >> 20);
    r = run_device(sv[0], cfg);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "memory server did not exit cleanly\n");
        r = 1;
    }
    return r;
}

/* --piece-cap and --timeout: a positive integer up to @max, or an error. */
static bool parse_count(const char *name, const char *value, uint64_t max,
                        uint64_t *out)
{
    char *end;
    guint64 n = g_ascii_strtoull(value, &end, 0);

    if (*value == '\0' || *end != '\0' || n == 0 || n > max) {
        fprintf(stderr,
                "remote-dma-demo: --%s wants a positive integer up to "
                "%" PRIu64 ", not '%s'\n",
                name, max, value);
        return false;
    }
    *out = n;
    return true;
}

int main(int argc, char **argv)
{
    gboolean quick = FALSE;
    char *listen_path = NULL, *connect_path = NULL;
    char *piece_cap_text = NULL, *timeout_text = NULL;
    uint64_t piece_cap = 0, ms = 0;
    GOptionEntry entries[] = {
        {"quick", 'q', 0, G_OPTION_ARG_NONE, &quick,
         "A short run (smoke test)", NULL},
        {"piece-cap", 0, 0, G_OPTION_ARG_STRING, &piece_cap_text,
         "Bytes per size the 8-byte mode moves (default 128 KiB)", "BYTES"},
        {"timeout", 0, 0, G_OPTION_ARG_STRING, &timeout_text,
         "The deadline of a frame begun and of a reply awaited, on both "
         "sides (default 10000)",
         "MS"},
        {"listen", 'l', 0, G_OPTION_ARG_FILENAME, &listen_path,
         "Run only the memory server, on a socket at PATH; each client is "
         "served on a thread of its own",
         "PATH"},
        {"connect", 'c', 0, G_OPTION_ARG_FILENAME, &connect_path,
         "Run only the device model, against PATH", "PATH"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionContext *ctx = g_option_context_new(
        "- DMA into a memory server reached only by messages");
    DemoConfig *cfg;
    GError *error = NULL;
    int r;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "With no option, forks a memory server and runs the device "
             "model against it.");
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc > 1 ||
        (listen_path && connect_path)) {
        fprintf(stderr, "remote-dma-demo: %s (see --help)\n",
                error      ? error->message
                : argc > 1 ? "unexpected argument"
                           : "--listen and --connect exclude each other");
        g_clear_error(&error);
        g_option_context_free(ctx);
        return 2;
    }
    g_option_context_free(ctx);
    if ((piece_cap_text &&
         !parse_count("piece-cap", piece_cap_text, UINT64_MAX, &piece_cap)) ||
        (timeout_text &&
         !parse_count("timeout", timeout_text, UINT32_MAX / 2, &ms)))
        return 2;
    timeout_ms = (unsigned)ms;
    g_free(piece_cap_text);
    g_free(timeout_text);

    cfg = quick ? &quick_config : &full_config;
    if (piece_cap)
        cfg->piece_bytes = piece_cap;
    if (listen_path)
        r = run_listen(listen_path);
    else if (connect_path)
        r = run_connect(connect_path, cfg);
    else
        r = run_both(cfg);
    g_free(listen_path);
    g_free(connect_path);
    return r;
}
