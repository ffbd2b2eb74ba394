/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the reference model: its state, shared by model.c (regions,
 * views, accesses, verification) and model-map.c (map, unmap, the bounce
 * budget and map clients).
 */
#ifndef DMS_FUZZ_MODEL_PRIVATE_H
#define DMS_FUZZ_MODEL_PRIVATE_H

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "model.h"

typedef struct Obj {
    ObjKind kind;
    int id;
    Model *m;
    DmsRegion *region; /* our reference; NULL once we let go */
    bool notified;     /* the destroy notify ran */

    /* RAM: the host memory; message: the fake device's bytes. */
    uint8_t *store;
    uint8_t *model; /* what store must hold */
    uint64_t capacity;
    uint64_t last; /* size - 1, as the library keeps it */

    /* placement; a placed object always has our reference too */
    int parent;
    uint64_t offset;
    int priority;
    uint64_t seq;

    ObjSpec spec; /* backend behaviour and access sizes */
    unsigned vmin, vmax, imin, imax;
    int target; /* aliases: the leaf shown */

    /* from the visible view */
    bool visible;
    uint64_t probe_addr;
    unsigned maps; /* live mappings holding this leaf */
} Obj;

typedef struct Mapping {
    bool live;
    void *ptr;
    size_t len;
    DmsDirection dir;
    bool bounce;
    int leaf;
    uint64_t offset;
    bool has_attrs;
    DmsAttrs attrs;
} Mapping;

/* Recently unmapped, to try unmapping again. */
typedef struct Stale {
    void *ptr;
    size_t len;
    DmsDirection dir;
} Stale;

/* [start, end) shows object @obj from @offset on. */
typedef struct Seg {
    uint64_t start, end;
    int obj;
    uint64_t offset;
} Seg;

typedef struct Client {
    bool used;
    Model *m;
    DmsMapClient *handle;
    bool on_ctx;  /* called from the model's GMainContext */
    bool waiting; /* for budget */
    bool pending; /* on_ctx: fired, its callback waits for a dispatch */
    bool fired;   /* the callback ran */
    bool cancelled;
    uint64_t order;
} Client;

struct Model {
    DmsRegion *root, *c, *n;
    DmsSpace *space;   /* NULL once our reference is gone */
    DmsSpace *space_p; /* the pointer, for calls mappings keep legal */
    uint64_t n_offset, n_last, n_seq;
    int n_priority;

    Obj objs[MODEL_MAX_OBJS];
    uint64_t next_seq;
    unsigned depth; /* open update batches */

    /* the view accesses see: who owns which part of the window */
    Seg segs[4 * (MODEL_MAX_OBJS + 1) + 2];
    size_t nsegs;

    Mapping maps[MODEL_MAX_MAPS];
    Stale stale[4];
    unsigned next_stale;
    size_t limit, in_use;

    Client clients[MODEL_MAX_CLIENTS];
    uint64_t client_seq;
    GMainContext *ctx;

    DmsSpaceStats expect;

    /* what backends must be handed: NULL, or attributes equal to these */
    bool attrs_null;
    DmsAttrs attrs;
};

/*
 * DMS_FUZZ_TRACE=1 prints each call and its result: the way to read what
 * a crash input does.
 */
extern bool model_trace;

#define TRACE(...)                                                            \
    do {                                                                      \
        if (model_trace) {                                                    \
            fprintf(stderr, "  ");                                            \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* glib criticals and warnings raised so far (the library's contract says
 * which calls raise one). */
extern unsigned model_criticals;
void model_expect_criticals(unsigned before, unsigned min, unsigned max,
                            const char *what);

/* Picks the attributes of a call, and what backends must then see. */
const DmsAttrs *model_pick_attrs(Model *m, uint8_t seed);

/* The leaf that shows @a, its offset there, and the run from @a on. */
Obj *model_lookup(Model *m, uint64_t a, uint64_t max, uint64_t *offset,
                  uint64_t *run);

/* What an access of @len bytes at @offset of leaf @o must do. */
int model_sim_leaf(Obj *o, uint64_t offset, size_t len, bool is_write,
                   const uint8_t *wbuf, uint8_t *exp, bool dry, size_t *moved);

/* Ends live mapping @mp, the device having accessed @access_len bytes. */
void model_end_mapping(Model *m, Mapping *mp, size_t access_len, uint8_t seed);

/* A child of a container, as the model sees it. */
typedef struct Child {
    int obj; /* -1 for N */
    int priority;
    uint64_t seq;
    uint64_t offset, last;
} Child;

/* The children of container @parent (PARENT_C or PARENT_N), unsorted. */
size_t model_children_of(Model *m, int parent, Child *out);

/* Publishes the live topology as the view accesses see. */
void model_render(Model *m);
/* A topology change: visible at once unless a batch is open. */
void model_topology_changed(Model *m);

/* What the library makes of a backend's return value. */
static inline int backend_errno(int err)
{
    return err >= -4095 ? err : -EIO;
}

static inline bool range_ok(uint64_t addr, uint64_t len)
{
    return len == 0 || addr <= UINT64_MAX - (len - 1);
}

/* The bytes a call writes: different per call, reproducible. */
static inline uint8_t pattern(uint8_t seed, size_t i)
{
    return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static inline size_t available(const Model *m)
{
    return m->limit > m->in_use ? m->limit - m->in_use : 0;
}

#endif /* DMS_FUZZ_MODEL_PRIVATE_H */
