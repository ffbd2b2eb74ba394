/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Built by tests/test-install.sh with nothing but the README's build line,
 * `cc x.c $(pkg-config --cflags --libs dmaspace)`: a program that uses
 * glib through the API (a map client fired on its own GMainContext) must
 * compile and link with what pkg-config says, shared and static.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include <dmaspace/dmaspace.h>

static uint8_t backing[4096];

static int64_t mem_read(void *opaque, uint64_t offset, void *buf, size_t len,
                        const DmsAttrs *attrs)
{
    (void)opaque;
    (void)attrs;
    memcpy(buf, backing + offset, len);
    return (int64_t)len;
}

static int64_t mem_write(void *opaque, uint64_t offset, const void *buf,
                         size_t len, const DmsAttrs *attrs)
{
    (void)opaque;
    (void)attrs;
    memcpy(backing + offset, buf, len);
    return (int64_t)len;
}

static void retry(DmsSpace *space, void *data)
{
    (void)space;
    (*(int *)data)++;
}

int main(void)
{
    static const DmsMessageOps ops = {
        .size = sizeof(DmsMessageOps),
        .read = mem_read,
        .write = mem_write,
    };
    GMainContext *ctx = g_main_context_new();
    DmsRegion *mem = NULL;
    DmsSpace *space = NULL;
    DmsMapClient *client = NULL;
    size_t len = sizeof(backing);
    void *ptr = NULL, *other = NULL;
    int fired = 0, r;

    if (dms_region_new_message("mem", sizeof(backing), &ops, NULL, NULL,
                               &mem) < 0 ||
        dms_space_new(mem, "space", &space) < 0) {
        fprintf(stderr, "cannot build the space\n");
        return 1;
    }
    mem = dms_region_unref(mem);
    dms_space_set_bounce_limit(space, sizeof(backing));

    /* The whole budget is lent: the next map waits for it. */
    if (dms_space_map(space, 0, &len, DMS_DIR_TO_DEVICE, NULL, &ptr) < 0 ||
        len != sizeof(backing)) {
        fprintf(stderr, "first map failed\n");
        return 1;
    }
    len = 1;
    r = dms_space_map(space, 0, &len, DMS_DIR_TO_DEVICE, NULL, &other);
    if (r != -EAGAIN) {
        fprintf(stderr, "second map: %d, not -EAGAIN\n", r);
        return 1;
    }
    if (dms_space_add_map_client(space, ctx, retry, &fired, NULL, &client) <
        0) {
        fprintf(stderr, "cannot add the map client\n");
        return 1;
    }
    /* Unmapping frees the budget; the callback runs on ctx, here. */
    dms_space_unmap(space, ptr, sizeof(backing), DMS_DIR_TO_DEVICE, 0);
    for (int i = 0; i < 1000 && !fired; i++)
        g_main_context_iteration(ctx, TRUE);

    dms_map_client_unref(client);
    dms_space_unref(space);
    g_main_context_unref(ctx);
    if (fired != 1) {
        fprintf(stderr, "map client fired %d times, not once\n", fired);
        return 1;
    }
    return 0;
}
