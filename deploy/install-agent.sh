#!/bin/sh
# Install (or remove) the schoolnet-audit agent on a Debian-like school gateway.
#
#   sudo deploy/install-agent.sh                       # from this checkout (pip fetches deps)
#   sudo deploy/install-agent.sh --source FILE.whl     # from a wheel
#   sudo deploy/install-agent.sh --extras snmp,ipv6    # these extras, not the config's
#   sudo deploy/install-agent.sh --extras none         # no extras at all
#   sudo deploy/install-agent.sh --uninstall           # remove everything
#   sudo deploy/install-agent.sh --uninstall --keep-spool   # ... but keep unsent readings
#
# Environment:
#   DESTDIR    stage into this root instead of / (no user, no systemctl; for
#              packaging and tests; the venv is only usable from inside DESTDIR)
#   PIP_OPTS   extra pip options, e.g. "--no-index --find-links /media/usb/wheels"
#              for gateways that cannot reach PyPI
#
# Layout: venv /opt/schoolnet-agent, config /etc/schoolnet/agent.toml (never
# overwritten; root:schoolnet-agent 0640, also when it exists), unit /etc/systemd/system/schoolnet-agent.service, spool
# /var/lib/schoolnet-agent, command /usr/local/bin/schoolnet-agent.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CHECKOUT=$(dirname "$HERE")
# shellcheck source=deploy/install-venv.sh
. "$HERE/install-venv.sh"
D=${DESTDIR:-}
PREFIX=/opt/schoolnet-agent
CONF_DIR=/etc/schoolnet
UNIT=/etc/systemd/system/schoolnet-agent.service
SYSUSERS=/usr/lib/sysusers.d/schoolnet-agent.conf
LINK=/usr/local/bin/schoolnet-agent
STATE=/var/lib/schoolnet-agent
USER_NAME=schoolnet-agent

SOURCE=$CHECKOUT
MODE=install
KEEP_SPOOL=0
EXTRAS=  # empty: what the config's enabled probes need
while [ $# -gt 0 ]; do
    case $1 in
        --source) SOURCE=$2; shift 2 ;;
        --extras) EXTRAS=$2; shift 2 ;;
        --uninstall) MODE=uninstall; shift ;;
        --keep-spool) KEEP_SPOOL=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "schoolnet-agent: $*"; }
# systemctl only on a live system booted with systemd, never when staging.
live_systemd() { [ -z "$D" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

if [ "$(id -u)" -ne 0 ] && [ -z "$D" ]; then
    echo "run as root (sudo $0)" >&2
    exit 1
fi

uninstall() {
    if live_systemd; then
        systemctl disable --now schoolnet-agent.service 2>/dev/null || true
    fi
    rm -f "$D$UNIT" "$D$LINK" "$D$SYSUSERS" "$D$CONF_DIR/agent.toml"
    rm -rf "$D$PREFIX" "$D$CONF_DIR/agent"
    rmdir "$D$CONF_DIR" 2>/dev/null || true  # shared with a collector on the same host
    if [ "$KEEP_SPOOL" -eq 1 ] && [ -d "$D$STATE" ]; then
        # Only the spool survives: unsent readings for a later reinstall.
        find "$D$STATE" -mindepth 1 ! -name 'spool.sqlite3*' -exec rm -rf {} +
        say "kept the spool in $D$STATE"
    else
        rm -rf "$D$STATE" "$D/var/lib/private/schoolnet-agent"
    fi
    if [ -z "$D" ] && id "$USER_NAME" >/dev/null 2>&1 && [ "$KEEP_SPOOL" -eq 0 ]; then
        userdel "$USER_NAME" 2>/dev/null || true
    fi
    if live_systemd; then systemctl daemon-reload; fi
    say "removed"
}

if [ "$MODE" = uninstall ]; then
    uninstall
    exit 0
fi

install_venv "$PREFIX" agent
# One distribution carries both commands; a gateway has no use for the collector's.
rm -f "$D$PREFIX/bin/schoolnet-collector"
install -m 0644 "$CHECKOUT/README.md" "$D$PREFIX/README.md" 2>/dev/null || true

install -d -m 0755 "$D$CONF_DIR"
install -d -m 0750 "$D$CONF_DIR/agent"  # certificates and keys go here
FRESH=0
if [ -e "$D$CONF_DIR/agent.toml" ]; then
    say "keeping the existing $D$CONF_DIR/agent.toml"
    # It holds the broker password: an older install or a copy by hand may
    # have left it readable by every user of the gateway.
    chmod 0640 "$D$CONF_DIR/agent.toml"
else
    # The config holds the broker password: readable by the agent's group only.
    install -m 0640 "$HERE/../configs/agent.example.toml" "$D$CONF_DIR/agent.toml"
    FRESH=1
    say "wrote $D$CONF_DIR/agent.toml: set the school id, region codes and broker account"
fi
# The optional packages the enabled probes need (pysnmp, dnspython, scapy ...),
# so that a probe the config enables does not fail at its first run.
if [ -z "$EXTRAS" ]; then
    EXTRAS=$("$D$PREFIX/bin/python" -m agent.extras "$D$CONF_DIR/agent.toml")
fi
if [ -n "$EXTRAS" ] && [ "$EXTRAS" != none ]; then
    say "installing extras $EXTRAS (for the probes $D$CONF_DIR/agent.toml enables; choose with --extras)"
    # shellcheck disable=SC2086
    "$D$PREFIX/bin/pip" install -q --disable-pip-version-check ${PIP_OPTS:-} "${SOURCE}[agent,$EXTRAS]"
    rm -f "$D$PREFIX/bin/schoolnet-collector"
fi
install -D -m 0644 "$HERE/systemd/schoolnet-agent.service" "$D$UNIT"
install -d -m 0755 "$D$(dirname "$SYSUSERS")" "$D$(dirname "$LINK")"
printf 'u %s - "schoolnet-audit agent" %s\n' "$USER_NAME" "$STATE" > "$D$SYSUSERS"
ln -sf "$PREFIX/bin/schoolnet-agent" "$D$LINK"

if [ -z "$D" ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$SYSUSERS"
    elif ! id "$USER_NAME" >/dev/null 2>&1; then
        useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin "$USER_NAME"
    fi
    chown -R "root:$USER_NAME" "$CONF_DIR/agent.toml" "$CONF_DIR/agent"
fi

if live_systemd; then
    systemctl daemon-reload
    systemctl enable schoolnet-agent.service
    # The example config is valid but names an example school: wait for the edit.
    if [ "$FRESH" -eq 0 ] && "$PREFIX/bin/schoolnet-agent" check-config -c "$CONF_DIR/agent.toml" >/dev/null 2>&1; then
        systemctl restart schoolnet-agent.service
        say "running; see: systemctl status schoolnet-agent; journalctl -u schoolnet-agent"
    else
        say "edit $CONF_DIR/agent.toml, check it with 'schoolnet-agent check-config -c" \
            "$CONF_DIR/agent.toml', then: systemctl start schoolnet-agent"
    fi
else
    say "installed into ${D:-/}; start it with your init system (no systemd found)"
fi
