/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The flat world of the upper-layer fuzz targets; see world.h.
 */
#include <errno.h>
#include <string.h>

#include "world.h"

/* Where the log writer counts: the one world alive, or nowhere. */
static unsigned *criticals_at;

/* ---- the bulk backend of message segments: bytes of w->mem ---- */

typedef struct Msg {
    World *w;
    unsigned seg;
} Msg;

static Msg msgs[WORLD_SEGS];

static int64_t msg_rw(Msg *m, uint64_t offset, void *rbuf, const void *wbuf,
                      size_t len)
{
    World *w = m->w;
    uint8_t *at = w->mem + (size_t)m->seg * WORLD_SEG_SIZE;

    FUZZ_CHECK(len > 0, "a message of 0 bytes");
    FUZZ_CHECK(offset < w->len[m->seg] && len <= w->len[m->seg] - offset,
               "message %#" G_GINT64_MODIFIER "x+%zu outside segment %u",
               offset, len, m->seg);
    FUZZ_CHECK(w->max_access[m->seg] == 0 || len <= w->max_access[m->seg],
               "message of %zu bytes above max_access %zu", len,
               w->max_access[m->seg]);
    if (w->short_len[m->seg] && len > w->short_len[m->seg])
        len = w->short_len[m->seg];
    if (rbuf)
        memcpy(rbuf, at + offset, len);
    else
        memcpy(at + offset, wbuf, len);
    return (int64_t)len;
}

static int64_t msg_read(void *opaque, uint64_t offset, void *buf, size_t len,
                        const DmsAttrs *attrs)
{
    (void)attrs;
    return msg_rw(opaque, offset, buf, NULL, len);
}

static int64_t msg_write(void *opaque, uint64_t offset, const void *buf,
                         size_t len, const DmsAttrs *attrs)
{
    (void)attrs;
    return msg_rw(opaque, offset, NULL, buf, len);
}

/* ---- the world ---- */

World *world_new(FuzzInput *in)
{
    static bool writer_set;
    World *w = g_new0(World, 1);
    DmsRegion *root;
    int r;

    if (!writer_set) {
        g_log_set_writer_func(fuzz_count_criticals, &criticals_at, NULL);
        writer_set = true;
    }
    criticals_at = &w->criticals;
    w->mem = g_malloc(WORLD_SIZE);
    world_pattern(w->mem, WORLD_SIZE, 1);
    memcpy(w->model, w->mem, WORLD_SIZE);
    w->ctx = g_main_context_new();

    r = dms_region_new_container("root", DMS_SIZE_ALL, &root);
    FUZZ_CHECK(r == 0, "root: %d", r);
    for (unsigned i = 0; i < WORLD_SEGS; i++) {
        uint8_t shape = fuzz_u8(in);
        uint64_t start = WORLD_BASE + (uint64_t)i * WORLD_SEG_SIZE;
        uint8_t *host = w->mem + (size_t)i * WORLD_SEG_SIZE;

        w->kind[i] = (SegKind)(shape % SEG_KINDS);
        /* Mostly whole segments, so runs cross from one to the next. */
        w->len[i] = (shape & 0x80) ? 1 + fuzz_u16(in) % WORLD_SEG_SIZE
                                   : WORLD_SEG_SIZE;
        switch (w->kind[i]) {
        case SEG_HOLE:
            w->len[i] = 0;
            continue;
        case SEG_RAM:
        case SEG_ROM:
            r = dms_region_new_ram("ram", host, w->len[i],
                                   w->kind[i] == SEG_ROM ? DMS_RAM_READONLY
                                                         : 0,
                                   NULL, NULL, &w->region[i]);
            break;
        case SEG_MSG: {
            DmsMessageOps ops = {
                .size = sizeof(ops),
                .read = msg_read,
                .write = msg_write,
            };

            w->max_access[i] = (shape & 0x20) ? 1 + fuzz_u8(in) % 64 : 0;
            w->short_len[i] = (shape & 0x40) ? 1 + fuzz_u8(in) % 16 : 0;
            ops.max_access = w->max_access[i];
            msgs[i] = (Msg){w, i};
            r = dms_region_new_message("msg", w->len[i], &ops, &msgs[i], NULL,
                                       &w->region[i]);
            break;
        }
        default:
            abort();
        }
        FUZZ_CHECK(r == 0, "segment %u: %d", i, r);
        r = dms_region_add_subregion(root, start, w->region[i], 0, 0);
        FUZZ_CHECK(r == 0, "placing segment %u: %d", i, r);
    }
    r = dms_space_new(root, "world", &w->space);
    FUZZ_CHECK(r == 0, "space: %d", r);
    dms_region_unref(root);
    return w;
}

void world_free(World *w)
{
    /* The regions outlive the space only through the references here. */
    w->space = dms_space_unref(w->space);
    for (unsigned i = 0; i < WORLD_SEGS; i++)
        w->region[i] = dms_region_unref(w->region[i]);
    /* Whatever the space left on the context (none expected) runs now. */
    while (g_main_context_iteration(w->ctx, FALSE)) {
    }
    g_main_context_unref(w->ctx);
    g_free(w->mem);
    criticals_at = NULL;
    g_free(w);
}

SegKind world_kind_at(const World *w, uint64_t addr)
{
    uint64_t off;
    unsigned seg;

    if (addr < WORLD_BASE || addr - WORLD_BASE >= WORLD_SIZE)
        return SEG_HOLE;
    off = addr - WORLD_BASE;
    seg = (unsigned)(off / WORLD_SEG_SIZE);
    return off % WORLD_SEG_SIZE < w->len[seg] ? w->kind[seg] : SEG_HOLE;
}

size_t world_expect(const World *w, uint64_t addr, size_t len, bool is_write,
                    int *err)
{
    for (size_t i = 0; i < len; i++) {
        SegKind k = world_kind_at(w, addr + i);

        if (k == SEG_HOLE) {
            *err = -EFAULT;
            return i;
        }
        if (k == SEG_ROM && is_write) {
            *err = -EACCES;
            return i;
        }
    }
    *err = 0;
    return len;
}

void world_model_write(World *w, uint64_t addr, const uint8_t *buf, size_t len)
{
    if (len == 0)
        return;
    FUZZ_CHECK(addr >= WORLD_BASE && addr - WORLD_BASE <= WORLD_SIZE - len,
               "model write outside the window");
    memcpy(w->model + (addr - WORLD_BASE), buf, len);
}

void world_model_read(const World *w, uint64_t addr, uint8_t *buf, size_t len)
{
    if (len == 0)
        return;
    FUZZ_CHECK(addr >= WORLD_BASE && addr - WORLD_BASE <= WORLD_SIZE - len,
               "model read outside the window");
    memcpy(buf, w->model + (addr - WORLD_BASE), len);
}

uint64_t world_pick_addr(FuzzInput *in)
{
    uint16_t v = fuzz_u16(in);

    /* 1 in 64 far away (nothing there), else the window +- 256 bytes. */
    if ((v & 63) == 63)
        return (uint64_t)fuzz_u32(in) << 16;
    return WORLD_BASE - 256 + fuzz_u32(in) % (WORLD_SIZE + 512);
}

size_t world_pick_len(FuzzInput *in)
{
    unsigned kind = fuzz_u8(in) & 3;

    if (kind < 3)
        return fuzz_short_len(in, kind);
    return fuzz_u16(in) % (2 * WORLD_SEG_SIZE + 1);
}

void world_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

void world_verify(const World *w)
{
    for (unsigned i = 0; i < WORLD_SEGS; i++) {
        size_t at = (size_t)i * WORLD_SEG_SIZE;

        if (w->kind[i] == SEG_HOLE)
            continue;
        FUZZ_CHECK(memcmp(w->mem + at, w->model + at, (size_t)w->len[i]) == 0,
                   "segment %u differs from the model", i);
    }
}
