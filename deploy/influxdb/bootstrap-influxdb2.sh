#!/bin/sh
# InfluxDB 2.x for schoolnet-audit: org, bucket with retention, a write token for
# the collector, a DBRP mapping and a v1 read user so Grafana's InfluxQL
# dashboards work unchanged. Uses the `influx` 2.x CLI on the database host.
#
# NOT TESTED in this project's CI: no InfluxDB 2.x server can be installed on
# the test machine (Debian ships 1.6.7). The 1.x script next to it is tested.
# Commands follow the influx CLI 2.7 documentation.
#
#   INFLUX_TOKEN=<operator token> GRAFANA_PASSWORD=... deploy/influxdb/bootstrap-influxdb2.sh
# Environment (defaults in brackets): INFLUX_HOST [http://127.0.0.1:8086]
#   INFLUX_ORG [schoolnet]  BUCKET [schoolnet]  RETENTION [400d]
#   SETUP_USER/SETUP_PASSWORD: run `influx setup` first on a fresh server
#   GRAFANA_USER [grafana] GRAFANA_PASSWORD: v1 user (InfluxQL) with read access
set -eu
export INFLUX_HOST="${INFLUX_HOST:-http://127.0.0.1:8086}"
ORG=${INFLUX_ORG:-schoolnet}
BUCKET=${BUCKET:-schoolnet}
RETENTION=${RETENTION:-400d}
GRAFANA=${GRAFANA_USER:-grafana}
: "${GRAFANA_PASSWORD:?set GRAFANA_PASSWORD}"

if [ -n "${SETUP_USER:-}" ]; then
    # A fresh server: creates the org, the first bucket and the operator token.
    influx setup --force --username "$SETUP_USER" --password "${SETUP_PASSWORD:?}" \
        --org "$ORG" --bucket "$BUCKET" --retention "$RETENTION"
    INFLUX_TOKEN=$(influx auth list --user "$SETUP_USER" --hide-headers --json \
        | sed -n 's/.*"token": "\([^"]*\)".*/\1/p' | head -n 1)
fi
: "${INFLUX_TOKEN:?set INFLUX_TOKEN (an operator/all-access token)}"
export INFLUX_TOKEN INFLUX_ORG="$ORG"

bucket_id() { influx bucket list --name "$BUCKET" --hide-headers | awk '{print $1}' | head -n 1; }
ID=$(bucket_id)
if [ -z "$ID" ]; then
    influx bucket create --name "$BUCKET" --retention "$RETENTION" --shard-group-duration 7d
    ID=$(bucket_id)
else
    influx bucket update --id "$ID" --retention "$RETENTION"
fi

# The collector writes with a token that can do nothing else.
influx auth create --description "schoolnet collector (write $BUCKET)" --write-bucket "$ID"
echo "^ put this token into collector.toml: [storage] kind = \"influxdb2\", token = ..."

# InfluxQL (Grafana, 1.x-style clients) reads the bucket as database/retention policy.
if ! influx v1 dbrp list --db "$BUCKET" --hide-headers | grep -q "$ID"; then
    influx v1 dbrp create --db "$BUCKET" --rp autogen --bucket-id "$ID" --default
fi
if influx v1 auth list --user "$GRAFANA" --hide-headers | grep -q "$GRAFANA"; then
    influx v1 auth set-password --username "$GRAFANA" --password "$GRAFANA_PASSWORD"
else
    influx v1 auth create --username "$GRAFANA" --password "$GRAFANA_PASSWORD" \
        --read-bucket "$ID" --description "grafana (InfluxQL, read $BUCKET)"
fi
echo "bucket $BUCKET ($ID, $RETENTION); DBRP $BUCKET/autogen; v1 user $GRAFANA reads it"
