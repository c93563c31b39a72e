#!/usr/bin/env bash
# bench/all.sh: every benchmark in one go (about 10 minutes on
# 2 cores): the proxies side by side, compiler scaling, reload, memory.
# Writes the reports, in BENCHMARKS.md's layout, to bench/results-DATE.md
# (or BENCH_OUT) as well as the terminal. Each script installs what it
# needs, builds the release binaries, targets 127.0.0.1 only and stops
# every process it started.
#
# usage: bash bench/all.sh
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${BENCH_OUT:-$BENCH_DIR/results-$(date -u +%Y%m%d-%H%M).md}"
: >"$OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)" >&2
for script in proxy compiler reload memory; do
    BENCH_OUT="$OUT.part" bash "$BENCH_DIR/$script.sh"
    { cat "$OUT.part"; echo; } >>"$OUT"
done
rm -f "$OUT.part"
echo "report: $OUT" >&2
