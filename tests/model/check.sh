#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Checks one Promela model of tests/model/ with spin (doc/testing.md,
# "Models").
#
#   check.sh MODEL.pml safety|live:LTL holds [-DNAME...]
#   check.sh MODEL.pml safety|live:LTL finds 'WHAT' [-DNAME...]
#
# safety   spin -a, pan compiled with -DSAFETY: assertions, invalid end
#          states (deadlock, a waiter never woken), exhaustive search;
# live:P   the model with -DLIVE, pan -a -f -N P: acceptance cycles of
#          the LTL property P under weak fairness.
# holds    the search must be complete and find no error;
# finds    (a broken variant, made with the -D macros) the search must
#          find an error whose report contains WHAT ("assertion
#          violated", "invalid end state", "acceptance cycle"): the test
#          fails if spin passes the broken model.
# Exit 77 (meson: skipped) when spin or a C compiler is missing.
set -u

model=$1 mode=$2 expect=$3
shift 3
what=
if [ "$expect" = finds ]; then
    what=$1
    shift
fi

command -v spin >/dev/null 2>&1 || { echo "spin not installed: skipped"; exit 77; }
cc=${CC_FOR_PAN:-gcc}
command -v "$cc" >/dev/null 2>&1 || cc=cc
command -v "$cc" >/dev/null 2>&1 || { echo "no C compiler: skipped"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/dms-model.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cp "$model" "$dir/model.pml" || exit 1
cd "$dir" || exit 1

# Bounded: a depth limit well above what the models reach (pan says so
# if it is hit, and then "holds" fails), and a memory limit in MB.
depth=20000
pan_cflags="-O2 -w -DMEMLIM=1024 -DCOLLAPSE"
case $mode in
safety)
    spin_defs=
    pan_cflags="$pan_cflags -DSAFETY"
    pan_run="./pan -m$depth"
    ;;
live:*)
    spin_defs=-DLIVE
    pan_cflags="$pan_cflags -DNFAIR=3"
    pan_run="./pan -a -f -m$depth -N ${mode#live:}"
    ;;
*)
    echo "unknown mode $mode"
    exit 1
    ;;
esac

echo "== spin -a $spin_defs $* $(basename "$model")"
if ! spin -a $spin_defs "$@" model.pml >spin.log 2>&1; then
    cat spin.log
    echo "spin -a failed"
    exit 1
fi
# shellcheck disable=SC2086
if ! "$cc" $pan_cflags -o pan pan.c >cc.log 2>&1; then
    cat cc.log
    echo "compiling pan failed"
    exit 1
fi
echo "== $pan_run"
$pan_run >pan.log 2>&1
cat pan.log
errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log | tail -n 1)
if [ -z "$errors" ]; then
    echo "FAIL: pan did not finish"
    exit 1
fi

case $expect in
holds)
    if [ "$errors" != 0 ]; then
        [ -f model.pml.trail ] && spin -t -p -g $spin_defs "$@" model.pml | tail -n 60
        echo "FAIL: spin found an error in the model"
        exit 1
    fi
    if grep -q "max search depth too small" pan.log; then
        echo "FAIL: search incomplete (depth limit $depth)"
        exit 1
    fi
    echo "PASS: no error, search complete"
    ;;
finds)
    if [ "$errors" = 0 ]; then
        echo "FAIL: spin passed the broken model ($*): the model no longer tells this mutation from the protocol"
        exit 1
    fi
    if ! grep -q "$what" pan.log; then
        echo "FAIL: spin found an error, but not \"$what\""
        exit 1
    fi
    echo "PASS: spin finds the broken variant ($*): $what"
    ;;
*)
    echo "unknown expectation $expect"
    exit 1
    ;;
esac
exit 0
