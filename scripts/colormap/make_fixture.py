"""Write the OpenCV JET colour table and cv2.addWeighted reference cases used by salient-train's tests.

Pinned: opencv-python-headless 4.x (cv2.__version__ recorded in the fixture), numpy 2.x.
Rerun (from the repository root):
    ~/.torch-ref/bin/python scripts/colormap/make_fixture.py
It writes crates/salient-train/tests/fixtures/opencv_jet.json (a few kilobytes).
"""

import json
import pathlib

import cv2
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/salient-train/tests/fixtures/opencv_jet.json"


def main() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
    # applyColorMap returns BGR; store RGB.
    lut = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[0][:, ::-1]

    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, size=(1, 2048), dtype=np.uint8)
    b = rng.integers(0, 256, size=(1, 2048), dtype=np.uint8)
    blended = cv2.addWeighted(a, 0.7, b, 0.3, 0)

    # A small overlay end to end: RGB image, 8-bit map -> JET (RGB) -> 0.7 image + 0.3 heatmap.
    image = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    smap = rng.integers(0, 256, size=(6, 5), dtype=np.uint8)
    heat = cv2.applyColorMap(smap, cv2.COLORMAP_JET)[:, :, ::-1]
    overlay = cv2.addWeighted(image, 0.7, heat, 0.3, 0)

    OUT.write_text(json.dumps({
        "opencv_version": cv2.__version__,
        "jet_rgb": lut.astype(int).tolist(),
        "blend_a": a[0].astype(int).tolist(),
        "blend_b": b[0].astype(int).tolist(),
        "blend_0p7_0p3": blended[0].astype(int).tolist(),
        "overlay_image": image.astype(int).reshape(-1).tolist(),
        "overlay_map": smap.astype(int).reshape(-1).tolist(),
        "overlay_height": 6,
        "overlay_width": 5,
        "overlay_rgb": overlay.astype(int).reshape(-1).tolist(),
    }, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
