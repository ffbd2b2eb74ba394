/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reference model behind fuzz-space.c: a plain, slow, obviously
 * correct account of what a space built from a handful of regions must
 * do, and the driver that makes each library call and compares.
 *
 * The topology is fixed in shape: a root container (all 2^64 bytes) with
 * one container C of MODEL_WINDOW bytes at MODEL_BASE; C may hold a
 * nested container N (placed at start-up, from the first input bytes).
 * Leaves and aliases go into C or N. Every byte of the window has at most
 * one owner, found by painting children lowest priority first (oldest
 * first among equals) and letting N's children paint at N's place, which
 * makes N's holes transparent, as the library's flattening does.
 *
 * Every model_* call below makes the matching library call(s), checks the
 * result and updates the model; any difference aborts.
 */
#ifndef DMS_FUZZ_MODEL_H
#define DMS_FUZZ_MODEL_H

#include <glib.h>

#include <dmaspace/dmaspace.h>

#include "fuzz.h"

#define MODEL_BASE UINT64_C(0x10000)
#define MODEL_WINDOW 0x10000u
#define MODEL_MAX_REGION 0x4000u
#define MODEL_MAX_OBJS 12
#define MODEL_MAX_MAPS 16
#define MODEL_MAX_CLIENTS 8
#define MODEL_NO_FAIL UINT64_MAX

typedef enum ObjKind {
    OBJ_FREE,
    OBJ_RAM,
    OBJ_BULK,
    OBJ_REG,
    OBJ_ALIAS,
} ObjKind;

enum {
    PARENT_NONE = -1,
    PARENT_C = 0,
    PARENT_N = 1,
};

/* What fuzz-space.c decoded for a new region. */
typedef struct ObjSpec {
    ObjKind kind;
    int parent;
    int priority;
    bool overlap;
    uint64_t offset;
    uint64_t size; /* DMS_SIZE_ALL only for aliases */
    bool readonly; /* RAM */
    /* bulk backends */
    size_t max_access;
    size_t short_len; /* return at most this many bytes per call; 0: all */
    uint64_t fail_at; /* a call covering this offset fails */
    int fail_err;
    bool bogus;     /* ...by returning a count it may not return */
    bool serialize; /* DMS_MESSAGE_SERIALIZE */
    bool probe;     /* calls back into its own address, expecting EDEADLK */
    /* register-style backends */
    DmsEndian endian;
    DmsAccessSizes valid, impl;
    /* aliases */
    unsigned target; /* taken modulo the objects alive */
    uint64_t alias_offset;
} ObjSpec;

typedef struct Model Model;

Model *model_new(FuzzInput *in);
void model_free(Model *m);

int model_pick_errno(uint8_t v);
DmsAccessSizes model_pick_sizes(uint8_t v);

void model_add(Model *m, const ObjSpec *spec);
void model_remove(Model *m, uint8_t which);
void model_add_again(Model *m, uint8_t which);
void model_resize(Model *m, uint8_t which, uint64_t size);
void model_access(Model *m, uint64_t addr, size_t len, bool is_write,
                  uint8_t seed);
void model_check(Model *m, uint64_t addr, uint64_t len, DmsDirection dir);
void model_map(Model *m, uint64_t addr, size_t len, DmsDirection dir,
               uint8_t seed);
void model_unmap(Model *m, uint8_t which, uint16_t access_len, uint8_t seed);
void model_bad_unmap(Model *m, uint8_t which, uint8_t how);
void model_set_limit(Model *m, size_t limit);
void model_add_client(Model *m, bool on_ctx);
void model_cancel_client(Model *m, uint8_t which);
void model_dispatch(Model *m);
void model_begin(Model *m);
void model_commit(Model *m);

/* Compares every region's memory, the stats and the notifies. */
void model_verify(Model *m);

#endif /* DMS_FUZZ_MODEL_H */
