#!/usr/bin/env bash
# salient serve under load on loopback, with the offline model and PyTorch beside it in the same
# run: PyTorch's batch-1 inference latency (the seed's model, ../shared/anchors/torch_bench.py),
# salient's offline inference at batch 1 and 4 (`xtask bench model`), then the server at 1, 4 and
# 16 concurrent closed-loop clients, without batching (--max-batch 1) and with (--max-batch 4),
# 256x256 model input, a 256x256 JPEG per request answered as a grey PNG.
# Target (issue 15): server img/s at 16 clients >= 0.85 x offline batch-4 img/s; p99 < 3 x p50.
#
# Usage: scripts/bench/serve.sh [SECONDS]   (from the project root; SECONDS per setting, default 20)
# Needs: the PyTorch reference venv (~/.torch-ref, see ../shared/anchors/README.md; set
# TORCH_PYTHON to another python, or SKIP_TORCH=1), and release builds of salient and xtask
# (built here). Run it on a quiet machine: every other process competes for the same cores.
set -euo pipefail
seconds=${1:-20}
anchors=${ANCHORS:-../shared/anchors}
python=${TORCH_PYTHON:-$HOME/.torch-ref/bin/python}
cargo build --release --quiet -p salient-cli -p xtask
target=${CARGO_TARGET_DIR:-target}/release

date -u +"%Y-%m-%d %H:%M:%S UTC"
lscpu | grep -m1 "Model name" || true
nproc
uptime
if [ "${SKIP_TORCH:-0}" != 1 ]; then
    echo "== PyTorch, inference batch 1 (latency = 1000 / images/s ms), 2 threads"
    (cd "$anchors" && "$python" torch_bench.py --mode infer --batch 1 --steps 20 --threads 2) | tail -1
fi
echo "== salient offline, inference batch 1 and batch 4 (xtask bench model)"
"$target/xtask" bench model --mode infer --batch 1 --steps 20 | tail -1
"$target/xtask" bench model --mode infer --batch 4 --steps 10 | tail -1
echo "== salient serve on 127.0.0.1"
"$target/xtask" bench serve --salient "$target/salient" --seconds "$seconds" --clients 1,4,16 --max-batch 1,4
