/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dms-bench: shared declarations of the benchmark's files.
 *
 *   dms-bench.c       options, the timing runner, table/JSON/plot output
 *   bench-ram.c       lookup, RAM read/write, direct map
 *   bench-bounce.c    bounce map/unmap, two threads of bounce maps
 *   bench-message.c   message DMA over a socket, two threads of it
 *   bench-remote.c    the socket transport: a server thread and a backend
 *   bench-sg.c        scatter-gather read through message regions
 *   bench-topology.c  adding and removing regions at 10^2..10^6, lookup
 *   bench-vfu.c       vfio-user: the module against vfu_sgl_* called directly
 *
 * Every figure is measured next to its baseline in the same run, samples
 * of the two interleaved, so that a machine busy with something else
 * slows both alike.
 */
#ifndef DMS_BENCH_H
#define DMS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <pthread.h>

#include <dmaspace/dmaspace.h>

typedef struct BenchOptions {
    bool quick;            /* a short run for smoke tests */
    bool json;             /* one JSON object per line instead of a table */
    const char *plot_path; /* draw an SVG there, or NULL */
    double sample_ns;      /* target length of one timed sample */
    unsigned repeats;      /* samples per figure; the fastest is reported */
} BenchOptions;

/*
 * One figure. Fields that do not apply are 0 (msgs_per_op: negative), and
 * are left out of the JSON.
 */
typedef struct BenchResult {
    const char *bench;
    const char *mode;
    uint64_t size;        /* bytes per operation */
    bool no_throughput;   /* size is mapped, not moved: no GiB/s */
    unsigned regions;     /* regions in the space */
    unsigned threads;     /* threads running at once */
    double ns_per_op;     /* wall-clock ns / operations, all threads */
    double msgs_per_op;   /* backend messages per operation; < 0: n/a */
    double baseline_ns;   /* the baseline's ns per op; 0: no baseline */
    const char *baseline; /* what the baseline is, for the table */
    /*
     * The target from the issue, checked when the table is printed:
     * ratio (baseline_ns / ns_per_op) at least target_ratio, ns_per_op
     * at most target_ns, msgs_per_op exactly target_msgs.
     */
    double target_ratio;
    double target_ns;
    double target_msgs;
    /*
     * Memory per region, 0: not measured (topology figures): heap bytes
     * in use (malloc's overhead included), and resident memory.
     */
    double bytes_per_region;
    double rss_per_region;
} BenchResult;

/* Runs @iters operations on @ctx. */
typedef void (*BenchFn)(void *ctx, uint64_t iters);

typedef struct BenchSpec {
    BenchFn fn;
    void *ctx;
    /*
     * Most operations one sample may run, 0 for no limit: the 8-byte
     * message mode caps its work so that the whole run stays short.
     */
    uint64_t max_iters;
    /* Most samples to take, 0 for the options' count. */
    unsigned max_repeats;
    /* Skip the warm-up call (when one operation alone takes seconds). */
    bool no_warmup;
    /*
     * Fewest operations one sample runs, 0 for 1: a batch of several
     * threads starts by waking workers, which can take a millisecond on
     * a loaded machine (or an idle virtual CPU). Calibrated on a handful
     * of operations, every sample would time that wake-up.
     */
    uint64_t min_iters;
} BenchSpec;

/*
 * Times each of @specs (a figure and its baselines): warms each up,
 * calibrates iterations to the sample length, then takes the options'
 * number of samples, interleaved across @specs. Writes the fastest
 * sample's ns per operation of each to @ns_per_op.
 */
void bench_run(const BenchOptions *o, const BenchSpec *specs, size_t n,
               double *ns_per_op);

#define BENCH_MAX_THREADS 4

/*
 * Several threads running @fn at once, thread t on @ctx[t]: a BenchFn
 * whose one iteration is @threads operations, one on each thread. The
 * calling thread is thread 0; the others are started once by
 * bench_parallel_start() and wait between batches, so that a batch does
 * not pay for creating threads (milliseconds on a loaded machine).
 */
typedef struct BenchParallel BenchParallel;

typedef struct BenchWorker {
    BenchParallel *parallel;
    unsigned index;
    GThread *thread;
} BenchWorker;

struct BenchParallel {
    BenchFn fn;
    void *ctx[BENCH_MAX_THREADS];
    unsigned threads;
    uint64_t min_iters; /* see BenchSpec; bench_run_threads() uses two's */
    /* private */
    BenchWorker workers[BENCH_MAX_THREADS];
    /* pthread, not GMutex: ThreadSanitizer sees these */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t batch; /* incremented to start a batch */
    uint64_t iters;
    unsigned running; /* workers still in the current batch */
    bool stop;
};

void bench_parallel_start(BenchParallel *p);
void bench_parallel_stop(BenchParallel *p);

/* BenchFn for a started BenchParallel: runs one batch on every thread. */
void bench_parallel(void *parallel, uint64_t iters);

/*
 * Times @two against @one (set up but not started): starts both, runs
 * them as a figure and its baseline, stops both. @ns gets the ns per
 * batch of @two, then of @one.
 */
void bench_run_threads(const BenchOptions *o, BenchParallel *two,
                       BenchParallel *one, double ns[2]);

/* Fails the benchmark if @space still lends bounce budget. */
void bench_check_idle(DmsSpace *space, const char *what);

/* Removes @dir and the files in it (a plot's scratch directory). */
void bench_remove_tree(const char *dir);

/* Adds a figure to the output (printed at once, kept for the plot). */
void bench_report(const BenchOptions *o, const BenchResult *r);

/* bench-output.c: the header (or JSON metadata record) before the first
 * figure; the verdict on the targets and the plot after the last. */
void bench_output_begin(const BenchOptions *o);
void bench_output_end(const BenchOptions *o);

/* Prints a line to stderr and exits with status 1. */
G_GNUC_NORETURN void bench_fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Fails the benchmark unless @ret is 0. */
void bench_check(int ret, const char *what);

uint64_t bench_now_ns(void);

/* Makes the compiler believe @p's memory is read and written. */
static inline void bench_use(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/*
 * memcpy behind a call the compiler cannot see the size through, as a
 * device model with a run-time length copies: the baselines use it, since
 * a memcpy of a constant 8 bytes would compile to one load and one store.
 */
void bench_copy(void *dst, const void *src, size_t len);

/* Makes the compiler believe @v is needed. */
static inline void bench_keep(uint64_t v)
{
    __asm__ volatile("" : : "r"(v));
}

/*
 * Lookups of @space, whose @nr regions of @region_size bytes start at
 * @starts (sorted), at the BENCH_LOOKUP_ADDRS @addrs in turn. The lookup
 * and topology groups share them.
 */
#define BENCH_LOOKUP_ADDRS (1u << 16)

typedef struct BenchLookup {
    const char *what; /* the group, for a failure */
    DmsSpace *space;
    /*
     * The baselines' table, sorted: the search runs over starts alone and
     * reads the found region's last address after, as a table must
     * where regions differ in size (a search that assumed one size could
     * skip the table altogether and divide).
     */
    uint64_t *starts, *lasts;
    unsigned nr;
    uint64_t region_size;
    uint64_t *addrs;
} BenchLookup;

/* Random addresses inside the first @span regions. */
void bench_lookup_addrs(BenchLookup *l, GRand *rand, unsigned span);
/* A BenchFn over a BenchLookup: dms_space_check() of each address. */
void bench_lookup_check(void *lookup, uint64_t iters);
/* The baseline: binary search over @starts, then a check of @lasts. */
void bench_lookup_bsearch(void *lookup, uint64_t iters);

/*
 * A map and unmap of @size bytes at @addr of @space for @dir, as a device
 * model does for one transfer: it reads the buffer, or, with @data set,
 * writes @data's @size bytes into it (a from-device transfer); the unmap
 * reports the whole buffer accessed. @what names the figure in a failure.
 */
typedef struct BenchMap {
    const char *what;
    DmsSpace *space;
    uint64_t addr;
    size_t size;
    DmsDirection dir;
    const uint8_t *data;
} BenchMap;

/* A BenchFn over a BenchMap; fails the benchmark on a failed or short map. */
void bench_map_unmap(void *map, uint64_t iters);

/*
 * A dms_space_read() of @size bytes at @addr of @space into @buf, or with
 * @write a dms_space_write() of @buf there: one transfer of a device model
 * that copies. @what names the figure in a failure.
 */
typedef struct BenchRw {
    const char *what;
    DmsSpace *space;
    uint64_t addr;
    uint8_t *buf;
    size_t size;
    bool write;
} BenchRw;

/* A BenchFn over a BenchRw; fails the benchmark on a failed transfer. */
void bench_read_write(void *rw, uint64_t iters);

/* The groups of figures; each is independent of the others. */
void bench_lookup(const BenchOptions *o);
void bench_ram(const BenchOptions *o);
void bench_map_direct(const BenchOptions *o);
void bench_bounce(const BenchOptions *o);
/* Two threads of bounce maps: in a process that used no space yet, and
 * after other spaces were used and freed. */
void bench_bounce_threads_fresh(const BenchOptions *o);
void bench_bounce_threads(const BenchOptions *o);
void bench_message(const BenchOptions *o);
void bench_message_threads(const BenchOptions *o);
void bench_sg(const BenchOptions *o);
void bench_topology(const BenchOptions *o);
/*
 * dms-bench --topology-baseline=N: the topology figures at N regions, in
 * a child whose library renders whole (DMS_TOPOLOGY_FULL_RENDER=1),
 * printed on one line for the parent. Fills one at a time up to
 * @fill_max regions.
 */
void bench_topology_baseline(unsigned n, unsigned fill_max);
/*
 * With --plot=FILE.svg: ns per operation against regions, log-log, of the
 * topology figures and their baselines, into FILE-topology.svg (if the
 * group ran and gnuplot is there).
 */
void bench_topology_plot(const char *svg);
#ifdef DMS_BENCH_VFIO_USER
/* bench-vfu.c, built with libdmaspace-vfio-user only */
void bench_vfio_user(const BenchOptions *o);
#endif

#endif /* DMS_BENCH_H */
