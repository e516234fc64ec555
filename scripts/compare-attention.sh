#!/usr/bin/env bash
# The attention zoo compared on Fashion-MNIST (docs/ATTENTION_ZOO.md): the same skeleton
# (configs/models/soft_fmnist_s.json), seed and schedule (configs/train/fmnist.json) trained once per
# attention kind of stages 1-3, then a results section written into docs/ATTENTION_ZOO.md (top-1,
# parameters, MACs, training images/s, peak memory per kind) and the accuracy curves into
# docs/attention_zoo_curves.svg.
#
#   scripts/compare-attention.sh [--soft BIN] [--out DIR] [--kinds "soft softmax ..."] [--epochs N]
#                                [--set KEY=VALUE]... [--report-only]
#   scripts/compare-attention.sh --gpu [--soft BIN] [--out DIR] [--kinds "..."]
#
# --epochs and --set override the training config (e.g. --set data.train_limit=20000) so that a
# shorter schedule fits a busy machine; the schedule used is written into the results. DIR (default
# runs/attention-zoo) gets one model config, run folder and time log per kind. --report-only
# rewrites the results from the run folders already in DIR. --gpu runs `soft bench train --device
# cuda` (a soft built with -DSOFT_CUDA=ON) on soft_tiny at 224 px with each kind instead (training
# images/s and peak GPU memory, batch 64, fp32 and bf16), writing DIR/gpu_bench.txt; nothing is
# trained.
set -euo pipefail

soft=build/soft
out=runs/attention-zoo
kinds="soft softmax linformer performer nystrom"
epochs=""
sets=()
report_only=0
gpu=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --soft) soft=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    --report-only) report_only=1; shift ;;
    --gpu) gpu=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "compare-attention: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

write_model() {  # BASE KIND FILE: a built-in model config with the attention of stages 1-3 set
  python3 - "$root/configs/models/$1.json" "$2" "$3" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["name"] = config["name"] + "_" + sys.argv[2]
config["attention"] = sys.argv[2]
json.dump(config, open(sys.argv[3], "w"), indent=2)
PY
}

[[ -x $soft ]] || { echo "compare-attention: no soft binary at '$soft' (build it, or give --soft BIN)" >&2; exit 2; }
if [[ $gpu == 1 ]]; then
  : > "$out/gpu_bench.txt"
  for kind in $kinds; do
    write_model soft_tiny "$kind" "$out/soft_tiny_$kind.json"
    for precision in fp32 bf16; do
      "$soft" bench train --device cuda --precision $precision --model "$out/soft_tiny_$kind.json" --img 224 \
        --batch 64 --steps 10 --warmup 3 | grep '^result' | tee -a "$out/gpu_bench.txt"
    done
  done
  exit 0
fi
overrides=()
[[ -n $epochs ]] && overrides+=(--set "epochs=$epochs")
for s in "${sets[@]+"${sets[@]}"}"; do overrides+=(--set "$s"); done

if [[ $report_only == 0 ]]; then
  printf '%s\n' "${overrides[@]+"${overrides[@]}"}" > "$out/overrides.txt"  # the schedule, for the report
  # The machine the runs share, for the report: its CPU, and how busy it was when they started.
  echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" \
    > "$out/machine.txt"
  for kind in $kinds; do
    write_model soft_fmnist_s "$kind" "$out/model_$kind.json"
    echo "== $kind: $(date -u +%H:%M:%S)"
    /usr/bin/time -v -o "$out/time_$kind.txt" "$soft" train --config "$root/configs/train/fmnist.json" \
      --set "model.config=$out/model_$kind.json" "${overrides[@]+"${overrides[@]}"}" \
      --run-dir "$out/run_$kind" --force > "$out/train_$kind.log" 2>&1
    tail -n 1 "$out/train_$kind.log"
  done
fi

for kind in $kinds; do "$soft" info --model "$out/model_$kind.json" --json > "$out/info_$kind.json"; done
python3 "$root/scripts/attention_zoo_report.py" --out "$out" --kinds "$kinds" \
  --doc "$root/docs/ATTENTION_ZOO.md" --svg "$root/docs/attention_zoo_curves.svg"
