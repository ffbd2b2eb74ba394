/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The RCU grace period, read-side sections and the reclaimer queue
 * (lib/rcu.h, lib/rcu.c; doc/design.md).
 *
 *   Reader[0,1]  enter a section (dms__rcu_read_lock(): ctr = gp, then
 *                the store-load fence), load the published object and
 *                use it, a nested section inside, use it again, leave
 *                (ctr = 0); then a second section.
 *   Writer       publishes a new object, queues the free of the old one
 *                with dms__rcu_call();
 *   Reclaimer    rcu.c: reclaimer_main(): takes the batch,
 *                dms__rcu_synchronize(), runs the callbacks, retires;
 *   Barrier      dms__rcu_barrier() after the writer's call: when it
 *                returns, the old object must be freed.
 *   Flusher      the machine: a reader's store to its counter sits in its
 *                store buffer (x86-TSO: the only reordering there is a
 *                store passed by a later load) until a fence, a
 *                membarrier() interrupt or any moment of the hardware's
 *                choosing drains it.
 * With membarrier (the default) the reader's fence is a compiler barrier
 * and the writer's membarrier() drains every reader's buffer; with
 * -DFENCED (DMS_RCU_NO_MEMBARRIER) the reader fences itself.
 *
 * Checked: no use of an object after its free (use after free), the
 * barrier's promise, no deadlock (grace periods end: invalid end states).
 *
 * Broken variants:
 *   NO_READER_FENCE     (with FENCED) dms__rcu_read_lock() without
 *                       dms__full_fence()
 *   NO_WRITER_FENCE     dms__rcu_synchronize() without writer_fence()
 *                       (membarrier)
 *   NESTED_UNLOCK       dms__rcu_read_unlock() ignores the nesting count
 *   RETIRE_EARLY        reclaimer_main() sets retired before running the
 *                       callbacks
 */

#define NR 2

byte gp = 1;      /* rcu.c: dms__rcu_gp */
byte ctr[NR];     /* DmsRcuReader.ctr, in memory */
bool sb_valid[NR]; /* a store to ctr waiting in the reader's buffer */
byte sb_val[NR];
byte nesting[NR]; /* DmsRcuReader.nesting (thread-local) */

byte ptr = 1;     /* the published object: 1, then 2 */
bool freed[3];

bool registry_lock = false;
bool queue_lock = false;
byte queue = 0;   /* the object whose free is queued (0: none) */
byte queued = 0;  /* rcu.c: queued */
byte retired = 0; /* rcu.c: retired */
bool called = false;

inline lock(l)
{
    atomic { !l -> l = true }
}

inline unlock(l)
{
    l = false
}

/* A store by reader i: into its buffer (one entry: wait for it). */
inline buffered_store(i, v)
{
    atomic { !sb_valid[i] -> sb_valid[i] = true; sb_val[i] = v }
}

inline drain(i)
{
    atomic {
        if
        :: sb_valid[i] -> ctr[i] = sb_val[i]; sb_valid[i] = false
        :: else -> skip
        fi
    }
}

/* rcu.h: dms__rcu_read_lock() */
inline read_lock(i)
{
    if
    :: nesting[i] > 0 -> nesting[i]++
    :: else ->
        nesting[i]++;
        buffered_store(i, gp); /* ctr = gp (acquire load of gp) */
#if defined(FENCED) && !defined(NO_READER_FENCE)
        drain(i); /* dms__full_fence() */
#endif
        skip /* with membarrier: atomic_signal_fence() only */
    fi
}

/* rcu.h: dms__rcu_read_unlock() */
inline read_unlock(i)
{
    nesting[i]--;
#ifndef NESTED_UNLOCK
    if
    :: nesting[i] > 0 -> skip
    :: else -> buffered_store(i, 0) /* release store */
    fi
#else
    buffered_store(i, 0)
#endif
}

proctype Reader(byte i)
{
    byte p;

    read_lock(i);
    p = ptr;              /* atomic_load of the published pointer */
    assert(!freed[p]);    /* use */
    read_lock(i);         /* nested: a callee's section */
    assert(!freed[p]);
    read_unlock(i);
    assert(!freed[p]);    /* still in the outer section */
    read_unlock(i);
    read_lock(i);         /* a later section */
    p = ptr;
    assert(!freed[p]);
    read_unlock(i);
    p = 0
}

/* rcu.c: writer_fence(): membarrier drains every reader's buffer */
inline writer_fence()
{
#if !defined(FENCED) && !defined(NO_WRITER_FENCE)
    atomic {
        drain(0);
        drain(1)
    }
#endif
    skip
}

/* rcu.c: dms__rcu_synchronize() */
inline synchronize(j)
{
    lock(registry_lock);
    gp++; /* full fence, then the seq_cst store of the advance */
    writer_fence();
    j = 0;
    do
    :: j < NR ->
        (ctr[j] == 0 || ctr[j] == gp); /* acquire load; spins */
        j++
    :: else -> break
    od;
    j = 0;
    unlock(registry_lock)
}

active proctype Writer()
{
    ptr = 2; /* topology.c: the new view, release store */
    /* rcu.c: dms__rcu_call(head, free old) */
    lock(queue_lock);
    queue = 1;
    queued++;
    called = true;
    unlock(queue_lock)
}

/* rcu.c: reclaimer_main() */
active proctype Reclaimer()
{
    byte batch, upto, j;

    do
    :: lock(queue_lock);
        if
        :: queue != 0 -> break
        :: else ->
            /* pthread_cond_wait(queue_cond): sleeps without the lock */
            unlock(queue_lock);
            queue != 0
        fi
    od;
    batch = queue;
    queue = 0;
    upto = queued;
    unlock(queue_lock);
#ifdef RETIRE_EARLY
    lock(queue_lock);
    retired = upto;
    unlock(queue_lock);
#endif
    synchronize(j);
    freed[batch] = true; /* batch->func(batch) */
#ifndef RETIRE_EARLY
    lock(queue_lock);
    retired = upto;
    unlock(queue_lock)
#endif
}

/* rcu.c: dms__rcu_barrier(), after the writer's dms__rcu_call() */
active proctype Barrier()
{
    byte target;

    called;
    lock(queue_lock);
    target = queued;
    unlock(queue_lock);
    retired >= target; /* pthread_cond_wait(done_cond) */
    assert(freed[1])
}

active proctype Flusher()
{
end:
    do
    :: atomic { sb_valid[0] -> ctr[0] = sb_val[0]; sb_valid[0] = false }
    :: atomic { sb_valid[1] -> ctr[1] = sb_val[1]; sb_valid[1] = false }
    od
}

init
{
    atomic {
        run Reader(0);
        run Reader(1)
    }
}
