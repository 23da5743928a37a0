# salient: `just test` is what CI runs; `just train` runs the whole job end to end.

default:
    @just --list

# Format check, clippy with warnings denied, and every test of the workspace.
test:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test --workspace

# Download the pretrained ResNet50 (hub: timm/resnet50.tv_in1k), verified, to weights/; flags pass through.
fetch-weights *ARGS:
    cargo xtask fetch-weights {{ARGS}}

# Release build; fetches the pretrained backbone when absent (random init, said loudly, if that fails),
# synthesises data/sample when no --data is given, trains, evaluates the best checkpoint, writes overlays.
# The whole job end to end; extra arguments go to `salient train` (e.g. `just train --epochs 1`).
[positional-arguments]
train *args:
    #!/usr/bin/env bash
    set -euo pipefail
    target="${CARGO_TARGET_DIR:-target}"
    features=()
    if command -v nvcc >/dev/null 2>&1; then
        # cuDNN carries the convolutions (candle's own CUDA transposed convolution is a naive
        # kernel, and every convolution's input gradient goes through it): use it when installed.
        # (The listing is captured first: `ldconfig -p | grep -q` can fail under pipefail when grep
        # stops reading early.)
        if [[ "$(ldconfig -p 2>/dev/null)" == *libcudnn.so* ]]; then
            features=(--features salient-cli/cudnn); echo "just train: nvcc and cuDNN found, building with CUDA and cuDNN"
        else
            features=(--features salient-cli/cuda)
            echo "just train: nvcc found but no libcudnn on the loader path: building with CUDA without cuDNN (slower convolutions; install cuDNN 9 for speed)"
        fi
    else
        echo "just train: no nvcc on PATH, building for CPU (install the CUDA toolkit for GPU training)"
    fi
    # One cargo invocation for the binary and xtask (fetch-weights): dependencies are compiled once,
    # with one feature set, instead of twice.
    cargo build --release -p salient-cli -p xtask "${features[@]}"
    salient="$target/release/salient"
    xtask="$target/release/xtask"
    data=""; out=""; init=""; device=""; precision=""; prev=""
    for a in "$@"; do
        case "$prev" in --data) data="$a";; --out) out="$a";; --backbone-init) init="$a";;
            --device) device="$a";; --precision) precision="$a";; esac
        case "$a" in --data=*) data="${a#--data=}";; --out=*) out="${a#--out=}";;
            --backbone-init=*) init="${a#--backbone-init=}";; --device=*) device="${a#--device=}";;
            --precision=*) precision="${a#--precision=}";; esac
        prev="$a"
    done
    # evaluation and overlays run on the device and in the precision training used
    run_args=()
    [ -z "$device" ] || run_args+=(--device "$device")
    [ -z "$precision" ] || run_args+=(--precision "$precision")
    if [ -z "$data" ]; then
        data=data/sample
        if [ ! -d "$data" ]; then
            echo "just train: no --data given; generating a synthetic dataset in $data"
            "$salient" data synth --out "$data"
        fi
        set -- --data "$data" "$@"
    fi
    if [ -z "$init" ] && [ ! -f weights/resnet50.safetensors ]; then
        if ! "$xtask" fetch-weights; then
            echo "just train: WARNING: could not fetch the pretrained backbone (see above);"
            echo "just train: training from a randomly initialised backbone instead (--backbone-init random)."
            set -- --backbone-init random "$@"
        fi
    fi
    if [ -z "$out" ]; then
        out="runs/$(date -u +%Y-%m-%dT%H-%M-%S)"
        set -- --out "$out" "$@"
    fi
    "$salient" train "$@"
    ckpt="$out/checkpoints/best.safetensors"
    [ -f "$ckpt" ] || ckpt="$out/checkpoints/last.safetensors"
    "$salient" eval --checkpoint "$ckpt" --data "$data" --split val --json "$out/eval.json" "${run_args[@]}"
    if [ -d "$data/images/val" ]; then imgs="$data/images/val"; maps="$data/maps/val"
    elif [ -d "$data/image/val" ]; then imgs="$data/image/val"; maps="$data/mask/val"
    else imgs="$data/stimuli"; maps="$data/saliency"; fi
    "$salient" predict --checkpoint "$ckpt" --input "$imgs" --gt "$maps" --overlay --out "$out/overlays" "${run_args[@]}"
    echo "just train: done. Run directory: $out (checkpoints, metrics.jsonl, loss.png, metrics.png, eval.json, overlays/)"
