#!/usr/bin/env bash
# bench/middleware.sh: what the Dating Platform's middleware chain costs
# (issue 10). One gateway, one run: wrk against a route with no chain
# ("bare") and against a route with the full `api` chain (CORS + per-IP
# limit + HS256 JWT + per-user limit + access/audit log + JSON errors +
# security headers), alternating for BENCH_ROUNDS rounds so load from
# other processes hits both alike; prints requests/s of each and the ratio
# chain / bare (target: at least 0.80).
#
# The table is bench/bench_dsl.py's variant of routes.dsl (the same chains,
# a chain-less `/bare/` service, rate limits raised so one wrk client is
# never refused: the limiters still run on every request). Every service
# points at one nginx answering a fixed 200. The gateway (1 worker) is
# pinned to CPU 0, wrk and nginx to CPU 1. The chain requests carry a
# valid token and an allowed `Origin`, as a browser's would; the access
# log is written (JSON lines on stdout) to a file, as in production.
# Everything listens on 127.0.0.1; every process started is stopped by pid.
#
# usage: bash bench/middleware.sh
# env:   BENCH_DURATION (default 10s), BENCH_CONNECTIONS (default 32),
#        BENCH_ROUNDS (default 2), BENCH_OUT (also write the report there),
#        BENCH_KEEP=1 (keep the work directory)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
ROUNDS="${BENCH_ROUNDS:-2}"
BARE_PATH="/bare/items/42"
CHAIN_PATH="/v1/profiles/42"
ORIGIN="https://dating.serge.cc"

need_commands nginx:nginx wrk:wrk curl:curl taskset:util-linux pgrep:procps python3:python3
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (the gateway on one, wrk and nginx on the other)"
build_release
make_work_dir
MACHINE="$(machine_summary)"

python3 "$BENCH_DIR/bench_dsl.py" "$REPO_DIR/routes.dsl" >"$WORK/bench.dsl"
"$ROUTEC" build "$WORK/bench.dsl" -o "$WORK/generated" >/dev/null
TOKEN="$(platform_jwt)"

backend_port="$(free_port)"
start_backend "$backend_port" 1 1

port="$(free_port)"
admin="$(free_port)"
upstreams=()
for service in $(sed -n 's/^service \([^ ]*\) {$/\1/p' "$WORK/bench.dsl"); do
    upstreams+=(--upstream "$service=127.0.0.1:$backend_port")
done
ACCESS_LOG="$WORK/access.log"
taskset -c 0 "$DATAPLANE" --table "$WORK/generated/routes.bin" \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --workers 1 "${upstreams[@]}" >"$ACCESS_LOG" 2>"$WORK/dataplane.stderr" &
GATEWAY_PID=$!
STARTED_PIDS+=("$GATEWAY_PID")
wait_http "http://127.0.0.1:$admin/ready" 200
wait_http "http://127.0.0.1:$port$BARE_PATH" 200
wait_http "http://127.0.0.1:$port$CHAIN_PATH" 200 -H "Authorization: Bearer $TOKEN"
# The chain is really there: no token, no entry.
wait_http "http://127.0.0.1:$port$CHAIN_PATH" 401

# usage: run_wrk LABEL ROUND PATH [wrk -H args...]; appends "label round rps non2xx"
run_wrk() {
    local label="$1" round="$2" path="$3" out line rps non2xx
    shift 3
    out="$WORK/wrk-$label-$round.txt"
    log "round $round: $label ($CONNECTIONS connections, $DURATION)"
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s "$BENCH_DIR/wrk_report.lua" "$@" "http://127.0.0.1:$port$path" >"$out"
    line="$(grep '^WRK_RESULT' "$out")" || die "wrk printed no result ($out)"
    rps="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")"
    non2xx="$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")"
    p99="$(sed -n 's/.* p99=\([0-9]*\).*/\1/p' <<<"$line")"
    printf '%s %s %s %s %s\n' "$label" "$round" "$rps" "$non2xx" "$p99" >>"$WORK/results.txt"
}

: >"$WORK/results.txt"
for round in $(seq "$ROUNDS"); do
    run_wrk bare "$round" "$BARE_PATH"
    run_wrk chain "$round" "$CHAIN_PATH" -H "Authorization: Bearer $TOKEN" -H "Origin: $ORIGIN"
done
LOG_LINES="$(wc -l <"$ACCESS_LOG")"
stop_pid "$GATEWAY_PID"

report() {
    echo "### Run of $(date -u '+%Y-%m-%d')"
    echo
    echo "$MACHINE"
    echo "- Command: \`bash bench/middleware.sh\` (wrk -t1 -c$CONNECTIONS -d$DURATION per measurement, $ROUNDS rounds, bare and chain alternating; gateway --workers 1 on CPU 0, wrk + nginx on CPU 1)"
    echo "- Access log lines written during the run: $LOG_LINES"
    echo
    echo "| round | bare route (req/s) | full chain (req/s) | chain / bare | bare p99 | chain p99 | non-2xx (bare / chain) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    awk '
        $1 == "bare"  { bare[$2] = $3; bare_bad[$2] = $4; bare_p99[$2] = $5 }
        $1 == "chain" { chain[$2] = $3; chain_bad[$2] = $4; chain_p99[$2] = $5 }
        END {
            for (r = 1; r in bare; r++) {
                printf "| %d | %.0f | %.0f | %.3f | %.2f ms | %.2f ms | %d / %d |\n", r, bare[r], chain[r], chain[r] / bare[r], bare_p99[r] / 1000, chain_p99[r] / 1000, bare_bad[r], chain_bad[r]
                tb += bare[r]; tc += chain[r]
            }
            printf "| all | %.0f | %.0f | **%.3f** | | | |\n", tb / (r - 1), tc / (r - 1), tc / tb
        }' "$WORK/results.txt"
}
report | tee "${BENCH_OUT:-/dev/null}"
