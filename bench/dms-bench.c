/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms-bench: what libdmaspace costs, next to what it replaces.
 *
 * This file holds the options, the timing runner and the output: a table
 * for people, one JSON object per line for scripts (--json), an SVG of
 * throughput against transfer size (--plot). The figures themselves are
 * in bench-*.c; see doc/benchmarks.md for what each one means.
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

static GArray *results; /* of BenchResult, for the plot */
static bool table_header_printed;
static unsigned targets_missed;

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
    uint64_t iters = 1;

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
        if (want < 1)
            return 1;
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

/* ---- output ---- */

static double gib_per_s(uint64_t bytes, double ns)
{
    return (double)bytes / ns * 1e9 / (double)(1u << 30);
}

static const char *size_text(uint64_t size, char *buf, size_t len)
{
    if (size >= (1u << 20) && size % (1u << 20) == 0)
        snprintf(buf, len, "%" G_GUINT64_FORMAT " MiB", size >> 20);
    else if (size >= 1024 && size % 1024 == 0)
        snprintf(buf, len, "%" G_GUINT64_FORMAT " KiB", size >> 10);
    else
        snprintf(buf, len, "%" G_GUINT64_FORMAT " B", size);
    return buf;
}

/*
 * The figure's targets, each followed by "ok" or "MISSED"; "" if it has
 * none. Counts the misses into @missed if not NULL.
 */
static const char *target_text(const BenchResult *r, char *buf, size_t len,
                               unsigned *missed)
{
    double ratio = r->baseline_ns > 0 ? r->baseline_ns / r->ns_per_op : 0;
    char one[48];

    buf[0] = '\0';
    for (int t = 0; t < 3; t++) {
        bool met;

        if (t == 0 && r->target_msgs > 0) {
            met = r->msgs_per_op == r->target_msgs;
            snprintf(one, sizeof(one), "=%g msg", r->target_msgs);
        } else if (t == 1 && r->target_ratio > 0) {
            met = ratio >= r->target_ratio;
            snprintf(one, sizeof(one), ">=%gx", r->target_ratio);
        } else if (t == 2 && r->target_ns > 0) {
            met = r->ns_per_op <= r->target_ns;
            snprintf(one, sizeof(one), "<=%g ns", r->target_ns);
        } else {
            continue;
        }
        if (buf[0])
            g_strlcat(buf, ", ", len);
        g_strlcat(buf, one, len);
        g_strlcat(buf, met ? " ok" : " MISSED", len);
        if (!met && missed)
            (*missed)++;
    }
    return buf;
}

static void print_json(const BenchResult *r)
{
    GString *s = g_string_new("{");
    char num[G_ASCII_DTOSTR_BUF_SIZE];

#define ADD_NUM(key, value)                                                   \
    g_string_append_printf(s, "%s\"%s\": %s", s->len > 1 ? ", " : "", key,    \
                           g_ascii_formatd(num, sizeof(num), "%.6g", value))

    g_string_append_printf(s, "\"bench\": \"%s\"", r->bench);
    if (r->mode)
        g_string_append_printf(s, ", \"mode\": \"%s\"", r->mode);
    if (r->size)
        g_string_append_printf(s, ", \"size\": %" G_GUINT64_FORMAT, r->size);
    if (r->regions)
        g_string_append_printf(s, ", \"regions\": %u", r->regions);
    if (r->threads)
        g_string_append_printf(s, ", \"threads\": %u", r->threads);
    ADD_NUM("ns_per_op", r->ns_per_op);
    if (r->size && !r->no_throughput)
        ADD_NUM("gib_per_s", gib_per_s(r->size, r->ns_per_op));
    if (r->msgs_per_op >= 0)
        ADD_NUM("msgs_per_op", r->msgs_per_op);
    if (r->baseline_ns > 0) {
        ADD_NUM("baseline_ns_per_op", r->baseline_ns);
        ADD_NUM("ratio", r->baseline_ns / r->ns_per_op);
    }
#undef ADD_NUM
    g_string_append_c(s, '}');
    puts(s->str);
    g_string_free(s, TRUE);
}

static void print_row(const BenchResult *r)
{
    char size[32] = "", count[16] = "", gib[16] = "", msgs[16] = "";
    char base[16] = "", ratio[16] = "", target[128];

    if (!table_header_printed) {
        printf("%-15s %-18s %7s %5s %10s %7s %8s  %-22s %10s %7s  %s\n",
               "bench", "mode", "size", "n", "ns/op", "GiB/s", "msgs/op",
               "baseline", "base ns/op", "ratio", "target");
        table_header_printed = true;
    }
    if (r->size)
        size_text(r->size, size, sizeof(size));
    if (r->size && !r->no_throughput) {
        snprintf(gib, sizeof(gib), "%.3g", gib_per_s(r->size, r->ns_per_op));
    }
    /* "n": regions for lookups, threads for the concurrency figures */
    if (r->regions)
        snprintf(count, sizeof(count), "%u", r->regions);
    else if (r->threads)
        snprintf(count, sizeof(count), "%ut", r->threads);
    if (r->msgs_per_op >= 0)
        snprintf(msgs, sizeof(msgs), "%g", r->msgs_per_op);
    if (r->baseline_ns > 0) {
        snprintf(base, sizeof(base), "%.4g", r->baseline_ns);
        snprintf(ratio, sizeof(ratio), "%.3gx", r->baseline_ns / r->ns_per_op);
    }
    printf("%-15s %-18s %7s %5s %10.4g %7s %8s  %-22s %10s %7s  %s\n",
           r->bench, r->mode ? r->mode : "", size, count, r->ns_per_op, gib,
           msgs, r->baseline_ns > 0 && r->baseline ? r->baseline : "", base,
           ratio, target_text(r, target, sizeof(target), NULL));
    fflush(stdout);
}

void bench_report(const BenchOptions *o, const BenchResult *r)
{
    char target[128];

    if (!(r->ns_per_op > 0) || !isfinite(r->ns_per_op))
        bench_fail("%s: no time measured", r->bench);
    g_array_append_val(results, *r);
    target_text(r, target, sizeof(target), &targets_missed);
    if (o->json)
        print_json(r);
    else
        print_row(r);
}

/* ---- the plot ---- */

/* A gnuplot single-quoted string: only ' itself needs escaping ('') . */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

typedef struct Series {
    char *title;
    GString *points; /* "size gib_per_s" lines */
    unsigned count;
    unsigned color; /* a baseline takes its figure's colour, dashed */
    bool baseline;
} Series;

/* Distinct on white, and in an order where neighbours differ. */
static const char *const plot_colors[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
};

static Series *series_find(GPtrArray *all, const char *title)
{
    for (guint i = 0; i < all->len; i++) {
        Series *s = g_ptr_array_index(all, i);
        if (strcmp(s->title, title) == 0)
            return s;
    }
    return NULL;
}

static Series *series_get(GPtrArray *all, const char *title)
{
    Series *s = series_find(all, title);

    if (s)
        return s;
    s = g_new0(Series, 1);
    s->title = g_strdup(title);
    s->points = g_string_new(NULL);
    g_ptr_array_add(all, s);
    return s;
}

static void series_add(Series *s, uint64_t size, double ns)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append_printf(
        s->points, "%" G_GUINT64_FORMAT " %s\n", size,
        g_ascii_formatd(num, sizeof(num), "%.6g", gib_per_s(size, ns)));
    s->count++;
}

static void series_free(gpointer p)
{
    Series *s = p;

    g_free(s->title);
    g_string_free(s->points, TRUE);
    g_free(s);
}

/*
 * Throughput against transfer size: every figure measured at several
 * sizes with one thread, and the memcpy / g_malloc0 baselines beside the
 * figures they are the baseline of.
 */
static GPtrArray *collect_series(void)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(series_free);
    unsigned nfigures = 0;

    for (guint i = 0; i < results->len; i++) {
        const BenchResult *r = &g_array_index(results, BenchResult, i);
        Series *figure, *base;
        char *title;

        if (!r->size || r->no_throughput || r->regions || r->threads > 1)
            continue;
        title = g_strdup_printf("%s%s%s", r->bench, r->mode ? " " : "",
                                r->mode ? r->mode : "");
        if (!(figure = series_find(all, title))) {
            figure = series_get(all, title);
            figure->color = nfigures++ % G_N_ELEMENTS(plot_colors);
        }
        series_add(figure, r->size, r->ns_per_op);
        g_free(title);
        if (r->baseline_ns > 0 && r->baseline &&
            (g_str_has_prefix(r->baseline, "memcpy") ||
             g_str_has_prefix(r->baseline, "g_malloc0"))) {
            title = g_strdup_printf("%s (baseline of %s%s%s)", r->baseline,
                                    r->bench, r->mode ? " " : "",
                                    r->mode ? r->mode : "");
            base = series_get(all, title);
            base->color = figure->color;
            base->baseline = true;
            series_add(base, r->size, r->baseline_ns);
            g_free(title);
        }
    }
    return all;
}

static int write_plot_files(const char *dir, const char *svg, GPtrArray *all,
                            char **script_path)
{
    FILE *f;
    bool first = true;

    *script_path = g_build_filename(dir, "plot.gp", NULL);
    f = fopen(*script_path, "w");
    if (!f)
        return -errno;
    fputs("set terminal svg size 1000,820 dynamic noenhanced "
          "font 'sans,11'\nset output ",
          f);
    put_quoted(f, svg);
    fputs("\nset title 'libdmaspace dms-bench: throughput by transfer size'\n"
          "set logscale xy\nset grid\n"
          "set key outside below left Left reverse maxcols 2 font ',10'\n"
          "set xrange [5:1.6e6]\n"
          "set xlabel 'bytes per operation'\nset ylabel 'GiB/s'\n"
          "set xtics ('8' 8, '64' 64, '512' 512, '4K' 4096, '64K' 65536, "
          "'1M' 1048576)\nplot ",
          f);
    for (guint i = 0; i < all->len; i++) {
        const Series *s = g_ptr_array_index(all, i);
        char *name, *path;

        if (s->count < 2)
            continue;
        name = g_strdup_printf("series-%u.dat", i);
        path = g_build_filename(dir, name, NULL);
        if (!g_file_set_contents(path, s->points->str, -1, NULL)) {
            g_free(name);
            g_free(path);
            fclose(f);
            return -EIO;
        }
        fputs(first ? "" : ", \\\n     ", f);
        put_quoted(f, path);
        /*
         * Baselines: thin, hollow points. Not dashed: some SVG renderers
         * join gnuplot's dashed key sample to the curve.
         */
        fprintf(f,
                " using 1:2 with linespoints lw %s pt %d ps 0.7 "
                "lc rgb '%s' title ",
                s->baseline ? "0.8" : "1.8", s->baseline ? 6 : 7,
                plot_colors[s->color]);
        put_quoted(f, s->title);
        first = false;
        g_free(name);
        g_free(path);
    }
    fputc('\n', f);
    return fclose(f) == 0 ? (first ? -ENODATA : 0) : -errno;
}

static void remove_tree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
        g_free(path);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static void plot(const char *svg)
{
    char *gnuplot = g_find_program_in_path("gnuplot");
    GPtrArray *all;
    char *dir, *script = NULL, *err = NULL;
    GError *error = NULL;
    int status = 0, r;

    if (!gnuplot) {
        fprintf(stderr, "dms-bench: gnuplot is not installed; skipping "
                        "--plot (apt-get install gnuplot-nox)\n");
        return;
    }
    dir = g_dir_make_tmp("dms-bench-XXXXXX", &error);
    if (!dir)
        bench_fail("--plot: %s", error->message);
    all = collect_series();
    r = write_plot_files(dir, svg, all, &script);
    if (r == -ENODATA) {
        fprintf(stderr, "dms-bench: nothing measured at several sizes; "
                        "no plot drawn\n");
    } else if (r < 0) {
        bench_fail("--plot: writing %s: %s", dir, g_strerror(-r));
    } else {
        char *argv[] = {gnuplot, script, NULL};

        if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                          NULL, NULL, &err, &status, &error))
            bench_fail("--plot: running gnuplot: %s", error->message);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bench_fail("--plot: gnuplot failed:\n%s", err ? err : "");
        fprintf(stderr, "dms-bench: plot written to %s\n", svg);
    }
    g_free(err);
    g_free(script);
    remove_tree(dir);
    g_free(dir);
    g_ptr_array_unref(all);
    g_free(gnuplot);
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
    GOptionEntry entries[] = {
        {"quick", 'q', 0, G_OPTION_ARG_NONE, &quick,
         "Short run for smoke testing (figures are rough)", NULL},
        {"json", 'j', 0, G_OPTION_ARG_NONE, &json,
         "Print one JSON object per figure and line", NULL},
        {"plot", 'p', 0, G_OPTION_ARG_FILENAME, &plot_path,
         "Draw throughput against size into FILE.svg (needs gnuplot)",
         "FILE.svg"},
        {"only", 'o', 0, G_OPTION_ARG_STRING, &only_text,
         "Run only these groups: lookup,ram,map,bounce,message,threads,sg"
#ifdef DMS_BENCH_VFIO_USER
         ",vfio-user"
#endif
         ,
         "LIST"},
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
    results = g_array_new(FALSE, FALSE, sizeof(BenchResult));

    if (!json)
        printf("dms-bench: %s run, best of %u sample%s of ~%g ms; "
               "ratio = baseline ns / ns (above 1: faster than the "
               "baseline)\n\n",
               quick ? "quick (rough figures)" : "full", o.repeats,
               o.repeats > 1 ? "s" : "", o.sample_ns / 1e6);
    warm_cpu(quick ? 10e6 : 300e6);
    for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
        if (group_selected(only, groups[i].name))
            groups[i].run(&o);
    }
    if (!json)
        printf("\n%u target%s missed\n", targets_missed,
               targets_missed == 1 ? "" : "s");
    if (plot_path)
        plot(plot_path);

    g_array_unref(results);
    g_strfreev(only);
    g_free(only_text);
    g_free(plot_path);
    return 0;
}
