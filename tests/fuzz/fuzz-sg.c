/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: scatter-gather lists and the copies through them, against
 * a model.
 *
 * The input lays out a window of holes, RAM, read-only RAM and message
 * regions (world.h), then is read as a program: add entries to a list
 * (empty ones, ones that wrap past 2^64, ones whose total passes 2^64 - 1,
 * ones over holes), clear it, start a new one, look entries up, read and
 * write through it (plain and relaxed) into buffers shorter or longer than
 * the list, typed loads and stores of each width and byte order, and
 * fills. The model is a plain array of the entries and the window's bytes:
 * every copy must move exactly the bytes up to the first one that is not
 * there (or, writing, not writable), return that error, and report the
 * residual as the list's size minus the bytes moved; every byte read must
 * be the model's, and after each operation memory must equal the model.
 */
#include <errno.h>
#include <string.h>

#include "world.h"

#define MAX_ENTRIES 64

typedef struct Sg {
    World *w;
    DmsSgList *list;
    DmsSgEntry entries[MAX_ENTRIES];
    size_t nr;
    uint64_t size;
    uint32_t seed;
} Sg;

static void check_list(const Sg *s)
{
    FUZZ_CHECK(dms_sglist_get_count(s->list) == s->nr, "count %zu, want %zu",
               dms_sglist_get_count(s->list), s->nr);
    FUZZ_CHECK(dms_sglist_get_size(s->list) == s->size,
               "size %" G_GUINT64_FORMAT ", want %" G_GUINT64_FORMAT,
               dms_sglist_get_size(s->list), s->size);
    FUZZ_CHECK(dms_sglist_get_space(s->list) == s->w->space, "space");
}

static void op_add(Sg *s, FuzzInput *in)
{
    uint8_t how = fuzz_u8(in);
    uint64_t addr = world_pick_addr(in), len = world_pick_len(in);
    int r, want;

    if ((how & 7) == 0) { /* near the top: may wrap */
        addr = UINT64_MAX - fuzz_u8(in);
        len = fuzz_u8(in);
    } else if ((how & 7) == 1) { /* huge, nowhere: the total may overflow */
        addr = 0;
        len = UINT64_MAX >> (fuzz_u8(in) % 4);
    }
    if (len > 0 && addr > UINT64_MAX - (len - 1))
        want = -EINVAL;
    else if (len == 0)
        want = 0;
    else if (len > UINT64_MAX - s->size)
        want = -EOVERFLOW;
    else if (s->nr == MAX_ENTRIES)
        return; /* the model's limit, not the library's */
    else
        want = 1;

    r = dms_sglist_add(s->list, addr, len);
    FUZZ_CHECK(r == (want == 1 ? 0 : want),
               "add %#" G_GINT64_MODIFIER "x+%#" G_GINT64_MODIFIER
               "x: %d, want %d",
               addr, len, r, want);
    if (want == 1) {
        s->entries[s->nr++] = (DmsSgEntry){addr, len};
        s->size += len;
    }
}

static void op_clear(Sg *s)
{
    int r = dms_sglist_clear(s->list);

    FUZZ_CHECK(r == 0, "clear: %d", r);
    s->nr = 0;
    s->size = 0;
}

static void op_renew(Sg *s, FuzzInput *in)
{
    DmsSgList *other = NULL;
    int r;

    r = dms_sglist_new(s->w->space, fuzz_u8(in) % 9, &other);
    FUZZ_CHECK(r == 0 && other, "new list: %d", r);
    /* A second reference on the old list goes away with it. */
    dms_sglist_ref(s->list);
    dms_sglist_unref(s->list);
    FUZZ_CHECK(dms_sglist_unref(s->list) == NULL, "unref returns NULL");
    s->list = other;
    s->nr = 0;
    s->size = 0;
}

static void op_entry(Sg *s, FuzzInput *in)
{
    size_t i = fuzz_u8(in) % (MAX_ENTRIES + 2);
    const DmsSgEntry *e = dms_sglist_get_entry(s->list, i);

    if (i >= s->nr) {
        FUZZ_CHECK(e == NULL, "entry %zu past the end", i);
        return;
    }
    FUZZ_CHECK(e && e->addr == s->entries[i].addr &&
                   e->len == s->entries[i].len,
               "entry %zu differs", i);
}

/*
 * The outcome of a copy of @len bytes through the list: bytes moved and
 * the error. A write is applied to the model as it goes.
 */
static uint64_t expect_copy(Sg *s, const uint8_t *wbuf, size_t len, int *err)
{
    uint64_t moved = 0;

    *err = 0;
    if ((uint64_t)len > s->size)
        len = (size_t)s->size;
    for (size_t i = 0; i < s->nr && moved < len; i++) {
        size_t n = (size_t)MIN(s->entries[i].len, (uint64_t)len - moved);
        size_t done =
            world_expect(s->w, s->entries[i].addr, n, wbuf != NULL, err);

        if (wbuf)
            world_model_write(s->w, s->entries[i].addr, wbuf + moved, done);
        moved += done;
        if (*err)
            break;
    }
    return moved;
}

static void op_copy(Sg *s, FuzzInput *in, bool is_write)
{
    uint8_t how = fuzz_u8(in);
    size_t len = world_pick_len(in);
    uint64_t residual = 0xdeadbeef, moved;
    uint8_t *buf, *want;
    int r, err;

    if ((how & 2) && s->size <= 4 * WORLD_SEG_SIZE) /* exactly the list */
        len = (size_t)s->size;
    /* Exactly sized: a copy past @len trips the sanitizers. */
    buf = g_malloc(len ? len : 1);
    if (is_write) {
        world_pattern(buf, len, ++s->seed);
        moved = expect_copy(s, buf, len, &err);
        r = (how & 1)
                ? dms_sglist_write_relaxed(s->list, buf, len, NULL, &residual)
                : dms_sglist_write(s->list, buf, len, NULL, &residual);
    } else {
        memset(buf, 0xa5, len);
        moved = expect_copy(s, NULL, len, &err);
        r = (how & 1)
                ? dms_sglist_read_relaxed(s->list, buf, len, NULL, &residual)
                : dms_sglist_read(s->list, buf, len, NULL, &residual);
        /* The bytes moved are the model's, entry after entry. */
        want = g_malloc(moved ? (size_t)moved : 1);
        for (size_t i = 0, at = 0; i < s->nr && at < moved; i++) {
            size_t n = (size_t)MIN(s->entries[i].len, moved - at);

            world_model_read(s->w, s->entries[i].addr, want + at, n);
            at += n;
        }
        FUZZ_CHECK(memcmp(buf, want, (size_t)moved) == 0,
                   "read data differs from the model");
        g_free(want);
    }
    FUZZ_CHECK(r == err, "%s of %zu: %d, want %d", is_write ? "write" : "read",
               len, r, err);
    FUZZ_CHECK(residual == s->size - moved,
               "%s of %zu: residual %" G_GUINT64_FORMAT
               ", want %" G_GUINT64_FORMAT,
               is_write ? "write" : "read", len, residual, s->size - moved);
    g_free(buf);
}

/* Width 1, 2, 4 or 8 and byte order from @how: a load or store. */
static void op_typed(Sg *s, FuzzInput *in, bool is_store)
{
    uint8_t how = fuzz_u8(in);
    unsigned width = 1u << (how & 3);
    bool big = how & 4;
    uint64_t addr = world_pick_addr(in), value = 0;
    uint8_t bytes[8], want[8] = {0};
    size_t done;
    int r = 0, err;

    done = world_expect(s->w, addr, width, is_store, &err);
    if (is_store) {
        uint64_t v = (uint64_t)fuzz_u32(in) << 32 | fuzz_u32(in);

        for (unsigned i = 0; i < width; i++)
            bytes[i] = (uint8_t)(v >> (8 * (big ? width - 1 - i : i)));
        switch (width | (big ? 16 : 0)) {
        case 1:
        case 17:
            r = dms_space_store_u8(s->w->space, addr, (uint8_t)v, NULL);
            break;
        case 2:
            r = dms_space_store_le16(s->w->space, addr, (uint16_t)v, NULL);
            break;
        case 4:
            r = dms_space_store_le32(s->w->space, addr, (uint32_t)v, NULL);
            break;
        case 8:
            r = dms_space_store_le64(s->w->space, addr, v, NULL);
            break;
        case 18:
            r = dms_space_store_be16(s->w->space, addr, (uint16_t)v, NULL);
            break;
        case 20:
            r = dms_space_store_be32(s->w->space, addr, (uint32_t)v, NULL);
            break;
        case 24:
            r = dms_space_store_be64(s->w->space, addr, v, NULL);
            break;
        }
        /* A store that fails part way leaves the bytes before the gap. */
        world_model_write(s->w, addr, bytes, done);
        FUZZ_CHECK(r == err,
                   "store%u at %#" G_GINT64_MODIFIER "x: %d, want %d", width,
                   addr, r, err);
        return;
    }

    switch (width | (big ? 16 : 0)) {
    case 1:
    case 17: {
        uint8_t v8 = 0x5a;
        r = dms_space_load_u8(s->w->space, addr, &v8, NULL);
        value = v8;
        break;
    }
    case 2:
    case 18: {
        uint16_t v16 = 0x5a5a;
        r = big ? dms_space_load_be16(s->w->space, addr, &v16, NULL)
                : dms_space_load_le16(s->w->space, addr, &v16, NULL);
        value = v16;
        break;
    }
    case 4:
    case 20: {
        uint32_t v32 = 0x5a5a5a5a;
        r = big ? dms_space_load_be32(s->w->space, addr, &v32, NULL)
                : dms_space_load_le32(s->w->space, addr, &v32, NULL);
        value = v32;
        break;
    }
    default:
        r = big ? dms_space_load_be64(s->w->space, addr, &value, NULL)
                : dms_space_load_le64(s->w->space, addr, &value, NULL);
        break;
    }
    FUZZ_CHECK(r == err, "load%u at %#" G_GINT64_MODIFIER "x: %d, want %d",
               width, addr, r, err);
    if (err == 0) {
        uint64_t v = 0;

        world_model_read(s->w, addr, want, width);
        for (unsigned i = 0; i < width; i++)
            v |= (uint64_t)want[i] << (8 * (big ? width - 1 - i : i));
        FUZZ_CHECK(value == v, "load%u%s at %#" G_GINT64_MODIFIER "x", width,
                   big ? "be" : "le", addr);
    } else {
        FUZZ_CHECK(value == 0, "a failed load gives 0");
    }
}

static void op_fill(Sg *s, FuzzInput *in)
{
    uint64_t addr = world_pick_addr(in), done = 12345;
    size_t len = world_pick_len(in);
    uint8_t value = fuzz_u8(in), *bytes;
    size_t want;
    int r, err;

    want = world_expect(s->w, addr, len, true, &err);
    r = dms_space_fill(s->w->space, addr, value, len, NULL, &done);
    FUZZ_CHECK(r == err && done == want,
               "fill %#" G_GINT64_MODIFIER "x+%zu: %d done %" G_GUINT64_FORMAT
               ", want %d done %zu",
               addr, len, r, done, err, want);
    bytes = g_malloc(want ? want : 1);
    memset(bytes, value, want);
    world_model_write(s->w, addr, bytes, want);
    g_free(bytes);
}

typedef enum Op {
    OP_ADD,
    OP_ADD2, /* adding is most of what a device does: twice the weight */
    OP_CLEAR,
    OP_RENEW,
    OP_ENTRY,
    OP_READ,
    OP_WRITE,
    OP_LOAD,
    OP_STORE,
    OP_FILL,
    OP_COUNT,
} Op;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = {data, size};
    Sg s = {.w = world_new(&in)};
    int r;

    r = dms_sglist_new(s.w->space, 0, &s.list);
    FUZZ_CHECK(r == 0, "new list: %d", r);
    while (in.left > 0) {
        switch ((Op)(fuzz_u8(&in) % OP_COUNT)) {
        case OP_ADD:
        case OP_ADD2:
            op_add(&s, &in);
            break;
        case OP_CLEAR:
            op_clear(&s);
            break;
        case OP_RENEW:
            op_renew(&s, &in);
            break;
        case OP_ENTRY:
            op_entry(&s, &in);
            break;
        case OP_READ:
            op_copy(&s, &in, false);
            break;
        case OP_WRITE:
            op_copy(&s, &in, true);
            break;
        case OP_LOAD:
            op_typed(&s, &in, false);
            break;
        case OP_STORE:
            op_typed(&s, &in, true);
            break;
        case OP_FILL:
            op_fill(&s, &in);
            break;
        case OP_COUNT:
            abort();
        }
        check_list(&s);
        world_verify(s.w);
    }
    FUZZ_CHECK(s.w->criticals == 0, "%u g_critical()s", s.w->criticals);
    dms_sglist_unref(s.list);
    world_free(s.w);
    return 0;
}
