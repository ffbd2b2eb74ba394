/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Byte-order helpers: loads and stores of 1, 2, 4 and 8-byte little-endian,
 * big-endian and host-endian values from byte buffers of any alignment.
 *
 * A device model that copies a register value into a byte buffer with a
 * plain memcpy is correct on the host it was written on and wrong on every
 * host of the other byte order (the seed series found such a bug in QEMU's
 * vfio-user config space only on s390x). These helpers state the order at
 * every use, compile to a single load or store plus at most one byte swap,
 * and never make an unaligned access the CPU would trap on.
 */
#ifndef DMASPACE_ENDIAN_H
#define DMASPACE_ENDIAN_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DmsEndian:
 *
 * The byte order of a device's registers.
 */
typedef enum DmsEndian {
    DMS_ENDIAN_LITTLE = 0, /* least significant byte first */
    DMS_ENDIAN_BIG = 1,    /* most significant byte first */
    DMS_ENDIAN_HOST = 2,   /* whatever the host running the library uses */
} DmsEndian;

/**
 * DMS_HOST_BIG_ENDIAN:
 *
 * 1 on a big-endian host, 0 on a little-endian one; usable in #if.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define DMS_HOST_BIG_ENDIAN 1
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DMS_HOST_BIG_ENDIAN 0
#else
#error "libdmaspace: cannot tell the host byte order"
#endif

/**
 * dms_bswap16:
 * @v: a value
 *
 * Returns: @v with its bytes in the reverse order.
 */
static inline uint16_t dms_bswap16(uint16_t v)
{
    return (uint16_t)((v >> 8) | (v << 8));
}

/**
 * dms_bswap32:
 * @v: a value
 *
 * Returns: @v with its bytes in the reverse order.
 */
static inline uint32_t dms_bswap32(uint32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_bswap32(v);
#else
    return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) |
           (v >> 24);
#endif
}

/**
 * dms_bswap64:
 * @v: a value
 *
 * Returns: @v with its bytes in the reverse order.
 */
static inline uint64_t dms_bswap64(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_bswap64(v);
#else
    return ((uint64_t)dms_bswap32((uint32_t)v) << 32) |
           dms_bswap32((uint32_t)(v >> 32));
#endif
}

/*
 * Host-order loads and stores of 8, 16, 32 and 64 bits: a load returns
 * the value at @p, a store stores @v there, in the host's byte order. @p
 * may have any alignment: memcpy keeps the access safe.
 */
static inline uint8_t dms_ne8_load(const void *p)
{
    return *(const uint8_t *)p;
}
static inline uint16_t dms_ne16_load(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
static inline uint32_t dms_ne32_load(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
static inline uint64_t dms_ne64_load(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
static inline void dms_ne8_store(void *p, uint8_t v)
{
    *(uint8_t *)p = v;
}
static inline void dms_ne16_store(void *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}
static inline void dms_ne32_store(void *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}
static inline void dms_ne64_store(void *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

#if DMS_HOST_BIG_ENDIAN
#define DMS_LE_(bits, v) dms_bswap##bits(v)
#define DMS_BE_(bits, v) (v)
#else
#define DMS_LE_(bits, v) (v)
#define DMS_BE_(bits, v) dms_bswap##bits(v)
#endif

/*
 * Little-endian (le) and big-endian (be) loads and stores of 16, 32 and
 * 64 bits: a load returns the value stored at @p in that byte order, a
 * store stores @v at @p in it. @p may have any alignment.
 */
static inline uint16_t dms_le16_load(const void *p)
{
    return DMS_LE_(16, dms_ne16_load(p));
}
static inline uint32_t dms_le32_load(const void *p)
{
    return DMS_LE_(32, dms_ne32_load(p));
}
static inline uint64_t dms_le64_load(const void *p)
{
    return DMS_LE_(64, dms_ne64_load(p));
}
static inline uint16_t dms_be16_load(const void *p)
{
    return DMS_BE_(16, dms_ne16_load(p));
}
static inline uint32_t dms_be32_load(const void *p)
{
    return DMS_BE_(32, dms_ne32_load(p));
}
static inline uint64_t dms_be64_load(const void *p)
{
    return DMS_BE_(64, dms_ne64_load(p));
}
static inline void dms_le16_store(void *p, uint16_t v)
{
    dms_ne16_store(p, DMS_LE_(16, v));
}
static inline void dms_le32_store(void *p, uint32_t v)
{
    dms_ne32_store(p, DMS_LE_(32, v));
}
static inline void dms_le64_store(void *p, uint64_t v)
{
    dms_ne64_store(p, DMS_LE_(64, v));
}
static inline void dms_be16_store(void *p, uint16_t v)
{
    dms_ne16_store(p, DMS_BE_(16, v));
}
static inline void dms_be32_store(void *p, uint32_t v)
{
    dms_ne32_store(p, DMS_BE_(32, v));
}
static inline void dms_be64_store(void *p, uint64_t v)
{
    dms_ne64_store(p, DMS_BE_(64, v));
}

#undef DMS_LE_
#undef DMS_BE_

/**
 * dms_endian_load:
 * @endian: byte order of the value in @p
 * @p: @size bytes, any alignment
 * @size: 1, 2, 4 or 8
 *
 * Returns: the value, zero-extended; 0 for any other @size.
 */
static inline uint64_t dms_endian_load(DmsEndian endian, const void *p,
                                       unsigned size)
{
    int big = endian == DMS_ENDIAN_BIG ||
              (endian == DMS_ENDIAN_HOST && DMS_HOST_BIG_ENDIAN);

    switch (size) {
    case 1:
        return dms_ne8_load(p);
    case 2:
        return big ? dms_be16_load(p) : dms_le16_load(p);
    case 4:
        return big ? dms_be32_load(p) : dms_le32_load(p);
    case 8:
        return big ? dms_be64_load(p) : dms_le64_load(p);
    default:
        return 0;
    }
}

/**
 * dms_endian_store:
 * @endian: byte order to store @value in
 * @p: room for @size bytes, any alignment
 * @size: 1, 2, 4 or 8; any other size stores nothing
 * @value: the value; bits above @size bytes are ignored
 */
static inline void dms_endian_store(DmsEndian endian, void *p, unsigned size,
                                    uint64_t value)
{
    int big = endian == DMS_ENDIAN_BIG ||
              (endian == DMS_ENDIAN_HOST && DMS_HOST_BIG_ENDIAN);

    switch (size) {
    case 1:
        dms_ne8_store(p, (uint8_t)value);
        break;
    case 2:
        big ? dms_be16_store(p, (uint16_t)value)
            : dms_le16_store(p, (uint16_t)value);
        break;
    case 4:
        big ? dms_be32_store(p, (uint32_t)value)
            : dms_le32_store(p, (uint32_t)value);
        break;
    case 8:
        big ? dms_be64_store(p, value) : dms_le64_store(p, value);
        break;
    default:
        break;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* DMASPACE_ENDIAN_H */
