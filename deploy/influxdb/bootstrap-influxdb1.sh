#!/bin/sh
# InfluxDB 1.x for schoolnet-audit: database, retention policy, least-privilege users.
# Idempotent: run it again to change passwords or the retention period.
#
#   INFLUX_ADMIN_PASSWORD=... COLLECTOR_PASSWORD=... READER_PASSWORD=... \
#       GRAFANA_PASSWORD=... deploy/influxdb/bootstrap-influxdb1.sh
#
# Needs [http] auth-enabled = true in influxdb.conf (the first admin user may
# be created before any user exists; everything after runs as that admin).
# Passwords are read from the environment and handed to curl on its standard
# input (-K -), never as arguments: a command line is visible to every user
# of the host (ps, /proc/PID/cmdline).
# Environment (defaults in brackets):
#   INFLUX_URL [http://127.0.0.1:8086]  INFLUX_ADMIN [admin]  INFLUX_ADMIN_PASSWORD
#   INFLUX_DB [schoolnet]  RETENTION [400d: a school year plus a term, for year-on-year]
#   RETENTION_POLICY [schoolnet]  (the default policy; the collector needs no rp setting)
#   COLLECTOR_USER [collector]  COLLECTOR_PASSWORD  WRITE: the collector's [storage]
#       username/password; stores readings and the compliance verdicts
#   READER_USER [reader]        READER_PASSWORD     READ: the collector's [storage]
#       read_username/read_password (evaluate, report)
#   GRAFANA_USER [grafana]      GRAFANA_PASSWORD    READ: Grafana's datasource
# InfluxDB 1.x grants per database, not per measurement: a separate account
# for the compliance verdicts could write readings too, so the writer stores
# both. Reading is split from writing, and the collector's reader from
# Grafana's, so each secret lives on one host and can be changed alone.
set -eu
URL=${INFLUX_URL:-http://127.0.0.1:8086}
ADMIN=${INFLUX_ADMIN:-admin}
DB=${INFLUX_DB:-schoolnet}
RETENTION=${RETENTION:-400d}
# One named policy whose duration changes in place, so no data is stranded
# in an old policy when the retention period is changed.
RP=${RETENTION_POLICY:-schoolnet}
COLLECTOR=${COLLECTOR_USER:-collector}
READER=${READER_USER:-reader}
GRAFANA=${GRAFANA_USER:-grafana}
: "${INFLUX_ADMIN_PASSWORD:?set INFLUX_ADMIN_PASSWORD}"
: "${COLLECTOR_PASSWORD:?set COLLECTOR_PASSWORD}"
: "${READER_PASSWORD:?set READER_PASSWORD}"
: "${GRAFANA_PASSWORD:?set GRAFANA_PASSWORD}"
NL='
'
for pw in "$INFLUX_ADMIN_PASSWORD" "$COLLECTOR_PASSWORD" "$READER_PASSWORD" "$GRAFANA_PASSWORD"; do
    case $pw in *"$NL"*) echo "a password contains a line break: choose another" >&2; exit 2 ;; esac
done

# A value inside a double-quoted curl config string: \ and " escaped.
curlquote() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
# Passwords go inside single-quoted InfluxQL strings.
quote() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
# A statement as it may be shown in an error: password literals hidden.
shown() { printf '%s' "$1" | sed "s/PASSWORD '.*'/PASSWORD '***'/; s/ = '.*'/ = '***'/"; }

# q "STATEMENT" [auth]: run InfluxQL, fail on an HTTP or statement error.
# printf is a shell builtin, so the credentials and the statement reach
# curl through a pipe, not through any process's arguments.
q() {
    out=$({
        if [ "${2:-auth}" = auth ]; then
            printf 'user = "%s"\n' "$(curlquote "$ADMIN:$INFLUX_ADMIN_PASSWORD")"
        fi
        printf 'data-urlencode = "q=%s"\n' "$(curlquote "$1")"
    } | curl -sS --fail-with-body -K - -XPOST "$URL/query") || {
        echo "influxdb: $(shown "$1"): $out" >&2; return 1; }
    case $out in *'"error"'*) echo "influxdb: $(shown "$1"): $out" >&2; return 1 ;; esac
    printf '%s' "$out"
}

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
user "$READER" "$READER_PASSWORD" READ
user "$GRAFANA" "$GRAFANA_PASSWORD" READ
echo "database $DB (default retention policy $RP, $RETENTION); $COLLECTOR may write," \
     "$READER and $GRAFANA may read"
