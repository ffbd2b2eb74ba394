# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# Sourced by tests/run-all.sh and examples/run-demo.sh.
#
# dms_ensure_packages PKG...: installs with apt-get the Debian packages
# among PKG that are not installed yet. When all are, it does nothing and
# needs neither root nor the network.

dms_package_installed() {
    dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null |
        grep -qx installed
}

dms_ensure_packages() {
    local missing=() pkg
    local -a as_root=()

    for pkg in "$@"; do
        dms_package_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    echo "Installing missing packages: ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: no apt-get; install these by hand: ${missing[*]}" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: not root and no sudo; as root run:" >&2
            echo "  apt-get install ${missing[*]}" >&2
            return 1
        fi
        as_root=(sudo)
    fi
    dms_apt_get "${as_root[@]}" update -q -y || return 1
    dms_apt_get "${as_root[@]}" install -q -y --no-install-recommends \
        "${missing[@]}" || return 1
}

# dms_apt_get [sudo] ARGS...: apt-get ARGS, waiting while another apt or
# dpkg holds its lock (unattended-upgrades on a fresh machine, a second
# build) instead of failing. apt's own DPkg::Lock::Timeout covers the dpkg
# lock for a while; the retry loop covers the lists lock of "update".
# DMS_APT_LOCK_WAIT: seconds to wait in all (default 900);
# DMS_APT_RETRY_DELAY: seconds between tries (default 5).
dms_apt_get() {
    local -a as_root=()
    local wait=${DMS_APT_LOCK_WAIT:-900} delay=${DMS_APT_RETRY_DELAY:-5}
    local tries log rc

    if [ "${1:-}" = sudo ]; then
        as_root=(sudo)
        shift
    fi
    # Counted in tries rather than clock seconds: exact with short delays.
    tries=$(awk -v w="$wait" -v d="$delay" 'BEGIN { print int(w / d) + 1 }')
    log=$(mktemp "${TMPDIR:-/tmp}/dms-apt.XXXXXX") || return 1
    while :; do
        # In an if, so that a caller's set -e does not stop us here.
        if {
            "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get -o DPkg::Lock::Timeout="${delay%.*}" "$@" 2>&1 |
                tee "$log"
            rc=${PIPESTATUS[0]}
            [ "$rc" -eq 0 ]
        }; then
            rm -f "$log"
            return 0
        fi
        if ! grep -qiE 'could not get lock|unable to acquire the dpkg frontend lock|unable to lock' "$log"; then
            rm -f "$log"
            return "$rc"
        fi
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "error: apt is still locked by another process after ${wait}s" >&2
            rm -f "$log"
            return "$rc"
        fi
        echo "apt is locked by another process; trying again in ${delay}s"
        sleep "$delay"
    done
}
