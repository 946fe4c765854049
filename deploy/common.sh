# Shared by quickstart.sh and test.sh: install Debian packages and the project's venv.
# shellcheck shell=bash

# Debian packages the agent, the collector stack and the test peers need.
BASE_PACKAGES="python3 python3-venv python3-pip mosquitto mosquitto-clients influxdb influxdb-client curl"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "need root to install: ${missing[*]} (run with sudo)" >&2
        return 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    # Keep package scripts from starting system-wide daemons: the tests and
    # the quick start run their own instances on free loopback ports.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    [ "$made_policy" -eq 1 ] && rm -f "$policy"
    return 0
}

make_venv() {  # make_venv DIR EXTRAS
    local venv=$1 extras=$2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # pip's build chatter goes to a log, shown only if the install fails.
    "$venv/bin/pip" install -q -e ".[$extras]" > "$venv/pip-install.log" 2>&1 \
        || { cat "$venv/pip-install.log" >&2; return 1; }
}
