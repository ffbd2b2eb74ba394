/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The asynchronous DMA engine: maps a scatter-gather list batch by batch
 * and hands each batch to the device's I/O as host pointers (an iovec for
 * preadv()/pwritev()), sharing the space's bounce budget with every other
 * request. doc/sglist.md describes the engine's states and why requests
 * cannot deadlock on the budget.
 *
 * Error codes are those of space.h, plus the ones listed per call.
 */
#ifndef DMASPACE_DMA_ENGINE_H
#define DMASPACE_DMA_ENGINE_H

#include <dmaspace/sglist.h>
#include <dmaspace/space.h>
#include <dmaspace/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * DmsDmaRequest:
 *
 * One transfer of the engine, from dms_dma_submit() to its completion.
 */
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
 *
 * What dms_dma_submit() transfers and whom it calls.
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
 * pieces cannot hold @align bytes even with the whole bounce budget free
 * (pieces cut short by budget others hold make the request wait, as a
 * map's -EAGAIN does); -EIO if the I/O function claims to have moved
 * more bytes than the batch has; -ECANCELED.
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

#endif /* DMASPACE_DMA_ENGINE_H */
