/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the byte-order helpers in <dmaspace/endian.h>.
 *
 * Every helper is checked against known byte patterns first, then against
 * a bytewise reference (encode()/decode() below) at every offset of a
 * buffer, so that unaligned accesses are exercised; under UBSan an
 * unaligned plain dereference in a helper would be reported. Stores are
 * checked for touching exactly their own bytes. The host's byte order is
 * probed at run time, not taken from the header, so DMS_ENDIAN_HOST and
 * the ne helpers are checked against the real machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dmaspace/endian.h"

#define BUF_LEN 32
#define GUARD 0xa5
#define MAX_OFFSET 15 /* every misalignment of every size, twice over */
#define ROUNDS 64     /* random values tried per accessor and offset */

/* Run-time probe, independent of the header's DMS_HOST_BIG_ENDIAN. */
static bool host_is_big_endian(void)
{
    const uint32_t probe = 0x01020304;
    uint8_t bytes[4];

    memcpy(bytes, &probe, sizeof(bytes));
    return bytes[0] == 0x01;
}

/* Deterministic xorshift64: failures reproduce. */
static uint64_t next_random(uint64_t *seed)
{
    uint64_t x = *seed;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *seed = x;
    return x;
}

static uint64_t mask_for(unsigned size)
{
    return size == 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

/* Reference encoding: byte i of the result is the i-th byte in memory. */
static void encode(uint8_t *out, uint64_t value, unsigned size, bool big)
{
    for (unsigned i = 0; i < size; i++) {
        unsigned shift = big ? (size - 1 - i) * 8 : i * 8;
        out[i] = (uint8_t)(value >> shift);
    }
}

static uint64_t decode(const uint8_t *in, unsigned size, bool big)
{
    uint64_t value = 0;

    for (unsigned i = 0; i < size; i++) {
        unsigned shift = big ? (size - 1 - i) * 8 : i * 8;
        value |= (uint64_t)in[i] << shift;
    }
    return value;
}

/*
 * The fixed-width helpers, seen through one signature so each check below
 * runs over all of them.
 */
typedef enum Order { ORDER_LE, ORDER_BE, ORDER_NE } Order;

typedef struct Accessor {
    const char *name;
    unsigned size;
    Order order;
    uint64_t (*load)(const void *p);
    void (*store)(void *p, uint64_t value);
} Accessor;

#define DEFINE_ACCESSOR(kind, bits)                                           \
    static uint64_t load_##kind##bits(const void *p)                          \
    {                                                                         \
        return dms_##kind##bits##_load(p);                                    \
    }                                                                         \
    static void store_##kind##bits(void *p, uint64_t value)                   \
    {                                                                         \
        dms_##kind##bits##_store(p, (uint##bits##_t)value);                   \
    }

DEFINE_ACCESSOR(ne, 8)
DEFINE_ACCESSOR(ne, 16)
DEFINE_ACCESSOR(ne, 32)
DEFINE_ACCESSOR(ne, 64)
DEFINE_ACCESSOR(le, 16)
DEFINE_ACCESSOR(le, 32)
DEFINE_ACCESSOR(le, 64)
DEFINE_ACCESSOR(be, 16)
DEFINE_ACCESSOR(be, 32)
DEFINE_ACCESSOR(be, 64)

#define ACCESSOR(kind, bits, order)                                           \
    {                                                                         \
#kind #bits, (bits) / 8, order, load_##kind##bits, store_##kind##bits \
    }

static const Accessor accessors[] = {
    ACCESSOR(ne, 8, ORDER_NE),  ACCESSOR(ne, 16, ORDER_NE),
    ACCESSOR(ne, 32, ORDER_NE), ACCESSOR(ne, 64, ORDER_NE),
    ACCESSOR(le, 16, ORDER_LE), ACCESSOR(le, 32, ORDER_LE),
    ACCESSOR(le, 64, ORDER_LE), ACCESSOR(be, 16, ORDER_BE),
    ACCESSOR(be, 32, ORDER_BE), ACCESSOR(be, 64, ORDER_BE),
};

#define N_ACCESSORS (sizeof(accessors) / sizeof(accessors[0]))

static bool order_is_big(Order order)
{
    switch (order) {
    case ORDER_LE:
        return false;
    case ORDER_BE:
        return true;
    case ORDER_NE:
        break;
    }
    return host_is_big_endian();
}

static bool endian_is_big(DmsEndian endian)
{
    if (endian == DMS_ENDIAN_HOST) {
        return host_is_big_endian();
    }
    return endian == DMS_ENDIAN_BIG;
}

static const DmsEndian endians[] = {
    DMS_ENDIAN_LITTLE,
    DMS_ENDIAN_BIG,
    DMS_ENDIAN_HOST,
};
static const unsigned sizes[] = {1, 2, 4, 8};

static void check_u64(uint64_t got, uint64_t want, const char *what,
                      unsigned size, unsigned offset)
{
    if (got != want) {
        fail_msg("%s (size %u, offset %u): got %#llx, want %#llx", what, size,
                 offset, (unsigned long long)got, (unsigned long long)want);
    }
}

/*
 * Checks that @buf holds @size bytes of @want at @offset and the guard
 * pattern everywhere else.
 */
static void check_stored(const uint8_t *buf, const uint8_t *want,
                         unsigned size, unsigned offset, const char *what)
{
    for (unsigned i = 0; i < BUF_LEN; i++) {
        bool inside = i >= offset && i < offset + size;
        uint8_t expected = inside ? want[i - offset] : GUARD;

        if (buf[i] != expected) {
            fail_msg("%s (size %u, offset %u): byte %u is %#x, want %#x%s",
                     what, size, offset, i, buf[i], expected,
                     inside ? "" : " (outside the stored value)");
        }
    }
}

static void test_host_order_macro_matches_the_machine(void **state)
{
    assert_int_equal(DMS_HOST_BIG_ENDIAN, host_is_big_endian());
}

static void test_bswap_reverses_known_values(void **state)
{
    assert_int_equal(dms_bswap16(0x1234), 0x3412);
    assert_int_equal(dms_bswap16(0xff00), 0x00ff);
    assert_int_equal(dms_bswap16(0x0001), 0x0100);
    assert_int_equal(dms_bswap32(0x12345678u), 0x78563412u);
    assert_int_equal(dms_bswap32(0xff000000u), 0x000000ffu);
    assert_int_equal(dms_bswap32(0x00000080u), 0x80000000u);
    assert_true(dms_bswap64(UINT64_C(0x0123456789abcdef)) ==
                UINT64_C(0xefcdab8967452301));
    assert_true(dms_bswap64(UINT64_C(0x80)) == UINT64_C(0x8000000000000000));
    assert_true(dms_bswap64(UINT64_C(0xff00000000000000)) == UINT64_C(0xff));
}

static void test_bswap_matches_bytewise_reversal(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;

    for (unsigned round = 0; round < 1000; round++) {
        uint64_t v = next_random(&seed);
        uint8_t le[8], be[8];

        encode(le, v, 8, false);
        encode(be, v, 8, true);
        check_u64(dms_bswap64(v), decode(be, 8, false), "bswap64", 8, 0);
        check_u64(dms_bswap32((uint32_t)v), decode(le, 4, true), "bswap32", 4,
                  0);
        check_u64(dms_bswap16((uint16_t)v), decode(le, 2, true), "bswap16", 2,
                  0);
        check_u64(dms_bswap64(dms_bswap64(v)), v, "bswap64 twice", 8, 0);
        check_u64(dms_bswap32(dms_bswap32((uint32_t)v)), (uint32_t)v,
                  "bswap32 twice", 4, 0);
        check_u64(dms_bswap16(dms_bswap16((uint16_t)v)), (uint16_t)v,
                  "bswap16 twice", 2, 0);
    }
}

static void test_loads_decode_known_bytes(void **state)
{
    static const uint8_t bytes[9] = {0xf1, 0x01, 0x02, 0x03, 0x04,
                                     0x05, 0x06, 0x07, 0x88};
    const uint8_t *p = bytes + 1; /* deliberately misaligned */
    bool big = host_is_big_endian();

    assert_int_equal(dms_le16_load(p), 0x0201);
    assert_int_equal(dms_be16_load(p), 0x0102);
    assert_int_equal(dms_le32_load(p), 0x04030201u);
    assert_int_equal(dms_be32_load(p), 0x01020304u);
    assert_true(dms_le64_load(p) == UINT64_C(0x8807060504030201));
    assert_true(dms_be64_load(p) == UINT64_C(0x0102030405060788));
    assert_int_equal(dms_ne8_load(bytes), 0xf1);
    assert_int_equal(dms_ne16_load(p), big ? 0x0102 : 0x0201);
    assert_int_equal(dms_ne32_load(p), big ? 0x01020304u : 0x04030201u);
    assert_true(dms_ne64_load(p) == (big ? UINT64_C(0x0102030405060788)
                                         : UINT64_C(0x8807060504030201)));
}

static void test_stores_encode_known_values(void **state)
{
    uint8_t buf[9];

    memset(buf, 0, sizeof(buf));
    dms_le32_store(buf + 1, 0x11223344u);
    assert_memory_equal(buf + 1, "\x44\x33\x22\x11", 4);
    dms_be32_store(buf + 1, 0x11223344u);
    assert_memory_equal(buf + 1, "\x11\x22\x33\x44", 4);
    dms_le16_store(buf + 3, 0xa1b2);
    assert_memory_equal(buf + 1, "\x11\x22\xb2\xa1", 4);
    dms_be16_store(buf + 3, 0xa1b2);
    assert_memory_equal(buf + 1, "\x11\x22\xa1\xb2", 4);
    dms_le64_store(buf + 1, UINT64_C(0x0102030405060708));
    assert_memory_equal(buf + 1, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    dms_be64_store(buf + 1, UINT64_C(0x0102030405060708));
    assert_memory_equal(buf + 1, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    dms_ne8_store(buf, 0x7e);
    assert_int_equal(buf[0], 0x7e);
    assert_int_equal(buf[1], 0x01);
}

static void test_every_load_decodes_at_every_offset(void **state)
{
    uint64_t seed = 0x0123456789abcdefu;
    uint8_t buf[BUF_LEN];

    for (size_t a = 0; a < N_ACCESSORS; a++) {
        const Accessor *acc = &accessors[a];
        bool big = order_is_big(acc->order);

        for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
            for (unsigned round = 0; round < ROUNDS; round++) {
                for (unsigned i = 0; i < BUF_LEN; i++) {
                    buf[i] = (uint8_t)next_random(&seed);
                }
                check_u64(acc->load(buf + offset),
                          decode(buf + offset, acc->size, big), acc->name,
                          acc->size, offset);
            }
        }
    }
}

static void
test_every_store_writes_only_its_bytes_at_every_offset(void **state)
{
    uint64_t seed = 0xfedcba9876543210u;
    uint8_t buf[BUF_LEN];
    uint8_t want[8];

    for (size_t a = 0; a < N_ACCESSORS; a++) {
        const Accessor *acc = &accessors[a];
        bool big = order_is_big(acc->order);

        for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
            for (unsigned round = 0; round < ROUNDS; round++) {
                /* Bits above the width must be dropped, not stored. */
                uint64_t value = next_random(&seed);

                memset(buf, GUARD, sizeof(buf));
                acc->store(buf + offset, value);
                encode(want, value, acc->size, big);
                check_stored(buf, want, acc->size, offset, acc->name);
                check_u64(acc->load(buf + offset), value & mask_for(acc->size),
                          acc->name, acc->size, offset);
            }
        }
    }
}

static void test_ne_accessors_match_memcpy(void **state)
{
    uint64_t seed = 42;
    uint8_t buf[BUF_LEN];

    for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
        uint16_t v16;
        uint32_t v32;
        uint64_t v64;

        for (unsigned i = 0; i < BUF_LEN; i++) {
            buf[i] = (uint8_t)next_random(&seed);
        }
        memcpy(&v16, buf + offset, sizeof(v16));
        memcpy(&v32, buf + offset, sizeof(v32));
        memcpy(&v64, buf + offset, sizeof(v64));
        check_u64(dms_ne16_load(buf + offset), v16, "ne16", 2, offset);
        check_u64(dms_ne32_load(buf + offset), v32, "ne32", 4, offset);
        check_u64(dms_ne64_load(buf + offset), v64, "ne64", 8, offset);
    }
}

static void test_le_and_be_loads_are_byte_swaps_of_each_other(void **state)
{
    uint64_t seed = 7;
    uint8_t buf[BUF_LEN];

    for (unsigned i = 0; i < BUF_LEN; i++) {
        buf[i] = (uint8_t)next_random(&seed);
    }
    for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
        const uint8_t *p = buf + offset;

        check_u64(dms_le16_load(p), dms_bswap16(dms_be16_load(p)), "le16", 2,
                  offset);
        check_u64(dms_le32_load(p), dms_bswap32(dms_be32_load(p)), "le32", 4,
                  offset);
        check_u64(dms_le64_load(p), dms_bswap64(dms_be64_load(p)), "le64", 8,
                  offset);
    }
}

static void test_endian_load_decodes_every_size_and_order(void **state)
{
    uint64_t seed = 0x5555aaaa5555aaaau;
    uint8_t buf[BUF_LEN];

    for (size_t e = 0; e < sizeof(endians) / sizeof(endians[0]); e++) {
        bool big = endian_is_big(endians[e]);

        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
                for (unsigned round = 0; round < ROUNDS; round++) {
                    for (unsigned i = 0; i < BUF_LEN; i++) {
                        buf[i] = (uint8_t)next_random(&seed);
                    }
                    check_u64(
                        dms_endian_load(endians[e], buf + offset, sizes[s]),
                        decode(buf + offset, sizes[s], big), "dms_endian_load",
                        sizes[s], offset);
                }
            }
        }
    }
}

static void test_endian_store_encodes_every_size_and_order(void **state)
{
    uint64_t seed = 0x1234;
    uint8_t buf[BUF_LEN];
    uint8_t want[8];

    for (size_t e = 0; e < sizeof(endians) / sizeof(endians[0]); e++) {
        bool big = endian_is_big(endians[e]);

        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            unsigned size = sizes[s];

            for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
                for (unsigned round = 0; round < ROUNDS; round++) {
                    uint64_t value = next_random(&seed);

                    memset(buf, GUARD, sizeof(buf));
                    dms_endian_store(endians[e], buf + offset, size, value);
                    encode(want, value, size, big);
                    check_stored(buf, want, size, offset, "dms_endian_store");
                    check_u64(dms_endian_load(endians[e], buf + offset, size),
                              value & mask_for(size), "store then load", size,
                              offset);
                }
            }
        }
    }
}

static void test_endian_host_agrees_with_ne_accessors(void **state)
{
    uint8_t buf[BUF_LEN];

    for (unsigned i = 0; i < BUF_LEN; i++) {
        buf[i] = (uint8_t)(i * 37 + 11);
    }
    for (unsigned offset = 0; offset <= MAX_OFFSET; offset++) {
        const uint8_t *p = buf + offset;

        check_u64(dms_endian_load(DMS_ENDIAN_HOST, p, 1), dms_ne8_load(p),
                  "host", 1, offset);
        check_u64(dms_endian_load(DMS_ENDIAN_HOST, p, 2), dms_ne16_load(p),
                  "host", 2, offset);
        check_u64(dms_endian_load(DMS_ENDIAN_HOST, p, 4), dms_ne32_load(p),
                  "host", 4, offset);
        check_u64(dms_endian_load(DMS_ENDIAN_HOST, p, 8), dms_ne64_load(p),
                  "host", 8, offset);
    }
}

static void test_endian_load_zero_extends(void **state)
{
    uint8_t ones[8];

    memset(ones, 0xff, sizeof(ones));
    for (size_t e = 0; e < sizeof(endians) / sizeof(endians[0]); e++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            check_u64(dms_endian_load(endians[e], ones, sizes[s]),
                      mask_for(sizes[s]), "all-ones", sizes[s], 0);
        }
    }
}

static void test_one_byte_access_ignores_byte_order(void **state)
{
    uint8_t byte = 0;

    for (size_t e = 0; e < sizeof(endians) / sizeof(endians[0]); e++) {
        dms_endian_store(endians[e], &byte, 1, 0x1234u + e);
        assert_int_equal(byte, (0x34u + e) & 0xffu);
        assert_int_equal(dms_endian_load(endians[e], &byte, 1), byte);
    }
}

static void
test_endian_unsupported_size_loads_zero_and_stores_nothing(void **state)
{
    static const unsigned bad_sizes[] = {0, 3,  5,  6,          7,
                                         9, 16, 64, 0x80000000u};
    uint8_t buf[BUF_LEN];
    uint8_t want[1] = {GUARD};

    for (size_t e = 0; e < sizeof(endians) / sizeof(endians[0]); e++) {
        for (size_t s = 0; s < sizeof(bad_sizes) / sizeof(bad_sizes[0]); s++) {
            memset(buf, GUARD, sizeof(buf));
            check_u64(dms_endian_load(endians[e], buf, bad_sizes[s]), 0,
                      "dms_endian_load of a bad size", bad_sizes[s], 0);
            dms_endian_store(endians[e], buf, bad_sizes[s], UINT64_MAX);
            /* Only the guard pattern: check the whole buffer. */
            check_stored(buf, want, 0, 0, "dms_endian_store of a bad size");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_order_macro_matches_the_machine),
        cmocka_unit_test(test_bswap_reverses_known_values),
        cmocka_unit_test(test_bswap_matches_bytewise_reversal),
        cmocka_unit_test(test_loads_decode_known_bytes),
        cmocka_unit_test(test_stores_encode_known_values),
        cmocka_unit_test(test_every_load_decodes_at_every_offset),
        cmocka_unit_test(
            test_every_store_writes_only_its_bytes_at_every_offset),
        cmocka_unit_test(test_ne_accessors_match_memcpy),
        cmocka_unit_test(test_le_and_be_loads_are_byte_swaps_of_each_other),
        cmocka_unit_test(test_endian_load_decodes_every_size_and_order),
        cmocka_unit_test(test_endian_store_encodes_every_size_and_order),
        cmocka_unit_test(test_endian_host_agrees_with_ne_accessors),
        cmocka_unit_test(test_endian_load_zero_extends),
        cmocka_unit_test(test_one_byte_access_ignores_byte_order),
        cmocka_unit_test(
            test_endian_unsupported_size_loads_zero_and_stores_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
