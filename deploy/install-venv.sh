# Sourced by install-agent.sh and install-collector.sh (POSIX sh): the venv both make.
# shellcheck shell=sh

# install_venv PREFIX EXTRA: a venv at $D$PREFIX with ${SOURCE}[EXTRA] in it.
install_venv() {
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
        echo "Python >= 3.10 is needed (Debian 12 has 3.11)" >&2; exit 1; }
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        if [ -n "$D" ] || ! command -v apt-get >/dev/null; then
            echo "python3-venv is missing: apt-get install python3-venv" >&2
            exit 1
        fi
        apt-get install -y -q python3-venv
    fi
    say "creating $D$1"
    python3 -m venv "$D$1"
    # shellcheck disable=SC2086  # PIP_OPTS is a list of options
    "$D$1/bin/pip" install -q --disable-pip-version-check ${PIP_OPTS:-} "${SOURCE}[$2]"
}
