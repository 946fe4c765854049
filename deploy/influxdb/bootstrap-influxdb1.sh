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
#   INFLUX_DB [schoolnet]  RETENTION [90d: raw readings, verdicts and roll-ups]
#   RETENTION_POLICY [schoolnet]  (the default policy; the collector needs no rp setting)
#   LONG_RETENTION [1830d: five school years]  LONG_POLICY [longterm]: hourly and
#       daily aggregates of the figures reports and year-on-year views use, written
#       by continuous queries (below) from the raw policy
#   COLLECTOR_USER [collector]  COLLECTOR_PASSWORD  WRITE: the collector's [storage]
#       username/password; stores readings and the compliance verdicts
#   READER_USER [reader]        READER_PASSWORD     READ: the collector's [storage]
#       read_username/read_password (evaluate, report)
#   GRAFANA_USER [grafana]      GRAFANA_PASSWORD    READ: Grafana's datasource
# InfluxDB 1.x grants per database, not per measurement: a separate account
# for the compliance verdicts could write readings too, so the writer stores
# both. Reading is split from writing, and the collector's reader from
# Grafana's, so each secret lives on one host and can be changed alone.
# Downsampling runs inside influxd (continuous queries), not in the collector:
# the database already holds every reading, a collector restart or a second
# collector instance cannot skip or double an aggregate, and nothing in the
# collector's hot path grows. Each query recomputes its recent periods at every
# run (RESAMPLE FOR: two days for daily aggregates, a day for roll-ups, three
# hours for the minute-level series), so readings a school's spool delivers late
# are counted within that; after a longer outage, rerun the query's SELECT ...
# INTO for the missed days (README, "Retention and downsampling").
set -eu
URL=${INFLUX_URL:-http://127.0.0.1:8086}
ADMIN=${INFLUX_ADMIN:-admin}
DB=${INFLUX_DB:-schoolnet}
RETENTION=${RETENTION:-90d}
LONG_RETENTION=${LONG_RETENTION:-1830d}
LONG_RP=${LONG_POLICY:-longterm}
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

if q "SHOW RETENTION POLICIES ON \"$DB\"" | grep -q "\"$LONG_RP\""; then
    q "ALTER RETENTION POLICY \"$LONG_RP\" ON \"$DB\" DURATION $LONG_RETENTION" >/dev/null
else
    q "CREATE RETENTION POLICY \"$LONG_RP\" ON \"$DB\" DURATION $LONG_RETENTION REPLICATION 1 SHARD DURATION 30d" >/dev/null
fi

# cq NAME PERIOD FOR FIELDS MEASUREMENT: PERIOD aggregates of the raw MEASUREMENT
# into $LONG_RP.MEASUREMENT_PERIOD, every tag kept, the last FOR recomputed at
# each run. Dropped and created again on every run, so a changed definition
# (or policy name) takes effect.
cq() {
    if q "SHOW CONTINUOUS QUERIES" | grep -q "\"$1\""; then
        q "DROP CONTINUOUS QUERY \"$1\" ON \"$DB\"" >/dev/null
    fi
    q "CREATE CONTINUOUS QUERY \"$1\" ON \"$DB\" RESAMPLE FOR $3 BEGIN SELECT $4 INTO \"$DB\".\"$LONG_RP\".\"$5_$2\" FROM \"$DB\".\"$RP\".\"$5\" GROUP BY time($2), * END" >/dev/null
}
lasts() { for f in "$@"; do printf 'last("%s") AS "%s", ' "$f" "$f"; done; }
# Verdicts and roll-ups (what reports and the overview read), then the
# figures behind them. Hourly queries look back 3 hours: the raw minute-level
# series are the bulk of the data, and rescanning a day of them every hour
# would cost more than the late readings are worth (backfill those instead).
cq schoolnet_compliance_1d 1d 2d "$(lasts status value threshold readings)count(\"status\") AS \"rounds\"" compliance
# The report's counts per county and school type: a day's last, so a report or a
# --compare at a date past the raw retention still has them.
cq schoolnet_indicator_rollup_1d 1d 2d 'last("counts") AS "counts"' indicator_rollup
cq schoolnet_rollup_1h 1h 1d "$(lasts schools pass fail inconclusive no_data pass_share fail_share inconclusive_share)last(\"no_data_share\") AS \"no_data_share\"" rollup
cq schoolnet_wan_throughput_1h 1h 3h 'mean("download_bps") AS "download_bps", max("download_bps") AS "download_max_bps", mean("upload_bps") AS "upload_bps", mean("rtt_seconds") AS "rtt_seconds", count("download_bps") AS "tests"' wan_throughput
cq schoolnet_wan_link_1h 1h 3h 'mean("rx_bps") AS "rx_bps", mean("tx_bps") AS "tx_bps", max("rx_peak_bps") AS "rx_peak_bps", max("tx_peak_bps") AS "tx_peak_bps", last("link_speed_mbps") AS "link_speed_mbps", last("contracted_mbps") AS "contracted_mbps"' wan_link
cq schoolnet_classroom_summary_1d 1d 2d 'mean("meeting_share") AS "meeting_share", min("min_speed_mbps") AS "min_speed_mbps", last("classrooms") AS "classrooms", last("classrooms_meeting") AS "classrooms_meeting"' classroom_summary
cq schoolnet_wifi_coverage_1d 1d 2d 'mean("coverage_share") AS "coverage_share", last("required_areas") AS "required_areas", last("covered_areas") AS "covered_areas"' wifi_coverage
cq schoolnet_ipv6_1d 1d 2d 'last("level") AS "level", max("level") AS "max_level"' ipv6

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
echo "database $DB (default retention policy $RP, $RETENTION; aggregates in $LONG_RP," \
     "$LONG_RETENTION); $COLLECTOR may write, $READER and $GRAFANA may read"
