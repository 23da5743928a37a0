#!/usr/bin/env python3
"""Time pysaliency scoring the same kind of data as `salient-metrics --example bench`.

Generated 480x640 prediction / ground-truth map pairs (four Gaussian blobs plus 2% noise, the
prediction's blobs shifted by 2% of the larger side) with 500 fixations per image drawn around
the blobs: the same shapes, counts and recipe as the Rust bench, from numpy's generator (the
values differ; the timings depend on the sizes, not the values). Generation is not timed.

Timed, in one process, as a pysaliency user scores a dataset:
  cc, kld, sim  pysaliency.metrics.CC / MIT_KLDiv / SIM per image
  nss           SaliencyMapModel.NSSs over the dataset
  auc_judd      SaliencyMapModel.AUC_per_image(nonfixations='unfixated', thresholds='fixations')
  sauc          SaliencyMapModel.AUC_per_image(nonfixations='shuffled')
  ig            information_gains of SaliencyMapNormalizingModel(prediction) against
                pysaliency's BaselineModel (a centre bias fitted to all fixations, salient's
                bandwidth and eps)
pysaliency has no AUC-Borji. Prints wall and CPU seconds per metric and in total; the last line
is `images/s=<float> total_s=<float>`, like the Rust bench.

Pinned: pysaliency==0.2.22, numpy==2.4.6, scipy==1.17.1, setuptools<80, Python 3.11.
Run (from the repository root):
    ~/.torch-ref/bin/python scripts/bench/pysaliency_metrics.py --images 500
"""
import argparse
import time
from importlib.metadata import version

import numpy as np

np.trapz = np.trapezoid  # pysaliency 0.2.22 calls np.trapz, removed in numpy 2
import pysaliency  # noqa: E402
from pysaliency.baseline_utils import BaselineModel  # noqa: E402
from pysaliency.metrics import CC, MIT_KLDiv, SIM  # noqa: E402
from pysaliency.models import SaliencyMapNormalizingModel  # noqa: E402
from pysaliency.saliency_map_models import SaliencyMapModel  # noqa: E402


def sample(rng, w, h):
    scale = max(w, h)
    blobs = [(rng.random() * h, rng.random() * w, 0.03 + 0.1 * rng.random()) for _ in range(4)]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)

    def blob_map(shift):
        v = sum(np.exp(-0.5 * ((y - cy - shift * scale) ** 2 + (x - cx) ** 2) / (s * scale) ** 2)
                for cy, cx, s in blobs)
        return v + 0.02 * rng.random((h, w))

    return blob_map(0.02), blob_map(0.0), blobs


def fixations_for(rng, blobs, w, h, n):
    scale = max(w, h)
    pick = rng.integers(0, len(blobs), n)
    cy, cx, s = (np.array([blobs[k][j] for k in pick]) for j in range(3))
    gauss = lambda: (rng.random((4, n)) - 0.5).sum(axis=0) * 1.7  # noqa: E731
    ys = np.clip(cy + gauss() * s * scale, 0, h - 1).astype(int)
    xs = np.clip(cx + gauss() * s * scale, 0, w - 1).astype(int)
    return xs, ys


class ListModel(SaliencyMapModel):
    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        # Each stimulus' pixels all hold the index of its map pair.
        return self.maps[int(stimulus.ravel()[0])]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fixations", type=int, default=500)
    p.add_argument("--distinct", type=int, default=16, choices=range(1, 256))
    a = p.parse_args()
    rng = np.random.default_rng(0)
    samples = [sample(rng, a.width, a.height) for _ in range(a.distinct)]
    preds, gts, xs, ys, ns = [], [], [], [], []
    for i in range(a.images):
        pred, gt, blobs = samples[i % a.distinct]
        preds.append(pred)
        gts.append(gt)
        x, y = fixations_for(rng, blobs, a.width, a.height, a.fixations)
        xs.append(x)
        ys.append(y)
        ns.append(np.full(len(x), i))
    stimuli = pysaliency.Stimuli([np.full((a.height, a.width), i % a.distinct, dtype=np.uint8)
                                  for i in range(a.images)])
    fixations = pysaliency.Fixations.create_without_history(
        np.concatenate(xs).astype(float), np.concatenate(ys).astype(float), np.concatenate(ns))
    model = ListModel([s[0] for s in samples])
    print(f"{a.images} images of {a.height}x{a.width}, {a.fixations} fixations each; "
          f"pysaliency {version('pysaliency')}, one process")

    timings = {}

    def timed(name, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        timings[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(f"  {name:>9}: {1e3 * timings[name][0] / a.images:7.2f} ms/image wall, "
              f"{1e3 * timings[name][1] / a.images:7.2f} ms/image CPU")

    timed("cc", lambda: [CC(p_, g) for p_, g in zip(preds, gts)])
    timed("kld", lambda: [MIT_KLDiv(p_, g) for p_, g in zip(preds, gts)])
    timed("sim", lambda: [SIM(p_, g) for p_, g in zip(preds, gts)])
    timed("nss", lambda: model.NSSs(stimuli, fixations))
    timed("auc_judd", lambda: model.AUC_per_image(stimuli, fixations, nonfixations="unfixated",
                                                  thresholds="fixations"))
    timed("sauc", lambda: model.AUC_per_image(stimuli, fixations, nonfixations="shuffled"))

    def ig():
        # salient's defaults (salient_metrics::centre_bias): bandwidth 0.028, eps 0.5
        baseline = BaselineModel(stimuli, fixations, bandwidth=0.028, eps=0.5, caching=False)
        SaliencyMapNormalizingModel(model).information_gains(stimuli, fixations, baseline)

    timed("ig", ig)
    wall = sum(t[0] for t in timings.values())
    cpu = sum(t[1] for t in timings.values())
    print(f"CPU time {cpu:.2f}s = {1e3 * cpu / a.images:.2f} ms/image")
    print(f"images/s={a.images / wall:.1f} total_s={wall:.2f}")


if __name__ == "__main__":
    main()
