#!/bin/sh
# Installs what the integration tests need and is safe to run again:
# PostgreSQL, Debian's kamailio (dispatcher, permissions, xhttp, jsonrpcs are in
# the base package) and sip-tester (SIPp). Nothing is installed when all are present.
set -eu

missing=""
for pkg in postgresql kamailio sip-tester; do
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

# A PostgreSQL installed just now answers TCP logins with a password; the tests
# log in as postgres without one, on loopback only.
case "$missing" in
*postgresql*)
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
        grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" ||
            sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    done
    ;;
esac
