/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Types shared by every libdmaspace header: access attributes, transfer
 * direction, destroy notifies and the export macro.
 *
 * This header, like every public one, needs only the C11 standard headers:
 * glib is an implementation detail of the library.
 */
#ifndef DMASPACE_TYPES_H
#define DMASPACE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DMS_PUBLIC __attribute__((visibility("default")))
#define DMS_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define DMS_PUBLIC
#define DMS_WARN_UNUSED
#endif

/* The access is a secure-world (TrustZone, SMM-like) access. */
#define DMS_ATTR_SECURE (1u << 0)
/* The access is privileged (supervisor, not user). */
#define DMS_ATTR_PRIVILEGED (1u << 1)
/* The access is an instruction fetch rather than a data access. */
#define DMS_ATTR_INSTRUCTION (1u << 2)
/* requester_id below is meaningful (a PCIe BDF, an SMMU stream id...). */
#define DMS_ATTR_REQUESTER_VALID (1u << 3)
/* pasid below is meaningful. */
#define DMS_ATTR_PASID_VALID (1u << 4)

/**
 * DmsAttrs:
 * @flags: DMS_ATTR_* bits
 * @requester_id: who issued the access, when DMS_ATTR_REQUESTER_VALID
 * @pasid: process address space id, when DMS_ATTR_PASID_VALID
 * @user: free for the caller and its backends; the library never reads it
 *
 * Attributes of one memory transaction. The library never interprets them:
 * it hands the caller's copy, untouched, to every backend call the access
 * turns into. Calls that take a `const DmsAttrs *` accept NULL for "all
 * zero" (unspecified).
 */
typedef struct DmsAttrs {
    uint32_t flags;
    uint32_t requester_id;
    uint32_t pasid;
    uint32_t reserved; /* must be zero; room to grow */
    uint64_t user;
} DmsAttrs;

/**
 * DmsDirection:
 *
 * The direction of a DMA transfer, seen from the device model.
 */
typedef enum DmsDirection {
    DMS_DIR_TO_DEVICE = 0,   /* the device reads memory */
    DMS_DIR_FROM_DEVICE = 1, /* the device writes memory */
} DmsDirection;

/**
 * DmsDestroyNotify:
 * @data: the pointer registered with the notify
 *
 * Called once, when the library drops the last reference to the object the
 * notify was registered with. It may run on any thread, never with a
 * library lock held, so it may call back into the library.
 */
typedef void (*DmsDestroyNotify)(void *data);

#ifdef __cplusplus
}
#endif

#endif /* DMASPACE_TYPES_H */
