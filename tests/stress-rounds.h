/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one knob of the stress tests: DMS_STRESS_PERCENT=N in the
 * environment runs N percent of each test's rounds (default 100, at least
 * one round; above 100 runs more). Slow machines and emulators (the cross
 * stage under qemu-user) can shorten a run without editing a test; a
 * debugging session can lengthen one. The results each test asserts are
 * computed from the scaled count, so any value is a valid run.
 */
#ifndef DMS_TEST_STRESS_ROUNDS_H
#define DMS_TEST_STRESS_ROUNDS_H

#include <stdlib.h>

/* @rounds scaled by DMS_STRESS_PERCENT; reads the environment each time
 * (no cached state: threads may call it at once). */
static inline unsigned dms_stress_rounds(unsigned rounds)
{
    const char *s = getenv("DMS_STRESS_PERCENT");
    unsigned long percent = 100, scaled;
    char *end;

    if (s && *s) {
        percent = strtoul(s, &end, 10);
        if (*end != '\0' || percent == 0 || percent > 10000)
            percent = 100; /* a bad value runs the default, not nothing */
    }
    scaled = (unsigned long)rounds * percent / 100;
    return scaled ? (unsigned)scaled : 1;
}

#endif /* DMS_TEST_STRESS_ROUNDS_H */
