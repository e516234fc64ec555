#!/usr/bin/env bash
# One command for a GPU machine: builds with CUDA, runs every CUDA test, runs compute-sanitizer
# memcheck on the CUDA tests and on a short training run, runs the GPU benchmarks next to PyTorch
# eager on the same card, and prints a short table last. Aim: under 8 minutes on an H100, under 6
# with --quick. Binaries built elsewhere link OpenMPI when the build found it (data-parallel
# training): build them with -DSOFT_MPI=OFF unless the GPU machine has libopenmpi3 installed.
#
#   bash scripts/gpu-check.sh                  # from the repository root: build, then check
#   bash scripts/gpu-check.sh --prebuilt DIR   # use soft_tests and soft from DIR (built on
#                                              # another machine with -DSOFT_CUDA=ON) when the GPU
#                                              # machine lacks the build's Debian packages
#                                              # (scripts/prepare-gpu-check.sh makes DIR)
#   bash scripts/gpu-check.sh --quick [--prebuilt DIR]   # the same checks with shorter benchmarks
#                                              # (5 steps) and no memcheck of training steps: for
#                                              # a 15-minute device window, so that a rerun fits
#   bash scripts/gpu-check.sh --groups dwconv,compile --append ...   # only these groups, their
#                                              # results added to the last run's summary
#
# Groups (--groups LIST; default tests,bench,profile,sanitize, plus every other one without --quick):
#   tests     the CUDA tests (each kernel against its CPU kernel, whole training steps)
#   bench     soft_tiny training steps (fp32, bf16) and the attention sweep, both sides
#   profile   SOFT_PROFILE_KERNELS=shapes of a soft_tiny step
#   sanitize  compute-sanitizer memcheck and racecheck
#   dwconv    the depthwise convs alone (soft.cpp's kernels, cuDNN's, PyTorch's) and the step on cuDNN's
#   compile   torch.compile's training step (bf16)
#   precision bf16 against fp32 on the Fashion-MNIST recipe (scripts/bf16-vs-fp32.sh)
#   feed      the input pipeline feeding the GPU (bench/gpu_feed.sh)
#   nccl      one NCCL rank against no data parallelism (needs mpirun and a binary with MPI)
#   zoo       soft_tiny with each attention of the zoo: training images/s and memory (docs/ATTENTION_ZOO.md)
#
# The benchmarks are `soft bench train|attn --device cuda` beside `bench/torch_soft.py --device
# cuda` (the same result lines). Writes $BUILD/gpu-summary.json (commit it as docs/gpu-summary.json):
# device, date, commit, the failed CUDA tests, memcheck errors, racecheck hazards, training
# images/s of both sides in fp32 and bf16 (and torch.compile's), model-FLOP utilisation, and one
# SOFT block's time and peak memory at 16k and 64k tokens.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
BUILD=build-gpu
PREBUILT=""
QUICK=0
WANTED=""
APPEND=0
while [ $# -gt 0 ]; do
  case $1 in
    --prebuilt) PREBUILT=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --groups) WANTED=$2; shift 2 ;;
    --append) APPEND=1; shift ;;
    *) echo "gpu-check: unknown argument $1 (--prebuilt DIR, --quick, --groups LIST, --append)" >&2; exit 2 ;;
  esac
done
ALL_GROUPS=tests,bench,profile,sanitize,dwconv,compile,precision,feed,nccl,zoo
[ -n "$WANTED" ] || WANTED=$([ $QUICK = 1 ] && echo tests,bench,profile,sanitize || echo $ALL_GROUPS)
for g in ${WANTED//,/ }; do
  [[ ",$ALL_GROUPS," == *",$g,"* ]] || { echo "gpu-check: unknown group '$g' (of $ALL_GROUPS)" >&2; exit 2; }
done
want() { [[ ",$WANTED," == *",$1,"* ]]; }
STEPS=$([ $QUICK = 1 ] && echo 5 || echo 10)
JOBS=$(nproc)
LOG=$BUILD/gpu-check.log
bench=$BUILD/bench-results.txt
mkdir -p $BUILD/steps
if [ $APPEND = 0 ]; then
  rm -f $BUILD/steps/*.log
  : > $LOG
  : > $bench
fi
summary=()
step() {  # step NAME SECONDS COMMAND...: runs it with a time limit, logs it, records PASS/FAIL
  local name=$1 limit=$2; shift 2
  local start=$SECONDS status
  local own="$BUILD/steps/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_').log"  # this step's output alone
  echo "== $name: $*" | tee -a $LOG
  timeout "$limit" "$@" > "$own" 2>&1
  status=$?
  cat "$own" >> $LOG
  local verdict=PASS
  if [ $status -eq 124 ]; then verdict="TIMEOUT after ${limit}s"; elif [ $status -ne 0 ]; then verdict="FAIL ($status)"; fi
  summary+=("$(printf '%-36s %-18s %5ds' "$name" "$verdict" $((SECONDS - start)))")
  tail -n 5 $LOG
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a $LOG
if [ -z "$PREBUILT" ]; then
  step "configure (CUDA, sm_90)" 300 cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release -DSOFT_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90
  step "build" 600 cmake --build $BUILD -j "$JOBS" --target soft_tests soft_cli
  TESTS=$BUILD/tests/soft_tests
  SOFT=$BUILD/soft
else
  TESTS=$PREBUILT/soft_tests
  SOFT=$PREBUILT/soft
fi

want tests && step "CUDA tests" 240 $TESTS --test-case='cuda:*'
TRAIN="train --model soft_tiny --img 224 --batch 128 --device cuda --warmup 3"
if want bench; then
  for precision in fp32 bf16; do
    step "bench: soft.cpp train soft_tiny $precision" 120 \
      sh -c "$SOFT bench $TRAIN --steps $STEPS --precision $precision | tee -a $bench"
    step "bench: torch train soft_tiny $precision" 180 \
      sh -c "python3 bench/torch_soft.py $TRAIN --steps $STEPS --precision $precision | tee -a $bench"
  done
  SWEEP="attn --sweep --device cuda --tokens 1024,4096,16384,65536 --steps 5 --warmup 1"
  step "bench: soft.cpp attention sweep" 150 sh -c "$SOFT bench $SWEEP --out $BUILD/attn-sweep | tee -a $bench"
  step "bench: torch attention sweep" 150 sh -c "python3 bench/torch_soft.py $SWEEP | tee -a $bench"
fi
# Where a step's time goes, by kernel and shape (each call synchronised: ranks kernels, slows the step).
want profile && step "profile: soft_tiny step kernels" 120 \
  sh -c "SOFT_PROFILE_KERNELS=shapes $SOFT bench $TRAIN --steps 2"
if want dwconv; then
  DW="dwconv --device cuda --batch 128 --steps $STEPS --warmup 2"
  step "bench: soft.cpp depthwise convs" 60 sh -c "$SOFT bench $DW | tee -a $bench"
  step "bench: cuDNN depthwise convs" 60 sh -c "SOFT_DEPTHWISE=cudnn $SOFT bench $DW | tee -a $bench"
  step "bench: torch depthwise convs" 60 sh -c "python3 bench/torch_soft.py $DW | tee -a $bench"
  step "bench: soft.cpp train, cuDNN depthwise" 120 sh -c \
    "SOFT_DEPTHWISE=cudnn $SOFT bench $TRAIN --steps $STEPS | sed 's/impl=soft/impl=soft-cudnn-dw/' | tee -a $bench"
fi
# torch.compile (default mode) where the device's PyTorch can: its compilation is the warm-up.
want compile && step "bench: torch.compile train soft_tiny bf16" 400 \
  sh -c "python3 bench/torch_soft.py $TRAIN --steps $STEPS --precision bf16 --compile | tee -a $bench"
# bf16 against fp32 on a real recipe (Fashion-MNIST, soft_fmnist_s): the loss gap and both top-1s,
# curves in $BUILD/bf16-vs-fp32/bf16_vs_fp32.svg. The data: Debian's dataset-fashion-mnist, or
# the idx files carried in DIR/fashion-mnist with --prebuilt DIR.
if want precision; then
  fmnist=""
  for d in "${PREBUILT:-/nonexistent}/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    [ -f "$d/train-images-idx3-ubyte.gz" ] && fmnist=$d && break
  done
  if [ -n "$fmnist" ]; then
    step "bf16 vs fp32: Fashion-MNIST" 300 bash scripts/bf16-vs-fp32.sh --soft "$SOFT" --data "$fmnist" \
      --epochs $([ $QUICK = 1 ] && echo 1 || echo 2) --out $BUILD/bf16-vs-fp32
  else
    summary+=("bf16 vs fp32: Fashion-MNIST           SKIP (no fashion-mnist: carry it in DIR/fashion-mnist)")
  fi
fi
# The loader on this machine's cores feeding the GPU (docs/PERFORMANCE.md, "Feeding the GPU").
want feed && step "bench: feed the GPU" 300 \
  sh -c "bash bench/gpu_feed.sh --soft $SOFT --out $BUILD/gpu_feed $([ $QUICK = 1 ] && echo --quick) | tee -a $bench"
# Data parallelism on the GPU (docs/DISTRIBUTED.md): the NCCL path with one rank against no data
# parallelism, when the machine has mpirun and the binary was built with MPI.
if want nccl; then
  if command -v mpirun >/dev/null && ldd "$SOFT" 2>/dev/null | grep -q libmpi; then
    step "bench: NCCL one rank vs alone" 240 sh -c "SOFT=$SOFT bash bench/dist_side_by_side.sh cuda | tee -a $bench"
  else
    summary+=("bench: NCCL one rank vs alone        SKIP (no mpirun, or soft built without MPI)")
  fi
fi
# soft_tiny at 224 px with each attention kind of stages 1-3 (the GPU row of docs/ATTENTION_ZOO.md).
want zoo && step "bench: attention zoo on soft_tiny" 300 \
  sh -c "bash scripts/compare-attention.sh --gpu --soft $SOFT --out $BUILD/attention-zoo | tee -a $bench"

if want sanitize && command -v compute-sanitizer >/dev/null; then
  # The whole-model test is covered by the short training run below, which is faster under memcheck.
  step "memcheck: CUDA op tests" 150 compute-sanitizer --tool memcheck --error-exitcode 1 \
    $TESTS --test-case='cuda:*' --test-case-exclude='*soft_tiny*'
  [ $QUICK = 1 ] || step "memcheck: training steps" 120 compute-sanitizer --tool memcheck --error-exitcode 1 \
    $SOFT bench train --device cuda --model soft_tiny --img 64 --batch 4 --steps 2
  # racecheck sees shared-memory hazards only: the tests of the kernels that use shared memory
  # (cuda/reduce.cuh's block reductions, the Newton inverse, the depthwise convs); all op tests
  # took over 100 s.
  step "racecheck: shared-memory kernels" 180 compute-sanitizer --tool racecheck --error-exitcode 1 \
    $TESTS --test-case='cuda: sum*,cuda: mean*,cuda: argmax*,cuda: max*,cuda: softmax*,cuda: cross_entropy*,cuda: layer_norm*,cuda: batch_norm*,cuda: newton_inverse (journal*,cuda: depthwise conv2d*'
elif want sanitize; then
  summary+=("compute-sanitizer                    SKIP (not on PATH)")
fi

echo
echo "== benchmark results ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
python3 scripts/gpu_summary.py --table "$bench"
echo
echo "== summary"
printf '%s\n' "${summary[@]}"

device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
commit=$(git rev-parse HEAD 2>/dev/null || echo "${SOFT_COMMIT:-unknown}")  # the device copy may have no .git
python3 scripts/gpu_summary.py $BUILD "$device" "$commit" > $BUILD/gpu-summary.json
echo
echo "== $BUILD/gpu-summary.json (commit it as docs/gpu-summary.json)"
cat $BUILD/gpu-summary.json
