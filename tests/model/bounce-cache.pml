/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thread-cache drain, cache_off and the waiter's unstash
 * (lib/bounce-cache.c, top comment; lib/bounce.c: dms__bounce_unstash();
 * doc/design.md, "Wake-ups").
 *
 *   Owner     a thread with a cache: maps and unmaps 1 byte twice. In an
 *             RCU read-side section it serves from the cache only while
 *             dms__caches_on() (off == 0 and nobody waits); the unmap
 *             keeps the byte idle in the cache (dms__cache_give()).
 *             Otherwise it takes and releases on the shared budget, and
 *             a release that sees a waiter fires the clients.
 *   Waiter    a device model whose map failed: it registers a map client
 *             (waiting = 1, seq_cst), unstashes (dms__caches_reclaim())
 *             and then looks at the room; it waits until fired.
 *   Limit     dms_space_set_bounce_limit() with the same limit: a reclaim
 *             racing the waiter's (two drainers at once).
 * The cache's idle count is written by the owner as a plain load and
 * store, and drained by others under cache_lock: the drainer must find
 * the owner outside any section that saw the caches on.
 *
 * Checked: the owner never updates its cache while a drain runs (the
 * assertion in cache_drain: a data race, lost budget), budget conserved
 * (used == lent + idle when quiet), no lost wake-up (a waiter left
 * waiting is an invalid end state), no deadlock.
 *
 * Broken variants:
 *   NO_GRACE            dms__caches_reclaim() drains without waiting for
 *                       the grace period (dms__rcu_synchronize dropped)
 *   OWNER_NO_WAIT_CHECK dms__caches_on() ignores the waiter count
 *   UNSTASH_AFTER_ROOM  the waiter looks at the room before unstashing
 *                       (map-client.c, the two steps reordered)
 */

#define LIMIT 1

byte used = 0;   /* budget.c: DmsBudget.used */
byte waiting = 0; /* budget.c: DmsBudget.waiting */
byte off = 0;    /* bounce-cache.c: DmsCaches.off (CACHE_OFF_HOLD units) */
byte idle = 0;   /* bounce-cache.c: BounceCache.idle */
bool in_section = false; /* the owner in a read-side section that saw on */
bool in_cache = false;   /* the owner between its load and store of idle */
bool cache_lock = false;
bool clients_lock = false;
bool queued = false;
bool fired = false;
byte lent = 0;
byte finished = 0;

inline lock(l)
{
    atomic { !l -> l = true }
}

inline unlock(l)
{
    l = false
}

#define ROOM (used < LIMIT -> LIMIT - used : 0)

/* map-client.c: clients_fire() */
inline clients_fire()
{
    lock(clients_lock);
    if
    :: ROOM > 0 && queued -> queued = false; waiting = 0; fired = true
    :: else -> skip
    fi;
    unlock(clients_lock)
}

/*
 * rcu.c: dms__rcu_synchronize(): every section that began before it has
 * ended (rcu.pml checks how); here: the owner is not in a section.
 */
inline synchronize()
{
#ifndef NO_GRACE
    !in_section
#else
    skip
#endif
}

/* bounce-cache.c: dms__caches_reclaim() */
inline caches_reclaim(tmp)
{
    off++; /* fetch_add off, CACHE_OFF_HOLD, seq_cst */
    synchronize();
    lock(cache_lock);
    /* cache_drain(): budget back, without waking anyone */
    assert(!in_cache);
    tmp = idle;
    if
    :: tmp > 0 -> used = used - tmp /* dms__budget_release() */
    :: else -> skip
    fi;
    idle = 0;
    tmp = 0;
    unlock(cache_lock);
    off-- /* fetch_sub off, release */
}

/* bounce-cache.h: dms__caches_on() */
#ifndef OWNER_NO_WAIT_CHECK
#define CACHES_ON (off == 0 && waiting == 0)
#else
#define CACHES_ON (off == 0)
#endif

active proctype Owner()
{
    byte n = 0, tmp;
    bool ok, from_cache;

    do
    :: n < 2 ->
        /* map.c: dms_space_map(): dms__rcu_read_lock() */
        atomic { in_section = CACHES_ON; from_cache = in_section };
        if
        :: from_cache ->
            /* bounce-cache.h: dms__cache_take(): idle, or a batch */
            in_cache = true;
            tmp = idle;
            if
            :: tmp > 0 -> idle = tmp - 1; ok = true
            :: else ->
                atomic { /* dms__budget_take_spare() */
                    if
                    :: used < LIMIT -> used++; ok = true
                    :: else -> ok = false
                    fi
                }
            fi;
            in_cache = false;
            in_section = false /* dms__rcu_read_unlock() */
        :: else ->
            in_section = false;
            atomic { /* bounce.c: shared budget, dms__budget_take() */
                if
                :: used < LIMIT -> used++; ok = true
                :: else -> ok = false
                fi
            }
        fi;
        if
        :: ok ->
            lent++;
            /* map.c: dms_space_unmap(): in a section again */
            lent--;
            atomic { in_section = CACHES_ON; from_cache = in_section };
            if
            :: from_cache ->
                /* dms__cache_give(): the byte stays idle in the cache */
                in_cache = true;
                tmp = idle;
                idle = tmp + 1;
                in_cache = false;
                in_section = false
            :: else ->
                in_section = false;
                used--; /* dms__budget_release(), seq_cst */
                if
                :: waiting > 0 -> clients_fire()
                :: else -> skip
                fi
            fi
        :: else -> skip /* -EAGAIN: not in this model */
        fi;
        tmp = 0;
        n++
    :: else -> break
    od;
    finished++
}

active proctype Waiter()
{
    byte tmp;
    bool ok;

    atomic { /* bounce.c: its map, on the shared budget */
        if
        :: used < LIMIT -> used++; ok = true
        :: else -> ok = false
        fi
    };
    if
    :: ok -> used--; goto out /* mapped and unmapped: nothing waits */
    :: else -> skip
    fi;
    /* -EAGAIN: map-client.c: dms__space_add_map_client_min() */
    lock(clients_lock);
    queued = true;
    waiting = 1; /* set_waiting(), seq_cst */
    unlock(clients_lock);
#ifndef UNSTASH_AFTER_ROOM
    caches_reclaim(tmp); /* dms__bounce_unstash() */
    if
    :: ROOM > 0 -> clients_fire()
    :: else -> skip
    fi;
#else
    if
    :: ROOM > 0 -> clients_fire()
    :: else -> skip
    fi;
    caches_reclaim(tmp);
#endif
wait:
    fired;
out:
    finished++
}

active proctype Limit()
{
    byte tmp;

    /* bounce.c: dms__bounce_set_limit() -> dms__bounce_reclaim() */
    caches_reclaim(tmp);
    finished++
}

/* When all are done: every byte charged is lent or idle. */
active proctype Final()
{
    finished == 3;
    assert(used == lent + idle)
}
