#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The demo command of README.md: installs what is missing (Debian 12),
# builds the library and the examples in release mode, and runs the
# headline demo.
#
# Environment: DMS_DEMO_BUILD, the build directory (default ./_build-demo)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${DMS_DEMO_BUILD:-$SRC/_build-demo}

# The demo to run: a program of the build directory, and its arguments.
DEMO=(examples/remote-dma/remote-dma-demo)

# shellcheck source=tests/ensure-packages.sh
. "$SRC/tests/ensure-packages.sh"
dms_ensure_packages meson ninja-build pkg-config gcc libglib2.0-dev

if [ ! -f "$BUILD/build.ninja" ]; then
    # No tests: the demo needs neither cmocka nor a C++ compiler.
    meson setup "$BUILD" "$SRC" --buildtype=release -Dtests=disabled \
        -Dexamples=enabled
fi
# Only what the demo needs: a broken bench or test cannot stop it.
ninja -C "$BUILD" "${DEMO[0]}"

echo
echo "==> ${DEMO[*]}"
cd "$BUILD"
exec "./${DEMO[0]}" "${DEMO[@]:1}"
