#!/usr/bin/env python3
"""MAT files in the structure of SALICON 2017, OSIE and CAT2000, written by scipy.io.savemat (whose
header text, "MATLAB 5.0 MAT-file Platform: ...", has no comma after "MAT-file": many
re-distributions of these datasets are written this way), for salient-data's reader tests.

Writes crates/salient-data/tests/fixtures/mat/{salicon_gaze.mat, osie_fixations.mat,
cat2000_fixlocs.mat, expected.json}. expected.json holds, per file, the fixated pixels (x, y) that
pysaliency's loaders would give (SALICON: x - 1, y - 1 of the 1-based `fixations`, clipped to
[0, size - 0.01] as pysaliency clips the 2017 mouse data; OSIE: fix_x/fix_y as stored; CAT2000:
the non-zero entries of fixLocs), floor()ed, in file order.

Pinned: scipy==1.17.1, numpy==2.4.6, Python 3.11. Rerun from the repository root:
    ~/.torch-ref/bin/python scripts/data/make_mat_fixtures.py
"""
import json
import os

import numpy as np
from scipy.io import savemat

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "salient-data", "tests",
                   "fixtures", "mat")
W, H = 40, 30  # the image size every fixture is meant for


def salicon():
    # gaze: 1x3 struct array, one element per viewer: location (mouse samples, Nx2), timestamp
    # (Nx1), fixations (Kx2), all [x, y] in MATLAB's 1-based pixels.
    dtype = [("location", "O"), ("timestamp", "O"), ("fixations", "O")]
    gaze = np.zeros((1, 3), dtype=dtype)
    fixations = [
        np.array([[1.0, 1.0], [20.5, 15.25], [40.0, 30.0]]),      # corners: 0-based 0 and 39/29
        np.zeros((0, 2)),                                         # a viewer with no fixation
        np.array([[10.0, 5.0], [10.0, 5.0], [45.0, -3.0]]),      # a repeat, and one off the image
    ]
    for i, f in enumerate(fixations):
        gaze[0, i]["location"] = np.array([[5.0, 6.0], [7.0, 8.0]])
        gaze[0, i]["timestamp"] = np.array([[10.0], [20.0]])
        gaze[0, i]["fixations"] = f
    savemat(os.path.join(OUT, "salicon_gaze.mat"), {"gaze": gaze}, do_compression=True)
    pixels = []
    for f in fixations:
        for x, y in f:
            x = min(max(x - 1, 0), W - 0.01)
            y = min(max(y - 1, 0), H - 0.01)
            pixels.append([int(np.floor(x)), int(np.floor(y))])
    return pixels


def osie():
    # fixations: a 2x1 cell, each a struct with img and subjects (a 1x2 cell of structs with
    # fix_x, fix_y, fix_duration), as OSIE's fixations.mat.
    images = {
        "a.jpg": [([3.5, 39.9], [2.0, 29.99], [200, 300]), ([0.0], [0.0], [150])],
        "b.jpg": [([12.25, 12.25], [7.0, 7.0], [100, 120]), ([], [], [])],
    }
    cells = np.empty((2, 1), dtype=object)
    pixels = {}
    for k, (name, subjects) in enumerate(images.items()):
        subj = np.empty((1, 2), dtype=object)
        pixels[name] = []
        for s, (xs, ys, ds) in enumerate(subjects):
            subj[0, s] = {"fix_x": np.array(xs, dtype=float).reshape(-1, 1),
                          "fix_y": np.array(ys, dtype=float).reshape(-1, 1),
                          "fix_duration": np.array(ds, dtype=float).reshape(-1, 1)}
            pixels[name] += [[int(np.floor(x)), int(np.floor(y))] for x, y in zip(xs, ys)]
        cells[k, 0] = {"img": name, "subjects": subj}
    savemat(os.path.join(OUT, "osie_fixations.mat"), {"fixations": cells})
    return pixels


def cat2000():
    locs = np.zeros((H, W), dtype=bool)
    points = [(0, 0), (39, 0), (5, 29), (17, 11)]
    for x, y in points:
        locs[y, x] = True
    savemat(os.path.join(OUT, "cat2000_fixlocs.mat"), {"fixLocs": locs}, do_compression=True)
    return sorted([[x, y] for x, y in points], key=lambda p: (p[1], p[0]))


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"width": W, "height": H, "salicon_gaze.mat": salicon(),
                "osie_fixations.mat": osie(), "cat2000_fixlocs.mat": cat2000()}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
