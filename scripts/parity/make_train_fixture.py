#!/usr/bin/env python3
"""Training-step parity fixture for salient-train: three Adam steps of the seed's network in
PyTorch, with the seed head (loss `mse`) and with the density head (loss `nll`), from hash-filled
weights.

Pinned reference environment (the one the committed fixture was made with):
    python 3.11, torch==2.15.0 (run on CPU), torchvision==0.29.2, safetensors==0.8.0, numpy==2.4.6
Rerun (from the repository root) with the project's reference venv (about 5 minutes on 2 cores):
    ~/.torch-ref/bin/python scripts/parity/make_train_fixture.py
        -> rewrites crates/salient-train/tests/fixtures/train_step_reference.st (~110 KB) and prints
           every figure quoted in crates/salient-train/tests/parity_train_step.rs
No RNG is used: every value is a formula, so reruns give identical tensors.

What one run does, for each head: fill every parameter and buffer (formula below), then three steps
of `forward (train mode) -> loss -> backward -> Adam step` on three different batches, with the
seed's freeze (conv1, bn1, layer1, layer2 frozen and in eval(): their BatchNorm uses running
statistics and does not update them, as salient-model does) and
    torch.optim.Adam(lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)   (L2, not AdamW)
in float64 (the reference), and again in float32 (PyTorch's own float32 error, the yardstick for the
tolerances). Recorded, for the tracked tensors (every `stride`-th element of the flattened tensor):
the gradients of steps 1 and 3, the parameters and Adam's moments (exp_avg, exp_avg_sq) after
step 3, and the running statistics after step 3; the loss of every step in the metadata.

Conditioning. The network is 50 layers of float32 sums with train-mode BatchNorm over few samples
(8 per channel in layer4 at 64x64, batch 2), so gradients are only as good as the conditioning of
the point they are taken at. Two things make a fixture useless and are avoided here:
  * ReLU / LeakyReLU kinks: a unit whose input lies within float32 rounding of 0 takes the other
    slope in one precision and not the other; with 8 samples per channel one such unit moves a
    weight gradient by ~1/8. The trainable BatchNorm biases put every trainable activation far from
    its kink (backbone: positive regime; decoder: each channel in the positive or the negative
    regime, so both LeakyReLU slopes, 0.2 and 0.01, carry gradient), and the script asserts the
    smallest |input| of every trainable ReLU / LeakyReLU over all steps (KINK_MARGIN).
  * Low-rank formula weights (the old sine formula: every output channel the same sinusoid shifted)
    make sums cancel; here weights are a hash of (tensor name, index): no structure.
What is left is plain float32 accumulation; the script prints, per tensor, max|g32 - g64| / max|g64|
(PyTorch float32 against float64) and stores it in the metadata (`grad_f32_vs_f64`).
In this regime a per-channel constant added before a ReLU that stays linear is removed by the next
train-mode BatchNorm, so most BatchNorm biases get a zero gradient (or one from the zero padding of
the 3x3 convolutions only, an ill-conditioned sum): the bias gradients tracked are the seed head's
conv_0.1.bias (through the sigmoid) and the density head's prior and sigma.

Formula (reproduced exactly by the Rust test): for a tensor named `name` and flat index i,
    h   = splitmix64(fnv1a64(name) + i)           (64-bit wrapping arithmetic)
    u   = (h >> 40) / 2^24                         (24 bits: exact in float32 and float64)
    val = float32(a + b * (2u - 1))                (computed in float64; uniform on [a - b, a + b])
with (a, b) by kind:
    conv / transposed-conv weight: (0, sqrt(3 / fan)), fan = in*kh*kw (transposed: in*kh*kw/4,
        the taps one output pixel sees); std 1/sqrt(fan)
    frozen BatchNorm (conv1 .. layer2): weight (1, 0.2), bias (0, 0.1), running_mean (0, 0.1),
        running_var (1, 0.5)
    trainable BatchNorm running_mean (0, 0.1), running_var (1, 0.5)
    trainable BatchNorm weight: bn3 of a bottleneck (0.15, 0.015); every other (1, 0.1)
    trainable BatchNorm bias: bottleneck bn1/bn2/downsample.1 (+4, 0.1); bn3 (0, 0.1) (the ReLU
        after the residual sum sees the positive stream); decoder conv_k/deconv_k: (s_c * 6, 0.1)
        with s_c = -1 for output channel c % 4 == 0, else +1 (per element: channel c = i)
    density.readout.weight (0, sqrt(3 / 288)); density.blur.log_sigma = float32(ln 0.03) (no hash);
    density.prior.log_density: the centre-bias formula of make_density_fixture.py (`prior()`).
Batches (step s = 0, 1, 2; N=2, 64x64): input  x = float32(0.5 + 0.45 (2u - 1)), u from name
"input/<s>" over the flat index of (2, 3, 64, 64); target t = float32(0.35 + 0.2 (2u - 1)) from
"target/<s>" over (2, 1, 64, 64); fixations (density head): make_density_fixture.py's
`fixations(k=s, n=2, h=64, w=64)` (step 0's second image has none: the leave-out path).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import safetensors
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
import make_density_fixture as mdf  # noqa: E402  (the density head and the NLL in bits)
from make_fixture import FROZEN, SeedUnet  # noqa: E402  (the seed's network)

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "salient-train", "tests",
                       "fixtures", "train_step_reference.st")
BATCH, SIZE, STEPS = 2, 64, 3
LR, BETAS, EPS, WEIGHT_DECAY = 1e-3, (0.8, 0.95), 1e-8, 0.01
# Variants that must move the recorded result by far more than the Rust test's tolerances.
VARIANTS = {
    "betas (0.9, 0.999)": dict(betas=(0.9, 0.999)),
    "weight_decay 0": dict(weight_decay=0.0),
    "BatchNorm momentum 0.2": dict(momentum=0.2),
}
# The Rust test's tolerances (crates/salient-train/tests/parity_train_step.rs), mirrored so that the
# script can show PyTorch's own float32 run inside them and the variants far outside.
LOSS_TOL = 1e-5      # loss of each step, relative
GRAD_TOL = 1e-4      # gradients: max abs diff / max |g| of the tensor's samples
MOMENT_TOL = 1e-4    # Adam's m and v after step 3: same, on the well-conditioned elements
PARAM_TOL_LR = 5e-3  # parameters after step 3, well-conditioned elements: max abs diff / lr
RUNNING_TOL = 1e-4   # running statistics after step 3: max abs diff / max |movement|
BN_MOMENTUM = 0.1  # PyTorch's default, asserted below
SIGMA_FRACTION = 0.03
# Smallest |input| of a trainable ReLU / LeakyReLU allowed in the float64 run (float32 rounding of
# these activations is ~1e-5 at most, so no unit can change sides).
KINK_MARGIN = 0.01
# Parameters after step 3 are compared on the elements where Adam's update is well conditioned:
# |g + wd p| >= PARAM_MASK_FLOOR * max|g + wd p| of the tensor at each of the three steps (elsewhere
# the update is m/sqrt(v) of numbers near 0 and float32 rounding can flip it by up to 2 lr).
PARAM_MASK_FLOOR = 0.01
# The target map's values: uniform on [0.15, 0.55], around the seed head's output (~0.23..0.4). With
# targets around 0.5 the output is below every target, the gradient of conv_0.1.weight (one sum over
# 8192 pixels) cancels to 0.6% of its terms and float32 loses 3e-5 of it; here 0.8e-6.
TARGET_MEAN, TARGET_HALF_RANGE = 0.35, 0.2
SAMPLES = 128  # about this many elements per tracked tensor
INPUT_SAMPLE_STRIDE = 101  # `input.<s>`, `target.<s>`: samples of the batches, to check the formula

COMMON_TRACKED = [
    "layer3.0.conv2.weight", "layer3.0.downsample.1.weight", "layer3.5.bn3.weight",
    "layer4.0.conv1.weight", "layer4.1.bn2.weight", "layer4.2.conv3.weight", "conv_5.0.weight",
    "deconv4.0.weight", "conv_3.1.weight", "conv_1.0.weight", "deconv0.0.weight",
    "deconv0.1.weight",
]
HEAD_TRACKED = {
    "seed": ["conv_0.0.weight", "conv_0.1.weight", "conv_0.1.bias"],
    "density": ["density.readout.weight", "density.blur.log_sigma", "density.prior.log_density"],
}
RUNNING_TRACKED = ["layer3.0.bn1.running_mean", "layer3.5.bn3.running_var",
                   "layer4.2.bn2.running_mean", "conv_5.1.running_var", "deconv2.1.running_mean",
                   "deconv0.1.running_var"]
# Not conv_0.1.running_var: the head's batch variance happens to lie within 0.5% of its initial
# value, so its movement (1.3e-3) is at float32 resolution (6e-8 of a value ~1).
SEED_RUNNING_TRACKED = ["conv_0.1.running_mean"]
MASK64 = (1 << 64) - 1


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def hash_uniform(name, n):
    """u in [0, 1): the top 24 bits of splitmix64(fnv1a64(name) + i), i = 0..n-1."""
    u64 = np.uint64
    with np.errstate(over="ignore"):
        z = u64(fnv1a64(name)) + np.arange(n, dtype=np.uint64)
        z = z + u64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
        z = z ^ (z >> u64(31))
    return (z >> u64(40)).astype(np.float64) / float(1 << 24)


def hashed(name, shape, a, b):
    n = int(np.prod(shape))
    return a + b * (2.0 * hash_uniform(name, n) - 1.0)


def is_trainable_module(name):
    return not name.startswith(FROZEN)


def formula(name, shape):
    """float32 values of a parameter or buffer (see the module docs)."""
    n = int(np.prod(shape))
    if name == "density.blur.log_sigma":
        v = np.full(n, math.log(SIGMA_FRACTION))
    elif name == "density.prior.log_density":
        v = mdf.prior().numpy().astype(np.float64).reshape(-1)
    elif name == "density.readout.weight":
        v = hashed(name, shape, 0.0, math.sqrt(3.0 / 288.0))
    elif len(shape) == 4:
        fan = shape[0] * shape[2] * shape[3] / 4 if name.startswith("deconv") \
            else shape[1] * shape[2] * shape[3]
        v = hashed(name, shape, 0.0, math.sqrt(3.0 / fan))
    elif name.endswith("running_var"):
        v = hashed(name, shape, 1.0, 0.5)
    elif name.endswith("running_mean"):
        v = hashed(name, shape, 0.0, 0.1)
    elif not is_trainable_module(name):
        a, b = (1.0, 0.2) if name.endswith("weight") else (0.0, 0.1)
        v = hashed(name, shape, a, b)
    elif name.endswith("weight"):
        a, b = (0.15, 0.015) if name.endswith("bn3.weight") else (1.0, 0.1)
        v = hashed(name, shape, a, b)
    elif name.startswith("layer"):
        v = hashed(name, shape, 0.0 if name.endswith("bn3.bias") else 4.0, 0.1)
    else:  # decoder BatchNorm bias: channel c in the negative regime when c % 4 == 0
        sign = np.where(np.arange(n) % 4 == 0, -1.0, 1.0)
        v = hashed(name, shape, 0.0, 0.1) + 6.0 * sign
    return torch.from_numpy(np.asarray(v, dtype=np.float64).astype(np.float32).reshape(shape))


def batch(step):
    shape = (BATCH, 3, SIZE, SIZE)
    x = hashed(f"input/{step}", shape, 0.5, 0.45).astype(np.float32).reshape(shape)
    tshape = (BATCH, 1, SIZE, SIZE)
    t = hashed(f"target/{step}", tshape, TARGET_MEAN, TARGET_HALF_RANGE)
    t = t.astype(np.float32).reshape(tshape)
    fix = mdf.fixations(step, BATCH, SIZE, SIZE)
    return torch.from_numpy(x), torch.from_numpy(t), fix


class Blur(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_sigma = nn.Parameter(torch.zeros(1))


class Prior(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_density = nn.Parameter(torch.zeros(1, 1, mdf.PRIOR_SIZE, mdf.PRIOR_SIZE))


class DensityHead(nn.Module):
    """salient's density head (make_density_fixture.py's `head`) as modules with salient's names."""

    def __init__(self):
        super().__init__()
        self.readout = nn.Conv2d(mdf.CHANNELS, 1, 3, 1, 1, bias=False)
        self.blur = Blur()
        self.prior = Prior()

    def forward(self, u):
        return mdf.head(u, self.readout.weight, self.blur.log_sigma, self.prior.log_density)


class DensityUnet(SeedUnet):
    """The seed's network with conv_0 replaced by the density head (salient's `--head density`)."""

    def __init__(self):
        super().__init__()
        del self.conv_0
        self.density = DensityHead()

    def forward(self, x):
        s1 = self.relu(self.bn1(self.conv1(x)))
        s2 = self.layer1(self.maxpool(s1))
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        x = self.conv_5(self.layer4(s4))
        x = self.conv_4(torch.cat([self.deconv4(x), s4], 1))
        x = self.conv_3(torch.cat([self.deconv3(x), s3], 1))
        x = self.conv_2(torch.cat([self.deconv2(x), s2], 1))
        x = self.conv_1(torch.cat([self.deconv1(x), s1], 1))
        return self.density(self.deconv0(x))


def build(head, dtype):
    model = SeedUnet() if head == "seed" else DensityUnet()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not name.endswith("num_batches_tracked"):
                t.copy_(formula(name, tuple(t.shape)))
    model = model.to(dtype)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert module.momentum == BN_MOMENTUM and module.eps == 1e-5
    for name, p in model.named_parameters():
        p.requires_grad = is_trainable_module(name)
    model.train()
    for name in FROZEN:
        getattr(model, name).eval()
    return model


def loss_of(head, out, target, fix):
    if head == "seed":
        return nn.functional.mse_loss(out, target)
    return mdf.nll_bits(out, fix)


def run(head, dtype, betas=BETAS, weight_decay=WEIGHT_DECAY, momentum=BN_MOMENTUM):
    """Three steps; returns what the fixture records (all float64 tensors) and diagnostics."""
    model = build(head, dtype)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = momentum
    params = dict(model.named_parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=LR, betas=betas, eps=EPS, weight_decay=weight_decay)
    margins = {}

    def watch(name):
        def hook(_module, inputs):
            m = inputs[0].detach().abs().min().item()
            margins[name] = min(margins.get(name, math.inf), m)
        return hook

    for name, module in model.named_modules():
        # The stem's `relu` (top level) acts on frozen features: no gradient goes through it.
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)) and name.startswith(("layer3", "layer4",
                                                                              "conv_", "deconv")):
            module.register_forward_pre_hook(watch(name))
    losses, grads, effective = [], [], []
    for step in range(STEPS):
        x, t, fix = batch(step)
        opt.zero_grad(set_to_none=True)
        out = model(x.to(dtype))
        loss = loss_of(head, out, t.to(dtype), fix)
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad.detach().to(torch.float64).clone() for n, p in params.items()
                      if p.requires_grad})
        effective.append({n: (p.grad + weight_decay * p).detach().to(torch.float64).abs()
                          for n, p in params.items() if p.requires_grad})
        opt.step()
    state = {n: opt.state[p] for n, p in params.items() if p.requires_grad}
    return {
        "losses": losses,
        "grads": grads,
        "effective": effective,
        "tensors": {n: v.detach().to(torch.float64).clone() for n, v in model.state_dict().items()},
        "m": {n: s["exp_avg"].to(torch.float64).clone() for n, s in state.items()},
        "v": {n: s["exp_avg_sq"].to(torch.float64).clone() for n, s in state.items()},
        "margins": margins,
    }


def stride_for(numel):
    """About SAMPLES samples, with an odd stride (so that it does not alias with channel sizes)."""
    return max(1, numel // SAMPLES) | 1


def sample(t, stride):
    return t.flatten()[::stride].contiguous()


def rel_max(a, b):
    """max|a - b| / max|b| (NaN-aware: a NaN anywhere gives NaN)."""
    scale = b.abs().max().item()
    d = (a - b).abs().max().item()
    return d / scale if scale > 0 else (0.0 if d == 0 else math.inf)


def param_mask(ref):
    """Elements of every trainable tensor whose Adam update is well conditioned (see above)."""
    mask = {}
    for name in ref["effective"][0]:
        keep = None
        for eff in ref["effective"]:
            e = eff[name]
            ok = e >= PARAM_MASK_FLOOR * e.max()
            keep = ok if keep is None else keep & ok
        mask[name] = keep
    return mask


def make_head(head, out, meta):
    print(f"== {head} head ({'mse' if head == 'seed' else 'nll'}), {STEPS} Adam steps, lr {LR}, "
          f"betas {BETAS}, weight_decay {WEIGHT_DECAY} (L2) ==", flush=True)
    ref = run(head, torch.float64)
    f32 = run(head, torch.float32)
    init = build(head, torch.float64).state_dict()
    tracked = COMMON_TRACKED + HEAD_TRACKED[head]
    running = RUNNING_TRACKED + (SEED_RUNNING_TRACKED if head == "seed" else [])

    worst_margin = min(ref["margins"].values())
    worst_at = min(ref["margins"], key=ref["margins"].get)
    print(f"smallest |input| of a trainable ReLU/LeakyReLU over the 3 steps: {worst_margin:.4f} "
          f"({worst_at}); required >= {KINK_MARGIN}")
    assert worst_margin >= KINK_MARGIN, (worst_at, worst_margin)
    for step, (l64, l32) in enumerate(zip(ref["losses"], f32["losses"])):
        print(f"step {step + 1}: loss {l64!r} (float32 rel {abs(l32 - l64) / abs(l64):.1e})")
        assert abs(l32 - l64) <= LOSS_TOL / 10 * abs(l64)

    # PyTorch float32 against float64: all trainable tensors, then the tracked ones.
    for step in (0, 2):
        rows = sorted(((rel_max(f32["grads"][step][n], g), n, g.abs().max().item())
                       for n, g in ref["grads"][step].items()), reverse=True)
        degenerate = [r for r in rows if r[0] > 1e-3]
        all_biases = all(n.endswith(".bias") for _, n, _ in degenerate)
        rows = [r for r in rows if r[0] <= 1e-3]
        print(f"step {step + 1} gradients, float32 vs float64, max|g32-g64|/max|g64|: over "
              f"{len(rows)} trainable tensors median {rows[len(rows) // 2][0]:.1e}, worst "
              + ", ".join(f"{n} {r:.1e}" for r, n, _ in rows[:3])
              + f"; {len(degenerate)} more (all BatchNorm biases: {all_biases}) have max|g64| <= "
              f"{max(g for _, _, g in degenerate):.1e}, zero in exact arithmetic")
    print("tracked tensors, PyTorch float32 vs float64 (m, v, param: on the well-conditioned "
          "elements):")
    mask = param_mask(ref)
    agreement = {}
    for name in tracked:
        stride = stride_for(ref["grads"][0][name].numel())
        kept = sample(mask[name], stride)
        row = check_quantities(f32, ref, init, mask, name)
        agreement[name] = row
        print(f"  {name:30s} grad1 {row['grad1']:.1e} grad3 {row['grad3']:.1e} m {row['m']:.1e} "
              f"v {row['v']:.1e} param {row['param_lr']:.1e} lr | {int(kept.sum())}/{kept.numel()} "
              f"samples well conditioned, moved up to {row['moved_lr']:.2f} lr, "
              f"max|g1| {ref['grads'][0][name].abs().max().item():.1e}")
        assert row["grad1"] <= GRAD_TOL / 2 and row["grad3"] <= GRAD_TOL / 2, row
        assert row["m"] <= MOMENT_TOL / 5 and row["v"] <= MOMENT_TOL / 5, row
        assert row["param_lr"] <= PARAM_TOL_LR / 5, row
        assert kept.sum() > 0, name
        out[f"{head}.grad1.{name}"] = sample(ref["grads"][0][name], stride).float()
        out[f"{head}.grad3.{name}"] = sample(ref["grads"][2][name], stride).float()
        out[f"{head}.after.{name}"] = sample(ref["tensors"][name], stride).float()
        out[f"{head}.m.{name}"] = sample(ref["m"][name], stride).float()
        out[f"{head}.v.{name}"] = sample(ref["v"][name], stride).float()
        out[f"{head}.mask.{name}"] = kept.to(torch.uint8)
        # The formula's values, for the Rust test to check its own reproduction of the formula.
        out[f"init.{name}"] = sample(init[name], stride).float()
        meta["strides"][name] = stride
    for name in running:
        stride = stride_for(init[name].numel())
        r = running_diff(f32, ref, init, name)
        agreement[name] = {"running": r}
        moved = (ref["tensors"][name] - init[name]).abs().max().item()
        print(f"  {name:30s} running statistic: {r:.1e} of its movement ({moved:.2e})")
        assert r <= RUNNING_TOL / 4, (name, r)
        out[f"{head}.after.{name}"] = sample(ref["tensors"][name], stride).float()
        meta["strides"][name] = stride

    # Betas, weight decay and the BatchNorm momentum matter: each variant moves the recorded
    # quantities far outside the tolerances.
    sensitivity = {}
    for label, kw in VARIANTS.items():
        var = run(head, torch.float64, **kw)
        rows = {n: check_quantities(var, ref, init, mask, n) for n in tracked}
        worst = {k: max(r[k] for r in rows.values()) for k in ("m", "v", "param_lr")}
        failing = {k: sum(r[k] > tol for r in rows.values())
                   for k, tol in (("m", MOMENT_TOL), ("v", MOMENT_TOL), ("param_lr", PARAM_TOL_LR))}
        worst["running"] = max(running_diff(var, ref, init, n) for n in running)
        failing["running"] = sum(running_diff(var, ref, init, n) > RUNNING_TOL for n in running)
        sensitivity[label] = {"worst": worst, "tensors_outside_tolerance": failing}
        print(f"with {label}: largest change m {worst['m']:.1e}, v {worst['v']:.1e} (tolerance "
              f"{MOMENT_TOL:.0e}), param {worst['param_lr']:.1e} lr (tolerance {PARAM_TOL_LR:.0e} "
              f"lr), running statistics {worst['running']:.1e} (tolerance {RUNNING_TOL:.0e}); "
              f"tensors outside: m {failing['m']}/{len(tracked)}, v {failing['v']}/{len(tracked)}, "
              f"param {failing['param_lr']}/{len(tracked)}, "
              f"running {failing['running']}/{len(running)}")
    assert all(s["worst"]["m"] > 100 * MOMENT_TOL or s["worst"]["running"] > 100 * RUNNING_TOL
               for s in sensitivity.values()), sensitivity
    meta[f"{head}.losses"] = json.dumps(ref["losses"])
    meta[f"{head}.f32_vs_f64"] = json.dumps(agreement)
    meta[f"{head}.variants"] = json.dumps(sensitivity)
    meta[f"{head}.kink_margin"] = repr(worst_margin)
    meta[f"{head}.tracked"] = json.dumps(tracked)
    meta[f"{head}.running"] = json.dumps(running)


def check_quantities(run_a, ref, init, mask, name):
    """What the Rust test checks for a tracked tensor, for run_a against the reference: gradients
    relative to max|g|; m, v relative to max|m|, max|v| and parameters in units of lr, both on the
    well-conditioned elements (the whole tensor, not only the fixture's samples)."""
    keep = mask[name]

    def masked_rel(a, b):
        d = (a - b).abs()[keep].max().item()
        return d / b.abs().max().item()

    param = (run_a["tensors"][name] - ref["tensors"][name]).abs()[keep].max().item() / LR
    moved = (ref["tensors"][name] - init[name]).abs()[keep].max().item() / LR
    return {
        "grad1": rel_max(run_a["grads"][0][name], ref["grads"][0][name]),
        "grad3": rel_max(run_a["grads"][2][name], ref["grads"][2][name]),
        "m": masked_rel(run_a["m"][name], ref["m"][name]),
        "v": masked_rel(run_a["v"][name], ref["v"][name]),
        "param_lr": param,
        "moved_lr": moved,
    }


def running_diff(run_a, ref, init, name):
    """max|a - ref| / max|ref - init| of a running statistic after step 3."""
    moved = (ref["tensors"][name] - init[name]).abs().max().item()
    return (run_a["tensors"][name] - ref["tensors"][name]).abs().max().item() / moved


def main(path):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out = {}
    meta = {"strides": {}}
    for step in range(STEPS):
        x, t, _ = batch(step)
        out[f"input.{step}"] = sample(x, INPUT_SAMPLE_STRIDE)
        out[f"target.{step}"] = sample(t, INPUT_SAMPLE_STRIDE)
    for head in ("seed", "density"):
        make_head(head, out, meta)
    meta["strides"] = json.dumps(meta["strides"])
    meta.update({
        "adam": json.dumps({"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": WEIGHT_DECAY,
                            "decoupled": False}),
        "batch": json.dumps({"n": BATCH, "h": SIZE, "w": SIZE, "steps": STEPS}),
        "param_mask_floor": repr(PARAM_MASK_FLOOR),
        "input_sample_stride": str(INPUT_SAMPLE_STRIDE),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    })
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(out, path, metadata=meta)
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=FIXTURE)
    main(ap.parse_args().out)
