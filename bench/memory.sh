#!/usr/bin/env bash
# bench/memory.sh: the gateway's resident memory with bench/gen_dsl.py's
# 10,000-route table: idle after start, peak under wrk
# load (keep-alive, 256 connections) on the bare route and on the full
# chain with a valid JWT, and idle again after the load. For each runtime
# flavour (--workers 0 and 2). Loopback only; every process stopped by pid.
#
# usage: bash bench/memory.sh
# env:   BENCH_ROUTES (default 10000), BENCH_WORKERS (default "0 2"),
#        BENCH_DURATION (default 10s), BENCH_OUT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUTES="${BENCH_ROUTES:-10000}"
WORKER_SETTINGS="${BENCH_WORKERS:-0 2}"
DURATION="${BENCH_DURATION:-10s}"
CONNS=256

need_commands nginx:nginx wrk:wrk curl:curl taskset:util-linux pgrep:procps python3:python3
build_release
make_work_dir
LOAD_AVERAGE_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
log "building the $ROUTES-route table"
synthetic_tables "$ROUTES" "$WORK/tables"
TOKEN="$(platform_jwt)"
BACKEND_PORT="$(free_port)"
start_backend "$BACKEND_PORT" 1 1
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# Peak RSS (KiB) of the gateway while wrk loads URL; prints it and wrk's
# result fields. usage: peak_under_load URL [wrk -H args...]
peak_under_load() {
    local url="$1" fields
    shift
    reset_peak_rss "$DATAPLANE_PID"
    fields="$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" -s "$BENCH_DIR/wrk_report.lua" "$@" \
        "$url" | sed -n 's/^WRK_RESULT //p')"
    printf '%s\t%s' "$(peak_rss_kib "$DATAPLANE_PID")" "$fields"
}

for workers in $WORKER_SETTINGS; do
    port="$(free_port)" admin="$(free_port)"
    write_dataplane_config "$WORK/dataplane-$workers.toml" "$WORK/tables/a.dsl" \
        "$WORK/tables/a.bin" "$port" "$admin" "$workers" "$BACKEND_PORT"
    cpus=$([ "$workers" -le 1 ] && echo 0 || echo all)
    start_dataplane_config "$cpus" "$WORK/dataplane-$workers.toml" "$admin"
    # /v1/s1/ is behind the synthetic file's JWT (only /v1/s0/ is public).
    wait_http "http://127.0.0.1:$port/v1/s1/r0/x" 200 -H "Authorization: Bearer $TOKEN"
    sleep 2
    idle="$(rss_kib "$DATAPLANE_PID")"
    log "--workers $workers: load on the bare route, then on the full chain"
    bare="$(peak_under_load "http://127.0.0.1:$port/bare/items/42")"
    chain="$(peak_under_load "http://127.0.0.1:$port/v1/s1/r0/x" -H "Authorization: Bearer $TOKEN")"
    sleep 2
    printf '%s\t%s\t%s\t%s\t%s\n' "$workers" "$idle" "$bare" "$chain" \
        "$(rss_kib "$DATAPLANE_PID")" >>"$RESULTS"
    stop_pid "$DATAPLANE_PID"
done

{
    echo "### Memory ($(date -u '+%Y-%m-%d'))"
    echo
    echo "Command: \`bash bench/memory.sh\` (bench/gen_dsl.py $ROUTES through bench/bench_dsl.py;"
    echo "VmRSS idle 2 s after start and 2 s after the load, VmHWM during wrk -t1 -c$CONNS"
    echo "-d$DURATION; the access log, on stdout, discarded)."
    echo
    machine_summary | sed "s/^- Load average before the run: .*/- Load average before the run: $LOAD_AVERAGE_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)/"
    echo
    python3 "$BENCH_DIR/report.py" memory "$RESULTS"
} | tee "${BENCH_OUT:-/dev/null}"
