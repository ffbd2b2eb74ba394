#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The `meson test --wrapper` of the valgrind stage of tests/run-all.sh:
# runs a compiled test program under valgrind memcheck, every error and
# every definite leak fatal. A script test runs as it is: valgrind would
# check the shell, not the library.
set -euo pipefail

if [ "$(head -c 2 "$1")" = '#!' ]; then
    exec "$@"
fi

supp=()
glib_supp=/usr/share/glib-2.0/valgrind/glib.supp
[ ! -f "$glib_supp" ] || supp+=("--suppressions=$glib_supp")

exec valgrind --quiet --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --track-origins=yes --num-callers=30 "${supp[@]}" "$@"
