#!/bin/sh
# Installs what the integration tests need and is safe to run again:
# Debian's kamailio (dispatcher, permissions, xhttp, jsonrpcs are in the base
# package) and sip-tester (SIPp). Nothing is installed when both are present.
set -eu

missing=""
for pkg in kamailio sip-tester; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086 # the package list is meant to split into words
$SUDO apt-get install -y -q --no-install-recommends $missing
