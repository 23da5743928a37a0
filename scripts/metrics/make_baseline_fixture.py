#!/usr/bin/env python3
"""pysaliency's centre-bias baseline, and the fixation metrics on repeated/fractional fixations and on
real data (OSIE): reference values for salient-metrics' tests.

Pinned: pysaliency==0.2.22, numpy==2.4.6, scipy==1.17.1, scikit-learn==1.9.1 (pysaliency.baseline_utils
imports it), pillow==13.0.0 (PNG reading), setuptools<80
(pysaliency imports pkg_resources), Python 3.11. numpy 2 removed np.trapz, which pysaliency calls: it is
aliased to np.trapezoid before the import.

Rerun (from the repository root; needs ../shared/realdata/osie beside the clone, or --osie DIR):
    ~/.torch-ref/bin/python scripts/metrics/make_baseline_fixture.py
(any venv with the pins above: pip install pysaliency==0.2.22 numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1
 pillow==13.0.0 "setuptools<80")

Writes two fixtures under crates/salient-metrics/tests/fixtures/. Coordinates are always [x, y], 0-based
pixels of the image file, fractional allowed, as pysaliency holds them (its x_int/y_int = floor).
Grids are row-major, height rows of width values.

centre_bias.json (tests/centre_bias_reference.rs)
  "sources": {name: {"images": [{"width", "height", "xy": [[x, y], ...]}, ...]}}
      fixation sets a BaselineModel is built from (pysaliency normalises them per image, by its own
      width/height, or by its larger side with keep_aspect).
  "models": [{"name", "source", "bandwidth", "eps", "keep_aspect",
              "grids": [{"width", "height", "log_density": [H*W floats]}]}]
      pysaliency BaselineModel(stimuli, fixations, bandwidth, eps, keep_aspect).log_density of a
      stimulus of each size (natural log; exact float repr).
  "scored": {"images": [{"width", "height", "xy", "prediction": recipe}], ...}
      images with fixations to score (repeats on one pixel, fractional x such as 3.999) and a
      prediction each. recipe = {"bumps": [[cx, cy, s, a], ...], "offset": o}: value at pixel (x, y) =
      f32(o + sum_k a / (1 + ((x - cx)^2 + (y - cy)^2) / s^2)), summed in f64 in the listed order
      (the Rust test rebuilds it bit for bit).
  "scored_reference": per scored image, pysaliency values (averaged over the image's fixations):
      nss       SaliencyMapModel.NSSs
      auc_judd  AUC_per_image(nonfixations='unfixated', thresholds='fixations') = AUC_Judd(jitter=False)
      sauc      AUC_per_image(nonfixations='shuffled') over the scored images as one dataset
                (pysaliency rescales the other images' float x by W/W_other, then truncates)
      sauc_baseline  AUC_per_image(nonfixations=<Fixations>) with the "per_axis" fixations mapped onto
                the image as BaselineModel maps them (x_n * W, truncated)
      ig_<model>  information_gains of SaliencyMapNormalizingModel(prediction) against the model
                (narrow, wide, default, sparse)
      ig_in_split  the same against BaselineModel(the scored images and fixations, default bandwidth/eps)
      ig_uniform  the same against pysaliency's UniformModel

osie.json (tests/osie_reference.rs; also for a reader-level test)
  "counts": {"<id>": n, ...} for all 700 images: fixations per image as pysaliency's get_OSIE loads
      fixations.mat (fix_x/fix_y taken as stored, no 1 subtracted; subjects with no fixations skipped)
  "images": [{"id", "width", "height", "count", "xy": [[x, y], ...], "nss", "auc_judd",
              "ig_centre_bias"}] for every 28th image from 1001 (25 images):
      xy as pysaliency holds them (fix_x, fix_y flattened subject by subject, subject 1 first);
      nss / auc_judd: pysaliency on the saliency map fixation_maps/<id>.png read as float (png/255),
      auc_judd with jitter=False; ig_centre_bias: information gain of that map (normalised to a
      density) against BaselineModel(these 25 images' fixations, centre_bias.bandwidth/eps).
  "centre_bias": {"bandwidth", "eps", "keep_aspect"}: the baseline of ig_centre_bias.
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image
from scipy.io import loadmat

np.trapz = np.trapezoid  # pysaliency 0.2.22 calls np.trapz, removed in numpy 2
import pysaliency  # noqa: E402
from pysaliency.baseline_utils import BaselineModel  # noqa: E402
from pysaliency.models import SaliencyMapNormalizingModel  # noqa: E402
from pysaliency.saliency_map_models import SaliencyMapModel  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "crates", "salient-metrics", "tests", "fixtures")
MASK = (1 << 64) - 1

# The crate's defaults (salient_metrics::DEFAULT_BANDWIDTH / DEFAULT_EPS), used for OSIE's IG.
DEFAULT_BANDWIDTH = 0.028
DEFAULT_EPS = 0.5


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def unit(seed, i):
    """A value in [0, 1) from a hash (the fixture stores the results; Rust never regenerates them)."""
    return (splitmix64(((seed << 32) + i) & MASK) >> 11) / float(1 << 53)


def random_points(seed, count, w, h, span_x=None, span_y=None):
    """Fractional points in [0, span), rounded to 1/1000 px so the JSON stays short."""
    span_x = w if span_x is None else span_x
    span_y = h if span_y is None else span_y
    pts = []
    for k in range(count):
        x = round(unit(seed, 2 * k) * span_x, 3)
        y = round(unit(seed, 2 * k + 1) * span_y, 3)
        pts.append([min(x, w - 0.001), min(y, h - 0.001)])
    return pts


class ListModel(SaliencyMapModel):
    """Returns the saliency map of the stimulus whose pixels all hold its index."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        return self.maps[int(np.asarray(stimulus).ravel()[0])].astype(np.float64)


def stimuli_of(sizes):
    return pysaliency.Stimuli([np.full((h, w), i, dtype=np.uint8) for i, (w, h) in enumerate(sizes)])


def fixations_of(images):
    xs = np.array([p[0] for im in images for p in im["xy"]], dtype=float)
    ys = np.array([p[1] for im in images for p in im["xy"]], dtype=float)
    ns = np.array([i for i, im in enumerate(images) for _ in im["xy"]], dtype=int)
    return pysaliency.Fixations.create_without_history(xs, ys, ns)


def build_prediction(recipe, w, h):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    acc = np.zeros((h, w))
    for (cx, cy, s, a) in recipe["bumps"]:
        dx = xs - cx
        dy = ys - cy
        acc = acc + a / (1.0 + (dx * dx + dy * dy) / (s * s))
    acc = acc + recipe["offset"]
    return acc.astype(np.float32)


def per_image_mean(values, ns, count):
    return [float(np.mean(values[ns == i])) for i in range(count)]


def baseline_sources():
    # Per-axis normalisation: a landscape and a portrait image; repeats and points on pixel edges.
    a = random_points(11, 24, 40, 30) + [[3.999, 2.5], [3.999, 2.5], [3.0, 2.0], [39.999, 29.999], [0.0, 0.0]]
    b = random_points(12, 20, 25, 50) + [[24.5, 49.5], [12.0, 25.0], [12.0, 25.0]]
    # keep_aspect: a landscape and a portrait image with every point inside the top-left 30x30 square,
    # so that it lies on both a 40x30 and a 30x40 grid (pysaliency raises for points beyond the grid).
    c = random_points(13, 20, 40, 30, span_x=30.0, span_y=30.0) + [[29.5, 29.5]]
    d = random_points(14, 20, 30, 40, span_x=30.0, span_y=30.0) + [[0.5, 29.9]]
    # A few fixations in one corner: most pixels of a narrow model sit on its eps floor (~1e-25).
    e = [[1.5, 2.5], [3.25, 1.75], [6.0, 6.0], [2.0, 7.5], [3.25, 1.75]]
    return {
        "corner": {"images": [{"width": 40, "height": 30, "xy": e}]},
        "per_axis": {"images": [{"width": 40, "height": 30, "xy": a}, {"width": 25, "height": 50, "xy": b}]},
        "square": {"images": [{"width": 40, "height": 30, "xy": c}, {"width": 30, "height": 40, "xy": d}]},
    }


MODELS = [
    # name, source, bandwidth, eps, keep_aspect, grids
    ("narrow", "per_axis", 0.05, 1e-3, False, [(40, 30), (25, 50)]),
    # σ = 8.75 and 17.5 px on 25x50: the kernel (radius 35 and 70) outgrows the grid, reflecting twice.
    ("wide", "per_axis", 0.35, 1e-20, False, [(40, 30), (25, 50)]),
    ("default", "per_axis", DEFAULT_BANDWIDTH, DEFAULT_EPS, False, [(40, 30)]),
    # Scored fixations far from these get log-densities of ~-55: IG must compare log-densities
    # exactly (adding Bylinskii's 2.2e-16 to the baseline would cap them at log(2.2e-16) = -36).
    ("sparse", "corner", 0.02, 1e-20, False, [(40, 30)]),
    ("round", "square", 0.08, 1e-4, True, [(40, 30), (30, 40)]),
]


def centre_bias_fixture():
    sources = baseline_sources()
    built = {}
    models_out = []
    for name, src, bw, eps, keep, grids in MODELS:
        images = sources[src]["images"]
        stim = stimuli_of([(im["width"], im["height"]) for im in images])
        model = BaselineModel(stim, fixations_of(images), bandwidth=bw, eps=eps, keep_aspect=keep, caching=False)
        built[name] = model
        out_grids = []
        for (w, h) in grids:
            ld = model.log_density(np.zeros((h, w)))
            assert abs(np.exp(ld).sum() - 1) < 1e-12
            out_grids.append({"width": w, "height": h, "log_density": [float(v) for v in ld.ravel()]})
        models_out.append({"name": name, "source": src, "bandwidth": bw, "eps": eps, "keep_aspect": keep,
                           "grids": out_grids})

    # Scored images: the per-axis sizes, fixations with repeats and fractional coordinates.
    scored = [
        {"width": 40, "height": 30,
         "xy": random_points(21, 18, 40, 30) + [[3.999, 2.0], [3.0, 2.999], [3.5, 2.5], [3.999, 2.0],
                                                  [39.999, 0.0], [10.25, 20.75], [10.25, 20.75], [10.999, 20.001]],
         "prediction": {"bumps": [[12.0, 15.0, 5.0, 1.0], [30.0, 8.0, 4.0, 0.6]], "offset": 0.01}},
        {"width": 25, "height": 50,
         "xy": random_points(22, 15, 25, 50) + [[24.999, 49.999], [0.001, 0.999], [0.999, 0.001], [0.5, 0.5],
                                                  [12.7, 30.2], [12.7, 30.2], [12.7, 30.2]],
         "prediction": {"bumps": [[12.0, 35.0, 6.0, 1.0], [5.0, 10.0, 3.0, 0.5]], "offset": 0.02}},
    ]
    sizes = [(im["width"], im["height"]) for im in scored]
    stim = stimuli_of(sizes)
    fix = fixations_of(scored)
    preds = [build_prediction(im["prediction"], im["width"], im["height"]) for im in scored]
    model = ListModel(preds)
    n = len(scored)
    ref = [dict() for _ in scored]

    def put(key, values):
        for i, v in enumerate(values):
            ref[i][key] = float(v)

    put("nss", per_image_mean(model.NSSs(stim, fix), fix.n, n))
    put("auc_judd", model.AUC_per_image(stim, fix, nonfixations="unfixated", thresholds="fixations"))
    put("sauc", model.AUC_per_image(stim, fix, nonfixations="shuffled"))
    normalizing = SaliencyMapNormalizingModel(model)
    put("ig_uniform", per_image_mean(normalizing.information_gains(stim, fix), fix.n, n))
    for name in ("narrow", "wide", "default", "sparse"):
        base = built[name]
        put("ig_" + name, per_image_mean(normalizing.information_gains(stim, fix, baseline_model=base), fix.n, n))
    # The default IG baseline of the Rust evaluator: the scored images' own centre bias.
    in_split = BaselineModel(stim, fix, bandwidth=DEFAULT_BANDWIDTH, eps=DEFAULT_EPS, caching=False)
    put("ig_in_split", per_image_mean(normalizing.information_gains(stim, fix, baseline_model=in_split), fix.n, n))
    # sAUC against the "per_axis" fixations, mapped onto each scored image as BaselineModel maps them.
    base = built["narrow"]
    nx, ny, nn = [], [], []
    for i, (w, h) in enumerate(sizes):
        nx.extend(base.xs * w)
        ny.extend(base.ys * h)
        nn.extend([i] * len(base.xs))
    negatives = pysaliency.Fixations.create_without_history(np.array(nx), np.array(ny), np.array(nn))
    put("sauc_baseline", model.AUC_per_image(stim, fix, nonfixations=negatives))
    for i, r in enumerate(ref):
        print(f"scored {i}: " + " ".join(f"{k}={v:.6f}" for k, v in r.items()), file=sys.stderr)

    return {
        "generator": "scripts/metrics/make_baseline_fixture.py",
        "versions": {"pysaliency": "0.2.22", "numpy": np.__version__, "scipy": __import__("scipy").__version__},
        "sources": sources,
        "models": models_out,
        "scored": {"images": scored},
        "scored_reference": ref,
    }


def load_osie(osie_dir):
    """fixations.mat as pysaliency's get_OSIE reads it: per image, subjects in order, x/y as stored."""
    data = loadmat(os.path.join(osie_dir, "fixations.mat"))["fixations"].flatten()
    per_image = {}
    for stimulus_data in data:
        stimulus_data = stimulus_data[0, 0]
        name = stimulus_data["img"][0]
        xs, ys = [], []
        for subject_data in stimulus_data["subjects"].flatten():
            f = subject_data[0, 0]
            if not len(f["fix_x"].flatten()):
                continue
            xs.extend(f["fix_x"].flatten().tolist())
            ys.extend(f["fix_y"].flatten().tolist())
        per_image[os.path.splitext(name)[0]] = (xs, ys)
    return per_image


def osie_fixture(osie_dir):
    per_image = load_osie(osie_dir)
    assert len(per_image) == 700, len(per_image)
    counts = {k: len(v[0]) for k, v in sorted(per_image.items())}
    ids = [str(1001 + 28 * k) for k in range(25)]
    maps, images = [], []
    for k, image_id in enumerate(ids):
        png = Image.open(os.path.join(osie_dir, "fixation_maps", image_id + ".png"))
        assert png.mode == "L", png.mode
        m = np.asarray(png, dtype=np.float64) / 255.0
        h, w = m.shape
        maps.append(m)
        xs, ys = per_image[image_id]
        images.append({"id": image_id, "width": w, "height": h, "count": len(xs),
                       "xy": [[x, y] for x, y in zip(xs, ys)]})
    stim = stimuli_of([(im["width"], im["height"]) for im in images])
    fix = fixations_of(images)
    model = ListModel(maps)
    n = len(images)
    nss = per_image_mean(model.NSSs(stim, fix), fix.n, n)
    judd = model.AUC_per_image(stim, fix, nonfixations="unfixated", thresholds="fixations")
    base = BaselineModel(stim, fix, bandwidth=DEFAULT_BANDWIDTH, eps=DEFAULT_EPS, caching=False)
    ig = per_image_mean(SaliencyMapNormalizingModel(model).information_gains(stim, fix, baseline_model=base),
                        fix.n, n)
    for im, a, b, c in zip(images, nss, judd, ig):
        im["nss"], im["auc_judd"], im["ig_centre_bias"] = float(a), float(b), float(c)
        print(f"osie {im['id']}: n={im['count']} nss={a:.6f} auc_judd={b:.6f} ig={c:.6f}", file=sys.stderr)
    return {
        "generator": "scripts/metrics/make_baseline_fixture.py",
        "versions": {"pysaliency": "0.2.22", "numpy": np.__version__},
        "source": "OSIE fixations.mat (NUS-VIP/predicting-human-gaze-beyond-pixels @ 4a46789), read as pysaliency.get_OSIE",
        "centre_bias": {"bandwidth": DEFAULT_BANDWIDTH, "eps": DEFAULT_EPS, "keep_aspect": False},
        "counts": counts,
        "images": images,
    }


def write(name, doc):
    path = os.path.join(FIXTURES, name)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) // 1024} KB)", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osie", default=os.path.join(ROOT, "..", "shared", "realdata", "osie"),
                        help="the OSIE folder (fixations.mat, fixation_maps/)")
    args = parser.parse_args()
    write("centre_bias.json", centre_bias_fixture())
    write("osie.json", osie_fixture(args.osie))


if __name__ == "__main__":
    main()
