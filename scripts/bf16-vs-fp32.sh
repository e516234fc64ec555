#!/usr/bin/env bash
# Does a bf16 run still train SOFT like fp32? The Fashion-MNIST recipe (configs/train/fmnist.json,
# soft_fmnist_s) trained twice on a GPU with the same seed, once in each precision, then
# `soft compare`: the largest gap between the two training-loss curves, both test top-1s, and an
# SVG of the overlaid curves (commit it as docs/bf16_vs_fp32.svg).
#
#   bash scripts/bf16-vs-fp32.sh [--soft BIN] [--data DIR] [--epochs N] [--out DIR]
#
# --data: the Fashion-MNIST idx files (default /usr/share/datasets/fashion-mnist, Debian's
# dataset-fashion-mnist); --epochs: default 2; --out: default runs/bf16-vs-fp32.
set -euo pipefail
cd "$(dirname "$0")/.."
soft=build/soft
data=/usr/share/datasets/fashion-mnist
epochs=2
out=runs/bf16-vs-fp32
while [ $# -gt 0 ]; do
  case $1 in
    --soft) soft=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "bf16-vs-fp32: unknown argument $1 (--soft BIN, --data DIR, --epochs N, --out DIR)" >&2; exit 2 ;;
  esac
done
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "bf16-vs-fp32: no Fashion-MNIST in $data (--data DIR)" >&2
  exit 2
fi
mkdir -p "$out"
for precision in fp32 bf16; do
  echo "== $precision"
  "$soft" train --config configs/train/fmnist.json --set device=cuda --set precision=$precision \
    --set epochs="$epochs" --set data.path="$data" --set log.every_steps=20 --run-dir "$out/$precision" --force \
    | tail -n 2
done
"$soft" compare --runs "$out/fp32" "$out/bf16" --labels fp32,bf16 --out "$out/bf16_vs_fp32.svg"
