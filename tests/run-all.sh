#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The test command of README.md, and what CI runs (.ci/run). On a fresh
# Debian 12 as root it installs what is missing, then builds and tests
# every configuration, each in its own directory under the build root:
#
#   gcc       gcc, -Dwerror=true, debugoptimized, -Ddocs=enabled: every
#             suite (unit, stress, abi, install, docs, model: the spin
#             models of tests/model/)
#   asan      clang, ASan + UBSan, -Dwerror=true, schedule points
#             (-Dsched_points=true, lib/sched-point.h): unit and stress
#   tsan      clang, TSan, -Dwerror=true, schedule points: stress and unit
#   valgrind  gcc, debug, -Dwerror=true: unit under valgrind memcheck
#   novfu     gcc, -Dvfio-user=disabled: unit and abi without the module
#   fuzz      clang, libFuzzer + ASan + UBSan: fuzz-space for 240 s without
#             a length ramp, the other four targets for 60 s each
#   cross     Debian's cross gcc, examples on: unit (with the remote-dma
#             demo and its protocol tests) and stress under qemu-user,
#             s390x and mipsel
#
# It stops at the first failure and ends with the line "N passed, N failed",
# counting test programs over every run (a failed configure or build
# counts as one failure).
#
# Environment:
#   DMS_BUILD_ROOT  where the build directories go (default ./_build-ci)
#   DMS_STAGES      the stages to run, in order (default: all, see STAGES)
#   DMS_JOBS        parallel compile and test jobs (default 2)
#   DMS_FUZZ_SECONDS, DMS_FUZZ_SPACE_SECONDS  fuzzing time per target
#                   (default 60; fuzz-space 240), see stage_fuzz
#   DMS_CROSS_STRESS_PERCENT  the share of the stress tests' rounds the
#                   cross stage runs under qemu-user (default 100)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$SRC"
BUILD_ROOT=${DMS_BUILD_ROOT:-$SRC/_build-ci}
JOBS=${DMS_JOBS:-2}

# shellcheck source=tests/ensure-packages.sh
. "$SRC/tests/ensure-packages.sh"

# Debian packages the stages need. Later stages add theirs here.
PACKAGES=(
    meson ninja-build pkg-config
    gcc g++ clang libclang-rt-14-dev llvm
    libglib2.0-dev libcmocka-dev
    valgrind
    gnuplot-nox
    systemtap-sdt-dev
    spin
)

# The stages, in order. Each is a function stage_NAME below.
STAGES=(gcc asan tsan valgrind)
# ---- hook: later stages -------------------------------------------------
# Fuzzing smoke runs, cross builds (s390x, mipsel) under qemu-user and a
# bench smoke run are added here: write stage_NAME with configure, build
# and run_tests (see the existing stages), append NAME to STAGES, and add
# the packages it needs (qemu-user, cross compilers...) to PACKAGES.
# -------------------------------------------------------------------------

# vfio-user: libdmaspace-vfio-user and its tests are built in every stage
# where libvfio-user is installed (it is not a Debian package: see
# doc/vfio-user.md; this script never builds it) and report SKIP where it
# is not. novfu builds and tests without the module (-Dvfio-user=disabled),
# so that a machine with libvfio-user also checks the build without it.
STAGES+=(novfu)

# fuzz and cross: see stage_fuzz and stage_cross below, doc/testing.md.
STAGES+=(fuzz cross)
PACKAGES+=(
    gcc-s390x-linux-gnu libc6-dev-s390x-cross
    gcc-mipsel-linux-gnu libc6-dev-mipsel-cross
    qemu-user-static
)

# The API reference (doc/api.md), built and checked in the gcc stage.
PACKAGES+=(doxygen)

passed=0
failed=0
skipped=0
stage_reports=()
current_stage=""

section() {
    printf '\n======== %s ========\n' "$*"
}

# Marks a failed step (configure, build, setup) and stops.
fail_step() {
    failed=$((failed + 1))
    echo "FAILED: [$current_stage] $*" >&2
    exit 1
}

finish() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1 # stopped by something that is not a test run
    fi
    section "Summary"
    if [ "${#stage_reports[@]}" -gt 0 ]; then
        printf '  %s\n' "${stage_reports[@]}"
    fi
    if [ "$rc" -ne 0 ]; then
        echo "  stopped in stage '$current_stage': see the messages above"
    fi
    [ "$skipped" -eq 0 ] || echo "  ($skipped skipped)"
    echo "$passed passed, $failed failed"
    if [ "$rc" -eq 0 ] && [ "$failed" -ne 0 ]; then
        exit 1
    fi
}
trap finish EXIT

# configure NAME [MESON OPTIONS...]: a fresh build directory
# BUILD_ROOT/NAME; the compilers come from CC and CXX.
configure() {
    local dir=$BUILD_ROOT/$1
    shift
    rm -rf "$dir"
    mkdir -p "$BUILD_ROOT"
    echo "--- meson setup $dir $* (CC=${CC:-cc} CXX=${CXX:-c++})"
    if ! meson setup "$dir" "$SRC" "$@" >"$dir.setup.log" 2>&1; then
        cat "$dir.setup.log"
        fail_step "meson setup"
    fi
}

# build NAME
build() {
    local dir=$BUILD_ROOT/$1
    echo "--- build $dir"
    if ! ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1; then
        cat "$dir.build.log"
        fail_step "build"
    fi
    # Warnings are errors in every stage; anything else worth seeing:
    grep -i 'warning' "$dir.build.log" || true
}

# run_tests NAME [MESON TEST OPTIONS...]: runs meson test, adds its summary
# to the totals, stops on a failure.
run_tests() {
    local dir=$BUILD_ROOT/$1
    shift
    local log=$dir/meson-logs/run-all-$current_stage.log
    local rc ok xfail fail xpass skip timeout

    echo "--- meson test $*"
    set +e
    meson test -C "$dir" --no-rebuild --print-errorlogs \
        --num-processes "$JOBS" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e

    summary_field() {
        awk -v key="$1" 'index($0, key ":") == 1 {
            sub(/^[^:]*: */, ""); n = $1 } END { print n + 0 }' "$log"
    }
    if ! grep -q '^Ok:' "$log"; then
        if [ "$rc" -eq 0 ] && grep -q 'No suitable tests defined' "$log"; then
            echo "(no tests in this selection)"
            stage_reports+=("$current_stage: no tests")
            return 0
        fi
        fail_step "meson test did not run (exit $rc)"
    fi
    ok=$(summary_field "Ok")
    xfail=$(summary_field "Expected Fail")
    fail=$(summary_field "Fail")
    xpass=$(summary_field "Unexpected Pass")
    skip=$(summary_field "Skipped")
    timeout=$(summary_field "Timeout")

    passed=$((passed + ok + xfail))
    failed=$((failed + fail + xpass + timeout))
    skipped=$((skipped + skip))
    stage_reports+=("$current_stage: $((ok + xfail)) passed, \
$((fail + xpass + timeout)) failed, $skip skipped")

    if [ "$rc" -ne 0 ] || [ $((fail + xpass + timeout)) -ne 0 ]; then
        # A non-zero exit with a clean summary still is a failure.
        [ $((fail + xpass + timeout)) -ne 0 ] || failed=$((failed + 1))
        echo "FAILED: [$current_stage] meson test $* (log: $log)" >&2
        exit 1
    fi
}

# ---- stages -------------------------------------------------------------

stage_gcc() {
    CC=gcc CXX=g++ configure gcc --buildtype=debugoptimized \
        -Dwerror=true -Dtests=enabled -Dexamples=enabled -Ddocs=enabled
    build gcc
    run_tests gcc
}

stage_novfu() {
    CC=gcc CXX=g++ configure novfu --buildtype=debugoptimized \
        -Dwerror=true -Dtests=enabled -Dexamples=enabled -Dvfio-user=disabled
    build novfu
    run_tests novfu --suite unit --suite abi
}

stage_asan() {
    CC=clang CXX=clang++ configure asan --buildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dwerror=true -Dtests=enabled -Dexamples=enabled -Dsched_points=true
    build asan
    local asan=detect_leaks=1:halt_on_error=1:abort_on_error=1
    asan+=:print_summary=1:detect_stack_use_after_return=1
    ASAN_OPTIONS=$asan UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_tests asan --suite unit --suite stress --timeout-multiplier 3
}

stage_tsan() {
    CC=clang CXX=clang++ configure tsan --buildtype=debugoptimized \
        -Db_sanitize=thread -Db_lundef=false \
        -Dwerror=true -Dtests=enabled -Dexamples=enabled -Dsched_points=true
    build tsan
    # Unit tests too: several are threaded (remote-dma, the engine, the
    # blockdev example). allocator_may_return_null: the bad-input tests
    # ask for impossible sizes and expect -ENOMEM, which TSan's allocator
    # would otherwise turn into a fatal report.
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1 \
        run_tests tsan --suite stress --suite unit --timeout-multiplier 3
}

stage_valgrind() {
    CC=gcc CXX=g++ configure valgrind --buildtype=debug \
        -Dwerror=true -Dtests=enabled -Dexamples=enabled
    build valgrind
    # The valgrind options are in tests/valgrind-wrap.sh.
    G_SLICE=always-malloc G_DEBUG=gc-friendly \
        run_tests valgrind --suite unit --timeout-multiplier 10 \
        --wrapper "$SRC/tests/valgrind-wrap.sh"
}

# ---- fuzz and cross (tests/fuzz/, .ci/cross-run.sh; doc/testing.md) ----

# fuzz: the libFuzzer binaries of tests/fuzz/ (clang, ASan + UBSan), each
# started from its committed seed corpus, two at a time (one per core):
# fuzz-space for DMS_FUZZ_SPACE_SECONDS (default 240) with no length ramp
# (-len_control=0), so that it reaches programs of hundreds of operations
# at once; the others for DMS_FUZZ_SECONDS each (default 60). Any crash,
# leak or model difference fails; the input is kept under
# BUILD_ROOT/fuzz/artifacts-*.
stage_fuzz() {
    local dir=$BUILD_ROOT/fuzz secs=${DMS_FUZZ_SECONDS:-60}
    local space_secs=${DMS_FUZZ_SPACE_SECONDS:-240}
    # fuzz-space first: it runs on one core while the rest take turns on
    # the other.
    local targets=(space proto sg dirty engine topology) t pids=() rc=0 i
    local -A pid_of=()

    CC=clang CXX=clang++ configure fuzz --buildtype=debugoptimized \
        -Db_lundef=false -Dwerror=true -Dfuzzing=enabled \
        -Dexamples=disabled -Dbench=disabled
    echo "--- build $dir (fuzz targets)"
    if ! ninja -C "$dir" -j "$JOBS" "${targets[@]/#/tests/fuzz/fuzz-}" \
        >"$dir.build.log" 2>&1; then
        cat "$dir.build.log"
        fail_step "build"
    fi

    # fuzz_one TARGET SECONDS [LIBFUZZER FLAGS...]
    fuzz_one() {
        local t=$1 s=$2
        shift 2
        # New inputs go to a scratch corpus; the committed one stays as is.
        rm -rf "$dir/corpus-$t" "$dir/artifacts-$t"
        mkdir -p "$dir/corpus-$t" "$dir/artifacts-$t"
        echo "--- fuzz-$t for $s s $*"
        "$dir/tests/fuzz/fuzz-$t" -max_total_time="$s" -max_len=4096 \
            -timeout=30 -print_final_stats=1 "$@" \
            -artifact_prefix="$dir/artifacts-$t/" \
            "$dir/corpus-$t" "$SRC/tests/fuzz/corpus-$t" \
            >"$dir/fuzz-$t.log" 2>&1
    }
    fuzz_one space "$space_secs" -len_control=0 &
    pid_of[space]=$!
    (
        for t in "${targets[@]:1}"; do
            fuzz_one "$t" "$secs" || exit 1
        done
    ) &
    pid_of[rest]=$!

    for i in space rest; do
        wait "${pid_of[$i]}" || rc=1
    done
    for t in "${targets[@]}"; do
        if [ -z "$(ls -A "$dir/artifacts-$t" 2>/dev/null)" ] &&
            grep -q '^Done' "$dir/fuzz-$t.log" 2>/dev/null; then
            passed=$((passed + 1))
            grep -E '^(Done|stat::number_of_executed_units)' \
                "$dir/fuzz-$t.log" | sed "s/^/fuzz-$t: /"
        else
            failed=$((failed + 1))
            rc=1
            if [ -f "$dir/fuzz-$t.log" ]; then
                tail -n 60 "$dir/fuzz-$t.log"
                echo "FAILED: fuzz-$t; the input is in $dir/artifacts-$t/;" \
                    "replay it with: $dir/tests/fuzz/fuzz-$t FILE" >&2
            else
                echo "NOT RUN: fuzz-$t (an earlier target failed)" >&2
            fi
        fi
    done
    stage_reports+=("fuzz: ${#targets[@]} targets (space $space_secs s, \
the others $secs s each), $rc failed")
    [ "$rc" -eq 0 ] || exit 1
}

# cross: the library, its tests and the examples built by Debian's cross
# compilers and run under qemu-user, on s390x (64-bit big-endian) and
# mipsel (32-bit, no native 64-bit atomics): the unit suite (with the
# remote-dma demo and its protocol and stall tests) and the stress suite.
# .ci/cross-run.sh builds the sysroots and the library.
stage_cross() {
    local arch
    mkdir -p "$BUILD_ROOT"
    for arch in ${DMS_CROSS_ARCHES:-s390x mipsel}; do
        echo "--- cross build for $arch"
        # A fresh build; the sysroot and its .deb cache are kept.
        rm -rf "$BUILD_ROOT/cross/build-$arch"
        if ! CROSS_DIR=$BUILD_ROOT/cross "$SRC/.ci/cross-run.sh" \
            --build-only "$arch" >"$BUILD_ROOT/cross-$arch.log" 2>&1; then
            tail -n 80 "$BUILD_ROOT/cross-$arch.log"
            fail_step "cross build for $arch"
        fi
        grep -iE 'warning|passed in|built in' \
            "$BUILD_ROOT/cross-$arch.log" || true
        # The stress tests' rounds scale with DMS_STRESS_PERCENT
        # (tests/stress-rounds.h): full counts take about 10 s per arch
        # here; a slower machine can pass DMS_CROSS_STRESS_PERCENT=25.
        DMS_STRESS_PERCENT=${DMS_CROSS_STRESS_PERCENT:-100} \
            run_tests "cross/build-$arch" --suite unit --suite stress \
            --timeout-multiplier 4
    done
}

# ---- main ---------------------------------------------------------------

if [ -n "${DMS_STAGES:-}" ]; then
    read -r -a STAGES <<<"$DMS_STAGES"
fi
for stage in "${STAGES[@]}"; do
    if ! declare -F "stage_$stage" >/dev/null; then
        current_stage=$stage
        fail_step "no such stage (have: $(declare -F |
            sed -n 's/^declare -f stage_//p' | tr '\n' ' '))"
    fi
done

current_stage=packages
section "Packages"
dms_ensure_packages "${PACKAGES[@]}" || fail_step "cannot install packages"
echo "$(meson --version 2>/dev/null | sed 's/^/meson /'), \
$(gcc --version | head -n 1), $(clang --version | head -n 1)"

for stage in "${STAGES[@]}"; do
    current_stage=$stage
    section "Stage $stage"
    start=$SECONDS
    "stage_$stage"
    echo "--- stage $stage done in $((SECONDS - start)) s"
done
current_stage="finished"
