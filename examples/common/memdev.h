/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MemDev: device memory behind a message backend, for the examples, the
 * tests and dms-bench.
 *
 * A buffer of this process behind the two kinds of DmsMessageOps a real
 * backend implements: bulk read/write of any length (a transport that
 * moves byte ranges), or register-style values of 1 to 8 bytes (a device's
 * registers). Like any backend it checks what it is asked and answers with
 * a count or a negative errno; here it also keeps a record of every call
 * and can be told to misbehave the way a remote peer may (fail, move
 * fewer bytes than asked, return a count it may not return), so that a
 * caller can see what the library asked and how it copes.
 *
 * Calls may come from several threads at once if the device is made with
 * MEMDEV_THREADS (they must then touch disjoint bytes); it keeps only its
 * counters then, relaxed atomics that order nothing, so that the backend
 * hides no race of the library from ThreadSanitizer. MEMDEV_QUIET keeps
 * nothing at all and only copies, as a benchmark's backend must. Uses the
 * public API only.
 */
#ifndef DMS_EXAMPLE_MEMDEV_H
#define DMS_EXAMPLE_MEMDEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaspace/dmaspace.h>

/* memdev_new() flags */
/* Called from many threads at once: keeps its counters only. */
#define MEMDEV_THREADS (1u << 0)
/* Keeps no record at all: a benchmark's backend. */
#define MEMDEV_QUIET (1u << 1)
/* No memory: every call is a bad one. */
#define MEMDEV_ABSENT (1u << 2)

/* How many calls MemDev.log keeps: the first ones. */
#define MEMDEV_LOG 64

/* One backend call as the library made it. */
typedef struct MemDevCall {
    bool is_write;
    uint64_t offset;
    size_t len; /* bytes asked (bulk), the access size (register-style) */
    bool has_attrs;
    DmsAttrs attrs; /* a copy of what the library passed, if any */
} MemDevCall;

typedef struct MemDev MemDev;

/*
 * Runs at every call once it is recorded, before anything else: what a
 * backend does that is not a copy (reenter the space, remove its own
 * region). Returns 0 to go on, or a negative errno for the call to return.
 */
typedef int (*MemDevHook)(MemDev *dev, const MemDevCall *call, void *data);

struct MemDev {
    uint8_t *mem; /* @size bytes, between guard bytes */
    uint64_t size;
    uint32_t flags;

    /*
     * Misbehaviour, set while no call runs. A call fails with the first
     * that applies, in this order.
     */
    int fail_read, fail_write; /* errno every read/write fails with */
    unsigned fail_call;        /* this call (counting from 1) fails ... */
    int fail_call_errno;       /* ... with this errno */
    bool reply_set;            /* every call returns @reply, moves nothing */
    int64_t reply;
    size_t short_len; /* a bulk call moves at most this; 0: all asked */
    MemDevHook hook;
    void *hook_data;

    /* The record: none on a quiet device. */
    atomic_uint calls, reads, writes;
    /* bytes moved; machine words, so 32-bit hosts need no libatomic */
    atomic_size_t bytes_read, bytes_written;
    /* Calls the library had no business making: of no bytes, past the
     * memory, a register size or alignment the ops do not implement,
     * any call to an MEMDEV_ABSENT device. Answered -EFAULT. */
    atomic_uint bad;
    MemDevCall last;            /* not with MEMDEV_THREADS */
    MemDevCall log[MEMDEV_LOG]; /* not with MEMDEV_THREADS */
    atomic_uint notified;       /* destroy notifies of its regions (always) */

    /* private */
    DmsEndian endian;    /* register-style byte order */
    DmsAccessSizes impl; /* register-style sizes implemented */
};

/*
 * memdev_new:
 * @size: bytes of memory, zeroed (none with MEMDEV_ABSENT)
 * @flags: MEMDEV_* flags
 * @ret: (out): the device; free with memdev_free()
 *
 * Returns: 0; -ENOMEM.
 */
int memdev_new(uint64_t size, uint32_t flags, MemDev **ret);

/* Frees @dev (NULL is fine). Its regions must be gone. */
void memdev_free(MemDev *dev);

/* Whether the guard bytes around dev->mem are untouched. */
bool memdev_guards_intact(const MemDev *dev);

/* Fills dev->mem with a byte pattern that differs for every @seed. */
void memdev_fill_pattern(MemDev *dev, unsigned seed);

/* Byte @i of memdev_fill_pattern(@seed). */
uint8_t memdev_pattern(uint64_t i, unsigned seed);

/*
 * Fills @buf with @len pseudo-random bytes (xorshift) of @seed: every
 * seed gives other bytes, the same seed the same ones. For data that a
 * transfer must move whole, where a byte copied from a wrong place shows.
 */
void memdev_random_fill(uint8_t *buf, size_t len, uint64_t seed);

/* The bulk ops: read and write of any length, at most @max_access (0: any). */
void memdev_bulk_ops(DmsMessageOps *ops, size_t max_access);

/*
 * A device with no memory behind it: reads give zeroes, writes are
 * dropped, whatever the opaque. memdev_null_ops() fills @ops with both.
 */
int64_t memdev_zero_read(void *opaque, uint64_t offset, void *buf, size_t len,
                         const DmsAttrs *attrs);
int64_t memdev_drop_write(void *opaque, uint64_t offset, const void *buf,
                          size_t len, const DmsAttrs *attrs);
void memdev_null_ops(DmsMessageOps *ops);

/*
 * The register-style ops of @dev: values in @endian, callers' sizes
 * @valid, the device's @impl (a call outside @impl counts as bad).
 */
void memdev_register_ops(MemDev *dev, DmsMessageOps *ops, DmsEndian endian,
                         DmsAccessSizes valid, DmsAccessSizes impl);

/*
 * memdev_region_new:
 * @dev: the device
 * @name: the region's name
 * @size: the region's size; 0 for @dev->size
 * @ops: (nullable): from memdev_bulk_ops() or memdev_register_ops(); NULL
 *   for plain bulk ops
 * @ret: (out): the region, one reference; its destroy notify counts in
 *   @dev->notified
 *
 * Returns: as dms_region_new_message().
 */
int memdev_region_new(MemDev *dev, const char *name, uint64_t size,
                      const DmsMessageOps *ops, DmsRegion **ret);

#endif /* DMS_EXAMPLE_MEMDEV_H */
