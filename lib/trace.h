/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * USDT probes (provider "dmaspace"), for bpftrace, perf and SystemTap.
 *
 * A probe is a single no-op instruction plus an ELF note that tells a
 * tracer where it is and where its arguments live: free when nothing
 * traces it, and no library state is touched to ask. Built when meson
 * finds <sys/sdt.h> (Debian's systemtap-sdt-dev) and -Dsdt is not
 * disabled; otherwise the probes compile to nothing. doc/tracing.md lists
 * every probe with its arguments, and tests/test-sdt-probes.sh holds the
 * built library to that list.
 *
 * DMS_TRACE(name, args...) takes 0 to 6 integer or pointer arguments:
 * values the code has anyway, never a computation made for the probe.
 */
#ifndef DMS_TRACE_H
#define DMS_TRACE_H

/* Picks NAME##N for N arguments after the name; the trailing 0 keeps
 * "..." non-empty, as -pedantic wants. */
#define DMS_TRACE_PICK(_0, _1, _2, _3, _4, _5, _6, macro, ...) macro
#define DMS_TRACE_SELECT(many, none, ...)                                     \
    DMS_TRACE_PICK(__VA_ARGS__, many##6, many##5, many##4, many##3, many##2,  \
                   many##1, none, 0)

#ifdef DMS_HAVE_SDT
#include <sys/sdt.h>

/* sdt.h's own macros pass empty variadic arguments. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wgnu-zero-variadic-macro-arguments"
#endif

#define DMS_TRACE(...)                                                        \
    DMS_TRACE_SELECT(DMS_TRACE_, DMS_TRACE_0, __VA_ARGS__)(__VA_ARGS__)
#define DMS_TRACE_0(name) DTRACE_PROBE(dmaspace, name)
#define DMS_TRACE_1(name, a) DTRACE_PROBE1(dmaspace, name, a)
#define DMS_TRACE_2(name, a, b) DTRACE_PROBE2(dmaspace, name, a, b)
#define DMS_TRACE_3(name, a, b, c) DTRACE_PROBE3(dmaspace, name, a, b, c)
#define DMS_TRACE_4(name, a, b, c, d) DTRACE_PROBE4(dmaspace, name, a, b, c, d)
#define DMS_TRACE_5(name, a, b, c, d, e)                                      \
    DTRACE_PROBE5(dmaspace, name, a, b, c, d, e)
#define DMS_TRACE_6(name, a, b, c, d, e, f)                                   \
    DTRACE_PROBE6(dmaspace, name, a, b, c, d, e, f)
#else
/* Not evaluated; sizeof only keeps a variable used for a probe used. */
#define DMS_TRACE(...)                                                        \
    DMS_TRACE_SELECT(DMS_TRACE_NOP, DMS_TRACE_NOP0, __VA_ARGS__)(__VA_ARGS__)
#define DMS_TRACE_NOP0(name) ((void)0)
#define DMS_TRACE_NOP1(name, a) ((void)sizeof(a))
#define DMS_TRACE_NOP2(name, a, b) (DMS_TRACE_NOP1(name, a), (void)sizeof(b))
#define DMS_TRACE_NOP3(name, a, b, c)                                         \
    (DMS_TRACE_NOP2(name, a, b), (void)sizeof(c))
#define DMS_TRACE_NOP4(name, a, b, c, d)                                      \
    (DMS_TRACE_NOP3(name, a, b, c), (void)sizeof(d))
#define DMS_TRACE_NOP5(name, a, b, c, d, e)                                   \
    (DMS_TRACE_NOP4(name, a, b, c, d), (void)sizeof(e))
#define DMS_TRACE_NOP6(name, a, b, c, d, e, f)                                \
    (DMS_TRACE_NOP5(name, a, b, c, d, e), (void)sizeof(f))
#endif

#endif /* DMS_TRACE_H */
