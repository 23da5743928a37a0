#!/usr/bin/env bash
# Every speed figure the README gives, measured back to back with its reference in one run on
# this machine: each reference run is directly followed by salient's, so both see the same machine
# state; compare the ratios, not the absolute figures (these machines are shared and noisy).
#
#   model    the seed's PyTorch model (../shared/anchors/torch_bench.py) vs `cargo xtask bench model`,
#            256x256: training step (Adam, MSE, seed freeze) and inference at batch 4 on 2 threads,
#            ROUNDS pairs each; the training step twice, once against PyTorch as the seed runs it
#            (its frozen prefix's BatchNorm in train mode: batch statistics) and once with
#            `--frozen-bn-eval` (running statistics, as salient runs a frozen prefix); one pair each
#            for 1 thread and for batch-1 latency
#   data     the seed's pipeline (seed_data_bench.py: cv2 + albumentations + DataLoader, 2 workers)
#            vs `cargo xtask bench data --threads 2`, one epoch of a SALICON-shaped folder made by
#            make_bench_data.py (200 train JPEGs, 640x480 -> augmented 256x256), ROUNDS pairs
#   metrics  pysaliency (scripts/bench/pysaliency_metrics.py: CC, KLD, SIM, NSS, AUC-Judd, sAUC, IG,
#            one process) vs `salient-metrics --example bench` on the same shapes (480x640 maps,
#            500 fixations per image, 500 images), the same 7 metrics on 1 and on 2 threads, and
#            all 8 (AUC-Borji too) on 2 threads; ROUNDS pairs of the 2-thread run
#
# The header names the CPU (model, AVX-512 or AVX2-only, cores) and its fp32 GEMM peak from
# ../shared/anchors/flops.py. salient's GEMMs (the `gemm` crate, built without its `x86-v4`
# feature) run AVX2+FMA micro-kernels on every x86 CPU; PyTorch's oneDNN and MKL use AVX-512 where
# the CPU has it. `--torch-isa avx2` caps PyTorch at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2,
# MKL_ENABLE_INSTRUCTIONS=AVX2), which is how the reference runs on an AVX2-only machine.
#
# Usage (from the project root):
#   scripts/bench/side_by_side.sh [--rows model,data,metrics] [--rounds 3] [--steps 5] [--torch-isa avx2]
# Environment: METRICS_IMAGES (500) images per metrics run; BENCH_DATA (/tmp/salient-bench-data) the
# data rows' folder; ANCHORS (../shared/anchors); TORCH_PYTHON (~/.torch-ref/bin/python).
# Needs: the PyTorch reference venv (~/.torch-ref with torch, torchvision, albumentations, opencv,
# pysaliency: see ../shared/anchors/README.md) and cargo; release builds of xtask and the metrics
# bench are made first (not timed).
set -euo pipefail
rows=model,data,metrics
rounds=3
steps=5
torch_isa=""
usage_error() { echo "side_by_side.sh: $1 (see --help)" >&2; exit 2; }
while (($#)); do
    case $1 in
        --rows | --rounds | --steps | --torch-isa)
            (($# >= 2)) || usage_error "$1 needs a value"
            case $1 in
                --rows) rows=$2 ;; --rounds) rounds=$2 ;; --steps) steps=$2 ;; --torch-isa) torch_isa=$2 ;;
            esac
            shift 2 ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) usage_error "unknown argument $1" ;;
    esac
done
for row in ${rows//,/ }; do
    case $row in model | data | metrics) ;; *) usage_error "--rows takes model, data and/or metrics, not '$row'" ;; esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage_error "--rounds takes a positive integer"
[[ $steps =~ ^[1-9][0-9]*$ ]] || usage_error "--steps takes a positive integer"
case $torch_isa in
    "") ;;
    avx2) export ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ;;
    *) echo "side_by_side.sh: --torch-isa takes avx2" >&2; exit 2 ;;
esac
anchors=$(cd "${ANCHORS:-../shared/anchors}" && pwd)
python=${TORCH_PYTHON:-$HOME/.torch-ref/bin/python}
root=$(pwd)
target=${CARGO_TARGET_DIR:-target}
bench_data=${BENCH_DATA:-${TMPDIR:-/tmp}/salient-bench-data}
has() { [[ ,$rows, == *,$1,* ]]; }

has model || has data && cargo build --release --quiet -p xtask
has metrics && cargo build --release --quiet -p salient-metrics --example bench
xtask=$target/release/xtask
metrics_bench=$target/release/examples/bench

# The value of `key=` in the last line of a command's output.
field() { tail -1 | tr ' ' '\n' | sed -n "s|^$1=||p"; }
# Ratios of two space-separated lists (salient / reference) and their median.
ratios() {
    local r
    r=$(awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= n; i++) printf "%.2f\n", y[i] / x[i] }')
    if (($(wc -l <<<"$r") == 1)); then echo "$r"; return; fi
    printf '%s (median %s)' "$(paste -sd, <<<"$r" | sed 's/,/, /g')" \
        "$(sort -n <<<"$r" | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : sprintf("%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2) }')"
}
table=()
# add_row LABEL REFERENCE_VALUES SALIENT_VALUES [UNIT]
add_row() {
    table+=("| $1 | ${2// /, } ${4:-img/s} | ${3// /, } ${4:-img/s} | $(ratios "$2" "$3")× |")
}

# Other work on a shared 2-core machine swings wall times by tens of percent; where allowed (root),
# both sides run at a raised priority, inherited by every child.
if renice -n -15 -p $$ >/dev/null 2>&1; then priority="nice -15"; else priority="default priority"; fi

torch_run() { (cd "$anchors" && "$python" torch_bench.py "$@"); }

echo "== $(date -u +"%Y-%m-%d %H:%M:%S UTC"), $(uptime | sed 's/.*load/load/')"
model="$(lscpu | sed -n 's/^Model name: *//p') (family $(sed -n 's/^cpu family\t*: //p' /proc/cpuinfo | head -1), model $(sed -n 's/^model\t*: //p' /proc/cpuinfo | head -1))"
isa="AVX2-only"
grep -qw avx512f /proc/cpuinfo && isa="AVX-512"
grep -qw avx2 /proc/cpuinfo || isa="no AVX2"
peak=$(cd "$anchors" && "$python" flops.py | sed -n 's/.*gemm_peak_GFLOPs=\([0-9.]*\).*/\1/p')
cpu="$model, $isa, $(nproc) cores, fp32 GEMM peak $peak GFLOP/s (flops.py)"
echo "cpu: $cpu; $priority"
echo "pytorch: $("$python" -c 'import torch; print(torch.__version__)')${torch_isa:+, capped at $torch_isa (ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA)}"

if has model; then
    # pair LABEL "TORCH ARGS" "SALIENT ARGS" COUNT
    pair() {
        local t="" s="" rss_t="" rss_s="" out
        for ((i = 1; i <= $4; i++)); do
            out=$(torch_run $2 --steps "$steps" | tail -1)
            echo "  pytorch: $out"
            t+=" $(field img/s <<<"$out")"; rss_t=$(field peak_rss_mib <<<"$out")
            out=$("$xtask" bench model $3 --steps "$steps" | tail -1)
            echo "  salient: $out"
            s+=" $(field images/s <<<"$out")"; rss_s=$(field peak_rss_mib <<<"$out")
        done
        t=${t# } s=${s# }
        table+=("| $1 | ${t// /, } img/s ($rss_t MiB) | ${s// /, } img/s ($rss_s MiB) | $(ratios "$t" "$s")× |")
    }
    echo "== model, 256x256, $steps timed steps per run (median step)"
    pair "training step, batch 4, 2 threads; PyTorch's frozen BatchNorm in train mode (as the seed runs it)" \
        "--mode train --batch 4 --threads 2" "--mode train --batch 4 --threads 2" "$rounds"
    pair "training step, batch 4, 2 threads; PyTorch --frozen-bn-eval (like for like)" \
        "--mode train --batch 4 --threads 2 --frozen-bn-eval" "--mode train --batch 4 --threads 2" "$rounds"
    pair "inference, batch 4, 2 threads" "--mode infer --batch 4 --threads 2" "--mode infer --batch 4 --threads 2" "$rounds"
    pair "training step, batch 4, 1 thread; PyTorch --frozen-bn-eval" \
        "--mode train --batch 4 --threads 1 --frozen-bn-eval" "--mode train --batch 4 --threads 1" 1
    pair "inference, batch 4, 1 thread" "--mode infer --batch 4 --threads 1" "--mode infer --batch 4 --threads 1" 1
    pair "inference, batch 1, 2 threads (latency = 1 / img/s)" "--mode infer --batch 1 --threads 2" "--mode infer --batch 1 --threads 2" 1
fi

if has data; then
    if [[ ! -d $bench_data/image/train ]]; then
        (cd "$anchors" && "$python" make_bench_data.py "$bench_data" 200 40 >/dev/null)
    fi
    echo "== data pipeline, $bench_data (640x480 JPEG -> augmented 256x256, batch 4)"
    t="" s=""
    for ((i = 1; i <= rounds; i++)); do
        out=$(cd "$anchors" && "$python" seed_data_bench.py "$bench_data" 2 | tail -1)
        echo "  seed:    $out"; t+=" $(field img/s <<<"$out")"
        out=$("$xtask" bench data --data "$bench_data" --threads 2 | tail -1)
        echo "  salient: $out"; s+=" $(field images/s <<<"$out")"
    done
    add_row "data pipeline, one epoch of 200 JPEGs, 2 workers / 2 threads" "${t# }" "${s# }"
fi

if has metrics; then
    echo "== metrics, ${METRICS_IMAGES:-500} images of 480x640, 500 fixations each"
    seven=cc,kld,sim,nss,auc_judd,sauc,ig
    t="" s="" s1="" s8=""
    for ((i = 1; i <= rounds; i++)); do
        out=$("$python" "$root/scripts/bench/pysaliency_metrics.py" --images "${METRICS_IMAGES:-500}" | tail -1)
        echo "  pysaliency:          $out"; t+=" $(field images/s <<<"$out")"
        out=$("$metrics_bench" --images "${METRICS_IMAGES:-500}" --metrics "$seven" --threads 2 | tail -1)
        echo "  salient, 2 threads:  $out"; s+=" $(field images/s <<<"$out")"
        if ((i == 1)); then
            out=$("$metrics_bench" --images "${METRICS_IMAGES:-500}" --metrics "$seven" --threads 1 | tail -1)
            echo "  salient, 1 thread:   $out"; s1=$(field images/s <<<"$out")
            out=$("$metrics_bench" --images "${METRICS_IMAGES:-500}" --threads 2 | tail -1)
            echo "  salient, all 8, 2 threads: $out"; s8=$(field images/s <<<"$out")
        fi
    done
    add_row "metrics CC, KLD, SIM, NSS, AUC-Judd, sAUC, IG (pysaliency: one process; salient: 2 threads)" "${t# }" "${s# }"
    add_row "the same 7 metrics, salient on 1 thread (first round)" "$(cut -d' ' -f2 <<<"$t")" "$s1"
    table+=("| all 8 metrics (AUC-Borji too; pysaliency has none), 2 threads | — | $s8 img/s | — |")
fi

echo
echo "Measured $(date -u +"%Y-%m-%d") on $cpu${torch_isa:+; PyTorch capped at $torch_isa}; wall-clock images/s, one reference run then one salient run per pair, $priority."
echo
echo "| | reference | salient | salient / reference |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${table[@]}"
