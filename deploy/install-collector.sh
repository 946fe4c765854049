#!/bin/sh
# Install (or remove) the schoolnet-audit collector at a network centre (Debian-like).
#
#   sudo deploy/install-collector.sh                    # from this checkout (pip fetches deps)
#   sudo deploy/install-collector.sh --source FILE.whl  # from a wheel
#   sudo deploy/install-collector.sh --uninstall        # remove the program, keep config and state
#   sudo deploy/install-collector.sh --uninstall --purge   # ... and the config and alert state
#
# Environment:
#   DESTDIR    stage into this root instead of / (no group, no systemctl; for
#              packaging and tests; the venv is only usable from inside DESTDIR)
#   PIP_OPTS   extra pip options, e.g. "--no-index --find-links /media/usb/wheels"
#
# Layout: venv /opt/schoolnet-collector, command /usr/local/bin/schoolnet-collector,
# config /etc/schoolnet/collector.toml (never overwritten; root:schoolnet 0640,
# also when it exists: it holds the broker and database passwords), targets
# /etc/schoolnet/targets.toml (kept when present), the registry expected at
# /etc/schoolnet/schools.csv, units schoolnet-collector.service,
# schoolnet-collector@.service and schoolnet-reflector.service (installed, not
# enabled: a centre that answers schools' path_quality probes enables it), group schoolnet (the units' SupplementaryGroups),
# alert state in /var/lib/schoolnet-collector (the units' StateDirectory).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
CHECKOUT=$(dirname "$HERE")
# shellcheck source=deploy/install-venv.sh
. "$HERE/install-venv.sh"
D=${DESTDIR:-}
PREFIX=/opt/schoolnet-collector
CONF_DIR=/etc/schoolnet
CONF=$CONF_DIR/collector.toml
UNIT_DIR=/etc/systemd/system
UNITS="schoolnet-collector.service schoolnet-collector@.service schoolnet-reflector.service"
SYSUSERS=/usr/lib/sysusers.d/schoolnet-collector.conf
LINK=/usr/local/bin/schoolnet-collector
GROUP=schoolnet

SOURCE=$CHECKOUT
MODE=install
PURGE=0
while [ $# -gt 0 ]; do
    case $1 in
        --source) SOURCE=$2; shift 2 ;;
        --uninstall) MODE=uninstall; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "schoolnet-collector: $*"; }
# systemctl only on a live system booted with systemd, never when staging.
live_systemd() { [ -z "$D" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

if [ "$(id -u)" -ne 0 ] && [ -z "$D" ]; then
    echo "run as root (sudo $0)" >&2
    exit 1
fi

if [ "$MODE" = uninstall ]; then
    if live_systemd; then
        systemctl disable --now schoolnet-collector.service 'schoolnet-collector@*.service' \
            schoolnet-reflector.service 2>/dev/null || true
    fi
    for unit in $UNITS; do rm -f "$D$UNIT_DIR/$unit"; done
    rm -f "$D$LINK" "$D$SYSUSERS"
    rm -rf "$D$PREFIX"
    if [ "$PURGE" -eq 1 ]; then
        rm -f "$D$CONF" "$D$CONF_DIR/targets.toml"
        rm -rf "$D/var/lib/schoolnet-collector" "$D/var/lib/private/schoolnet-collector"
        rmdir "$D$CONF_DIR" 2>/dev/null || true  # shared with an agent on the same host
    else
        say "kept $D$CONF and the alert state (--purge removes them)"
    fi
    if live_systemd; then systemctl daemon-reload; fi
    say "removed"
    exit 0
fi

install_venv "$PREFIX" collector
install -m 0644 "$CHECKOUT/README.md" "$D$PREFIX/README.md" 2>/dev/null || true

install -d -m 0755 "$D$CONF_DIR"
FRESH=0
if [ -e "$D$CONF" ]; then
    say "keeping the existing $D$CONF"
else
    # The example's relative paths, made absolute under /etc/schoolnet.
    (umask 077 && sed -e "s#^file = \"schools.example.csv\"#file = \"$CONF_DIR/schools.csv\"#" \
        -e "s#^file = \"targets.toml\"#file = \"$CONF_DIR/targets.toml\"#" \
        "$CHECKOUT/configs/collector.example.toml" > "$D$CONF.new")
    mv "$D$CONF.new" "$D$CONF"
    FRESH=1
    say "wrote $D$CONF: set the broker and database accounts; put the school registry" \
        "at $CONF_DIR/schools.csv"
fi
# It holds the broker and database passwords: readable by the service's group only.
chmod 0640 "$D$CONF"
if [ ! -e "$D$CONF_DIR/targets.toml" ]; then
    install -m 0644 "$CHECKOUT/configs/targets.toml" "$D$CONF_DIR/targets.toml"
fi
install -d -m 0755 "$D$UNIT_DIR" "$D$(dirname "$SYSUSERS")" "$D$(dirname "$LINK")"
for unit in $UNITS; do install -m 0644 "$HERE/systemd/$unit" "$D$UNIT_DIR/$unit"; done
printf 'g %s -\n' "$GROUP" > "$D$SYSUSERS"
ln -sf "$PREFIX/bin/schoolnet-collector" "$D$LINK"

if [ -z "$D" ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$SYSUSERS"
    else
        groupadd -f "$GROUP"
    fi
    chown "root:$GROUP" "$CONF"
fi

if live_systemd; then
    systemctl daemon-reload
    systemctl enable schoolnet-collector.service
    if [ "$FRESH" -eq 0 ] && "$PREFIX/bin/schoolnet-collector" check-config -c "$CONF" >/dev/null 2>&1; then
        systemctl restart schoolnet-collector.service
        say "running; see: systemctl status schoolnet-collector; journalctl -u schoolnet-collector"
    else
        say "edit $CONF, check it with 'schoolnet-collector check-config -c $CONF'," \
            "then: systemctl start schoolnet-collector"
    fi
else
    say "installed into ${D:-/}; start it with your init system (no systemd found)"
fi
