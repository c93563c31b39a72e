#!/usr/bin/env bash
# bench/reload.sh: how fast a replaced routes.bin serves, and what a reload
# storm costs, with bench/gen_dsl.py's 10,000-route table.
#
# For each reload debounce (the gateway's quiet time after the last file
# event; 10 ms is the default), the gateway (--workers 0, pinned to CPU 0)
# serves a table in a directory of its own, and bench/reload_probe.py:
#   - 100 times renames the other of two tables (they differ in one route)
#     over routes.bin and times, from the rename, the first request answered
#     by the route only the new table has (p50/p99);
#   - while wrk loads the bare route (keep-alive, 64 connections), a
#     rename every 100 ms: throughput as a ratio to steady runs taking
#     turns with the storm ones (4 of each, 5 s each, summed), and to
#     placebo runs (the same renames into a directory the gateway does not
#     watch: the probe's own cost on CPU 1, without a reload), and the
#     failed requests (socket errors, non-2xx/3xx).
# wrk, the probe and the backend run on CPU 1. Loopback only.
#
# usage: bash bench/reload.sh
# env:   BENCH_DEBOUNCES (default "100 10 1"), BENCH_RELOADS (default 100),
#        BENCH_DURATION (default 5s, each phase), BENCH_PHASES (default 4:
#        steady and storm phases in turn), BENCH_OUT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBOUNCES="${BENCH_DEBOUNCES:-100 10 1}"
RELOADS="${BENCH_RELOADS:-100}"
DURATION="${BENCH_DURATION:-5s}"
PHASES="${BENCH_PHASES:-4}"
CONNS=64

need_commands nginx:nginx wrk:wrk curl:curl taskset:util-linux pgrep:procps python3:python3
build_release
make_work_dir
LOAD_AVERAGE_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
log "building two 10,000-route tables"
synthetic_tables 10000 "$WORK/tables"
BACKEND_PORT="$(free_port)"
start_backend "$BACKEND_PORT" 1 1
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# wrk on the bare route; prints its WRK_RESULT fields.
load_bare() {
    taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" -s "$BENCH_DIR/wrk_report.lua" \
        "http://127.0.0.1:$1/bare/items/42" | sed -n 's/^WRK_RESULT //p'
}

for debounce in $DEBOUNCES; do
    mkdir -p "$WORK/live-$debounce"
    live="$WORK/live-$debounce/routes.bin"
    cp "$WORK/tables/a.bin" "$live"
    port="$(free_port)" admin="$(free_port)"
    write_dataplane_config "$WORK/dataplane-$debounce.toml" "$WORK/tables/a.dsl" "$live" \
        "$port" "$admin" 0 "$BACKEND_PORT" "reload_debounce_ms = $debounce"
    start_dataplane_config 0 "$WORK/dataplane-$debounce.toml" "$admin"
    wait_http "http://127.0.0.1:$port/bare/items/42" 200

    log "debounce $debounce ms: $RELOADS reloads, rename to first answer"
    latency="$(taskset -c 1 python3 "$BENCH_DIR/reload_probe.py" latency "$port" "$admin" "$live" \
        "$WORK/tables/a.bin" "$WORK/tables/b.bin" /v1/s0/r0/x /v1/s0/r0b/x "$RELOADS")"
    # Steady, placebo and storm phases take turns, so that a machine whose
    # speed drifts (a shared VM) drifts under all of them alike. The placebo
    # renames the same tables at the same rate into a directory the gateway
    # does not watch: what the probe itself costs CPU 1, without a reload.
    mkdir -p "$WORK/placebo-$debounce"
    steady=() placebo=() under_storm=() probes=()
    for phase in $(seq "$PHASES"); do
        log "debounce $debounce ms, phase $phase of $PHASES: steady, placebo renames, a reload every 100 ms"
        steady+=("$(load_bare "$port")")
        taskset -c 1 python3 "$BENCH_DIR/reload_probe.py" storm "$admin" "$WORK/placebo-$debounce/routes.bin" \
            "$WORK/tables/a.bin" "$WORK/tables/b.bin" 100 "${DURATION%s}" >/dev/null &
        storm_pid=$!
        placebo+=("$(load_bare "$port")")
        wait "$storm_pid"
        taskset -c 1 python3 "$BENCH_DIR/reload_probe.py" storm "$admin" "$live" \
            "$WORK/tables/a.bin" "$WORK/tables/b.bin" 100 "${DURATION%s}" >"$WORK/storm.json" &
        storm_pid=$!
        under_storm+=("$(load_bare "$port")")
        wait "$storm_pid"
        probes+=("$(cat "$WORK/storm.json")")
    done
    joined() { local IFS=';'; echo "$*"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$debounce" "$latency" "$(joined "${steady[@]}")" \
        "$(joined "${under_storm[@]}")" "$(joined "${probes[@]}")" "$(rss_kib "$DATAPLANE_PID")" \
        "$(joined "${placebo[@]}")" >>"$RESULTS"
    stop_pid "$DATAPLANE_PID"
done

{
    echo "### Reload ($(date -u '+%Y-%m-%d'))"
    echo
    echo "Command: \`bash bench/reload.sh\` (bench/gen_dsl.py 10000 through"
    echo "bench/bench_dsl.py: 10,000 gateway routes, a 1.4 MB routes.bin; the gateway"
    echo "\`--workers 0\` pinned to CPU 0; wrk -t1 -c$CONNS -d$DURATION on the bare route,"
    echo "steady, placebo and storm phases in turn, $PHASES of each, summed;"
    echo "the probe and the backend on CPU 1)."
    echo
    machine_summary | sed "s/^- Load average before the run: .*/- Load average before the run: $LOAD_AVERAGE_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)/"
    echo
    python3 "$BENCH_DIR/report.py" reload "$RESULTS"
} | tee "${BENCH_OUT:-/dev/null}"
