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
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get update -q -y || return 1
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -q -y --no-install-recommends "${missing[@]}" ||
        return 1
}
