#!/bin/sh
# Installs what the integration tests need and is safe to run again:
# PostgreSQL, Debian's kamailio (dispatcher, permissions, xhttp, jsonrpcs are in
# the base package), sip-tester (SIPp), and schemathesis (the OpenAPI fuzzer of
# tests/it/api_failures.rs) in a Python venv under the cargo target directory.
# Nothing is installed when all are present.
set -eu

SCHEMATHESIS_VERSION=4.32.5
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/schemathesis"

missing=""
for pkg in postgresql kamailio sip-tester; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $pkg"
    fi
done
# A venv with pip needs Debian's python3-venv (ensurepip); schemathesis needs Python 3.11+.
if ! python3 -c 'import ensurepip, venv, sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    missing="$missing python3 python3-venv"
fi

if [ -n "$missing" ]; then
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
fi

# PIP_FIND_LINKS may name a directory of local wheels; pip reads it as it is.
if ! "$venv/bin/st" --version 2>/dev/null | grep -qx "st, version $SCHEMATHESIS_VERSION"; then
    echo "installing: schemathesis $SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    "$venv/bin/st" --version
fi
