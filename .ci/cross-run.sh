#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Cross-builds the library, its tests and the examples for other machines
# and runs the 'unit' and 'stress' suites under qemu-user.
#
#   .ci/cross-run.sh [--build-only] [ARCH...]    default: s390x mipsel
#
#   s390x   64-bit big-endian: byte-order bugs show up here
#   mipsel  32-bit, no 64-bit atomics without libatomic: size_t and
#           pointer-width bugs, and any stray 64-bit atomic, show up here
#
# Environment:
#   CROSS_DIR  where sysroots, .deb caches and build dirs go
#              (default: ${BUILD_ROOT:-/tmp/dmaspace-ci}/cross); kept
#              between runs so that a second run downloads nothing
#   CROSS_INSTALL=0  never apt-get install missing tools (then they must
#              be there already)
#
# Installs what is missing (Debian 12: gcc-ARCH-linux-gnu and its libc,
# qemu-user-static), builds a sysroot of the foreign glib and cmocka with
# .ci/cross-sysroot.sh, writes the sysroot's path into a small cross file
# that .ci/cross/ARCH.txt builds on, then meson setup / ninja / meson test.
# Also fails if the library needs libatomic or calls __atomic_* helpers.
# --build-only stops before meson test (tests/run-all.sh runs the tests
# itself, to count them); the build dir is then CROSS_DIR/build-ARCH.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build_only=
if [ "${1:-}" = --build-only ]; then
    build_only=1
    shift
fi
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(s390x mipsel)
dir=${CROSS_DIR:-${BUILD_ROOT:-/tmp/dmaspace-ci}/cross}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

triplet_of() {
    case $1 in
    s390x) echo s390x-linux-gnu ;;
    mipsel) echo mipsel-linux-gnu ;;
    *) echo "cross-run: no cross file for $1" >&2; return 1 ;;
    esac
}

qemu_of() {
    echo "qemu-$1-static"
}

install_tools() {
    local arch=$1 triplet missing=()
    triplet=$(triplet_of "$arch")
    command -v "$triplet-gcc" > /dev/null || missing+=("gcc-$triplet")
    # Debian names the cross libc after the architecture, not the triplet.
    [ -e "/usr/$triplet/lib/crt1.o" ] ||
        missing+=("libc6-dev-$arch-cross")
    command -v "$(qemu_of "$arch")" > /dev/null ||
        missing+=(qemu-user-static)
    [ ${#missing[@]} -gt 0 ] || return 0
    if [ "${CROSS_INSTALL:-1}" = 0 ]; then
        echo "cross-run: missing ${missing[*]}" >&2
        return 1
    fi
    echo "cross-run: installing ${missing[*]}"
    # Only when a package is unknown: a fresh machine's lists may be empty.
    apt-cache show "${missing[0]}" > /dev/null 2>&1 || apt-get update -q ||
        true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
}

# The library must build on 32-bit hosts without libatomic (doc/testing.md).
check_no_libatomic() {
    local lib=$1 triplet=$2
    if "$triplet-readelf" -d "$lib" | grep -q 'NEEDED.*libatomic'; then
        echo "cross-run: $lib needs libatomic" >&2
        return 1
    fi
    if "$triplet-nm" -D --undefined-only "$lib" |
        grep -E '__atomic_|__sync_'; then
        echo "cross-run: $lib calls out-of-line atomics (above)" >&2
        return 1
    fi
}

run_one() {
    local arch=$1 triplet build start
    triplet=$(triplet_of "$arch")
    build=$dir/build-$arch
    start=$(date +%s)

    install_tools "$arch"
    "$src/.ci/cross-sysroot.sh" "$arch" "$dir"
    printf "[constants]\nsysroot = '%s'\n" "$dir/sysroot-$arch" \
        > "$dir/sysroot-$arch.txt"

    if [ ! -f "$build/build.ninja" ]; then
        rm -rf "$build"
        # The examples too: the remote-dma demo and its protocol tests
        # put a wire format and a server through a big-endian and a
        # 32-bit host. No bench (timing under qemu means nothing).
        # -Werror: a format or conversion warning that only a 32-bit or
        # big-endian compiler gives is exactly the kind of bug this run
        # is for.
        meson setup "$build" "$src" \
            --cross-file "$dir/sysroot-$arch.txt" \
            --cross-file "$src/.ci/cross/$arch.txt" \
            -Dbuildtype=debugoptimized -Dwerror=true \
            -Dexamples=enabled -Dbench=disabled -Dfuzzing=disabled
    fi
    ninja -C "$build"
    check_no_libatomic "$build/lib/libdmaspace.so" "$triplet"
    if [ -n "$build_only" ]; then
        echo "cross-run: $arch built in $(($(date +%s) - start)) s"
        return 0
    fi
    # qemu-user runs everything several times slower: stretch timeouts.
    meson test -C "$build" --suite unit --suite stress --print-errorlogs \
        --timeout-multiplier 4 --num-processes 2
    echo "cross-run: $arch passed in $(($(date +%s) - start)) s"
}

for arch in "${arches[@]}"; do
    run_one "$arch"
done
