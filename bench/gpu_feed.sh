#!/usr/bin/env bash
# Does the input pipeline keep the GPU fed? On the GPU machine, with configs/train/imagenet_soft_tiny.json
# (the SOFT/DeiT recipe: RandomResizedCrop 224 bicubic, flip, RandAugment, random erasing, mixup/cutmix)
# on a folder of generated ImageNet-like JPEGs (bench/make_jpeg_folder.py):
#
#  (a) `soft bench data`: images/s of the train pipeline (decode to the normalised pinned batch) with
#      1 loader thread and with one per core;
#  (b) `soft train` on cuda:0: soft_tiny training images/s (from the train lines of metrics.jsonl,
#      after the first window) with the real loader (the JPEG folder, one loader thread per core,
#      batches in pinned memory copied asynchronously) against in-memory synthetic 224x224 batches,
#      which cost next to nothing to load; and, without --quick, the real loader without pinned memory.
#      real/synthetic near 1 means the loader is not the bottleneck.
#
#   bench/gpu_feed.sh [--soft BIN] [--out DIR] [--quick]
#
# BIN: the soft binary of a CUDA build (default build-gpu/soft). DIR: where the JPEGs and runs go
# (default build-gpu/gpu_feed). --quick: 5 s per data measurement and 3 epochs of 8 steps (a 15-minute
# device window); otherwise 15 s and 4 epochs of 16 steps. Environment: JPEGS (an existing folder with
# train/ and val/ to use instead of generating one). Needs Pillow and numpy to generate the JPEGs
# (Debian's python3-pil, python3-numpy): without them, and without JPEGS, it says so and exits 0.
# Prints result lines (`result data ...` from soft bench, `result feed ...` per training run and
# `result feed_ratio ...`), then a short table.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOFT=$ROOT/build-gpu/soft
OUT=$ROOT/build-gpu/gpu_feed
QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --soft) SOFT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "gpu_feed: unknown argument $1 (--soft BIN, --out DIR, --quick)" >&2; exit 2 ;;
  esac
done
PYTHON=/usr/bin/python3
CONFIG=$ROOT/configs/train/imagenet_soft_tiny.json
CORES=$(nproc)
if [ $QUICK = 1 ]; then SECONDS_EACH=5; EPOCHS=3; COPIES=2; else SECONDS_EACH=15; EPOCHS=4; COPIES=4; fi
BATCH=128           # the config's batch, one micro-batch per step (accum_steps 1) so steps are short
TRAIN=$((512 * COPIES))  # images per epoch: 512 generated, linked COPIES times (same decode cost)
[ -x "$SOFT" ] || { echo "gpu_feed: $SOFT is not an executable soft binary (--soft BIN)" >&2; exit 2; }
mkdir -p "$OUT"

# The JPEG folder: 512 train JPEGs in 8 classes, each linked COPIES times under another name.
if [ -z "${JPEGS:-}" ]; then
  if ! $PYTHON -c 'import PIL, numpy' 2>/dev/null; then
    echo "gpu_feed: skipped: Pillow or numpy missing (apt-get install python3-pil python3-numpy), and no JPEGS folder"
    exit 0
  fi
  BASE=$OUT/jpegs
  [ -d "$BASE/train" ] || $PYTHON "$ROOT/bench/make_jpeg_folder.py" "$BASE" --train 512 --val 32 --classes 8
  JPEGS=$OUT/jpegs_x$COPIES
  if [ ! -d "$JPEGS/train" ]; then
    rm -rf "$JPEGS"
    mkdir -p "$JPEGS/train"
    cp -al "$BASE/val" "$JPEGS/val"
    for cls in "$BASE"/train/*/; do
      name=$(basename "$cls")
      mkdir -p "$JPEGS/train/$name"
      for k in $(seq 1 $COPIES); do
        for f in "$cls"*.JPEG; do ln -f "$f" "$JPEGS/train/$name/copy${k}_$(basename "$f")"; done
      done
    done
  fi
fi
CLASSES=$(find "$JPEGS/train" -mindepth 1 -maxdepth 1 -type d | wc -l)
RESULTS=$OUT/results.txt
: > "$RESULTS"

# (a) the pipeline alone.
for t in 1 "$CORES"; do
  "$SOFT" bench data --config "$CONFIG" --set "data.path=$JPEGS" --threads "$t" --seconds "$SECONDS_EACH" \
    | grep '^result' | tee -a "$RESULTS"
done

# (b) training steps on the GPU: the real loader against synthetic in-memory batches.
COMMON=(--set device=cuda --set accum_steps=1 --set schedule.warmup_epochs=0 --set "batch=$BATCH"
        --set "epochs=$EPOCHS" --set log.every_steps=4 --set eval.batch=32 --set "data.workers=$CORES"
        --set "model.num_classes=$CLASSES" --force)
train_run() {  # train_run NAME SET...: one run; prints its result line
  local name=$1; shift
  local dir=$OUT/run_$name
  "$SOFT" train --config "$CONFIG" --run-dir "$dir" "${COMMON[@]}" "$@" > "$dir.log" 2>&1 ||
    { echo "gpu_feed: soft train ($name) failed; the end of $dir.log:" >&2; tail -n 20 "$dir.log" >&2; return 1; }
  $PYTHON - "$dir/metrics.jsonl" "$name" "$CORES" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
train = [l for l in lines if l.get("kind") == "train"]
timed = train[1:] or train  # the first window holds cuDNN's and the allocators' warm-up
rate = sum(l["images_per_s"] for l in timed) / len(timed)
print(f"result feed impl=soft config=imagenet_soft_tiny data={sys.argv[2]} workers={sys.argv[3]} "
      f"steps={train[-1]['step']} windows={len(timed)} images_per_s={rate:.1f}")
PY
}
train_run folder --set "data.path=$JPEGS" | tee -a "$RESULTS"
train_run synthetic --set data.kind=synthetic --set "data.synthetic.train=$TRAIN" --set data.synthetic.test=32 \
  --set data.synthetic.channels=3 --set data.synthetic.size=224 --set "data.synthetic.classes=$CLASSES" \
  | tee -a "$RESULTS"
[ $QUICK = 1 ] || train_run folder_unpinned --set "data.path=$JPEGS" --set data.pin_memory=false | tee -a "$RESULTS"

echo
$PYTHON - "$RESULTS" <<'PY'
import sys
rows = [dict(kv.split("=", 1) for kv in line.split()[2:]) | {"kind": line.split()[1]} for line in open(sys.argv[1])]
data = [r for r in rows if r["kind"] == "data"]
feed = {r["data"]: float(r["images_per_s"]) for r in rows if r["kind"] == "feed"}
for r in data:
    print(f"loader alone, {r['threads']:>3} threads: {float(r['images_per_s']):8.1f} images/s "
          f"({float(r['images_per_s_per_thread']):.1f} per thread)")
for name, rate in feed.items():
    print(f"training on the GPU, {name:16}: {rate:8.1f} images/s")
ratio = feed["folder"] / feed["synthetic"]
print(f"result feed_ratio real_over_synthetic={ratio:.3f}")
print(f"real loader / synthetic batches: {ratio:.2f} (near 1: the loader keeps up)")
PY
