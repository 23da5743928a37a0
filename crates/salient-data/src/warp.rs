//! Affine warps (rotation about the centre) with OpenCV's `warpAffine` geometry and arithmetic:
//! bilinear sampling at `f32` source positions with `f32` weights, rounded to nearest for 8-bit
//! data (OpenCV 4.11+/5.x; older releases quantised positions to 1/32 pixel, which moves results
//! by a level or two), and reflect-101 borders (`BORDER_REFLECT_101`, the mode albumentations'
//! `Rotate` used in the seed).

use crate::resize::View;

/// A 2x3 affine map `(x, y) -> (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5])` in pixel-centre
/// coordinates (pixel `i` is centred at `i`).
pub type Affine = [f64; 6];

/// `cv2.getRotationMatrix2D(((w-1)/2, (h-1)/2), angle, 1)`: positive angles turn the picture
/// counter-clockwise on screen. Maps source to destination.
pub fn rotation_about_centre(angle_degrees: f64, width: usize, height: usize) -> Affine {
    let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
    let (sin, cos) = angle_degrees.to_radians().sin_cos();
    [
        cos,
        sin,
        (1.0 - cos) * cx - sin * cy,
        -sin,
        cos,
        sin * cx + (1.0 - cos) * cy,
    ]
}

/// `cv2.invertAffineTransform`: the destination-to-source map a warp samples with.
pub fn invert(m: &Affine) -> Affine {
    let det = m[0] * m[4] - m[1] * m[3];
    let d = if det != 0.0 { 1.0 / det } else { 0.0 };
    let (a11, a22, a12, a21) = (m[4] * d, m[0] * d, -m[1] * d, -m[3] * d);
    [
        a11,
        a12,
        -a11 * m[2] - a12 * m[5],
        a21,
        a22,
        -a21 * m[2] - a22 * m[5],
    ]
}

/// Applies `m` to a point (for carrying fixations through the same geometry).
pub fn apply(m: &Affine, x: f64, y: f64) -> (f64, f64) {
    (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
}

/// `BORDER_REFLECT_101`: `-1 -> 1`, `n -> n - 2` (edge pixel not repeated).
fn reflect101(mut i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * n - 2 - i };
    }
    i as usize
}

/// For each output pixel: the four source offsets (in elements) and the fractions towards the
/// second column and row. Calls `emit(dst_index, offsets, fx, fy)`.
pub(crate) fn for_each_sample(
    (width, height, stride, channels): (usize, usize, usize, usize),
    dst_w: usize,
    dst_h: usize,
    inverse: &Affine,
    mut emit: impl FnMut(usize, [usize; 4], f32, f32),
) {
    let m = inverse.map(|v| v as f32);
    let (w, h) = (width as i64, height as i64);
    for y in 0..dst_h {
        let (row_x, row_y) = (m[1] * y as f32 + m[2], m[4] * y as f32 + m[5]);
        for x in 0..dst_w {
            let sx = m[0] * x as f32 + row_x;
            let sy = m[3] * x as f32 + row_y;
            let (ix, iy) = (floor(sx), floor(sy));
            let (fx, fy) = (sx - ix as f32, sy - iy as f32);
            let offsets = if ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h {
                let base = iy as usize * stride + ix as usize * channels;
                [
                    base,
                    base + channels,
                    base + stride,
                    base + stride + channels,
                ]
            } else {
                let (x_a, x_b) = (reflect101(ix, w), reflect101(ix + 1, w));
                let (y_a, y_b) = (reflect101(iy, h), reflect101(iy + 1, h));
                [
                    y_a * stride + x_a * channels,
                    y_a * stride + x_b * channels,
                    y_b * stride + x_a * channels,
                    y_b * stride + x_b * channels,
                ]
            };
            emit(y * dst_w + x, offsets, fx, fy);
        }
    }
}

/// `v.floor() as i64` without a libm call (the baseline x86-64 target has no `roundps`).
#[inline(always)]
fn floor(v: f32) -> i64 {
    let t = v as i64;
    t - i64::from(v < t as f32)
}

/// Round half to even, as `cvRound`/`saturate_cast` do, for `0 <= v < 2^22`: adding and removing
/// 1.5 * 2^23 leaves the FPU's round-to-nearest-even result (no libm call).
#[inline(always)]
pub(crate) fn round_u8(v: f32) -> u8 {
    const MAGIC: f32 = 12_582_912.0;
    ((v + MAGIC) - MAGIC) as u8
}

#[inline(always)]
pub(crate) fn weights(fx: f32, fy: f32) -> [f32; 4] {
    [
        (1.0 - fy) * (1.0 - fx),
        (1.0 - fy) * fx,
        fy * (1.0 - fx),
        fy * fx,
    ]
}

/// Warps 8-bit interleaved data: `dst(x, y) = src(inverse(x, y))`, bilinear, reflect-101.
pub fn warp_u8(src: View<u8>, dst: &mut [u8], dst_w: usize, dst_h: usize, inverse: &Affine) {
    let cn = src.channels;
    assert_eq!(
        dst.len(),
        dst_w * dst_h * cn,
        "destination buffer has the wrong length"
    );
    let data = src.data;
    let shape = (src.width, src.height, src.stride, cn);
    for_each_sample(shape, dst_w, dst_h, inverse, |i, o, fx, fy| {
        let w = weights(fx, fy);
        for c in 0..cn {
            let v = w[0] * data[o[0] + c] as f32
                + w[1] * data[o[1] + c] as f32
                + w[2] * data[o[2] + c] as f32
                + w[3] * data[o[3] + c] as f32;
            dst[i * cn + c] = round_u8(v);
        }
    });
}

/// Warps `f32` interleaved data with the same sample positions and weights.
pub fn warp_f32(src: View<f32>, dst: &mut [f32], dst_w: usize, dst_h: usize, inverse: &Affine) {
    let cn = src.channels;
    assert_eq!(
        dst.len(),
        dst_w * dst_h * cn,
        "destination buffer has the wrong length"
    );
    let data = src.data;
    let shape = (src.width, src.height, src.stride, cn);
    for_each_sample(shape, dst_w, dst_h, inverse, |i, o, fx, fy| {
        let w = weights(fx, fy);
        for c in 0..cn {
            dst[i * cn + c] = w[0] * data[o[0] + c]
                + w[1] * data[o[1] + c]
                + w[2] * data[o[2] + c]
                + w[3] * data[o[3] + c];
        }
    });
}
