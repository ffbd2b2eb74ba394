#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The USDT probes the built library carries (readelf -n, provider
# "dmaspace") are exactly those doc/tracing.md lists in its probe table,
# each with the argument count the doc gives it. Exits 77 (skip) for a
# library built without <sys/sdt.h>.
#
# usage: test-sdt-probes.sh LIBRARY DOC HAVE_SDT
set -euo pipefail

lib=$1
doc=$2
have_sdt=$3

if [ "$have_sdt" != true ]; then
    echo "SKIP: built without USDT probes (-Dsdt, systemtap-sdt-dev)"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dms-sdt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

# "name argc" for every probe note; a probe placed twice counts once, but
# both places must agree on the arguments.
readelf -n --wide "$lib" | awk '
    /Provider:/ { for (i = 1; i < NF; i++) if ($i == "Provider:") provider = $(i + 1) }
    /Name:/ { for (i = 1; i < NF; i++) if ($i == "Name:") name = $(i + 1) }
    /Arguments:/ {
        if (provider == "dmaspace") {
            n = 0
            for (i = 2; i <= NF; i++) if ($i ~ /@/) n++
            print name, n
        }
    }' | sort -u >"$tmp/lib"
if [ ! -s "$tmp/lib" ]; then
    echo "FAIL: $lib carries no dmaspace probe" >&2
    exit 1
fi
if [ "$(cut -d' ' -f1 "$tmp/lib" | uniq -d)" != "" ]; then
    echo "FAIL: a probe placed twice with different arguments:" >&2
    cut -d' ' -f1 "$tmp/lib" | uniq -d >&2
    exit 1
fi

# Table rows of the doc: | `name` | argc | ...
sed -n 's/^| `\([a-z_]*\)` | \([0-6]\) |.*/\1 \2/p' "$doc" | sort -u \
    >"$tmp/doc"

if ! diff -u "$tmp/doc" "$tmp/lib" >"$tmp/diff"; then
    echo "FAIL: the library's probes (+) differ from $doc's table (-):" >&2
    cat "$tmp/diff" >&2
    exit 1
fi
echo "ok: $(wc -l <"$tmp/lib") probes, as doc/tracing.md lists them"
