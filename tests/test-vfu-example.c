/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * examples/vfu-dma-device driven as a real vfio-user client would, by the
 * tests' client over its socket: its register contract (see main.c) to
 * the letter, copies over fd and fd-less memory up to 16 MiB, copies that
 * must fail before moving a byte, a client dying mid-copy and the next
 * one served.
 *
 * usage: test-vfu-example PATH-TO-vfu-dma-device
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "regs.h"
#include "vfu-client.h"

#define MiB ((uint64_t)1 << 20)
#define KiB ((uint64_t)1 << 10)

static const char *example_path;

typedef struct Fixture {
    char *dir;
    char *sock;
    GPid pid;
} Fixture;

static int start_device(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    char *argv[] = {(char *)example_path, "--socket", NULL, NULL};
    struct stat st;
    int i;

    f->sock = vfc_socket_path_new(&f->dir);
    assert_non_null(f->sock);
    argv[2] = f->sock;
    assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                              NULL, NULL, &f->pid, NULL));
    /* Bounded by iterations: the device listens once the socket exists. */
    for (i = 0; i < 30000 && stat(f->sock, &st) != 0; i++)
        g_usleep(1000);
    assert_int_equal(stat(f->sock, &st), 0);
    *state = f;
    return 0;
}

static int stop_device(void **state)
{
    Fixture *f = *state;
    int status = 0;

    kill(f->pid, SIGTERM);
    assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
    g_spawn_close_pid(f->pid);
    /* A clean exit: no crash, no sanitizer report. */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    vfc_socket_path_free(f->sock, f->dir);
    g_free(f);
    return 0;
}

/*
 * @size bytes of client memory for the device, twice: @msg to be given
 * without a file descriptor (reached by messages), the memfd @fd shared
 * at @ram (mapped).
 */
typedef struct Memory {
    uint8_t *msg, *ram;
    int fd;
    uint64_t size;
} Memory;

static Memory memory_new(uint64_t size)
{
    Memory m = {.msg = g_malloc0(size), .size = size};

    m.fd = vfc_memfd(size, (void **)&m.ram);
    assert_true(m.fd >= 0);
    return m;
}

static void memory_free(Memory *m)
{
    g_free(m->msg);
    vfc_memfd_free(m->fd, m->ram, m->size);
}

/*
 * Gives the device @size bytes of client memory twice: @msg at @msg_iova,
 * without a file descriptor (reached by messages), and the memfd @fd at
 * @ram_iova (mapped).
 */
static void map_memory(VfuClient *c, uint64_t msg_iova, uint8_t *msg,
                       uint64_t ram_iova, int fd, uint64_t size)
{
    vfc_add_memory(c, msg_iova, size, msg, true);
    assert_int_equal(vfc_dma_map(c, msg_iova, size, VFC_MAP_RW, -1, 0), 0);
    assert_int_equal(vfc_dma_map(c, ram_iova, size, VFC_MAP_RW, fd, 0), 0);
}

static VfuClient *connect_device(Fixture *f, bool twin)
{
    VfcOptions o = {.twin_socket = twin, .max_transfer = MiB};
    VfuClient *c = NULL;

    assert_int_equal(vfc_connect(f->sock, &o, &c), 0);
    return c;
}

/* BAR0 registers, little-endian, @size bytes at @off. */
static void wr(VfuClient *c, uint64_t off, uint64_t v, uint32_t size)
{
    uint8_t b[8];

    for (uint32_t i = 0; i < size; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    assert_int_equal(vfc_region_write(c, 0, off, b, size), 0);
}

static uint64_t rd(VfuClient *c, uint64_t off, uint32_t size)
{
    uint8_t b[8];
    uint64_t v = 0;

    assert_int_equal(vfc_region_read(c, 0, off, b, size), 0);
    for (uint32_t i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static uint32_t rd32(VfuClient *c, uint64_t off)
{
    return (uint32_t)rd(c, off, 4);
}

static void wr32(VfuClient *c, uint64_t off, uint32_t v)
{
    wr(c, off, v, 4);
}

static void wr64(VfuClient *c, uint64_t off, uint64_t v)
{
    wr(c, off, v, 8);
}

/* SRC as two 32-bit halves (as a 32-bit driver writes it), DST whole. */
static uint32_t copy(VfuClient *c, uint64_t src, uint64_t dst, uint32_t len)
{
    wr32(c, REG_SRC, (uint32_t)src);
    wr32(c, REG_SRC + 4, (uint32_t)(src >> 32));
    wr64(c, REG_DST, dst);
    wr32(c, REG_LEN, len);
    wr32(c, REG_DOORBELL, 1);
    return rd32(c, REG_STATUS);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 13 + seed + (i >> 12));
}

static void test_registers_and_region_info(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    uint64_t size, v;
    uint32_t flags;
    uint8_t b[8];

    assert_int_equal(vfc_region_info(c, 0, &size, &flags), 0);
    assert_int_equal(size, 4096);
    assert_int_equal(rd32(c, REG_STATUS), 0);
    assert_int_equal(rd32(c, REG_COUNT), 0);
    /* 64-bit registers: two halves in, one 64-bit read out, LE bytes. */
    wr32(c, REG_DST, 0x89abcdef);
    wr32(c, REG_DST + 4, 0x01234567);
    assert_int_equal(vfc_region_read(c, 0, REG_DST, b, 8), 0);
    v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    assert_true(v == 0x0123456789abcdefull);
    assert_int_equal(b[0], 0xef);
    assert_int_equal(rd32(c, REG_DST + 4), 0x01234567);
    /* The doorbell reads 0; STATUS and COUNT ignore writes. */
    assert_int_equal(rd32(c, REG_DOORBELL), 0);
    wr32(c, REG_COUNT, 77);
    assert_int_equal(rd32(c, REG_COUNT), 0);
    /* Byte access. */
    assert_int_equal(vfc_region_read(c, 0, REG_DST + 1, b, 1), 0);
    assert_int_equal(b[0], 0xcd);
    vfc_free(c);
}

static void test_copy_over_fd_and_fdless_memory(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    Memory m = memory_new(2 * MiB);
    const uint64_t ram_iova = 0x10000000, msg_iova = 0x200000000ull;

    fill(m.ram, 2 * MiB, 1);
    fill(m.msg, 2 * MiB, 2);
    map_memory(c, msg_iova, m.msg, ram_iova, m.fd, 2 * MiB);

    /* fd -> fd */
    assert_int_equal(copy(c, ram_iova + 3, ram_iova + MiB, 4101), 0);
    assert_memory_equal(m.ram + MiB, m.ram + 3, 4101);
    /* fd-less -> fd */
    assert_int_equal(copy(c, msg_iova + 100, ram_iova + 8192, 65536), 0);
    assert_memory_equal(m.ram + 8192, m.msg + 100, 65536);
    /* fd -> fd-less */
    assert_int_equal(copy(c, ram_iova, msg_iova + MiB + 1, 300000), 0);
    assert_memory_equal(m.msg + MiB + 1, m.ram, 300000);
    /* fd-less -> fd-less */
    assert_int_equal(copy(c, msg_iova, msg_iova + 1536 * KiB, 4096), 0);
    assert_memory_equal(m.msg + 1536 * KiB, m.msg, 4096);
    assert_int_equal(rd32(c, REG_COUNT), 4);
    /* Zero bytes: nothing to move, a successful copy. */
    assert_int_equal(copy(c, ram_iova, ram_iova, 0), 0);
    assert_int_equal(rd32(c, REG_COUNT), 5);
    vfc_free(c);
    memory_free(&m);
}

static void test_copy_16_mib(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, true);
    Memory m = memory_new(16 * MiB);
    VfcStats cs;

    fill(m.msg, 16 * MiB, 3);
    map_memory(c, 0x40000000, m.msg, 0x80000000, m.fd, 16 * MiB);
    assert_int_equal(copy(c, 0x40000000, 0x80000000, 16 * MiB), 0);
    assert_memory_equal(m.ram, m.msg, 16 * MiB);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads, 16); /* whole runs of 1 MiB */
    assert_int_equal(cs.largest, MiB);
    assert_int_equal(rd32(c, REG_COUNT), 1);
    /* One byte more than 16 MiB is refused. */
    assert_int_not_equal(copy(c, 0x40000000, 0x80000000, 16 * MiB + 1), 0);
    assert_int_equal(rd32(c, REG_COUNT), 1);
    vfc_free(c);
    memory_free(&m);
}

static void test_copy_not_wholly_backed_moves_nothing(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    Memory m = memory_new(MiB);
    uint8_t *before = g_malloc(MiB);
    const uint64_t a = 0x1000000, b = 0x3000000;
    VfcStats cs;

    fill(m.ram, MiB, 4);
    fill(m.msg, MiB, 5);
    map_memory(c, b, m.msg, a, m.fd, MiB);
    memcpy(before, m.msg, MiB);

    /* Source runs past its region into nothing. */
    assert_int_equal(copy(c, a + MiB - 100, b, 4096), EFAULT);
    /* Destination half outside client memory. */
    assert_int_equal(copy(c, a, b + MiB - 2048, 4096), EFAULT);
    /* Source nowhere at all, destination fd memory. */
    assert_int_equal(copy(c, 0x7000000000ull, a, 16), EFAULT);
    /* Wrapping past 2^64. */
    assert_int_not_equal(copy(c, UINT64_MAX - 8, b, 64), 0);
    assert_memory_equal(m.msg, before, MiB);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_writes, 0);
    assert_int_equal(rd32(c, REG_COUNT), 0);

    /* And the device goes on serving. */
    assert_int_equal(copy(c, a, b, 4096), 0);
    assert_memory_equal(m.msg, m.ram, 4096);
    assert_int_equal(rd32(c, REG_COUNT), 1);
    assert_int_equal(rd32(c, REG_STATUS), 0);
    vfc_free(c);
    g_free(before);
    memory_free(&m);
}

static bool die_on_first_dma(VfuClient *c, unsigned cmd, uint64_t addr,
                             uint64_t count, void *data)
{
    return false;
}

static void test_client_dies_mid_copy_next_client_served(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    Memory m = memory_new(4 * MiB);
    uint8_t *msg2 = g_malloc0(4 * MiB);

    map_memory(c, 0x1000000, m.msg, 0x2000000, m.fd, 4 * MiB);
    vfc_set_dma_hook(c, die_on_first_dma, NULL);
    wr64(c, REG_SRC, 0x1000000);
    wr64(c, REG_DST, 0x2000000);
    wr32(c, REG_LEN, 4 * MiB);
    /* The doorbell's reply never comes: the client dies first. */
    assert_int_not_equal(
        vfc_region_write(c, 0, REG_DOORBELL, (const uint8_t[]){1, 0, 0, 0}, 4),
        0);
    vfc_free(c);

    /* The next client: fresh registers, its own memory, served. */
    c = connect_device(f, true);
    assert_int_equal(rd32(c, REG_COUNT), 0);
    fill(msg2, 4 * MiB, 6);
    map_memory(c, 0x1000000, msg2, 0x2000000, m.fd, 4 * MiB);
    assert_int_equal(copy(c, 0x1000000, 0x2000000, 4 * MiB), 0);
    assert_memory_equal(m.ram, msg2, 4 * MiB);
    assert_int_equal(rd32(c, REG_COUNT), 1);
    vfc_free(c);
    g_free(msg2);
    memory_free(&m);
}

/*
 * The register file to the letter: 32-bit halves of SRC and DST, a
 * DOORBELL that copies on 1 only and reads 0, read-only STATUS and COUNT,
 * the rest of the BAR reading 0 and ignoring writes, nothing beyond it.
 */
static void test_register_file_edges(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    uint8_t *ram, big[4096];
    int fd = vfc_memfd(64 * KiB, (void **)&ram);
    const uint64_t iova = 0x7fff00000000ull;
    static const uint32_t not_one[] = {0, 2, 3, 0x101, 0x10000, 0xffffffff};

    fill(ram, 64 * KiB, 7);
    assert_int_equal(vfc_dma_map(c, iova, 64 * KiB, VFC_MAP_RW, fd, 0), 0);

    /* SRC and DST by halves, read back whole and by halves. */
    wr(c, REG_SRC, (uint32_t)iova, 4);
    wr(c, REG_SRC + 4, iova >> 32, 4);
    wr(c, REG_DST, (uint32_t)(iova + 32 * KiB), 4);
    wr(c, REG_DST + 4, (iova + 32 * KiB) >> 32, 4);
    assert_true(rd(c, REG_SRC, 8) == iova);
    assert_true(rd(c, REG_DST, 8) == iova + 32 * KiB);
    assert_true(rd(c, REG_SRC + 4, 4) == iova >> 32);
    assert_true(rd(c, REG_DST, 4) == (uint32_t)(iova + 32 * KiB));
    wr(c, REG_LEN, 4096, 4);
    assert_int_equal(rd(c, REG_LEN, 4), 4096);

    /* A failed copy, so that STATUS holds an errno the next writes keep. */
    wr(c, REG_LEN, 16 * MiB + 1, 4);
    wr(c, REG_DOORBELL, 1, 4);
    assert_int_equal(rd(c, REG_STATUS, 4), EINVAL);
    assert_int_equal(rd(c, REG_COUNT, 4), 0);
    wr(c, REG_LEN, 4096, 4);

    /* Any other value: no copy, STATUS and COUNT as they were. */
    for (size_t i = 0; i < G_N_ELEMENTS(not_one); i++) {
        wr(c, REG_DOORBELL, not_one[i], 4);
        assert_int_equal(rd(c, REG_DOORBELL, 4), 0);
        assert_int_equal(rd(c, REG_STATUS, 4), EINVAL);
        assert_int_equal(rd(c, REG_COUNT, 4), 0);
    }
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(ram[32 * KiB + i], (uint8_t)(i * 13 + 7 + 8));

    /* 1 copies, whatever the access size that writes it. */
    wr(c, REG_DOORBELL, 1, 4);
    assert_int_equal(rd(c, REG_STATUS, 4), 0);
    assert_int_equal(rd(c, REG_COUNT, 4), 1);
    assert_memory_equal(ram + 32 * KiB, ram, 4096);
    assert_int_equal(rd(c, REG_DOORBELL, 4), 0);
    /* LEN and DOORBELL in one 64-bit write. */
    wr(c, REG_LEN, (uint64_t)1 << 32 | 100, 8);
    assert_int_equal(rd(c, REG_COUNT, 4), 2);
    assert_int_equal(rd(c, REG_LEN, 4), 100);

    /* STATUS and COUNT ignore writes of every size. */
    wr(c, REG_STATUS, 0xdeadbeef, 4);
    wr(c, REG_STATUS, UINT64_MAX, 8);
    wr(c, REG_COUNT + 2, 0xffff, 2);
    assert_int_equal(rd(c, REG_STATUS, 4), 0);
    assert_int_equal(rd(c, REG_COUNT, 4), 2);

    /* The rest of the BAR: reads 0, ignores writes. */
    wr(c, 0x20, UINT64_MAX, 8);
    wr(c, 0x800, 0x12345678, 4);
    wr(c, 0xffc, 0x12345678, 4);
    assert_true(rd(c, 0x20, 8) == 0);
    assert_true(rd(c, 0x800, 4) == 0);
    assert_true(rd(c, 0xff8, 8) == 0);
    assert_int_equal(vfc_region_read(c, 0, 0, big, sizeof(big)), 0);
    for (size_t i = 0x20; i < sizeof(big); i++)
        assert_int_equal(big[i], 0);
    /* Nothing beyond the BAR's 4 KiB. */
    assert_int_not_equal(vfc_region_read(c, 0, 0x1000, big, 4), 0);
    assert_int_not_equal(vfc_region_read(c, 0, 0xffe, big, 4), 0);
    /* And the device still serves. */
    assert_int_equal(rd(c, REG_COUNT, 4), 2);
    vfc_free(c);
    vfc_memfd_free(fd, ram, 64 * KiB);
}

/* Overlapping SRC and DST copy as memmove(), both ways, both memories. */
static void test_copy_overlapping_ranges(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    Memory m = memory_new(MiB);
    uint8_t *want = g_malloc(MiB);
    const uint64_t ram_iova = 0x10000000, msg_iova = 0x20000000;
    struct {
        uint8_t *host;
        uint64_t iova;
    } mem[2] = {{m.ram, ram_iova}, {m.msg, msg_iova}};

    map_memory(c, msg_iova, m.msg, ram_iova, m.fd, MiB);
    for (int k = 0; k < 2; k++) {
        uint8_t *h = mem[k].host;
        uint64_t a = mem[k].iova;

        fill(h, MiB, 9 + k);
        memcpy(want, h, MiB);
        memmove(want + 1000, want, 300000); /* DST above SRC */
        assert_int_equal(copy(c, a, a + 1000, 300000), 0);
        assert_memory_equal(h, want, MiB);
        memmove(want, want + 4097, 500000); /* DST below SRC */
        assert_int_equal(copy(c, a + 4097, a, 500000), 0);
        assert_memory_equal(h, want, MiB);
        assert_int_equal(copy(c, a + 5, a + 5, 4096), 0); /* the same */
        assert_memory_equal(h, want, MiB);
    }
    assert_int_equal(rd32(c, REG_COUNT), 6);
    vfc_free(c);
    g_free(want);
    memory_free(&m);
}

/* 16 MiB between fd-less memories: whole-run messages of at most 1 MiB. */
static void test_copy_16_mib_fdless_both_sides(void **state)
{
    Fixture *f = *state;
    VfuClient *c = connect_device(f, false);
    uint8_t *src = g_malloc(16 * MiB), *dst = g_malloc0(16 * MiB);
    VfcStats cs;

    fill(src, 16 * MiB, 11);
    vfc_add_memory(c, 0x100000000ull, 16 * MiB, src, false);
    vfc_add_memory(c, 0x200000000ull, 16 * MiB, dst, true);
    assert_int_equal(
        vfc_dma_map(c, 0x100000000ull, 16 * MiB, VFC_MAP_READ, -1, 0), 0);
    assert_int_equal(
        vfc_dma_map(c, 0x200000000ull, 16 * MiB, VFC_MAP_RW, -1, 0), 0);
    vfc_reset_stats(c);
    assert_int_equal(copy(c, 0x100000000ull, 0x200000000ull, 16 * MiB), 0);
    assert_memory_equal(dst, src, 16 * MiB);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_reads, 16);
    assert_int_equal(cs.dma_writes, 16);
    assert_int_equal(cs.largest, MiB);
    assert_int_equal(cs.stray, 0);
    /* The read-only source cannot be a destination: nothing moves. */
    memset(dst, 0, MiB);
    vfc_reset_stats(c);
    assert_int_equal(copy(c, 0x200000000ull, 0x100000000ull, 4096), EACCES);
    vfc_get_stats(c, &cs);
    assert_int_equal(cs.dma_writes, 0);
    assert_int_equal(rd32(c, REG_COUNT), 1);
    vfc_free(c);
    g_free(src);
    g_free(dst);
}

/*
 * A client that connects and never sends VERSION does not stop the
 * device: it is dropped at the negotiation deadline, the next is served.
 */
static void test_silent_client_then_next_served(void **state)
{
    Fixture *f = *state;
    int silent = vfc_connect_silent(f->sock);
    VfuClient *c;
    char byte;

    assert_true(silent >= 0);
    /* Blocks until the device drops it: the end of the stream. */
    assert_int_equal(recv(silent, &byte, 1, 0), 0);
    close(silent);
    c = connect_device(f, true);
    assert_int_equal(rd32(c, REG_COUNT), 0);
    vfc_free(c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registers_and_region_info,
                                        start_device, stop_device),
        cmocka_unit_test_setup_teardown(test_copy_over_fd_and_fdless_memory,
                                        start_device, stop_device),
        cmocka_unit_test_setup_teardown(test_copy_16_mib, start_device,
                                        stop_device),
        cmocka_unit_test_setup_teardown(
            test_copy_not_wholly_backed_moves_nothing, start_device,
            stop_device),
        cmocka_unit_test_setup_teardown(
            test_client_dies_mid_copy_next_client_served, start_device,
            stop_device),
        cmocka_unit_test_setup_teardown(test_register_file_edges, start_device,
                                        stop_device),
        cmocka_unit_test_setup_teardown(test_copy_overlapping_ranges,
                                        start_device, stop_device),
        cmocka_unit_test_setup_teardown(test_copy_16_mib_fdless_both_sides,
                                        start_device, stop_device),
        cmocka_unit_test_setup_teardown(test_silent_client_then_next_served,
                                        start_device, stop_device),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-vfu-dma-device\n", argv[0]);
        return 2;
    }
    example_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
