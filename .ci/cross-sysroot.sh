#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds a sysroot of Debian's foreign-architecture glib and cmocka, enough
# to link the library and its tests with Debian's cross compiler and to run
# them under qemu-user.
#
#   .ci/cross-sysroot.sh ARCH DIR
#
# ARCH is a Debian architecture (s390x, mipsel, i386...); the sysroot goes
# to DIR/sysroot-ARCH and the downloaded .debs are kept in DIR/debs-ARCH,
# so a second run extracts from the cache without touching the network.
#
# Why not `apt-get install libglib2.0-dev:ARCH`: multiarch -dev installs
# fail here (the security archive serves no index for foreign
# architectures, so the foreign and native versions of shared packages
# cannot be made to match). Plain `apt-get download` + `dpkg -x` needs
# neither matching versions nor the package's maintainer scripts.
#
# The cross compiler keeps linking against its own libc
# (/usr/TRIPLET, from libc6-dev-ARCH-cross); the sysroot's libc6 is what
# the programs run with under qemu-user, the same glibc release.
set -euo pipefail

arch=${1:?usage: cross-sysroot.sh ARCH DIR}
dir=${2:?usage: cross-sysroot.sh ARCH DIR}

# What linking and running glib + cmocka programs needs: the -dev packages
# for headers, .pc files and .so links; the runtime libraries libglib
# needs (libpcre2-8); libc and libgcc for the dynamic loader under qemu.
# libglib2.0-dev's other dependencies (libmount, libselinux, libffi, zlib)
# only matter for gio/gobject, which nothing here links.
packages=(
    libglib2.0-0 libglib2.0-dev
    libcmocka0 libcmocka-dev
    libpcre2-8-0 libpcre2-dev
    libc6 libgcc-s1
)

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
debs=$dir/debs-$arch
sysroot=$dir/sysroot-$arch
stamp=$sysroot/.complete

want="${packages[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "cross-sysroot: $sysroot is up to date"
    exit 0
fi

have_debs() {
    local p
    for p in "${packages[@]}"; do
        compgen -G "$debs/${p}_*_$arch.deb" > /dev/null || return 1
    done
}

mkdir -p "$debs"
if ! have_debs; then
    added=
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        dpkg --add-architecture "$arch"
        added=1
    fi
    if [ -n "$added" ] ||
        ! apt-cache show "libglib2.0-0:$arch" > /dev/null 2>&1; then
        # A failed index (the security archive has none for most foreign
        # architectures) must not stop us: the main archive has them all.
        apt-get update -q || echo "cross-sysroot: apt-get update reported" \
            "errors; using the indexes that did load"
    fi
    rm -f "$debs"/*.deb.partial
    # As root, apt would fetch as the _apt user, who cannot write here.
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root \
        "${packages[@]/%/:$arch}")
    # Leave dpkg as we found it: with a foreign architecture configured,
    # every later `apt-get update` fetches (and may fail on) its indexes.
    if [ -n "$added" ]; then
        dpkg --remove-architecture "$arch" ||
            echo "cross-sysroot: could not remove architecture $arch"
    fi
fi

rm -rf "$sysroot"
mkdir -p "$sysroot"
for p in "${packages[@]}"; do
    # The newest cached version, should older ones linger in the cache.
    deb=$(ls -v "$debs/${p}_"*"_$arch.deb" | tail -n 1)
    dpkg -x "$deb" "$sysroot"
done

# Absolute symlinks (/lib/ld.so -> /lib/TRIPLET/...) would point into the
# host: make them relative so they resolve inside the sysroot, whether
# through the linker's --sysroot, pkg-config or qemu's -L.
find "$sysroot" -type l -lname '/*' -print0 |
    while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" \
            "$sysroot$target")" "$link"
    done

# Debian 12's foreign libc6 keeps the dynamic loader under /lib; qemu -L
# looks the PT_INTERP path up inside the sysroot, so nothing else is needed.
echo "$want" > "$stamp"
echo "cross-sysroot: built $sysroot"
