/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every file of lib/ may need from the compiler and the machine.
 * Never installed.
 */
#ifndef DMS_COMPILER_H
#define DMS_COMPILER_H

#include <stdlib.h>
#include <string.h>

#include "sched-point.h"

/*
 * Thread-locals of the library use the initial-exec model: a fixed offset
 * from the thread pointer instead of a __tls_get_addr() call on every
 * access (5% of a bounce map+unmap in the shared library). The few dozen
 * bytes fit glibc's static TLS reserve, so dlopen() still works.
 */
#if defined(__GNUC__) || defined(__clang__)
#define DMS_THREAD_LOCAL                                                      \
    _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define DMS_THREAD_LOCAL _Thread_local
#endif

/*
 * For the helpers of the bounce map+unmap fast path that are called from
 * more than one place, where the compiler would rather call them: there,
 * a call and its spills cost as much as the helper's work (about 40
 * instructions of a 64 B map+unmap of some 700; bench/bounce-micro).
 */
#if defined(__GNUC__) || defined(__clang__)
#define DMS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define DMS_ALWAYS_INLINE inline
#endif

/*
 * Padding and alignment unit that keeps what one thread writes off the
 * lines that other threads read.
 */
#define DMS_CACHE_LINE 64

/*
 * Zeroed memory that starts on a line of its own and, with @size rounded
 * up, ends on one: what one thread writes there never shares a line with
 * another object of the heap. NULL on failure; release with free().
 */
static inline void *dms__lines_alloc0(size_t size)
{
    size_t rounded =
        (size + DMS_CACHE_LINE - 1) & ~(size_t)(DMS_CACHE_LINE - 1);
    void *p;

    if (rounded < size || posix_memalign(&p, DMS_CACHE_LINE, rounded) != 0)
        return NULL;
    return memset(p, 0, rounded);
}

#endif /* DMS_COMPILER_H */
