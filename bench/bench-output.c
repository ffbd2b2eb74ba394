/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms-bench's output: a table for people, JSON lines for scripts, an SVG
 * for the eye.
 *
 * - The table scales every figure to its unit (ns, µs, ms, s; KiB/s,
 *   MiB/s, GiB/s) so a column of very different figures stays readable.
 * - The JSON starts with one metadata record (what ran, where, when);
 *   every figure after it is one object per line with raw numbers (ns,
 *   bytes per second), so scripts never parse units.
 * - The plot has one panel per group (RAM, map and bounce, message, ...),
 *   each baseline drawn once, each axis ending where its data ends.
 * - A quick run says so in all three, and judges no target: its figures
 *   come from one short sample each.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include <glib/gstdio.h>

#include "bench-commit.h"
#include "bench.h"

static GArray *results; /* of BenchResult, for the plot */
static bool table_header_printed;
static unsigned targets_missed;

/* ---- units ---- */

static double bytes_per_s(uint64_t bytes, double ns)
{
    return (double)bytes / ns * 1e9;
}

/* @ns as "5.63 ns", "12.4 µs", "1.25 ms" or "2.1 s": 3 significant digits. */
static const char *time_text(double ns, char *buf, size_t len)
{
    static const struct {
        double scale;
        const char *unit;
    } units[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "µs"}, {1, "ns"}};
    size_t i = 0;

    while (i + 1 < G_N_ELEMENTS(units) && ns < units[i].scale)
        i++;
    snprintf(buf, len, "%.3g %s", ns / units[i].scale, units[i].unit);
    return buf;
}

/* @rate bytes per second as "812 KiB/s", "95.3 MiB/s" or "1.63 GiB/s". */
static const char *rate_text(double rate, char *buf, size_t len)
{
    static const char *const units[] = {"B/s", "KiB/s", "MiB/s", "GiB/s",
                                        "TiB/s"};
    size_t i = 0;

    while (i + 1 < G_N_ELEMENTS(units) && rate >= 1024) {
        rate /= 1024;
        i++;
    }
    snprintf(buf, len, "%.3g %s", rate, units[i]);
    return buf;
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

/* ---- targets ---- */

/*
 * The figure's targets, each followed by "ok" or "MISSED" when @judge;
 * "" if it has none. Counts the misses into @missed if not NULL.
 */
static const char *target_text(const BenchResult *r, bool judge, char *buf,
                               size_t len, unsigned *missed)
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
        if (judge)
            g_strlcat(buf, met ? " ok" : " MISSED", len);
        if (judge && !met && missed)
            (*missed)++;
    }
    return buf;
}

/* ---- the metadata record and the table ---- */

/* The CPU's model name from /proc/cpuinfo, or the machine type. */
static char *cpu_model(void)
{
    char *text = NULL, *model = NULL;
    struct utsname u;

    if (g_file_get_contents("/proc/cpuinfo", &text, NULL, NULL)) {
        for (char *line = strtok(text, "\n"); line && !model;
             line = strtok(NULL, "\n")) {
            char *colon = strchr(line, ':');

            /* x86 says "model name", others "cpu model" or "Processor". */
            if (colon && (g_str_has_prefix(line, "model name") ||
                          g_str_has_prefix(line, "cpu model") ||
                          g_str_has_prefix(line, "Processor")))
                model = g_strstrip(g_strdup(colon + 1));
        }
        g_free(text);
    }
    if (!model)
        model = g_strdup(uname(&u) == 0 ? u.machine : "unknown");
    return model;
}

static void json_string(GString *s, const char *key, const char *value)
{
    char *escaped = g_strescape(value, NULL);

    g_string_append_printf(s, "%s\"%s\": \"%s\"", s->len > 1 ? ", " : "", key,
                           escaped);
    g_free(escaped);
}

void bench_output_begin(const BenchOptions *o)
{
    GDateTime *now = g_date_time_new_now_utc();
    char *date = g_date_time_format_iso8601(now);
    char *cpu = cpu_model();

    results = g_array_new(FALSE, FALSE, sizeof(BenchResult));
    if (o->json) {
        GString *s = g_string_new("{");

        json_string(s, "record", "meta");
        json_string(s, "library_version", dms_version_string());
        json_string(s, "commit", BENCH_COMMIT);
        json_string(s, "run", o->quick ? "quick" : "full");
        json_string(s, "cpu_model", cpu);
        g_string_append_printf(s, ", \"cpus\": %u", g_get_num_processors());
        json_string(s, "date", date);
        g_string_append_c(s, '}');
        puts(s->str);
        g_string_free(s, TRUE);
    } else {
        printf("dms-bench %s (%s), %s run on %s, %s\n", dms_version_string(),
               BENCH_COMMIT,
               o->quick ? "QUICK (rough figures, targets not judged)" : "full",
               cpu, date);
        printf("best of %u sample%s of ~%g ms; ratio = baseline time / "
               "time (above 1: faster than the baseline)\n\n",
               o->repeats, o->repeats > 1 ? "s" : "", o->sample_ns / 1e6);
    }
    g_free(cpu);
    g_free(date);
    g_date_time_unref(now);
}

static void print_json(const BenchOptions *o, const BenchResult *r)
{
    GString *s = g_string_new("{");
    char num[G_ASCII_DTOSTR_BUF_SIZE];

#define ADD_NUM(key, value)                                                   \
    g_string_append_printf(s, ", \"%s\": %s", key,                            \
                           g_ascii_formatd(num, sizeof(num), "%.6g", value))

    json_string(s, "record", "figure");
    json_string(s, "run", o->quick ? "quick" : "full");
    json_string(s, "bench", r->bench);
    if (r->mode)
        json_string(s, "mode", r->mode);
    if (r->size)
        g_string_append_printf(s, ", \"size\": %" G_GUINT64_FORMAT, r->size);
    if (r->regions)
        g_string_append_printf(s, ", \"regions\": %u", r->regions);
    if (r->threads)
        g_string_append_printf(s, ", \"threads\": %u", r->threads);
    ADD_NUM("ns_per_op", r->ns_per_op);
    if (r->size && !r->no_throughput)
        ADD_NUM("bytes_per_s", bytes_per_s(r->size, r->ns_per_op));
    if (r->msgs_per_op >= 0)
        ADD_NUM("msgs_per_op", r->msgs_per_op);
    if (r->baseline_ns > 0) {
        json_string(s, "baseline", r->baseline ? r->baseline : "");
        ADD_NUM("baseline_ns_per_op", r->baseline_ns);
        ADD_NUM("ratio", r->baseline_ns / r->ns_per_op);
    }
    if (r->bytes_per_region > 0)
        ADD_NUM("bytes_per_region", r->bytes_per_region);
    if (r->rss_per_region > 0)
        ADD_NUM("rss_bytes_per_region", r->rss_per_region);
#undef ADD_NUM
    g_string_append_c(s, '}');
    puts(s->str);
    g_string_free(s, TRUE);
}

/* printf's width counts bytes: pad @text to @width characters (µ is 2). */
static void put_cell(const char *text, int width, bool left)
{
    int pad = width - (int)g_utf8_strlen(text, -1);

    if (!left)
        printf("%*s", pad > 0 ? pad : 0, "");
    fputs(text, stdout);
    if (left)
        printf("%*s", pad > 0 ? pad : 0, "");
}

static void print_row(const BenchOptions *o, const BenchResult *r)
{
    char size[32] = "", count[16] = "", rate[24] = "", msgs[16] = "";
    char time[24], base[24] = "", ratio[16] = "", target[128], rss[64] = "";

    if (!table_header_printed) {
        printf("%-15s %-18s %7s %5s %10s %11s %8s  %-26s %10s %7s  %s\n",
               "bench", "mode", "size", "n", "time/op", "throughput",
               "msgs/op", "baseline", "base time", "ratio", "target");
        table_header_printed = true;
    }
    if (r->size)
        size_text(r->size, size, sizeof(size));
    if (r->size && !r->no_throughput)
        rate_text(bytes_per_s(r->size, r->ns_per_op), rate, sizeof(rate));
    /* "n": regions for lookups, threads for the concurrency figures */
    if (r->regions)
        snprintf(count, sizeof(count), "%u", r->regions);
    else if (r->threads)
        snprintf(count, sizeof(count), "%ut", r->threads);
    if (r->msgs_per_op >= 0)
        snprintf(msgs, sizeof(msgs), "%g", r->msgs_per_op);
    if (r->baseline_ns > 0) {
        time_text(r->baseline_ns, base, sizeof(base));
        snprintf(ratio, sizeof(ratio), "%.3gx", r->baseline_ns / r->ns_per_op);
    }
    printf("%-15s %-18s %7s %5s ", r->bench, r->mode ? r->mode : "", size,
           count);
    put_cell(time_text(r->ns_per_op, time, sizeof(time)), 10, false);
    putchar(' ');
    put_cell(rate, 11, false);
    printf(" %8s  %-26s ", msgs,
           r->baseline_ns > 0 && r->baseline ? r->baseline : "");
    put_cell(base, 10, false);
    if (r->bytes_per_region > 0)
        snprintf(rss, sizeof(rss), "  [heap %.0f, RSS %.0f B/region]",
                 r->bytes_per_region, r->rss_per_region);
    printf(" %7s  %s%s\n", ratio,
           target_text(r, !o->quick, target, sizeof(target), NULL), rss);
    fflush(stdout);
}

void bench_report(const BenchOptions *o, const BenchResult *r)
{
    char target[128];

    if (!(r->ns_per_op > 0) || !isfinite(r->ns_per_op))
        bench_fail("%s: no time measured", r->bench);
    g_array_append_val(results, *r);
    target_text(r, !o->quick, target, sizeof(target), &targets_missed);
    if (o->json)
        print_json(o, r);
    else
        print_row(o, r);
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

/*
 * The panels, by the figure's bench name; a figure of another group goes
 * to "other". Only figures measured at several sizes are drawn.
 */
static const struct {
    const char *prefix;
    const char *title;
} panel_of[] = {
    {"ram", "RAM: read and write"},
    {"map", "map and bounce"},
    {"sg", "map and bounce"},
    {"message", "message regions"},
};
#define PANEL_OTHER "other"

static const char *panel_title(const char *bench)
{
    for (size_t i = 0; i < G_N_ELEMENTS(panel_of); i++) {
        if (g_str_has_prefix(bench, panel_of[i].prefix))
            return panel_of[i].title;
    }
    return PANEL_OTHER;
}

typedef struct Series {
    char *panel;
    char *title;
    GArray *points; /* of Point, sizes ascending once sorted */
    unsigned color;
    bool baseline;
} Series;

typedef struct Point {
    uint64_t size;
    double ns;   /* as measured: the key that tells one measurement */
    double rate; /* GiB/s */
} Point;

/* Distinct on white, and in an order where neighbours differ. */
static const char *const plot_colors[] = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
};

static Series *series_get(GPtrArray *all, const char *panel, const char *title,
                          bool baseline)
{
    Series *s;

    for (guint i = 0; i < all->len; i++) {
        s = g_ptr_array_index(all, i);
        if (strcmp(s->panel, panel) == 0 && strcmp(s->title, title) == 0)
            return s;
    }
    s = g_new0(Series, 1);
    s->panel = g_strdup(panel);
    s->title = g_strdup(title);
    s->points = g_array_new(FALSE, FALSE, sizeof(Point));
    s->baseline = baseline;
    s->color = all->len % G_N_ELEMENTS(plot_colors);
    g_ptr_array_add(all, s);
    return s;
}

/*
 * One point per size: a baseline measured beside several figures (memcpy
 * beside both RAM read and write) is one curve, at its best sample.
 */
static void series_add(Series *s, uint64_t size, double ns)
{
    double rate = bytes_per_s(size, ns) / (double)(1u << 30);

    for (guint i = 0; i < s->points->len; i++) {
        Point *p = &g_array_index(s->points, Point, i);
        if (p->size == size) {
            if (rate > p->rate)
                *p = (Point){size, ns, rate};
            return;
        }
    }
    g_array_append_val(s->points, ((Point){size, ns, rate}));
}

/*
 * Is this measurement (@ns at @size) in the panel already? Some figures
 * are reported twice, against two baselines (map-bounce against the heap
 * and against g_malloc0), and some baselines are figures of their own
 * (the 8-byte message mode): a curve is drawn once.
 */
static bool measured_in_panel(GPtrArray *all, const char *panel, uint64_t size,
                              double ns)
{
    for (guint i = 0; i < all->len; i++) {
        const Series *s = g_ptr_array_index(all, i);

        if (strcmp(s->panel, panel) != 0)
            continue;
        for (guint k = 0; k < s->points->len; k++) {
            const Point *p = &g_array_index(s->points, Point, k);
            if (p->size == size && p->ns == ns)
                return true;
        }
    }
    return false;
}

static void series_free(gpointer p)
{
    Series *s = p;

    g_free(s->panel);
    g_free(s->title);
    g_array_unref(s->points);
    g_free(s);
}

static gint compare_points(gconstpointer a, gconstpointer b)
{
    const Point *x = a, *y = b;

    return x->size < y->size ? -1 : x->size > y->size;
}

/*
 * Throughput against transfer size: every figure measured at several
 * sizes with one thread, and each baseline once per panel.
 */
static GPtrArray *collect_series(void)
{
    GPtrArray *all = g_ptr_array_new_with_free_func(series_free);

    for (guint i = 0; i < results->len; i++) {
        const BenchResult *r = &g_array_index(results, BenchResult, i);
        const char *panel;
        char *title;

        if (!r->size || r->no_throughput || r->regions || r->threads > 1)
            continue;
        panel = panel_title(r->bench);
        title = g_strdup_printf("%s%s%s", r->bench, r->mode ? " " : "",
                                r->mode ? r->mode : "");
        if (!measured_in_panel(all, panel, r->size, r->ns_per_op))
            series_add(series_get(all, panel, title, false), r->size,
                       r->ns_per_op);
        g_free(title);
        if (r->baseline_ns > 0 && r->baseline &&
            !measured_in_panel(all, panel, r->size, r->baseline_ns))
            series_add(series_get(all, panel, r->baseline, true), r->size,
                       r->baseline_ns);
    }
    for (guint i = 0; i < all->len; i++) {
        Series *s = g_ptr_array_index(all, i);
        g_array_sort(s->points, compare_points);
    }
    return all;
}

/* A panel is drawn if one of its curves has several points. */
static bool panel_drawn(GPtrArray *all, const char *panel)
{
    for (guint i = 0; i < all->len; i++) {
        const Series *s = g_ptr_array_index(all, i);
        if (strcmp(s->panel, panel) == 0 && s->points->len >= 2)
            return true;
    }
    return false;
}

static int write_series(const char *dir, guint index, const Series *s,
                        char **path)
{
    GString *text = g_string_new(NULL);
    char num[G_ASCII_DTOSTR_BUF_SIZE], *name;
    bool ok;

    for (guint i = 0; i < s->points->len; i++) {
        const Point *p = &g_array_index(s->points, Point, i);
        g_string_append_printf(
            text, "%" G_GUINT64_FORMAT " %s\n", p->size,
            g_ascii_formatd(num, sizeof(num), "%.6g", p->rate));
    }
    name = g_strdup_printf("series-%u.dat", index);
    *path = g_build_filename(dir, name, NULL);
    ok = g_file_set_contents(*path, text->str, -1, NULL);
    g_free(name);
    g_string_free(text, TRUE);
    return ok ? 0 : -EIO;
}

/* The panel's data range: its axes end there. */
static void panel_range(GPtrArray *all, const char *panel, uint64_t *xmin,
                        uint64_t *xmax, double *ymin, double *ymax)
{
    *xmin = UINT64_MAX;
    *xmax = 0;
    *ymin = INFINITY;
    *ymax = 0;
    for (guint i = 0; i < all->len; i++) {
        const Series *s = g_ptr_array_index(all, i);

        if (strcmp(s->panel, panel) != 0 || s->points->len < 2)
            continue;
        for (guint k = 0; k < s->points->len; k++) {
            const Point *p = &g_array_index(s->points, Point, k);
            *xmin = MIN(*xmin, p->size);
            *xmax = MAX(*xmax, p->size);
            *ymin = MIN(*ymin, p->rate);
            *ymax = MAX(*ymax, p->rate);
        }
    }
}

static int write_panel(FILE *f, const char *dir, GPtrArray *all,
                       const char *panel)
{
    char lo[G_ASCII_DTOSTR_BUF_SIZE], hi[G_ASCII_DTOSTR_BUF_SIZE];
    uint64_t xmin, xmax;
    double ymin, ymax;
    bool first = true;

    panel_range(all, panel, &xmin, &xmax, &ymin, &ymax);
    fputs("set title ", f);
    put_quoted(f, panel);
    /* Log axes end at the data, with a margin of a few percent. */
    fprintf(f,
            "\nset xrange [%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT "]\n"
            "set yrange [%s:%s]\nplot ",
            xmin, xmax, g_ascii_formatd(lo, sizeof(lo), "%.4g", ymin / 1.15),
            g_ascii_formatd(hi, sizeof(hi), "%.4g", ymax * 1.15));
    for (guint i = 0; i < all->len; i++) {
        const Series *s = g_ptr_array_index(all, i);
        char *path, *title;

        if (strcmp(s->panel, panel) != 0 || s->points->len < 2)
            continue;
        if (write_series(dir, i, s, &path) < 0)
            return -EIO;
        fputs(first ? "" : ", \\\n     ", f);
        put_quoted(f, path);
        /* Baselines: thin, hollow points, so figure and baseline differ
         * in print as well as in colour. */
        fprintf(f,
                " using 1:2 with linespoints lw %s pt %d ps 0.7 "
                "lc rgb '%s' title ",
                s->baseline ? "0.8" : "1.8", s->baseline ? 6 : 7,
                plot_colors[s->color]);
        title = s->baseline ? g_strdup_printf("%s (baseline)", s->title)
                            : g_strdup(s->title);
        put_quoted(f, title);
        first = false;
        g_free(title);
        g_free(path);
    }
    fputc('\n', f);
    return 0;
}

static int write_plot_files(const BenchOptions *o, const char *dir,
                            GPtrArray *all, char **script_path)
{
    GPtrArray *panels = g_ptr_array_new();
    FILE *f;
    int r = 0;

    for (guint i = 0; i < all->len; i++) {
        const Series *s = g_ptr_array_index(all, i);
        bool seen = false;

        for (guint k = 0; k < panels->len; k++)
            seen |= strcmp(g_ptr_array_index(panels, k), s->panel) == 0;
        if (!seen && panel_drawn(all, s->panel))
            g_ptr_array_add(panels, s->panel);
    }
    if (panels->len == 0) {
        g_ptr_array_unref(panels);
        return -ENODATA;
    }

    *script_path = g_build_filename(dir, "plot.gp", NULL);
    f = fopen(*script_path, "w");
    if (!f) {
        g_ptr_array_unref(panels);
        return -errno;
    }
    fprintf(f,
            "set terminal svg size 1000,%u dynamic noenhanced "
            "font 'sans,11'\nset output ",
            200 + 420 * panels->len);
    put_quoted(f, o->plot_path);
    fprintf(f,
            "\nset multiplot layout %u,1 title 'libdmaspace dms-bench %s: "
            "throughput by transfer size%s'\n"
            "set logscale xy\nset grid\nset format y '%%g'\n"
            "set key outside right top Left reverse font ',10'\n"
            "set xlabel 'bytes per operation'\nset ylabel 'GiB/s'\n"
            "set xtics ('8' 8, '64' 64, '512' 512, '4K' 4096, '64K' 65536, "
            "'1M' 1048576, '16M' 16777216)\n",
            panels->len, dms_version_string(),
            o->quick ? " (QUICK run: rough figures)" : "");
    for (guint k = 0; k < panels->len && r == 0; k++)
        r = write_panel(f, dir, all, g_ptr_array_index(panels, k));
    fputs("unset multiplot\n", f);
    g_ptr_array_unref(panels);
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    return r;
}

void bench_remove_tree(const char *dir)
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

static void plot(const BenchOptions *o)
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
    r = write_plot_files(o, dir, all, &script);
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
        fprintf(stderr, "dms-bench: plot written to %s\n", o->plot_path);
    }
    g_free(err);
    g_free(script);
    bench_remove_tree(dir);
    g_free(dir);
    g_ptr_array_unref(all);
    g_free(gnuplot);
}

void bench_output_end(const BenchOptions *o)
{
    if (!o->json) {
        if (o->quick)
            printf("\nquick run: targets not judged (one short sample per "
                   "figure)\n");
        else
            printf("\n%u target%s missed\n", targets_missed,
                   targets_missed == 1 ? "" : "s");
    }
    if (o->plot_path)
        plot(o);
    g_array_unref(results);
}
