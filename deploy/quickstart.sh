#!/usr/bin/env bash
# One command on a fresh Debian machine: install what is missing, start
# Mosquitto and InfluxDB on loopback, run the collector and one agent cycle
# against this machine's own interfaces, and show what was stored.
#   deploy/quickstart.sh           # everything stops again at the end
#   deploy/quickstart.sh --keep    # leave broker, database and collector running
#   deploy/quickstart.sh --stop    # stop what --keep left running
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/common.sh

KEEP=0
WORK=$(realpath -m "${QUICKSTART_DIR:-.quickstart}")
PIDFILE="$WORK/pids"
running_pids() {
    [ -f "$PIDFILE" ] || return 0
    while read -r pid; do
        if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
    done < "$PIDFILE"
}
case "${1:-}" in
    --keep) KEEP=1 ;;
    --stop)
        pids=$(running_pids)
        if [ -z "$pids" ]; then echo "nothing from a kept quickstart is running"; exit 0; fi
        # shellcheck disable=SC2086
        kill $pids && rm -f "$PIDFILE" && echo "stopped (pids" $pids")"
        exit 0 ;;
    "") ;;
    *) echo "unknown argument: $1 (use --keep or --stop)" >&2; exit 2 ;;
esac
# A kept run still uses $WORK: starting again would delete its data under it.
if [ -n "$(running_pids)" ]; then
    echo "a quickstart started with --keep is still running (pids $(running_pids | tr '\n' ' '))" \
        "from $WORK: stop it first with deploy/quickstart.sh --stop" >&2
    exit 1
fi
# shellcheck disable=SC2086
apt_install $BASE_PACKAGES
VENV=${VENV:-.venv}
make_venv "$VENV" "agent,collector"
PY="$(realpath "$VENV")/bin/python"

rm -rf "$WORK" && mkdir -p "$WORK"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port); INFLUX_PORT=$(free_port); RPC_PORT=$(free_port)

PIDS=()
cleanup() {
    if [ "$KEEP" -eq 0 ]; then
        for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
        wait 2>/dev/null || true
    else
        printf '%s\n' "${PIDS[@]}" > "$PIDFILE"
        cat <<DONE
== left running (pids ${PIDS[*]}), files in $WORK:
   broker     127.0.0.1:$MQTT_PORT (anonymous, no TLS)   log $WORK/mosquitto.log
   InfluxDB   http://127.0.0.1:$INFLUX_PORT, database schoolnet   log $WORK/influxd.log
   collector  config $WORK/collector.toml   log $WORK/collector.log
== next:
   $PY -m agent.cli status -c $WORK/agent.toml        # the agent's checks, end to end
   $PY -m agent.cli run -c $WORK/agent.toml           # the agent as a daemon (Ctrl-C stops it)
   influx -port $INFLUX_PORT -database schoolnet -execute 'SELECT * FROM wan_link'
== stop everything: deploy/quickstart.sh --stop
DONE
    fi
}
trap cleanup EXIT

cat > "$WORK/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $WORK/
# Keep root's rights for this throwaway demo dir (Mosquitto would otherwise
# drop to its own user and fail to save its database here).
user root
max_queued_messages 0
CONF
mosquitto -c "$WORK/mosquitto.conf" > "$WORK/mosquitto.log" 2>&1 &
PIDS+=($!)

cat > "$WORK/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$RPC_PORT"
[meta]
  dir = "$WORK/influxdb/meta"
[data]
  dir = "$WORK/influxdb/data"
  wal-dir = "$WORK/influxdb/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
CONF
influxd run -config "$WORK/influxdb.conf" > "$WORK/influxd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$INFLUX_PORT/ping" >/dev/null && break
    sleep 0.2
done
curl -sf -XPOST "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode "q=CREATE DATABASE schoolnet" >/dev/null

sed -e "s/^port = 1883/port = $MQTT_PORT/" \
    -e "s#^url = \"http://127.0.0.1:8086\"#url = \"http://127.0.0.1:$INFLUX_PORT\"#" \
    -e "s/^stats_interval_seconds = 60/stats_interval_seconds = 5/" \
    -e "s#^state_file = \"/var/lib/schoolnet-collector/alerts.json\"#state_file = \"$WORK/alerts.json\"#" \
    -e "s#^file = \"schools.example.csv\"#file = \"$PWD/configs/schools.example.csv\"#" \
    -e "s#^file = \"targets.toml\"#file = \"$PWD/configs/targets.toml\"#" \
    configs/collector.example.toml > "$WORK/collector.toml"
sed -e 's/^host = "mqtt.edu.example.cn"/host = "127.0.0.1"/' \
    -e "s/^port = 8883 /port = $MQTT_PORT /" -e 's/^tls = true/tls = false/' \
    -e "s#^state_dir = \"/var/lib/schoolnet-agent\"#state_dir = \"$WORK/agent-state\"#" \
    configs/agent.example.toml > "$WORK/agent.toml"

"$PY" -m collector.cli run -c "$WORK/collector.toml" > "$WORK/collector.log" 2>&1 &
PIDS+=($!)
echo "== broker 127.0.0.1:$MQTT_PORT, InfluxDB http://127.0.0.1:$INFLUX_PORT, collector running"
echo "== one agent cycle (schoolnet-agent once --publish):"
"$PY" -m agent.cli once -c "$WORK/agent.toml" --probe wan_link --publish

query() {
    influx -host 127.0.0.1 -port "$INFLUX_PORT" -database schoolnet -precision rfc3339 \
        -execute "$1"
}
# The agent returns once the collector confirmed its readings; its offline
# status follows a moment later.
for _ in $(seq 50); do
    query "SELECT count(online) FROM agent_status WHERE state = 'offline'" | grep -q count && break
    sleep 0.2
done
echo "== stored in InfluxDB (database schoolnet):"
query 'SELECT * FROM wan_link'
query 'SELECT * FROM probe_run'
query 'SELECT * FROM agent_status'
# Asked again a few times: a busy influxd can answer a query empty once.
for _ in $(seq 10); do
    stored=$(query 'SELECT count(*) FROM wan_link' 2>&1) && grep -q count <<<"$stored" && break
    sleep 0.5
done
grep -q count <<<"$stored" || {
    echo "nothing was stored (InfluxDB answered: ${stored:-nothing}); see $WORK/collector.log" >&2
    exit 1
}
