/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user group: DMA of fd-less client memory through the module
 * (dms_space_read/write of a DmsVfu's space) next to the same transfer
 * made with vfu_addr_to_sgl + vfu_sgl_read/write called directly, in the
 * same run, over the same libvfio-user server, socket and client (the
 * tests' vfio-user client, serving from a thread). The ratio is the
 * module's own cost; messages per transfer are counted by the client in a
 * separate pass, and every byte is checked there.
 *
 * And the client's DMA_MAP / DMA_UNMAP of 10,000 fd-less regions, each a
 * round trip, end to end through the module, next to two baselines of
 * the same run: the same requests served by a bare libvfio-user server
 * whose DMA callbacks do nothing (socket, client and libvfio-user's own
 * work: the difference is the module's share), and the same 10,000
 * region changes made on a DmsSpace directly (what the module asks of
 * the core).
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <vfio-user/libvfio-user.h>

#include <dmaspace/vfio-user.h>

#include "../tests/vfu-client.h"
#include "bench.h"

#define VFU_IOVA UINT64_C(0x100000000)
#define VFU_MEM_SIZE ((size_t)1 << 20)

/*
 * A libvfio-user PCI device on a socket in a temporary directory, served
 * by a thread until @stop.
 */
typedef struct Server {
    char *dir, *path;
    vfu_ctx_t *ctx;
    GThread *loop;
    volatile gint stop;
} Server;

static void server_create(Server *s)
{
    s->path = vfc_socket_path_new(&s->dir);
    if (s->path == NULL)
        bench_fail("vfio-user: no temporary directory");
    s->ctx =
        vfu_create_ctx(VFU_TRANS_SOCK, s->path, LIBVFIO_USER_FLAG_ATTACH_NB,
                       NULL, VFU_DEV_TYPE_PCI);
    if (s->ctx == NULL)
        bench_fail("vfio-user: vfu_create_ctx: %s", g_strerror(errno));
    if (vfu_pci_init(s->ctx, VFU_PCI_TYPE_CONVENTIONAL, PCI_HEADER_TYPE_NORMAL,
                     0) < 0)
        bench_fail("vfio-user: vfu_pci_init: %s", g_strerror(errno));
}

/* Realizes the device and serves it from a thread running @loop(@data). */
static void server_start(Server *s, const char *name, GThreadFunc loop,
                         void *data)
{
    if (vfu_realize_ctx(s->ctx) < 0)
        bench_fail("vfio-user: vfu_realize_ctx: %s", g_strerror(errno));
    s->loop = g_thread_new(name, loop, data);
}

/* Stops the thread; the context is then the caller's to destroy. */
static void server_stop(Server *s)
{
    g_atomic_int_set(&s->stop, 1);
    g_thread_join(s->loop);
}

typedef struct VfuBench {
    Server server;
    DmsVfu *vfu;
    DmsSpace *space;
    VfuClient *client;
    uint8_t *mem; /* the client's memory */
} VfuBench;

static gpointer loop_main(gpointer data)
{
    VfuBench *b = data;

    while (!g_atomic_int_get(&b->server.stop)) {
        if (!dms_vfu_is_connected(b->vfu))
            dms_vfu_accept(b->vfu, 20);
        else
            dms_vfu_run(b->vfu, 20);
    }
    return NULL;
}

static void vfu_bench_setup(VfuBench *b)
{
    VfcOptions opts = {.twin_socket = true, .max_transfer = VFU_MEM_SIZE};

    server_create(&b->server);
    bench_check(dms_vfu_attach(b->server.ctx, NULL, &b->vfu),
                "dms_vfu_attach");
    b->space = dms_vfu_get_space(b->vfu);
    server_start(&b->server, "bench-vfu-loop", loop_main, b);

    bench_check(vfc_connect(b->server.path, &opts, &b->client), "vfc_connect");
    for (int i = 0; i < 100000 && !dms_vfu_is_connected(b->vfu); i++)
        g_usleep(100);
    b->mem = g_malloc0(VFU_MEM_SIZE);
    vfc_add_memory(b->client, VFU_IOVA, VFU_MEM_SIZE, b->mem, true);
    bench_check(
        vfc_dma_map(b->client, VFU_IOVA, VFU_MEM_SIZE, VFC_MAP_RW, -1, 0),
        "DMA_MAP");
}

static void vfu_bench_teardown(VfuBench *b)
{
    vfc_free(b->client);
    server_stop(&b->server);
    b->vfu = dms_vfu_unref(b->vfu); /* and the context */
    g_free(b->mem);
    vfc_socket_path_free(b->server.path, b->server.dir);
}

/* The direct baseline: the module's transfer, made with libvfio-user. */
typedef struct VfuDmaOp {
    VfuBench *b;
    uint8_t *buf;
    size_t size;
    bool write;
    dma_sg_t *sg;
} VfuDmaOp;

/*
 * The baseline: what a device without the module writes, under the same
 * lock libvfio-user needs anyway.
 */
static void sgl_direct(void *opaque, uint64_t iters)
{
    VfuDmaOp *op = opaque;
    vfu_ctx_t *ctx = op->b->server.ctx;

    for (uint64_t i = 0; i < iters; i++) {
        int r;

        dms_vfu_lock(op->b->vfu);
        r = vfu_addr_to_sgl(ctx, (vfu_dma_addr_t)(uintptr_t)VFU_IOVA, op->size,
                            op->sg, 1, op->write ? PROT_WRITE : PROT_READ);
        if (r == 1) {
#if DMS_VFU_SGL_HAS_FLAGS
            r = op->write ? vfu_sgl_write(ctx, op->sg, 1, op->buf, 0)
                          : vfu_sgl_read(ctx, op->sg, 1, op->buf, 0);
#else
            r = op->write ? vfu_sgl_write(ctx, op->sg, 1, op->buf)
                          : vfu_sgl_read(ctx, op->sg, 1, op->buf);
#endif
        } else {
            r = -1;
        }
        dms_vfu_unlock(op->b->vfu);
        if (r < 0)
            bench_fail("vfio-user: direct vfu_sgl_%s failed: %s",
                       op->write ? "write" : "read", g_strerror(errno));
        bench_use(op->buf);
    }
}

/* One transfer, counted by the client and checked byte for byte. */
static double count_and_verify(VfuBench *b, BenchRw *op, uint8_t seed)
{
    VfcStats before, after;

    /*
     * The client's lock around every touch of its memory here, as its
     * reader thread holds it whenever it touches it: the socket orders the
     * two threads, but ThreadSanitizer does not see sockets.
     */
    vfc_get_stats(b->client, &before);
    if (op->write) {
        for (size_t i = 0; i < op->size; i++)
            op->buf[i] = (uint8_t)(seed + i * 13);
    } else {
        for (size_t i = 0; i < op->size; i++)
            b->mem[i] = (uint8_t)(seed + i * 7);
        memset(op->buf, 0, op->size);
    }
    vfc_get_stats(b->client, &before);
    bench_read_write(op, 1);
    vfc_get_stats(b->client, &after);
    if (memcmp(op->buf, b->mem, op->size) != 0)
        bench_fail("vfio-user: %s of %zu bytes moved wrong data",
                   op->write ? "write" : "read", op->size);
    vfc_get_stats(b->client, &after);
    return (double)((after.dma_reads + after.dma_writes) -
                    (before.dma_reads + before.dma_writes));
}

/* ---- registering and unregistering client regions ---- */

#define REGIONS_FULL 10000
#define REGIONS_QUICK 1000
#define REGIONS_IOVA UINT64_C(0x1000000000)
#define REGION_SIZE 4096

/* A libvfio-user server without the module: its callbacks do nothing. */

static void bare_dma_register(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    bench_keep((uint64_t)(uintptr_t)info->iova.iov_base);
}

static void bare_dma_unregister(vfu_ctx_t *ctx, vfu_dma_info_t *info)
{
    bench_keep((uint64_t)(uintptr_t)info->iova.iov_base);
}

/* The same wait-then-serve loop as dms_vfu_accept/run, minus the module. */
static gpointer bare_loop_main(gpointer data)
{
    Server *b = data;
    bool attached = false;

    while (!g_atomic_int_get(&b->stop)) {
        struct pollfd pfd = {.fd = vfu_get_poll_fd(b->ctx), .events = POLLIN};

        if (poll(&pfd, 1, 20) <= 0)
            continue;
        if (!attached) {
            attached = vfu_attach_ctx(b->ctx) == 0;
        } else if (vfu_run_ctx(b->ctx) < 0 &&
                   (errno == ENOTCONN || errno == EBADF)) {
            attached = false;
        }
    }
    return NULL;
}

static void bare_setup(Server *b)
{
    server_create(b);
#if DMS_VFU_DMA_HAS_MAX_REGIONS
    if (vfu_setup_device_dma(b->ctx, LIBVFIO_USER_MAX_DMA_REGIONS,
                             bare_dma_register, bare_dma_unregister) < 0)
#else
    if (vfu_setup_device_dma(b->ctx, bare_dma_register, bare_dma_unregister) <
        0)
#endif
        bench_fail("vfio-user: bare server: %s", g_strerror(errno));
    server_start(b, "bench-vfu-bare", bare_loop_main, b);
}

static void bare_teardown(Server *b)
{
    server_stop(b);
    vfu_destroy_ctx(b->ctx);
    vfc_socket_path_free(b->path, b->dir);
}

typedef struct RegionsOp {
    VfuClient *client;
    unsigned n;
    /* the direct baseline */
    DmsRegion *container;
    DmsRegion **regions;
} RegionsOp;

/* One iteration: n DMA_MAPs, then their n DMA_UNMAPs, each a round trip. */
static void map_unmap_regions(void *opaque, uint64_t iters)
{
    RegionsOp *op = opaque;

    for (uint64_t it = 0; it < iters; it++) {
        for (unsigned i = 0; i < op->n; i++)
            bench_check(vfc_dma_map(op->client,
                                    REGIONS_IOVA + (uint64_t)i * REGION_SIZE,
                                    REGION_SIZE, VFC_MAP_RW, -1, 0),
                        "DMA_MAP");
        for (unsigned i = 0; i < op->n; i++)
            bench_check(vfc_dma_unmap(op->client,
                                      REGIONS_IOVA + (uint64_t)i * REGION_SIZE,
                                      REGION_SIZE),
                        "DMA_UNMAP");
    }
}

static int64_t never_read(void *opaque, uint64_t offset, void *buf, size_t len,
                          const DmsAttrs *attrs)
{
    return -EIO;
}

static int64_t never_write(void *opaque, uint64_t offset, const void *buf,
                           size_t len, const DmsAttrs *attrs)
{
    return -EIO;
}

static const DmsMessageOps never_ops = {
    .size = sizeof(DmsMessageOps),
    .read = never_read,
    .write = never_write,
    .max_access = DMS_VFU_MAX_TRANSFER,
};

/* The same changes on a space directly: n message regions in and out. */
static void space_regions(void *opaque, uint64_t iters)
{
    RegionsOp *op = opaque;

    for (uint64_t it = 0; it < iters; it++) {
        for (unsigned i = 0; i < op->n; i++) {
            bench_check(dms_region_new_message("vfio-user dma", REGION_SIZE,
                                               &never_ops, NULL, NULL,
                                               &op->regions[i]),
                        "dms_region_new_message");
            bench_check(dms_region_add_subregion(op->container,
                                                 REGIONS_IOVA +
                                                     (uint64_t)i * REGION_SIZE,
                                                 op->regions[i], 0, 0),
                        "dms_region_add_subregion");
        }
        for (unsigned i = 0; i < op->n; i++) {
            dms_region_remove_subregion(op->container, op->regions[i]);
            op->regions[i] = dms_region_unref(op->regions[i]);
        }
    }
}

static void bench_regions(const BenchOptions *o, VfuBench *b)
{
    unsigned n = o->quick ? REGIONS_QUICK : REGIONS_FULL;
    VfcOptions opts = {.twin_socket = true, .max_transfer = VFU_MEM_SIZE};
    Server bare = {0};
    RegionsOp module = {.client = b->client, .n = n};
    RegionsOp direct = {.n = n}, plain = {.n = n};
    DmsSpace *space = NULL;
    double ns[3];

    bare_setup(&bare);
    bench_check(vfc_connect(bare.path, &opts, &plain.client),
                "vfc_connect (bare server)");
    bench_check(
        dms_region_new_container("direct", DMS_SIZE_ALL, &direct.container),
        "dms_region_new_container");
    bench_check(dms_space_new(direct.container, "direct", &space),
                "dms_space_new");
    direct.regions = g_new0(DmsRegion *, n);
    {
        BenchSpec specs[3] = {
            {.fn = map_unmap_regions,
             .ctx = &module,
             .max_iters = 1,
             .max_repeats = 5},
            {.fn = map_unmap_regions,
             .ctx = &plain,
             .max_iters = 1,
             .max_repeats = 5},
            {.fn = space_regions,
             .ctx = &direct,
             .max_iters = 1,
             .max_repeats = 5},
        };

        bench_run(o, specs, 3, ns);
    }
    /* Per region: one DMA_MAP and one DMA_UNMAP. */
    for (int i = 0; i < 3; i++)
        ns[i] /= n;
    bench_report(o, &(BenchResult){
                        .bench = "vfio-user-regions",
                        .mode = "module",
                        .no_throughput = true,
                        .regions = n,
                        .threads = 1,
                        .ns_per_op = ns[0],
                        .msgs_per_op = -1,
                        .baseline_ns = ns[1],
                        .baseline = "bare libvfio-user",
                    });
    bench_report(o, &(BenchResult){
                        .bench = "vfio-user-regions",
                        .mode = "space-direct",
                        .no_throughput = true,
                        .regions = n,
                        .threads = 1,
                        .ns_per_op = ns[2],
                        .msgs_per_op = -1,
                    });
    g_free(direct.regions);
    dms_space_unref(space);
    dms_region_unref(direct.container);
    vfc_free(plain.client);
    bare_teardown(&bare);
}

void bench_vfio_user(const BenchOptions *o)
{
    static const size_t sizes[] = {4096, VFU_MEM_SIZE};
    VfuBench b = {0};
    uint8_t *buf = g_malloc(VFU_MEM_SIZE);
    dma_sg_t *sg = g_malloc0(dma_sg_size());

    vfu_bench_setup(&b);
    for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
        for (int w = 0; w < 2; w++) {
            BenchRw module = {.what = "vfio-user",
                              .space = b.space,
                              .addr = VFU_IOVA,
                              .buf = buf,
                              .size = sizes[s],
                              .write = w};
            VfuDmaOp direct = {&b, buf, sizes[s], w, sg};
            BenchSpec specs[2] = {
                {.fn = bench_read_write, .ctx = &module},
                {.fn = sgl_direct, .ctx = &direct},
            };
            double ns[2];
            double msgs = count_and_verify(&b, &module, (uint8_t)(s + w));

            bench_run(o, specs, 2, ns);
            bench_report(o,
                         &(BenchResult){
                             .bench = w ? "vfio-user-write" : "vfio-user-read",
                             .mode = "module",
                             .size = sizes[s],
                             .regions = 1,
                             .threads = 1,
                             .ns_per_op = ns[0],
                             .msgs_per_op = msgs,
                             .baseline_ns = ns[1],
                             .baseline = w ? "vfu_sgl_write" : "vfu_sgl_read",
                             .target_msgs = 1,
                         });
        }
    }
    bench_regions(o, &b);
    vfu_bench_teardown(&b);
    g_free(sg);
    g_free(buf);
}
