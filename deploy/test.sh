#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run
# lint, type and layer checks and the whole suite against real services.
#   deploy/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/common.sh

# Test peers: real brokers, databases and network tools, all from Debian.
TEST_PACKAGES="victoria-metrics iperf3 iproute2 iputils-ping util-linux chromium fonts-wqy-zenhei radvd dnsmasq-base openssl snmpd snmp iw nftables"
# Deployment tests: systemd-analyze (unit checks), openssl (broker certificates),
# shellcheck (the shipped shell scripts).
TEST_PACKAGES="$TEST_PACKAGES systemd openssl shellcheck"
# shellcheck disable=SC2086
apt_install $BASE_PACKAGES $TEST_PACKAGES

VENV=${VENV:-.venv}
make_venv "$VENV" "agent,collector,alerts,ipv6,snmp,wifi-sniff,test"
export PATH="$(realpath "$VENV")/bin:$PATH"

ruff check agent collector tests
mypy
lint-imports --no-logo   # the layers (pyproject.toml [tool.importlinter])
exec pytest "$@"
