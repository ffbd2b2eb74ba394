/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Read-copy-update for the flattened views: readers run without locks and
 * without writing shared memory; writers publish a new view, wait for a
 * grace period, then free the old one. See doc/design.md, "Threading".
 *
 * Read-side sections are short and never call user code, so a writer's
 * grace period waits only for memcpy-sized work and cannot deadlock on a
 * callback that changes the topology.
 */
#ifndef DMS_RCU_H
#define DMS_RCU_H

#include <stdatomic.h>
#include <stdbool.h>

#include "compiler.h"

typedef struct DmsRcuReader {
    /*
     * 0 while the thread is outside any read-side section; otherwise the
     * grace-period counter it saw on entry. Written only by its thread.
     */
    atomic_ulong ctr;
    unsigned nesting;
    bool registered;
    struct DmsRcuReader *next; /* registry, under the registry lock */
} DmsRcuReader;

#if defined(__SANITIZE_THREAD__)
#define DMS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DMS_TSAN 1
#endif
#endif

#ifdef DMS_TSAN
/*
 * ThreadSanitizer does not model fences (GCC even warns). A locked
 * read-modify-write is a full barrier on every host TSan runs on, and
 * TSan only checks the release/acquire pairs anyway.
 */
extern atomic_ulong dms__rcu_fence_word;
#define dms__full_fence()                                                     \
    atomic_fetch_add_explicit(&dms__rcu_fence_word, 0, memory_order_seq_cst)
#else
#define dms__full_fence() atomic_thread_fence(memory_order_seq_cst)
#endif

extern DMS_THREAD_LOCAL DmsRcuReader dms__rcu_reader;
extern atomic_ulong dms__rcu_gp;
/*
 * True when the kernel's membarrier() lets writers force the ordering, so
 * readers need only a compiler barrier; set before any thread's first read
 * section and never changed afterwards.
 */
extern bool dms__rcu_membarrier;

void dms__rcu_register_thread(void);
void dms__rcu_synchronize(void);

/*
 * Deferred reclamation, as liburcu's call_rcu(): @func(@head) runs on the
 * library's reclaimer thread after a grace period that began after this
 * call, without any library lock held. The caller never waits for
 * readers. Callbacks run in the order they were queued.
 */
typedef struct DmsRcuHead DmsRcuHead;
typedef void (*DmsRcuFunc)(DmsRcuHead *head);
struct DmsRcuHead {
    DmsRcuHead *next;
    DmsRcuFunc func;
};
void dms__rcu_call(DmsRcuHead *head, DmsRcuFunc func);
/*
 * Waits until every callback queued before this call has run. Returns 0,
 * -EDEADLK on the reclaimer thread itself (from inside a callback), or
 * -EAGAIN if the reclaimer thread cannot be started (after fork(), say).
 */
int dms__rcu_barrier(void);
/* Is this the reclaimer thread (running a callback)? */
bool dms__rcu_on_reclaimer(void);

/*
 * The thread-local reader is named directly rather than through a pointer:
 * cheaper, and GCC's UBSan mistakes the address of a local-exec TLS
 * object for a null pointer.
 */
static inline void dms__rcu_read_lock(void)
{
    if (dms__rcu_reader.nesting++ > 0)
        return;
    if (!dms__rcu_reader.registered)
        dms__rcu_register_thread();
    /*
     * Acquire: on weakly ordered hosts the section's own loads must not
     * be satisfied before this one, or a reader could see the new counter
     * with old data and not be waited for. Free on x86 and s390x.
     */
    atomic_store_explicit(
        &dms__rcu_reader.ctr,
        atomic_load_explicit(&dms__rcu_gp, memory_order_acquire),
        memory_order_relaxed);
    /*
     * The store above must be visible before this thread loads any
     * RCU-protected pointer (store-load order). With membarrier the writer
     * imposes that order on us; otherwise we pay for a full fence.
     */
    if (dms__rcu_membarrier)
        atomic_signal_fence(memory_order_seq_cst);
    else
        dms__full_fence();
    DMS_SCHED_POINT();
}

static inline void dms__rcu_read_unlock(void)
{
    if (--dms__rcu_reader.nesting > 0)
        return;
    DMS_SCHED_POINT();
    /* Release: everything read in the section happens before the writer
     * sees us quiescent and frees what we read. */
    atomic_store_explicit(&dms__rcu_reader.ctr, 0, memory_order_release);
}

/*
 * A flat read-side section, for a lookup that calls nothing inside it (no
 * nested section, no user code): entered and left with one store each,
 * without the nesting count, so back-to-back sections on one thread form
 * no chain of loads waiting on the previous section's store, and the
 * caller needs no call. Only when dms__rcu_flat_ready(): the thread is
 * registered, outside any section, and membarrier() stands in for the
 * reader's fence; otherwise use dms__rcu_read_lock(). Not from a signal
 * handler that may interrupt a flat section: its own would end that one.
 */
static inline bool dms__rcu_flat_ready(void)
{
    return dms__rcu_reader.registered && dms__rcu_reader.nesting == 0 &&
           dms__rcu_membarrier;
}

static inline void dms__rcu_flat_enter(void)
{
    /* As in dms__rcu_read_lock(), with membarrier(). */
    atomic_store_explicit(
        &dms__rcu_reader.ctr,
        atomic_load_explicit(&dms__rcu_gp, memory_order_acquire),
        memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    DMS_SCHED_POINT();
}

static inline void dms__rcu_flat_leave(void)
{
    DMS_SCHED_POINT();
    atomic_store_explicit(&dms__rcu_reader.ctr, 0, memory_order_release);
}

#endif /* DMS_RCU_H */
