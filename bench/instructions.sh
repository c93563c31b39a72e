#!/usr/bin/env bash
# bench/instructions.sh: instructions per request, the gateway against nginx,
# counted by valgrind's callgrind (a count of executed instructions, about
# the same from one run to the next on a machine whose timings are noisy).
#
# A backend (nginx answering a fixed 200, access log off, natively on CPU 1)
# and one proxy at a time under callgrind, pinned to CPU 0: nginx as a
# reverse proxy (master_process off, worker_processes 1, upstream keepalive,
# as bench/proxy.sh's) and the data plane with --workers 0 (current-thread
# runtime) serving bench/bench_dsl.py's variant of routes.dsl, every service
# pointed at the backend by --upstream, its access log written to a file.
# A small client sends requests one at a time on one keep-alive connection:
# INSTR_WARMUP requests first (the gateway: of each route), then
# `callgrind_control --zero`, INSTR_REQUESTS requests, `callgrind_control
# --dump`; the dump's instruction count (every thread of the process, kernel
# time excluded) over INSTR_REQUESTS is the figure, printed with the
# gateway's as a ratio to nginx's. The gateway is measured on its bare route
# (GET /bare/items/42) and on the Dating Platform's full chain (GET
# /v1/profiles/42 with a valid HS256 JWT and an Origin header), one dump
# each, from the same process. Each gateway dump's top functions
# (callgrind_annotate, self and inclusive) are written to the work
# directory as top-*.txt, the whole self listing as all-*.txt (kept with
# BENCH_KEEP=1); the self costs grouped by crate (as bench/profile_groups.py
# groups perf's samples) and the top ones are printed. Loopback only; every
# process started is stopped by pid.
#
# usage: bash bench/instructions.sh
# env:   INSTR_WARMUP (default 1000), INSTR_REQUESTS (default 5000),
#        INSTR_TOP (functions per top-*.txt, default 25), BENCH_OUT (also
#        write the report there), BENCH_KEEP=1 (keep the work directory and
#        the callgrind files), DATAPLANE_UNDER_TEST (the dataplane binary
#        measured in place of this checkout's build), BENCH_BASELINE
#        (another dataplane binary, measured too in the same run as
#        "baseline" rows)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WARMUP="${INSTR_WARMUP:-1000}"
REQUESTS="${INSTR_REQUESTS:-5000}"
TOP="${INSTR_TOP:-25}"
BARE_PATH="/bare/items/42"
CHAIN_PATH="/v1/profiles/42"
ORIGIN="https://dating.serge.cc"
# Everything under valgrind starts and answers tens of times slower.
export WAIT_HTTP_SECONDS=180

need_commands nginx:nginx valgrind:valgrind callgrind_control:valgrind \
    callgrind_annotate:valgrind curl:curl taskset:util-linux pgrep:procps python3:python3
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (the proxy on one, the client and the backend on the other)"
platform_bench_setup

# The client: COUNT GETs of PATH one after another on one keep-alive
# connection, each to be answered 200 with its body read in full.
cat >"$WORK/client.py" <<'EOF'
import http.client, sys
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = dict(h.split(": ", 1) for h in sys.argv[4:])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(count):
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"request {i + 1} of {count} to {path}: status {response.status}")
    if response.will_close:
        sys.exit(f"request {i + 1} of {count} to {path}: the proxy closed the connection")
EOF

# usage: client PORT PATH COUNT [HEADER...]
client() { taskset -c 1 python3 "$WORK/client.py" "$@" || die "client failed"; }

# Sets CALLGRIND to valgrind's command writing to $WORK/callgrind-NAME.out
# (its dumps: .1, .2, ...). usage: callgrind_for NAME
callgrind_for() {
    CALLGRIND=(valgrind --tool=callgrind "--callgrind-out-file=$WORK/callgrind-$1.out")
}

# Zeroes PID's counters, runs the client, dumps: records TARGET's row
# (target, requests, instructions) and leaves the dump in DUMP.
# usage: count_requests TARGET PID DUMP PORT PATH [HEADER...]
count_requests() {
    local target="$1" pid="$2" dump="$3" port="$4" path="$5" instructions
    shift 5
    callgrind_control --zero "$pid" >/dev/null || die "callgrind_control --zero $pid failed"
    log "$REQUESTS requests under callgrind: $target"
    client "$port" "$path" "$REQUESTS" "$@"
    callgrind_control --dump "$pid" >/dev/null || die "callgrind_control --dump $pid failed"
    for _ in $(seq 100); do
        grep -q '^totals:' "$dump" 2>/dev/null && break
        sleep 0.1
    done
    instructions="$(awk '/^summary:/ {print $2}' "$dump")"
    [ -n "$instructions" ] || die "no instruction count in $dump"
    printf '%s\t%s\t%s\n' "$target" "$REQUESTS" "$instructions" >>"$RESULTS"
}

# The top INSTR_TOP functions of a dump, by self and by inclusive cost,
# less the frames that were on the stack when the dump was taken (main down
# to the runtime's block_on, waiting in epoll_wait): a dump taken mid-run
# lists each of them with 99.9% or more of the cost, by self too.
# usage: top_functions DUMP NAME
top_functions() {
    local dump="$1" name="$2" inclusive out
    for inclusive in no yes; do
        out="$WORK/top-$name-$([ "$inclusive" = yes ] && echo inclusive || echo self).txt"
        callgrind_annotate --auto=no --threshold=100 --inclusive="$inclusive" "$dump" >"$out.all"
        awk -v top="$TOP" '
            /file:function/ { start = NR + 1 }
            start && NR > start && match($0, /\( *[0-9.]+%\)/) &&
                substr($0, RSTART + 1, RLENGTH - 3) + 0 >= 99 { next }
            start && NR > start && ++n > top { exit }
            { print }' "$out.all" >"$out"
    done
    mv "$WORK/top-$name-self.txt.all" "$WORK/all-$name-self.txt"
    rm "$WORK/top-$name-inclusive.txt.all"
}

nginx_rows() {
    local port name=nginx
    port="$(free_port)"
    write_nginx_proxy_conf "$port" 1 "$backend_port"
    sed -i '1i master_process off;' "$WORK/nginx-proxy/nginx.conf"
    callgrind_for "$name"
    start_pinned 0 "$WORK/valgrind-$name.log" "${CALLGRIND[@]}" nginx -e "$WORK/nginx-proxy/error.log" \
        -p "$WORK/nginx-proxy" -c "$WORK/nginx-proxy/nginx.conf"
    local pid=$LAST_PID
    wait_http "http://127.0.0.1:$port$BARE_PATH" 200
    client "$port" "$BARE_PATH" "$WARMUP"
    count_requests nginx "$pid" "$WORK/callgrind-$name.out.1" "$port" "$BARE_PATH"
    stop_pid "$pid"
}

# usage: dataplane_rows NAME LABEL   (DATAPLANE_UNDER_TEST picks the binary)
dataplane_rows() {
    local name="$1" label="$2" port auth=("Authorization: Bearer $TOKEN" "Origin: $ORIGIN")
    port="$(free_port)"
    callgrind_for "$name"
    start_dataplane_table "$WORK/generated/routes.bin" "$port" 0 0 "$backend_port" \
        "$WORK/valgrind-$name.log" "${CALLGRIND[@]}"
    wait_http "http://127.0.0.1:$port$BARE_PATH" 200
    wait_http "http://127.0.0.1:$port$CHAIN_PATH" 200 -H "${auth[0]}"
    client "$port" "$BARE_PATH" "$WARMUP"
    client "$port" "$CHAIN_PATH" "$WARMUP" "${auth[@]}"
    count_requests "$label, bare route" "$DATAPLANE_PID" "$WORK/callgrind-$name.out.1" \
        "$port" "$BARE_PATH"
    count_requests "$label, full chain" "$DATAPLANE_PID" "$WORK/callgrind-$name.out.2" \
        "$port" "$CHAIN_PATH" "${auth[@]}"
    stop_pid "$DATAPLANE_PID"
    top_functions "$WORK/callgrind-$name.out.1" "$name-bare"
    top_functions "$WORK/callgrind-$name.out.2" "$name-chain"
}

backend_port="$(free_port)"
start_backend "$backend_port" 1 1
nginx_rows
dataplane_rows dataplane "dataplane current-thread"
if [ -n "${BENCH_BASELINE:-}" ]; then
    DATAPLANE_UNDER_TEST="$BENCH_BASELINE" dataplane_rows baseline "dataplane baseline current-thread"
fi
stop_pid "$BACKEND_PID"

{
    echo "### Instructions per request ($(date -u '+%Y-%m-%d'))"
    echo
    echo "Command: \`bash bench/instructions.sh\` (valgrind --tool=callgrind, the proxy on CPU 0;"
    echo "one keep-alive connection, one request at a time: $WARMUP warm-up requests, then"
    echo "$REQUESTS counted between \`callgrind_control --zero\` and \`--dump\`)."
    echo
    machine_summary_after_run
    echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(valgrind --version)"
    echo
    python3 "$BENCH_DIR/report.py" instructions "$RESULTS"
    for route in bare chain; do
        title="$([ $route = bare ] && echo "bare route" || echo "full chain")"
        echo
        python3 "$BENCH_DIR/report.py" callgrind-groups "$WORK/all-dataplane-$route-self.txt" \
            "$REQUESTS" "The gateway's instructions by where they run (self cost), $title:"
        echo
        python3 "$BENCH_DIR/report.py" callgrind-top "$WORK/top-dataplane-$route-self.txt" 12 \
            "$REQUESTS" "The gateway's top functions by self cost, $title:"
    done
} | tee "${BENCH_OUT:-/dev/null}"
log "top functions (self and inclusive): $WORK/top-*.txt (kept with BENCH_KEEP=1)"
