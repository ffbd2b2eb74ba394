/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Figures over RAM regions: address lookup, read/write, direct map.
 *
 * RAM is the path every access of a device model with shared guest
 * memory takes, so these are the figures that must stay close to the
 * bare machine: a lookup next to a binary search over the same ranges,
 * a read or write next to the memcpy it boils down to.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "layout.h"

/* ---- lookup ---- */

#define LOOKUP_REGION_SIZE 4096
/* Regions sit one every 8 KiB, so half the span decodes to nothing. */
#define LOOKUP_STRIDE 8192
#define LOOKUP_BASE (UINT64_C(1) << 32)
void bench_lookup_addrs(BenchLookup *l, GRand *rand, unsigned span)
{
    for (unsigned i = 0; i < BENCH_LOOKUP_ADDRS; i++)
        l->addrs[i] =
            l->starts[g_rand_int_range(rand, 0, (gint32)span)] +
            (uint64_t)g_rand_int_range(rand, 0, (gint32)l->region_size);
}

void bench_lookup_check(void *lookup, uint64_t iters)
{
    BenchLookup *l = lookup;
    uint64_t failed = 0;

    for (uint64_t i = 0; i < iters; i++) {
        failed |= (uint64_t)dms_space_check(
            l->space, l->addrs[i & (BENCH_LOOKUP_ADDRS - 1)], 1,
            DMS_DIR_TO_DEVICE, NULL);
    }
    if (failed)
        bench_fail("%s: dms_space_check() failed on a mapped address",
                   l->what);
}

/*
 * The last region starting at or below the address, by binary search over
 * a sorted array, then a bounds check. This is how translation is commonly
 * done (REFERENCE.md measured it at 11-120 ns).
 */
void bench_lookup_bsearch(void *lookup, uint64_t iters)
{
    BenchLookup *l = lookup;
    uint64_t found = 0;

    for (uint64_t i = 0; i < iters; i++) {
        uint64_t addr = l->addrs[i & (BENCH_LOOKUP_ADDRS - 1)];
        unsigned lo = 0, hi = l->nr - 1;

        while (lo < hi) {
            unsigned mid = lo + (hi - lo + 1) / 2;
            if (l->starts[mid] <= addr)
                lo = mid;
            else
                hi = mid - 1;
        }
        found += addr >= l->starts[lo] && addr <= l->lasts[lo];
    }
    bench_keep(found);
}

static void lookup_one(const BenchOptions *o, unsigned nr, double target_ns,
                       uint8_t *host)
{
    DmsRegion *root;
    BenchLookup l = {
        .what = "lookup", .nr = nr, .region_size = LOOKUP_REGION_SIZE};
    GRand *rand = g_rand_new_with_seed(nr);
    double ns[2];
    BenchSpec specs[2] = {
        {.fn = bench_lookup_check, .ctx = &l},
        {.fn = bench_lookup_bsearch, .ctx = &l},
    };

    bench_check(dms_region_new_container("root", DMS_SIZE_ALL, &root),
                "dms_region_new_container");
    bench_check(dms_space_new(root, "lookup", &l.space), "dms_space_new");
    l.starts = g_new(uint64_t, nr);
    l.lasts = g_new(uint64_t, nr);
    /* One batch: the space renders its view once, at the commit. */
    dms_update_begin();
    for (unsigned i = 0; i < nr; i++) {
        DmsRegion *ram;

        l.starts[i] = LOOKUP_BASE + (uint64_t)i * LOOKUP_STRIDE;
        l.lasts[i] = l.starts[i] + LOOKUP_REGION_SIZE - 1;
        /* Every region shows the same 4 KiB: lookups never touch it. */
        bench_check(dms_region_new_ram(NULL, host, LOOKUP_REGION_SIZE, 0, NULL,
                                       NULL, &ram),
                    "dms_region_new_ram");
        bench_check(dms_region_add_subregion(root, l.starts[i], ram, 0, 0),
                    "dms_region_add_subregion");
        dms_region_unref(ram);
    }
    dms_update_commit();

    l.addrs = g_new(uint64_t, BENCH_LOOKUP_ADDRS);
    bench_lookup_addrs(&l, rand, nr);

    bench_run(o, specs, 2, ns);
    bench_report(o, &(BenchResult){
                        .bench = "lookup",
                        .regions = nr,
                        .ns_per_op = ns[0],
                        .msgs_per_op = -1,
                        .baseline_ns = ns[1],
                        .baseline = "binary search",
                        .target_ns = target_ns,
                    });

    g_free(l.addrs);
    g_free(l.starts);
    g_free(l.lasts);
    dms_space_unref(l.space);
    dms_region_unref(root);
    g_rand_free(rand);
}

void bench_lookup(const BenchOptions *o)
{
    uint8_t *host = g_malloc0(LOOKUP_REGION_SIZE);

    lookup_one(o, 8, 5, host);
    lookup_one(o, 1024, 0, host);
    lookup_one(o, 65536, 30, host);
    g_free(host);
}

/* ---- read / write ---- */

#define RAM_BASE UINT64_C(0x80000000)

void bench_read_write(void *rw, uint64_t iters)
{
    BenchRw *t = rw;

    for (uint64_t i = 0; i < iters; i++) {
        int r = t->write ? dms_space_write(t->space, t->addr, t->buf, t->size,
                                           NULL, NULL)
                         : dms_space_read(t->space, t->addr, t->buf, t->size,
                                          NULL, NULL);
        if (r)
            bench_fail("%s: dms_space_%s() of %zu bytes failed: %s", t->what,
                       t->write ? "write" : "read", t->size, g_strerror(-r));
        bench_use(t->buf);
    }
}

typedef struct RamCopy {
    BenchRw rw;    /* buf to memory, or memory to buf */
    uint8_t *host; /* what the region shows */
} RamCopy;

/* The baseline: the same copy as a device model's memcpy. */
static void memcpy_copy(void *opaque, uint64_t iters)
{
    RamCopy *c = opaque;
    uint8_t *dst = c->rw.write ? c->host : c->rw.buf;
    const uint8_t *src = c->rw.write ? c->rw.buf : c->host;

    for (uint64_t i = 0; i < iters; i++) {
        bench_copy(dst, src, c->rw.size);
        bench_use(dst);
    }
}

static const size_t ram_sizes[] = {8, 64, 512, 4096, 65536};

static DmsSpace *ram_space(uint8_t *host, size_t size)
{
    DmsSpace *space;
    const LayoutPiece pieces[] = {
        {.kind = LAYOUT_RAM, .addr = RAM_BASE, .host = host, .size = size},
        {.kind = LAYOUT_END},
    };

    bench_check(layout_space_new("ram", pieces, 0, &space, NULL),
                "layout_space_new");
    return space;
}

/*
 * Page-aligned, as guest RAM and DMA buffers are. Two heap blocks 64 KiB
 * and 16 bytes apart would make every copy between them pay for 4 KiB
 * aliasing in one direction only (loads that look like they depend on
 * the store just made), and read and write would differ by 2x for a
 * reason that is not the library's.
 */
static uint8_t *page_alloc(size_t size)
{
    void *p;

    if (posix_memalign(&p, 4096, size) != 0)
        bench_fail("out of memory");
    return p;
}

void bench_ram(const BenchOptions *o)
{
    const size_t max = 65536;
    RamCopy c = {
        .rw = {.what = "ram", .addr = RAM_BASE, .buf = page_alloc(max)},
        .host = page_alloc(max),
    };

    memset(c.host, 0x5a, max);
    memset(c.rw.buf, 0xa5, max);
    c.rw.space = ram_space(c.host, max);

    for (size_t i = 0; i < G_N_ELEMENTS(ram_sizes); i++) {
        /* The target applies from 4 KiB, where copying dominates. */
        double target = ram_sizes[i] >= 4096 ? 0.8 : 0;

        for (int write = 0; write < 2; write++) {
            BenchSpec specs[2] = {
                {.fn = bench_read_write, .ctx = &c.rw},
                {.fn = memcpy_copy, .ctx = &c},
            };
            double ns[2];

            c.rw.size = ram_sizes[i];
            c.rw.write = write;
            bench_run(o, specs, 2, ns);
            bench_report(o, &(BenchResult){
                                .bench = write ? "ram-write" : "ram-read",
                                .size = c.rw.size,
                                .ns_per_op = ns[0],
                                .msgs_per_op = -1,
                                .baseline_ns = ns[1],
                                .baseline = "memcpy",
                                .target_ratio = target,
                            });
        }
    }
    dms_space_unref(c.rw.space);
    free(c.host);
    free(c.rw.buf);
}

/* ---- direct map ---- */

void bench_map_unmap(void *map, uint64_t iters)
{
    BenchMap *m = map;

    for (uint64_t i = 0; i < iters; i++) {
        size_t len = m->size;
        void *p;

        if (dms_space_map(m->space, m->addr, &len, m->dir, NULL, &p) ||
            len != m->size)
            bench_fail("%s: dms_space_map() failed or was short", m->what);
        if (m->data)
            bench_copy(p, m->data, len); /* the device writes the buffer */
        else
            bench_use(p); /* the device reads it */
        if (dms_space_unmap(m->space, p, len, m->dir, len))
            bench_fail("%s: dms_space_unmap() failed", m->what);
    }
}

/*
 * The baseline is the lookup alone (dms_space_check() of the same
 * range): what map/unmap add on top is the bookkeeping that lets unmap
 * verify its pointer and keep the region alive.
 */
static void direct_check(void *opaque, uint64_t iters)
{
    BenchMap *d = opaque;
    uint64_t failed = 0;

    for (uint64_t i = 0; i < iters; i++) {
        failed |= (uint64_t)dms_space_check(d->space, d->addr, d->size, d->dir,
                                            NULL);
    }
    if (failed)
        bench_fail("map: dms_space_check() failed");
}

void bench_map_direct(const BenchOptions *o)
{
    const size_t size = 65536;
    uint8_t *host = g_malloc0(size);
    BenchMap d = {.what = "map-direct",
                  .space = ram_space(host, size),
                  .addr = RAM_BASE,
                  .size = 4096};

    for (int dir = 0; dir < 2; dir++) {
        BenchSpec specs[2] = {
            {.fn = bench_map_unmap, .ctx = &d},
            {.fn = direct_check, .ctx = &d},
        };
        double ns[2];

        d.dir = dir ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE;
        bench_run(o, specs, 2, ns);
        bench_report(o, &(BenchResult){
                            .bench = "map-direct",
                            .mode = dir ? "from-device" : "to-device",
                            .size = d.size,
                            .no_throughput = true,
                            .ns_per_op = ns[0],
                            .msgs_per_op = -1,
                            .baseline_ns = ns[1],
                            .baseline = "dms_space_check",
                        });
    }
    dms_space_unref(d.space);
    g_free(host);
}
