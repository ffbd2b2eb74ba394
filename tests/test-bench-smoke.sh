#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Smoke test of dms-bench: runs its quick mode and checks what can be
# checked without timing anything. Every JSON line parses and carries the
# documented keys; message counts are exact (1 request for a whole-run
# transfer of any size, size / 8 in 8-byte mode: 512 for 4 KiB); every
# expected figure is there. Times are only checked to be positive: this
# must pass on a loaded machine.
#
# usage: test-bench-smoke.sh DMS-BENCH PYTHON3
set -eu

bench=$1
python=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$bench" --quick --json >"$tmp/out.json"

"$python" - "$tmp/out.json" <<'PY'
import json, math, sys

ALLOWED = {"bench", "size", "regions", "threads", "mode", "ns_per_op",
           "gib_per_s", "msgs_per_op", "baseline_ns_per_op", "ratio"}
failures = []

def fail(msg):
    failures.append(msg)

figures = []
with open(sys.argv[1]) as f:
    for n, line in enumerate(f, 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            sys.exit(f"line {n} is not JSON: {e}: {line!r}")
        if not isinstance(obj, dict):
            sys.exit(f"line {n} is not a JSON object: {line!r}")
        figures.append(obj)
if not figures:
    sys.exit("no output")

for obj in figures:
    name = f"{obj.get('bench')}/{obj.get('mode')}/{obj.get('size')}"
    extra = set(obj) - ALLOWED
    if extra:
        fail(f"{name}: unexpected keys {sorted(extra)}")
    if not isinstance(obj.get("bench"), str):
        fail(f"{name}: no bench name")
    ns = obj.get("ns_per_op")
    if not isinstance(ns, (int, float)) or not ns > 0 or math.isinf(ns):
        fail(f"{name}: ns_per_op {ns!r} is not a positive number")
        continue
    if "gib_per_s" in obj:
        want = obj["size"] / ns * 1e9 / 2**30
        if not math.isclose(obj["gib_per_s"], want, rel_tol=1e-3):
            fail(f"{name}: gib_per_s {obj['gib_per_s']} != size / time")
    if ("ratio" in obj) != ("baseline_ns_per_op" in obj):
        fail(f"{name}: ratio without baseline or the other way round")
    if "ratio" in obj:
        want = obj["baseline_ns_per_op"] / ns
        if not math.isclose(obj["ratio"], want, rel_tol=1e-3):
            fail(f"{name}: ratio {obj['ratio']} != baseline / ns")

def find(bench, **keys):
    return [o for o in figures if o.get("bench") == bench and
            all(o.get(k) == v for k, v in keys.items())]

# Message counts: exact, in both directions.
for bench in ("message-read", "message-write"):
    for obj in find(bench):
        size, mode = obj.get("size"), obj.get("mode")
        want = {"whole": 1, "8-byte": -(-size // 8)}.get(mode)
        if want is None:
            fail(f"{bench}: unknown mode {mode!r}")
        elif obj.get("msgs_per_op") != want:
            fail(f"{bench} {mode} {size} B: {obj.get('msgs_per_op')} "
                 f"messages per transfer, want {want}")
    for mode, want in (("whole", 1), ("8-byte", 512)):
        if len(find(bench, size=4096, mode=mode)) != 1:
            fail(f"{bench} {mode} 4 KiB: missing or repeated")
        elif find(bench, size=4096, mode=mode)[0].get("msgs_per_op") != want:
            fail(f"{bench} {mode} 4 KiB: not {want} message(s)")

# The vfio-user group (only when libdmaspace-vfio-user is built): a 4 KiB
# and a 1 MiB transfer each take exactly one vfu_sgl_* call / message.
for bench in ("vfio-user-read", "vfio-user-write"):
    for obj in find(bench):
        if obj.get("msgs_per_op") != 1:
            fail(f"{bench} {obj.get('size')} B: {obj.get('msgs_per_op')} "
                 "messages per transfer, want 1")

# Every figure the issue asks for is there.
for regions in (8, 1024, 65536):
    if not find("lookup", regions=regions):
        fail(f"lookup over {regions} regions missing")
for size in (8, 64, 512, 4096, 65536):
    for bench in ("ram-read", "ram-write"):
        if not find(bench, size=size):
            fail(f"{bench} {size} B missing")
for size in (64, 512, 4096, 65536):
    for mode in ("to-device", "from-device"):
        if not find("map-bounce", size=size, mode=mode):
            fail(f"map-bounce {mode} {size} B missing")
for bench in ("map-direct", "threads-bounce", "threads-message"):
    if not find(bench):
        fail(f"{bench} missing")
for mode in ("budget-4k", "budget-1m", "budget-4k-async",
             "budget-4k-async-x4"):
    if not find("sg-read", size=65536, mode=mode):
        fail(f"sg-read {mode} missing")

if failures:
    sys.exit("\n".join(failures))
print(f"ok: {len(figures)} figures")
PY

# The table and the plot, on one small group.
"$bench" --quick --only=ram --plot="$tmp/plot.svg" >"$tmp/table.txt" \
    2>"$tmp/plot.err"
grep -q '^bench ' "$tmp/table.txt" || {
    echo "no table header in:" >&2
    cat "$tmp/table.txt" >&2
    exit 1
}
if command -v gnuplot >/dev/null 2>&1; then
    grep -q '<svg' "$tmp/plot.svg" || {
        echo "gnuplot is installed but no SVG was drawn:" >&2
        cat "$tmp/plot.err" >&2
        exit 1
    }
else
    grep -q 'gnuplot is not installed' "$tmp/plot.err" || {
        echo "no gnuplot and no message saying so" >&2
        exit 1
    }
fi
echo "ok: table and plot"
