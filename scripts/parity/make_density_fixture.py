#!/usr/bin/env python3
"""Parity fixture for salient-model's density head: readout conv, Gaussian blur, centre-bias prior,
log-softmax, and the fixation NLL loss, in PyTorch (float64) with formula-filled inputs.

Pinned reference environment (the one the committed fixture was made with):
    python 3.11.7, torch==2.15.0 (run on CPU), safetensors==0.8.0, numpy==2.4.6, scipy==1.17.1
Rerun (from the repository root) with the project's reference venv:
    ~/.torch-ref/bin/python scripts/parity/make_density_fixture.py
        -> rewrites crates/salient-model/tests/fixtures/density_reference.st (~510 KB) and prints
           the checks below
No RNG is used anywhere: every input is a formula, so reruns give identical tensors and metadata
(the header's key order may differ between runs: safetensors writes the metadata map unordered).

The head (input u: decoder features (N, 32, H, W)):
    z   = conv2d(u, density.readout.weight (1, 32, 3, 3), bias=None, stride 1, padding 1)  (N,1,H,W)
    sigma_px = exp(density.blur.log_sigma) * max(H, W)
    B_L[i, j] = exp(-(i-j)^2 / (2 sigma_px^2)) / sum_{k<L} exp(-(i-k)^2 / (2 sigma_px^2))
                (L x L, rows sum to 1: Gaussian renormalised at the border, never truncated)
    zb  = B_H @ z[n, 0] @ B_W^T
    p   = interpolate(density.prior.log_density (1,1,32,32), (H, W), bilinear, align_corners=False)
        = R_H @ P @ R_W^T, R_L (L x 32): src = max((dst + 0.5) * 32 / L - 0.5, 0),
          i0 = floor(src), i1 = min(i0 + 1, 31), R[dst, i0] += 1 - (src - i0), R[dst, i1] += src - i0
    log_density = log_softmax(zb + p over all H*W pixels of each image)              (N,1,H,W)
Loss (bits per fixation relative to the uniform density), fixation mask f (N,1,H,W) of 0/1:
    nll_n = -(1 / F_n) * sum_pix f * (log_density + ln(H*W)) / ln 2,   F_n = sum f_n
    nll   = mean of nll_n over the images with F_n > 0 (images without fixations are left out).

Inputs (formula values computed in float64, then rounded to float32; the float32 values are what
the fixture stores and what the float64 reference is computed from, so the Rust side, which works
in float32, sees exactly the reference's inputs):
    u[n, c, y, x]  = f32(0.5 * sin(0.013 * i + 0.3 * c) + 0.3 * cos(0.11 * y - 0.07 * x + 0.5 * c + 0.9 * n))
                     with i the row-major flat index into the whole (N, 32, H, W) tensor.
                     u is NOT stored in full (3.5 MB of float32 for the three cases): the Rust test
                     rebuilds it from this formula and checks itself against `<case>.u_sample`,
                     u.flatten()[::U_SAMPLE_STRIDE] (float32).
    density.readout.weight[k] = f32(sin(0.37 * k + 0.5) * 2 / sqrt(288)), k the flat index.
    density.prior.log_density[0, 0, r, s] (r = row, s = column, 0..32)
                   = f32(-0.5 * ((s - 17.5) / 9)^2 - 0.5 * ((r - 14) / 7)^2 + 0.15 * sin(0.9 * r + 0.4 * s)
                         + 0.02 * s)
                     (a centre-bias bump, off centre and wider than tall, plus an asymmetric ripple,
                     so a transposed H/W or a flipped axis changes the result)
    density.blur.log_sigma = f32(ln(sigma_frac)), sigma_frac per case (see CASES).
    fixations: image n of case k has 1s at (y, x) = ((11 + 23 j + 7 n + 3 k) mod H,
               (3 + 41 j + 13 n + 5 k) mod W) for j = 0..5, plus (0, W - 1) (a corner) on image 0;
               image 1 of the first case has none (exercises the leave-out).

Hand-computed NLL for a Rust unit test (1 x 1 x 2 x 2):
    logits [[ln 1, ln 2], [ln 3, ln 4]] (no blur, zero prior) -> density [[0.1, 0.2], [0.3, 0.4]],
    fixations at (0, 1) and (1, 1), F = 2, H*W = 4:
    nll = -(1/2) * (log2(0.2 * 4) + log2(0.4 * 4)) = -(1/2) * log2(1.28) = -0.17807190511263765 bits
    (negative: better than uniform). Appending a second image with no fixations leaves it unchanged.
"""
import argparse
import json
import math
import os

import numpy as np
import safetensors
import scipy
import scipy.ndimage
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "salient-model", "tests",
                       "fixtures", "density_reference.st")
CHANNELS = 32
PRIOR_SIZE = 32
U_SAMPLE_STRIDE = 101
# (name, N, H, W, sigma as a fraction of max(H, W)); the three shapes cover square, wider than
# tall and taller than wide, and two sigmas so the blur differs.
CASES = [
    ("n2_h64_w64", 2, 64, 64, 0.04),
    ("n1_h96_w128", 1, 96, 128, 0.015),
    ("n1_h128_w64", 1, 128, 64, 0.04),
]
# The case whose B_W (128 x 128) is recorded on its own, and the width whose R_W is recorded.
BLUR_MATRIX_CASE = "n1_h96_w128"
RESIZE_MATRIX_WIDTH = 128
F64 = torch.float64


def f32_rounded(v):
    """float64 formula values -> float32 (the stored values) -> float64 tensor for the reference."""
    return torch.from_numpy(np.asarray(v, dtype=np.float64).astype(np.float32))


def features(n, h, w):
    i = np.arange(n * CHANNELS * h * w, dtype=np.float64).reshape(n, CHANNELS, h, w)
    nn_, c, y, x = np.meshgrid(np.arange(n), np.arange(CHANNELS), np.arange(h), np.arange(w),
                               indexing="ij")
    return f32_rounded(0.5 * np.sin(0.013 * i + 0.3 * c)
                       + 0.3 * np.cos(0.11 * y - 0.07 * x + 0.5 * c + 0.9 * nn_))


def readout_weight():
    k = np.arange(CHANNELS * 9, dtype=np.float64)
    return f32_rounded(np.sin(0.37 * k + 0.5) * 2.0 / math.sqrt(CHANNELS * 9)).reshape(1, CHANNELS, 3, 3)


def prior():
    r, s = np.meshgrid(np.arange(PRIOR_SIZE, dtype=np.float64),
                       np.arange(PRIOR_SIZE, dtype=np.float64), indexing="ij")
    v = (-0.5 * ((s - 17.5) / 9.0) ** 2 - 0.5 * ((r - 14.0) / 7.0) ** 2
         + 0.15 * np.sin(0.9 * r + 0.4 * s) + 0.02 * s)
    return f32_rounded(v).reshape(1, 1, PRIOR_SIZE, PRIOR_SIZE)


def fixations(k, n, h, w):
    f = torch.zeros(n, 1, h, w, dtype=torch.uint8)
    for b in range(n):
        if k == 0 and b == 1:
            continue
        for j in range(6):
            f[b, 0, (11 + 23 * j + 7 * b + 3 * k) % h, (3 + 41 * j + 13 * b + 5 * k) % w] = 1
        if b == 0:
            f[b, 0, 0, w - 1] = 1
    return f


def blur_matrix(length, sigma_px):
    """B_L (L x L): a Gaussian renormalised so that each row sums to 1 (differentiable in sigma)."""
    i = torch.arange(length, dtype=sigma_px.dtype)
    k = torch.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * sigma_px ** 2))
    return k / k.sum(dim=1, keepdim=True)


def resize_matrix(length, src_len=PRIOR_SIZE):
    """R_L (L x src_len): PyTorch's bilinear rule with half-pixel centres (align_corners=False)."""
    r = torch.zeros(length, src_len, dtype=F64)
    for dst in range(length):
        src = max((dst + 0.5) * src_len / length - 0.5, 0.0)
        i0 = math.floor(src)
        i1 = min(i0 + 1, src_len - 1)
        lam = src - i0
        r[dst, i0] += 1.0 - lam
        r[dst, i1] += lam
    return r


def head(u, weight, log_sigma, prior_log, resize="interpolate"):
    """The density head; resize selects F.interpolate or the matrix form R_H @ P @ R_W^T."""
    n, _, h, w = u.shape
    z = F.conv2d(u, weight, bias=None, stride=1, padding=1)
    sigma_px = torch.exp(log_sigma[0]) * max(h, w)
    zb = blur_matrix(h, sigma_px) @ z[:, 0] @ blur_matrix(w, sigma_px).T
    if resize == "interpolate":
        p = F.interpolate(prior_log, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    else:
        p = resize_matrix(h).to(prior_log.dtype) @ prior_log[0, 0] @ resize_matrix(w).to(prior_log.dtype).T
    s = (zb + p).reshape(n, h * w)
    return torch.log_softmax(s, dim=1).reshape(n, 1, h, w)


def nll_bits(log_density, fix):
    n, _, h, w = log_density.shape
    f = fix.to(log_density.dtype)
    count = f.sum(dim=(1, 2, 3))
    keep = count > 0
    if not bool(keep.any()):
        raise ValueError("no image has fixations: the NLL is undefined")
    per_image = -(f * (log_density + math.log(h * w))).sum(dim=(1, 2, 3)) / math.log(2.0)
    return (per_image[keep] / count[keep]).mean()


def finite_difference(fn, t, index, eps):
    t0 = t.detach().clone()
    tp, tm = t0.clone(), t0.clone()
    tp.view(-1)[index] += eps
    tm.view(-1)[index] -= eps
    return (fn(tp).item() - fn(tm).item()) / (2.0 * eps)


def check_blur_against_scipy(z, sigma_px, zb):
    """Independent blur: per axis, Gaussian filter of z over the filter of ones (zero padding, no
    truncation) is the row-renormalised Gaussian."""
    z = z.detach().numpy()
    out = z.copy()
    for axis in (-2, -1):
        length = z.shape[axis]
        num = scipy.ndimage.gaussian_filter1d(out, sigma_px, axis=axis, mode="constant",
                                              radius=length)
        den = scipy.ndimage.gaussian_filter1d(np.ones_like(out), sigma_px, axis=axis,
                                              mode="constant", radius=length)
        out = num / den
    return float(np.abs(out - zb.detach().numpy()).max())


def hand_nll():
    ld = torch.log_softmax(torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)), 0).reshape(1, 1, 2, 2)
    fix = torch.tensor([[0, 1], [0, 1]], dtype=torch.uint8).reshape(1, 1, 2, 2)
    v = nll_bits(ld, fix).item()
    expected = -0.5 * math.log2(1.28)
    assert abs(v - expected) < 1e-15, (v, expected)
    two = nll_bits(torch.cat([ld, ld]), torch.cat([fix, torch.zeros_like(fix)])).item()
    assert two == v, (two, v)
    print(f"hand nll 1x1x2x2: {v!r} bits (expected -0.5*log2(1.28) = {expected!r}); "
          f"with an empty second image: {two!r}")


def make_fixture(path):
    hand_nll()
    out, meta_cases = {}, []
    weight32, prior32 = readout_weight(), prior()
    for k, (name, n, h, w, sigma_frac) in enumerate(CASES):
        u32 = features(n, h, w)
        log_sigma32 = f32_rounded([math.log(sigma_frac)])
        fix = fixations(k, n, h, w)
        u = u32.to(F64)
        weight = weight32.to(F64).requires_grad_(True)
        log_sigma = log_sigma32.to(F64).requires_grad_(True)
        prior_log = prior32.to(F64).requires_grad_(True)

        ld = head(u, weight, log_sigma, prior_log)
        loss = nll_bits(ld, fix)
        g_w, g_s, g_p = torch.autograd.grad(loss, (weight, log_sigma, prior_log))

        # The matrix form of the resize (what the Rust side implements) equals F.interpolate, in
        # the output and in the gradients.
        ld_m = head(u, weight, log_sigma, prior_log, resize="matrix")
        g_m = torch.autograd.grad(nll_bits(ld_m, fix), (weight, log_sigma, prior_log))
        p_i = F.interpolate(prior_log, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        p_m = resize_matrix(h) @ prior_log[0, 0] @ resize_matrix(w).T
        resize_err = (p_i - p_m).abs().max().item()
        assert resize_err <= 1e-12, resize_err
        assert (ld - ld_m).abs().max().item() <= 1e-12
        for a, b in zip((g_w, g_s, g_p), g_m):
            assert (a - b).abs().max().item() <= 1e-12

        # Blur against scipy; sums; finite differences for the gradients; the float32 head.
        with torch.no_grad():
            z = F.conv2d(u, weight, padding=1)[:, 0]
            sigma_px = math.exp(log_sigma.item()) * max(h, w)
            zb = blur_matrix(h, torch.tensor(sigma_px, dtype=F64)) @ z @ \
                blur_matrix(w, torch.tensor(sigma_px, dtype=F64)).T
            blur_err = check_blur_against_scipy(z, sigma_px, zb)
            assert blur_err <= 1e-12, blur_err
            sums = ld.exp().sum(dim=(1, 2, 3))
            assert (sums - 1.0).abs().max().item() <= 1e-12
            ld32 = head(u32, weight32, log_sigma32, prior32)
            f32_err = (ld32.to(F64) - ld).abs().max().item()

        def loss_of(wt=None, sg=None, pr=None):
            return nll_bits(head(u, weight.detach() if wt is None else wt,
                                 log_sigma.detach() if sg is None else sg,
                                 prior_log.detach() if pr is None else pr), fix)

        fd = []
        for t, g, idx, kw in ((weight, g_w, [0, 100, 287], "wt"), (log_sigma, g_s, [0], "sg"),
                              (prior_log, g_p, [0, 14 * 32 + 17, 1023], "pr")):
            for i in idx:
                num = finite_difference(lambda x: loss_of(**{kw: x}), t, i, 1e-6)
                rel = abs(num - g.view(-1)[i].item()) / max(1e-3, abs(num))
                assert rel <= 1e-6, (kw, i, num, g.view(-1)[i].item())
                fd.append(rel)

        print(f"{name}: sigma_px {sigma_px:.4f}; logits z std {z.std().item():.4f}, "
              f"blurred std {zb.std().item():.4f}; log_density [{ld.min().item():.4f}, "
              f"{ld.max().item():.4f}]")
        print(f"  sum exp(log_density) per image: {[f'{s:.15f}' for s in sums.tolist()]}")
        print(f"  fixations per image: {fix.sum(dim=(1, 2, 3)).tolist()}; nll {loss.item()!r} bits")
        print(f"  |interpolate - R P R^T| {resize_err:.2e}; |blur - scipy| {blur_err:.2e}; "
              f"max rel finite-difference error {max(fd):.2e}; |float32 head - float64| {f32_err:.2e}")
        print(f"  grad norms: readout {g_w.norm().item():.6f}, log_sigma {g_s.item():.6f}, "
              f"prior {g_p.norm().item():.6f}")

        out[f"{name}.u_sample"] = u32.flatten()[::U_SAMPLE_STRIDE].clone()
        out[f"{name}.density.readout.weight"] = weight32.clone()
        out[f"{name}.density.blur.log_sigma"] = log_sigma32.clone()
        out[f"{name}.density.prior.log_density"] = prior32.clone()
        out[f"{name}.fixations"] = fix
        out[f"{name}.log_density"] = ld.detach().clone()
        out[f"{name}.nll"] = loss.detach().reshape(1).clone()
        out[f"{name}.grad.density.readout.weight"] = g_w.clone()
        out[f"{name}.grad.density.blur.log_sigma"] = g_s.clone()
        out[f"{name}.grad.density.prior.log_density"] = g_p.clone()
        meta_cases.append({"name": name, "n": n, "h": h, "w": w, "sigma_frac": sigma_frac,
                           "log_sigma_f32": log_sigma32.item(), "nll": loss.item()})
        if name == BLUR_MATRIX_CASE:
            b_w = blur_matrix(w, torch.exp(log_sigma.detach()[0]) * max(h, w))
            assert (b_w.sum(dim=1) - 1.0).abs().max().item() <= 1e-14
            out["blur_matrix_w128"] = b_w.contiguous()
            print(f"  blur_matrix_w128: B_W[0, :3] {b_w[0, :3].tolist()}, B_W[64, 64] {b_w[64, 64].item()!r}")

    r_w = resize_matrix(RESIZE_MATRIX_WIDTH)
    assert (r_w.sum(dim=1) - 1.0).abs().max().item() <= 1e-15
    out["resize_matrix_w128"] = r_w
    print(f"resize_matrix_w128: R_W[0] nonzero {r_w[0].nonzero().flatten().tolist()}, "
          f"R_W[5, 0:3] {r_w[5, :3].tolist()}")

    meta = {
        "cases": json.dumps(meta_cases),
        "u_formula": "u[n,c,y,x] = f32(0.5*sin(0.013*i + 0.3*c) + 0.3*cos(0.11*y - 0.07*x + 0.5*c + 0.9*n)),"
                     " i = row-major flat index into (N,32,H,W), computed in f64",
        "u_sample_stride": str(U_SAMPLE_STRIDE),
        "readout_weight_formula": "w[k] = f32(sin(0.37*k + 0.5) * 2/sqrt(288)), k flat index of (1,32,3,3)",
        "prior_formula": "P[r,s] = f32(-0.5*((s-17.5)/9)^2 - 0.5*((r-14)/7)^2 + 0.15*sin(0.9*r + 0.4*s)"
                         " + 0.02*s), r row, s column of (1,1,32,32)",
        "log_sigma_formula": "f32(ln(sigma_frac)); sigma_px = exp(log_sigma) * max(H, W)",
        "fixations_formula": "image n of case k: 1 at ((11+23j+7n+3k) mod H, (3+41j+13n+5k) mod W), j=0..5,"
                             " plus (0, W-1) on image 0; image 1 of case 0 has none",
        "nll_definition": "mean over images with F_n>0 of -(1/F_n) sum f*(log_density + ln(H*W))/ln 2 (bits)",
        "dtypes": "inputs (u_sample, parameters) float32; fixations uint8; log_density, nll, grad.*, "
                  "blur_matrix_w128, resize_matrix_w128 float64 computed from the float32 inputs",
        "blur_matrix_w128": f"B_W of case {BLUR_MATRIX_CASE}",
        "resize_matrix_w128": "R_W for W=128 from the 32-wide prior grid",
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, path, metadata=meta)
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=FIXTURE)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    make_fixture(args.out)
