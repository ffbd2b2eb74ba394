#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# A test that cannot run in this build: says why and reports SKIP (exit
# 77, what meson counts as skipped).
echo "SKIP: $*"
exit 77
