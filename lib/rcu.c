/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small RCU in the style of liburcu's memb flavour, written for this
 * library so that it needs no thread registration from its users and so
 * that ThreadSanitizer understands every synchronising access (liburcu's
 * inline assembly is invisible to it).
 *
 * Readers: on entry, copy the global grace-period counter into their own
 * slot; on exit, store 0. Writers (dms__rcu_synchronize): advance the
 * counter, then wait until every registered reader is either quiescent (0)
 * or entered after the advance (slot == new counter). Anyone who entered
 * before the advance may hold the old pointer; anyone after cannot: the
 * writer replaced the pointer before advancing, and the store-load fences
 * on both sides (membarrier standing in for the reader's) guarantee that
 * either the writer sees the reader's slot as active, or the reader loads
 * the new pointer. doc/design.md spells the argument out.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "dms-private.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

DMS_THREAD_LOCAL DmsRcuReader dms__rcu_reader;
atomic_ulong dms__rcu_gp = 1;
bool dms__rcu_membarrier;
#ifdef DMS_TSAN
atomic_ulong dms__rcu_fence_word;
#endif

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static DmsRcuReader *registry;
static pthread_key_t exit_key;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int membarrier(int cmd)
{
#ifdef __NR_membarrier
    return (int)syscall(__NR_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    errno = ENOSYS;
    return -1;
#endif
}

/* Runs at thread exit, before the thread's TLS block goes away. */
static void reader_exit(void *arg)
{
    DmsRcuReader *self = arg;
    DmsRcuReader **p;

    pthread_mutex_lock(&registry_lock);
    for (p = &registry; *p; p = &(*p)->next) {
        if (*p == self) {
            *p = self->next;
            break;
        }
    }
    self->registered = false;
    pthread_mutex_unlock(&registry_lock);
}

static void rcu_init(void)
{
    if (pthread_key_create(&exit_key, reader_exit) != 0)
        g_error("libdmaspace: cannot create a thread key");
    /*
     * Expedited private membarrier makes the writer pay for the reader's
     * store-load fence. It is missing on old kernels, under valgrind and
     * in some sandboxes: then readers fence themselves.
     */
    if (g_getenv("DMS_RCU_NO_MEMBARRIER") == NULL &&
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
        dms__rcu_membarrier = true;
}

void dms__rcu_register_thread(void)
{
    DmsRcuReader *self = &dms__rcu_reader;

    pthread_once(&init_once, rcu_init);
    pthread_mutex_lock(&registry_lock);
    self->next = registry;
    registry = self;
    self->registered = true;
    pthread_mutex_unlock(&registry_lock);
    /* Only for the destructor: the value must be non-NULL for it to run. */
    pthread_setspecific(exit_key, self);
}

static void writer_fence(void)
{
    if (dms__rcu_membarrier)
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    else
        dms__full_fence();
}

void dms__rcu_synchronize(void)
{
    unsigned long gp;
    DmsRcuReader *r;

    /* Waiting for ourselves would never end: a library bug, not input. */
    g_assert(dms__rcu_reader.nesting == 0);

    pthread_once(&init_once, rcu_init);
    pthread_mutex_lock(&registry_lock);
    /* The caller's pointer update is ordered before the advance. */
    dms__full_fence();
    gp = atomic_load_explicit(&dms__rcu_gp, memory_order_relaxed) + 1;
    if (gp == 0) /* 0 means quiescent; skip it when the counter wraps */
        gp = 1;
    atomic_store_explicit(&dms__rcu_gp, gp, memory_order_seq_cst);
    DMS_SCHED_POINT();
    writer_fence();

    for (r = registry; r; r = r->next) {
        unsigned spins = 0;

        for (;;) {
            unsigned long c =
                atomic_load_explicit(&r->ctr, memory_order_acquire);

            if (c == 0 || c == gp)
                break;
            /* Sections are short: spin a little, then let them run. */
            if (++spins < 64)
                sched_yield();
            else
                g_usleep(50);
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ---- deferred reclamation ---- */

/*
 * One reclaimer thread, started by the first call: it takes everything
 * queued, waits one grace period for all of it, and runs the callbacks.
 * Under a stream of changes the queue fills while it waits, so one grace
 * period serves many changes and the writers never wait at all.
 */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static DmsRcuHead *queue_head;
static DmsRcuHead **queue_tail = &queue_head;
static uint64_t queued;  /* callbacks queued so far */
static uint64_t retired; /* of those, callbacks that have run */
static unsigned barrier_waiters;
static bool reclaimer_started;
static bool reclaimer_idle; /* waiting on queue_cond */
static DMS_THREAD_LOCAL bool on_reclaimer;

/* How long the reclaimer lets changes gather before a grace period. */
#define RECLAIM_DELAY_US 1000

static void reclaimer_forget(void);

/* The queue's lock is held across fork(), so the child gets it free. */
static void queue_lock_take(void)
{
    pthread_mutex_lock(&queue_lock);
}

static void queue_lock_give(void)
{
    pthread_mutex_unlock(&queue_lock);
}

static void register_atfork(void)
{
    pthread_atfork(queue_lock_take, queue_lock_give, reclaimer_forget);
}

static void *reclaimer_main(void *unused)
{
    (void)unused;
    on_reclaimer = true;
    pthread_mutex_lock(&queue_lock);
    for (;;) {
        DmsRcuHead *batch;
        uint64_t upto;

        while (!queue_head) {
            reclaimer_idle = true;
            pthread_cond_wait(&queue_cond, &queue_lock);
            reclaimer_idle = false;
        }
        /*
         * Let more work gather unless someone waits for it: one grace
         * period (a membarrier() that interrupts every thread of the
         * process) then serves a whole burst of changes instead of each.
         */
        if (!barrier_waiters) {
            pthread_mutex_unlock(&queue_lock);
            g_usleep(RECLAIM_DELAY_US);
            pthread_mutex_lock(&queue_lock);
        }
        batch = queue_head;
        queue_head = NULL;
        queue_tail = &queue_head;
        upto = queued;
        pthread_mutex_unlock(&queue_lock);

        /* Everything in @batch was unlinked before it was queued. */
        dms__rcu_synchronize();
        while (batch) {
            DmsRcuHead *next = batch->next;

            batch->func(batch);
            batch = next;
        }

        pthread_mutex_lock(&queue_lock);
        retired = upto;
        pthread_cond_broadcast(&done_cond);
    }
    return NULL;
}

/* A fork()ed child has no reclaimer thread: the next call starts one. */
static void reclaimer_forget(void)
{
    reclaimer_started = false;
    reclaimer_idle = false;
    pthread_mutex_unlock(&queue_lock);
}

/* Starts the reclaimer if needed; queue_lock held. False if it cannot. */
static bool reclaimer_ensure(void)
{
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_attr_t attr;
    pthread_t thread;
    bool ok;

    if (reclaimer_started)
        return true;
    pthread_once(&atfork_once, register_atfork);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ok = pthread_create(&thread, &attr, reclaimer_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    reclaimer_started = ok;
    return ok;
}

void dms__rcu_call(DmsRcuHead *head, DmsRcuFunc func)
{
    head->next = NULL;
    head->func = func;
    pthread_mutex_lock(&queue_lock);
    if (!reclaimer_ensure()) {
        /*
         * No thread: reclaim here, the old way. Rare enough (thread
         * limits) that waiting beats failing the change.
         */
        pthread_mutex_unlock(&queue_lock);
        dms__rcu_synchronize();
        func(head);
        return;
    }
    *queue_tail = head;
    queue_tail = &head->next;
    queued++;
    if (reclaimer_idle) /* else it looks at the queue before it sleeps */
        pthread_cond_signal(&queue_cond);
    pthread_mutex_unlock(&queue_lock);
}

bool dms__rcu_on_reclaimer(void)
{
    return on_reclaimer;
}

int dms__rcu_barrier(void)
{
    uint64_t target;

    if (on_reclaimer)
        return -EDEADLK;
    pthread_mutex_lock(&queue_lock);
    target = queued;
    if (retired < target && !reclaimer_ensure()) {
        pthread_mutex_unlock(&queue_lock);
        return -EAGAIN;
    }
    barrier_waiters++;
    while (retired < target)
        pthread_cond_wait(&done_cond, &queue_lock);
    barrier_waiters--;
    pthread_mutex_unlock(&queue_lock);
    return 0;
}
