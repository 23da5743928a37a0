#!/usr/bin/env python3
"""Reference values of the saliency metrics, from pysaliency, for salient-metrics' tests.

Writes crates/salient-metrics/tests/fixtures/reference.json (a few kilobytes): for each case the
recipe of its maps (Rust rebuilds them bit for bit: only +, -, *, / on doubles, cast to f32, and a
splitmix64 hash; tests/reference.rs builds the same), its fixations, a checksum of the rebuilt maps, and the reference scores.

Pinned: pysaliency==0.2.22, numpy==2.4.6, scipy==1.17.1, setuptools<80 (pysaliency imports
pkg_resources), Python 3.11. numpy 2 removed np.trapz, which pysaliency calls: it is aliased to
np.trapezoid before the import.

Rerun (from the repository root):
    ~/.torch-ref/bin/python scripts/metrics/make_fixture.py
(any venv with the pins above: pip install pysaliency==0.2.22 numpy==2.4.6 scipy==1.17.1 "setuptools<80")

Where the reference comes from, per metric:
  cc, kld, sim   pysaliency.metrics.CC / MIT_KLDiv / SIM on the (resized) prediction and the GT map
  nss            pysaliency SaliencyMapModel.NSSs, averaged over the image's fixations
  auc_judd       pysaliency AUC_per_image(nonfixations='unfixated', thresholds='fixations'), which is
                 AUC_Judd(jitter=False); auc_judd_jitter is AUC_Judd's default (jitter=True, seed 42),
                 recorded to document the difference, not asserted
  sauc           pysaliency AUC_per_image(nonfixations='shuffled') over all cases as one dataset
  ig             pysaliency information_gains of SaliencyMapNormalizingModel(pred) against
                 SaliencyMapNormalizingModel(baseline), averaged over the image's fixations
  auc_borji      pysaliency has none: a line-by-line numpy transcription of the MIT benchmark's
                 AUC_Borji.m, fed the negatives drawn by `borji_negatives` below (Rust draws the same)
Predictions of another size than the stimulus go through pysaliency's ResizingSaliencyMapModel
(scipy.ndimage.zoom order=1), as the benchmark does.
"""
import json
import os
import sys

import numpy as np

np.trapz = np.trapezoid  # pysaliency 0.2.22 calls np.trapz, removed in numpy 2
import pysaliency  # noqa: E402
from pysaliency.metrics import CC, MIT_KLDiv, SIM  # noqa: E402
from pysaliency.models import SaliencyMapNormalizingModel  # noqa: E402
from pysaliency.saliency_map_models import ResizingSaliencyMapModel, SaliencyMapModel  # noqa: E402

MASK = (1 << 64) - 1
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "salient-metrics", "tests",
                   "fixtures", "reference.json")


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def hash_at(seed, i):
    """splitmix64 of (seed << 32) + i, the generator every recipe uses."""
    return splitmix64(((seed << 32) + i) & MASK)


def unit(seed, i):
    """A value in [0, 1) with 24 significant bits: exact in f32 and f64."""
    return (hash_at(seed, i) >> 40) / 16777216.0


# --- map recipes (Rust: `Recipe::build` in tests/reference.rs builds the same) --------------------------------
def build(recipe, w, h):
    kind = recipe["kind"]
    if kind == "values":
        return np.array(recipe["values"], dtype=np.float32).reshape(h, w)
    if kind == "constant":
        return np.full((h, w), recipe["value"], dtype=np.float32)
    if kind == "random":
        seed = recipe["seed"]
        return np.array([unit(seed, i) for i in range(w * h)], dtype=np.float64).astype(np.float32).reshape(h, w)
    if kind == "bumps":
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        acc = np.zeros((h, w))
        for (cy, cx, s, a) in recipe["bumps"]:
            dx = xs - cx
            dy = ys - cy
            r2 = dx * dx + dy * dy
            acc = acc + a / (1.0 + r2 / (s * s))
        if recipe.get("noise"):
            seed, amp = recipe["noise"]
            n = np.array([unit(seed, i) for i in range(w * h)], dtype=np.float64).reshape(h, w)
            acc = acc + amp * n
        acc = acc + recipe.get("offset", 0.0)
        out = acc.astype(np.float32)
        if recipe.get("quantize"):
            out = (np.floor(out.astype(np.float64) * 255.0 + 0.5) / 255.0).astype(np.float32)
        return out
    raise ValueError(kind)


def random_fixations(seed, count, w, h):
    return [[hash_at(seed, 2 * k) % h, hash_at(seed, 2 * k + 1) % w] for k in range(count)]


def borji_negatives(case_index, n_fix, w, h, splits=100):
    seed = 1000 + case_index
    return [[hash_at(seed, s * n_fix + k) % (w * h) for k in range(n_fix)] for s in range(splits)]


# --- the MIT benchmark's AUC_Borji.m, transcribed ----------------------------------------------
def auc_borji_mit(smap, fix_idx, negatives, step=0.1):
    s = smap.astype(np.float64).ravel()
    s = (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else np.zeros_like(s)  # mat2gray
    sth = s[np.asarray(fix_idx)]
    n_fix = len(sth)
    aucs = []
    for split in negatives:
        curfix = s[np.asarray(split)]
        top = np.max(np.concatenate([sth, curfix]))
        allthreshes = [k * step for k in range(0, 11) if k * step <= top][::-1]  # fliplr(0:step:top)
        tp = np.zeros(len(allthreshes) + 2)
        fp = np.zeros(len(allthreshes) + 2)
        tp[-1] = 1.0
        fp[-1] = 1.0
        for i, thresh in enumerate(allthreshes):
            tp[i + 1] = np.sum(sth >= thresh) / n_fix
            fp[i + 1] = np.sum(curfix >= thresh) / len(curfix)
        aucs.append(np.trapezoid(tp, fp))
    return float(np.mean(aucs))


# --- the cases ---------------------------------------------------------------------------------
def bumps(*b, **extra):
    return dict(kind="bumps", bumps=[list(x) for x in b], **extra)


def cases():
    gt_small = bumps((10.0, 14.0, 4.0, 1.0), (30.0, 50.0, 6.0, 0.7), (40.0, 20.0, 3.0, 0.5))
    gt_40x30 = bumps((8.0, 10.0, 3.0, 1.0), (20.0, 30.0, 5.0, 0.6))
    big_gt = bumps((120.0, 160.0, 40.0, 1.0), (300.0, 420.0, 60.0, 0.8), (380.0, 120.0, 30.0, 0.6))
    big_pred = bumps((130.0, 170.0, 50.0, 0.9), (290.0, 400.0, 70.0, 0.7), (100.0, 560.0, 40.0, 0.3),
                     noise=[77, 0.05], offset=0.01)
    c = [
        dict(name="random", width=64, height=48, pred=dict(kind="random", seed=1),
             gt=dict(kind="random", seed=2), baseline=gt_small, fixations=("random", 3, 40)),
        dict(name="peaked", width=64, height=48,
             pred=bumps((12.0, 16.0, 5.0, 1.0), (28.0, 48.0, 7.0, 0.5), (5.0, 60.0, 3.0, 0.2)),
             gt=gt_small, baseline=bumps((24.0, 32.0, 20.0, 1.0), offset=0.05), fixations=("near", 4, 30)),
        dict(name="constant", width=40, height=30, pred=dict(kind="constant", value=0.5), gt=gt_40x30,
             baseline=dict(kind="random", seed=9), fixations=("random", 5, 12)),
        dict(name="zero_pred", width=40, height=30, pred=dict(kind="constant", value=0.0), gt=gt_40x30,
             baseline=bumps((15.0, 20.0, 10.0, 1.0)), fixations=("random", 6, 12)),
        dict(name="tiny", width=4, height=3,
             pred=dict(kind="values", values=[0.1, 0.5, 0.5, 0.2, 0.9, 0.5, 0.0, 0.1, 0.3, 0.9, 0.2, 0.4]),
             gt=dict(kind="values", values=[0.0, 0.2, 0.4, 0.1, 1.0, 0.3, 0.0, 0.0, 0.1, 0.8, 0.1, 0.2]),
             baseline=dict(kind="values", values=[1.0, 2.0, 2.0, 1.0, 2.0, 4.0, 4.0, 2.0, 1.0, 2.0, 2.0, 1.0]),
             fixations=("list", [[1, 0], [2, 1], [1, 0], [0, 1]])),
        dict(name="quantized", width=64, height=48,
             pred=bumps((12.0, 16.0, 6.0, 1.0), (30.0, 44.0, 8.0, 0.6), quantize=True),
             gt=gt_small, baseline=dict(kind="constant", value=1.0), fixations=("near", 7, 40)),
        dict(name="negative", width=64, height=48,
             pred=bumps((12.0, 16.0, 5.0, 1.0), (28.0, 48.0, 7.0, 0.5), offset=-0.3),
             gt=gt_small, baseline=bumps((24.0, 32.0, 20.0, 1.0), offset=0.05), fixations=("near", 8, 25)),
        dict(name="resized", width=64, height=48, pred_width=40, pred_height=30,
             pred=bumps((7.0, 10.0, 3.0, 1.0), (18.0, 30.0, 4.0, 0.5), noise=[31, 0.02]),
             gt=gt_small, baseline=bumps((24.0, 32.0, 20.0, 1.0), offset=0.05), fixations=("near", 9, 30)),
        dict(name="big", width=640, height=480, pred=big_pred, gt=big_gt,
             baseline=bumps((240.0, 320.0, 200.0, 1.0), offset=0.01), fixations=("near", 10, 300)),
    ]
    return c


def make_fixations(spec, gt):
    kind = spec[0]
    h, w = gt.shape
    if kind == "list":
        return spec[1]
    if kind == "random":
        return random_fixations(spec[1], spec[2], w, h)
    # "near": sample pixels with probability ~ gt, by inverse CDF on hashed uniforms
    seed, count = spec[1], spec[2]
    cdf = np.cumsum(gt.astype(np.float64).ravel())
    cdf /= cdf[-1]
    out = []
    for k in range(count):
        idx = int(np.searchsorted(cdf, unit(seed, k), side="right"))
        idx = min(idx, w * h - 1)
        out.append([idx // w, idx % w])
    return out


class ListModel(SaliencyMapModel):
    """Returns the prediction of the stimulus whose pixels all hold its case index."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        return self.maps[int(stimulus.ravel()[0])].astype(np.float64)


def main():
    case_list = cases()
    preds, gts, bases, fixes, stimuli = [], [], [], [], []
    for i, c in enumerate(case_list):
        w, h = c["width"], c["height"]
        pw, ph = c.get("pred_width", w), c.get("pred_height", h)
        preds.append(build(c["pred"], pw, ph))
        gts.append(build(c["gt"], w, h))
        bases.append(build(c["baseline"], w, h))
        fixes.append(make_fixations(c["fixations"], gts[-1]))
        stimuli.append(np.full((h, w), i, dtype=np.uint8))

    stims = pysaliency.Stimuli(stimuli)
    xs = np.array([f[1] for fx in fixes for f in fx], dtype=float)
    ys = np.array([f[0] for fx in fixes for f in fx], dtype=float)
    ns = np.array([i for i, fx in enumerate(fixes) for _ in fx], dtype=int)
    fixations = pysaliency.Fixations.create_without_history(xs, ys, ns)

    model = ResizingSaliencyMapModel(ListModel(preds), verbose=False)
    baseline = ListModel(bases)
    judd = model.AUC_per_image(stims, fixations, nonfixations="unfixated", thresholds="fixations")
    sauc = model.AUC_per_image(stims, fixations, nonfixations="shuffled")
    nss = model.NSSs(stims, fixations)
    ig = SaliencyMapNormalizingModel(model).information_gains(
        stims, fixations, baseline_model=SaliencyMapNormalizingModel(baseline))

    out_cases = []
    for i, c in enumerate(case_list):
        w, h = c["width"], c["height"]
        # AUC_Judd's default: N(0, 1e-7) jitter from a fresh RandomState(42), this image alone.
        jitter = ResizingSaliencyMapModel(ListModel(preds), verbose=False).AUC_Judd(
            pysaliency.Stimuli([stimuli[i]]),
            pysaliency.Fixations.create_without_history(
                np.array([f[1] for f in fixes[i]], dtype=float),
                np.array([f[0] for f in fixes[i]], dtype=float),
                np.zeros(len(fixes[i]), dtype=int)),
            jitter=True)
        resized = model.saliency_map(stims.stimulus_objects[i])
        gt64 = gts[i].astype(np.float64)  # as a benchmark reads maps; float32 would compute in float32
        inds = ns == i
        fix_idx = [f[0] * w + f[1] for f in fixes[i]]
        negatives = borji_negatives(i, len(fix_idx), w, h)
        reference = {
            "cc": float(CC(resized, gt64)),
            "kld": float(MIT_KLDiv(resized, gt64)),
            "sim": float(SIM(resized, gt64)),
            "nss": float(np.mean(nss[inds])),
            "auc_judd": float(judd[i]),
            "auc_borji": auc_borji_mit(resized, fix_idx, negatives),
            "sauc": float(sauc[i]),
            "ig": float(np.mean(ig[inds])),
        }
        entry = {
            "name": c["name"], "width": w, "height": h,
            "pred_width": c.get("pred_width", w), "pred_height": c.get("pred_height", h),
            "pred": c["pred"], "gt": c["gt"], "baseline": c["baseline"],
            "fixations": [[int(y), int(x)] for y, x in fixes[i]],
            "checksum": {"pred": float(preds[i].astype(np.float64).sum()),
                         "gt": float(gts[i].astype(np.float64).sum()),
                         "baseline": float(bases[i].astype(np.float64).sum())},
            "resized_pred_sum": float(resized.sum()),
            "reference": reference,
            "auc_judd_jitter": float(jitter),
        }
        out_cases.append(entry)
        print(f"{c['name']:>10}: " + " ".join(f"{k}={v:.6f}" for k, v in reference.items())
              + f" judd_jitter={jitter:.6f}", file=sys.stderr)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    header = {
        "generator": "scripts/metrics/make_fixture.py",
        "versions": {"pysaliency": "0.2.22", "numpy": np.__version__},
        "borji_negatives": "split s, draw k of case i: splitmix64(((1000 + i) << 32) + s*n_fix + k) % (w*h)",
    }
    with open(OUT, "w") as f:
        f.write(json.dumps(header)[:-1] + ',\n"cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in out_cases))
        f.write("\n]}\n")
    print(f"wrote {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
