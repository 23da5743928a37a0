"""A tiny CMYK JPEG (Adobe marker, as Photoshop/PIL write them) for the decoder test.

Writes crates/salient-data/tests/fixtures/cmyk.jpg: 16x8, left half pure red ink-wise
(C=0 M=255 Y=255 K=0), right half pure blue (C=255 M=255 Y=0 K=0). The image crate cannot write CMYK.
Pinned: pillow==13.0.0. Rerun from the repository root:
    ~/.torch-ref/bin/python scripts/resize/make_cmyk_fixture.py
"""
import os

from PIL import Image

img = Image.new("CMYK", (16, 8))
for y in range(8):
    for x in range(16):
        img.putpixel((x, y), (0, 255, 255, 0) if x < 8 else (255, 255, 0, 0))
out = os.path.join("crates", "salient-data", "tests", "fixtures", "cmyk.jpg")
img.save(out, quality=95)
back = Image.open(out).convert("RGB")
print("wrote", out, os.path.getsize(out), "bytes; PIL reads back", back.getpixel((3, 4)), back.getpixel((12, 4)))
