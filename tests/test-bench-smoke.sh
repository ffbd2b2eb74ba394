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
# "memory": the topology figures must carry memory per region (a plain
# build); "no-memory": a sanitizer's allocator hides the heap's use.
memory=${3:-memory}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$bench" --quick --json >"$tmp/out.json"

"$python" - "$tmp/out.json" "$memory" <<'PY'
import json, math, re, sys

ALLOWED = {"record", "run", "bench", "size", "regions", "threads", "mode",
           "ns_per_op", "bytes_per_s", "msgs_per_op", "baseline",
           "baseline_ns_per_op", "ratio", "bytes_per_region",
           "rss_bytes_per_region"}
META = {"record", "library_version", "commit", "run", "cpu_model", "cpus",
        "date"}
failures = []

def fail(msg):
    failures.append(msg)

records = []
with open(sys.argv[1]) as f:
    for n, line in enumerate(f, 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            sys.exit(f"line {n} is not JSON: {e}: {line!r}")
        if not isinstance(obj, dict):
            sys.exit(f"line {n} is not a JSON object: {line!r}")
        records.append(obj)
if not records:
    sys.exit("no output")

# The metadata record comes first, once, and says this was a quick run.
meta, figures = records[0], records[1:]
if meta.get("record") != "meta" or set(meta) != META:
    fail(f"first record is not the metadata record: {meta!r}")
for key in META - {"cpus"}:
    if not isinstance(meta.get(key), str) or not meta.get(key):
        fail(f"metadata {key} is empty or not text: {meta.get(key)!r}")
if meta.get("run") != "quick":
    fail(f"metadata says run {meta.get('run')!r}, not quick")
if not re.fullmatch(r"\d+\.\d+\.\d+", meta.get("library_version", "")):
    fail(f"library_version {meta.get('library_version')!r}")
if not re.match(r"\d{4}-\d\d-\d\dT", meta.get("date", "")):
    fail(f"date {meta.get('date')!r} is not ISO 8601")

for obj in figures:
    name = f"{obj.get('bench')}/{obj.get('mode')}/{obj.get('size')}"
    extra = set(obj) - ALLOWED
    if extra:
        fail(f"{name}: unexpected keys {sorted(extra)}")
    if obj.get("record") != "figure" or obj.get("run") != "quick":
        fail(f"{name}: not a figure record of a quick run")
    if not isinstance(obj.get("bench"), str):
        fail(f"{name}: no bench name")
    ns = obj.get("ns_per_op")
    if not isinstance(ns, (int, float)) or not ns > 0 or math.isinf(ns):
        fail(f"{name}: ns_per_op {ns!r} is not a positive number")
        continue
    if "bytes_per_s" in obj:
        want = obj["size"] / ns * 1e9
        if not math.isclose(obj["bytes_per_s"], want, rel_tol=1e-3):
            fail(f"{name}: bytes_per_s {obj['bytes_per_s']} != size / time")
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

for regions in (100, 1000):
    for bench, mode in (("topology-fill", "one"), ("topology-drain", "one"),
                        ("topology-add", "one"), ("topology-add", "batch"),
                        ("topology-remove", "one"),
                        ("topology-remove", "batch")):
        got = find(bench, mode=mode, regions=regions)
        if not got:
            fail(f"{bench} {mode} at {regions} regions missing")
        elif "baseline_ns_per_op" not in got[0]:
            fail(f"{bench} {mode} at {regions} regions: no baseline")
    if not find("topology-lookup", mode="hot", regions=regions):
        fail(f"topology-lookup hot at {regions} regions missing")
    fill = find("topology-fill", mode="one", regions=regions)
    if fill and sys.argv[2] == "memory" and \
            not fill[0].get("bytes_per_region", 0) > 0:
        fail(f"topology-fill at {regions}: no memory per region")

if failures:
    sys.exit("\n".join(failures))
print(f"ok: {len(figures)} figures")
PY

# Fails, showing FILE, unless a line of FILE matches the regex PATTERN.
# usage: expect_line PATTERN FILE MESSAGE
expect_line() {
    grep -qE "$1" "$2" && return 0
    echo "$3:" >&2
    cat "$2" >&2
    exit 1
}

# The table and the plot, on one small group.
"$bench" --quick --only=ram --plot="$tmp/plot.svg" >"$tmp/table.txt" \
    2>"$tmp/plot.err"
table=$tmp/table.txt
expect_line '^bench ' "$table" "no table header"
# A quick run says so, and judges no target.
expect_line '^dms-bench .*QUICK' "$table" \
    "the table does not say it is a quick run"
if grep -qE 'MISSED|target.* missed| ok$' "$table"; then
    echo "a quick run judged targets:" >&2
    cat "$table" >&2
    exit 1
fi
expect_line '^quick run: targets not judged' "$table" \
    "no 'targets not judged' line after a quick run"
# Times carry their unit, scaled: no bare "ns/op" column of raw numbers.
expect_line '^ram-read .* [0-9.]+ (ns|µs|ms) ' "$table" \
    "no scaled time in the ram-read rows"
if command -v gnuplot >/dev/null 2>&1; then
    grep -q '<svg' "$tmp/plot.svg" || {
        echo "gnuplot is installed but no SVG was drawn:" >&2
        cat "$tmp/plot.err" >&2
        exit 1
    }
    expect_line 'QUICK run' "$tmp/plot.svg" \
        "the plot of a quick run does not say so"
else
    expect_line 'gnuplot is not installed' "$tmp/plot.err" \
        "no gnuplot and no message saying so"
fi
echo "ok: table and plot"
