/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scatter-gather lists: (address, length) entries against one space, and
 * copies between a list and a linear buffer.
 *
 * Real devices DMA through descriptor lists (an NVMe PRP list, a virtio
 * chain, an xHCI TD): a DmsSgList collects them against one space. The
 * copies here suit small transfers; block and network I/O that wants host
 * pointers uses the engine of <dmaspace/dma-engine.h> on the same list.
 *
 * Ordering: the plain copies issue a full memory barrier before they touch
 * memory, so a device model that reads a descriptor after seeing its
 * "ready" flag, or writes a "done" flag after the data, needs nothing more.
 * The _relaxed copies skip the barrier for callers that order their
 * accesses themselves.
 *
 * Error codes are those of space.h, plus the ones listed per call.
 */
#ifndef DMASPACE_SGLIST_H
#define DMASPACE_SGLIST_H

#include <dmaspace/space.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DmsSgList:
 *
 * A scatter-gather list: DmsSgEntry entries against one space.
 */
typedef struct DmsSgList DmsSgList;

/**
 * DmsSgEntry:
 * @addr: DMA address of the first byte
 * @len: bytes, at least 1; @addr + @len never passes 2^64
 *
 * One entry of a scatter-gather list.
 */
typedef struct DmsSgEntry {
    uint64_t addr;
    uint64_t len;
} DmsSgEntry;

/**
 * dms_sglist_new:
 * @space: the space the addresses are in; the list takes a reference
 * @hint: entries to make room for now (0 is fine: the list grows)
 * @ret: (out): the new, empty list, one reference owned by the caller
 *
 * Returns: 0; -EINVAL for NULL @space or @ret; -ENOMEM.
 */
DMS_PUBLIC int dms_sglist_new(DmsSpace *space, size_t hint, DmsSgList **ret);

/**
 * dms_sglist_ref:
 * @sg: (nullable): a list
 *
 * Returns: @sg, with one more reference owned by the caller.
 */
DMS_PUBLIC DmsSgList *dms_sglist_ref(DmsSgList *sg);

/**
 * dms_sglist_unref:
 * @sg: (nullable): a list
 *
 * Drops one reference; the last one frees the entries and releases the
 * space. A request of the engine holds its own reference until it
 * completes.
 *
 * Returns: NULL.
 */
DMS_PUBLIC DmsSgList *dms_sglist_unref(DmsSgList *sg);

/**
 * dms_sglist_add:
 * @sg: a list
 * @addr: DMA address of the entry's first byte (guest-controlled: checked)
 * @len: bytes; an entry of 0 bytes is accepted and not stored
 *
 * Appends an entry. A list is not safe to change from two threads at once,
 * nor while another thread copies through it.
 *
 * Returns: 0; -EINVAL if @addr + @len passes 2^64 (the list is unchanged);
 * -EOVERFLOW if the list's total size would pass 2^64 - 1; -EBUSY while a
 * request of the engine uses the list; -ENOMEM.
 */
DMS_PUBLIC int dms_sglist_add(DmsSgList *sg, uint64_t addr, uint64_t len);

/**
 * dms_sglist_clear:
 * @sg: a list
 *
 * Removes every entry, keeping the allocation and the space, so the list
 * can describe the next transfer.
 *
 * Returns: 0; -EBUSY while a request of the engine uses the list.
 */
DMS_PUBLIC int dms_sglist_clear(DmsSgList *sg);

/**
 * dms_sglist_get_count:
 * @sg: a list
 *
 * Returns: the number of entries.
 */
DMS_PUBLIC size_t dms_sglist_get_count(const DmsSgList *sg);

/**
 * dms_sglist_get_size:
 * @sg: a list
 *
 * Returns: the sum of the entries' lengths in bytes.
 */
DMS_PUBLIC uint64_t dms_sglist_get_size(const DmsSgList *sg);

/**
 * dms_sglist_get_entry:
 * @sg: a list
 * @index: 0 for the first entry
 *
 * Returns: (transfer none): the entry, valid until the list is changed or
 * freed; NULL if @index is past the end.
 */
DMS_PUBLIC const DmsSgEntry *dms_sglist_get_entry(const DmsSgList *sg,
                                                  size_t index);

/**
 * dms_sglist_get_space:
 * @sg: a list
 *
 * Returns: (transfer none): the space, valid as long as @sg is.
 */
DMS_PUBLIC DmsSpace *dms_sglist_get_space(const DmsSgList *sg);

/**
 * dms_sglist_read:
 * @sg: a list
 * @buf: (out caller-allocates): @len bytes
 * @len: room in @buf; min(@len, list size) bytes are copied
 * @attrs: (nullable): passed untouched to the backends
 * @residual: (out) (optional): list size minus the bytes copied, as a
 *   SCSI or NVMe residual count; also set on failure
 *
 * Copies the memory the list describes, entry after entry, into @buf
 * (the device reads memory). Stops at the first error; the bytes before it
 * are in @buf. Issues a full memory barrier first.
 *
 * Note: QEMU's dma_buf_read() goes the other way; this follows
 * dms_space_read().
 *
 * Returns: 0; -EINVAL for NULL @sg, or NULL @buf with @len > 0; the first
 * access error, as dms_space_read().
 */
DMS_PUBLIC int dms_sglist_read(DmsSgList *sg, void *buf, size_t len,
                               const DmsAttrs *attrs, uint64_t *residual);

/**
 * dms_sglist_write:
 * @sg: a list
 * @buf: @len bytes
 * @len: bytes in @buf; min(@len, list size) bytes are copied
 * @attrs: (nullable): passed untouched to the backends
 * @residual: (out) (optional): list size minus the bytes copied; also set
 *   on failure
 *
 * Copies @buf into the memory the list describes (the device writes
 * memory). Stops at the first error; the bytes before it reached memory.
 * Issues a full memory barrier first.
 *
 * Returns: as dms_sglist_read(), plus -EACCES for read-only RAM.
 */
DMS_PUBLIC int dms_sglist_write(DmsSgList *sg, const void *buf, size_t len,
                                const DmsAttrs *attrs, uint64_t *residual);

/**
 * dms_sglist_read_relaxed:
 *
 * dms_sglist_read() without the barrier: the copy may be reordered with
 * the calling thread's earlier memory accesses.
 */
DMS_PUBLIC int dms_sglist_read_relaxed(DmsSgList *sg, void *buf, size_t len,
                                       const DmsAttrs *attrs,
                                       uint64_t *residual);

/**
 * dms_sglist_write_relaxed:
 *
 * dms_sglist_write() without the barrier.
 */
DMS_PUBLIC int dms_sglist_write_relaxed(DmsSgList *sg, const void *buf,
                                        size_t len, const DmsAttrs *attrs,
                                        uint64_t *residual);

/**
 * DmsIovec:
 * @iov_base: host address of the piece
 * @iov_len: bytes
 *
 * One mapped piece of a batch. Laid out like POSIX struct iovec (the
 * library checks this where it is built), so an array can be passed to
 * preadv() and pwritev() with a cast.
 */
typedef struct DmsIovec {
    void *iov_base;
    size_t iov_len;
} DmsIovec;

/**
 * dms_sglist_map:
 * @sg: a list
 * @offset: byte of the list to start at: 0, then where the previous batch
 *   ended (@offset plus its *@mapped)
 * @dir: the direction; never read-modify-write through one mapping
 * @attrs: (nullable): used for the fills at map time and the write-backs
 *   at unmap time; copied
 * @iov: (out caller-allocates): room for *@iovcnt pieces
 * @iovcnt: (inout): pieces @iov has room for (at least 1); on return,
 *   pieces mapped
 * @mapped: (out): bytes mapped, the sum of the pieces' lengths
 *
 * Maps the list from @offset on, in order, into host pointers: as much of
 * it as fits in @iov and the space's bounce budget allows, like
 * dms_space_map() on each entry (RAM in place, anything else bounced). The
 * synchronous counterpart of dms_dma_submit(), for a device that does its
 * I/O on the calling thread (vfu_sgl_get() in libvfio-user, the map loop
 * of QEMU's dma-helpers).
 *
 * It follows the engine's rule: a caller that holds mappings never waits
 * for budget. When budget runs out after some pieces were mapped, this
 * returns those (do the I/O on them, unmap, then map again from @offset +
 * *@mapped). -EAGAIN comes only when nothing could be mapped, with nothing
 * held: register a map client (dms_space_add_map_client()) and call again
 * with the same @offset when it fires. Any other map error likewise ends a
 * batch that already has pieces and is returned by the next call, for the
 * byte it starts at.
 *
 * Every piece stays mapped, with its region and budget, until
 * dms_sglist_unmap(). The list may be changed meanwhile: the pieces do
 * not refer to it. Finding @offset walks the entries before it.
 * Thread-safe as far as the list is not changed concurrently.
 *
 * Returns: 0, with *@iovcnt >= 1 and *@mapped >= 1 bytes mapped, or both
 * 0 when @offset is the end of the list; -EINVAL for NULL arguments, an
 * *@iovcnt of 0, an unknown @dir or an @offset past the end; -EAGAIN as
 * above; any other error of dms_space_map() for the byte at @offset.
 */
DMS_PUBLIC int dms_sglist_map(DmsSgList *sg, uint64_t offset, DmsDirection dir,
                              const DmsAttrs *attrs, DmsIovec *iov,
                              unsigned *iovcnt, size_t *mapped);

/**
 * dms_sglist_unmap:
 * @sg: the list given to dms_sglist_map()
 * @dir: the direction given to dms_sglist_map()
 * @iov: the pieces dms_sglist_map() returned, unchanged
 * @iovcnt: their number, as returned
 * @access_len: bytes the device really accessed, counted from the first
 *   byte of the first piece
 *
 * Ends every mapping of one dms_sglist_map() call, each with the part of
 * @access_len that fell into it: a from-device bounce buffer writes back
 * exactly the bytes the device produced, and RAM is marked dirty for
 * them. Releases the budget and wakes map clients.
 *
 * Returns: 0; -EINVAL (with nothing unmapped) for NULL arguments or an
 * @access_len larger than the pieces; the first error of a write-back or
 * of dms_space_unmap() (every piece is released anyway).
 */
DMS_PUBLIC int dms_sglist_unmap(DmsSgList *sg, DmsDirection dir,
                                const DmsIovec *iov, unsigned iovcnt,
                                size_t access_len);

#ifdef __cplusplus
}
#endif

#endif /* DMASPACE_SGLIST_H */
