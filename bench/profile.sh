#!/usr/bin/env bash
# bench/profile.sh: where one proxy spends its time per request, the figures
# behind BENCHMARKS.md's profile paragraph. One proxy at a time (the data
# plane on its bare route, or nginx as a reverse proxy) in front of the same
# backend as bench/proxy.sh, pinned to CPU 0 with wrk and the backend on
# CPU 1, wrk -t1 -c32 for 8 s after a 3 s warm-up. Prints requests/s, user
# and system CPU µs per request (from /proc/PID/stat), system calls per
# request (perf stat, when perf is installed) and, with PROFILE_RECORD=1,
# records `perf record -g` and prints the user-space samples grouped by
# crate. Loopback only; every process started is stopped by pid.
#
# usage: bash bench/profile.sh [dataplane|nginx]...   (default: both)
# env:   PROFILE_RECORD=1 (perf record; perf.data kept in the work directory
#        with BENCH_KEEP=1), DATAPLANE_UNDER_TEST (another dataplane binary)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BARE_PATH="/bare/items/42"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(nginx dataplane)

need_commands nginx:nginx wrk:wrk curl:curl taskset:util-linux pgrep:procps python3:python3
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (the proxy on one, wrk and the backend on the other)"
build_release
make_work_dir
python3 "$BENCH_DIR/bench_dsl.py" "$REPO_DIR/routes.dsl" >"$WORK/bench.dsl"
"$ROUTEC" build "$WORK/bench.dsl" -o "$WORK/generated" >"$WORK/routec.log" 2>&1 || die "routec build failed"
HAVE_PERF=0
command -v perf >/dev/null 2>&1 && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 && HAVE_PERF=1

backend_port="$(free_port)"
start_backend "$backend_port" 1 1

# usage: profile_one NAME PID URL
profile_one() {
    local name="$1" pid="$2" url="$3" out="$WORK/wrk-$1.txt" stat_pid="" record_pid=""
    taskset -c 1 wrk -t1 -c32 -d3s "$url" >/dev/null
    local user0 sys0 user1 sys1
    read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    if [ "$HAVE_PERF" = 1 ]; then
        perf stat -e raw_syscalls:sys_enter -p "$pid" -o "$WORK/syscalls-$name.txt" -- sleep 6 &
        stat_pid=$!
        if [ "${PROFILE_RECORD:-0}" = 1 ]; then
            perf record -F 2999 -g -p "$pid" -o "$WORK/perf-$name.data" -- sleep 6 >/dev/null 2>&1 &
            record_pid=$!
        fi
    fi
    taskset -c 1 wrk -t1 -c32 -d8s "$url" >"$out"
    read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    local syscalls=""
    if [ -n "$stat_pid" ]; then
        wait "$stat_pid"
        syscalls="$(awk '/raw_syscalls:sys_enter/ {gsub(",", "", $1); print $1}' "$WORK/syscalls-$name.txt")"
    fi
    [ -n "$record_pid" ] && wait "$record_pid"
    python3 - "$name" "$out" "$((user1 - user0))" "$((sys1 - sys0))" "$(getconf CLK_TCK)" "$syscalls" <<'EOF'
import re, sys
name, out, user, system, hz, syscalls = sys.argv[1:7]
text = open(out).read()
total = int(re.search(r"(\d+) requests in", text).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
us = lambda ticks: int(ticks) * 1e6 / int(hz) / total
line = f"{name}: {rate:,.0f} requests/s, user {us(user):.2f} µs/req, system {us(system):.2f} µs/req"
if syscalls:
    # perf stat counted 6 of the 8 s: scale by the request rate.
    line += f", {int(syscalls) / (rate * 6):.2f} system calls/req"
print(line)
EOF
    if [ -n "$record_pid" ]; then
        perf report -i "$WORK/perf-$name.data" --no-children --sort dso,sym -g none 2>/dev/null |
            python3 "$BENCH_DIR/profile_groups.py"
    fi
}

for target in "${TARGETS[@]}"; do
    port="$(free_port)"
    case "$target" in
        nginx)
            start_nginx_proxy "$port" 1 0 "$backend_port" "$BARE_PATH"
            master=$LAST_PID
            profile_one nginx "$(pgrep -P "$master" | head -1)" "http://127.0.0.1:$port$BARE_PATH"
            stop_pid "$master"
            ;;
        dataplane)
            upstreams=()
            for service in $(table_services "$WORK/generated/routes.bin"); do
                upstreams+=(--upstream "$service=127.0.0.1:$backend_port")
            done
            start_pinned 0 /dev/null "${DATAPLANE_UNDER_TEST:-$DATAPLANE}" \
                --table "$WORK/generated/routes.bin" --listen "127.0.0.1:$port" \
                --admin-listen "127.0.0.1:$(free_port)" --workers 0 "${upstreams[@]}"
            gateway=$LAST_PID
            wait_http "http://127.0.0.1:$port$BARE_PATH" 200
            profile_one dataplane "$gateway" "http://127.0.0.1:$port$BARE_PATH"
            stop_pid "$gateway"
            ;;
        *) die "unknown target $target (dataplane or nginx)" ;;
    esac
done
