#!/usr/bin/env bash
# The seed's PyTorch model and salient's, back to back on this machine: training step and inference
# at 256x256 batch 4 with 1 and 2 threads, and batch-1 inference latency. Each pair runs one after
# the other so both see the same machine state; compare the ratios, not the absolute figures.
#
# Usage: scripts/bench/side_by_side.sh [STEPS]   (from the project root; STEPS defaults to 5)
# Needs: the PyTorch reference venv (~/.torch-ref, see ../shared/anchors/README.md) and a release
# build of xtask (`cargo xtask` builds it on first use).
set -euo pipefail
steps=${1:-5}
anchors=${ANCHORS:-../shared/anchors}
python=${TORCH_PYTHON:-$HOME/.torch-ref/bin/python}
cargo build --release --quiet -p xtask
xtask=${CARGO_TARGET_DIR:-target}/release/xtask

torch() { (cd "$anchors" && "$python" torch_bench.py "$@") | tail -1; }
ours() { "$xtask" bench model "$@" | tail -1; }

date -u +"%Y-%m-%d %H:%M:%S UTC"
uptime
for threads in 2 1; do
    for mode in train infer; do
        echo "== $mode, batch 4, $threads thread(s)"
        echo "pytorch: $(torch --mode "$mode" --batch 4 --steps "$steps" --threads "$threads")"
        echo "salient: $(ours --mode "$mode" --batch 4 --steps "$steps" --threads "$threads")"
    done
done
echo "== infer, batch 1 (latency = 1 / images/s), 2 threads"
echo "pytorch: $(torch --mode infer --batch 1 --steps "$steps" --threads 2)"
echo "salient: $(ours --mode infer --batch 1 --steps "$steps" --threads 2)"
