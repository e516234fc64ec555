#!/usr/bin/env bash
# Runs every libFuzzer harness of a SOFT_FUZZ build (`make fuzz` builds it, then calls this):
#   1. replays the seeds (tests/fuzz/corpus/<name>) and the crafted bad files (tests/data/bad/<name>)
#      through the harness, each file once;
#   2. fuzzes for SECONDS, starting from the seeds, the bad files and what earlier runs kept in
#      BUILD/fuzz-corpus/<name>.
# Stops at the first finding: libFuzzer prints the report and writes the input to
# BUILD/fuzz-artifacts/. Prints one summary line per harness (the numbers docs/RELIABILITY.md cites).
# Usage: tests/fuzz/run.sh BUILD [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1
seconds=${2:-10}
shift $(( $# < 2 ? $# : 2 ))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(safetensors idx cifar image config torch pickle)

logs="$build/fuzz-logs"
mkdir -p "$logs" "$build/fuzz-artifacts"
summary=()
for name in "${harnesses[@]}"; do
  bin="$build/tests/fuzz/fuzz_$name"
  [ -x "$bin" ] || { echo "run.sh: $bin is missing (make fuzz builds it)" >&2; exit 1; }
  seeds=(tests/fuzz/corpus/"$name" tests/data/bad/"$name")
  [ "$name" = config ] && seeds+=(configs/models)  # the built-in model configs
  mapfile -t files < <(find "${seeds[@]}" -type f | sort)

  echo "== fuzz_$name: replaying ${#files[@]} files"
  "$bin" -artifact_prefix="$build/fuzz-artifacts/$name-" "${files[@]}" > "$logs/$name-replay.log" 2>&1 ||
    { tail -n 60 "$logs/$name-replay.log"; echo "run.sh: fuzz_$name failed on a committed file" >&2; exit 1; }

  echo "== fuzz_$name: fuzzing for ${seconds} s"
  mkdir -p "$build/fuzz-corpus/$name"
  dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  "$bin" -max_total_time="$seconds" -max_len=8192 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$build/fuzz-artifacts/$name-" "$build/fuzz-corpus/$name" "${seeds[@]}" \
    > "$logs/$name.log" 2>&1 ||
    { tail -n 60 "$logs/$name.log"; echo "run.sh: fuzz_$name found a problem (input in $build/fuzz-artifacts/)" >&2; exit 1; }
  final_stat() { sed -n "s/^stat::$1: *//p" "$logs/$name.log"; }
  cov=$(grep -o 'cov: [0-9]*' "$logs/$name.log" | tail -n 1 | cut -d' ' -f2)
  summary+=("$(printf '%-12s %6d files replayed  %9d runs  %6d runs/s  %5s edges  %4d new inputs' "$name" \
    "${#files[@]}" "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" "${cov:-?}" \
    "$(final_stat new_units_added)")")
done
echo "== fuzz summary (${seconds} s each; logs in $logs)"
printf '%s\n' "${summary[@]}"
