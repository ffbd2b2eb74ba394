/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rig of the thread-cache stress tests (test-bounce-cache*.c): a space
 * over one message region whose memory holds memdev_pattern(i, salt), maps
 * that check what the device is shown, helper threads that run jobs and
 * park in between, and the jobs they run.
 *
 * A from-device write-back writes the bytes the memory holds already,
 * except where a test checks that data arrived (SALT_WRITTEN). Threads
 * touch disjoint bytes, so the memory needs no lock; the backend's
 * counters show lost write-backs.
 */
#ifndef TEST_BOUNCE_RIG_H
#define TEST_BOUNCE_RIG_H

#include "tc.h"

#define LIMIT DMS_BOUNCE_LIMIT_DEFAULT
#define MIB ((size_t)1 << 20)

enum {
    SMALL_MAX = 4096,  /* the largest small map */
    CHUNK = 65536,     /* a big map */
    SALT_WRITTEN = 77, /* data a device writes, unlike the backend's */
};

/* A space whose root holds one message region at 0. */
typedef struct Rig {
    DmsSpace *space;
    DmsRegion *root, *region; /* the test's references, or NULL */
    MemDev *msg;              /* for many threads: counters only */
    unsigned salt;            /* msg->mem holds memdev_pattern(i, salt) */
} Rig;

void rig_init(Rig *rig, size_t size, unsigned salt);

/* From here only the space holds the regions. */
void rig_drop_regions(Rig *rig);

/* Drops all; the region's notify must have run once, no call was bad. */
void rig_fini(Rig *rig);

/* A MemDev for many threads over @size bytes of memdev_pattern(@salt). */
MemDev *rig_memdev(size_t size, unsigned salt);

/* The whole @limit in one map: no budget is stranded anywhere. */
void assert_full_grant(DmsSpace *space, size_t limit);

/*
 * Maps @want bytes at @addr, all of them (no test here runs the budget
 * short for small maps), and checks what the device is shown: the
 * backend's bytes to-device, zeros from-device; in the latter the device
 * then writes memdev_pattern(addr, @wsalt) over the first @access bytes.
 * Returns the map's error, or -EILSEQ for a short map or wrong data.
 * Callable on any thread: it asserts nothing.
 */
int map_checked(const Rig *rig, uint64_t addr, size_t want, DmsDirection dir,
                unsigned wsalt, size_t access, uint8_t **p);

/* ---- helper threads that run jobs and park in between ---- */

typedef void (*JobFunc)(void *arg);

typedef struct Helper {
    GThread *thread;
    GMutex lock;
    GCond cond;
    JobFunc job;
    void *arg;
    bool busy, stop;
} Helper;

Helper *helper_new(void);
void helper_post(Helper *h, JobFunc job, void *arg);
/* Waits for the job posted last: the helper is parked when this returns. */
void helper_wait(Helper *h);
void helper_call(Helper *h, JobFunc job, void *arg);
/* Lets the thread exit, and joins it. */
void helper_stop(Helper *h);

/* ---- jobs ---- */

/* @count small map/unmap pairs at @base, alternating directions. */
typedef struct Pairs {
    Rig *rig;
    uint64_t base;
    unsigned count;
    guint32 seed;
    size_t max_len;        /* out: the largest map */
    unsigned long written; /* out: bytes written back */
    bool failed;
} Pairs;

void pairs_job(void *arg);
void run_pairs(Helper *h, Pairs *pj);

/* A mapping that outlives the job that made it. */
typedef struct Item {
    Rig *rig;
    uint64_t addr;
    size_t len, access;
    DmsDirection dir;
    uint8_t *p;
    bool ok;          /* the last job's result */
    atomic_int ready; /* orders a hand-off: TSan cannot see GAsyncQueue */
} Item;

bool item_map(Item *it, unsigned wsalt);
bool item_unmap(Item *it);
void item_map_job(void *arg);
void item_unmap_job(void *arg);

/* ---- plain threads, each with its index ---- */

typedef struct Worker {
    void *ctx;
    unsigned id;
    GThread *thread;
} Worker;

void workers_run(Worker *w, unsigned n, GThreadFunc fn, void *ctx);
void workers_join(Worker *w, unsigned n);

#endif /* TEST_BOUNCE_RIG_H */
