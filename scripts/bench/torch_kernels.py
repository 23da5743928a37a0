"""PyTorch's CPU speed on the same kernel shapes as `cargo xtask bench kernels`, same table layout.

Reference tooling only (the project never imports it). Pinned: torch 2.15 (CPU), Python 3.
Rerun, back to back with the Rust bench on the same machine:

    ~/.torch-ref/bin/python scripts/bench/torch_kernels.py --threads 2
    cargo xtask bench kernels --threads 2

On a busy machine, compare CPU time on one thread instead (`--threads 1 --cpu-time` for both).

Columns: forward and forward+backward (gradients of input and weight) in GFLOP/s, max pooling in ms.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# (name, op, (cin, cout), divisor of the image side, (kernel, stride, padding)) — as bench_kernels.rs
CASES = [
    ("stem conv7x7 s2 3->64", "conv", (3, 64), 1, (7, 2, 3)),
    ("maxpool 3x3 s2 64ch", "maxpool", (64, 64), 2, (3, 2, 1)),
    ("conv1x1 64->256 @64", "conv", (64, 256), 4, (1, 1, 0)),
    ("conv1x1 1024->256 @16", "conv", (1024, 256), 16, (1, 1, 0)),
    ("conv1x1 2048->512 @8", "conv", (2048, 512), 32, (1, 1, 0)),
    ("conv1x1 1536->512 @16", "conv", (1536, 512), 16, (1, 1, 0)),
    ("conv3x3 64 @64", "conv", (64, 64), 4, (3, 1, 1)),
    ("conv3x3 128 @32", "conv", (128, 128), 8, (3, 1, 1)),
    ("conv3x3 256 @16 (layer3)", "conv", (256, 256), 16, (3, 1, 1)),
    ("conv3x3 512 @8 (layer4)", "conv", (512, 512), 32, (3, 1, 1)),
    ("conv3x3 s2 256 @32->16", "conv", (256, 256), 8, (3, 2, 1)),
    ("conv_0 3x3 32->1 @256", "conv", (32, 1), 1, (3, 1, 1)),
    ("deconv4 512->512 @8", "deconv", (512, 512), 32, (4, 2, 1)),
    ("deconv3 512->256 @16", "deconv", (512, 256), 16, (4, 2, 1)),
    ("deconv2 256->128 @32", "deconv", (256, 128), 8, (4, 2, 1)),
    ("deconv1 128->64 @64", "deconv", (128, 64), 4, (4, 2, 1)),
    ("deconv0 64->32 @128", "deconv", (64, 32), 2, (4, 2, 1)),
]


def flops(op, cin, cout, n, h, k, s, p):
    if op == "conv":
        o = (h + 2 * p - k) // s + 1
        return 2.0 * n * cout * cin * o * o * k * k
    if op == "deconv":
        return 2.0 * n * cin * cout * h * h * k * k
    return 0.0


def apply(op, x, w, k, s, p):
    if op == "conv":
        return F.conv2d(x, w, stride=s, padding=p)
    if op == "deconv":
        return F.conv_transpose2d(x, w, stride=s, padding=p)
    return F.max_pool2d(x, k, s, p)


def timed(reps, f, cpu=False):
    """Median wall seconds per call, or with `cpu` the mean process CPU seconds per call."""
    f()
    times = []
    start = time.perf_counter()
    cpu_start = time.process_time()
    while len(times) < reps or (time.perf_counter() - start < 0.3 and len(times) < 50):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    if cpu:
        return (time.process_time() - cpu_start) / len(times)
    return statistics.median(times)


def cell(secs, fl):
    return f"{fl / secs / 1e9:.1f}" if fl > 0 else f"{secs * 1e3:.2f}ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--filter", default=None)
    ap.add_argument("--cpu-time", action="store_true",
                    help="mean process CPU time instead of median wall time (use with --threads 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}: batch {a.batch} size {a.size} threads {a.threads} "
          f"(GFLOP/s of {'CPU' if a.cpu_time else 'wall'} time; max pooling in ms)")
    print(f"{'op':<28} {'fwd torch':>10} {'f+b torch':>12}")
    for name, op, (cin, cout), div, (k, s, p) in CASES:
        if a.filter and a.filter not in name:
            continue
        side = a.size // div
        x = torch.randn(a.batch, cin, side, side)
        if op == "maxpool":
            x = x.relu()
            w = None
        elif op == "conv":
            w = torch.randn(cout, cin, k, k) * 0.05
        else:
            w = torch.randn(cin, cout, k, k) * 0.05
        fl = flops(op, cin, cout, a.batch, side, k, s, p)
        with torch.no_grad():
            fwd = timed(a.reps, lambda: apply(op, x, w, k, s, p), a.cpu_time)
        xg = x.clone().requires_grad_(True)
        wg = w.clone().requires_grad_(True) if w is not None else None

        def step():
            xg.grad = None
            if wg is not None:
                wg.grad = None
            apply(op, xg, wg, k, s, p).sum().backward()

        both = timed(a.reps, step, a.cpu_time)
        print(f"{name:<28} {cell(fwd, fl):>10} {cell(both, 3 * fl):>12}")


if __name__ == "__main__":
    main()
