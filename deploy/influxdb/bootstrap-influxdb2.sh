#!/bin/sh
# InfluxDB 2.x for schoolnet-audit: bucket with retention, a write token and a
# read token for the collector, a DBRP mapping and a v1 read user so Grafana's
# InfluxQL dashboards work unchanged. Uses the `influx` 2.x CLI on the database host.
#
# NOT TESTED in this project's CI: no InfluxDB 2.x server can be installed on
# the test machine (Debian ships 1.6.7). The 1.x script next to it is tested.
# Commands follow the influx CLI 2.7 documentation.
#
#   INFLUX_TOKEN=<operator token> GRAFANA_PASSWORD=... deploy/influxdb/bootstrap-influxdb2.sh
# On a fresh server run `influx setup` first, interactively: it asks for the
# first user's password, which must not be given on a command line (visible
# to every user of the host in ps). For the same reason Grafana's password
# is sent to the server's API by curl reading it from its standard input.
# Environment (defaults in brackets): INFLUX_HOST [http://127.0.0.1:8086]
#   INFLUX_ORG [schoolnet]  BUCKET [schoolnet]  RETENTION [90d: raw readings]
#   LONG_BUCKET [schoolnet_longterm]  LONG_RETENTION [1830d]: hourly and daily
#       aggregates, written by the task in downsample.flux (the 1.x script uses
#       continuous queries; the measurement names are the same)
#   GRAFANA_USER [grafana] GRAFANA_PASSWORD: v1 user (InfluxQL) with read access
# The collector gets two tokens: write ([storage] token; readings and the
# compliance verdicts) and read ([storage] read_token; evaluate and report).
set -eu
export INFLUX_HOST="${INFLUX_HOST:-http://127.0.0.1:8086}"
ORG=${INFLUX_ORG:-schoolnet}
BUCKET=${BUCKET:-schoolnet}
RETENTION=${RETENTION:-90d}
LONG_BUCKET=${LONG_BUCKET:-schoolnet_longterm}
LONG_RETENTION=${LONG_RETENTION:-1830d}
GRAFANA=${GRAFANA_USER:-grafana}
: "${GRAFANA_PASSWORD:?set GRAFANA_PASSWORD}"
: "${INFLUX_TOKEN:?set INFLUX_TOKEN (an operator/all-access token; influx setup made one)}"
export INFLUX_TOKEN INFLUX_ORG="$ORG"

bucket_id() { influx bucket list --name "$BUCKET" --hide-headers | awk '{print $1}' | head -n 1; }
ID=$(bucket_id)
if [ -z "$ID" ]; then
    influx bucket create --name "$BUCKET" --retention "$RETENTION" --shard-group-duration 7d
    ID=$(bucket_id)
else
    influx bucket update --id "$ID" --retention "$RETENTION"
fi

long_id() { influx bucket list --name "$LONG_BUCKET" --hide-headers | awk '{print $1}' | head -n 1; }
LONG_ID=$(long_id)
if [ -z "$LONG_ID" ]; then
    influx bucket create --name "$LONG_BUCKET" --retention "$LONG_RETENTION" --shard-group-duration 30d
    LONG_ID=$(long_id)
else
    influx bucket update --id "$LONG_ID" --retention "$LONG_RETENTION"
fi
# The downsampling task, created once (delete it in the UI to have it made again).
if ! influx task list --hide-headers | grep -q schoolnet-downsample; then
    sed "s/\"BUCKET\"/\"$BUCKET\"/; s/\"LONG_BUCKET\"/\"$LONG_BUCKET\"/" \
        "$(dirname "$0")/downsample.flux" | influx task create --file /dev/stdin
fi
# InfluxQL reads the aggregates as retention policy "longterm", as on 1.x.
if ! influx v1 dbrp list --db "$BUCKET" --hide-headers | grep -q "$LONG_ID"; then
    influx v1 dbrp create --db "$BUCKET" --rp longterm --bucket-id "$LONG_ID"
fi

# Each token can do one thing with the bucket and nothing else.
influx auth create --description "schoolnet collector (write $BUCKET)" --write-bucket "$ID"
echo "^ put this token into collector.toml: [storage] kind = \"influxdb2\", token = ..."
influx auth create --description "schoolnet collector (read $BUCKET)" --read-bucket "$ID"
echo "^ put this token into collector.toml: [storage] read_token = ..."

# InfluxQL (Grafana, 1.x-style clients) reads the bucket as database/retention policy.
if ! influx v1 dbrp list --db "$BUCKET" --hide-headers | grep -q "$ID"; then
    influx v1 dbrp create --db "$BUCKET" --rp autogen --bucket-id "$ID" --default
fi
if ! influx v1 auth list --user "$GRAFANA" --hide-headers | grep -q "$GRAFANA"; then
    influx v1 auth create --username "$GRAFANA" --no-password --read-bucket "$ID" --read-bucket "$LONG_ID" \
        --description "grafana (InfluxQL, read $BUCKET)"
fi
AUTH_ID=$(influx v1 auth list --user "$GRAFANA" --json \
    | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -n 1)
curlquote() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
# JSON string: \ and " escaped (printf is a builtin: nothing reaches an argument list).
json=$(printf '%s' "$GRAFANA_PASSWORD" | sed 's/\\/\\\\/g; s/"/\\"/g')
{
    printf 'header = "Authorization: Token %s"\n' "$(curlquote "$INFLUX_TOKEN")"
    printf 'header = "Content-Type: application/json"\n'
    printf 'data = "%s"\n' "$(curlquote "{\"password\": \"$json\"}")"
} | curl -sS --fail-with-body -K - -XPOST "$INFLUX_HOST/private/legacy/authorizations/$AUTH_ID/password" >/dev/null
echo "bucket $BUCKET ($ID, $RETENTION); DBRP $BUCKET/autogen; v1 user $GRAFANA reads it"
