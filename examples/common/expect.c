/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * expect(): see expect.h.
 */
#include "expect.h"

#include <stdarg.h>
#include <stdio.h>

static const char *program = "example";
static bool failed;

void expect_init(const char *name)
{
    program = name;
}

bool expect(bool cond, const char *fmt, ...)
{
    va_list ap;

    if (cond)
        return true;
    va_start(ap, fmt);
    fprintf(stderr, "%s: FAILED: ", program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failed = true;
    return false;
}

int expect_status(void)
{
    return failed ? 1 : 0;
}
