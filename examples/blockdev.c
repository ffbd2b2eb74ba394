/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * blockdev: a small block device model on the scatter-gather engine.
 *
 * The "guest" describes each transfer as a scatter-gather list, the way a
 * virtio-blk or NVMe driver does; the device model turns it into
 * dms_dma_submit() and does the I/O with preadv()/pwritev() on a disk
 * image file, from a thread pool, as a real device model would:
 *
 *   0x000000 .. 0x0fffff  guest RAM: a buffer of this process
 *   0x100000 .. 0x13ffff  "remote" guest memory reached by messages (in a
 *                         vfio-user server, the client's memory without a
 *                         file descriptor), here a buffer behind callbacks
 *                         (a MemDev, examples/common/memdev.c)
 *
 * The bounce budget is kept small (8 KiB), so requests over the remote
 * memory run in many batches and wait for each other's budget. The program
 * writes sectors from scattered guest buffers, reads them back into other
 * buffers, runs a batch of concurrent reads and writes, and checks a bad
 * descriptor fails cleanly. Every byte is checked against the image file.
 * It exits 0 on success.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmaspace/dmaspace.h>

#include "expect.h"
#include "layout.h"
#include "memdev.h"

#define SECTOR 512u
#define DISK_SECTORS 1024u /* a 512 KiB image */
#define RAM_BASE 0x000000u
#define RAM_SIZE 0x100000u
#define REMOTE_BASE 0x100000u
#define REMOTE_SIZE 0x40000u
#define HOLE_BASE 0x200000u
#define BOUNCE_BUDGET 8192u

/* ---- the device model ---- */

typedef enum BlkOp {
    BLK_READ,  /* disk -> guest memory */
    BLK_WRITE, /* guest memory -> disk */
} BlkOp;

typedef struct BlkDev {
    int fd; /* the disk image */
    GThreadPool *pool;
    GMainLoop *loop;
    unsigned outstanding;
} BlkDev;

/* One guest request, as a virtio-blk request header would carry it. */
typedef struct BlkRequest {
    BlkDev *dev;
    BlkOp op;
    uint64_t sector;
    DmsSgList *sg; /* the data buffers, from the descriptor chain */
    /* the outcome, as the device would write it to the status byte */
    bool completed;
    int status;
    uint64_t transferred;
} BlkRequest;

/* One batch handed to the thread pool. */
typedef struct BlkJob {
    DmsDmaRequest *dma;
    BlkRequest *req;
    uint64_t offset;
    const DmsIovec *iov;
    unsigned iovcnt;
} BlkJob;

/* On a pool thread: the actual disk I/O of one batch. */
static void blk_job_run(gpointer data, gpointer user_data)
{
    BlkJob *job = data;
    off_t pos = (off_t)(job->req->sector * SECTOR + job->offset);
    /* DmsIovec is laid out like struct iovec: the library checks it. */
    const struct iovec *iov = (const struct iovec *)job->iov;
    ssize_t n;

    (void)user_data;
    if (job->req->op == BLK_READ) {
        n = preadv(job->req->dev->fd, iov, (int)job->iovcnt, pos);
    } else {
        n = pwritev(job->req->dev->fd, iov, (int)job->iovcnt, pos);
    }
    /*
     * A failed call moved nothing we can count on; a short one moved
     * exactly n bytes, and the engine writes back just those.
     */
    dms_dma_io_done(job->dma, n < 0 ? 0 : (size_t)n, n < 0 ? -errno : 0);
    g_free(job);
}

static void blk_io(DmsDmaRequest *dma, uint64_t offset, const DmsIovec *iov,
                   unsigned iovcnt, void *data)
{
    BlkRequest *req = data;
    BlkJob *job = g_new0(BlkJob, 1);

    job->dma = dma;
    job->req = req;
    job->offset = offset;
    job->iov = iov;
    job->iovcnt = iovcnt;
    g_thread_pool_push(req->dev->pool, job, NULL);
}

static void blk_complete(DmsDmaRequest *dma, uint64_t transferred, int result,
                         void *data)
{
    BlkRequest *req = data;

    (void)dma;
    req->completed = true;
    req->status = result;
    req->transferred = transferred;
    if (--req->dev->outstanding == 0) {
        g_main_loop_quit(req->dev->loop);
    }
}

/*
 * What the device does when the guest rings the doorbell: check the
 * request against the disk, then start the transfer. A real device would
 * post a completion to the guest from blk_complete().
 */
static int blk_submit(BlkDev *dev, BlkRequest *req)
{
    uint64_t bytes = dms_sglist_get_size(req->sg);
    DmsDmaParams params = {
        .size = sizeof(params),
        .sg = req->sg,
        .dir = req->op == BLK_READ ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE,
        .align = SECTOR, /* batches of whole sectors, as O_DIRECT wants */
        .ctx = g_main_loop_get_context(dev->loop),
        .io = blk_io,
        .complete = blk_complete,
        .data = req,
    };
    int r;

    req->dev = dev;
    /* Both come from the guest: refuse, never trust. */
    if (bytes % SECTOR != 0 || req->sector > DISK_SECTORS ||
        bytes / SECTOR > DISK_SECTORS - req->sector) {
        return -EINVAL;
    }
    r = dms_dma_submit(&params, NULL);
    if (r == 0) {
        dev->outstanding++;
    }
    return r;
}

/* Runs the main loop until every submitted request has completed. */
static void blk_run(BlkDev *dev)
{
    if (dev->outstanding > 0) {
        g_main_loop_run(dev->loop);
    }
}

/* ---- the checks ---- */

static DmsSgList *new_list(DmsSpace *space, const uint64_t (*e)[2], size_t n)
{
    DmsSgList *sg = NULL;

    if (dms_sglist_new(space, n, &sg) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        /* Guest descriptors: an entry that wraps is refused here. */
        if (dms_sglist_add(sg, e[i][0], e[i][1]) != 0) {
            return dms_sglist_unref(sg);
        }
    }
    return sg;
}

/* The image's bytes for the request's sectors, in list order. */
static bool disk_matches_list(BlkDev *dev, BlkRequest *req, const char *what)
{
    uint64_t bytes = dms_sglist_get_size(req->sg);
    uint8_t *disk = g_malloc(bytes);
    uint8_t *mem = g_malloc(bytes);
    uint64_t residual = 1;
    bool same;

    same = pread(dev->fd, disk, bytes, (off_t)(req->sector * SECTOR)) ==
               (ssize_t)bytes &&
           dms_sglist_read(req->sg, mem, bytes, NULL, &residual) == 0 &&
           residual == 0 && memcmp(disk, mem, bytes) == 0;
    expect(same, "%s: guest memory and disk image differ", what);
    g_free(disk);
    g_free(mem);
    return same;
}

static void expect_done(BlkRequest *req, const char *what)
{
    uint64_t bytes = dms_sglist_get_size(req->sg);

    expect(req->completed && req->status == 0 && req->transferred == bytes,
           "%s: completed %d, status %d (%s), %" PRIu64 " of %" PRIu64
           " bytes",
           what, req->completed, req->status, g_strerror(-req->status),
           req->transferred, bytes);
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)((i * 131u) ^ (i >> 9) ^ seed);
    }
}

/* A write from scattered RAM and remote buffers, read back elsewhere. */
static void write_then_read_back(BlkDev *dev, DmsSpace *space, uint8_t *ram,
                                 MemDev *rm)
{
    /* 24 sectors: pieces not sector-sized, RAM and remote interleaved. */
    static const uint64_t wr[][2] = {
        {RAM_BASE + 0x1000, 3000},
        {REMOTE_BASE + 0x8000, 5000},
        {RAM_BASE + 0x9000, 100},
        {REMOTE_BASE + 0x100, 4188},
    };
    static const uint64_t rd[][2] = {
        {REMOTE_BASE + 0x20000, 6144},
        {RAM_BASE + 0x40000, 6144},
    };
    BlkRequest w = {.op = BLK_WRITE, .sector = 10};
    BlkRequest r = {.op = BLK_READ, .sector = 10};

    fill_pattern(ram, RAM_SIZE, 1);
    fill_pattern(rm->mem, REMOTE_SIZE, 2);
    w.sg = new_list(space, wr, G_N_ELEMENTS(wr));
    r.sg = new_list(space, rd, G_N_ELEMENTS(rd));
    if (!expect(w.sg && r.sg, "cannot build the lists")) {
        goto out;
    }

    expect(blk_submit(dev, &w) == 0, "write not accepted");
    blk_run(dev);
    expect_done(&w, "write");
    disk_matches_list(dev, &w, "write");

    expect(blk_submit(dev, &r) == 0, "read not accepted");
    blk_run(dev);
    expect_done(&r, "read");
    disk_matches_list(dev, &r, "read back");
    printf("  write+read: 24 sectors from 4 scattered buffers, back into 2 "
           "others\n");
out:
    dms_sglist_unref(w.sg);
    dms_sglist_unref(r.sg);
}

/* Eight requests at once share the 8 KiB budget. */
static void concurrent_requests(BlkDev *dev, DmsSpace *space)
{
    enum { N = 8, SECTORS = 32 };
    BlkRequest reqs[N];

    memset(reqs, 0, sizeof(reqs));
    for (unsigned i = 0; i < N; i++) {
        /* Each over remote memory, then RAM: 16 KiB, 16 KiB. */
        uint64_t e[2][2] = {
            {REMOTE_BASE + 0x4000u * i, SECTORS * SECTOR / 2},
            {RAM_BASE + 0x80000u + 0x4000u * i, SECTORS * SECTOR / 2},
        };

        reqs[i].op = i % 2 ? BLK_READ : BLK_WRITE;
        reqs[i].sector = 100 + SECTORS * i;
        reqs[i].sg = new_list(space, (const uint64_t(*)[2])e, 2);
        if (!expect(reqs[i].sg != NULL, "cannot build list %u", i) ||
            !expect(blk_submit(dev, &reqs[i]) == 0, "request %u refused", i)) {
            goto out;
        }
    }
    blk_run(dev);
    for (unsigned i = 0; i < N; i++) {
        expect_done(&reqs[i], reqs[i].op == BLK_READ ? "concurrent read"
                                                     : "concurrent write");
        disk_matches_list(dev, &reqs[i], "concurrent");
    }
    printf("  concurrent: %d requests of %u KiB through an %u KiB budget\n", N,
           SECTORS * SECTOR / 1024, BOUNCE_BUDGET / 1024);
out:
    for (unsigned i = 0; i < N; i++) {
        dms_sglist_unref(reqs[i].sg);
    }
}

/* A descriptor pointing at nothing: the data before it still moves. */
static void bad_descriptor(BlkDev *dev, DmsSpace *space)
{
    static const uint64_t e[][2] = {
        {RAM_BASE + 0x2000, 2 * SECTOR},
        {HOLE_BASE, 2 * SECTOR},
    };
    static const uint64_t wrap[][2] = {{UINT64_MAX - 100, 2 * SECTOR}};
    BlkRequest req = {.op = BLK_READ, .sector = 500};

    req.sg = new_list(space, e, G_N_ELEMENTS(e));
    if (!expect(req.sg != NULL, "cannot build the list")) {
        return;
    }
    expect(blk_submit(dev, &req) == 0, "bad request not accepted");
    blk_run(dev);
    expect(req.completed && req.status == -EFAULT &&
               req.transferred == 2 * SECTOR,
           "bad descriptor: status %d, %" PRIu64 " bytes", req.status,
           req.transferred);
    expect(new_list(space, wrap, 1) == NULL, "a wrapping entry was taken");
    printf("  bad entry:  %s after %" PRIu64 " bytes; a wrapping entry is "
           "refused\n",
           g_strerror(-req.status), req.transferred);
    dms_sglist_unref(req.sg);
}

int main(void)
{
    uint8_t *ram = g_malloc0(RAM_SIZE);
    MemDev *rm = NULL;
    DmsSpace *space = NULL;
    DmsSpaceStats stats = {.size = sizeof(stats)};
    BlkDev dev = {.fd = -1};
    GMainContext *ctx = g_main_context_new();
    GError *err = NULL;
    char *path = NULL;

    expect_init("blockdev");
    dev.loop = g_main_loop_new(ctx, FALSE);
    dev.pool = g_thread_pool_new(blk_job_run, NULL, 2, FALSE, &err);
    dev.fd = g_file_open_tmp("blockdev-XXXXXX.img", &path, &err);
    if (dev.fd < 0 || !dev.pool ||
        ftruncate(dev.fd, (off_t)DISK_SECTORS * SECTOR) != 0) {
        fprintf(stderr, "blockdev: setup: %s\n",
                err ? err->message : g_strerror(errno));
        return 1;
    }
    g_unlink(path); /* the image lives as long as the descriptor */

    /* Mapped from the pool's threads too: a device for many threads. */
    if (memdev_new(REMOTE_SIZE, MEMDEV_THREADS, &rm) != 0 ||
        layout_space_new("blockdev",
                         (const LayoutPiece[]){
                             {.kind = LAYOUT_RAM,
                              .addr = RAM_BASE,
                              .host = ram,
                              .size = RAM_SIZE},
                             {.kind = LAYOUT_MESSAGE,
                              .addr = REMOTE_BASE,
                              .dev = rm,
                              .name = "remote"},
                             {.kind = LAYOUT_END},
                         },
                         BOUNCE_BUDGET, &space, NULL) != 0) {
        fputs("blockdev: cannot build the address space\n", stderr);
        return 1;
    }

    printf("blockdev: %u-sector image, %u KiB bounce budget\n", DISK_SECTORS,
           BOUNCE_BUDGET / 1024);
    write_then_read_back(&dev, space, ram, rm);
    concurrent_requests(&dev, space);
    bad_descriptor(&dev, space);

    if (expect(dms_space_get_stats(space, &stats) == 0, "get_stats")) {
        expect(stats.bounce_in_use == 0, "%" PRIu64 " bounce bytes lent",
               stats.bounce_in_use);
        expect(stats.bounce_high_water <= BOUNCE_BUDGET,
               "high water %" PRIu64 " over the budget",
               stats.bounce_high_water);
        printf("  stats:      %" PRIu64 " direct, %" PRIu64
               " bounced maps, %u messages, high water %" PRIu64 " bytes\n",
               stats.direct_maps, stats.bounced_maps, rm->calls,
               stats.bounce_high_water);
    }

    g_thread_pool_free(dev.pool, FALSE, TRUE);
    close(dev.fd);
    g_free(path);
    dms_space_unref(space);
    g_main_loop_unref(dev.loop);
    g_main_context_unref(ctx);
    memdev_free(rm);
    g_free(ram);
    printf("blockdev: %s\n",
           expect_status() == 0 ? "all transfers verified" : "FAILED");
    return expect_status();
}
