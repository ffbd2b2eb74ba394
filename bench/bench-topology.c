/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Topology figures: what adding and removing a region costs in a space
 * that already has n of them, one at a time and in a batch, at n = 10^2
 * to 10^6; filling a space to n one region at a time and draining it;
 * resident memory per region; lookup at the same sizes, hot and random.
 *
 * The baseline is the library itself run the way it worked before
 * incremental views: every change re-renders every space whole, and the
 * writer waits for the grace period that frees the old view. The library
 * does that when DMS_TOPOLOGY_FULL_RENDER=1 is in its environment at the
 * first change, which is why the baseline runs in a child process (this
 * program again, with --topology-baseline=N) in the same run.
 *
 * Regions are 4 KiB of RAM, one every 8 KiB: the holes between them take
 * the regions added and removed at a given n, at random places.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define REGION_SIZE 4096
#define STRIDE 8192
#define BASE (UINT64_C(1) << 32)
#define HOT_REGIONS 8

static uint8_t *host; /* what every region shows: 4 KiB, shared */

typedef struct Topo {
    DmsRegion *root;
    DmsSpace *space;
    DmsRegion **placed; /* at BASE + i * STRIDE */
    unsigned n;
} Topo;

static DmsRegion *new_region(void)
{
    DmsRegion *r;

    bench_check(dms_region_new_ram(NULL, host, REGION_SIZE, 0, NULL, NULL, &r),
                "dms_region_new_ram");
    return r;
}

static void topo_new(Topo *t, unsigned n)
{
    memset(t, 0, sizeof(*t));
    bench_check(dms_region_new_container("root", DMS_SIZE_ALL, &t->root),
                "dms_region_new_container");
    bench_check(dms_space_new(t->root, "topology", &t->space),
                "dms_space_new");
    t->placed = g_new0(DmsRegion *, n);
    t->n = n;
}

static void topo_free(Topo *t)
{
    dms_space_unref(t->space);
    dms_region_unref(t->root);
    g_free(t->placed);
    bench_check(dms_update_barrier(), "dms_update_barrier");
}

/* Adds the regions at slots [0, n), in a batch or one at a time. */
static double fill(Topo *t, bool batch)
{
    uint64_t t0 = bench_now_ns();

    if (batch)
        dms_update_begin();
    for (unsigned i = 0; i < t->n; i++) {
        t->placed[i] = new_region();
        bench_check(dms_region_add_subregion(t->root,
                                             BASE + (uint64_t)i * STRIDE,
                                             t->placed[i], 0, 0),
                    "dms_region_add_subregion");
        dms_region_unref(t->placed[i]);
    }
    if (batch)
        dms_update_commit();
    return (double)(bench_now_ns() - t0) / t->n;
}

static double drain(Topo *t)
{
    uint64_t t0 = bench_now_ns();

    for (unsigned i = 0; i < t->n; i++)
        bench_check(dms_region_remove_subregion(t->root, t->placed[i]),
                    "dms_region_remove_subregion");
    return (double)(bench_now_ns() - t0) / t->n;
}

/*
 * At n regions: adds @k more in random holes, then removes them, one at a
 * time or each @k in one batch. ns per add and per remove.
 */
static void churn(Topo *t, unsigned k, bool batch, GRand *rand, double *add_ns,
                  double *remove_ns)
{
    DmsRegion **extra = g_new(DmsRegion *, k);
    uint64_t t0;

    /* Distinct holes: k of the n, spread at random. */
    for (unsigned i = 0; i < k; i++)
        extra[i] = new_region();
    t0 = bench_now_ns();
    if (batch)
        dms_update_begin();
    for (unsigned i = 0; i < k; i++) {
        unsigned slot =
            (unsigned)((uint64_t)i * t->n / k) +
            (unsigned)g_rand_int_range(rand, 0, (gint32)MAX(t->n / k, 1));
        bench_check(dms_region_add_subregion(
                        t->root, BASE + (uint64_t)slot * STRIDE + REGION_SIZE,
                        extra[i], 0, 0),
                    "dms_region_add_subregion");
    }
    if (batch)
        dms_update_commit();
    *add_ns = (double)(bench_now_ns() - t0) / k;

    t0 = bench_now_ns();
    if (batch)
        dms_update_begin();
    for (unsigned i = 0; i < k; i++)
        bench_check(dms_region_remove_subregion(t->root, extra[i]),
                    "dms_region_remove_subregion");
    if (batch)
        dms_update_commit();
    *remove_ns = (double)(bench_now_ns() - t0) / k;
    for (unsigned i = 0; i < k; i++)
        dms_region_unref(extra[i]);
    g_free(extra);
}

/* Regions added and removed at each n: fewer where each costs more. */
static unsigned churn_count(unsigned n, bool baseline)
{
    if (!baseline)
        return MIN(n, 2000u);
    return n <= 1000 ? 100 : n <= 10000 ? 20 : n <= 100000 ? 5 : 2;
}

/* The largest n the baseline fills one region at a time (O(n^2)). */
static unsigned baseline_fill_max(const BenchOptions *o)
{
    return o->quick ? 1000 : 10000;
}

typedef struct Figures {
    double fill, drain, add, remove, batch_add, batch_remove;
    bool have_fill;
} Figures;

/* The churn and fill figures at @n, in this process. */
static void measure(unsigned n, bool baseline, unsigned fill_max, Figures *f)
{
    GRand *rand = g_rand_new_with_seed(n);
    unsigned k = churn_count(n, baseline);
    Topo t;

    memset(f, 0, sizeof(*f));
    topo_new(&t, n);
    f->have_fill = n <= fill_max;
    if (f->have_fill) {
        f->fill = fill(&t, false);
    } else {
        fill(&t, true);
    }
    churn(&t, k, false, rand, &f->add, &f->remove);
    churn(&t, k, true, rand, &f->batch_add, &f->batch_remove);
    if (f->have_fill)
        f->drain = drain(&t);
    topo_free(&t);
    g_rand_free(rand);
}

void bench_topology_baseline(unsigned n, unsigned fill_max)
{
    Figures f;

    host = g_malloc0(REGION_SIZE);
    measure(n, true, fill_max, &f);
    printf("%.6g %.6g %.6g %.6g %.6g %.6g %d\n", f.fill, f.drain, f.add,
           f.remove, f.batch_add, f.batch_remove, f.have_fill);
    g_free(host);
}

/* Runs the baseline at @n in a child process; false if it failed. */
static bool measure_baseline(unsigned n, unsigned fill_max, Figures *f)
{
    char *argv[] = {
        (char *)"/proc/self/exe",
        g_strdup_printf("--topology-baseline=%u", n),
        g_strdup_printf("--topology-baseline-fill=%u", fill_max),
        NULL,
    };
    char **envp = g_environ_setenv(g_get_environ(), "DMS_TOPOLOGY_FULL_RENDER",
                                   "1", TRUE);
    char *out = NULL, *exe = g_file_read_link("/proc/self/exe", NULL);
    int status = 0, have_fill = 0;
    bool ok;

    argv[0] = exe;
    ok =
        exe &&
        g_spawn_sync(NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                     &status, NULL) &&
        WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        sscanf(out, "%lf %lf %lf %lf %lf %lf %d", &f->fill, &f->drain, &f->add,
               &f->remove, &f->batch_add, &f->batch_remove, &have_fill) == 7;
    f->have_fill = have_fill;
    g_free(out);
    g_free(exe);
    g_free(argv[1]);
    g_free(argv[2]);
    g_strfreev(envp);
    return ok;
}

/* Resident bytes of this process, from /proc/self/statm. */
static uint64_t rss_bytes(void)
{
    char *text = NULL;
    unsigned long size = 0, resident = 0;

    if (!g_file_get_contents("/proc/self/statm", &text, NULL, NULL))
        return 0;
    if (sscanf(text, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    g_free(text);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bytes the heap has handed out, malloc's own overhead included. */
static uint64_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* ---- lookup ---- */

/* A range as a flat table keeps it: what the views were before. */
typedef struct TableRange {
    uint64_t start, last, offset;
    void *region;
    uint8_t *host;
} TableRange;

typedef struct Lookup {
    BenchLookup base;   /* the baseline's table: starts alone */
    TableRange *ranges; /* the other baseline's: whole ranges */
} Lookup;

/* The same search over whole ranges, checking the range's own end. */
static void lookup_bsearch_ranges(void *opaque, uint64_t iters)
{
    Lookup *l = opaque;
    uint64_t found = 0;

    for (uint64_t i = 0; i < iters; i++) {
        uint64_t addr = l->base.addrs[i & (BENCH_LOOKUP_ADDRS - 1)];
        unsigned lo = 0, hi = l->base.nr - 1;

        while (lo < hi) {
            unsigned mid = lo + (hi - lo + 1) / 2;
            if (l->ranges[mid].start <= addr)
                lo = mid;
            else
                hi = mid - 1;
        }
        found += addr <= l->ranges[lo].last && l->ranges[lo].host;
    }
    bench_keep(found);
}

/*
 * The search over starts without a branch on the keys: a conditional
 * move per step, so no step mispredicts and the searches of successive
 * addresses overlap in the out-of-order window. Faster than the branchy
 * search wherever the address is unpredictable; the starts baseline is
 * whichever of the two is faster in the run.
 */
static void lookup_bsearch_branchless(void *opaque, uint64_t iters)
{
    Lookup *l = opaque;
    uint64_t found = 0;

    for (uint64_t i = 0; i < iters; i++) {
        uint64_t addr = l->base.addrs[i & (BENCH_LOOKUP_ADDRS - 1)];
        const uint64_t *at = l->base.starts;
        unsigned len = l->base.nr;

        while (len > 1) {
            unsigned half = len / 2;

            at = at[half] <= addr ? at + half : at;
            len -= half;
        }
        found += addr >= *at && addr <= l->base.lasts[at - l->base.starts];
    }
    bench_keep(found);
}

static void lookups(const BenchOptions *o, Topo *t, GRand *rand)
{
    Lookup l = {.base = {.what = "topology",
                         .space = t->space,
                         .nr = t->n,
                         .region_size = REGION_SIZE}};
    BenchSpec specs[4] = {
        {.fn = bench_lookup_check, .ctx = &l.base},
        {.fn = bench_lookup_bsearch, .ctx = &l.base},
        {.fn = lookup_bsearch_ranges, .ctx = &l},
        {.fn = lookup_bsearch_branchless, .ctx = &l},
    };
    double ns[4];

    l.base.starts = g_new(uint64_t, t->n);
    l.base.lasts = g_new(uint64_t, t->n);
    l.ranges = g_new(TableRange, t->n);
    for (unsigned i = 0; i < t->n; i++) {
        l.base.starts[i] = BASE + (uint64_t)i * STRIDE;
        l.base.lasts[i] = l.base.starts[i] + REGION_SIZE - 1;
        l.ranges[i] =
            (TableRange){l.base.starts[i], l.base.starts[i] + REGION_SIZE - 1,
                         0, t->placed[i], host};
    }
    l.base.addrs = g_new(uint64_t, BENCH_LOOKUP_ADDRS);
    for (int hot = 1; hot >= 0; hot--) {
        /* Hot: a few regions, all in the caches; random: all of them. */
        unsigned span = hot ? MIN(t->n, HOT_REGIONS) : t->n;

        if (!hot && span == HOT_REGIONS)
            break;
        bench_lookup_addrs(&l.base, rand, span);
        bench_run(o, specs, 4, ns);
        bench_report(o, &(BenchResult){
                            .bench = "topology-lookup",
                            .mode = hot ? "hot" : "random",
                            .regions = t->n,
                            .ns_per_op = ns[0],
                            .msgs_per_op = -1,
                            .baseline_ns = ns[2],
                            .baseline = "bsearch, range array",
                            .target_ns = hot && t->n <= HOT_REGIONS ? 3 : 0,
                            .target_ratio = 1,
                        });
        bench_report(o,
                     &(BenchResult){
                         .bench = "topology-lookup",
                         .mode = hot ? "hot/starts" : "random/starts",
                         .regions = t->n,
                         .ns_per_op = ns[0],
                         .msgs_per_op = -1,
                         .baseline_ns = MIN(ns[1], ns[3]),
                         .baseline = ns[1] < ns[3]
                                         ? "bsearch, start array"
                                         : "branch-free bsearch, start array",
                         .target_ratio = 1,
                     });
    }
    g_free(l.base.addrs);
    g_free(l.base.starts);
    g_free(l.base.lasts);
    g_free(l.ranges);
}

/* ---- the group ---- */

/* What was reported, for the plot. */
typedef struct Point {
    const char *bench, *mode;
    unsigned regions;
    double ns, base_ns;
} Point;

static GArray *points;

static void report(const BenchOptions *o, const char *bench, const char *mode,
                   unsigned n, double ns, double base_ns, double target_ns,
                   double bytes_per_region, double rss_per_region)
{
    bench_report(o, &(BenchResult){
                        .bench = bench,
                        .mode = mode,
                        .regions = n,
                        .ns_per_op = ns,
                        .msgs_per_op = -1,
                        .baseline_ns = base_ns,
                        .baseline = "full re-render",
                        .target_ns = target_ns,
                        .bytes_per_region = bytes_per_region,
                        .rss_per_region = rss_per_region,
                    });
    if (!points)
        points = g_array_new(FALSE, FALSE, sizeof(Point));
    g_array_append_val(points, ((Point){bench, mode, n, ns, base_ns}));
}

/* Lookups in a space of HOT_REGIONS regions: the 3 ns target. */
static void lookups_small(const BenchOptions *o)
{
    GRand *rand = g_rand_new_with_seed(HOT_REGIONS);
    Topo t;

    topo_new(&t, HOT_REGIONS);
    fill(&t, false);
    lookups(o, &t, rand);
    drain(&t);
    topo_free(&t);
    g_rand_free(rand);
}

void bench_topology(const BenchOptions *o)
{
    static const unsigned sizes[] = {100, 1000, 10000, 100000, 1000000};
    unsigned nsizes = o->quick ? 2 : G_N_ELEMENTS(sizes);
    unsigned fill_max = baseline_fill_max(o);

    host = g_malloc0(REGION_SIZE);
    lookups_small(o);
    for (unsigned s = 0; s < nsizes; s++) {
        unsigned n = sizes[s];
        GRand *rand = g_rand_new_with_seed(n);
        Figures base = {0};
        bool have_base = measure_baseline(n, fill_max, &base);
        double add, remove, badd, bremove, fill_ns, drain_ns, per_region;
        double rss_per_region;
        unsigned k = churn_count(n, false);
        uint64_t rss0, heap0, cpu0;
        double fill_cpu_ns, drain_cpu_ns;
        Topo t;

        if (!have_base)
            fprintf(stderr, "dms-bench: topology baseline at %u failed\n", n);
        /* Memory first, on a quiet heap: everything a region costs,
         * its view entry and index included. */
        bench_check(dms_update_barrier(), "dms_update_barrier");
        rss0 = rss_bytes();
        heap0 = heap_bytes();
        topo_new(&t, n);
        cpu0 = thread_cpu_ns();
        fill_ns = fill(&t, false);
        fill_cpu_ns = (double)(thread_cpu_ns() - cpu0) / n;
        bench_check(dms_update_barrier(), "dms_update_barrier");
        /* The heap's figure is exact; RSS can reuse pages freed before. */
        per_region = (double)(int64_t)(heap_bytes() - heap0) / n;
        rss_per_region = (double)(int64_t)(rss_bytes() - rss0) / n;

        churn(&t, k, false, rand, &add, &remove);
        churn(&t, k, true, rand, &badd, &bremove);
        lookups(o, &t, rand);
        cpu0 = thread_cpu_ns();
        drain_ns = drain(&t);
        drain_cpu_ns = (double)(thread_cpu_ns() - cpu0) / n;
        topo_free(&t);

        /* 10^6 regions one at a time in 3 s: 3 us each. */
        report(o, "topology-fill", "one", n, fill_ns,
               have_base && base.have_fill ? base.fill : 0,
               n == 1000000 ? 3000 : 0, per_region, MAX(rss_per_region, 0));
        report(o, "topology-drain", "one", n, drain_ns,
               have_base && base.have_fill ? base.drain : 0,
               n == 1000000 ? 3000 : 0, 0, 0);
        /*
         * The same in CPU time of the writing thread alone: what a change
         * costs its caller, whatever else the machine runs (the
         * reclaimer's work is on its own thread and not counted).
         */
        report(o, "topology-fill", "one-cpu", n, fill_cpu_ns, 0,
               n == 1000000 ? 3000 : 0, 0, 0);
        report(o, "topology-drain", "one-cpu", n, drain_cpu_ns, 0,
               n == 1000000 ? 3000 : 0, 0, 0);
        report(o, "topology-add", "one", n, add, have_base ? base.add : 0, 0,
               0, 0);
        report(o, "topology-remove", "one", n, remove,
               have_base ? base.remove : 0, 0, 0, 0);
        report(o, "topology-add", "batch", n, badd,
               have_base ? base.batch_add : 0, 0, 0, 0);
        report(o, "topology-remove", "batch", n, bremove,
               have_base ? base.batch_remove : 0, 0, 0, 0);
        g_rand_free(rand);
    }
    g_free(host);
    host = NULL;
}

/* ---- the plot ---- */

/* "regions ns" lines of one figure or its baseline; true if two or more.
 */
static bool series_point(GString *out, const char *bench, const char *mode,
                         bool baseline)
{
    unsigned count = 0;

    for (guint i = 0; points && i < points->len; i++) {
        const Point *p = &g_array_index(points, Point, i);
        double ns = baseline ? p->base_ns : p->ns;

        if (strcmp(p->bench, bench) != 0 || strcmp(p->mode, mode) != 0 ||
            !(ns > 0))
            continue;
        g_string_append_printf(out, "%u %.6g\n", p->regions, ns);
        count++;
    }
    return count >= 2;
}

void bench_topology_plot(const char *svg)
{
    static const struct {
        const char *bench, *mode, *title, *color;
    } lines[] = {
        {"topology-add", "one", "add, one at a time", "#1f77b4"},
        {"topology-remove", "one", "remove, one at a time", "#d62728"},
        {"topology-add", "batch", "add, in a batch", "#2ca02c"},
        {"topology-remove", "batch", "remove, in a batch", "#9467bd"},
        {"topology-fill", "one", "fill 0..n one at a time, per add",
         "#ff7f0e"},
    };
    char *gnuplot = g_find_program_in_path("gnuplot");
    char *dir, *out_svg, *script;
    GString *gp;
    bool any = false;

    if (!gnuplot)
        return;
    dir = g_dir_make_tmp("dms-bench-topo-XXXXXX", NULL);
    out_svg =
        g_str_has_suffix(svg, ".svg")
            ? g_strdup_printf("%.*s-topology.svg", (int)(strlen(svg) - 4), svg)
            : g_strdup_printf("%s-topology.svg", svg);
    gp = g_string_new(NULL);
    g_string_append_printf(
        gp,
        "set terminal svg size 900,640 dynamic noenhanced font 'sans,11'\n"
        "set output '%s'\n"
        "set title 'libdmaspace: cost of a topology change against regions "
        "in the space'\n"
        "set logscale xy\nset grid\nset key outside below left Left reverse "
        "maxcols 2\n"
        "set xlabel 'regions in the space'\nset ylabel 'ns per operation'\n"
        "plot ",
        out_svg);
    for (unsigned b = 0; dir && b < 2; b++) {
        for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
            GString *pts = g_string_new(NULL);
            char *path;

            if (!series_point(pts, lines[i].bench, lines[i].mode, b)) {
                g_string_free(pts, TRUE);
                continue;
            }
            path = g_strdup_printf("%s/%zu-%u.dat", dir, i, b);
            g_file_set_contents(path, pts->str, -1, NULL);
            g_string_append_printf(
                gp,
                "%s'%s' using 1:2 with linespoints lw %s pt %d lc rgb '%s' "
                "title '%s%s'",
                any ? ", \\\n     " : "", path, b ? "0.8" : "1.8", b ? 6 : 7,
                lines[i].color, lines[i].title,
                b ? " (baseline: full re-render)" : "");
            any = true;
            g_free(path);
            g_string_free(pts, TRUE);
        }
    }
    if (any) {
        char *argv[3];
        int status = 0;

        g_string_append_c(gp, '\n');
        script = g_strdup_printf("%s/plot.gp", dir);
        g_file_set_contents(script, gp->str, -1, NULL);
        argv[0] = gnuplot;
        argv[1] = script;
        argv[2] = NULL;
        if (g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                         NULL, NULL, NULL, &status, NULL) &&
            WIFEXITED(status) && WEXITSTATUS(status) == 0)
            fprintf(stderr, "dms-bench: plot written to %s\n", out_svg);
        g_free(script);
    }
    if (dir)
        bench_remove_tree(dir);
    g_string_free(gp, TRUE);
    g_free(out_svg);
    g_free(dir);
    g_free(gnuplot);
}
