/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * expect(): how the examples check what they do. A failed expectation is
 * printed and remembered, and the program carries on, so that one run
 * shows every failure; expect_status() is the exit status.
 */
#ifndef DMS_EXAMPLE_EXPECT_H
#define DMS_EXAMPLE_EXPECT_H

#include <stdbool.h>

#if defined(__GNUC__) || defined(__clang__)
#define EXPECT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define EXPECT_PRINTF(fmt, args)
#endif

/* Names the program in failure messages. */
void expect_init(const char *program);

/* Prints "PROGRAM: FAILED: ..." unless @cond; returns @cond. */
EXPECT_PRINTF(2, 3) bool expect(bool cond, const char *fmt, ...);

/* 0 if every expectation held so far, 1 otherwise. */
int expect_status(void);

#endif /* DMS_EXAMPLE_EXPECT_H */
