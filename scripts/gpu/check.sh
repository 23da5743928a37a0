#!/usr/bin/env bash
# One prepared GPU check (issue 14): salient's selftest, its model benchmark beside PyTorch eager on
# the same GPU in the same run, and a 1-epoch training run, printed as one table of ratios.
# Follows ../shared/gpu/README.md: the GPU machines have no Rust toolchain and no network, so this
# script builds here and copies everything the run needs into one git-ignored folder (gpu-run/),
# which the device tool carries; scripts/gpu/device-run.sh (copied there as run.sh) is the device
# side. See docs/gpu.md.
#
#   scripts/gpu/check.sh            build the CUDA binary (../shared/gpu/cuda-build.sh -p salient-cli
#                                   --features cudnn) and fill gpu-run/ (binary gzipped); then, with the device tool:
#                                   run(command="cd gpu-run && ./run.sh", carry=["gpu-run"]), give_back
#   scripts/gpu/check.sh --dry-run  the same flow here on the CPU: the CPU release binary, 64x64,
#                                   batch 2, 2 steps, f32, torch_bench.py --device cpu in ~/.torch-ref
#                                   (TORCH_PYTHON overrides), output in gpu-run/out-dry/
#
# Env: ANCHORS (default ../shared/anchors), GPU_SHARED (default ../shared/gpu), CARGO_TARGET_DIR.
set -euo pipefail
dry=0
[[ ${1:-} == --dry-run ]] && dry=1
root=$(git rev-parse --show-toplevel)
cd "$root"
anchors=${ANCHORS:-$root/../shared/anchors}
gpu_shared=${GPU_SHARED:-$root/../shared/gpu}
folder=$root/gpu-run
rm -rf "$folder"
mkdir -p "$folder"

# The CPU build writes the synthetic data (the CUDA build links stub CUDA libraries here and
# cannot start on this machine) and is the binary of the dry run.
cargo build --release -p salient-cli
cpu_binary=${CARGO_TARGET_DIR:-$root/target}/release/salient
if [[ $dry -eq 1 ]]; then
  binary=$cpu_binary
else
  "$gpu_shared/cuda-build.sh" -p salient-cli --features cudnn
  binary=$root/target/cuda/release/salient
fi
# The device tool carries 64 MiB in all: the CUDA binary is ~190 MB, 67 MB stripped of its line
# tables (most of the rest is candle's PTX), 17 MB gzipped. run.sh unpacks it.
strip -o "$folder/salient.unpacked" "$binary"
gzip -9 -c "$folder/salient.unpacked" >"$folder/salient.gz"
rm "$folder/salient.unpacked"
cp "$gpu_shared/device-env.sh" "$anchors/seed_model.py" "$anchors/torch_bench.py" "$folder/"
cp "$root/scripts/gpu/device-run.sh" "$folder/run.sh"
if [[ $dry -eq 1 ]]; then
  "$cpu_binary" data synth --out "$folder/data" --train 8 --val 4 --size 64x64
else
  # 256 training and 32 validation scenes at the benchmark's 256x256: one epoch is 16 steps of 16.
  "$cpu_binary" data synth --out "$folder/data" --train 256 --val 32 --size 256x256
fi
du -sh "$folder" | sed 's/^/carry size: /'

if [[ $dry -eq 1 ]]; then
  python=${TORCH_PYTHON:-$HOME/.torch-ref/bin/python}
  OUT=$folder/out-dry "$folder/run.sh" --device cpu --size 64 --batches 2 --precisions f32 \
    --steps 2 --train-batch 2 --train-size 64x64 --python "$python"
else
  echo "gpu-run/ is ready: with the device tool, run(command=\"cd gpu-run && ./run.sh\", carry=[\"gpu-run\"]," \
    "timeout_s=540), then give_back; the table is \$OUT/table.md"
fi
