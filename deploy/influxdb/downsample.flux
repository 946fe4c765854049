// InfluxDB 2.x: the long-term aggregates that bootstrap-influxdb1.sh makes with
// continuous queries on 1.x, as one task. bootstrap-influxdb2.sh creates it
// (influx task create) with BUCKET and LONG_BUCKET substituted.
//
// NOT TESTED in this project's CI: no InfluxDB 2.x server installs on the test
// machine. Written against the Flux documentation for InfluxDB 2.7.
//
// Every hour it rewrites the last three hours of hourly aggregates (late
// readings from a school's spool are counted), and the last two days of daily
// ones. Measurement and field names match the 1.x aggregates, so the InfluxQL
// that reads "longterm"."wan_throughput_1h" reads either.
option task = {name: "schoolnet-downsample", every: 1h, offset: 5m}

raw = "BUCKET"
long = "LONG_BUCKET"

agg = (measurement, fields, fn, every, lookback, suffix="") =>
    from(bucket: raw)
        |> range(start: -lookback)
        |> filter(fn: (r) => r._measurement == measurement and contains(value: r._field, set: fields))
        |> aggregateWindow(every: every, fn: fn, createEmpty: false, timeSrc: "_start")
        |> map(fn: (r) => ({r with _measurement: measurement + "_" + string(v: every), _field: r._field + suffix}))
        |> to(bucket: long)

agg(measurement: "wan_throughput", fields: ["download_bps", "upload_bps", "rtt_seconds"], fn: mean, every: 1h, lookback: 3h)
agg(measurement: "wan_throughput", fields: ["download_bps"], fn: max, every: 1h, lookback: 3h, suffix: "_max")
agg(measurement: "wan_link", fields: ["rx_bps", "tx_bps"], fn: mean, every: 1h, lookback: 3h)
agg(measurement: "wan_link", fields: ["rx_peak_bps", "tx_peak_bps"], fn: max, every: 1h, lookback: 3h)
agg(measurement: "wan_link", fields: ["link_speed_mbps", "contracted_mbps"], fn: last, every: 1h, lookback: 3h)
agg(measurement: "rollup", fields: ["schools", "pass", "fail", "inconclusive", "no_data", "pass_share", "fail_share", "inconclusive_share", "no_data_share"], fn: last, every: 1h, lookback: 1d)
agg(measurement: "indicator_rollup", fields: ["counts"], fn: last, every: 1d, lookback: 2d)
agg(measurement: "compliance", fields: ["status", "value", "threshold", "readings"], fn: last, every: 1d, lookback: 2d)
agg(measurement: "classroom_summary", fields: ["meeting_share"], fn: mean, every: 1d, lookback: 2d)
agg(measurement: "classroom_summary", fields: ["classrooms", "classrooms_meeting"], fn: last, every: 1d, lookback: 2d)
agg(measurement: "wifi_coverage", fields: ["coverage_share"], fn: mean, every: 1d, lookback: 2d)
agg(measurement: "ipv6", fields: ["level"], fn: last, every: 1d, lookback: 2d)
