"""`.npy` files as numpy writes them, for crates/salient-eval/tests/npy.rs (the reader and the
writer of predicted maps).

Writes crates/salient-eval/tests/fixtures/npy/*.npy. Every readable case holds the same logical
2x3 map M = [[0, 1, 2], [3, 4, 5]] (scaled per dtype, see VALUES); the test checks the values
read in row-major order. `f32_c.npy` is also the byte-exact expectation for our writer.
Pinned: numpy==2.4.6. Rerun from the repository root:
    ~/.torch-ref/bin/python scripts/npy/make_fixtures.py
"""
import os

import numpy as np

OUT = os.path.join("crates", "salient-eval", "tests", "fixtures", "npy")
os.makedirs(OUT, exist_ok=True)
M = np.arange(6).reshape(2, 3)


def save(name, array):
    np.save(os.path.join(OUT, name), array)


# Readable: every dtype, byte order, memory order and singleton-axis layout we accept.
save("f32_c.npy", (M / 10).astype("<f4"))                       # 0.0 .. 0.5
save("f32_big_endian.npy", (M / 10).astype(">f4"))
save("f64_fortran.npy", np.asfortranarray((M / 10).astype("<f8")))
save("u8_1hw.npy", (M * 50).astype(np.uint8)[None])              # shape (1, 2, 3): 0 .. 250
save("u16_hw1.npy", (M * 10000).astype("<u2")[..., None])       # shape (2, 3, 1): 0 .. 50000
save("f32_11hw_fortran.npy", np.asfortranarray((M / 10).astype("<f4")[None, None]))
save("f32_row.npy", (np.arange(3) / 10).astype("<f4")[None])    # shape (1, 3): one row
save("f32_nan.npy", np.array([[0.0, np.nan, 1.0], [1.0, 1.0, 1.0]], dtype="<f4"))
# Refused, each for its own reason.
save("i64.npy", M.astype("<i8"))
save("rgb.npy", np.zeros((3, 2, 3), dtype="<f4"))
save("vector.npy", np.zeros(6, dtype="<f4"))
save("empty.npy", np.zeros((0, 3), dtype="<f4"))
save("object.npy", np.array([[None, 1]], dtype=object))
with open(os.path.join(OUT, "f32_c.npy"), "rb") as f:
    full = f.read()
with open(os.path.join(OUT, "truncated.npy"), "wb") as f:
    f.write(full[:-4])
for name in sorted(os.listdir(OUT)):
    print(name, os.path.getsize(os.path.join(OUT, name)))
