/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Synchronous scatter-gather mapping: a list, or as much of it as the
 * bounce budget allows, mapped to an iovec in one call and unmapped in one
 * call with the bytes the device really accessed.
 *
 * Built on dms_space_map()/unmap() alone, one piece at a time through the
 * step the asynchronous engine uses too (dms__sglist_map_piece()), and
 * under the engine's rule: whoever holds mappings never waits for budget.
 * A batch cut short by the budget is returned as it is; -EAGAIN means
 * nothing is held, so a caller waiting for a map client cannot deadlock
 * with others sharing the budget.
 */
#include "dms-private.h"

/*
 * The cursor of byte @offset of @sg, which must be inside the list: a
 * walk of the entries before it (lists are descriptor chains, short).
 */
static DmsSgCursor cursor_at(const DmsSgList *sg, uint64_t offset)
{
    DmsSgCursor c = {0, offset};
    const DmsSgEntry *e;

    while ((e = dms_sglist_get_entry(sg, c.entry)) && c.offset >= e->len) {
        c.offset -= e->len;
        c.entry++;
    }
    return c;
}

int dms_sglist_map(DmsSgList *sg, uint64_t offset, DmsDirection dir,
                   const DmsAttrs *attrs, DmsIovec *iov, unsigned *iovcnt,
                   size_t *mapped)
{
    size_t nr, total = 0;
    DmsSgCursor cursor;
    unsigned max, n = 0;
    int stop = 0;

    g_return_val_if_fail(iovcnt != NULL && mapped != NULL, -EINVAL);
    max = *iovcnt;
    *iovcnt = 0;
    *mapped = 0;
    g_return_val_if_fail(sg != NULL && iov != NULL && max > 0, -EINVAL);
    g_return_val_if_fail(
        dir == DMS_DIR_TO_DEVICE || dir == DMS_DIR_FROM_DEVICE, -EINVAL);
    /* A device computes @offset from its own progress: no critical. */
    if (offset > dms_sglist_get_size(sg))
        return -EINVAL;

    nr = dms_sglist_get_count(sg);
    cursor = cursor_at(sg, offset);
    while (n < max && cursor.entry < nr && total < SIZE_MAX) {
        stop = dms__sglist_map_piece(sg, &cursor, SIZE_MAX - total, dir, attrs,
                                     &iov[n]);
        if (stop < 0)
            break;
        total += iov[n].iov_len;
        n++;
    }
    /*
     * Whatever stopped the loop, pieces already held go back to the
     * caller: its I/O on them is what returns their budget. The error
     * comes again at the next call's first byte.
     */
    if (n == 0 && stop < 0)
        return stop;
    *iovcnt = n;
    *mapped = total;
    return 0;
}

int dms_sglist_unmap(DmsSgList *sg, DmsDirection dir, const DmsIovec *iov,
                     unsigned iovcnt, size_t access_len)
{
    DmsSpace *space;
    size_t total = 0;
    int first_err = 0;

    g_return_val_if_fail(sg != NULL && (iov != NULL || iovcnt == 0), -EINVAL);
    for (unsigned i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    g_return_val_if_fail(access_len <= total, -EINVAL);

    space = dms_sglist_get_space(sg);
    for (unsigned i = 0; i < iovcnt; i++) {
        size_t part = MIN(iov[i].iov_len, access_len);
        int r =
            dms_space_unmap(space, iov[i].iov_base, iov[i].iov_len, dir, part);

        access_len -= part;
        if (r < 0 && first_err == 0)
            first_err = r;
    }
    return first_err;
}
