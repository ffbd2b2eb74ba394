/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmaspace: DMA address spaces for device emulators.
 *
 * The one header users include. See doc/design.md for the concepts.
 */
#ifndef DMASPACE_DMASPACE_H
#define DMASPACE_DMASPACE_H

#include <dmaspace/dma-engine.h>
#include <dmaspace/endian.h>
#include <dmaspace/region.h>
#include <dmaspace/sglist.h>
#include <dmaspace/space.h>
#include <dmaspace/types.h>
#include <dmaspace/version.h>

/*
 * g_autoptr() support, in C and C++, for users who include glib before
 * this header. The header itself stays glib-free.
 */
#if defined(G_DEFINE_AUTOPTR_CLEANUP_FUNC)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmsRegion, dms_region_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmsSpace, dms_space_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmsMapClient, dms_map_client_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmsSgList, dms_sglist_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmsDmaRequest, dms_dma_request_unref)
#endif

#endif /* DMASPACE_DMASPACE_H */
