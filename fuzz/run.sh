#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed time each, starting from the
# committed corpus in fuzz/corpus/<target>/, and fails on the first crash
# (libFuzzer exits non-zero and leaves the input in fuzz/artifacts/<target>/;
# turn it into a regression test and commit it to the corpus).
#
#   fuzz/run.sh                 # every target, FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=3600 fuzz/run.sh jwt_header   # a long run of one target
#
# New inputs that reach new coverage are written to a scratch copy of the
# corpus, not to fuzz/corpus/, so a run leaves the tree clean; pass
# FUZZ_KEEP_CORPUS=1 to grow the committed corpus instead (then minimize
# it with `cargo +nightly fuzz cmin TARGET` before committing).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
all_targets=(dsl_check table_reader normalize_path normalize_lookup jwt_header resp_reply http1_head http1_head_vs_httparse)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# Each target is built once up front (one cargo invocation for all), so
# the fixed time below is spent fuzzing, not compiling.
if [ $# -eq 0 ]; then
  cargo "+$toolchain" fuzz build -O
else
  for t in "${targets[@]}"; do cargo "+$toolchain" fuzz build -O "$t"; done
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
summary=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
    corpus="corpus/$target"
  else
    corpus="$scratch/$target"
    mkdir -p "$corpus"
    cp -r "corpus/$target/." "$corpus/"
  fi
  echo "=== fuzz $target for ${seconds}s ($(ls "corpus/$target" | wc -l) committed inputs)"
  log="$scratch/$target.log"
  # The JWT target sets JWT_SECRET itself; -rss_limit keeps a leak from
  # taking the machine down before it is reported.
  if ! cargo "+$toolchain" fuzz run -O "$target" "$corpus" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz $target: CRASH (input in fuzz/artifacts/$target/)"
    exit 1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo '?')"
  summary+=("fuzz $target: ${seconds}s, $runs executions, coverage $cov edges, 0 crashes")
  echo "${summary[-1]}"
done
printf '%s\n' "${summary[@]}"
