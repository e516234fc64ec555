#!/usr/bin/env bash
# Data-parallel training against one process on the same machine (docs/DISTRIBUTED.md):
#
#   bench/dist_side_by_side.sh cpu [RANKS]   1 process x RANKS threads against RANKS processes x 1
#                                            thread under mpirun, on Fashion-MNIST (soft_fmnist_s,
#                                            batch 128, 60 steps); default RANKS 2
#   bench/dist_side_by_side.sh cuda          one process on cuda:0 against `mpirun -np 1` (the NCCL
#                                            path with one rank: bucketing, copies, NCCL calls, the
#                                            per-step reductions), soft_tiny 224 px, batch 128, 30
#                                            steps on synthetic images
#
# Prints images/s of each (mean of the logged windows after the first), their ratio, and the time
# the data-parallel run waited at backward's end for its gradient all-reduces. Environment:
# SOFT (default build/soft), OUT (default /tmp/soft-dist-bench).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOFT=${SOFT:-$ROOT/build/soft}
OUT=${OUT:-/tmp/soft-dist-bench}
MODE=${1:-cpu}
RANKS=${2:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"

if [[ $MODE == cpu ]]; then
  common=(--config "$ROOT/configs/train/fmnist.json" --force --set data.train_limit=7680 --set data.test_limit=500
          --set batch=128 --set epochs=1 --set log.every_steps=10 --set ema.enabled=false)
  alone=("$SOFT" train "${common[@]}" --set threads="$RANKS" --run-dir "$OUT/alone")
  # --bind-to none: each rank's thread may use any core, as the single process's threads may.
  ranked=(mpirun --oversubscribe --bind-to none -np "$RANKS" "$SOFT" train "${common[@]}" --set threads=1
          --run-dir "$OUT/ranked")
  labels=("1 process x $RANKS threads" "$RANKS processes x 1 thread")
else
  common=(--config "$ROOT/configs/train/fmnist.json" --force --set model.config=soft_tiny --set data.kind=synthetic
          --set data.synthetic='{"train":3840,"test":128,"channels":3,"size":224,"classes":1000}'
          --set data.mean='[0.5,0.5,0.5]' --set data.std='[0.25,0.25,0.25]' --set batch=128 --set epochs=1
          --set eval.batch=128 --set log.every_steps=5 --set ema.enabled=false --device cuda)
  alone=("$SOFT" train "${common[@]}" --run-dir "$OUT/alone")
  ranked=(mpirun --oversubscribe -np 1 "$SOFT" train "${common[@]}" --run-dir "$OUT/ranked")
  labels=("1 process, no data parallelism" "mpirun -np 1 (NCCL path)")
fi

# Mean images/s of the train lines of a run's metrics.jsonl, the first window (warm-up) left out.
rate() {
  grep '"kind":"train"' "$1/metrics.jsonl" | sed -E 's/.*"images_per_s":([0-9.e+-]+).*/\1/' |
    awk 'NR > 1 { s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "nan" }'
}

"${alone[@]}" >"$OUT/alone.log" 2>&1
"${ranked[@]}" >"$OUT/ranked.log" 2>&1
a=$(rate "$OUT/alone")
b=$(rate "$OUT/ranked")
wait_s=$(grep -o '[0-9.]* s waiting for gradient all-reduces' "$OUT/ranked.log" | cut -d' ' -f1)
steps=$(grep -c '"kind":"train"' "$OUT/ranked/metrics.jsonl" || true)
printf '%-34s %10s img/s\n' "${labels[0]}" "$a" "${labels[1]}" "$b"
awk -v a="$a" -v b="$b" 'BEGIN { printf "ratio (data-parallel / alone)      %10.3f\n", b / a }'
echo "all-reduce wait at backward's end:  ${wait_s:-?} s in total over the run (logged windows: $steps)"
