#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The ABI check of libdmaspace-vfio-user, like test-abi-symbols.sh for
# libdmaspace: the functions declared DMS_VFU_PUBLIC in vfio-user.h, the
# names in its version script and the dynamic symbols of the built library
# must be the same set, all in a DMASPACE_VFIO_USER_ node, and the soname
# libdmaspace-vfio-user.so.<major>.
#
# usage: test-vfu-symbols.sh LIB.SO LIB.SYM VFIO-USER.H
set -euo pipefail

lib=$1
sym=$2
header=$3
export LC_ALL=C
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dms-vfu-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
    echo "FAIL: $*" >&2
    status=1
}

sed -n 's/^[[:space:]]*\(dms_[A-Za-z0-9_]*\)[[:space:]]*;.*$/\1/p' "$sym" >"$tmp/sym.raw"
sort -c "$tmp/sym.raw" 2>/dev/null || fail "$sym is not sorted"
sort -u "$tmp/sym.raw" >"$tmp/sym"
[ "$(wc -l <"$tmp/sym")" -eq "$(wc -l <"$tmp/sym.raw")" ] || fail "$sym lists a name twice"

perl -0777 -ne '
    s{/\*.*?\*/}{}gs;
    while (/\bDMS_VFU_PUBLIC\b[^;(]*?\b(dms_\w+)\s*\(/g) { print "$1\n" }
' "$header" | sort -u >"$tmp/headers"
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' |
    sort -u >"$tmp/lib"

diff -u "$tmp/headers" "$tmp/sym" >&2 || fail "header and $sym differ"
diff -u "$tmp/sym" "$tmp/lib" >&2 || fail "$sym and the library differ"
if objdump -T "$lib" | awk '$2 == "g" && $4 != "*UND*" { print $(NF-1) }' |
    grep -v '^DMASPACE_VFIO_USER_' | grep -q .; then
    fail "an export without a DMASPACE_VFIO_USER_ version"
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
case "$soname" in
libdmaspace-vfio-user.so.[0-9]*) ;;
*) fail "soname is '$soname'" ;;
esac
[ "$status" -ne 0 ] || echo "ABI ok: $(wc -l <"$tmp/sym") functions, soname $soname"
exit "$status"
