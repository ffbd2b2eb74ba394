/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * <dmaspace/dmaspace.h> included after <glib.h> defines g_autoptr()
 * cleanups: check that leaving the scope really drops the reference (the
 * region's destroy notify runs), through the shared library.
 */
#include <glib.h>
#include <stdio.h>

#include <dmaspace/dmaspace.h>

static void count_notify(void *data)
{
    (*(int *)data)++;
}

int main(void)
{
    static uint8_t ram[64];
    int notified = 0;

    {
        g_autoptr(DmsRegion) region = NULL;
        g_autoptr(DmsSpace) space = NULL;
        g_autoptr(DmsMapClient) client = NULL;
        g_autoptr(DmsSgList) sg = NULL;

        /* Declared for their cleanup functions only: they must compile. */
        (void)client;
        (void)sg;

        if (dms_region_new_ram("ram", ram, sizeof(ram), 0, &notified,
                               count_notify, &region) != 0 ||
            dms_space_new(region, "space", &space) != 0) {
            fprintf(stderr, "cannot create the region and space\n");
            return 1;
        }
    }
    if (notified != 1) {
        fprintf(stderr, "g_autoptr cleanups ran the notify %d times, not 1\n",
                notified);
        return 1;
    }
    return 0;
}
