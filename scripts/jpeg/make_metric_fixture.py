#!/usr/bin/env python3
"""JPEG ground-truth maps and pysaliency's scores on them, for salient-data's jpeg_metrics test.

Writes crates/salient-data/tests/fixtures/jpeg_metrics/: four 128x96 saliency maps stored as JPEG
the way MIT1003 and CAT2000 ship them (smooth blobs, quality 75):
  a_grey.jpg   blob map A, one channel
  a_rgb.jpg    the same map written as RGB (grey in three channels, 4:2:0): decodes with a little
               chroma, so the colour-to-grey step matters
  b_grey.jpg   blob map B, one channel
  b_heat.jpg   map B coloured as a heat map (r = v, g = v^2/255, b = 0.3 (255 - v)), 4:2:0
and reference.toml: fixation lists near A and near B, a float prediction P given as a recipe that
only uses +, -, *, / on doubles (tests/jpeg_metrics.rs rebuilds it bit for bit), and for each case
pysaliency 0.2.22's CC, KLD (MIT_KLDiv), SIM, NSS, AUC-Judd (jitter=False) and IG (against a
uniform baseline) of the prediction against the ground truth and the fixations.

The maps are read the way salient reads them, with PIL (libjpeg-turbo) as the decoder: grey files
as byte / 255 in float32; colour files turned grey with OpenCV's BGR2GRAY weights in float32,
((0.299 r + 0.587 g) + 0.114 b) / 255 clipped to [0, 1] (salient-data's `load_map`), so the only
thing that can differ on the Rust side is the JPEG decoder. JPEG maps also serve as predictions
(`salient eval --predictions` reads JPEG maps with the same `load_map`), so the fixation metrics
depend on the decoder too.

Pinned: pysaliency==0.2.22, numpy==2.4.6, scipy==1.17.1, setuptools<80, pillow==13.0.0 (bundles
libjpeg-turbo 3.2.0), Python 3.11. numpy 2 removed np.trapz, which pysaliency calls: it is aliased
to np.trapezoid before the import. Rerun from the repository root:
    ~/.torch-ref/bin/python scripts/jpeg/make_metric_fixture.py
"""
import io
import os

import numpy as np

np.trapz = np.trapezoid  # pysaliency 0.2.22 calls np.trapz, removed in numpy 2
import PIL  # noqa: E402
import PIL.features  # noqa: E402
import pysaliency  # noqa: E402
from PIL import Image  # noqa: E402
from pysaliency.metrics import CC, MIT_KLDiv, SIM  # noqa: E402
from pysaliency.models import SaliencyMapNormalizingModel  # noqa: E402
from pysaliency.saliency_map_models import SaliencyMapModel  # noqa: E402

OUT = os.path.join("crates", "salient-data", "tests", "fixtures", "jpeg_metrics")
W, H = 128, 96
MASK = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def unit(seed, i):
    return (splitmix64(((seed << 32) + i) & MASK) >> 40) / 16777216.0


def bumps(spec, offset=0.0):
    """Sum of a / (1 + r^2 / s^2) over (cy, cx, s, a), plus offset: the recipe Rust rebuilds."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    acc = np.zeros((H, W))
    for (cy, cx, s, a) in spec:
        dx = xs - cx
        dy = ys - cy
        r2 = dx * dx + dy * dy
        acc = acc + a / (1.0 + r2 / (s * s))
    return acc + offset


def to_u8(values):
    return np.clip(np.round(values / values.max() * 255.0), 0, 255).astype(np.uint8)


def jpeg(array, mode, **options):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "JPEG", quality=75, **options)
    return buffer.getvalue()


def read_map(data):
    """salient-data's load_map, with PIL decoding: float32 in [0, 1]."""
    image = Image.open(io.BytesIO(data))
    image.load()
    pixels = np.asarray(image).astype(np.float32)
    if image.mode == "L":
        return pixels / np.float32(255.0)
    assert image.mode == "RGB", image.mode
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    luma = np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b
    return np.clip(luma / np.float32(255.0), np.float32(0.0), np.float32(1.0))


def near(density, seed, count):
    """Fixations drawn with probability ~ density by inverse CDF on hashed uniforms: [y, x]."""
    cdf = np.cumsum(density.astype(np.float64).ravel())
    cdf /= cdf[-1]
    out = []
    for k in range(count):
        idx = min(int(np.searchsorted(cdf, unit(seed, k), side="right")), W * H - 1)
        out.append([idx // W, idx % W])
    return out


class ListModel(SaliencyMapModel):
    """Returns the prediction of the stimulus whose pixels all hold its case index."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        return self.maps[int(stimulus.ravel()[0])].astype(np.float64)


def toml_list(values):
    return "[" + ", ".join(repr(v) for v in values) + "]"


def main():
    os.makedirs(OUT, exist_ok=True)
    a = to_u8(bumps([(30.0, 40.0, 9.0, 1.0), (60.0, 90.0, 14.0, 0.7), (20.0, 110.0, 6.0, 0.4)]))
    b = to_u8(bumps([(50.0, 64.0, 20.0, 1.0), (15.0, 20.0, 8.0, 0.8)]))
    heat = np.stack([b, (b.astype(np.uint32) ** 2 // 255).astype(np.uint8),
                     (0.3 * (255 - b.astype(np.float64))).astype(np.uint8)], axis=-1)
    files = {
        "a_grey.jpg": jpeg(a, "L"),
        "a_rgb.jpg": jpeg(np.stack([a, a, a], axis=-1), "RGB", subsampling="4:2:0"),
        "b_grey.jpg": jpeg(b, "L"),
        "b_heat.jpg": jpeg(heat, "RGB", subsampling="4:2:0"),
    }
    maps = {}
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        maps[name] = read_map(data)
    prediction_spec = [(28.0, 44.0, 12.0, 1.0), (55.0, 85.0, 18.0, 0.5), (80.0, 10.0, 10.0, 0.3)]
    prediction_offset = 0.02
    maps["prediction"] = bumps(prediction_spec, prediction_offset).astype(np.float32)
    fixations = {"a": near(a, 11, 40), "b": near(b, 12, 35)}
    cases = [
        ("prediction", "a_grey.jpg", "a"),
        ("prediction", "a_rgb.jpg", "a"),
        ("b_grey.jpg", "a_grey.jpg", "a"),
        ("b_heat.jpg", "a_rgb.jpg", "a"),
        ("a_rgb.jpg", "b_heat.jpg", "b"),
        ("a_grey.jpg", "b_grey.jpg", "b"),
    ]

    stimuli = pysaliency.Stimuli([np.full((H, W), i, dtype=np.uint8) for i in range(len(cases))])
    fix = [fixations[f] for _, _, f in cases]
    xs = np.array([p[1] for fx in fix for p in fx], dtype=float)
    ys = np.array([p[0] for fx in fix for p in fx], dtype=float)
    ns = np.array([i for i, fx in enumerate(fix) for _ in fx], dtype=int)
    all_fixations = pysaliency.Fixations.create_without_history(xs, ys, ns)
    model = ListModel([maps[pred] for pred, _, _ in cases])
    uniform = ListModel([np.ones((H, W)) for _ in cases])
    judd = model.AUC_per_image(stimuli, all_fixations, nonfixations="unfixated", thresholds="fixations")
    nss = model.NSSs(stimuli, all_fixations)
    ig = SaliencyMapNormalizingModel(model).information_gains(
        stimuli, all_fixations, baseline_model=SaliencyMapNormalizingModel(uniform))

    lines = [
        "# Written by scripts/jpeg/make_metric_fixture.py: pysaliency's scores on JPEG ground truth",
        "# decoded by PIL (libjpeg-turbo).",
        f'pysaliency = "0.2.22"',
        f'numpy = "{np.__version__}"',
        f'pillow = "{PIL.__version__}"',
        f'pillow_libjpeg_turbo = "{PIL.features.version("libjpeg_turbo")}"',
        f"width = {W}",
        f"height = {H}",
        f"prediction_offset = {prediction_offset!r}",
        "prediction_bumps = [" + ", ".join(toml_list(s) for s in prediction_spec) + "]",
        f"prediction_sum = {float(maps['prediction'].astype(np.float64).sum())!r}",
        "fixations_a = [" + ", ".join(toml_list(p) for p in fixations["a"]) + "]",
        "fixations_b = [" + ", ".join(toml_list(p) for p in fixations["b"]) + "]",
        "",
        "[map_sums]  # sum of each decoded map (float32 values added in float64)",
    ]
    lines += [f'"{name}" = {float(maps[name].astype(np.float64).sum())!r}' for name in files]
    lines.append("")
    for i, (pred, gt, f) in enumerate(cases):
        p64 = maps[pred].astype(np.float64)
        g64 = maps[gt].astype(np.float64)
        inds = ns == i
        reference = {
            "cc": float(CC(p64, g64)),
            "kld": float(MIT_KLDiv(p64, g64)),
            "sim": float(SIM(p64, g64)),
            "nss": float(np.mean(nss[inds])),
            "auc_judd": float(judd[i]),
            "ig": float(np.mean(ig[inds])),
        }
        lines += ["[[case]]", f'prediction = "{pred}"', f'ground_truth = "{gt}"', f'fixations = "{f}"']
        lines += [f"{k} = {v!r}" for k, v in reference.items()]
        lines.append("")
        print(f"{pred:>11} vs {gt:<10}: " + " ".join(f"{k}={v:.6f}" for k, v in reference.items()))
    with open(os.path.join(OUT, "reference.toml"), "w") as f:
        f.write("\n".join(lines))
    size = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT} ({size} bytes)")


if __name__ == "__main__":
    main()
