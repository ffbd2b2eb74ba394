/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user backend module against a real libvfio-user server and the
 * tests' own vfio-user client (vfu-client.c), over a real socket, in one
 * process: a server thread runs dms_vfu_accept()/dms_vfu_run(), the
 * client's reader thread serves the server's DMA messages, and the test
 * thread plays the device (DMA through the space) and the client's driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

/* glib first: the headers then define g_autoptr() cleanups. */
#include <glib.h>

#include <dmaspace/dmaspace.h>
#include <dmaspace/vfio-user.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vfio-user/libvfio-user.h>

#include "vfu-client.h"

#define MiB ((uint64_t)1 << 20)
#define KiB ((uint64_t)1 << 10)

/* ---- the server: a device with one test BAR, served by a thread ---- */

/*
 * BAR0 of the test device, little-endian registers:
 *   0x00 ADDR (u64)  0x08 LEN (u32)  0x0c GO (u32: 1 reads ADDR/LEN into
 *   the device buffer, 2 writes the device buffer there, both through the
 *   space, from the callback, inside dms_vfu_run())  0x10 RESULT (u32:
 *   positive errno of the last GO).
 */
typedef struct Server {
    char *dir;
    char *path;
    vfu_ctx_t *ctx;
    DmsVfu *vfu;
    DmsSpace *space;
    DmsRegion *bar;
    GThread *thread;
    atomic_bool stop;
    atomic_int accepted;
    atomic_int disconnects;

    uint64_t reg_addr;
    uint32_t reg_len;
    uint32_t reg_result;
    uint8_t devbuf[64 * 1024];
} Server;

static int bar_read(void *opaque, uint64_t offset, uint64_t *value,
                    unsigned size, const DmsAttrs *attrs)
{
    Server *s = opaque;

    switch (offset) {
    case 0x00:
        *value = size == 8 ? s->reg_addr : (uint32_t)s->reg_addr;
        return 0;
    case 0x04:
        *value = s->reg_addr >> 32;
        return 0;
    case 0x08:
        *value = s->reg_len;
        return 0;
    case 0x10:
        *value = s->reg_result;
        return 0;
    default:
        *value = 0;
        return 0;
    }
}

static int bar_write(void *opaque, uint64_t offset, uint64_t value,
                     unsigned size, const DmsAttrs *attrs)
{
    Server *s = opaque;
    int r = 0;

    switch (offset) {
    case 0x00:
        if (size == 8)
            s->reg_addr = value;
        else
            s->reg_addr = (s->reg_addr & ~(uint64_t)UINT32_MAX) | value;
        return 0;
    case 0x04:
        s->reg_addr = (s->reg_addr & UINT32_MAX) | value << 32;
        return 0;
    case 0x08:
        s->reg_len = (uint32_t)MIN(value, sizeof(s->devbuf));
        return 0;
    case 0x0c:
        if (value == 1)
            r = dms_space_read(s->space, s->reg_addr, s->devbuf, s->reg_len,
                               NULL, NULL);
        else if (value == 2)
            r = dms_space_write(s->space, s->reg_addr, s->devbuf, s->reg_len,
                                NULL, NULL);
        s->reg_result = (uint32_t)-r;
        return 0;
    default:
        return 0;
    }
}

static const DmsMessageOps bar_ops = {
    .size = sizeof(DmsMessageOps),
    .read_value = bar_read,
    .write_value = bar_write,
    .endian = DMS_ENDIAN_LITTLE,
    .valid = {.min_access = 4, .max_access = 8},
    .impl = {.min_access = 4, .max_access = 8},
};

static gpointer server_main(gpointer data)
{
    Server *s = data;

    while (!atomic_load(&s->stop)) {
        int r;

        if (!dms_vfu_is_connected(s->vfu)) {
            if (dms_vfu_accept(s->vfu, 20) == 0)
                atomic_fetch_add(&s->accepted, 1);
            continue;
        }
        r = dms_vfu_run(s->vfu, 20);
        if (r == -ENOTCONN)
            atomic_fetch_add(&s->disconnects, 1);
    }
    return NULL;
}

static void quiet_log(vfu_ctx_t *ctx, int level, const char *msg)
{
    if (g_getenv("DMS_VFU_TEST_LOG") != NULL)
        fprintf(stderr, "libvfio-user: %s\n", msg);
}

/* Migration, so that the client may log dirty pages: a stateless device. */
static int migr_transition(vfu_ctx_t *ctx, vfu_migr_state_t state)
{
    return 0;
}

static ssize_t migr_read(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    return 0;
}

static ssize_t migr_write(vfu_ctx_t *ctx, void *buf, uint64_t count)
{
    return (ssize_t)count;
}

static const vfu_migration_callbacks_t migr_callbacks = {
    .version = VFU_MIGR_CALLBACKS_VERS,
    .transition = migr_transition,
    .read_data = migr_read,
    .write_data = migr_write,
};

/*
 * A PCI device's context, non-blocking, on a socket in a new temporary
 * directory: its path in @path, the directory in @dir (for
 * vfc_socket_path_free()).
 */
static vfu_ctx_t *pci_ctx_new(char **path, char **dir, void *pvt)
{
    vfu_ctx_t *ctx;

    *path = vfc_socket_path_new(dir);
    assert_non_null(*path);
    ctx = vfu_create_ctx(VFU_TRANS_SOCK, *path, LIBVFIO_USER_FLAG_ATTACH_NB,
                         pvt, VFU_DEV_TYPE_PCI);
    assert_non_null(ctx);
    vfu_setup_log(ctx, quiet_log, LOG_DEBUG);
    assert_int_equal(vfu_pci_init(ctx, VFU_PCI_TYPE_CONVENTIONAL,
                                  PCI_HEADER_TYPE_NORMAL, 0),
                     0);
    return ctx;
}

static int server_setup(void **state)
{
    Server *s = g_new0(Server, 1);

    s->ctx = pci_ctx_new(&s->path, &s->dir, s);
    assert_int_equal(
        vfu_setup_device_migration_callbacks(s->ctx, &migr_callbacks), 0);
    assert_int_equal(dms_vfu_attach(s->ctx, NULL, &s->vfu), 0);
    s->space = dms_vfu_get_space(s->vfu);
    assert_int_equal(
        dms_region_new_message("test bar", 4096, &bar_ops, s, NULL, &s->bar),
        0);
    assert_int_equal(
        dms_vfu_setup_region(s->vfu, VFU_PCI_DEV_BAR0_REGION_IDX, s->bar, 4096,
                             VFU_REGION_FLAG_RW | VFU_REGION_FLAG_MEM),
        0);
    assert_int_equal(vfu_realize_ctx(s->ctx), 0);
    s->thread = g_thread_new("vfu-server", server_main, s);
    *state = s;
    return 0;
}

static int server_teardown(void **state)
{
    Server *s = *state;

    atomic_store(&s->stop, true);
    g_thread_join(s->thread);
    s->vfu = dms_vfu_unref(s->vfu);
    s->bar = dms_region_unref(s->bar);
    vfc_socket_path_free(s->path, s->dir);
    g_free(s);
    return 0;
}

/* Waits (bounded by iterations, never asserting time) for a condition. */
#define WAIT_FOR(cond)                                                        \
    do {                                                                      \
        for (int i_ = 0; !(cond) && i_ < 20000; i_++)                         \
            g_usleep(1000);                                                   \
        assert_true(cond);                                                    \
    } while (0)

static VfuClient *connect_client(Server *s, bool twin, uint64_t max_transfer)
{
    VfcOptions o = {.twin_socket = twin, .max_transfer = max_transfer};
    VfuClient *c = NULL;
    int before = atomic_load(&s->accepted);

    assert_int_equal(vfc_connect(s->path, &o, &c), 0);
    WAIT_FOR(atomic_load(&s->accepted) > before);
    return c;
}

static DmsVfuStats stats(Server *s)
{
    DmsVfuStats st;

    assert_int_equal(dms_vfu_get_stats(s->vfu, &st), 0);
    return st;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 7 + seed);
}

/* ---- negotiation ---- */

static void test_negotiation_without_twin_socket(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);

    assert_true(dms_vfu_is_connected(s->vfu));
    assert_false(vfc_has_twin_socket(c));
    assert_false(dms_vfu_has_twin_socket(s->vfu));
    vfc_free(c);
    WAIT_FOR(!dms_vfu_is_connected(s->vfu));
}

static void test_negotiation_with_twin_socket(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, true, 0);

    assert_true(vfc_has_twin_socket(c));
    assert_true(dms_vfu_has_twin_socket(s->vfu));
    vfc_free(c);
    WAIT_FOR(!dms_vfu_is_connected(s->vfu));
    /* The next client without twins is told apart. */
    c = connect_client(s, false, 0);
    assert_false(dms_vfu_has_twin_socket(s->vfu));
    vfc_free(c);
}

/* ---- DMA_MAP with and without fds ---- */

static void test_map_with_fd_is_ram_without_messages(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *mem, buf[8192], back[8192];
    int fd = vfc_memfd(64 * KiB, (void **)&mem);
    VfcStats cs;

    assert_true(fd >= 0);
    fill(mem, 64 * KiB, 1);
    assert_int_equal(vfc_dma_map(c, 0x100000, 64 * KiB, VFC_MAP_RW, fd, 0), 0);
    assert_int_equal(stats(s).regions, 1);
    /* RAM; under valgrind, which refuses the module's own mapping, direct. */
    assert_int_equal(stats(s).ram_regions + stats(s).direct_regions, 1);

    assert_int_equal(
        dms_space_read(s->space, 0x100000 + 100, buf, 8192, NULL, NULL), 0);
    assert_memory_equal(buf, mem + 100, 8192);
    fill(back, sizeof(back), 9);
    assert_int_equal(
        dms_space_write(s->space, 0x101000, back, 8192, NULL, NULL), 0);
    assert_memory_equal(mem + 0x1000, back, 8192);

    /* Past the region: nothing there. */
    assert_int_equal(
        dms_space_read(s->space, 0x100000 + 64 * KiB - 8, buf, 16, NULL, NULL),
        -EFAULT);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads + cs.dma_writes, 0);
    assert_int_equal(stats(s).messages,
                     stats(s).direct_regions ? 3 : 0); /* no message sent */

    assert_int_equal(vfc_dma_unmap(c, 0x100000, 64 * KiB), 0);
    assert_int_equal(stats(s).regions, 0);
    assert_int_equal(dms_space_read(s->space, 0x100000, buf, 8, NULL, NULL),
                     -EFAULT);
    vfc_free(c);
    vfc_memfd_free(fd, mem, 64 * KiB);
}

static void test_map_without_fd_one_message_per_run(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint64_t size = 4 * MiB;
    uint8_t *mem = g_malloc(size), *buf = g_malloc(3 * MiB);
    VfcStats cs;

    fill(mem, size, 3);
    vfc_add_memory(c, 0x40000000, size, mem, true);
    assert_int_equal(vfc_dma_map(c, 0x40000000, size, VFC_MAP_RW, -1, 0), 0);
    assert_int_equal(stats(s).regions, 1);
    assert_int_equal(stats(s).ram_regions + stats(s).direct_regions, 0);

    /* A 4 KiB block is one message. */
    assert_int_equal(
        dms_space_read(s->space, 0x40000000 + 12345, buf, 4096, NULL, NULL),
        0);
    assert_memory_equal(buf, mem + 12345, 4096);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads, 1);
    assert_int_equal(cs.largest, 4096);
    assert_int_equal(stats(s).messages, 1);

    fill(buf, 4096, 77);
    assert_int_equal(
        dms_space_write(s->space, 0x40000000 + 8192, buf, 4096, NULL, NULL),
        0);
    assert_memory_equal(mem + 8192, buf, 4096);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_writes, 1);

    /* 3 MiB: three runs of 1 MiB, never more in one message. */
    vfc_reset_stats(c);
    assert_int_equal(
        dms_space_read(s->space, 0x40000000 + 1, buf, 3 * MiB, NULL, NULL), 0);
    assert_memory_equal(buf, mem + 1, 3 * MiB);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads, 3);
    assert_int_equal(cs.largest, MiB);
    assert_int_equal(cs.stray, 0);

    vfc_free(c);
    g_free(mem);
    g_free(buf);
}

/* A client offering less than 1 MiB: libvfio-user cuts the run further. */
static void test_small_client_transfer_size(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 64 * KiB);
    uint8_t *mem = g_malloc0(MiB), *buf = g_malloc(256 * KiB);
    uint64_t before;
    VfcStats cs;

    fill(mem, MiB, 5);
    vfc_add_memory(c, 0x2000000, MiB, mem, true);
    assert_int_equal(vfc_dma_map(c, 0x2000000, MiB, VFC_MAP_RW, -1, 0), 0);
    before = stats(s).messages;
    assert_int_equal(
        dms_space_read(s->space, 0x2000000, buf, 256 * KiB, NULL, NULL), 0);
    assert_memory_equal(buf, mem, 256 * KiB);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads, 4);
    assert_int_equal(cs.largest, 64 * KiB);
    assert_int_equal(stats(s).messages - before, 1);
    vfc_free(c);
    g_free(mem);
    g_free(buf);
}

/* DMA from a device callback, inside dms_vfu_run(), without twins. */
static void test_dma_from_device_callback(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *mem = g_malloc(64 * KiB);
    uint32_t v;
    uint64_t addr = 0x7000000010ull;

    fill(mem, 64 * KiB, 11);
    vfc_add_memory(c, 0x7000000000ull, 64 * KiB, mem, true);
    assert_int_equal(
        vfc_dma_map(c, 0x7000000000ull, 64 * KiB, VFC_MAP_RW, -1, 0), 0);
    /* ADDR as two 32-bit halves, then LEN and GO=1 (read). */
    v = (uint32_t)addr;
    assert_int_equal(vfc_region_write(c, 0, 0x00, &v, 4), 0);
    v = (uint32_t)(addr >> 32);
    assert_int_equal(vfc_region_write(c, 0, 0x04, &v, 4), 0);
    v = 4096;
    assert_int_equal(vfc_region_write(c, 0, 0x08, &v, 4), 0);
    v = 1;
    assert_int_equal(vfc_region_write(c, 0, 0x0c, &v, 4), 0);
    assert_int_equal(vfc_region_read(c, 0, 0x10, &v, 4), 0);
    assert_int_equal(v, 0);
    assert_memory_equal(s->devbuf, mem + 0x10, 4096);
    vfc_free(c);
    g_free(mem);
}

/* ---- device region: little-endian on the wire ---- */

static void test_device_region_is_little_endian(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    const uint8_t wire[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    uint8_t back[8];
    uint64_t size;
    uint32_t flags;

    assert_int_equal(vfc_region_info(c, 0, &size, &flags), 0);
    assert_int_equal(size, 4096);
    assert_int_equal(vfc_region_write(c, 0, 0, wire, 8), 0);
    assert_true(s->reg_addr == 0x8877665544332211ull);
    assert_int_equal(vfc_region_read(c, 0, 4, back, 4), 0);
    assert_memory_equal(back, wire + 4, 4);
    assert_int_equal(vfc_region_read(c, 0, 0, back, 8), 0);
    assert_memory_equal(back, wire, 8);
    /* A 2-byte access is not valid for these registers. */
    assert_int_not_equal(vfc_region_read(c, 0, 0, back, 2), 0);
    /* Past the region. */
    assert_int_not_equal(vfc_region_read(c, 0, 4092, back, 8), 0);
    vfc_free(c);
}

/* ---- threads: device threads and the loop, with twin sockets ---- */

typedef struct Traffic {
    Server *s;
    uint64_t addr;
    size_t len;
    int iterations;
    atomic_int errors;
    atomic_bool stop;
    int last_error;
} Traffic;

static gpointer traffic_main(gpointer data)
{
    Traffic *t = data;
    uint8_t *buf = g_malloc(t->len);

    for (int i = 0; i < t->iterations && !atomic_load(&t->stop); i++) {
        int r = i % 2 ? dms_space_write(t->s->space, t->addr, buf, t->len,
                                        NULL, NULL)
                      : dms_space_read(t->s->space, t->addr, buf, t->len, NULL,
                                       NULL);
        if (r < 0) {
            atomic_fetch_add(&t->errors, 1);
            t->last_error = r;
        }
    }
    g_free(buf);
    return NULL;
}

static void test_threads_dma_with_the_loop(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, true, 0);
    uint8_t *a = g_malloc0(256 * KiB), *ram;
    int fd = vfc_memfd(256 * KiB, (void **)&ram);
    Traffic t1 = {.s = s, .addr = 0x10000, .len = 8192, .iterations = 200};
    Traffic t2 = {.s = s, .addr = 0x80000, .len = 8192, .iterations = 200};
    GThread *th1, *th2;
    uint64_t size;
    uint32_t flags;
    VfcStats cs;

    vfc_add_memory(c, 0x10000, 256 * KiB, a, true);
    assert_int_equal(vfc_dma_map(c, 0x10000, 256 * KiB, VFC_MAP_RW, -1, 0), 0);
    assert_int_equal(vfc_dma_map(c, 0x80000, 256 * KiB, VFC_MAP_RW, fd, 0), 0);
    th1 = g_thread_new("dev1", traffic_main, &t1);
    th2 = g_thread_new("dev2", traffic_main, &t2);
    /* Meanwhile the client sends commands the loop serves. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(vfc_region_info(c, 0, &size, &flags), 0);
    g_thread_join(th1);
    g_thread_join(th2);
    assert_int_equal(atomic_load(&t1.errors), 0);
    assert_int_equal(atomic_load(&t2.errors), 0);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads + cs.dma_writes, 200);
    vfc_free(c);
    g_free(a);
    vfc_memfd_free(fd, ram, 256 * KiB);
}

/* ---- DMA_UNMAP during traffic ---- */

static void test_unmap_during_traffic(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, true, 0);
    uint8_t *a = g_malloc0(64 * KiB);
    Traffic t = {.s = s, .addr = 0x30000, .len = 4096, .iterations = 100000};
    GThread *th;
    VfcStats cs;

    vfc_add_memory(c, 0x30000, 64 * KiB, a, true);
    assert_int_equal(vfc_dma_map(c, 0x30000, 64 * KiB, VFC_MAP_RW, -1, 0), 0);
    th = g_thread_new("dev", traffic_main, &t);
    WAIT_FOR(stats(s).messages > 20);
    /* After the reply, no message may reach the unmapped memory. */
    assert_int_equal(vfc_dma_unmap(c, 0x30000, 64 * KiB), 0);
    WAIT_FOR(atomic_load(&t.errors) > 0);
    atomic_store(&t.stop, true);
    g_thread_join(th);
    assert_true(t.last_error == -EFAULT || t.last_error == -ENOTCONN);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.stray, 0);
    assert_int_equal(stats(s).regions, 0);
    vfc_free(c);
    g_free(a);
}

/* ---- the client goes away in the middle of a transfer ---- */

static bool die_on_dma(VfuClient *c, unsigned cmd, uint64_t addr,
                       uint64_t count, void *data)
{
    atomic_int *seen = data;

    return atomic_fetch_add(seen, 1) < 2; /* serve two, then die */
}

typedef struct Waiter {
    atomic_int fired;
} Waiter;

static void map_client_fired(DmsSpace *space, void *data)
{
    Waiter *w = data;

    atomic_fetch_add(&w->fired, 1);
}

static void test_disconnect_mid_transfer_then_next_client(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *msg_mem = g_malloc0(8 * MiB), *ram, *ram2, *buf;
    int fd = vfc_memfd(MiB, (void **)&ram);
    atomic_int seen = 0;
    void *bounce, *direct, *bounce2 = NULL;
    size_t blen = 4096, dlen = 4096, blen2 = 4096;
    DmsMapClient *mc = NULL;
    Waiter w = {0};
    VfcStats cs;
    int r;

    vfc_add_memory(c, 0x1000000, 8 * MiB, msg_mem, true);
    assert_int_equal(vfc_dma_map(c, 0x1000000, 8 * MiB, VFC_MAP_RW, -1, 0), 0);
    assert_int_equal(vfc_dma_map(c, 0x20000000, MiB, VFC_MAP_RW, fd, 0), 0);

    /*
     * A map of the shared memory held across the disconnect: direct, or a
     * bounce where the module cannot map it itself (valgrind).
     */
    dms_space_set_bounce_limit(s->space,
                               stats(s).ram_regions == 1 ? 4096 : 8192);
    assert_int_equal(dms_space_map(s->space, 0x20000000, &dlen,
                                   DMS_DIR_FROM_DEVICE, NULL, &direct),
                     0);
    /* A bounce map of client memory, one map client waiting for budget. */
    assert_int_equal(dms_space_map(s->space, 0x1000000, &blen,
                                   DMS_DIR_FROM_DEVICE, NULL, &bounce),
                     0);
    assert_int_equal(dms_space_map(s->space, 0x1001000, &blen2,
                                   DMS_DIR_FROM_DEVICE, NULL, &bounce2),
                     -EAGAIN);
    assert_int_equal(dms_space_add_map_client(s->space, NULL, map_client_fired,
                                              &w, NULL, &mc),
                     0);

    /* The client dies on the third DMA message of an 8 MiB write. */
    vfc_set_dma_hook(c, die_on_dma, &seen);
    buf = g_malloc(8 * MiB);
    fill(buf, 8 * MiB, 1);
    r = dms_space_write(s->space, 0x1000000, buf, 8 * MiB, NULL, NULL);
    assert_int_equal(r, -ENOTCONN);
    WAIT_FOR(atomic_load(&s->disconnects) >= 1);
    assert_int_equal(stats(s).regions, 0);
    assert_true(stats(s).lost_accesses >= 1);

    /* The next client: memory at the same IOVAs, zeroed. */
    VfuClient *c2 = connect_client(s, false, 0);
    uint8_t *msg_mem2 = g_malloc0(8 * MiB);
    int fd2 = vfc_memfd(MiB, (void **)&ram2);
    vfc_add_memory(c2, 0x1000000, 8 * MiB, msg_mem2, true);
    assert_int_equal(vfc_dma_map(c2, 0x1000000, 8 * MiB, VFC_MAP_RW, -1, 0),
                     0);
    assert_int_equal(vfc_dma_map(c2, 0x20000000, MiB, VFC_MAP_RW, fd2, 0), 0);

    /* The old mappings end now: nothing lands in the new client. */
    memset(bounce, 0xaa, 4096);
    memset(direct, 0xbb, 4096);
    dms_space_unmap(s->space, bounce, 4096, DMS_DIR_FROM_DEVICE, 4096);
    dms_space_unmap(s->space, direct, 4096, DMS_DIR_FROM_DEVICE, 4096);
    WAIT_FOR(atomic_load(&w.fired) == 1);
    for (size_t i = 0; i < 8 * MiB; i++)
        if (msg_mem2[i] != 0)
            fail_msg("byte %zu of the next client's memory written", i);
    for (size_t i = 0; i < MiB; i++)
        if (ram2[i] != 0)
            fail_msg("byte %zu of the next client's RAM written", i);
    vfc_get_stats(c2, &cs);
    assert_int_equal(cs.dma_writes, 0);

    /* And the next client is served. */
    assert_int_equal(
        dms_space_write(s->space, 0x1000000 + 5, buf, 4096, NULL, NULL), 0);
    assert_memory_equal(msg_mem2 + 5, buf, 4096);
    assert_int_equal(
        dms_space_write(s->space, 0x20000000 + 7, buf, 4096, NULL, NULL), 0);
    assert_memory_equal(ram2 + 7, buf, 4096);

    mc = dms_map_client_unref(mc);
    vfc_free(c);
    vfc_free(c2);
    g_free(msg_mem);
    g_free(msg_mem2);
    g_free(buf);
    vfc_memfd_free(fd, ram, MiB);
    vfc_memfd_free(fd2, ram2, MiB);
}

/* ---- a client that connects and never negotiates ---- */

/* A connection to @path that sends nothing, as a stalled peer's. */
static int connect_silent(const char *path)
{
    int fd = vfc_connect_silent(path);

    assert_true(fd >= 0);
    return fd;
}

/*
 * Has the server accepted a connection on @path (and so entered the
 * negotiation)? /proc/net/unix lists the accepted end under the
 * listener's path, connected (state 03); before accept() it shows
 * "connecting" (02).
 */
static bool server_accepted_on(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "re");
    char line[512];
    bool found = false;

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned type, st;
        char name[256];

        if (sscanf(line, "%*s %*s %*s %*s %x %x %*s %255s", &type, &st,
                   name) == 3)
            found = type == 1 && st == 3 && strcmp(name, path) == 0;
    }
    fclose(f);
    return found;
}

typedef struct Acceptor {
    DmsVfu *vfu;
    int result;
} Acceptor;

static gpointer accept_main(gpointer data)
{
    Acceptor *a = data;

    a->result = dms_vfu_accept(a->vfu, -1);
    return NULL;
}

/*
 * A client that connects and sends nothing: dms_vfu_accept(), even told
 * to wait for ever, returns -ETIMEDOUT at the negotiation deadline and
 * drops it; the next client attaches.
 */
static void test_silent_client_times_out_negotiation(void **state)
{
    char *path, *dir;
    vfu_ctx_t *ctx = pci_ctx_new(&path, &dir, NULL);
    DmsVfu *vfu = NULL;
    Acceptor a = {0};
    VfuClient *c = NULL;
    VfcOptions o = {0};
    GThread *t;
    char byte;
    int silent;

    assert_int_equal(dms_vfu_attach(ctx, NULL, &vfu), 0);
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    assert_int_equal(dms_vfu_set_negotiation_timeout(vfu, 200), 0);

    silent = connect_silent(path);
    assert_int_equal(dms_vfu_accept(vfu, -1), -ETIMEDOUT);
    assert_false(dms_vfu_is_connected(vfu));
    /* Dropped: the silent client reads the end of its connection. */
    assert_int_equal(recv(silent, &byte, 1, 0), 0);
    close(silent);

    /* The next client, one that speaks, is attached. */
    a.vfu = vfu;
    t = g_thread_new("accept", accept_main, &a);
    assert_int_equal(vfc_connect(path, &o, &c), 0);
    g_thread_join(t);
    assert_int_equal(a.result, 0);
    assert_true(dms_vfu_is_connected(vfu));
    vfc_free(c);
    vfu = dms_vfu_unref(vfu);
    vfc_socket_path_free(path, dir);
}

/*
 * While a silent client holds the negotiation (and the lock) for a long
 * deadline, a device thread finishing DMA of the previous client is not
 * held up: the write-back of its bounce mapping fails at once.
 */
static void test_dma_does_not_wait_for_a_silent_negotiation(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *mem = g_malloc0(8192);
    size_t len = 4096;
    void *p;
    int silent, before = atomic_load(&s->disconnects);

    vfc_add_memory(c, 0x1000000, 8192, mem, true);
    assert_int_equal(vfc_dma_map(c, 0x1000000, 8192, VFC_MAP_RW, -1, 0), 0);
    assert_int_equal(dms_space_map(s->space, 0x1000000, &len,
                                   DMS_DIR_FROM_DEVICE, NULL, &p),
                     0);
    vfc_free(c);
    WAIT_FOR(atomic_load(&s->disconnects) > before);

    /* A deadline far beyond the test's own timeout. */
    assert_int_equal(dms_vfu_set_negotiation_timeout(s->vfu, 3600 * 1000), 0);
    silent = connect_silent(s->path);
    WAIT_FOR(server_accepted_on(s->path));
    memset(p, 0x5a, 16);
    /* Would wait an hour for the lock without the fast path. */
    dms_space_unmap(s->space, p, len, DMS_DIR_FROM_DEVICE, 16);
    assert_true(stats(s).lost_accesses >= 1);

    close(silent);
    assert_int_equal(dms_vfu_set_negotiation_timeout(
                         s->vfu, DMS_VFU_NEGOTIATION_TIMEOUT_MS),
                     0);
    c = connect_client(s, false, 0);
    vfc_free(c);
    for (int i = 0; i < 8192; i++)
        assert_int_equal(mem[i], 0);
    g_free(mem);
}

/* ---- hostile DMA_MAPs ---- */

static void test_hostile_map_wrapping_past_2_64(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t buf[16];
    int r;

    r = vfc_dma_map(c, UINT64_MAX - 4095, 8192, VFC_MAP_RW, -1, 0);
    /* libvfio-user may take it; the space never does. */
    (void)r;
    assert_int_equal(stats(s).regions, 0);
    assert_int_equal(
        dms_space_read(s->space, UINT64_MAX - 15, buf, 16, NULL, NULL),
        -EFAULT);
    assert_int_equal(dms_space_read(s->space, 0, buf, 16, NULL, NULL),
                     -EFAULT);
    vfc_free(c);
}

static void test_hostile_map_repeated(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *mem = g_malloc(8192), buf[16];

    fill(mem, 8192, 2);
    vfc_add_memory(c, 0x5000, 8192, mem, true);
    assert_int_equal(vfc_dma_map(c, 0x5000, 8192, VFC_MAP_RW, -1, 0), 0);
    /* libvfio-user accepts the repeat and calls dma_register again. */
    (void)vfc_dma_map(c, 0x5000, 8192, VFC_MAP_RW, -1, 0);
    assert_int_equal(stats(s).regions, 1);
    assert_int_equal(dms_space_read(s->space, 0x5000, buf, 16, NULL, NULL), 0);
    assert_memory_equal(buf, mem, 16);
    assert_int_equal(vfc_dma_unmap(c, 0x5000, 8192), 0);
    assert_int_equal(stats(s).regions, 0);
    vfc_free(c);
    g_free(mem);
}

static void test_hostile_map_overlapping(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *mem = g_malloc(16384);

    vfc_add_memory(c, 0x8000, 16384, mem, true);
    assert_int_equal(vfc_dma_map(c, 0x8000, 8192, VFC_MAP_RW, -1, 0), 0);
    assert_int_not_equal(vfc_dma_map(c, 0x9000, 8192, VFC_MAP_RW, -1, 0), 0);
    assert_int_equal(stats(s).regions, 1);
    vfc_free(c);
    g_free(mem);
}

/*
 * Maps @size bytes of client memory at @iova backed by a memfd of
 * @fd_size bytes from @fd_offset, a mapping libvfio-user cannot make
 * whole: the space serves the region by messages, from the client's
 * shadow copy, the @len bytes at @iova + @at included.
 */
static void map_served_by_messages(Server *s, uint64_t iova, uint64_t size,
                                   uint64_t fd_size, uint64_t fd_offset,
                                   uint64_t at, size_t len, unsigned seed)
{
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *ram, *shadow = g_malloc0(size), *buf = g_malloc(len);
    int fd = vfc_memfd(fd_size, (void **)&ram);

    fill(shadow, size, seed);
    vfc_add_memory(c, iova, size, shadow, true);
    assert_int_equal(vfc_dma_map(c, iova, size, VFC_MAP_RW, fd, fd_offset), 0);
    assert_int_equal(stats(s).regions, 1);
    assert_int_equal(stats(s).ram_regions + stats(s).direct_regions, 0);
    assert_int_equal(dms_space_read(s->space, iova + at, buf, len, NULL, NULL),
                     0);
    assert_memory_equal(buf, shadow + at, len);
    vfc_free(c);
    g_free(buf);
    g_free(shadow);
    vfc_memfd_free(fd, ram, fd_size);
}

static void test_hostile_map_fd_shorter_than_region(void **state)
{
    /* The fd has 4 KiB, the region claims 64 KiB: served by messages. */
    map_served_by_messages(*state, 0x600000, 64 * KiB, 4096, 0, 60 * KiB, 4096,
                           4);
}

static void test_hostile_map_odd_file_offset(void **state)
{
    /* The last bytes lie past libvfio-user's mapping: messages. */
    map_served_by_messages(*state, 0x700000, 8192, 64 * KiB, 1, 8192 - 64, 64,
                           6);
}

static void test_hostile_map_write_without_read(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *ram, *shadow = g_malloc0(8192), buf[64];
    int fd = vfc_memfd(8192, (void **)&ram);
    VfcStats cs;

    vfc_add_memory(c, 0x900000, 8192, shadow, true);
    vfc_add_memory(c, 0xa00000, 8192, ram, true);
    assert_int_equal(vfc_dma_map(c, 0x900000, 8192, VFC_MAP_WRITE, -1, 0), 0);
    assert_int_equal(vfc_dma_map(c, 0xa00000, 8192, VFC_MAP_WRITE, fd, 0), 0);
    assert_int_equal(stats(s).regions, 2);
    assert_int_equal(stats(s).ram_regions + stats(s).direct_regions, 0);
    assert_int_equal(dms_space_read(s->space, 0x900000, buf, 64, NULL, NULL),
                     -EACCES);
    assert_int_equal(dms_space_read(s->space, 0xa00000, buf, 64, NULL, NULL),
                     -EACCES);
    fill(buf, sizeof(buf), 8);
    assert_int_equal(dms_space_write(s->space, 0x900000, buf, 64, NULL, NULL),
                     0);
    assert_memory_equal(shadow, buf, 64);
    assert_int_equal(dms_space_write(s->space, 0xa00000, buf, 64, NULL, NULL),
                     0);
    assert_memory_equal(ram, buf, 64);
    /* And a read-only one refuses writes. */
    assert_int_equal(vfc_dma_map(c, 0xb00000, 8192, VFC_MAP_READ, -1, 0), 0);
    assert_int_equal(dms_space_write(s->space, 0xb00000, buf, 64, NULL, NULL),
                     -EACCES);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.stray, 0);
    vfc_free(c);
    g_free(shadow);
    vfc_memfd_free(fd, ram, 8192);
}

/* ---- many regions ---- */

static void test_many_regions(void **state)
{
    Server *s = *state;
    /* Twin sockets, as QEMU's client: replies read by the caller itself. */
    VfuClient *c = connect_client(s, true, 0);
    const unsigned n = 10000;
    uint8_t buf[16];

    for (unsigned i = 0; i < n; i++)
        assert_int_equal(vfc_dma_map(c, 0x100000000ull + (uint64_t)i * 4096,
                                     4096, VFC_MAP_RW, -1, 0),
                         0);
    assert_int_equal(stats(s).regions, n);
    assert_int_equal(dms_space_check(s->space, 0x100000000ull,
                                     (uint64_t)n * 4096, DMS_DIR_TO_DEVICE,
                                     NULL),
                     0);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(
            vfc_dma_unmap(c, 0x100000000ull + (uint64_t)i * 4096, 4096), 0);
    assert_int_equal(stats(s).regions, 0);
    assert_int_equal(
        dms_space_read(s->space, 0x100000000ull, buf, 16, NULL, NULL),
        -EFAULT);
    vfc_free(c);
}

/* ---- dirty pages ---- */

static void test_dirty_pages_reported_while_logging(void **state)
{
    Server *s = *state;
    VfuClient *c = connect_client(s, false, 0);
    uint8_t *ram, bitmap[8], data[100]; /* u64 words, as VFIO's */
    int fd = vfc_memfd(64 * KiB, (void **)&ram);
    const uint64_t iova = 0x3000000;
    DmsSgList *sg;
    void *p;
    size_t len = 4096;

    assert_int_equal(vfc_dma_map(c, iova, 64 * KiB, VFC_MAP_RW, fd, 0), 0);
    /* Writes before logging starts are not reported. */
    assert_int_equal(
        dms_space_write(s->space, iova + 0x3000, data, 1, NULL, NULL), 0);
    assert_int_equal(vfc_dirty_start(c, 4096, iova, 64 * KiB), 0);

    fill(data, sizeof(data), 1);
    assert_int_equal(dms_space_write(s->space, iova + 0x1000 + 5, data,
                                     sizeof(data), NULL, NULL),
                     0);
    /* A direct map written and unmapped with access_len. */
    assert_int_equal(dms_space_map(s->space, iova + 0x5000, &len,
                                   DMS_DIR_FROM_DEVICE, NULL, &p),
                     0);
    memset(p, 1, 16);
    dms_space_unmap(s->space, p, len, DMS_DIR_FROM_DEVICE, 16);
    /* An SG copy into page 9. */
    assert_int_equal(dms_sglist_new(s->space, 1, &sg), 0);
    assert_int_equal(dms_sglist_add(sg, iova + 0x9000, 100), 0);
    assert_int_equal(dms_sglist_write(sg, data, sizeof(data), NULL, NULL), 0);
    sg = dms_sglist_unref(sg);

    assert_int_equal(vfc_dirty_report(c, iova, 64 * KiB, 4096, bitmap, 8), 0);
    assert_int_equal(bitmap[0], (1 << 1) | (1 << 5));
    assert_int_equal(bitmap[1], 1 << 1);
    for (int i = 2; i < 8; i++)
        assert_int_equal(bitmap[i], 0);
    /* Taken: the next report is clean. */
    assert_int_equal(vfc_dirty_report(c, iova, 64 * KiB, 4096, bitmap, 8), 0);
    assert_int_equal(bitmap[0], 0);
    assert_int_equal(bitmap[1], 0);
    assert_int_equal(vfc_dirty_stop(c), 0);
    vfc_free(c);
    vfc_memfd_free(fd, ram, 64 * KiB);
}

/* ---- arguments ---- */

static void test_attach_refuses_a_blocking_context(void **state)
{
    char *dir;
    char *path = vfc_socket_path_new(&dir);
    vfu_ctx_t *ctx =
        vfu_create_ctx(VFU_TRANS_SOCK, path, 0, NULL, VFU_DEV_TYPE_PCI);
    DmsVfu *vfu = NULL;

    assert_non_null(ctx);
    assert_int_equal(dms_vfu_attach(ctx, NULL, &vfu), -EINVAL);
    assert_null(vfu);
    vfu_destroy_ctx(ctx);
    vfc_socket_path_free(path, dir);
}

static void count_notify(void *data)
{
    atomic_fetch_add((atomic_int *)data, 1);
}

/*
 * DmsVfu is refcounted: a second reference keeps it (and what it holds)
 * alive, the last one (here through g_autoptr) tears it down.
 */
static void test_refcount_last_unref_tears_down(void **state)
{
    char *path, *dir;
    vfu_ctx_t *ctx = pci_ctx_new(&path, &dir, NULL);
    DmsVfu *vfu = NULL;
    DmsRegion *bar = NULL;
    atomic_int notified = 0;

    assert_int_equal(dms_vfu_attach(ctx, NULL, &vfu), 0);
    /* Never accessed: the opaque is only the notify's. */
    assert_int_equal(dms_region_new_message("bar", 4096, &bar_ops, &notified,
                                            count_notify, &bar),
                     0);
    assert_int_equal(dms_vfu_setup_region(vfu, VFU_PCI_DEV_BAR0_REGION_IDX,
                                          bar, 4096, VFU_REGION_FLAG_RW),
                     0);
    bar = dms_region_unref(bar); /* the DmsVfu's reference is left */

    assert_ptr_equal(dms_vfu_ref(vfu), vfu);
    assert_null(dms_vfu_ref(NULL));
    assert_null(dms_vfu_unref(NULL));
    assert_null(dms_vfu_unref(vfu));
    dms_update_barrier();
    assert_int_equal(atomic_load(&notified), 0);
    /* Still whole after the first unref. */
    assert_ptr_equal(dms_vfu_get_ctx(vfu), ctx);
    assert_non_null(dms_vfu_get_space(vfu));
    assert_int_equal(vfu_realize_ctx(ctx), 0);
    assert_int_equal(dms_vfu_accept(vfu, 0), -ETIMEDOUT);
    {
        g_autoptr(DmsVfu) last = vfu;

        (void)last;
    }
    dms_update_barrier();
    assert_int_equal(atomic_load(&notified), 1);
    vfc_socket_path_free(path, dir);
}

#define T(name)                                                               \
    cmocka_unit_test_setup_teardown(name, server_setup, server_teardown)

/*
 * `test-vfio-user many-regions` runs the 10,000-region test alone (its own
 * meson test, with its own timeout: it costs what the core's topology
 * updates cost); without an argument, everything else.
 */
int main(int argc, char **argv)
{
    const struct CMUnitTest many[] = {
        T(test_many_regions),
    };
    const struct CMUnitTest tests[] = {
        T(test_negotiation_without_twin_socket),
        T(test_negotiation_with_twin_socket),
        T(test_map_with_fd_is_ram_without_messages),
        T(test_map_without_fd_one_message_per_run),
        T(test_small_client_transfer_size),
        T(test_dma_from_device_callback),
        T(test_device_region_is_little_endian),
        T(test_threads_dma_with_the_loop),
        T(test_unmap_during_traffic),
        T(test_disconnect_mid_transfer_then_next_client),
        T(test_dma_does_not_wait_for_a_silent_negotiation),
        T(test_hostile_map_wrapping_past_2_64),
        T(test_hostile_map_repeated),
        T(test_hostile_map_overlapping),
        T(test_hostile_map_fd_shorter_than_region),
        T(test_hostile_map_odd_file_offset),
        T(test_hostile_map_write_without_read),
        T(test_dirty_pages_reported_while_logging),
        cmocka_unit_test(test_attach_refuses_a_blocking_context),
        cmocka_unit_test(test_refcount_last_unref_tears_down),
        cmocka_unit_test(test_silent_client_times_out_negotiation),
    };

    if (argc > 1 && strcmp(argv[1], "many-regions") == 0)
        return cmocka_run_group_tests(many, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
