#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run
# lint, type and layer checks and the whole suite against real services.
#   deploy/test.sh [pytest args]
# A first run downloads about 150 MB of packages and wheels; the whole suite
# then takes about 20 minutes on 2 cores.
set -euo pipefail
phase() { echo "== deploy/test.sh: $*"; }
cd "$(dirname "$0")/.."
. deploy/common.sh

# Test peers: real brokers (Mosquitto; ejabberd as a second MQTT 5 broker),
# databases and network tools, all from Debian.
TEST_PACKAGES="victoria-metrics ejabberd iperf3 irtt iproute2 iputils-ping util-linux chromium fonts-wqy-zenhei radvd dnsmasq-base openssl snmpd snmp iw nftables"
# Deployment tests: systemd-analyze (unit checks), openssl (broker certificates)
# and shellcheck (the shipped shell scripts).
TEST_PACKAGES="$TEST_PACKAGES systemd openssl shellcheck"
phase "1/5 Debian packages (test peers: brokers, databases, network tools)"
had_ejabberd=$(dpkg-query -W -f='${Status}' ejabberd 2>/dev/null || true)
# shellcheck disable=SC2086
apt_install $BASE_PACKAGES $TEST_PACKAGES
# The tests start their own ejabberd instances; the package's system one,
# enabled on install, would take ports 1883 and 5222 at the next boot.
case $had_ejabberd in
    *"install ok installed"*) ;;
    *) systemctl disable --now ejabberd >/dev/null 2>&1 || true ;;
esac

VENV=${VENV:-.venv}
phase "2/5 Python environment $VENV"
make_venv "$VENV" "agent,collector,alerts,ipv6,snmp,wifi-sniff,test"
PATH="$(realpath "$VENV")/bin:$PATH"
export PATH

phase "3/5 ruff"
ruff check agent collector tests
phase "4/5 mypy and lint-imports"
mypy
lint-imports --no-logo   # the layers (pyproject.toml [tool.importlinter])
phase "5/5 pytest $*"
exec pytest "$@"
