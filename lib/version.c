/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The library's own version, from the version.h it was built with: the
 * headers a program compiled against may be older.
 */
#include "dms-private.h"

uint32_t dms_version(void)
{
    return DMS_VERSION;
}

const char *dms_version_string(void)
{
    return DMS_VERSION_STRING;
}
