#!/usr/bin/env bash
# Kills a training run with SIGKILL at random moments, resumes it each time, and checks that the
# finished run wrote exactly what an uninterrupted run writes (docs/RELIABILITY.md, issue #7).
#
#   scripts/kill-resume.sh SOFT SCRATCH_DIR [SEED [KILLS [EPOCHS]]]
#
# SOFT is the built `soft` binary; SCRATCH_DIR gets the two run folders, reference/ and killed/
# (replaced if present), and the logs.
# The run is tests/data/train/tiny_synthetic.json (a tiny SOFT model on synthetic data with every
# random draw on: shuffling, crop, flip, erasing, mixup/cutmix, dropout, drop-path; an EMA; one
# CPU thread) with a checkpoint after every step, so that writes are frequent. Odd-numbered kills
# come a random delay after a random step (they land in a step, an evaluation, a write or the
# start-up); even ones as soon as latest.safetensors.tmp appears, in a checkpoint write. After
# each kill `soft eval --checkpoint latest` must load the run folder's checkpoint, at a step no
# earlier than the one before, and `soft train --resume` continues. At the end metrics.jsonl
# (timings left out) must equal the uninterrupted run's line for line, and the tensors of
# latest.safetensors and best.safetensors (model, EMA, optimiser state) must be the same bytes.
#
# The delays come from bash's RANDOM seeded with SEED (default: the clock), printed so that a
# failure can be replayed; where a delay lands still depends on the machine's speed.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 SOFT SCRATCH_DIR [SEED [KILLS [EPOCHS]]]" >&2
  exit 2
fi
soft=$1
scratch=$2
seed=${3:-$(date +%s)}
kills=${4:-10}
epochs=${5:-5}
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=$source_dir/tests/data/train/tiny_synthetic.json
settings=(--set "model.config=$source_dir/tests/data/train/tiny_model.json" --set "epochs=$epochs"
          --set log.checkpoint_every_steps=1)
RANDOM=$seed
echo "kill-resume: seed $seed (replay: $0 $soft $scratch $seed $kills $epochs)"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
fail() {
  echo "kill-resume: FAILED (seed $seed): $*" >&2
  exit 1
}
# metrics.jsonl without what depends on the clock.
metrics() { sed -E 's/,"(images_per_s|time_s)":[^,}]*//g' "$1/metrics.jsonl"; }
# The bytes after a safetensors file's header: every tensor, without the metadata (which records
# metrics.jsonl's size, and that depends on the printed timings).
tensor_bytes() {
  local header
  header=$(od -An -tu8 -N8 "$1" | tr -d ' ')
  tail -c +$((header + 9)) "$1"
}

reference=$scratch/reference
run=$scratch/killed
mkdir -p "$scratch"
rm -rf "$reference" "$run"

start_ms=$(now_ms)
"$soft" train --config "$config" "${settings[@]}" --run-dir "$reference" >"$scratch/reference.log" 2>&1 ||
  { cat "$scratch/reference.log"; fail "the uninterrupted run failed"; }
reference_ms=$(($(now_ms) - start_ms))
steps=$(metrics "$reference" | grep -c '"kind":"train"')
echo "kill-resume: uninterrupted run: $steps steps in $reference_ms ms"

# Odd-numbered kills aim at a random step in their share of the run (kill 1 in the first fifth
# with the default 10 kills, kill 3 in the second, ...): once metrics.jsonl shows that step, a
# random delay of up to three steps' time lands the kill in a step, a checkpoint write or an
# evaluation. Each resume also spends some time starting, so a delay can land there too.
random_kills=$(((kills + 1) / 2))
step_ms=$((reference_ms / steps + 1))
logged_steps() { grep -c '"kind":"train"' "$run/metrics.jsonl" || true; }
tmp=$run/latest.safetensors.tmp
# The temporary file's state, to tell a write cut short by this kill from one cut by an earlier kill.
tmp_state() { stat -c %y "$tmp" 2>/dev/null || echo none; }
survived=0
during_write=0
last_step=0
segment=0
"$soft" train --config "$config" "${settings[@]}" --run-dir "$run" >"$scratch/segment0.log" 2>&1 &
pid=$!
# Kills start after the first checkpoint: before it there is nothing to resume (a new start).
while [[ ! -e $run/latest.safetensors ]] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
tmp_before=$(tmp_state)

while ((survived < kills)); do
  if ((survived % 2 == 0)); then
    share=$((survived / 2))
    target=$((1 + (share * steps + RANDOM % steps) / random_kills))
    delay_ms=$((RANDOM % (3 * step_ms)))
    while (($(logged_steps) < target)) && kill -0 "$pid" 2>/dev/null; do sleep 0.005; done
    sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
    how="$delay_ms ms after step $target was logged"
  else
    # A temporary file left by an earlier kill is replaced by the first save; wait for a new one.
    while [[ -e $tmp ]] && kill -0 "$pid" 2>/dev/null; do :; done
    while [[ ! -e $tmp ]] && kill -0 "$pid" 2>/dev/null; do :; done
    how="as a checkpoint write began"
  fi
  kill -KILL "$pid" 2>/dev/null || true
  status=0
  wait "$pid" 2>/dev/null || status=$?  # (without bash's "Killed" line)
  if ((status == 0)); then break; fi  # the run finished before the kill
  ((status == 137)) || { cat "$scratch/segment$segment.log"; fail "segment $segment exited with status $status"; }
  survived=$((survived + 1))
  landed=""
  if [[ $(tmp_state) != none && $(tmp_state) != "$tmp_before" ]]; then
    during_write=$((during_write + 1))
    landed="; a checkpoint write cut short"
  fi
  # The checkpoint left behind must load; eval names it as "PATH, step N".
  eval_out=$("$soft" eval "$run" --checkpoint latest 2>&1) || fail "after kill $survived: $eval_out"
  step=$(sed -nE 's/.*latest\.safetensors, step ([0-9]+):.*/\1/p' <<<"$eval_out")
  [[ -n $step ]] || fail "after kill $survived: no step in '$eval_out'"
  ((step >= last_step)) || fail "after kill $survived the checkpoint went back from step $last_step to $step"
  last_step=$step
  echo "kill-resume: kill $survived ($how$landed): latest.safetensors at step $step of $steps loads"
  tmp_before=$(tmp_state)
  segment=$((segment + 1))
  "$soft" train --resume "$run" >"$scratch/segment$segment.log" 2>&1 &
  pid=$!
done
if ((survived == kills)); then
  wait "$pid" || { cat "$scratch/segment$segment.log"; fail "the last resume failed"; }
fi

((survived >= 5)) || fail "only $survived kills landed before the run finished (at least 5 wanted)"
metrics "$reference" >"$scratch/reference.metrics"
metrics "$run" >"$scratch/killed.metrics"
diff "$scratch/reference.metrics" "$scratch/killed.metrics" >&2 ||
  fail "metrics.jsonl of the killed and resumed run differs from the uninterrupted run's"
for file in latest.safetensors best.safetensors; do
  cmp -s <(tensor_bytes "$reference/$file") <(tensor_bytes "$run/$file") ||
    fail "$file: the tensors differ from the uninterrupted run's"
done
echo "kill-resume: survived $survived kills ($during_write of them during a checkpoint write);" \
  "metrics.jsonl ($(wc -l <"$scratch/reference.metrics") lines) and the checkpoints' tensors equal the uninterrupted run's"
