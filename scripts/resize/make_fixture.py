"""Reference outputs of OpenCV's INTER_LINEAR resize and rotation (warpAffine) on small 8-bit images.

Writes crates/salient-data/tests/fixtures/opencv_linear.bin, read by crates/salient-data/tests/resize_opencv.rs.
Pinned: opencv-python-headless==5.0.0.93, numpy==2.4.6 (other 4.x/5.x versions give the same bytes
as far as we know; the test allows 1 grey level anyway).
Rerun from the repository root:  ~/.torch-ref/bin/python scripts/resize/make_fixture.py

Format (little endian): b"OCV1", u32 case count; per case: u8 kind (0 resize, 1 rotate),
u32 src_w, src_h, channels, dst_w, dst_h, f32 angle_degrees (rotate only, else 0),
src bytes (src_h*src_w*channels), dst bytes (dst_h*dst_w*channels).
Rotation (angles exact in f32, as stored): cv2.getRotationMatrix2D(((w-1)/2, (h-1)/2), angle, 1), cv2.warpAffine(..., INTER_LINEAR,
BORDER_REFLECT_101): what albumentations' Rotate does.
"""
import os
import struct

import cv2
import numpy as np

assert cv2.__version__.startswith(("4.", "5.")), cv2.__version__
rng = np.random.default_rng(7)


def source(w, h, cn):
    """Smooth gradients plus noise and a hard edge: exercises rounding everywhere."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(cn):
        smooth = 127 + 100 * np.sin(xx / (3 + c) + yy / (5 + 2 * c))
        edge = np.where(xx + 2 * yy > w, 60, -60)
        noise = rng.normal(0, 25, (h, w))
        chans.append(np.clip(smooth + edge + noise, 0, 255))
    img = np.stack(chans, -1).round().astype(np.uint8)
    return img if cn > 1 else img[..., 0]


cases = []
for (sw, sh, cn, dw, dh) in [
    (37, 23, 3, 16, 11),  # down, non-integer
    (37, 23, 3, 64, 40),  # up, non-integer
    (37, 23, 3, 20, 50),  # down in x, up in y
    (40, 30, 3, 20, 15),  # exactly half (OpenCV switches to INTER_AREA)
    (40, 30, 1, 13, 7),   # grey, strong downscale
    (64, 48, 3, 25, 25),  # 640x480 -> 256x256 ratios (2.56 x 1.92... scaled)
    (25, 19, 1, 71, 53),  # grey, strong upscale
]:
    src = source(sw, sh, cn)
    dst = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)
    cases.append((0, sw, sh, cn, dw, dh, 0.0, src, dst))

for (w, h, cn, angle) in [(32, 32, 3, 7.25), (31, 20, 3, -9.5), (24, 17, 1, 4.125)]:  # angles exact in f32
    src = source(w, h, cn)
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    dst = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    cases.append((1, w, h, cn, w, h, angle, src, dst))

out = os.path.join("crates", "salient-data", "tests", "fixtures", "opencv_linear.bin")
with open(out, "wb") as f:
    f.write(b"OCV1" + struct.pack("<I", len(cases)))
    for kind, sw, sh, cn, dw, dh, angle, src, dst in cases:
        f.write(struct.pack("<B5If", kind, sw, sh, cn, dw, dh, angle))
        f.write(np.ascontiguousarray(src).tobytes())
        f.write(np.ascontiguousarray(dst).tobytes())
print("wrote", out, os.path.getsize(out), "bytes")
