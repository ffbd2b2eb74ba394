/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * <dmaspace/version.h>: the macros follow meson.build's project version
 * (passed in as DMS_TEST_PROJECT_VERSION), DMS_CHECK_VERSION() works in
 * #if, and the shared library reports the same version at run time.
 */
#include <stdio.h>
#include <string.h>

#include <dmaspace/dmaspace.h>

#if !DMS_CHECK_VERSION(0, 0, 0) ||                                            \
    !DMS_CHECK_VERSION(DMS_VERSION_MAJOR, DMS_VERSION_MINOR,                  \
                       DMS_VERSION_MICRO)
#error "DMS_CHECK_VERSION() refuses the headers' own version"
#endif
#if DMS_CHECK_VERSION(DMS_VERSION_MAJOR, DMS_VERSION_MINOR,                   \
                      DMS_VERSION_MICRO + 1) ||                               \
    DMS_CHECK_VERSION(DMS_VERSION_MAJOR + 1, 0, 0)
#error "DMS_CHECK_VERSION() accepts a newer version"
#endif

int main(void)
{
    char text[64];
    int failed = 0;

    snprintf(text, sizeof(text), "%d.%d.%d", DMS_VERSION_MAJOR,
             DMS_VERSION_MINOR, DMS_VERSION_MICRO);
    if (strcmp(text, DMS_TEST_PROJECT_VERSION) != 0 ||
        strcmp(DMS_VERSION_STRING, DMS_TEST_PROJECT_VERSION) != 0) {
        fprintf(stderr, "headers say %s / %s, meson.build %s\n", text,
                DMS_VERSION_STRING, DMS_TEST_PROJECT_VERSION);
        failed = 1;
    }
    if (dms_version() != (uint32_t)DMS_VERSION) {
        fprintf(stderr, "dms_version() is 0x%x, DMS_VERSION 0x%x\n",
                (unsigned)dms_version(), (unsigned)DMS_VERSION);
        failed = 1;
    }
    if (strcmp(dms_version_string(), DMS_VERSION_STRING) != 0) {
        fprintf(stderr, "dms_version_string() is %s, not %s\n",
                dms_version_string(), DMS_VERSION_STRING);
        failed = 1;
    }
    if (DMS_VERSION_ENCODE(1, 2, 3) != 0x010203 ||
        DMS_VERSION_ENCODE(0, 255, 0) >= DMS_VERSION_ENCODE(1, 0, 0)) {
        fprintf(stderr, "DMS_VERSION_ENCODE() does not order versions\n");
        failed = 1;
    }
    return failed;
}
