/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the dirty log of RAM regions against a bitmap model.
 *
 * The input lays out a window of holes, RAM, read-only RAM and message
 * regions (world.h), enables the dirty log on some RAM segments (page
 * sizes from 1 byte to 1 GiB, so a segment has anything from one page to
 * 8192), then is read as a program of every way the library writes RAM:
 * dms_space_write(), SG list copies, typed stores, fills, and from-device
 * maps unmapped with an access length (held open across other operations,
 * also to-device ones and bounce maps of message regions); reads; and
 * takes of the log into bitmaps of any size, shorter or longer than the
 * log, with guard words past them; enabling again (-EEXIST) and late.
 *
 * The model is one bool per page: a page is dirty exactly when a write
 * the library made since the last take stored at least one byte in it.
 * A take must return the page count, hand back exactly the model's bits
 * for the pages it covers (zeros past them in its last word, nothing
 * written past that word) and clear only those; pages past it stay set.
 * Memory must equal the model after every operation.
 */
#include <errno.h>
#include <string.h>

#include "world.h"

#define MAX_MAPS 4
#define GUARD UINT64_C(0x5aa5c33cdeadbeef)

typedef struct Map {
    void *ptr;
    uint64_t addr;
    size_t len;
    DmsDirection dir;
} Map;

typedef struct Dirty {
    World *w;
    bool logged[WORLD_SEGS];
    unsigned shift[WORLD_SEGS];
    uint64_t npages[WORLD_SEGS];
    bool *bits[WORLD_SEGS]; /* the model: one per page */
    Map maps[MAX_MAPS];
    uint32_t seed;
} Dirty;

static bool is_ram(const World *w, unsigned seg)
{
    return w->kind[seg] == SEG_RAM || w->kind[seg] == SEG_ROM;
}

static void enable(Dirty *d, unsigned seg, unsigned shift)
{
    int r =
        dms_region_enable_dirty_log(d->w->region[seg], UINT64_C(1) << shift);

    if (d->logged[seg]) {
        FUZZ_CHECK(r == -EEXIST, "second enable on %u: %d", seg, r);
        return;
    }
    FUZZ_CHECK(r == 0, "enable on %u, page 2^%u: %d", seg, shift, r);
    d->logged[seg] = true;
    d->shift[seg] = shift;
    d->npages[seg] = ((d->w->len[seg] - 1) >> shift) + 1;
    d->bits[seg] = g_new0(bool, d->npages[seg]);
}

/* The model's side of a write the library made: [@addr, +@len) stored. */
static void mark(Dirty *d, uint64_t addr, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t off = addr + i - WORLD_BASE;
        unsigned seg = (unsigned)(off / WORLD_SEG_SIZE);

        off %= WORLD_SEG_SIZE;
        if (d->w->kind[seg] == SEG_RAM && d->logged[seg])
            d->bits[seg][off >> d->shift[seg]] = true;
    }
}

static void store(Dirty *d, uint64_t addr, const uint8_t *buf, size_t len)
{
    world_model_write(d->w, addr, buf, len);
    mark(d, addr, len);
}

static void op_write(Dirty *d, FuzzInput *in)
{
    uint64_t addr = world_pick_addr(in);
    size_t len = world_pick_len(in), want, done = 0;
    uint8_t *buf = g_malloc(len ? len : 1);
    int r, err;

    world_pattern(buf, len, ++d->seed);
    want = world_expect(d->w, addr, len, true, &err);
    r = dms_space_write(d->w->space, addr, buf, len, NULL, &done);
    FUZZ_CHECK(r == err && done == want, "write: %d done %zu, want %d %zu", r,
               done, err, want);
    store(d, addr, buf, done);
    g_free(buf);
}

static void op_read(Dirty *d, FuzzInput *in)
{
    uint64_t addr = world_pick_addr(in);
    size_t len = world_pick_len(in), want, done = 0;
    uint8_t *buf = g_malloc(len ? len : 1), *model = g_malloc(len ? len : 1);
    int r, err;

    want = world_expect(d->w, addr, len, false, &err);
    r = dms_space_read(d->w->space, addr, buf, len, NULL, &done);
    FUZZ_CHECK(r == err && done == want, "read: %d done %zu, want %d %zu", r,
               done, err, want);
    world_model_read(d->w, addr, model, done);
    FUZZ_CHECK(memcmp(buf, model, done) == 0, "read data");
    g_free(model);
    g_free(buf);
}

/* Up to three entries, written through an SG list. */
static void op_sg_write(Dirty *d, FuzzInput *in)
{
    unsigned n = 1 + fuzz_u8(in) % 3;
    uint64_t addr[3], residual = 0, moved = 0, size = 0;
    size_t len[3], total;
    uint8_t *buf;
    DmsSgList *sg;
    int r, err = 0;

    r = dms_sglist_new(d->w->space, n, &sg);
    FUZZ_CHECK(r == 0, "sglist: %d", r);
    for (unsigned i = 0; i < n; i++) {
        addr[i] = world_pick_addr(in);
        len[i] = world_pick_len(in) % 2048;
        r = dms_sglist_add(sg, addr[i], len[i]);
        FUZZ_CHECK(r == 0, "sglist add: %d", r);
        size += len[i];
    }
    total = (size_t)size;
    buf = g_malloc(total ? total : 1);
    world_pattern(buf, total, ++d->seed);
    r = dms_sglist_write(sg, buf, total, NULL, &residual);
    for (unsigned i = 0; i < n; i++) {
        size_t done = world_expect(d->w, addr[i], len[i], true, &err);

        store(d, addr[i], buf + moved, done);
        moved += done;
        if (err)
            break;
    }
    FUZZ_CHECK(r == err && residual == size - moved,
               "sg write: %d residual %" G_GUINT64_FORMAT
               ", want %d %" G_GUINT64_FORMAT,
               r, residual, err, size - moved);
    dms_sglist_unref(sg);
    g_free(buf);
}

static void op_store(Dirty *d, FuzzInput *in)
{
    uint8_t how = fuzz_u8(in);
    uint64_t addr = world_pick_addr(in);
    uint32_t v = fuzz_u32(in);
    uint8_t bytes[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                        (uint8_t)(v >> 24)};
    unsigned width = (how & 1) ? 4 : 1;
    size_t done;
    int r, err;

    done = world_expect(d->w, addr, width, true, &err);
    r = width == 4 ? dms_space_store_le32(d->w->space, addr, v, NULL)
                   : dms_space_store_u8(d->w->space, addr, (uint8_t)v, NULL);
    FUZZ_CHECK(r == err, "store%u: %d, want %d", width, r, err);
    store(d, addr, bytes, done);
}

static void op_fill(Dirty *d, FuzzInput *in)
{
    uint64_t addr = world_pick_addr(in), done = 0;
    size_t len = world_pick_len(in), want;
    uint8_t value = fuzz_u8(in), *bytes;
    int r, err;

    want = world_expect(d->w, addr, len, true, &err);
    r = dms_space_fill(d->w->space, addr, value, len, NULL, &done);
    FUZZ_CHECK(r == err && done == want,
               "fill: %d done %" G_GUINT64_FORMAT ", want %d %zu", r, done,
               err, want);
    bytes = g_malloc(want ? want : 1);
    memset(bytes, value, want);
    store(d, addr, bytes, want);
    g_free(bytes);
}

static void op_map(Dirty *d, FuzzInput *in)
{
    uint8_t how = fuzz_u8(in);
    Map *mp = &d->maps[how % MAX_MAPS];
    size_t len;
    int r, err;

    if (mp->ptr)
        return;
    mp->dir = (how & 4) ? DMS_DIR_TO_DEVICE : DMS_DIR_FROM_DEVICE;
    mp->addr = world_pick_addr(in);
    len = world_pick_len(in);
    mp->len = len;
    r = dms_space_map(d->w->space, mp->addr, &mp->len, mp->dir, NULL,
                      &mp->ptr);
    /* Only the first byte decides whether a map succeeds; how much it
     * covers is the library's choice, but never a byte that is not there
     * or, from the device, not writable. */
    world_expect(d->w, mp->addr, len ? 1 : 0, mp->dir == DMS_DIR_FROM_DEVICE,
                 &err);
    if (len == 0) {
        FUZZ_CHECK(r == 0 && mp->ptr == NULL, "map of 0: %d", r);
        mp->ptr = NULL;
        return;
    }
    if (r == -EAGAIN || r == -ENOBUFS) { /* bounce budget: not our model */
        FUZZ_CHECK(world_kind_at(d->w, mp->addr) == SEG_MSG, "map: %d", r);
        mp->ptr = NULL;
        return;
    }
    FUZZ_CHECK(r == err,
               "map %#" G_GINT64_MODIFIER "x+%zu dir %d: %d, want %d",
               mp->addr, len, mp->dir, r, err);
    if (r < 0) {
        mp->ptr = NULL;
        return;
    }
    FUZZ_CHECK(mp->len >= 1 && mp->len <= len, "map length %zu of %zu",
               mp->len, len);
    FUZZ_CHECK(world_expect(d->w, mp->addr, mp->len,
                            mp->dir == DMS_DIR_FROM_DEVICE, &err) == mp->len,
               "mapped past what is there");
    if (mp->dir == DMS_DIR_TO_DEVICE) {
        uint8_t *model = g_malloc(mp->len);

        world_model_read(d->w, mp->addr, model, mp->len);
        FUZZ_CHECK(memcmp(model, mp->ptr, mp->len) == 0, "mapped data");
        g_free(model);
    }
}

static void op_unmap(Dirty *d, FuzzInput *in)
{
    Map *mp = &d->maps[fuzz_u8(in) % MAX_MAPS];
    size_t access = fuzz_u16(in);
    int r;

    if (!mp->ptr)
        return;
    access = mp->len ? access % (mp->len + 1) : 0;
    if (mp->dir == DMS_DIR_FROM_DEVICE) {
        /* The device writes what it accessed, now. */
        world_pattern(mp->ptr, access, ++d->seed);
        store(d, mp->addr, mp->ptr, access);
    }
    r = dms_space_unmap(d->w->space, mp->ptr, mp->len, mp->dir, access);
    FUZZ_CHECK(r == 0, "unmap: %d", r);
    mp->ptr = NULL;
}

static void op_take(Dirty *d, FuzzInput *in)
{
    unsigned seg = fuzz_u8(in) % WORLD_SEGS;
    uint64_t nbits, n, words, *bitmap;
    unsigned before = d->w->criticals;
    int64_t r;

    if (!is_ram(d->w, seg))
        return;
    if (!d->logged[seg]) {
        uint64_t word;

        r = dms_region_take_dirty_log(d->w->region[seg], &word, 1);
        FUZZ_CHECK(r == -EINVAL && d->w->criticals == before + 1,
                   "take without a log: %" G_GINT64_FORMAT, r);
        d->w->criticals = before;
        return;
    }
    switch (fuzz_u8(in) & 3) {
    case 0:
        nbits = d->npages[seg];
        break;
    case 1:
        nbits = d->npages[seg] + fuzz_u8(in);
        break;
    default:
        nbits = fuzz_u16(in) % (d->npages[seg] + 130);
        break;
    }
    n = MIN(nbits, d->npages[seg]);
    words = (nbits + 63) / 64;
    /* Guard words past the bitmap, and in it past the pages taken. */
    bitmap = g_new(uint64_t, words + 2);
    for (uint64_t i = 0; i < words + 2; i++)
        bitmap[i] = GUARD;
    r = dms_region_take_dirty_log(d->w->region[seg], nbits ? bitmap : NULL,
                                  nbits);
    FUZZ_CHECK(r == (int64_t)d->npages[seg],
               "take: %" G_GINT64_FORMAT ", want %" G_GUINT64_FORMAT, r,
               d->npages[seg]);
    for (uint64_t w = 0; w < (n + 63) / 64; w++) {
        uint64_t want = 0;

        for (uint64_t b = 0; b < 64 && w * 64 + b < n; b++)
            if (d->bits[seg][w * 64 + b])
                want |= UINT64_C(1) << b;
        FUZZ_CHECK(bitmap[w] == want,
                   "segment %u word %" G_GUINT64_FORMAT
                   ": %#" G_GINT64_MODIFIER "x, want %#" G_GINT64_MODIFIER "x",
                   seg, w, bitmap[w], want);
    }
    for (uint64_t w = (n + 63) / 64; w < words + 2; w++)
        FUZZ_CHECK(bitmap[w] == GUARD,
                   "take wrote word %" G_GUINT64_FORMAT
                   " past %" G_GUINT64_FORMAT " pages",
                   w, n);
    memset(d->bits[seg], 0, (size_t)n * sizeof(bool));
    g_free(bitmap);
}

static void op_enable(Dirty *d, FuzzInput *in)
{
    unsigned seg = fuzz_u8(in) % WORLD_SEGS;

    if (is_ram(d->w, seg))
        enable(d, seg, fuzz_u8(in) % 31);
}

/* The operations, by input byte modulo their number; one listed twice
 * has twice the weight. */
static void (*const ops[])(Dirty *, FuzzInput *) = {
    op_write, op_read,  op_sg_write, op_store, op_fill,
    op_map,   op_unmap, op_take,     op_take,  op_enable,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = {data, size};
    Dirty d = {.w = world_new(&in)};
    uint8_t logs = fuzz_u8(&in);

    /* Logs from the start on the segments @logs picks, 1 B to 1 GiB pages. */
    for (unsigned i = 0; i < WORLD_SEGS; i++)
        if (is_ram(d.w, i) && (logs >> i & 1))
            enable(&d, i, fuzz_u8(&in) % 31);

    while (in.left > 0) {
        ops[fuzz_u8(&in) % G_N_ELEMENTS(ops)](&d, &in);
        world_verify(d.w);
    }
    /* Whatever is still mapped is released without access: no marks. */
    for (unsigned i = 0; i < MAX_MAPS; i++) {
        if (d.maps[i].ptr) {
            int r = dms_space_unmap(d.w->space, d.maps[i].ptr, d.maps[i].len,
                                    d.maps[i].dir, 0);
            FUZZ_CHECK(r == 0, "final unmap: %d", r);
        }
    }
    for (unsigned i = 0; i < WORLD_SEGS; i++) {
        if (d.logged[i]) {
            uint64_t *bitmap = g_new0(uint64_t, (d.npages[i] + 63) / 64);
            dms_region_take_dirty_log(d.w->region[i], bitmap, d.npages[i]);
            for (uint64_t p = 0; p < d.npages[i]; p++)
                FUZZ_CHECK(!!(bitmap[p / 64] >> (p % 64) & 1) == d.bits[i][p],
                           "final take, segment %u page %" G_GUINT64_FORMAT, i,
                           p);
            g_free(bitmap);
        }
        g_free(d.bits[i]);
    }
    FUZZ_CHECK(d.w->criticals == 0, "%u g_critical()s", d.w->criticals);
    world_free(d.w);
    return 0;
}
