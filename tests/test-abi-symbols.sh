#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The ABI check. Three lists must be the same set:
#   - the functions declared DMS_PUBLIC in the public headers,
#   - the names in lib/libdmaspace.sym (which must also be sorted, unique),
#   - the dynamic symbols the built shared library defines;
# and every exported symbol must carry a DMASPACE_ version, the soname
# must be libdmaspace.so.<major>.
#
# usage: test-abi-symbols.sh LIBDMASPACE.SO LIBDMASPACE.SYM INCLUDE_DIR
set -euo pipefail

lib=$1
sym=$2
incdir=$3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dms-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
status=0

fail() {
    echo "FAIL: $*" >&2
    status=1
}

# Compare two sorted lists; name the side each stray line is on.
same_set() {
    local left=$1 right=$2 left_name=$3 right_name=$4
    local only_left only_right
    only_left=$(comm -23 "$left" "$right")
    only_right=$(comm -13 "$left" "$right")
    if [ -n "$only_left" ]; then
        fail "in $left_name but not in $right_name:"
        echo "$only_left" | sed 's/^/    /' >&2
    fi
    if [ -n "$only_right" ]; then
        fail "in $right_name but not in $left_name:"
        echo "$only_right" | sed 's/^/    /' >&2
    fi
}

# 1. The version script, as written.
sed -n 's/^[[:space:]]*\(dms_[A-Za-z0-9_]*\)[[:space:]]*;.*$/\1/p' "$sym" \
    >"$tmp/sym.raw"
if ! sort -c "$tmp/sym.raw" 2>/dev/null; then
    fail "$sym is not sorted (LC_ALL=C sort); first line out of order:"
    sort -c "$tmp/sym.raw" 2>&1 | sed 's/^/    /' >&2 || true
fi
sort "$tmp/sym.raw" | uniq -d >"$tmp/sym.dups"
if [ -s "$tmp/sym.dups" ]; then
    fail "listed twice in $sym:"
    sed 's/^/    /' "$tmp/sym.dups" >&2
fi
sort -u "$tmp/sym.raw" >"$tmp/sym"
if [ ! -s "$tmp/sym" ]; then
    fail "no symbol found in $sym"
fi

# 2. The headers: DMS_PUBLIC up to the first "name(" of the declaration,
# comments removed first.
perl -0777 -ne '
    s{/\*.*?\*/}{}gs;
    s{//[^\n]*}{}g;
    while (/\bDMS_PUBLIC\b[^;(]*?\b(dms_\w+)\s*\(/g) { print "$1\n" }
' "$incdir"/dmaspace/*.h "$incdir"/dmaspace/*.h.in | sort -u >"$tmp/headers"
same_set "$tmp/headers" "$tmp/sym" "DMS_PUBLIC declarations" "$sym"

# 3. The built library. nm prints versioned names as name@@VERSION; the
# version node itself shows up as an absolute (A) symbol.
nm -D --defined-only "$lib" >"$tmp/nm"
awk '$2 != "A" { print $3 }' "$tmp/nm" | sed 's/@.*//' | sort -u >"$tmp/lib"
same_set "$tmp/sym" "$tmp/lib" "$sym" "the symbols $lib exports"

# Every export belongs to a DMASPACE_ version node.
objdump -T "$lib" | awk '$2 == "g" && $4 != "*UND*" { print $(NF-1), $NF }' \
    >"$tmp/versions"
if awk '$1 !~ /^DMASPACE_/' "$tmp/versions" | grep -q .; then
    fail "exported without a DMASPACE_ version:"
    awk '$1 !~ /^DMASPACE_/ { print "    " $0 }' "$tmp/versions" >&2
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
case "$soname" in
libdmaspace.so.[0-9]*) ;;
*) fail "soname is '$soname', want libdmaspace.so.<major>" ;;
esac

if [ "$status" -eq 0 ]; then
    echo "ABI ok: $(wc -l <"$tmp/sym") functions, soname $soname"
fi
exit "$status"
