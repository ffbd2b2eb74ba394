/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms-bench: what libdmaspace costs, next to what it replaces.
 *
 * This file holds the options and the timing runner; bench-output.c the
 * output: a table for people, one JSON object per line for scripts
 * (--json), an SVG of throughput against transfer size (--plot). The
 * figures themselves are in bench-*.c; see doc/benchmarks.md for what
 * each one means.
 *
 * Timing: CLOCK_MONOTONIC around a batch of operations. Each figure is
 * warmed up, its batch calibrated to a short sample, then sampled many
 * times interleaved with its baseline, and the fastest sample of each is
 * reported. The work is fixed and deterministic, so anything that makes
 * a sample slower is interference (another process on this busy 2-core
 * machine, a preemption, an interrupt) rather than the code's cost: the
 * minimum is the estimate least moved by it, and interleaving gives the
 * figure and its baseline the same chances at a quiet moment.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <glib/gstdio.h>

#include "bench.h"

/* Sample length and count of a full run and of --quick. */
#define FULL_SAMPLE_NS 5e6
#define FULL_REPEATS 15
#define QUICK_SAMPLE_NS 1e6
#define QUICK_REPEATS 1

G_GNUC_NO_INLINE void bench_copy(void *dst, const void *src, size_t len)
{
    memcpy(dst, src, len);
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("dms-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void bench_check(int ret, const char *what)
{
    if (ret != 0)
        bench_fail("%s failed: %s", what, g_strerror(ret < 0 ? -ret : ret));
}

/* ---- the runner ---- */

static uint64_t time_batch(const BenchSpec *s, uint64_t iters)
{
    uint64_t t0 = bench_now_ns();

    s->fn(s->ctx, iters);
    return bench_now_ns() - t0;
}

/*
 * Finds a batch size that runs for about one sample. The growing batches
 * double as the warm-up: caches, branch predictors, the bounce pool and
 * the socket buffers are all hot by the time the size is known.
 */
static uint64_t calibrate(const BenchOptions *o, const BenchSpec *s)
{
    uint64_t cap = s->max_iters ? s->max_iters : UINT64_MAX / 2;
    uint64_t least = MIN(MAX(s->min_iters, 1), cap);
    uint64_t iters = least;

    if (cap == 1)
        return 1; /* one operation is already a long sample */
    if (!s->no_warmup)
        s->fn(s->ctx, 1);
    for (;;) {
        uint64_t dt = time_batch(s, iters);
        double want;

        if (iters >= cap)
            return cap;
        if (dt < o->sample_ns / 16) {
            iters = MIN(iters * 8, cap);
            continue;
        }
        want = (double)iters * o->sample_ns / (double)MAX(dt, 1);
        if (want < (double)least)
            return least;
        return MIN((uint64_t)want, cap);
    }
}

void bench_run(const BenchOptions *o, const BenchSpec *specs, size_t n,
               double *ns_per_op)
{
    uint64_t *iters = g_new(uint64_t, n);
    unsigned *taken = g_new0(unsigned, n);
    double *samples = g_new(double, n * o->repeats);

    for (size_t i = 0; i < n; i++)
        iters[i] = calibrate(o, &specs[i]);
    for (unsigned r = 0; r < o->repeats; r++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t dt;

            if (specs[i].max_repeats && r >= specs[i].max_repeats)
                continue;
            dt = time_batch(&specs[i], iters[i]);
            samples[i * o->repeats + taken[i]++] =
                (double)dt / (double)iters[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        const double *s = &samples[i * o->repeats];

        ns_per_op[i] = s[0];
        for (unsigned k = 1; k < taken[i]; k++)
            ns_per_op[i] = MIN(ns_per_op[i], s[k]);
    }
    g_free(samples);
    g_free(taken);
    g_free(iters);
}

/* ---- several threads at once ---- */

static void *worker_main(void *opaque)
{
    BenchWorker *w = opaque;
    BenchParallel *p = w->parallel;
    uint64_t seen = 0;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        uint64_t iters;

        while (p->batch == seen && !p->stop)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop)
            break;
        seen = p->batch;
        iters = p->iters;
        pthread_mutex_unlock(&p->lock);
        p->fn(p->ctx[w->index], iters);
        pthread_mutex_lock(&p->lock);
        if (--p->running == 0)
            pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void bench_parallel_start(BenchParallel *p)
{
    g_assert(p->threads >= 1 && p->threads <= BENCH_MAX_THREADS);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->batch = 0;
    p->stop = false;
    for (unsigned t = 1; t < p->threads; t++) {
        BenchWorker *w = &p->workers[t];

        w->parallel = p;
        w->index = t;
        w->thread = g_thread_new("bench", worker_main, w);
    }
}

void bench_parallel_stop(BenchParallel *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned t = 1; t < p->threads; t++)
        g_thread_join(p->workers[t].thread);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

void bench_run_threads(const BenchOptions *o, BenchParallel *two,
                       BenchParallel *one, double ns[2])
{
    BenchSpec specs[2] = {
        {.fn = bench_parallel, .ctx = two, .min_iters = two->min_iters},
        {.fn = bench_parallel, .ctx = one, .min_iters = two->min_iters},
    };

    bench_parallel_start(one);
    bench_parallel_start(two);
    bench_run(o, specs, 2, ns);
    bench_parallel_stop(two);
    bench_parallel_stop(one);
}

void bench_check_idle(DmsSpace *space, const char *what)
{
    DmsSpaceStats stats = {.size = sizeof(stats)};

    bench_check(dms_space_get_stats(space, &stats), "dms_space_get_stats");
    if (stats.bounce_in_use != 0)
        bench_fail("%s: %" G_GUINT64_FORMAT
                   " bounce bytes still lent at the end",
                   what, stats.bounce_in_use);
}

void bench_parallel(void *parallel, uint64_t iters)
{
    BenchParallel *p = parallel;

    pthread_mutex_lock(&p->lock);
    p->iters = iters;
    p->running = p->threads - 1;
    p->batch++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);

    p->fn(p->ctx[0], iters);

    pthread_mutex_lock(&p->lock);
    while (p->running > 0)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* ---- main ---- */

/*
 * Keeps the CPU busy for a moment before the first figure: a core that
 * was idle runs the first samples at a lower clock, and a virtual CPU
 * may not have been scheduled at all.
 */
static void warm_cpu(double ns)
{
    uint64_t end = bench_now_ns() + (uint64_t)ns, x = 1;

    while (bench_now_ns() < end) {
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005u + 1442695040888963407u;
        bench_keep(x);
    }
}

typedef struct Group {
    const char *name;
    void (*run)(const BenchOptions *o);
} Group;

static const Group groups[] = {
    {"lookup", bench_lookup},           {"ram", bench_ram},
    {"map", bench_map_direct},          {"bounce", bench_bounce},
    {"message", bench_message},         {"threads", bench_bounce_threads},
    {"threads", bench_message_threads}, {"sg", bench_sg},
    {"topology", bench_topology},
#ifdef DMS_BENCH_VFIO_USER
    {"vfio-user", bench_vfio_user},
#endif
};

static bool group_selected(char **only, const char *name)
{
    return !only || g_strv_contains((const char *const *)only, name);
}

int main(int argc, char **argv)
{
    BenchOptions o = {0};
    gboolean quick = FALSE, json = FALSE;
    char *plot_path = NULL, *only_text = NULL;
    char **only = NULL;
    gint topology_baseline = 0, topology_baseline_fill = 0;
    GOptionEntry entries[] = {
        {"quick", 'q', 0, G_OPTION_ARG_NONE, &quick,
         "Short run for smoke testing (figures are rough)", NULL},
        {"json", 'j', 0, G_OPTION_ARG_NONE, &json,
         "Print one JSON object per figure and line", NULL},
        {"plot", 'p', 0, G_OPTION_ARG_FILENAME, &plot_path,
         "Draw throughput against size into FILE.svg (needs gnuplot)",
         "FILE.svg"},
        {"only", 'o', 0, G_OPTION_ARG_STRING, &only_text,
         "Run only these groups: lookup,ram,map,bounce,message,threads,sg,"
         "topology"
#ifdef DMS_BENCH_VFIO_USER
         ",vfio-user"
#endif
         ,
         "LIST"},
        /* The topology group's baseline, run as a child: bench-topology.c */
        {"topology-baseline", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT,
         &topology_baseline, NULL, NULL},
        {"topology-baseline-fill", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT,
         &topology_baseline_fill, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionContext *ctx =
        g_option_context_new("- measure libdmaspace against its baselines");
    GError *error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        bench_fail("%s", error->message);
    g_option_context_free(ctx);
    if (argc > 1)
        bench_fail("unexpected argument '%s' (see --help)", argv[1]);
    if (topology_baseline > 0) {
        bench_topology_baseline((unsigned)topology_baseline,
                                (unsigned)MAX(topology_baseline_fill, 0));
        return 0;
    }
    if (only_text) {
        only = g_strsplit(only_text, ",", -1);
        for (char **g = only; *g; g++) {
            bool known = false;
            for (size_t i = 0; i < G_N_ELEMENTS(groups); i++)
                known |= strcmp(groups[i].name, *g) == 0;
            if (!known)
                bench_fail("--only: unknown group '%s'", *g);
        }
    }

    o.quick = quick;
    o.json = json;
    o.plot_path = plot_path;
    o.sample_ns = quick ? QUICK_SAMPLE_NS : FULL_SAMPLE_NS;
    o.repeats = quick ? QUICK_REPEATS : FULL_REPEATS;
    bench_output_begin(&o);
    warm_cpu(quick ? 10e6 : 300e6);
    /* Before anything uses a space; the group measures it again after. */
    if (group_selected(only, "threads"))
        bench_bounce_threads_fresh(&o);
    for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
        if (group_selected(only, groups[i].name))
            groups[i].run(&o);
    }
    bench_output_end(&o);
    if (plot_path)
        bench_topology_plot(plot_path);

    g_strfreev(only);
    g_free(only_text);
    g_free(plot_path);
    return 0;
}
