#!/usr/bin/env bash
# bench/compiler.sh: how `routec check` and `routec build` scale with the
# number of gateway routes. bench/gen_dsl.py writes a
# synthetic routes file with N routes (N/10 services, a 7-step chain, edge
# routes); each command runs under /usr/bin/time for its wall time and peak
# RSS and CPU time, best of BENCH_REPEAT runs (default 3). The "per route"
# columns are the CPU time per route relative to the smallest N that took
# 50 ms or more: near 1 when the cost is linear, growing with N when not.
#
# usage: bash bench/compiler.sh
# env:   BENCH_SIZES (default "1000 10000 100000"), BENCH_REPEAT, BENCH_OUT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIZES="${BENCH_SIZES:-1000 10000 100000}"
REPEAT="${BENCH_REPEAT:-3}"

need_commands python3:python3 /usr/bin/time:time
build_release
make_work_dir
LOAD_AVERAGE_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# Best wall time (s), best CPU time (user + system, s) and the largest peak
# RSS (KiB) of REPEAT runs of CMD. CPU time is the steadier figure on a
# shared machine. usage: time_best CMD...
time_best() {
    local runs="$WORK/runs.txt" wall user sys kib
    : >"$runs"
    for _ in $(seq "$REPEAT"); do
        /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" ||
            die "$* failed: $(tail -5 "$WORK/stderr.txt")"
        read -r wall user sys kib <"$WORK/time.txt"
        echo "$wall $(python3 -c "print($user + $sys)") $kib" >>"$runs"
    done
    python3 -c 'import sys
rows = [line.split() for line in open(sys.argv[1])]
print(min(float(r[0]) for r in rows), min(float(r[1]) for r in rows), max(int(r[2]) for r in rows))' "$runs"
}

for n in $SIZES; do
    dsl="$WORK/routes-$n.dsl"
    python3 "$BENCH_DIR/gen_dsl.py" "$n" >"$dsl"
    log "routec check / build, $n routes ($(du -h "$dsl" | cut -f1) of DSL)"
    read -r check_s check_cpu check_kib < <(time_best "$ROUTEC" check "$dsl")
    rm -rf "$WORK/out-$n"
    read -r build_s build_cpu build_kib < <(time_best "$ROUTEC" build "$dsl" -o "$WORK/out-$n")
    table_bytes="$(stat -c %s "$WORK/out-$n/routes.bin")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$check_s" "$check_cpu" "$check_kib" \
        "$build_s" "$build_cpu" "$build_kib" "$table_bytes" >>"$RESULTS"
done

{
    echo "### Compiler scaling ($(date -u '+%Y-%m-%d'))"
    echo
    echo "Command: \`bash bench/compiler.sh\` (bench/gen_dsl.py N; \`routec check\` and"
    echo "\`routec build -o DIR\` (every output: Traefik, compose, Prometheus, PgBouncer,"
    echo "routes.bin) under /usr/bin/time; wall and CPU time best of $REPEAT, peak RSS the largest)."
    echo
    machine_summary | sed "s/^- Load average before the run: .*/- Load average before the run: $LOAD_AVERAGE_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)/"
    echo
    python3 "$BENCH_DIR/report.py" compiler "$RESULTS"
} | tee "${BENCH_OUT:-/dev/null}"
