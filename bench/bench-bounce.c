/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bounce map/unmap, next to what QEMU does for every bounced mapping:
 * g_malloc0() a buffer, copy, g_free(). The library lends buffers from a
 * per-space pool instead, so small mappings should cost clearly less.
 *
 * The memory behind the mapping is an in-process message region whose
 * backend is a memcpy: what is measured is the library's own work, not a
 * transport's.
 */
#include <string.h>

#include "bench.h"
#include "layout.h"
#include "memdev.h"

#define BOUNCE_MEM_SIZE (1u << 20)

typedef struct Bounce {
    DmsSpace *space;
    MemDev *dev;   /* quiet: it only copies */
    uint8_t *data; /* what the "device" writes into a from-device buffer */
    size_t size;
    uint64_t addr;
} Bounce;

static void bounce_to_device(void *opaque, uint64_t iters)
{
    Bounce *b = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        size_t len = b->size;
        void *p;

        if (dms_space_map(b->space, b->addr, &len, DMS_DIR_TO_DEVICE, NULL,
                          &p) ||
            len != b->size)
            bench_fail("bounce: to-device map failed or was short");
        bench_use(p); /* the device reads the buffer */
        if (dms_space_unmap(b->space, p, len, DMS_DIR_TO_DEVICE, len))
            bench_fail("bounce: to-device unmap failed");
    }
}

static void bounce_from_device(void *opaque, uint64_t iters)
{
    Bounce *b = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        size_t len = b->size;
        void *p;

        if (dms_space_map(b->space, b->addr, &len, DMS_DIR_FROM_DEVICE, NULL,
                          &p) ||
            len != b->size)
            bench_fail("bounce: from-device map failed or was short");
        bench_copy(p, b->data, len); /* the device writes the buffer */
        if (dms_space_unmap(b->space, p, len, DMS_DIR_FROM_DEVICE, len))
            bench_fail("bounce: from-device unmap failed");
    }
}

/* QEMU's bounce path: a zeroed buffer from the heap per mapping. */
static void malloc_to_device(void *opaque, uint64_t iters)
{
    Bounce *b = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        uint8_t *p = g_malloc0(b->size);

        bench_copy(p, b->dev->mem + b->addr, b->size); /* the fill */
        bench_use(p);
        g_free(p);
    }
}

static void malloc_from_device(void *opaque, uint64_t iters)
{
    Bounce *b = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        uint8_t *p = g_malloc0(b->size);

        bench_copy(p, b->data, b->size);               /* the device */
        bench_copy(b->dev->mem + b->addr, p, b->size); /* the write-back */
        bench_use(b->dev->mem);
        g_free(p);
    }
}

/*
 * The same bounce built on the heap, through this library: a fresh zeroed
 * buffer per mapping, filled by dms_space_read() and written back by
 * dms_space_write(). The same lookup and backend work as a map+unmap, so
 * the ratio is what the pool and the caches save over per-mapping heap
 * buffers (but it does no budget, no exact unmap check).
 */
static void heap_to_device(void *opaque, uint64_t iters)
{
    Bounce *b = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        uint8_t *p = g_malloc0(b->size);

        if (dms_space_read(b->space, b->addr, p, b->size, NULL, NULL))
            bench_fail("bounce: heap read failed");
        bench_use(p);
        g_free(p);
    }
}

static void heap_from_device(void *opaque, uint64_t iters)
{
    Bounce *b = opaque;

    for (uint64_t i = 0; i < iters; i++) {
        uint8_t *p = g_malloc0(b->size);

        bench_copy(p, b->data, b->size); /* the device */
        if (dms_space_write(b->space, b->addr, p, b->size, NULL, NULL))
            bench_fail("bounce: heap write failed");
        g_free(p);
    }
}

static void bounce_setup(Bounce *b)
{
    bench_check(memdev_new(BOUNCE_MEM_SIZE, MEMDEV_QUIET, &b->dev),
                "memdev_new");
    memset(b->dev->mem, 0x3c, BOUNCE_MEM_SIZE);
    b->data = g_malloc(BOUNCE_MEM_SIZE);
    memset(b->data, 0xc3, BOUNCE_MEM_SIZE);
    bench_check(layout_space_new(
                    "bounce",
                    (const LayoutPiece[]){
                        {.kind = LAYOUT_MESSAGE, .addr = 0, .dev = b->dev},
                        {.kind = LAYOUT_END},
                    },
                    0, &b->space, NULL),
                "layout_space_new");
}

static void bounce_teardown(Bounce *b)
{
    bench_check_idle(b->space, "bounce");
    dms_space_unref(b->space);
    memdev_free(b->dev);
    g_free(b->data);
}

static const size_t bounce_sizes[] = {64, 512, 4096, 65536};

void bench_bounce(const BenchOptions *o)
{
    Bounce b = {0};

    bounce_setup(&b);
    for (size_t i = 0; i < G_N_ELEMENTS(bounce_sizes); i++) {
        /* The targets: 3x at 64 B, 1.5x at 4 KiB. */
        double target = bounce_sizes[i] == 64     ? 3
                        : bounce_sizes[i] == 4096 ? 1.5
                                                  : 0;

        for (int dir = 0; dir < 2; dir++) {
            BenchSpec specs[3] = {
                {.fn = dir ? bounce_from_device : bounce_to_device, .ctx = &b},
                {.fn = dir ? malloc_from_device : malloc_to_device, .ctx = &b},
                {.fn = dir ? heap_from_device : heap_to_device, .ctx = &b},
            };
            double ns[3];

            b.size = bounce_sizes[i];
            bench_run(o, specs, 3, ns);
            bench_report(o, &(BenchResult){
                                .bench = "map-bounce",
                                .mode = dir ? "from-device" : "to-device",
                                .size = b.size,
                                .ns_per_op = ns[0],
                                .msgs_per_op = -1,
                                .baseline_ns = ns[1],
                                .baseline = "g_malloc0+copy+g_free",
                                .target_ratio = target,
                            });
            bench_report(o, &(BenchResult){
                                .bench = "map-bounce-heap",
                                .mode = dir ? "from-device" : "to-device",
                                .size = b.size,
                                .ns_per_op = ns[0],
                                .msgs_per_op = -1,
                                .baseline_ns = ns[2],
                                .baseline = "g_malloc0+space_rw+g_free",
                            });
        }
    }
    bounce_teardown(&b);
}

/*
 * What earlier groups leave behind in a process: spaces that bounced
 * every size in both directions on this thread and on a worker that has
 * exited, a RAM space mapped directly, all freed again. The two-thread
 * figure once halved after them (issue 13: heap neighbours written by one
 * thread on lines the other read), so it is measured both ways.
 */
static gpointer use_other_spaces(gpointer unused)
{
    for (int round = 0; round < 3; round++) {
        Bounce b = {0};
        uint8_t *ram = g_malloc0(65536);
        DmsRegion *region;
        DmsSpace *space;

        bounce_setup(&b);
        for (size_t i = 0; i < G_N_ELEMENTS(bounce_sizes); i++) {
            b.size = bounce_sizes[i];
            bounce_to_device(&b, 2000);
            bounce_from_device(&b, 2000);
        }
        bounce_teardown(&b);

        bench_check(
            dms_region_new_ram("ram", ram, 65536, 0, NULL, NULL, &region),
            "dms_region_new_ram");
        bench_check(dms_space_new(region, "ram", &space), "dms_space_new");
        for (int i = 0; i < 2000; i++) {
            size_t len = 4096;
            void *p;

            bench_check(
                dms_space_map(space, 0, &len, DMS_DIR_FROM_DEVICE, NULL, &p),
                "dms_space_map");
            bench_check(
                dms_space_unmap(space, p, len, DMS_DIR_FROM_DEVICE, len),
                "dms_space_unmap");
        }
        dms_space_unref(space);
        dms_region_unref(region);
        g_free(ram);
    }
    return unused;
}

/*
 * Two threads mapping and unmapping 4 KiB at once on one space (one
 * budget, one pool), against one thread: the ratio is the throughput
 * gained by the second core, 2 at best.
 */
static void bounce_threads(const BenchOptions *o, const char *mode)
{
    Bounce b[2] = {{0}};
    /*
     * At least a few milliseconds of work per sample (at ~100 ns an
     * operation), whatever a first small batch's wake-up of the worker
     * made calibration believe.
     */
    BenchParallel one = {.fn = bounce_to_device, .threads = 1};
    BenchParallel two = {
        .fn = bounce_to_device, .threads = 2, .min_iters = 1u << 15};
    double ns[2];

    bounce_setup(&b[0]);
    b[0].size = 4096;
    /* The second thread's mappings are in the same space, further on. */
    b[1] = b[0];
    b[1].addr = BOUNCE_MEM_SIZE / 2;
    one.ctx[0] = two.ctx[0] = &b[0];
    two.ctx[1] = &b[1];

    bench_run_threads(o, &two, &one, ns);
    bench_report(o, &(BenchResult){
                        .bench = "threads-bounce",
                        .mode = mode,
                        .size = b[0].size,
                        .threads = 2,
                        .ns_per_op = ns[0] / 2,
                        .msgs_per_op = -1,
                        .baseline_ns = ns[1],
                        .baseline = "1 thread",
                        .target_ratio = 1.3,
                    });
    bounce_teardown(&b[0]);
}

void bench_bounce_threads_fresh(const BenchOptions *o)
{
    bounce_threads(o, "fresh");
}

void bench_bounce_threads(const BenchOptions *o)
{
    use_other_spaces(NULL);
    g_thread_join(g_thread_new("bench-other", use_other_spaces, NULL));
    bounce_threads(o, "after-spaces");
}
