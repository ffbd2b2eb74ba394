/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the fuzz targets share: the libFuzzer entry point they define, the
 * way they fail, and a reader that turns fuzz input into numbers.
 *
 * Every target is built twice: with -fsanitize=fuzzer for libFuzzer (the
 * `fuzzing` meson option), and linked with corpus-runner.c as a plain
 * program that feeds it every file of its seed corpus, a unit test in
 * every build, any compiler.
 */
#ifndef DMS_FUZZ_H
#define DMS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A difference from the reference model. abort() is what libFuzzer and
 * the corpus runner both recognise as a crash; the message says which
 * check, so a saved crash input can be read without a debugger.
 */
#define FUZZ_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,  \
                    #cond);                                                   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            abort();                                                          \
        }                                                                     \
    } while (0)

/*
 * A g_log writer for the targets: a critical or warning counts in the
 * unsigned that *@counter (an unsigned **) points to, when it points to
 * one; an error aborts. The library's contract says which calls raise
 * criticals, so the targets count them rather than crash.
 */
static inline GLogWriterOutput fuzz_count_criticals(GLogLevelFlags level,
                                                    const GLogField *fields,
                                                    gsize n_fields,
                                                    gpointer counter)
{
    unsigned *at = *(unsigned **)counter;

    (void)fields;
    (void)n_fields;
    if ((level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) && at)
        (*at)++;
    if (level & G_LOG_LEVEL_ERROR)
        abort();
    return G_LOG_WRITER_HANDLED;
}

/* Consumes fuzz input front to back; past the end everything reads 0. */
typedef struct FuzzInput {
    const uint8_t *data;
    size_t left;
} FuzzInput;

static inline uint8_t fuzz_u8(FuzzInput *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->data++;
}

static inline uint16_t fuzz_u16(FuzzInput *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(FuzzInput *in)
{
    uint32_t lo = fuzz_u16(in);
    return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline bool fuzz_bool(FuzzInput *in)
{
    return fuzz_u8(in) & 1;
}

/*
 * The short lengths the targets pick most: @kind (0 to 2, from the low
 * bits of an input byte) chooses below 16, below 256 or below 4096; the
 * fourth kind, a long length, is each target's own.
 */
static inline size_t fuzz_short_len(FuzzInput *in, unsigned kind)
{
    switch (kind) {
    case 0:
        return fuzz_u8(in) % 16;
    case 1:
        return fuzz_u8(in);
    default:
        return fuzz_u16(in) % 4096;
    }
}

#endif /* DMS_FUZZ_H */
