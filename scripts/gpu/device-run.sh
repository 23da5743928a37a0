#!/usr/bin/env bash
# The device side of scripts/gpu/check.sh: runs from the folder check.sh prepared (it is copied
# there as run.sh, beside the gzipped `salient` binary, device-env.sh, seed_model.py, torch_bench.py and
# data/), on the lent GPU machine (`--device cuda`, the default) or here (`--dry-run` of check.sh).
#
#   ./run.sh [--device cuda|cpu] [--size 256] [--batches "16 64"] [--precisions "f32 bf16"] (tf32 too)
#            [--steps 5] [--train-batch 16] [--train-size 256x256] [--python python3]
#
# In order: `salient selftest`; `salient bench model` and torch_bench.py (PyTorch eager,
# --frozen-bn-eval as salient's frozen BatchNorm) for train and infer x each batch x each
# precision (f32 = PyTorch --amp none, bf16 = --amp bf16), each pair back to back; a 1-epoch
# `salient train` on data/. Everything goes under $OUT (default ./out): each command's output, and
# table.md, one table of salient / PyTorch images/s, which is also printed last. Each command has a
# time limit (CMD_TIMEOUT, default 150 s) and none starts after BUDGET_S (default 450 s), so that
# a slow or stuck run cannot eat the device's time; the table is written in any case.
# Exit status: 0 when every command succeeded and the selftest passed, else 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
device=cuda size=256 batches="16 64" precisions="f32 bf16" steps=5 train_batch=16
train_size=256x256 python=python3
while [[ $# -gt 0 ]]; do
  case $1 in
    --device) device=$2; shift 2;; --size) size=$2; shift 2;; --batches) batches=$2; shift 2;;
    --precisions) precisions=$2; shift 2;; --steps) steps=$2; shift 2;;
    --train-batch) train_batch=$2; shift 2;; --train-size) train_size=$2; shift 2;;
    --python) python=$2; shift 2;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2;;
  esac
done
out=${OUT:-$here/out}
# check.sh ships the binary gzipped (the device tool carries 64 MiB at most).
if [[ ! -x $here/salient ]]; then
  gunzip -c "$here/salient.gz" >"$here/salient.tmp" && chmod +x "$here/salient.tmp" &&
    mv "$here/salient.tmp" "$here/salient" || { echo "run.sh: cannot unpack salient.gz" >&2; exit 1; }
fi
mkdir -p "$out"
limit=${CMD_TIMEOUT:-150}
status=0
if [[ $device == cuda* ]]; then
  # shellcheck disable=SC1091
  source "$here/device-env.sh"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$out/gpu.txt" 2>&1 || true
  cat "$out/gpu.txt"
fi
date -u +"%Y-%m-%d %H:%M:%S UTC" | tee "$out/started.txt"

# `run NAME CMD...`: runs CMD with the time limit, output to $out/NAME.txt (and the terminal);
# once BUDGET_S (default 450 s, inside the device tool's 8 minutes) have passed since the start,
# the remaining commands are skipped and say so.
budget=${BUDGET_S:-450}
run() {
  local name=$1; shift
  echo "== $name: $*"
  if (( SECONDS > budget )); then
    echo "skipped: the ${budget}s budget was spent before it started" | tee "$out/$name.txt"
    status=1
    return 1
  fi
  timeout "$limit" "$@" >"$out/$name.txt" 2>&1
  local rc=$?
  tail -n 3 "$out/$name.txt"
  if [[ $rc -ne 0 ]]; then echo "!! $name exited $rc"; status=1; fi
  return $rc
}
# The value of KEY=... in the last line of $out/NAME.txt that has it ("-" when none).
field() { grep -o "$2=[0-9.]*" "$out/$1.txt" 2>/dev/null | tail -n 1 | cut -d= -f2 | grep . || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'; }

run selftest "$here/salient" selftest --device "$device"
selftest_line=$(grep -E "^selftest: " "$out/selftest.txt" | tail -n 1)

rows=()
for mode in train infer; do
  for batch in $batches; do
    for precision in $precisions; do
      # f32 and tf32 are PyTorch without autocast, tf32 with its TF32 switches on.
      amp=none tf32=()
      case $precision in bf16 | f16) amp=$precision ;; tf32) tf32=(--tf32) ;; esac
      tag=$mode-b$batch-$precision
      run "salient-$tag" "$here/salient" bench model --mode "$mode" --device "$device" \
        --batch "$batch" --size "${size}x$size" --precision "$precision" --steps "$steps"
      run "torch-$tag" "$python" "$here/torch_bench.py" --mode "$mode" --device "${device%%:*}" \
        --size "$size" --batch "$batch" --steps "$steps" --amp "$amp" "${tf32[@]}" --frozen-bn-eval
      ours=$(field "salient-$tag" images/s) theirs=$(field "torch-$tag" img/s)
      if [[ $device == cuda* ]]; then
        mem_ours=$(field "salient-$tag" gpu_mem_mib) mem_theirs=$(field "torch-$tag" gpu_mem_mib)
      else
        mem_ours=$(field "salient-$tag" peak_rss_mib) mem_theirs=$(field "torch-$tag" peak_rss_mib)
      fi
      rows+=("| $mode | $batch | $precision | $ours | $theirs | $(ratio "$ours" "$theirs") | $mem_ours | $mem_theirs |")
    done
  done
done

rm -rf "$out/train-run"
start=$(date +%s.%N)
run train-1-epoch "$here/salient" train --data "$here/data" --out "$out/train-run" --epochs 1 \
  --batch-size "$train_batch" --size "$train_size" --backbone-init random --device "$device" --quiet
train_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
train_line=$(grep -iE "epoch|val|loss" "$out/train-1-epoch.txt" | tail -n 1)

memory=$([[ $device == cuda* ]] && echo "GPU MiB" || echo "peak RSS MiB")
{
  echo "salient vs PyTorch eager on $(cat "$out/gpu.txt" 2>/dev/null || echo "$device"), $(cat "$out/started.txt")"
  echo "size ${size}x$size, $steps timed steps (median), PyTorch --frozen-bn-eval; ratio = salient / PyTorch images/s"
  echo
  echo "| mode | batch | precision | salient img/s | PyTorch img/s | ratio | salient $memory | PyTorch $memory |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "selftest --device $device: ${selftest_line:-no summary line (see selftest.txt)}"
  echo "train, 1 epoch on data/ (batch $train_batch, $train_size, random backbone): ${train_s} s wall including start-up; last line: ${train_line:-none}"
} | tee "$out/table.md"
exit $status
