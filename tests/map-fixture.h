/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The space of the map tests (test-map*.c): RAM, a message region right
 * after it, read-only RAM, and a hole. Each test gets a fresh one and must
 * return all it borrowed (the teardown checks).
 */
#ifndef TEST_MAP_FIXTURE_H
#define TEST_MAP_FIXTURE_H

#include "tc.h"

#define RAM_ADDR 0x10000u
#define RAM_SIZE 0x10000u
#define MSG_ADDR 0x20000u
#define MSG_SIZE 0x200000u
#define ROM_ADDR 0x400000u
#define ROM_SIZE 0x1000u
#define HOLE_ADDR 0x500000u

/* The seed of every MemDev's memdev_pattern() here. */
#define SEED 7

typedef struct Fix {
    uint8_t *ram, *rom;
    atomic_uint ram_notified;
    MemDev *msg_b;
    DmsRegion *root, *ram_r, *msg_r, *rom_r;
    DmsSpace *space;
} Fix;

int map_setup(void **state);
int map_teardown(void **state);

/* A message region over @dev, one reference. */
DmsRegion *msg_region(MemDev *dev);

/* RAM over @mem at HOLE_ADDR, its notify counted in @notified; one
 * reference for the caller. */
DmsRegion *ram_at_hole(Fix *f, const char *name, void *mem, size_t size,
                       atomic_uint *notified);

/* An unmap that must be refused: -EINVAL, a critical, a count, no call. */
void refused(Fix *f, void *ptr, size_t len, DmsDirection dir,
             size_t access_len);

#endif /* TEST_MAP_FIXTURE_H */
