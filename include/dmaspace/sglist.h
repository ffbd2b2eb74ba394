/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scatter-gather DMA: lists of (address, length) entries, copies between a
 * list and a linear buffer, typed loads and stores at DMA addresses, and an
 * asynchronous engine that maps a list batch by batch for the device's I/O.
 *
 * Real devices DMA through descriptor lists (an NVMe PRP list, a virtio
 * chain, an xHCI TD): a DmsSgList collects them against one space. The
 * copies suit small transfers; the engine suits block and network I/O that
 * wants host pointers (an iovec for preadv()/pwritev()) and must share the
 * space's bounce budget with other requests. doc/sglist.md describes the
 * engine's states and why requests cannot deadlock on the budget.
 *
 * Ordering: the plain copies and the typed helpers issue a full memory
 * barrier before they touch memory, so a device model that reads a
 * descriptor after seeing its "ready" flag, or writes a "done" flag after
 * the data, needs nothing more. The _relaxed copies skip the barrier for
 * callers that order their accesses themselves.
 *
 * Error codes are those of space.h, plus the ones listed per call.
 */
#ifndef DMASPACE_SGLIST_H
#define DMASPACE_SGLIST_H

#include <dmaspace/space.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/*
 * Typed accesses at a DMA address: a device reading a descriptor field or
 * writing a completion entry. Each is one dms_space_read() or
 * dms_space_write() of 1, 2, 4 or 8 bytes after a full memory barrier, so
 * register-style message regions see one access of that size. They are
 * not atomic with respect to other agents writing the same memory.
 *
 * Loads return 0 or an error as dms_space_read(); on failure *value is 0.
 * Stores return 0 or an error as dms_space_write(); on failure some bytes
 * may have been written.
 */
DMS_PUBLIC int dms_space_load_u8(DmsSpace *space, uint64_t addr,
                                 uint8_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_le16(DmsSpace *space, uint64_t addr,
                                   uint16_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_le32(DmsSpace *space, uint64_t addr,
                                   uint32_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_le64(DmsSpace *space, uint64_t addr,
                                   uint64_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_be16(DmsSpace *space, uint64_t addr,
                                   uint16_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_be32(DmsSpace *space, uint64_t addr,
                                   uint32_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_load_be64(DmsSpace *space, uint64_t addr,
                                   uint64_t *value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_u8(DmsSpace *space, uint64_t addr,
                                  uint8_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_le16(DmsSpace *space, uint64_t addr,
                                    uint16_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_le32(DmsSpace *space, uint64_t addr,
                                    uint32_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_le64(DmsSpace *space, uint64_t addr,
                                    uint64_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_be16(DmsSpace *space, uint64_t addr,
                                    uint16_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_be32(DmsSpace *space, uint64_t addr,
                                    uint32_t value, const DmsAttrs *attrs);
DMS_PUBLIC int dms_space_store_be64(DmsSpace *space, uint64_t addr,
                                    uint64_t value, const DmsAttrs *attrs);

/**
 * dms_space_fill:
 * @space: a space
 * @addr: DMA address of the first byte
 * @value: the byte to store
 * @len: bytes to fill; 0 succeeds at once
 * @attrs: (nullable): passed untouched to the backends
 * @done: (out) (optional): bytes filled before an error; @len on success
 *
 * memset() of a DMA range, after a full memory barrier. Message regions
 * receive writes of up to 4 KiB at a time.
 *
 * Returns: 0; -EINVAL if @addr + @len passes 2^64 (nothing is written);
 * otherwise as dms_space_write().
 */
DMS_PUBLIC int dms_space_fill(DmsSpace *space, uint64_t addr, uint8_t value,
                              uint64_t len, const DmsAttrs *attrs,
                              uint64_t *done);

/* ---- the asynchronous engine ------------------------------------------ */

typedef struct DmsDmaRequest DmsDmaRequest;

/**
 * DmsDmaIoFunc:
 * @req: the request
 * @offset: byte offset in the list of the batch's first byte (the bytes
 *   before it were all transferred)
 * @iov: the batch, valid until dms_dma_io_done() for it returns
 * @iovcnt: pieces in @iov, at least 1
 * @data: the request's data pointer
 *
 * Does the device's I/O on one batch: for DMS_DIR_TO_DEVICE consumes the
 * bytes in @iov (e.g. pwritev() to a disk image), for DMS_DIR_FROM_DEVICE
 * fills them (e.g. preadv()). It must report back exactly once with
 * dms_dma_io_done(), from this call or later, from any thread. It must not
 * wait for bounce budget of the request's space itself.
 */
typedef void (*DmsDmaIoFunc)(DmsDmaRequest *req, uint64_t offset,
                             const DmsIovec *iov, unsigned iovcnt, void *data);

/**
 * DmsDmaCompleteFunc:
 * @req: the request
 * @transferred: bytes moved between memory and the device, from the start
 *   of the list; on failure, the bytes known to have reached their target
 * @result: 0; -ECANCELED after dms_dma_cancel(); an error of the I/O
 *   function, of mapping or of the write-back
 * @data: the request's data pointer
 *
 * Called exactly once per request that dms_dma_submit() accepted, on the
 * request's main context, after every mapping of the request has been
 * released. The request's list may be changed or reused from here on.
 */
typedef void (*DmsDmaCompleteFunc)(DmsDmaRequest *req, uint64_t transferred,
                                   int result, void *data);

/**
 * DmsDmaParams:
 * @size: sizeof(DmsDmaParams) as the caller compiled it
 * @sg: the list to transfer; the request holds a reference and the list
 *   refuses changes (-EBUSY) until the completion
 * @dir: DMS_DIR_TO_DEVICE: the device reads memory; DMS_DIR_FROM_DEVICE:
 *   the device writes memory
 * @attrs: (nullable): attributes of every map and write-back; copied
 * @align: 0 or 1 for none; otherwise every batch but the last is a
 *   multiple of @align bytes (for O_DIRECT), and the list's size must be
 *   a multiple of it too
 * @max_iov: most pieces in one batch; 0 means 1024 (Linux's IOV_MAX)
 * @ctx: (nullable): the GMainContext the I/O function, the completion and
 *   the retries run on; NULL for the global default context. It must be
 *   run until every request on it has completed.
 * @io: the I/O function
 * @complete: the completion
 * @data: passed to @io and @complete
 */
typedef struct DmsDmaParams {
    size_t size;
    DmsSgList *sg;
    DmsDirection dir;
    const DmsAttrs *attrs;
    uint64_t align;
    unsigned max_iov;
    struct _GMainContext *ctx;
    DmsDmaIoFunc io;
    DmsDmaCompleteFunc complete;
    void *data;
} DmsDmaParams;

/**
 * dms_dma_submit:
 * @params: what to transfer and whom to call; copied
 * @ret: (out) (optional): a handle for dms_dma_cancel(), one reference
 *   owned by the caller (release it with dms_dma_request_unref(), also
 *   after the completion); NULL if the caller will never cancel
 *
 * Starts an asynchronous transfer of the whole list. On @ctx, the engine
 * maps the list's entries in order into a batch (partial maps are fine:
 * the rest of an entry goes into the next piece or batch), calls @io on
 * the batch and, when @io reports back, unmaps each piece with the bytes
 * the I/O really moved, then continues with the next batch. When nothing
 * can be mapped because the bounce budget is used up, the request waits
 * for a map client and resumes at the exact byte it stopped at. A request
 * that holds mappings never waits for budget: it issues the I/O on what it
 * holds, so requests sharing a budget cannot deadlock.
 *
 * Nothing runs inside this call: the first batch is mapped from @ctx,
 * which another thread may run before this call returns (*@ret is set
 * before that, so the completion may look at it). An empty list
 * completes with 0 bytes and result 0. A short I/O (fewer bytes moved, no
 * error) completes the request with result 0 and the shorter count, like
 * read() at the end of a file.
 *
 * Thread-safe: may be called from any thread.
 *
 * Returns: 0, and @complete will be called exactly once; -EINVAL for
 * missing or bad parameters (a NULL @sg, @io or @complete, an unknown
 * @dir, a @size too small, a list size that is not a multiple of
 * @align); -ENOMEM. On failure @complete is never called.
 *
 * Errors the completion can see: those of the I/O function; those of
 * dms_space_map() (-EFAULT, -EACCES, -ENOBUFS, a backend's error...)
 * for the first byte of a batch, after the bytes before it were
 * transferred; -ENOBUFS as well when @align is larger than the space's
 * bounce limit and a batch needs bounce buffers; -EINVAL if @max_iov
 * pieces cannot hold @align bytes; -EIO if the I/O function claims to
 * have moved more bytes than the batch has; -ECANCELED.
 */
DMS_PUBLIC int dms_dma_submit(const DmsDmaParams *params, DmsDmaRequest **ret);

/**
 * dms_dma_io_done:
 * @req: the request whose I/O function was called
 * @moved: bytes the I/O really moved, from the start of the batch; also
 *   on error (e.g. a preadv() that stopped part way)
 * @error: 0 or a negative errno
 *
 * Reports the end of one batch's I/O. May be called from the I/O function
 * itself or later from any thread; the request goes on on its context.
 * Each mapping of the batch is unmapped with access_len equal to the part
 * of @moved that fell into it, so a from-device bounce buffer writes back
 * exactly the bytes the device produced.
 *
 * Returns: 0; -EINVAL (with a g_critical()) if @req has no I/O in flight.
 */
DMS_PUBLIC int dms_dma_io_done(DmsDmaRequest *req, size_t moved, int error);

/**
 * dms_dma_cancel:
 * @req: a handle from dms_dma_submit()
 *
 * Asks for the request to stop. It never blocks and never calls the
 * completion or the I/O function itself. Waiting for budget: the map
 * client is cancelled and the request completes on its context. Between
 * batches: it completes there before mapping more. I/O in flight: the I/O
 * is not interrupted (a device that can abort its I/O does so itself);
 * the request completes when the I/O reports back with dms_dma_io_done().
 * In every case the completion sees -ECANCELED, with the bytes moved so
 * far, after every mapping was released. Thread-safe.
 *
 * Returns: 0; -EALREADY if the request has completed, its completion is
 * running, or it was cancelled before; -EINVAL for NULL.
 */
DMS_PUBLIC int dms_dma_cancel(DmsDmaRequest *req);

/**
 * dms_dma_request_ref:
 * @req: (nullable): a request
 *
 * Returns: @req, with one more reference owned by the caller.
 */
DMS_PUBLIC DmsDmaRequest *dms_dma_request_ref(DmsDmaRequest *req);

/**
 * dms_dma_request_unref:
 * @req: (nullable): a request
 *
 * Drops a reference. A request keeps itself alive until it completes, so
 * dropping the last handle does not cancel it.
 *
 * Returns: NULL.
 */
DMS_PUBLIC DmsDmaRequest *dms_dma_request_unref(DmsDmaRequest *req);

#ifdef __cplusplus
}
#endif

#endif /* DMASPACE_SGLIST_H */
