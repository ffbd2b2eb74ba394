#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The install check: configure a throwaway build with prefix /usr, install
# it into a staging dir with DESTDIR, then build examples/simple-dma.c (with
# the examples' helpers, examples/common/*.c, which use only the public
# API) the way a user would, with pkg-config seeing only the staged copy:
#   - dynamically, run against the staged libdmaspace.so.0;
#   - statically against the staged libdmaspace.a, with pkg-config --static
#     (this fails if Requires.private / Libs.private miss something).
#
# usage: test-install.sh MESON SOURCE_DIR      (CC from the environment)
set -euo pipefail

meson=$1
src=$2
cc=${CC:-cc}
# The example program: simple-dma and the helpers it is built with.
example=("-I$src/examples/common" "$src/examples/simple-dma.c"
    "$src"/examples/common/*.c)

work=$(mktemp -d "${TMPDIR:-/tmp}/dms-install.XXXXXX")
cleanup() {
    if [ "${DMS_KEEP_INSTALL_TEST:-}" = "" ]; then
        rm -rf "$work"
    else
        echo "kept $work"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

step() {
    echo "--- $*"
}

# The API reference is installed too wherever Doxygen is there to build it.
if command -v doxygen >/dev/null; then docs=enabled; else docs=disabled; fi

step "configure and build a throwaway copy (prefix /usr, docs $docs)"
# -Dtests/-Dexamples off: a user's build needs neither cmocka nor C++.
"$meson" setup "$work/build" "$src" --prefix=/usr --buildtype=plain \
    -Dtests=disabled -Dexamples=disabled -Ddocs=$docs \
    >"$work/setup.log" 2>&1 ||
    { cat "$work/setup.log" >&2; fail "meson setup"; }
"$meson" compile -C "$work/build" >"$work/compile.log" 2>&1 ||
    { cat "$work/compile.log" >&2; fail "meson compile"; }

stage=$work/stage
step "meson install --destdir $stage"
"$meson" install -C "$work/build" --destdir "$stage" --no-rebuild \
    >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "meson install"; }

# What got installed, relative to the stage.
(cd "$stage" && find . \( -type f -o -type l \) | sed 's|^\./|/|' | sort) \
    >"$work/files"
sed 's/^/    /' "$work/files"

pc=$(grep '/pkgconfig/dmaspace\.pc$' "$work/files") ||
    fail "no dmaspace.pc installed"
libdir=${pc%/pkgconfig/dmaspace.pc}
[ "${libdir#/usr/}" != "$libdir" ] || fail "libdir $libdir is not under /usr"

for f in "$libdir/libdmaspace.a" "$libdir/libdmaspace.so" \
    "$libdir/libdmaspace.so.0"; do
    grep -qx "$f" "$work/files" || fail "$f not installed"
done
for h in "$src"/include/dmaspace/*.h; do
    f=/usr/include/dmaspace/$(basename "$h")
    grep -qx "$f" "$work/files" || fail "$f not installed"
    cmp -s "$h" "$stage$f" || fail "$f differs from the source"
done
if grep -E '(dms-private|rcu)\.h$' "$work/files"; then
    fail "internal headers installed"
fi

# The reference: a man page per exported function under the man path,
# the HTML under the package's doc dir; none without -Ddocs.
if [ "$docs" = enabled ]; then
    step "the API reference"
    grep -qx /usr/share/doc/dmaspace/html/index.html "$work/files" ||
        fail "no HTML reference in /usr/share/doc/dmaspace/html"
    for f in $(sed -n 's/^[[:space:]]*\(dms_[a-z0-9_]*\);.*/\1/p' \
        "$src/lib/libdmaspace.sym"); do
        grep -qx "/usr/share/man/man3/$f.3" "$work/files" ||
            fail "no man page /usr/share/man/man3/$f.3"
    done
    # A function's page is a link (.so, relative to the man root, as man
    # reads it) to its header's page, which documents it.
    page=$stage/usr/share/man/man3/dms_space_map.3
    link=$(sed -n 's/^\.so //p' "$page")
    [ -n "$link" ] && grep -q '^\.SS ".*dms_space_map (' \
        "$stage/usr/share/man/$link" ||
        fail "$page does not lead to a page documenting dms_space_map"
elif grep -E '^/usr/share/(man|doc)/' "$work/files"; then
    fail "documentation installed with -Ddocs=disabled"
fi

step "the installed library"
so=$stage$libdir/libdmaspace.so.0
readelf -d "$so" >"$work/dynamic"
grep -q '(SONAME).*\[libdmaspace\.so\.0\]' "$work/dynamic" ||
    fail "soname of $so is not libdmaspace.so.0"
if grep -E '\((RPATH|RUNPATH)\)' "$work/dynamic"; then
    fail "installed library keeps a build-time rpath"
fi

# pkg-config sees the staged .pc first, then the system's (for glib); the
# sysroot maps the .pc's /usr paths into the stage. Nothing points at the
# source or build trees.
sys_pc_path=$(pkg-config --variable pc_path pkg-config)
run_pkg_config() {
    env -u PKG_CONFIG_PATH \
        PKG_CONFIG_LIBDIR="$1$libdir/pkgconfig:$sys_pc_path" \
        PKG_CONFIG_SYSROOT_DIR="$1" \
        pkg-config "${@:2}"
}

version=$(run_pkg_config "$stage" --modversion dmaspace)
want_version=$("$meson" introspect --projectinfo "$work/build" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
[ "$version" = "$want_version" ] ||
    fail "pkg-config --modversion says '$version', meson '$want_version'"

cflags=$(run_pkg_config "$stage" --cflags dmaspace)
libs=$(run_pkg_config "$stage" --libs dmaspace)
echo "    cflags: $cflags"
echo "    libs:   $libs"
case " $cflags " in
*" -I$stage/usr/include "*) ;;
*) fail "--cflags lacks -I$stage/usr/include" ;;
esac
case " $libs " in
*" -L$stage$libdir "*) ;;
*) fail "--libs lacks -L$stage$libdir" ;;
esac
for flags in "$cflags" "$libs"; do
    case "$flags" in
    *"$src"* | *"$work/build"*) fail "pkg-config points into a build tree" ;;
    esac
done
# glib is private: a program using only dmaspace must not link it.
case " $libs " in
*glib*) fail "--libs leaks glib; it belongs in Requires.private" ;;
esac

step "build examples/simple-dma.c against the staged shared library"
# shellcheck disable=SC2086 # pkg-config output is a list of words
$cc -std=c11 -Wall -Wextra -pedantic -Werror -o "$work/simple-dma" \
    "${example[@]}" $cflags $libs ||
    fail "cannot build against the staged copy"
LD_LIBRARY_PATH=$stage$libdir ldd "$work/simple-dma" >"$work/ldd"
grep -q "libdmaspace\.so\.0 => $stage$libdir/libdmaspace\.so\.0" \
    "$work/ldd" || { cat "$work/ldd" >&2; fail "not resolved to the stage"; }
LD_LIBRARY_PATH=$stage$libdir "$work/simple-dma" ||
    fail "simple-dma failed against the staged shared library"

step "build it statically against the staged libdmaspace.a"
# A copy of the stage without the shared library, so that -ldmaspace can
# only mean the archive.
static_stage=$work/stage-static
cp -a "$stage" "$static_stage"
rm -f "$static_stage$libdir"/libdmaspace.so*
static_cflags=$(run_pkg_config "$static_stage" --static --cflags dmaspace)
static_libs=$(run_pkg_config "$static_stage" --static --libs dmaspace)
echo "    libs:   $static_libs"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -pedantic -Werror -o "$work/simple-dma-static" \
    "${example[@]}" $static_cflags $static_libs ||
    fail "cannot link the static archive with pkg-config --static"
if readelf -d "$work/simple-dma-static" | grep -q 'NEEDED.*libdmaspace'; then
    fail "the static build still needs libdmaspace.so"
fi
"$work/simple-dma-static" || fail "simple-dma failed, statically linked"

echo "install ok: $libdir, pkg-config $version"
