#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/ensure-packages.sh against fake dpkg-query and apt-get: it waits
# while apt is locked by another process and then installs, fails at once
# on any other apt error, gives up when the lock outlives the wait, and
# does nothing when every package is installed.
#
# usage: test-ensure-packages.sh SOURCE_DIR
set -euo pipefail

src=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/dms-ensure.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

mkdir -p "$work/bin"
# dpkg-query: packages named in $work/installed are installed.
cat >"$work/bin/dpkg-query" <<'FAKE'
#!/usr/bin/env bash
pkg=${!#}
if grep -qx "$pkg" "$FAKE_DIR/installed" 2>/dev/null; then
    echo installed
else
    echo not-installed
fi
FAKE
# apt-get: logs its arguments; the first $FAKE_LOCKED calls fail as a
# locked apt does; $FAKE_OTHER_ERROR makes it fail another way.
cat >"$work/bin/apt-get" <<'FAKE'
#!/usr/bin/env bash
echo "$*" >>"$FAKE_DIR/calls"
n=$(wc -l <"$FAKE_DIR/calls")
if [ -n "${FAKE_OTHER_ERROR:-}" ]; then
    echo "E: Unable to locate package nosuchpkg" >&2
    exit 100
fi
if [ "$n" -le "${FAKE_LOCKED:-0}" ]; then
    echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
    exit 100
fi
case "$*" in
*install*) echo "${!#}" >>"$FAKE_DIR/installed" ;;
esac
exit 0
FAKE
chmod +x "$work/bin/dpkg-query" "$work/bin/apt-get"

run() {
    rm -f "$work/calls" "$work/installed"
    (
        export PATH="$work/bin:$PATH" FAKE_DIR=$work
        export DMS_APT_RETRY_DELAY=0.05 "$@"
        # shellcheck source=tests/ensure-packages.sh
        . "$src/tests/ensure-packages.sh"
        # As run-all.sh and run-demo.sh use it: set -e and pipefail on.
        set -euo pipefail
        # Root or not, the fake apt-get is what runs.
        if [ "$(id -u)" -ne 0 ]; then
            sudo() { "$@"; }
            export -f sudo
        fi
        dms_ensure_packages fakepkg
    ) >"$work/out" 2>&1
}

calls() {
    [ -f "$work/calls" ] && wc -l <"$work/calls" || echo 0
}

# Locked for three calls (update twice, install once), then free.
if run FAKE_LOCKED=3; then
    [ "$(calls)" -eq 5 ] || fail "locked apt: $(calls) apt-get calls, want 5"
    grep -qx fakepkg "$work/installed" || fail "locked apt: nothing installed"
    grep -q "trying again" "$work/out" || fail "locked apt: no message"
else
    fail "ensure_packages gave up on a lock that was released"
    cat "$work/out" >&2
fi

# Another error: no retry.
if run FAKE_OTHER_ERROR=1; then
    fail "ensure_packages succeeded although apt-get failed"
fi
[ "$(calls)" -eq 1 ] || fail "apt error: $(calls) apt-get calls, want 1"

# A lock that outlives the wait: fails, after a few tries.
if run FAKE_LOCKED=1000000 DMS_APT_LOCK_WAIT=0.2; then
    fail "ensure_packages succeeded although apt stayed locked"
fi
grep -q "still locked" "$work/out" || fail "stuck lock: no message"
[ "$(calls)" -eq 5 ] || fail "stuck lock: $(calls) apt-get calls, want 5"

# Everything installed: apt-get is never run.
rm -f "$work/calls"
echo fakepkg >"$work/installed"
(
    export PATH="$work/bin:$PATH" FAKE_DIR=$work
    . "$src/tests/ensure-packages.sh"
    dms_ensure_packages fakepkg
) || fail "nothing to install, yet it failed"
[ ! -f "$work/calls" ] || fail "apt-get ran with nothing to install"

if [ "$failures" -ne 0 ]; then
    exit 1
fi
echo "ensure-packages ok"
