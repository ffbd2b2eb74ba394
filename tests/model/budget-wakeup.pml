/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounce budget and the map-client wake-up protocol (lib/budget.c,
 * lib/map-client.c, lib/map.c; doc/design.md, "Wake-ups").
 *
 * LIMIT bytes, NMAP mappers that each map 1 byte twice. A map that finds
 * no budget registers a map client and waits until the client fires,
 * then tries again (what a device model does on -EAGAIN). An unmap
 * releases its byte and, if anyone waits, fires the clients. A limit
 * setter raises the limit once (dms_space_set_bounce_limit()).
 *
 * Checked:
 *   - budget never above the limit: a monitor asserts used <= limit in
 *     every reachable state;
 *   - no lost wake-up: a mapper left waiting for a client that never
 *     fires, with everyone else finished, is an invalid end state (pan
 *     reports it as such); so is any deadlock on the clients' lock.
 *   - with -DLIVE (check.sh's acceptance run, weak fairness): every
 *     registered waiter is eventually fired (ltl woken).
 *
 * Broken variants:
 *   RELEASE_READS_FIRST   budget.c: dms__budget_release() loads waiting
 *                         before its fetch_sub (the seq_cst pair
 *                         reordered)
 *   CHECK_BEFORE_WAITING  map-client.c: the new waiter looks at the room
 *                         before set_waiting() publishes it
 *   WAITER_NO_RECHECK     map-client.c: the new waiter does not look
 *                         at the room after registering (a release
 *                         between its failed take and its registration
 *                         saw nobody waiting)
 *   CHARGE_NO_CAS         budget.c: charge() stores used + n instead of
 *                         compare-and-swapping it
 */

#define NMAP 3
#define ROUNDS 1

byte limit = 1; /* budget.c: DmsBudget.limit */
byte used = 0;  /* budget.c: DmsBudget.used */
byte waiting = 0; /* budget.c: DmsBudget.waiting (seq_cst) */

bool clients_lock = false; /* DmsMapClients.lock */
bool queued[NMAP];         /* in DmsMapClients.waiting */
bool fired[NMAP];          /* the client's callback ran */
byte nqueued = 0;
byte finished = 0;

inline lock(l)
{
    atomic { !l -> l = true }
}

inline unlock(l)
{
    l = false
}

/* map-client.c: set_waiting(), under the lock */
inline set_waiting()
{
    waiting = nqueued /* budget.c: dms__budget_set_waiting(), seq_cst store */
}

/* budget.c: dms__budget_room() */
#define ROOM (used < limit -> limit - used : 0)

/* map-client.c: clients_fire() */
inline clients_fire(room, j)
{
    lock(clients_lock);
    room = ROOM; /* checked under the lock */
    if
    :: room == 0 -> room = 0
    :: else -> room = 0;
        /* fire every waiting client, then set_waiting(): all under the
         * lock, so one step here */
        d_step {
            j = 0;
            do
            :: j < NMAP ->
                if
                :: queued[j] -> queued[j] = false; nqueued--; fired[j] = true
                :: else -> skip
                fi;
                j++
            :: else -> break
            od;
            j = 0;
            set_waiting()
        }
    fi;
    unlock(clients_lock)
}

/* budget.c: charge() for a 1-byte take; ok: granted */
inline budget_take(ok, seen)
{
#ifndef CHARGE_NO_CAS
    atomic {
        seen = used;
        if
        :: seen < limit -> used = seen + 1; ok = true
        :: else -> ok = false
        fi
    }
#else
    seen = used; /* load */
    if
    :: seen < limit -> used = seen + 1; ok = true /* plain store */
    :: else -> ok = false
    fi
#endif
}

/* budget.c: dms__budget_release(), then map.c: finish() wakes */
inline budget_release(w, room, j)
{
#ifdef RELEASE_READS_FIRST
    w = waiting;
    used--;
#else
    used--;      /* fetch_sub used, seq_cst */
    w = waiting; /* load waiting, seq_cst */
#endif
    if
    :: w > 0 -> clients_fire(room, j) /* dms__map_clients_notify() */
    :: else -> skip
    fi
}

/* map-client.c: dms__space_add_map_client_min() */
inline add_map_client(me, room, j)
{
#ifdef CHECK_BEFORE_WAITING
    room = ROOM;
#endif
    lock(clients_lock);
    queued[me] = true;
    nqueued++;
#ifndef CHECK_BEFORE_WAITING
    set_waiting();
    unlock(clients_lock);
    /* dms__bounce_unstash(): no caches here (bounce-cache.pml) */
#ifndef WAITER_NO_RECHECK
    room = ROOM;
#endif
#else
    set_waiting();
    unlock(clients_lock);
#endif
    if
    :: room > 0 -> clients_fire(room, j)
    :: else -> skip
    fi
}

proctype Mapper(byte me)
{
    bool ok;
    byte seen, w, room, j, n = 0;

    do
    :: n < ROUNDS ->
        /* map.c: dms_space_map() -> bounce: take 1 byte */
        budget_take(ok, seen);
        if
        :: ok ->
            /* map.c: dms_space_unmap() -> bounce: release it */
            budget_release(w, room, j);
            n++
        :: else ->
            /* -EAGAIN: wait for a map client */
            fired[me] = false;
            add_map_client(me, room, j);
wait:       fired[me] /* the callback: try again */
        fi
    :: else -> break
    od;
    finished++
}

/* map.c: dms_space_set_bounce_limit(): a raised limit is freed budget */
active proctype Limit()
{
    bool w;
    byte room, j;

    limit = 2;    /* budget.c: dms__budget_set_limit(), seq_cst store */
    w = waiting;  /* then load waiting */
    if
    :: w > 0 -> clients_fire(room, j)
    :: else -> skip
    fi
}

/* Budget never above the limit (the limit only rises here). */
active proctype Monitor()
{
    assert(used <= limit)
}

init
{
    atomic {
        run Mapper(0);
        run Mapper(1);
        run Mapper(2)
    }
}

#ifdef LIVE
/* Every waiter is woken: mapper 0 stands for any. */
ltl woken { [] (queued[0] -> <> fired[0]) }
#endif
