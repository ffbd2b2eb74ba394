#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The install check: configure a throwaway build with prefix /usr, install
# it into a staging dir with DESTDIR, then build examples/simple-dma.c (with
# the examples' helpers, examples/common/*.c, which use only the public
# API) the way a user would, with pkg-config seeing only the staged copy:
#   - dynamically, run against the staged libdmaspace.so.0;
#   - statically against the staged libdmaspace.a, with pkg-config --static
#     (this fails if Requires / Libs.private miss something);
# and the README's build line, as written, on the README's example and on
# a program that uses glib's GMainContext through the API.
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
# The generated version header, saying what pkg-config says (checked
# below against meson).
grep -qx /usr/include/dmaspace/version.h "$work/files" ||
    fail "/usr/include/dmaspace/version.h not installed"
if grep -E '(dms-private|rcu)\.h$|\.h\.in$' "$work/files"; then
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

# pkg-config sees the staged .pc first, then the system's (for glib). The
# staged .pc says prefix=/usr; a copy of it moved to the stage stands in
# for it (a sysroot would move glib's paths into the stage too). Nothing
# points at the source or build trees.
sys_pc_path=$(pkg-config --variable pc_path pkg-config)
pc_path_of() {
    local dir=$work/pc-$(basename "$1")
    mkdir -p "$dir"
    sed "s|^prefix=/usr\$|prefix=$1/usr|" "$1$libdir/pkgconfig/dmaspace.pc" \
        >"$dir/dmaspace.pc"
    grep -q "^prefix=$1/usr\$" "$dir/dmaspace.pc" ||
        fail "the staged dmaspace.pc does not say prefix=/usr"
    echo "$dir:$sys_pc_path"
}
run_pkg_config() {
    env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$(pc_path_of "$1")" \
        pkg-config "${@:2}"
}

version=$(run_pkg_config "$stage" --modversion dmaspace)
want_version=$("$meson" introspect --projectinfo "$work/build" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
[ "$version" = "$want_version" ] ||
    fail "pkg-config --modversion says '$version', meson '$want_version'"
grep -q "^#define DMS_VERSION_STRING \"$want_version\"" \
    "$stage/usr/include/dmaspace/version.h" ||
    fail "the installed version.h does not say $want_version"

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
# glib is public (GMainContext is part of the API): --libs must carry it,
# or a program that passes a main context fails to link.
case " $libs " in
*" -lglib-2.0 "*) ;;
*) fail "--libs lacks -lglib-2.0: glib belongs in Requires" ;;
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

# The README's own build line, word for word, on the README's own example
# and on a program that uses a GMainContext (a map client fired on it).
readme_line=$(grep -o 'cc demo\.c \$(pkg-config --cflags --libs dmaspace)' \
    "$src/README.md") || fail "README.md lost its build line"
awk '/^## Usage/ { u = 1 } u && /^```c$/ { c = 1; next }
     c && /^```$/ { exit } c { print }' "$src/README.md" >"$work/demo.c"
[ -s "$work/demo.c" ] || fail "no C example under README.md's Usage"
cp "$src/tests/install-main-context.c" "$work/main-context.c"
for prog in demo main-context; do
    step "README build line on $prog.c: $readme_line"
    line=${readme_line/demo.c/$prog.c}
    line=${line#cc }
    # The line as a user's shell runs it, with only the staged copy and
    # the system's .pc files visible, and CC for cc.
    (cd "$work" && env -u PKG_CONFIG_PATH \
        PKG_CONFIG_LIBDIR="$(pc_path_of "$stage")" bash -c "$cc -o $prog $line") ||
        fail "the README's build line fails on $prog.c"
    LD_LIBRARY_PATH=$stage$libdir "$work/$prog" ||
        fail "$prog built with the README's line failed"
done

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

step "README build line with --static on main-context.c"
# The same line a static user writes; glib comes in through Requires.
(cd "$work" && env -u PKG_CONFIG_PATH \
    PKG_CONFIG_LIBDIR="$(pc_path_of "$static_stage")" bash -c "$cc -o main-context-static main-context.c \
        \$(pkg-config --static --cflags --libs dmaspace)") ||
    fail "the README's build line with --static fails on main-context.c"
"$work/main-context-static" || fail "main-context failed, statically linked"

echo "install ok: $libdir, pkg-config $version"
