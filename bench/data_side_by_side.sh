#!/usr/bin/env bash
# The training input pipeline of configs/train/imagenet_soft_tiny.json (the SOFT/DeiT recipe:
# RandomResizedCrop 224 bicubic, flip, RandAugment rand-m9-mstd0.5-inc1, normalisation, random
# erasing 0.25) in soft.cpp (`soft bench data`) against timm 0.4.12 on Pillow
# (bench/timm_data_bench.py, one process, one thread), on the same folder of ImageNet-like JPEGs.
#
#   bench/data_side_by_side.sh [OUT_DIR]      (default: BUILD_DIR/data_side_by_side)
#
# Environment: BUILD_DIR (default build), JPEGS (the folder; default OUT_DIR/jpegs, written by
# bench/make_jpeg_folder.py when missing), SECONDS_EACH (default 20), THREADS (soft's thread
# counts, default "1 2"), TIMM_WHEEL (a timm-0.4.12 wheel; default: pip download). Prints the
# result lines and a table: images/s (wall clock) and images per CPU-second, and the ratio of
# soft's images/CPU-second to timm's (the cost per core, which other processes on a shared
# machine disturb less than the wall clock).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${1:-$BUILD_DIR/data_side_by_side}
JPEGS=${JPEGS:-$OUT/jpegs}
SECONDS_EACH=${SECONDS_EACH:-20}
THREADS=${THREADS:-1 2}
PYTHON=/usr/bin/python3

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j 2 --target soft_cli >/dev/null
mkdir -p "$OUT"
[ -d "$JPEGS/train" ] || $PYTHON "$ROOT/bench/make_jpeg_folder.py" "$JPEGS"
RESULTS="$OUT/results.txt"
: > "$RESULTS"

$PYTHON "$ROOT/bench/timm_data_bench.py" "$JPEGS" --seconds "$SECONDS_EACH" ${TIMM_WHEEL:+--timm-wheel "$TIMM_WHEEL"} \
  2>/dev/null | grep '^result' | tee -a "$RESULTS"
for t in $THREADS; do
  "$BUILD_DIR/soft" bench data --config "$ROOT/configs/train/imagenet_soft_tiny.json" --set "data.path=$JPEGS" \
    --threads "$t" --seconds "$SECONDS_EACH" | grep '^result' | tee -a "$RESULTS"
done

echo
$PYTHON - "$RESULTS" <<'PY'
import sys
rows = [dict(kv.split("=", 1) for kv in line.split()[2:]) for line in open(sys.argv[1])]
impls = [line.split()[2].split("=")[1] for line in open(sys.argv[1])]
timm = next(r for r, i in zip(rows, impls) if i == "timm")
base = float(timm["images_per_cpu_s"])
print(f"{'impl':6} {'threads':>7} {'images/s':>9} {'per thread':>10} {'images/CPU-s':>12} {'vs timm per core':>16}")
for r, i in zip(rows, impls):
    cpu = float(r["images_per_cpu_s"])
    print(f"{i:6} {r['threads']:>7} {float(r['images_per_s']):9.1f} {float(r['images_per_s_per_thread']):10.1f} "
          f"{cpu:12.1f} {cpu / base:15.2f}x")
PY
