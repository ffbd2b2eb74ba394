/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: a program of operations on one space, each result checked
 * against a plain reference model.
 *
 * The input is read as a sequence of operations: add and remove RAM,
 * bulk message, register-style message and alias regions of random sizes,
 * offsets and priorities (in a container, or in a container nested in
 * it), resize them, read, write, check, map and unmap (also wrongly),
 * change the bounce limit, add and cancel map clients, open and close
 * update batches. The model (model.h) keeps a byte array per region and
 * computes which region owns each byte of a 64 KiB window, and from that
 * the exact result of every call: error code, bytes done, data, the
 * stats counters, which destroy notifies and map clients have run. After
 * each operation every region's real memory (RAM, or the fake device's
 * bytes) must equal the model's. Any difference is an abort().
 *
 * The fake backends check the library's side of their contract too: no
 * call outside the region, bulk calls within max_access, register calls
 * of implemented sizes and alignment, the caller's attributes passed on
 * unchanged, and re-entry into a region's own address from its callback
 * refused with -EDEADLK.
 */
#include <errno.h>
#include <string.h>

#include "model.h"

/* ---- operations ---- */

/* Picks an address around the window, sometimes just outside it. */
static uint64_t pick_addr(FuzzInput *in)
{
    return MODEL_BASE - 32 + fuzz_u16(in) % (MODEL_WINDOW + 64);
}

/* Mostly short lengths, sometimes up to the whole window. */
static size_t pick_len(FuzzInput *in)
{
    unsigned kind = fuzz_u8(in) & 3;
    size_t len;

    if (kind < 3)
        return fuzz_short_len(in, kind);
    len = fuzz_u16(in);
    return len + (fuzz_u8(in) & 1);
}

static void op_add_region(Model *m, FuzzInput *in, ObjKind kind)
{
    ObjSpec spec = {0};
    uint8_t shape = fuzz_u8(in);

    spec.kind = kind;
    spec.parent = (shape & 1) ? PARENT_N : PARENT_C;
    spec.priority = (int)(fuzz_u8(in) % 5) - 2;
    spec.overlap = shape & 2;
    spec.offset = fuzz_u16(in) % (MODEL_WINDOW + 256);
    spec.size = 1 + fuzz_u16(in) % MODEL_MAX_REGION;

    switch (kind) {
    case OBJ_RAM:
        spec.readonly = shape & 4;
        break;
    case OBJ_BULK: {
        uint8_t b = fuzz_u8(in);
        spec.max_access = (b & 1) ? 1 + fuzz_u8(in) % 64 : 0;
        spec.short_len = (b & 2) ? 1 + fuzz_u8(in) % 16 : 0;
        spec.fail_at = (b & 4) ? fuzz_u16(in) % spec.size : MODEL_NO_FAIL;
        spec.fail_err = model_pick_errno(fuzz_u8(in));
        spec.bogus = b & 8;
        spec.serialize = b & 16;
        spec.probe = b & 32;
        break;
    }
    case OBJ_REG: {
        uint8_t a = fuzz_u8(in), b = fuzz_u8(in);
        /* Whole words, so a widened read never runs past the end. */
        spec.size = (spec.size + 7) & ~(uint64_t)7;
        spec.endian = (DmsEndian)(a % 3);
        spec.valid = model_pick_sizes(b & 15);
        spec.impl = model_pick_sizes(b >> 4);
        spec.valid.unaligned = a & 8;
        spec.impl.unaligned = a & 16;
        spec.serialize = a & 32;
        spec.probe = a & 64;
        break;
    }
    case OBJ_ALIAS:
        spec.target = fuzz_u8(in);
        spec.alias_offset = fuzz_u16(in) % MODEL_MAX_REGION;
        if ((shape & 12) == 12)
            spec.size = DMS_SIZE_ALL;
        break;
    default:
        abort();
    }
    model_add(m, &spec);
}

static void op_access(Model *m, FuzzInput *in, bool is_write)
{
    uint64_t addr = pick_addr(in);
    size_t len = pick_len(in);

    if ((fuzz_u8(in) & 15) == 0) {
        /* Near the top of the address space: addr + len may wrap. */
        uint8_t k = fuzz_u8(in);
        addr = UINT64_MAX - k;
        len = (size_t)k + (fuzz_u8(in) & 3);
    }
    model_access(m, addr, len, is_write, fuzz_u8(in));
}

static void op_check(Model *m, FuzzInput *in)
{
    uint64_t addr = pick_addr(in);
    uint64_t len = pick_len(in);
    uint8_t how = fuzz_u8(in);

    if (how & 1) /* lengths far beyond any buffer: only check takes them */
        len = (uint64_t)fuzz_u32(in) << (how >> 3 & 31);
    if (how & 2)
        addr = UINT64_MAX - fuzz_u8(in);
    model_check(m, addr, len,
                (how & 4) ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE);
}

static void op_map(Model *m, FuzzInput *in)
{
    uint64_t addr = pick_addr(in);
    uint8_t how = fuzz_u8(in);
    size_t len = (how & 2) ? SIZE_MAX : pick_len(in);

    if ((how & 12) == 12)
        addr = UINT64_MAX - fuzz_u8(in);
    model_map(m, addr, len,
              (how & 1) ? DMS_DIR_FROM_DEVICE : DMS_DIR_TO_DEVICE,
              fuzz_u8(in));
}

static void op_unmap(Model *m, FuzzInput *in)
{
    uint8_t which = fuzz_u8(in);
    uint16_t access = fuzz_u16(in);

    model_unmap(m, which, access, fuzz_u8(in));
}

static void op_bad_unmap(Model *m, FuzzInput *in)
{
    /* Separate statements: argument evaluation order is unspecified. */
    uint8_t which = fuzz_u8(in);

    model_bad_unmap(m, which, fuzz_u8(in));
}

static void op_resize(Model *m, FuzzInput *in)
{
    uint8_t which = fuzz_u8(in);

    model_resize(m, which, 1 + fuzz_u16(in) % MODEL_MAX_REGION);
}

static void op_set_limit(Model *m, FuzzInput *in)
{
    static const size_t limits[] = {
        0, 1, 7, 64, 4096, 65536, DMS_BOUNCE_LIMIT_DEFAULT};
    uint8_t how = fuzz_u8(in);
    size_t limit =
        (how & 1) ? fuzz_u16(in) : limits[(how >> 1) % G_N_ELEMENTS(limits)];

    model_set_limit(m, limit);
}

typedef enum Op {
    OP_ADD_RAM,
    OP_ADD_BULK,
    OP_ADD_REG,
    OP_ADD_ALIAS,
    OP_REMOVE,
    OP_ADD_AGAIN,
    OP_RESIZE,
    OP_READ,
    OP_WRITE,
    OP_CHECK,
    OP_MAP,
    OP_UNMAP,
    OP_BAD_UNMAP,
    OP_SET_LIMIT,
    OP_ADD_CLIENT,
    OP_CANCEL_CLIENT,
    OP_BEGIN,
    OP_COMMIT,
    OP_DISPATCH,
    OP_COUNT,
} Op;

/*
 * DMS_FUZZ_OPS=1: print each input's length and the operations it ran, to
 * measure how long the programs a fuzzing run reaches are
 * (doc/testing.md): replay a corpus with fuzz-space-corpus and count.
 */
static bool print_ops(void)
{
    static int on = -1;

    if (on < 0)
        on = g_getenv("DMS_FUZZ_OPS") != NULL;
    return on;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = {data, size};
    Model *m = model_new(&in);
    unsigned long ops = 0;

    for (; in.left > 0; ops++) {
        switch ((Op)(fuzz_u8(&in) % OP_COUNT)) {
        case OP_ADD_RAM:
            op_add_region(m, &in, OBJ_RAM);
            break;
        case OP_ADD_BULK:
            op_add_region(m, &in, OBJ_BULK);
            break;
        case OP_ADD_REG:
            op_add_region(m, &in, OBJ_REG);
            break;
        case OP_ADD_ALIAS:
            op_add_region(m, &in, OBJ_ALIAS);
            break;
        case OP_REMOVE:
            model_remove(m, fuzz_u8(&in));
            break;
        case OP_ADD_AGAIN:
            model_add_again(m, fuzz_u8(&in));
            break;
        case OP_RESIZE:
            op_resize(m, &in);
            break;
        case OP_READ:
            op_access(m, &in, false);
            break;
        case OP_WRITE:
            op_access(m, &in, true);
            break;
        case OP_CHECK:
            op_check(m, &in);
            break;
        case OP_MAP:
            op_map(m, &in);
            break;
        case OP_UNMAP:
            op_unmap(m, &in);
            break;
        case OP_BAD_UNMAP:
            op_bad_unmap(m, &in);
            break;
        case OP_SET_LIMIT:
            op_set_limit(m, &in);
            break;
        case OP_ADD_CLIENT:
            model_add_client(m, fuzz_bool(&in));
            break;
        case OP_CANCEL_CLIENT:
            model_cancel_client(m, fuzz_u8(&in));
            break;
        case OP_BEGIN:
            model_begin(m);
            break;
        case OP_COMMIT:
            model_commit(m);
            break;
        case OP_DISPATCH:
            model_dispatch(m);
            break;
        case OP_COUNT:
            abort();
        }
        model_verify(m);
    }
    model_free(m);
    if (print_ops())
        fprintf(stderr, "fuzz-space: %zu bytes, %lu ops\n", size, ops);
    return 0;
}
