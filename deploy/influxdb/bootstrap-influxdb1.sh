#!/bin/sh
# InfluxDB 1.x for schoolnet-audit: database, retention policy, users.
# Idempotent: run it again to change passwords or the retention period.
#
#   INFLUX_ADMIN_PASSWORD=... COLLECTOR_PASSWORD=... GRAFANA_PASSWORD=... \
#       deploy/influxdb/bootstrap-influxdb1.sh
#
# Needs [http] auth-enabled = true in influxdb.conf (the first admin user may
# be created before any user exists; everything after runs as that admin).
# Environment (defaults in brackets):
#   INFLUX_URL [http://127.0.0.1:8086]  INFLUX_ADMIN [admin]  INFLUX_ADMIN_PASSWORD
#   INFLUX_DB [schoolnet]  RETENTION [400d: a school year plus a term, for year-on-year]
#   RETENTION_POLICY [schoolnet]  (the default policy; the collector needs no rp setting)
#   COLLECTOR_USER [collector]  COLLECTOR_PASSWORD   (WRITE on the database)
#   GRAFANA_USER [grafana]      GRAFANA_PASSWORD     (READ on the database)
set -eu
URL=${INFLUX_URL:-http://127.0.0.1:8086}
ADMIN=${INFLUX_ADMIN:-admin}
DB=${INFLUX_DB:-schoolnet}
RETENTION=${RETENTION:-400d}
# One named policy whose duration changes in place, so no data is stranded
# in an old policy when the retention period is changed.
RP=${RETENTION_POLICY:-schoolnet}
COLLECTOR=${COLLECTOR_USER:-collector}
GRAFANA=${GRAFANA_USER:-grafana}
: "${INFLUX_ADMIN_PASSWORD:?set INFLUX_ADMIN_PASSWORD}"
: "${COLLECTOR_PASSWORD:?set COLLECTOR_PASSWORD}"
: "${GRAFANA_PASSWORD:?set GRAFANA_PASSWORD}"

# q "STATEMENT" [auth]: run InfluxQL, fail on an HTTP or statement error.
q() {
    if [ "${2:-auth}" = auth ]; then set -- "$1" -u "$ADMIN:$INFLUX_ADMIN_PASSWORD"; else set -- "$1"; fi
    stmt=$1; shift
    out=$(curl -sS --fail-with-body "$@" -XPOST "$URL/query" --data-urlencode "q=$stmt") || {
        echo "influxdb: $stmt: $out" >&2; return 1; }
    case $out in *'"error"'*) echo "influxdb: $stmt: $out" >&2; return 1 ;; esac
    printf '%s' "$out"
}
# Passwords go inside single-quoted InfluxQL strings.
quote() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }

# The first admin may be created without credentials only while no user exists.
if ! q "SHOW USERS" >/dev/null 2>&1; then
    q "CREATE USER \"$ADMIN\" WITH PASSWORD '$(quote "$INFLUX_ADMIN_PASSWORD")' WITH ALL PRIVILEGES" noauth >/dev/null
    echo "created admin user $ADMIN"
fi

q "CREATE DATABASE \"$DB\"" >/dev/null
if q "SHOW RETENTION POLICIES ON \"$DB\"" | grep -q "\"$RP\""; then
    q "ALTER RETENTION POLICY \"$RP\" ON \"$DB\" DURATION $RETENTION DEFAULT" >/dev/null
else
    # Week-long shards: a school year is ~60 shards, cheap to drop as they age out.
    q "CREATE RETENTION POLICY \"$RP\" ON \"$DB\" DURATION $RETENTION REPLICATION 1 SHARD DURATION 7d DEFAULT" >/dev/null
fi

user() {  # user NAME PASSWORD PRIVILEGE
    if q "SHOW USERS" | grep -q "\"$1\""; then
        q "SET PASSWORD FOR \"$1\" = '$(quote "$2")'" >/dev/null
    else
        q "CREATE USER \"$1\" WITH PASSWORD '$(quote "$2")'" >/dev/null
    fi
    q "REVOKE ALL ON \"$DB\" FROM \"$1\"" >/dev/null
    q "GRANT $3 ON \"$DB\" TO \"$1\"" >/dev/null
}
user "$COLLECTOR" "$COLLECTOR_PASSWORD" WRITE
user "$GRAFANA" "$GRAFANA_PASSWORD" READ
echo "database $DB (default retention policy $RP, $RETENTION); $COLLECTOR may write, $GRAFANA may read"
