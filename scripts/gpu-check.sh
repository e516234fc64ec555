#!/usr/bin/env bash
# One command for a GPU machine: builds with CUDA, runs every test (the CUDA ones included),
# runs compute-sanitizer memcheck on the CUDA tests, runs the GPU benchmarks next to PyTorch
# eager on the same card, and prints a short table last. Aim: under 8 minutes on an H100.
#
#   bash scripts/gpu-check.sh            # from the repository root
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
BUILD=build-gpu
JOBS=$(nproc)
LOG=$BUILD/gpu-check.log
mkdir -p $BUILD
: > $LOG
summary=()
step() {  # step NAME COMMAND...: runs it, logs it, records PASS/FAIL with the time taken
  local name=$1; shift
  local start=$SECONDS
  echo "== $name: $*" | tee -a $LOG
  if "$@" >> $LOG 2>&1; then summary+=("$(printf '%-34s PASS %5ds' "$name" $((SECONDS - start)))")
  else summary+=("$(printf '%-34s FAIL %5ds  (see %s)' "$name" $((SECONDS - start)) "$LOG")"); fi
  tail -n 5 $LOG
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a $LOG
step "configure (CUDA, sm_90)" cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release -DSOFT_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90
step "build" cmake --build $BUILD -j "$JOBS"
step "CUDA tests" $BUILD/tests/soft_tests --test-case='cuda:*'
step "all tests (ctest)" ctest --test-dir $BUILD -j "$JOBS" --output-on-failure
if command -v compute-sanitizer >/dev/null; then
  step "compute-sanitizer memcheck" compute-sanitizer --tool memcheck --error-exitcode 1 \
    $BUILD/tests/soft_tests --test-case='cuda:*'
else
  summary+=("compute-sanitizer memcheck         SKIP (not on PATH)")
fi

bench=$BUILD/bench-results.txt
: > $bench
step "bench: soft.cpp train soft_tiny" sh -c "$BUILD/bench/gpu_bench train --model soft_tiny --img 224 --batch 128 --steps 10 | tee -a $bench"
step "bench: torch train soft_tiny" sh -c "python3 bench/torch_soft_gpu.py train --model soft_tiny --img 224 --batch 128 --steps 10 | tee -a $bench"
step "bench: soft.cpp attention sweep" sh -c "$BUILD/bench/gpu_bench attn --tokens 1024,4096,16384,65536 | tee -a $bench"
step "bench: torch attention sweep" sh -c "python3 bench/torch_soft_gpu.py attn --tokens 1024,4096,16384,65536 | tee -a $bench"

echo
echo "== benchmark results ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
python3 - "$bench" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(soft|torch) (.*): ([0-9.]+) (images/s|ms)", line.strip())
    if m:
        rows.setdefault(m.group(2), {})[m.group(1)] = (float(m.group(3)), m.group(4))
for key, v in rows.items():
    if "soft" in v and "torch" in v:
        (a, unit), (b, _) = v["soft"], v["torch"]
        ratio = a / b if unit == "images/s" else b / a
        print(f"{key:50s} soft.cpp {a:10.2f} {unit:9s} torch {b:10.2f}  speed-up {ratio:5.2f}x")
    else:
        print(f"{key:50s} {v}")
PY
echo
echo "== summary"
printf '%s\n' "${summary[@]}"
