#!/usr/bin/env bash
# A failing rank ends the whole data-parallel job, never a hang (docs/DISTRIBUTED.md):
#   1. rank 1 killed with SIGKILL mid-training: mpirun exits non-zero within 60 s, naming rank 1,
#      and the run folder's last checkpoint still loads;
#   2. rank 0 alone failing (its checkpoint cannot be written) while rank 1 waits in an all-reduce:
#      the job exits non-zero within 60 s with the error naming rank 0.
#
#   tests/dist/kill_rank.sh SOFT SCRATCH_DIR
set -euo pipefail
soft=$1
scratch=$2
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$scratch"
mkdir -p "$scratch"
settings=(--config "$source_dir/configs/train/fmnist.json" --force --set threads=1 --set data.train_limit=12800
          --set data.test_limit=500 --set batch=64 --set epochs=4 --set log.checkpoint_every_steps=5)

fail() {
  echo "kill_rank: FAILED: $*" >&2
  exit 1
}
# Waits for the job $1 for at most $2 seconds; sets status to its exit status.
wait_at_most() {
  local pid=$1 limit=$2 start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - start > limit)); then
      kill -9 "$pid"
      fail "the job still runs ${limit} s after the failure (a hang)"
    fi
    sleep 0.2
  done
  status=0
  wait "$pid" || status=$?
}
# The pid of the rank $2 of the job whose run folder is $1.
rank_pid() {
  local pid
  for pid in $(pgrep -f -- "--run-dir $1"); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$pid"
      return
    fi
  done
}

# 1. SIGKILL of rank 1 once a checkpoint exists.
run=$scratch/killed
mpirun --oversubscribe -np 2 "$soft" train "${settings[@]}" --run-dir "$run" >"$scratch/killed.log" 2>&1 &
job=$!
for _ in $(seq 600); do [[ -f $run/latest.safetensors ]] && break; sleep 0.1; done
[[ -f $run/latest.safetensors ]] || fail "no checkpoint within 60 s: $(tail -5 "$scratch/killed.log")"
victim=$(rank_pid "$run" 1)
[[ -n $victim ]] || fail "rank 1 not found"
kill -9 "$victim"
wait_at_most "$job" 60
[[ $status -ne 0 ]] || fail "mpirun exited 0 after rank 1 was killed"
grep -q "rank 1" "$scratch/killed.log" || fail "the output does not name rank 1: $(tail -5 "$scratch/killed.log")"
"$soft" eval "$run" --checkpoint latest >"$scratch/eval.log" 2>&1 || fail "the last checkpoint does not load: $(cat "$scratch/eval.log")"
echo "kill_rank: SIGKILL of rank 1: job ended with status $status; $(cat "$scratch/eval.log")"

# 2. Rank 0 cannot write its first checkpoint (the temporary file's name is taken by a folder).
run=$scratch/unwritable
mkdir -p "$run/latest.safetensors.tmp/blocked"
mpirun --oversubscribe -np 2 "$soft" train "${settings[@]}" --run-dir "$run" >"$scratch/unwritable.log" 2>&1 &
wait_at_most $! 60
[[ $status -ne 0 ]] || fail "the job exited 0 though rank 0 could not write its checkpoint"
grep -q "soft: error: rank 0 of 2: step 5: checkpoint not saved" "$scratch/unwritable.log" ||
  fail "no error naming rank 0: $(tail -5 "$scratch/unwritable.log")"
echo "kill_rank: rank 0 failing alone: job ended with status $status"
