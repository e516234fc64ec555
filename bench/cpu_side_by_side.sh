#!/usr/bin/env bash
# soft.cpp against PyTorch on the CPU, same machine, same thread count, same models and configs:
# `soft bench` (tools/bench/) and bench/torch_soft.py (Debian's python3-torch; install
# libopenblas0 so that its matrix products use OpenBLAS rather than the reference BLAS) print the
# same result lines; this script runs both and prints a table with the ratios last.
#
#   bench/cpu_side_by_side.sh [OUT_DIR]        (default: BUILD_DIR/cpu_side_by_side)
#
# Environment: BUILD_DIR (default build; configured and built here when needed, target soft_cli
# only), THREADS (default 2), TRAIN_STEPS (default 3), SWEEP_TOKENS (default
# 1024,4096,16384,65536). Writes OUT_DIR/machine.txt, results.txt (every result line), table.txt,
# attn_sweep.{txt,svg} (both implementations in one plot). About 5 minutes of benchmarks
# on a busy 2-core machine, plus the build when sources changed.
#
# Measured:  training steps of soft_tiny (224 px, batch 8) and soft_fmnist (28 px, batch 128):
#            forward, cross-entropy, backward, AdamW;
#            one SOFT block (dim 64, 2 heads, ratio 8) forward + backward at SWEEP_TOKENS
#            tokens, each size in its own process, next to the softmax block while its attention
#            matrix fits in 1 GiB;
#            float32 GEMM 1024^3 against torch.mm.
# PyTorch runs with OMP_WAIT_POLICY=passive unless the environment sets it (its OpenMP threads and
# OpenBLAS's thread pool otherwise spin against each other; see bench/torch_soft.py).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${1:-$BUILD_DIR/cpu_side_by_side}
THREADS=${THREADS:-2}
TRAIN_STEPS=${TRAIN_STEPS:-3}
SWEEP_TOKENS=${SWEEP_TOKENS:-1024,4096,16384,65536}
PYTHON=/usr/bin/python3
TORCH="$PYTHON $ROOT/bench/torch_soft.py"

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$THREADS" --target soft_cli >/dev/null
SOFT="$BUILD_DIR/soft"
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: >"$RESULTS"

# Runs a benchmark command, shows its output and keeps its result lines.
run() {
  echo "\$ $*" | sed "s|$ROOT/||g"
  "$@" | while IFS= read -r line; do
    echo "$line"
    if [[ $line == "result "* ]]; then echo "$line" >>"$RESULTS"; fi
  done
}

{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs;" \
    "$THREADS threads; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  $TORCH gemm --sizes 64 --steps 1 --threads "$THREADS" | grep "^# torch"
} | tee "$OUT/machine.txt"

for spec in "soft_tiny 224 8" "soft_fmnist 28 128"; do
  read -r model img batch <<<"$spec"
  macs=$("$SOFT" info --model "$model" --img "$img" --json |
    $PYTHON -c 'import json, sys; print(json.load(sys.stdin)["macs"]["total"])')
  train="--model $model --img $img --batch $batch --steps $TRAIN_STEPS --threads $THREADS"
  run "$SOFT" bench train $train
  run $TORCH train $train --macs "$macs"
done

# The sweeps: one timed pass per size after one warm-up pass, none from 65,536 tokens up (one pass
# there takes tens of seconds, so first-call costs vanish in it, and a warm-up would double the time).
SWEEP="--tokens $SWEEP_TOKENS --dim 64 --heads 2 --ratio 8 --steps 1 --warmup 1 --cold-from 65536"
SWEEP+=" --threads $THREADS"
run $TORCH attn --sweep $SWEEP
grep '^result attn ' "$RESULTS" >"$OUT/torch_attn.txt"
run "$SOFT" bench attn --sweep $SWEEP --out "$OUT" --with "$OUT/torch_attn.txt"

run "$SOFT" bench gemm --sizes 1024 --threads "$THREADS"
run $TORCH gemm --sizes 1024 --threads "$THREADS"

# The table: soft.cpp and PyTorch side by side; "speed" is PyTorch's time / soft.cpp's time
# (above 1: soft.cpp is faster), "memory" soft.cpp's peak RSS / PyTorch's.
$PYTHON - "$RESULTS" <<'EOF' | tee "$OUT/table.txt"
import sys

rows = []
for line in open(sys.argv[1]):
    words = line.split()
    rows.append(dict([("result", words[1])] + [w.split("=", 1) for w in words[2:]]))


def find(impl, **want):
    return next((r for r in rows if r["impl"] == impl and all(r.get(k) == str(v) for k, v in want.items())), None)


def row_pairs():
    for r in rows:
        if r["impl"] != "soft":
            continue
        if r["result"] == "train":
            key = dict(result="train", model=r["model"], img=r["img"], batch=r["batch"])
            yield f"train {r['model']} {r['img']}px batch {r['batch']}", "step_ms", key
        elif r["result"] == "attn":
            key = dict(result="attn", attention=r["attention"], tokens=r["tokens"])
            yield f"attn {'SOFT' if r['attention'] == 'soft' else 'softmax'} block {r['tokens']} tokens", "fwd_bwd_ms", key
        elif r["result"] == "gemm":
            yield f"gemm {r['n']}^3 float32", "ms", dict(result="gemm", n=r["n"])


print(f"\n{'benchmark':40s}{'soft.cpp ms':>14s}{'PyTorch ms':>14s}{'soft MiB':>11s}{'torch MiB':>11s}"
      f"{'speed':>9s}{'memory':>9s}")
for name, metric, key in row_pairs():
    s, t = find("soft", **key), find("torch", **key)
    if t is None:
        print(f"{name:40s}{float(s[metric]):14.1f}{'-':>14s}")
        continue
    speed = float(t[metric]) / float(s[metric])
    mem = f"{float(s['peak_rss_mib']) / float(t['peak_rss_mib']):8.2f}x" if "peak_rss_mib" in s else f"{'-':>9s}"
    s_mib = f"{float(s['peak_rss_mib']):11.0f}" if "peak_rss_mib" in s else f"{'-':>11s}"
    t_mib = f"{float(t['peak_rss_mib']):11.0f}" if "peak_rss_mib" in t else f"{'-':>11s}"
    print(f"{name:40s}{float(s[metric]):14.1f}{float(t[metric]):14.1f}{s_mib}{t_mib}{speed:8.2f}x{mem}")
print("\nspeed: PyTorch time / soft.cpp time (above 1: soft.cpp faster); memory: soft.cpp peak RSS / PyTorch's "
      "(PyTorch's includes ~250 MiB of its own libraries)")
EOF
echo "wrote $OUT/{machine,results,table}.txt and $OUT/attn_sweep.svg in $SECONDS s"
