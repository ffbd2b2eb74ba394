/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bounce-micro: a quick look at the cost of one bounce map+unmap, for
 * profiling the pool (perf record ./bounce-micro 64). dms-bench is the
 * benchmark of record; this one only runs a single size and direction in
 * a tight loop, next to g_malloc0 + copy + g_free, samples interleaved.
 *
 *   bounce-micro [SIZE [to|from|direct [ITERATIONS]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <dmaspace/dmaspace.h>

#include "layout.h"
#include "memdev.h"

/* A runtime-sized copy that the compiler cannot drop. */
G_GNUC_NO_INLINE static void copy(void *dst, const void *src, size_t len)
{
    memcpy(dst, src, len);
}

static void fail(const char *what)
{
    fprintf(stderr, "bounce-micro: %s failed\n", what);
    exit(1);
}

static double run_library(DmsSpace *space, uint64_t addr, size_t size,
                          DmsDirection dir, const uint8_t *data, long iters)
{
    gint64 t0 = g_get_monotonic_time();

    for (long i = 0; i < iters; i++) {
        size_t len = size;
        void *p;

        if (dms_space_map(space, addr, &len, dir, NULL, &p) || len != size)
            fail("map");
        if (dir == DMS_DIR_FROM_DEVICE)
            copy(p, data, len);
        if (dms_space_unmap(space, p, len, dir, len))
            fail("unmap");
    }
    return (double)(g_get_monotonic_time() - t0) * 1000.0 / (double)iters;
}

static double run_baseline(uint8_t *backend_mem, size_t size, DmsDirection dir,
                           const uint8_t *data, long iters)
{
    gint64 t0 = g_get_monotonic_time();

    for (long i = 0; i < iters; i++) {
        uint8_t *p = g_malloc0(size);

        if (dir == DMS_DIR_TO_DEVICE) {
            copy(p, backend_mem, size);
        } else {
            copy(p, data, size);
            copy(backend_mem, p, size);
        }
        g_free(p);
    }
    return (double)(g_get_monotonic_time() - t0) * 1000.0 / (double)iters;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
    const char *mode = argc > 2 ? argv[2] : "to";
    long iters = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
    DmsDirection dir =
        strcmp(mode, "to") == 0 ? DMS_DIR_TO_DEVICE : DMS_DIR_FROM_DEVICE;
    bool direct = strcmp(mode, "direct") == 0;
    double lib[7], base[7];
    uint8_t *data, *ram_mem;
    DmsSpace *space;
    MemDev *dev;

    if (size == 0 || size > (1u << 20))
        fail("size (1..1 MiB)");
    if (iters <= 0)
        iters = (long)(200000000 / (size + 256));
    ram_mem = g_malloc0(1u << 20);
    data = g_malloc(size);
    memset(data, 0xc3, size);
    if (memdev_new(1u << 20, MEMDEV_QUIET, &dev) ||
        layout_space_new("micro",
                         (const LayoutPiece[]){
                             {.kind = LAYOUT_MESSAGE, .addr = 0, .dev = dev},
                             {.kind = LAYOUT_RAM,
                              .addr = 1u << 20,
                              .host = ram_mem,
                              .size = 1u << 20},
                             {.kind = LAYOUT_END},
                         },
                         0, &space, NULL))
        fail("setup");

    for (int s = 0; s < 7; s++) {
        lib[s] =
            run_library(space, direct ? 1u << 20 : 0, size, dir, data, iters);
        base[s] = run_baseline(dev->mem, size, dir, data, iters);
    }
    qsort(lib, 7, sizeof(double), compare);
    qsort(base, 7, sizeof(double), compare);
    printf("%-6s %7zu B  library %8.2f ns  g_malloc0+copy+g_free %8.2f ns  "
           "ratio %.2fx\n",
           mode, size, lib[3], base[3], base[3] / lib[3]);

    dms_space_unref(space);
    memdev_free(dev);
    g_free(ram_mem);
    g_free(data);
    return 0;
}
