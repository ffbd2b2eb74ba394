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

#endif /* DMS_FUZZ_H */
