"""Reference outputs of OpenCV's INTER_LINEAR resize and rotation (warpAffine), 8-bit and float32.

Writes crates/salient-data/tests/fixtures/opencv_linear.bin, read by crates/salient-data/tests/resize_opencv.rs.
Pinned: opencv-python-headless==5.0.0.93 (Intel IPP on, the wheel's default), numpy==2.4.6.
Rerun from the repository root:  ~/.torch-ref/bin/python scripts/resize/make_fixture.py

Inputs are not stored: every source image is `pattern(w, h, channels)` below (a sawtooth plus hashed
noise in uint32 arithmetic), which the Rust test recomputes; float32 sources are that pattern's first
channel divided by 255 in float32.

The resize cases separate OpenCV's 8-bit arithmetic from look-alikes: for every case marked
`separates` (all 8-bit resizes) this script computes a plain float64 bilinear (same geometry,
rounded to nearest) and asserts that it differs from OpenCV, printing its fraction of equal bytes
(85-92 %); the Rust test repeats that with its own look-alike. 8-bit resize in OpenCV is fixed point
(11-bit weights, then the SIMD vertical pass `VResizeLinearVec_32s8u`); rows above the first and
below the last source row keep their unclamped fraction and blend a row with itself. Neither IPP
nor the optimisation switch changes the 8-bit resize bytes (asserted below).
Rotation in OpenCV 5 is float arithmetic, so a float bilinear is no look-alike there (printed:
99.99-100 % equal): its SIMD build (the default, stored; AVX2 here) computes positions and the
bilinear blend with fused multiply-adds in blocks of 16 pixels and the rest of each row with
scalar code, so its bytes depend on the CPU's dispatch and differ from cv2.setUseOptimized(False)
by one level on a few pixels (printed).

Format (little endian): b"OCV2", u32 case count; per case: u8 op (0 resize, 1 rotate),
u8 dtype (0 uint8, 1 float32), u8 ipp (1: cv2 defaults; 0: cv2.ipp.setUseIPP(False)),
u8 separates (1: a float64 bilinear look-alike differs from OpenCV on this case; resize only),
u32 src_w, src_h, channels, dst_w, dst_h, f32 angle_degrees (rotate only, else 0),
then the output, dst_h*dst_w*channels values of the dtype.
Rotation (angles exact in f32, as stored): cv2.getRotationMatrix2D(((w-1)/2, (h-1)/2), angle, 1),
cv2.warpAffine(..., INTER_LINEAR, BORDER_REFLECT_101): what albumentations' Rotate does (limit 10°).
"""
import os
import struct

import cv2
import numpy as np

assert cv2.__version__.startswith(("4.", "5.")), cv2.__version__


def pattern(w, h, cn):
    """uint8 (h, w, cn): (3x + 2y + 40c) mod 192 plus 6 bits of a hash of (x, y, c)."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint32), np.arange(w, dtype=np.uint32),
                          np.arange(cn, dtype=np.uint32), indexing="ij")
    k = (x * np.uint32(73856093)) ^ (y * np.uint32(19349663)) ^ (c * np.uint32(83492791))
    k = (k ^ (k >> np.uint32(13))) * np.uint32(0x5BD1E995)
    k ^= k >> np.uint32(15)
    smooth = (np.uint32(3) * x + np.uint32(2) * y + np.uint32(40) * c) % np.uint32(192)
    return (smooth + (k & np.uint32(63))).astype(np.uint8)


def source(w, h, cn, dtype):
    img = pattern(w, h, cn)
    if dtype == "f32":
        return img[..., 0].astype(np.float32) / np.float32(255)
    return img if cn > 1 else img[..., 0]


def blend_f64(im, xa, xb, ya, yb, fx, fy):
    """Float64 bilinear of the (H, W, C) float image at the given corner indices and fractions."""
    top = im[ya, xa] * (1 - fx) + im[ya, xb] * fx
    bottom = im[yb, xa] * (1 - fx) + im[yb, xb] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def resize_lookalike(img, dw, dh):
    """Float64 bilinear with cv2.resize's geometry (centres aligned, clamped at the borders)."""
    h, w = img.shape[:2]
    im = img.astype(np.float64).reshape(h, w, -1)
    xs = np.clip((np.arange(dw) + 0.5) * (w / dw) - 0.5, 0, w - 1)[None, :]
    ys = np.clip((np.arange(dh) + 0.5) * (h / dh) - 0.5, 0, h - 1)[:, None]
    xs, ys = np.broadcast_to(xs, (dh, dw)), np.broadcast_to(ys, (dh, dw))
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    out = blend_f64(im, x0, np.minimum(x0 + 1, w - 1), y0, np.minimum(y0 + 1, h - 1),
                    (xs - x0)[..., None], (ys - y0)[..., None])
    return out.reshape(cv2_shape(img, dw, dh))


def rotate_lookalike(img, m):
    """Float64 bilinear through the inverted matrix, reflect-101 borders, rounded."""
    h, w = img.shape[:2]
    im = img.astype(np.float64).reshape(h, w, -1)
    inv = cv2.invertAffineTransform(m)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    xs = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
    ys = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)

    def reflect(i, n):
        if n == 1:
            return np.zeros_like(i)
        period = 2 * n - 2
        i = np.abs(i) % period
        return np.where(i >= n, period - i, i)

    out = blend_f64(im, reflect(x0, w), reflect(x0 + 1, w), reflect(y0, h), reflect(y0 + 1, h),
                    (xs - x0)[..., None], (ys - y0)[..., None])
    return out.reshape(img.shape)


def cv2_shape(img, dw, dh):
    return (dh, dw) + img.shape[2:]


def with_ipp(on, fn):
    cv2.ipp.setUseIPP(on)
    try:
        return fn()
    finally:
        cv2.ipp.setUseIPP(True)


def unoptimised(fn):
    cv2.setUseOptimized(False)
    cv2.ipp.setUseIPP(False)
    try:
        return fn()
    finally:
        cv2.setUseOptimized(True)
        cv2.ipp.setUseIPP(True)


def rotation(angle, w, h):
    return cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)


def warp(src, m):
    h, w = src.shape[:2]
    return cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


cases = []  # (op, dtype, ipp, separates, sw, sh, cn, dw, dh, angle, out)


def add_u8(op, sw, sh, cn, dw, dh, angle, separates):
    src = source(sw, sh, cn, "u8")
    if op == 0:
        run = lambda: cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)  # noqa: E731
        look = resize_lookalike(src, dw, dh)
        what = f"resize {sw}x{sh}x{cn} -> {dw}x{dh}"
    else:
        m = rotation(angle, sw, sh)
        run = lambda: warp(src, m)  # noqa: E731
        look = rotate_lookalike(src, m)
        what = f"rotate {angle}° {sw}x{sh}x{cn}"
    out = run()
    # The 8-bit bytes are OpenCV's own arithmetic: IPP and the optimisation switch leave them alone.
    assert np.array_equal(out, with_ipp(False, run)), what
    plain = unoptimised(run)
    if op == 0:
        assert np.array_equal(out, plain), what
    else:
        print(f"{what}: unoptimised OpenCV equal on {100 * float((plain == out).mean()):.2f}% of "
              f"bytes, max diff {np.abs(plain.astype(int) - out).max()}")
    equal = float((look == out).mean())
    print(f"{what}: float64 look-alike equal on {100 * equal:.2f}% of bytes, "
          f"max diff {np.abs(look.astype(int) - out).max()}")
    if separates:
        assert equal < 1.0, f"{what}: the look-alike is not separated"
    cases.append((op, 0, 1, int(separates), sw, sh, cn, dw, dh, angle, out))


def add_f32(op, sw, sh, dw, dh, angle):
    src = source(sw, sh, 1, "f32")
    if op == 0:
        run = lambda: cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)  # noqa: E731
        what = f"resize f32 {sw}x{sh} -> {dw}x{dh}"
    else:
        m = rotation(angle, sw, sh)
        run = lambda: warp(src, m)  # noqa: E731
        what = f"rotate f32 {angle}° {sw}x{sh}"
    ipp_on, ipp_off = run(), with_ipp(False, run)
    print(f"{what}: IPP on vs off: {100 * float((ipp_on == ipp_off).mean()):.2f}% bit-equal, "
          f"max abs diff {np.abs(ipp_on - ipp_off).max():.3g}")
    cases.append((op, 1, 1, 0, sw, sh, 1, dw, dh, angle, ipp_on))
    if not np.array_equal(ipp_on, ipp_off):  # stored once where IPP changes nothing
        cases.append((op, 1, 0, 0, sw, sh, 1, dw, dh, angle, ipp_off))


# 8-bit resize: (src_w, src_h, channels, dst_w, dst_h, separates)
for (sw, sh, cn, dw, dh, sep) in [
    (37, 23, 3, 16, 11, True),      # down, non-integer
    (37, 23, 3, 64, 40, True),      # up, non-integer (border rows blend a row with itself)
    (37, 23, 3, 20, 50, True),      # down in x, up in y
    (40, 30, 3, 20, 15, True),      # exactly half (OpenCV switches to INTER_AREA: same bytes)
    (40, 30, 1, 13, 7, True),       # grey, strong downscale
    (25, 19, 1, 71, 53, True),      # grey, strong upscale
    (640, 480, 3, 256, 256, True),  # the training resize
    (640, 480, 3, 96, 128, True),   # odd ratios 6.67 x 3.75
    (7, 5, 3, 13, 11, True),        # tiny, odd ratios up
    (1, 37, 3, 5, 50, True),        # 1 pixel wide
    (37, 1, 3, 50, 4, True),        # 1 pixel high
    (1, 29, 1, 1, 64, True),        # 1 pixel wide, grey, width kept
    (1000, 17, 3, 33, 4, True),     # large down-scale (30x, 4.25x)
    (1000, 17, 1, 33, 4, True),
]:
    add_u8(0, sw, sh, cn, dw, dh, 0.0, sep)

# 8-bit rotation at the seed's angles (uniform in [-10, 10], stored as f32), odd sizes.
angle_rng = np.random.default_rng(16)
for (w, h, cn) in [(32, 32, 3), (31, 20, 3), (24, 17, 1), (129, 97, 3), (97, 129, 1), (1, 9, 3),
                   (9, 1, 1), (2, 33, 3)]:
    angle = float(np.float32(angle_rng.uniform(-10, 10)))
    add_u8(1, w, h, cn, w, h, angle, False)
for (w, h, cn, angle) in [(32, 32, 3, 7.25), (31, 20, 3, -9.5), (24, 17, 1, 4.125)]:
    add_u8(1, w, h, cn, w, h, angle, False)

# float32 (maps): resize and rotation.
for (sw, sh, dw, dh) in [(37, 23, 64, 40), (7, 5, 13, 11), (640, 480, 40, 52), (1000, 17, 33, 4)]:
    add_f32(0, sw, sh, dw, dh, 0.0)
for (w, h) in [(33, 17), (65, 49)]:
    add_f32(1, w, h, w, h, float(np.float32(angle_rng.uniform(-10, 10))))

out = os.path.join("crates", "salient-data", "tests", "fixtures", "opencv_linear.bin")
with open(out, "wb") as f:
    f.write(b"OCV2" + struct.pack("<I", len(cases)))
    for op, dtype, ipp, sep, sw, sh, cn, dw, dh, angle, dst in cases:
        f.write(struct.pack("<4B5If", op, dtype, ipp, sep, sw, sh, cn, dw, dh, angle))
        f.write(np.ascontiguousarray(dst).astype("<f4" if dtype else np.uint8).tobytes())
print("wrote", out, os.path.getsize(out), "bytes")
