#!/usr/bin/env bash
# bench/middleware.sh: what the Dating Platform's middleware chain costs
# One gateway, one run: wrk against a route with no chain
# ("bare") and against a route with the full `api` chain (CORS + per-IP
# limit + HS256 JWT + per-user limit + access/audit log + JSON errors +
# security headers), alternating for BENCH_ROUNDS rounds so load from
# other processes hits both alike; prints requests/s of each, the ratio
# chain / bare of every round, their median and the ratio of the totals
# (target: at least 0.80). On a shared machine single rounds swing by tens
# of percent with other processes' load, so the script also reads the
# gateway's own CPU time (utime + stime of all its threads, the access-log
# writer included) around every measurement: CPU microseconds per request
# hardly depend on what else runs, and bare / chain of them is the
# throughput ratio of a CPU-bound gateway.
#
# The table is bench/bench_dsl.py's variant of routes.dsl (the same chains,
# a chain-less `/bare/` service, rate limits raised so one wrk client is
# never refused: the limiters still run on every request). Every service
# points at one nginx answering a fixed 200. The gateway (1 worker) is
# pinned to CPU 0, wrk and nginx to CPU 1. Both routes get the same
# request: a valid token and an allowed `Origin`, as a browser sends; the access
# log is written (JSON lines on stdout) to a file, as in production.
# Everything listens on 127.0.0.1; every process started is stopped by pid.
#
# usage: bash bench/middleware.sh
# env:   BENCH_DURATION (default 10s), BENCH_CONNECTIONS (default 32),
#        BENCH_ROUNDS (default 6), BENCH_OUT (also write the report there),
#        BENCH_KEEP=1 (keep the work directory)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
ROUNDS="${BENCH_ROUNDS:-6}"
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
for service in $(table_services "$WORK/generated/routes.bin"); do
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

# The gateway's CPU time so far, in clock ticks (all threads).
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$GATEWAY_PID/stat"
}

# usage: run_wrk LABEL ROUND PATH [wrk -H args...]
# appends "label round rps non2xx p99 cpu-us-per-request"
run_wrk() {
    local label="$1" round="$2" path="$3" out line rps non2xx requests before after
    shift 3
    out="$WORK/wrk-$label-$round.txt"
    log "round $round: $label ($CONNECTIONS connections, $DURATION)"
    before="$(cpu_ticks)"
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s "$BENCH_DIR/wrk_report.lua" "$@" "http://127.0.0.1:$port$path" >"$out"
    after="$(cpu_ticks)"
    line="$(grep '^WRK_RESULT' "$out")" || die "wrk printed no result ($out)"
    requests="$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")"
    rps="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")"
    non2xx="$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")"
    p99="$(sed -n 's/.* p99=\([0-9]*\).*/\1/p' <<<"$line")"
    printf '%s %s %s %s %s %s\n' "$label" "$round" "$rps" "$non2xx" "$p99" \
        "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
            'BEGIN { printf "%.2f", t / hz * 1e6 / n }')" >>"$WORK/results.txt"
}

: >"$WORK/results.txt"
for round in $(seq "$ROUNDS"); do
    # The same request to both routes: only the route's chain differs.
    run_wrk bare "$round" "$BARE_PATH" -H "Authorization: Bearer $TOKEN" -H "Origin: $ORIGIN"
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
    echo "| round | bare route (req/s) | full chain (req/s) | chain / bare | bare p99 | chain p99 | gateway CPU µs/req (bare / chain) | CPU bare / chain | non-2xx (bare / chain) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk '
        $1 == "bare"  { bare[$2] = $3; bare_bad[$2] = $4; bare_p99[$2] = $5; bare_cpu[$2] = $6 }
        $1 == "chain" { chain[$2] = $3; chain_bad[$2] = $4; chain_p99[$2] = $5; chain_cpu[$2] = $6 }
        END {
            n = 0
            for (r = 1; r in bare; r++) {
                ratio[r] = chain[r] / bare[r]
                printf "| %d | %.0f | %.0f | %.3f | %.2f ms | %.2f ms | %.1f / %.1f | %.3f | %d / %d |\n", r, bare[r], chain[r], ratio[r], bare_p99[r] / 1000, chain_p99[r] / 1000, bare_cpu[r], chain_cpu[r], bare_cpu[r] / chain_cpu[r], bare_bad[r], chain_bad[r]
                tb += bare[r]; tc += chain[r]; n++
                cb += bare_cpu[r]; cc += chain_cpu[r]
            }
            # Median of the per-round ratios (insertion sort: a handful of rounds).
            for (i = 2; i <= n; i++) {
                v = ratio[i]
                for (j = i - 1; j >= 1 && ratio[j] > v; j--) ratio[j + 1] = ratio[j]
                ratio[j + 1] = v
            }
            median = (n % 2) ? ratio[(n + 1) / 2] : (ratio[n / 2] + ratio[n / 2 + 1]) / 2
            printf "| mean | %.0f | %.0f | %.3f (totals) | | | %.1f / %.1f | %.3f | |\n", tb / n, tc / n, tc / tb, cb / n, cc / n, cb / cc
            printf "\nMedian chain / bare throughput over %d rounds: **%.3f**; gateway CPU per request, bare / chain: **%.3f**\n", n, median, cb / cc
        }' "$WORK/results.txt"
}
report | tee "${BENCH_OUT:-/dev/null}"
