#!/usr/bin/env bash
# scripts/gpu-check.sh summarises `soft bench` result lines with scripts/gpu_summary.py on the GPU
# machine, where a renamed field would surface only as nulls in gpu-summary.json. This runs the
# same benchmarks on the CPU at tiny sizes, relabels their lines as the summary's (soft_tiny,
# 224 px, batch 128; 16,384 tokens; a copy as PyTorch's), and checks that every number the
# summary and its table take from them comes back.
#
#   tests/scripts/gpu_summary.sh SOFT_BINARY REPOSITORY_ROOT
set -euo pipefail
soft=$1
root=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/steps"
{
  "$soft" bench train --model soft_fmnist --batch 2 --steps 1 --warmup 0 --threads 1
  "$soft" bench attn --tokens 64 --dim 8 --heads 2 --ratio 4 --steps 1 --warmup 0 --threads 1
} | grep '^result' | sed -e 's/ model=soft_fmnist / model=soft_tiny /; s/ img=28 / img=224 /' \
  -e 's/ batch=2 / batch=128 /; s/ tokens=64 / tokens=16384 /' > "$dir/soft.txt"
{ cat "$dir/soft.txt"; sed 's/ impl=soft / impl=torch /' "$dir/soft.txt"; } > "$dir/bench-results.txt"
echo "[doctest] test cases: 10 | 9 passed | 1 failed | 0 skipped" > "$dir/steps/CUDA_tests.log"

python3 "$root/scripts/gpu_summary.py" "$dir" "NVIDIA H200" test > "$dir/summary.json"
python3 - "$dir/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
taken = ["train_fp32_img_s", "torch_train_fp32_img_s", "attn_16k_ms", "torch_attn_16k_ms", "train_fp32_mfu",
         "torch_train_fp32_mfu"]
missing = [k for k in taken if s.get(k) is None]
assert not missing, f"gpu_summary.py found no value for {missing} in soft bench's result lines"
assert s["cuda_tests_failed"] == 1, s["cuda_tests_failed"]
assert s["train_fp32_img_s"] == s["torch_train_fp32_img_s"], "the relabelled copy must read the same"
print("gpu_summary.py read every field:", ", ".join(f"{k}={s[k]}" for k in taken))
PY
table=$(python3 "$root/scripts/gpu_summary.py" --table "$dir/bench-results.txt")
echo "$table"
for row in "train soft_tiny fp32" "attn soft 16384 tokens"; do
  grep -q "^$row .*speed-up  1.00x" <<< "$table" || { echo "gpu_summary.py --table: no '$row' pair" >&2; exit 1; }
done
