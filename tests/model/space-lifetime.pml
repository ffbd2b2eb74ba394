/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Space lifetime: refcount + holds (lib/space.c, top comment).
 *
 * One space, created with one caller reference and one bounce mapping:
 *   Owner      drops the last caller reference (dms_space_unref);
 *   Mapper     holds only the bounce mapping: dms_space_ref() (a revive
 *              from 0 if Owner went first), dms_space_unref(), then
 *              dms_space_unmap(), whose bounce path drops the mapping's
 *              hold (map.c: finish());
 *   Grace      topology.c retiring nodes of the space's view: under the
 *              topology lock before_grace() = dms__space_tryhold(), and
 *              after the grace period space_after_grace() reclaims the
 *              caches and releases that hold;
 *   Client     a map client that registers (taking a caller reference
 *              for the call, as any caller must) and is then cancelled
 *              by the last unref or fired.
 * Checked: no access to the space after space_destroy() (use after
 * free), space_destroy() exactly once, and no invalid end state
 * (deadlock, or a space never freed: the final check).
 *
 * Broken variants (tests/model/check.sh builds them with -D):
 *   NO_REVIVE_HOLD         dms_space_ref() from 0 takes no hold
 *   RELEASE_BEFORE_CANCEL  dms_space_unref() drops the references' hold
 *                          before cancelling clients and reclaiming
 *   FIRST_RETIRE_WINS      the code before issue 13: a revive takes no
 *                          hold and only the first fall to 0 releases
 *   TRYHOLD_BLIND          before_grace() adds a hold without the
 *                          "holds == 0: being freed" check
 */

byte refcount = 1; /* space.c: dms_space_new(), atomic_init(refcount, 1) */
/* the references' hold, and one per bounce mapping (Mapper's, Client's) */
byte holds = 3;
bool freed = false;
byte destroyed = 0;
bool topo_listed = true; /* in topology.c's all_spaces */
bool topo_lock = false;
bool clients_lock = false;
byte client_waiting = 0; /* DmsMapClients.waiting.length */
byte finished = 0;
#ifdef FIRST_RETIRE_WINS
bool retired = false; /* the old code's USED_DEAD */
#endif

#define NPROC 4

/* Every access to a field of the space. */
#define USE assert(!freed)

inline lock(l)
{
    atomic { !l -> l = true }
}

inline unlock(l)
{
    l = false
}

/* space.c: space_destroy() */
inline space_destroy()
{
    /* topology.c: dms__topology_remove_space(), under the topology lock */
    lock(topo_lock);
    USE;
    topo_listed = false;
    unlock(topo_lock);
    atomic {
        USE;
        freed = true;
        destroyed++
    }
}

/* space.c: dms__space_release(), fetch_sub holds == n */
inline space_release(n, last)
{
    atomic {
        USE;
        last = (holds == n);
        holds = holds - n
    };
    if
    :: last -> space_destroy()
    :: else -> skip
    fi
}

/* map-client.c: dms__map_clients_cancel(clients, &refcount) */
inline clients_cancel()
{
    lock(clients_lock);
    USE;
    do
    :: atomic { refcount == 0 && client_waiting > 0 -> USE; client_waiting-- }
    :: else -> break
    od;
    unlock(clients_lock)
}

/* space.c: dms_space_unref() */
inline space_unref(last, rel)
{
    atomic { /* fetch_sub refcount == 1 */
        USE;
        last = (refcount == 1);
        refcount--
    };
    if
    :: last ->
#ifdef RELEASE_BEFORE_CANCEL
        space_release(1, rel);
#endif
        clients_cancel();
        USE; /* space.c: dms__bounce_reclaim(space->bounce) */
#if defined(FIRST_RETIRE_WINS)
        atomic { USE; rel = !retired; retired = true };
        if
        :: rel -> space_release(1, rel)
        :: else -> skip
        fi
#elif !defined(RELEASE_BEFORE_CANCEL)
        space_release(1, rel)
#endif
    :: else -> skip
    fi
}

/* space.c: dms_space_ref() */
inline space_ref(revive)
{
    atomic { /* fetch_add refcount == 0 */
        USE;
        revive = (refcount == 0);
        refcount++
    };
#if !defined(NO_REVIVE_HOLD) && !defined(FIRST_RETIRE_WINS)
    if
    :: revive -> atomic { USE; holds++ } /* fetch_add holds */
    :: else -> skip
    fi
#endif
}

active proctype Owner()
{
    bool last, rel;

    space_unref(last, rel); /* the caller's last reference */
    finished++
}

active proctype Mapper()
{
    bool revive, last, rel;

    space_ref(revive);      /* allowed: a live bounce mapping */
    space_unref(last, rel);
    /* map.c: dms_space_unmap() -> finish(): drop_holds, last */
    space_release(1, last);
    finished++
}

active proctype Grace()
{
    bool held = false, last;

    /* topology.c: render, under the topology lock */
    lock(topo_lock);
    if
    :: topo_listed ->
        /* space.c: space_before_grace() -> dms__space_tryhold() */
        atomic {
            USE;
#ifndef TRYHOLD_BLIND
            if
            :: holds > 0 -> holds++; held = true
            :: else -> skip
            fi
#else
            holds++; held = true
#endif
        }
    :: else -> skip
    fi;
    unlock(topo_lock);
    if
    :: held ->
        /* space.c: space_after_grace(), after the grace period */
        USE; /* dms__bounce_reclaim(s->bounce) */
        space_release(1, last)
    :: else -> skip
    fi;
    finished++
}

/*
 * A device model whose map failed: it registers a map client while it
 * still has its own reference (map-client.c:
 * dms__space_add_map_client_min(), under the clients' lock), then drops
 * that reference. The last unref cancels the client if it still waits.
 */
active proctype Client()
{
    bool revive, last, rel;

    /* It holds a bounce mapping too: a reference through it. */
    space_ref(revive);
    lock(clients_lock);
    USE;
    client_waiting++;
    unlock(clients_lock);
    space_unref(last, rel);
    space_release(1, last); /* its dms_space_unmap() */
    finished++
}

/* After everyone: freed once, and nothing left waiting on a freed space. */
active proctype Final()
{
    finished == NPROC;
    assert(destroyed == 1 && freed && client_waiting == 0)
}
