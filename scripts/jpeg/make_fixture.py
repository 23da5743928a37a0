#!/usr/bin/env python3
"""JPEG files and their libjpeg-turbo decode (through PIL), for salient-data's decoder tests.

Writes crates/salient-data/tests/fixtures/jpeg/: small JPEGs of odd sizes (37x23 and 64x48, so
edge blocks and partial MCUs are exercised) in every layout the datasets use, each with PIL's
decoded bytes, plus one 320x240 photo-like file checked by SHA-256 of its decoded bytes, and
manifest.toml describing them. crates/salient-data/tests/jpeg_libjpeg.rs checks that salient's
decoder gives these bytes exactly.

  baseline 4:2:0, 4:2:2, 4:4:4   colour files with each chroma subsampling
  optimized, restart             optimised Huffman tables; restart markers every 2 MCUs
  progressive                    4:2:0 and 4:4:4 colour, and grey
  grey                           one-channel files
  cmyk                           Adobe CMYK as PIL writes it (APP14 marker, inverted ink)
  stray_bytes                    a 4:2:0 file with 300 junk bytes before its end marker: libjpeg
                                 warns ("extraneous bytes before marker 0xd9") and decodes; PIL
                                 ignores the warning, OpenCV prints it, both use the pixels

Expected bytes per file (raw, row-major, interleaved):
  NAME.rgb   PIL `convert("RGB")` of the decoded image (grey replicated), except for CMYK files,
             where it is OpenCV's `cv2.imread` (BGR flipped to RGB): salient converts CMYK to RGB
             as the seed's cv2.imread does. For every non-CMYK file the script asserts that
             cv2.imread gives PIL's bytes too (same library, same settings).
  NAME.grey  PIL's bytes of grey files (mode "L").
  NAME.cmyk  the CMYK bytes as libjpeg stores them: 255 - PIL's mode-"CMYK" bytes (PIL inverts
             every CMYK JPEG, "assume adobe conventions", in JpegImagePlugin).

Pinned: pillow==13.0.0 (bundles libjpeg-turbo 3.2.0), opencv-python-headless==5.0.0.93 (bundles
libjpeg-turbo 3.1.2), numpy==2.4.6, Python 3.11. Rerun from the repository root:
    ~/.torch-ref/bin/python scripts/jpeg/make_fixture.py
"""
import hashlib
import io
import os

import cv2
import numpy as np
import PIL
import PIL.features
from PIL import Image

OUT = os.path.join("crates", "salient-data", "tests", "fixtures", "jpeg")


def colour_picture(w, h):
    """Gradients, a disc and a checkerboard: smooth areas and sharp colour edges for the chroma."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = ((y * 255 // max(h - 1, 1)) ^ (x * 3)).astype(np.uint8)
    b = np.where(((x // 5) + (y // 4)) % 2 == 0, 220, 40).astype(np.uint8)
    disc = (x - w * 0.6) ** 2 + (y - h * 0.4) ** 2 < (min(w, h) * 0.3) ** 2
    r = np.where(disc, 250, r)
    g = np.where(disc, 30, g)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def photo_like(w, h):
    """A larger smooth-plus-texture picture, closer to a dataset photo."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 17.0) * np.cos(y / 23.0)
    g = 128 + 90 * np.sin((x + y) / 31.0)
    b = 128 + 60 * np.cos(x / 7.0) + 40 * np.sin(y / 5.0)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def grey_picture(w, h):
    y, x = np.mgrid[0:h, 0:w]
    v = (x * 255 // max(w - 1, 1) + np.where((x // 3 + y // 3) % 2 == 0, 0, 60)) % 256
    return v.astype(np.uint8)


def cmyk_picture(w, h):
    """Ink amounts (0 = none), as PIL's mode "CMYK" holds them."""
    y, x = np.mgrid[0:h, 0:w]
    c = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    m = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    yel = np.where((x // 4 + y // 4) % 2 == 0, 200, 10).astype(np.uint8)
    k = ((x + y) * 4 % 256).astype(np.uint8)
    return np.stack([c, m, yel, k], axis=-1)


def encode(array, mode, **options):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def with_stray_bytes(jpeg):
    """300 junk bytes (no 0xFF) before the end-of-image marker."""
    assert jpeg[-2:] == b"\xff\xd9"
    junk = bytes((i * 7 + 1) % 255 for i in range(300))
    return jpeg[:-2] + junk + jpeg[-2:]


def cases():
    c = [
        ("baseline_420_37x23", encode(colour_picture(37, 23), "RGB", quality=90, subsampling="4:2:0"), "4:2:0"),
        ("baseline_422_37x23", encode(colour_picture(37, 23), "RGB", quality=90, subsampling="4:2:2"), "4:2:2"),
        ("baseline_444_37x23", encode(colour_picture(37, 23), "RGB", quality=90, subsampling="4:4:4"), "4:4:4"),
        ("baseline_420_64x48", encode(colour_picture(64, 48), "RGB", quality=75, subsampling="4:2:0"), "4:2:0"),
        ("optimized_420_37x23", encode(colour_picture(37, 23), "RGB", quality=85, optimize=True), "4:2:0"),
        ("restart_420_64x48", encode(colour_picture(64, 48), "RGB", quality=80, subsampling="4:2:0",
                                     restart_marker_blocks=2), "4:2:0"),
        ("progressive_420_64x48", encode(colour_picture(64, 48), "RGB", quality=80, subsampling="4:2:0",
                                         progressive=True), "4:2:0"),
        ("progressive_444_37x23", encode(colour_picture(37, 23), "RGB", quality=90, subsampling="4:4:4",
                                         progressive=True), "4:4:4"),
        ("grey_37x23", encode(grey_picture(37, 23), "L", quality=90), "grey"),
        ("grey_progressive_64x48", encode(grey_picture(64, 48), "L", quality=75, progressive=True), "grey"),
        ("cmyk_37x23", encode(cmyk_picture(37, 23), "CMYK", quality=90), "cmyk"),
        ("cmyk_progressive_64x48", encode(cmyk_picture(64, 48), "CMYK", quality=80, progressive=True), "cmyk"),
        ("photo_420_320x240", encode(photo_like(320, 240), "RGB", quality=85, subsampling="4:2:0"), "4:2:0"),
    ]
    c.append(("stray_bytes_420_37x23", with_stray_bytes(c[0][1]), "4:2:0"))
    return c


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = [
        "# Written by scripts/jpeg/make_fixture.py: JPEG files and libjpeg-turbo's decode of them (via PIL).",
        f'pillow = "{PIL.__version__}"',
        f'pillow_libjpeg_turbo = "{PIL.features.version("libjpeg_turbo")}"',
        f'opencv = "{cv2.__version__}"',
        f'numpy = "{np.__version__}"',
        "",
    ]
    total = 0
    for name, jpeg, kind in cases():
        path = os.path.join(OUT, name + ".jpg")
        with open(path, "wb") as f:
            f.write(jpeg)
        image = Image.open(io.BytesIO(jpeg))
        image.load()
        w, h = image.size
        stored = {"L": "grey", "RGB": "colour", "CMYK": "cmyk"}[image.mode]
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        cv2_rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        files = {}
        if stored == "cmyk":
            rgb = cv2_rgb
            pil_rgb = np.asarray(image.convert("RGB")).astype(int)
            files["cmyk"] = (255 - np.asarray(image)).astype(np.uint8)
            print(f"{name}: PIL convert('RGB') vs cv2.imread: max |diff| "
                  f"{np.abs(pil_rgb - rgb.astype(int)).max()} levels")
        else:
            rgb = np.asarray(image.convert("RGB"))
            assert np.array_equal(rgb, cv2_rgb), f"{name}: cv2.imread differs from PIL"
            if stored == "grey":
                files["grey"] = np.asarray(image)
        files["rgb"] = rgb
        entry = [
            "[[image]]",
            f'name = "{name}"',
            f"width = {w}",
            f"height = {h}",
            f'stored = "{stored}"',
            f'sampling = "{kind}"',
            f"progressive = {'true' if image.info.get('progressive') or image.info.get('progression') else 'false'}",
        ]
        for ext, array in files.items():
            raw = np.ascontiguousarray(array, dtype=np.uint8).tobytes()
            if w * h > 64 * 48:
                entry.append(f'{ext}_sha256 = "{hashlib.sha256(raw).hexdigest()}"')
            else:
                with open(os.path.join(OUT, f"{name}.{ext}"), "wb") as f:
                    f.write(raw)
                total += len(raw)
        total += len(jpeg)
        lines += entry + [""]
        print(f"{name}: {w}x{h} {stored} {kind}, {len(jpeg)} bytes")
    with open(os.path.join(OUT, "manifest.toml"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {OUT}: {total} bytes of JPEG and decoded pixels")


if __name__ == "__main__":
    main()
