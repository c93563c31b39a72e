#!/usr/bin/env bash
# bench/shared_limits.sh: what sharing the rate limits in Redis costs. Two
# gateways serve routes.dsl's full chain (limits raised by bench_dsl.py so
# the limiter runs but never refuses): one with the limits `scope shared`
# (as routes.dsl says, against a real redis-server on loopback), one with the
# same limits `scope local`. wrk alternates between them, ROUNDS times, on
# the same route with a valid token; each row says requests/s, the gateway's
# CPU per request, and for the shared one the EVALSHA calls per request
# (counted by Redis itself), the round trips per request (the reads Redis
# made: the gateway sends the checks of concurrent requests in one
# pipeline, so they are fewer than the calls), Redis's CPU per request and
# its own time per call (the figures for sizing Redis), and the checks that
# fell back to the failure policy (the gateway's own counter), so a figure
# that was not measured against Redis says so.
#
# usage: bash bench/shared_limits.sh
# env:   BENCH_DURATION (default 10s), BENCH_CONNECTIONS (32), BENCH_ROUNDS (3),
#        BENCH_OUT, DATAPLANE_UNDER_TEST (another dataplane binary, to compare
#        builds in turn on the same machine)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
ROUNDS="${BENCH_ROUNDS:-3}"
CHAIN_PATH="/v1/profiles/42"
ORIGIN="https://dating.serge.cc"
REDIS_PASSWORD="bench-redis-password"

need_commands nginx:nginx wrk:wrk curl:curl taskset:util-linux pgrep:procps python3:python3 \
    redis-server:redis-server redis-cli:redis-server
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (the gateways on one, wrk, nginx and Redis on the other)"
build_release
DATAPLANE="${DATAPLANE_UNDER_TEST:-$DATAPLANE}"
make_work_dir
MACHINE="$(machine_summary)"

python3 "$BENCH_DIR/bench_dsl.py" "$REPO_DIR/routes.dsl" >"$WORK/shared.dsl"
grep -q "scope shared" "$WORK/shared.dsl" || die "routes.dsl has no shared rate limit"
sed 's/scope shared/scope local/' "$WORK/shared.dsl" >"$WORK/local.dsl"
for which in shared local; do
    "$ROUTEC" build "$WORK/$which.dsl" -o "$WORK/generated-$which" >/dev/null
done
TOKEN="$(platform_jwt)"

backend_port="$(free_port)"
start_backend "$backend_port" 1 1

redis_port="$(free_port)"
taskset -c 1 redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --requirepass "$REDIS_PASSWORD" --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
STARTED_PIDS+=("$!")
redis() { redis-cli -h 127.0.0.1 -p "$redis_port" -a "$REDIS_PASSWORD" --no-auth-warning "$@"; }
for _ in $(seq 50); do redis ping >/dev/null 2>&1 && break; sleep 0.1; done
redis ping >/dev/null || die "redis-server did not start ($WORK/redis.log)"

upstreams=()
for service in $(table_services "$WORK/generated-shared/routes.bin"); do
    upstreams+=(--upstream "$service=127.0.0.1:$backend_port")
done

declare -A PORT ADMIN PID
for which in shared local; do
    PORT[$which]="$(free_port)"
    ADMIN[$which]="$(free_port)"
    RATE_LIMIT_REDIS_ADDR="127.0.0.1:$redis_port" RATE_LIMIT_REDIS_PASSWORD="$REDIS_PASSWORD" \
        taskset -c 0 "$DATAPLANE" --table "$WORK/generated-$which/routes.bin" \
        --listen "127.0.0.1:${PORT[$which]}" --admin-listen "127.0.0.1:${ADMIN[$which]}" \
        --workers 1 "${upstreams[@]}" >/dev/null 2>"$WORK/dataplane-$which.stderr" &
    PID[$which]=$!
    STARTED_PIDS+=("$!")
    wait_http "http://127.0.0.1:${ADMIN[$which]}/ready" 200
    wait_http "http://127.0.0.1:${PORT[$which]}$CHAIN_PATH" 200 -H "Authorization: Bearer $TOKEN"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
evalsha_calls() {
    redis info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0
}
# Reads Redis made from its clients: one per round trip (a pipeline of
# several checks arrives in one read).
redis_reads() {
    redis info stats | tr -d '\r' | sed -n 's/^total_reads_processed:\([0-9]*\)$/\1/p' | grep . || echo 0
}
# Redis's own time in EVALSHA, all calls so far (microseconds).
evalsha_usec() {
    redis info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=[0-9]*,usec=\([0-9]*\),.*/\1/p' | grep . || echo 0
}
fallbacks() {
    curl -s "http://127.0.0.1:${ADMIN[shared]}/metrics" |
        awk '/^gateway_rate_limit_store_fallbacks_total/ { n += $NF } END { printf "%d", n }'
}

: >"$WORK/results.txt"
for round in $(seq "$ROUNDS"); do
    for which in shared local; do
        log "round $round: $which limits ($CONNECTIONS connections, $DURATION)"
        out="$WORK/wrk-$which-$round.txt"
        before="$(cpu_ticks "${PID[$which]}")" calls_before="$(evalsha_calls)" fell_before="$(fallbacks)"
        redis_before="$(cpu_ticks "$REDIS_PID")" usec_before="$(evalsha_usec)" reads_before="$(redis_reads)"
        taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$BENCH_DIR/wrk_report.lua" \
            -H "Authorization: Bearer $TOKEN" -H "Origin: $ORIGIN" \
            "http://127.0.0.1:${PORT[$which]}$CHAIN_PATH" >"$out"
        after="$(cpu_ticks "${PID[$which]}")" calls_after="$(evalsha_calls)" fell_after="$(fallbacks)"
        redis_after="$(cpu_ticks "$REDIS_PID")" usec_after="$(evalsha_usec)" reads_after="$(redis_reads)"
        line="$(grep '^WRK_RESULT' "$out")" || die "wrk printed no result ($out)"
        requests="$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")"
        rps="$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")"
        non2xx="$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")"
        printf '%s %s %s %s %s %s %s %s %s %s\n' "$which" "$round" "$rps" "$non2xx" \
            "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
                'BEGIN { printf "%.2f", t / hz * 1e6 / n }')" \
            "$(awk -v c=$((calls_after - calls_before)) -v n="$requests" 'BEGIN { printf "%.3f", c / n }')" \
            "$((fell_after - fell_before))" \
            "$(awk -v t=$((redis_after - redis_before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
                'BEGIN { printf "%.2f", t / hz * 1e6 / n }')" \
            "$(awk -v u=$((usec_after - usec_before)) -v c=$((calls_after - calls_before)) \
                'BEGIN { if (c > 0) printf "%.2f", u / c; else printf "-" }')" \
            "$(awk -v r=$((reads_after - reads_before)) -v n="$requests" 'BEGIN { printf "%.3f", r / n }')" \
            >>"$WORK/results.txt"
    done
done

report() {
    echo "### Shared against local rate limits ($(date -u '+%Y-%m-%d'), commit $(git -C "$REPO_DIR" rev-parse --short HEAD))"
    echo
    echo "$MACHINE"
    echo "- Command: \`bash bench/shared_limits.sh\` (wrk -t1 -c$CONNECTIONS -d$DURATION on $CHAIN_PATH with a valid token, $ROUNDS rounds alternating; both gateways --workers 1 on CPU 0; wrk, nginx and redis-server on CPU 1)"
    echo
    echo "| round | local (req/s) | shared (req/s) | shared / local | gateway CPU µs/req (local / shared) | EVALSHA calls per request | round trips per request | Redis CPU µs/req | Redis's µs per EVALSHA | checks fallen back | non-2xx (local / shared) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk '
        $1 == "shared" { s[$2] = $3; sbad[$2] = $4; scpu[$2] = $5; trips[$2] = $6; fell[$2] = $7; rcpu[$2] = $8; usec[$2] = $9; reads[$2] = $10 }
        $1 == "local"  { l[$2] = $3; lbad[$2] = $4; lcpu[$2] = $5 }
        END {
            for (r = 1; r in s; r++) {
                printf "| %d | %.0f | %.0f | %.3f | %.1f / %.1f | %.3f | %.3f | %.1f | %s | %d | %d / %d |\n", r, l[r], s[r], s[r] / l[r], lcpu[r], scpu[r], trips[r], reads[r], rcpu[r], usec[r], fell[r], lbad[r], sbad[r]
                ts += s[r]; tl += l[r]
            }
            printf "\nShared / local throughput over the rounds (totals): **%.3f**\n", ts / tl
        }' "$WORK/results.txt"
}
report | tee "${BENCH_OUT:-/dev/null}"
