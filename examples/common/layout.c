/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Layout: a space from a table of pieces; see layout.h.
 */
#include "layout.h"

#include <errno.h>
#include <stddef.h>

/* The region of one piece, one reference; or an error. */
static int piece_region(const LayoutPiece *p, DmsRegion **ret)
{
    switch (p->kind) {
    case LAYOUT_RAM:
        return dms_region_new_ram(p->name ? p->name : "ram", p->host, p->size,
                                  p->flags, p->notify_data, p->notify, ret);
    case LAYOUT_MESSAGE:
        return memdev_region_new(p->dev, p->name ? p->name : "msg", p->size,
                                 p->ops, ret);
    case LAYOUT_REGION:
        *ret = dms_region_ref(p->region);
        return 0;
    case LAYOUT_END:
        break;
    }
    return -EINVAL;
}

static void drop_kept(const LayoutPiece *pieces, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pieces[i].keep)
            *pieces[i].keep = dms_region_unref(*pieces[i].keep);
    }
}

int layout_space_new(const char *name, const LayoutPiece *pieces,
                     size_t bounce_limit, DmsSpace **space, DmsRegion **root)
{
    DmsRegion *container = NULL;
    size_t n = 0;
    int r;

    *space = NULL;
    for (size_t i = 0; pieces[i].kind != LAYOUT_END; i++) {
        if (pieces[i].keep)
            *pieces[i].keep = NULL;
    }
    /*
     * Each _new() returns one reference; add_subregion() and
     * dms_space_new() take their own, so ours are dropped as we go.
     */
    r = dms_region_new_container("root", DMS_SIZE_ALL, &container);
    for (; r == 0 && pieces[n].kind != LAYOUT_END; n++) {
        DmsRegion *region = NULL;

        r = piece_region(&pieces[n], &region);
        if (r == 0)
            r = dms_region_add_subregion(container, pieces[n].addr, region,
                                         pieces[n].priority, 0);
        if (r == 0 && pieces[n].keep)
            *pieces[n].keep = dms_region_ref(region);
        dms_region_unref(region);
    }
    if (r == 0)
        r = dms_space_new(container, name, space);
    if (r != 0) {
        drop_kept(pieces, n);
        dms_region_unref(container);
        return r;
    }
    if (bounce_limit)
        dms_space_set_bounce_limit(*space, bounce_limit);
    if (root)
        *root = dms_region_ref(container);
    dms_region_unref(container);
    return 0;
}
