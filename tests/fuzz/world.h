/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small, flat world for the fuzz targets of the layers above the space
 * (fuzz-sg.c, fuzz-dirty.c, fuzz-engine.c): a space whose window of
 * WORLD_SEGS segments is laid out from the first input bytes, each
 * segment a hole, RAM, read-only RAM or a bulk message region (with a
 * max_access and short counts) covering the segment's first bytes, the
 * rest a hole. The model is one byte array over the window and the kind
 * of every byte, from which the exact outcome of any read or write
 * follows: the bytes up to the first one that is not there (or not
 * writable) are moved, then -EFAULT (or -EACCES).
 *
 * fuzz-space.c covers the space itself (priorities, aliases, nesting,
 * resizes, bounce maps) against a far richer model; these targets need a
 * memory map only to stand on.
 */
#ifndef DMS_FUZZ_WORLD_H
#define DMS_FUZZ_WORLD_H

#include <glib.h>

#include <dmaspace/dmaspace.h>

#include "fuzz.h"

#define WORLD_BASE UINT64_C(0x100000)
#define WORLD_SEGS 8
#define WORLD_SEG_SIZE 0x2000u
#define WORLD_SIZE (WORLD_SEGS * WORLD_SEG_SIZE)

typedef enum SegKind {
    SEG_HOLE,
    SEG_RAM,
    SEG_ROM,
    SEG_MSG,
    SEG_KINDS,
} SegKind;

typedef struct World {
    DmsSpace *space;
    GMainContext *ctx; /* for targets that need one; never the default */
    SegKind kind[WORLD_SEGS];
    uint64_t len[WORLD_SEGS];      /* bytes of the segment covered */
    DmsRegion *region[WORLD_SEGS]; /* NULL for holes */
    size_t max_access[WORLD_SEGS]; /* message segments */
    size_t short_len[WORLD_SEGS];  /* ...at most this per call; 0: all */
    uint8_t *mem;                  /* RAM memory and message bytes */
    uint8_t model[WORLD_SIZE];     /* what mem must hold */
    unsigned criticals;            /* g_critical()s seen */
} World;

/* Lays the window out from the next input bytes; a fresh GMainContext. */
World *world_new(FuzzInput *in);
void world_free(World *w);

/* What the window holds at @addr: a hole outside it. */
SegKind world_kind_at(const World *w, uint64_t addr);

/*
 * The bytes a read (@is_write false) or write of [@addr, @addr + @len)
 * moves before it stops, and the error it stops with (0 if it does not).
 * @addr + @len must not pass 2^64.
 */
size_t world_expect(const World *w, uint64_t addr, size_t len, bool is_write,
                    int *err);

/* Applies a write of @len bytes at @addr to the model (the caller has
 * worked out with world_expect() that they are all writable). */
void world_model_write(World *w, uint64_t addr, const uint8_t *buf,
                       size_t len);

/* The model's bytes at @addr (which must all be readable). */
void world_model_read(const World *w, uint64_t addr, uint8_t *buf, size_t len);

/* An address in or just around the window, a few outside it. */
uint64_t world_pick_addr(FuzzInput *in);

/* Mostly short lengths, sometimes a segment or more. */
size_t world_pick_len(FuzzInput *in);

/* Deterministic bytes for writes. */
void world_pattern(uint8_t *buf, size_t len, uint32_t seed);

/* The real memory of every segment equals the model. */
void world_verify(const World *w);

#endif /* DMS_FUZZ_WORLD_H */
