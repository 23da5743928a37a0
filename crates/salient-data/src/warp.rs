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
fn for_each_sample(
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
fn round_u8(v: f32) -> u8 {
    const MAGIC: f32 = 12_582_912.0;
    ((v + MAGIC) - MAGIC) as u8
}

#[inline(always)]
fn weights(fx: f32, fy: f32) -> [f32; 4] {
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

/// Warps an RGB8 image and its same-size `f32` map together (one coordinate computation per
/// pixel), with exactly the arithmetic of [`warp_u8`] and [`warp_f32`].
pub fn warp_rgb_and_map(
    (width, height): (usize, usize),
    rgb: &[u8],
    map: &[f32],
    inverse: &Affine,
    rgb_out: &mut [u8],
    map_out: &mut [f32],
) {
    assert!(rgb.len() == width * height * 3 && map.len() == width * height);
    assert!(rgb_out.len() == rgb.len() && map_out.len() == map.len());
    let m = inverse.map(|v| v as f32);
    let (w, h) = (width as i64, height as i64);
    let stride = width * 3;
    for y in 0..height {
        let (row_x, row_y) = (m[1] * y as f32 + m[2], m[4] * y as f32 + m[5]);
        let rgb_row = &mut rgb_out[y * stride..(y + 1) * stride];
        let map_row = &mut map_out[y * width..(y + 1) * width];
        for (x, (px, mv)) in rgb_row
            .chunks_exact_mut(3)
            .zip(map_row.iter_mut())
            .enumerate()
        {
            let sx = m[0] * x as f32 + row_x;
            let sy = m[3] * x as f32 + row_y;
            let (ix, iy) = (floor(sx), floor(sy));
            let k = weights(sx - ix as f32, sy - iy as f32);
            if ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h {
                let (ix, iy) = (ix as usize, iy as usize);
                let top = &rgb[iy * stride + ix * 3..][..6];
                let bottom = &rgb[(iy + 1) * stride + ix * 3..][..6];
                for c in 0..3 {
                    let v = k[0] * top[c] as f32
                        + k[1] * top[c + 3] as f32
                        + k[2] * bottom[c] as f32
                        + k[3] * bottom[c + 3] as f32;
                    px[c] = round_u8(v);
                }
                let mt = &map[iy * width + ix..][..2];
                let mb = &map[(iy + 1) * width + ix..][..2];
                *mv = k[0] * mt[0] + k[1] * mt[1] + k[2] * mb[0] + k[3] * mb[1];
            } else {
                let (x_a, x_b) = (reflect101(ix, w), reflect101(ix + 1, w));
                let (y_a, y_b) = (reflect101(iy, h), reflect101(iy + 1, h));
                let at = [(y_a, x_a), (y_a, x_b), (y_b, x_a), (y_b, x_b)]
                    .map(|(yy, xx)| yy * width + xx);
                for c in 0..3 {
                    let v = k[0] * rgb[at[0] * 3 + c] as f32
                        + k[1] * rgb[at[1] * 3 + c] as f32
                        + k[2] * rgb[at[2] * 3 + c] as f32
                        + k[3] * rgb[at[3] * 3 + c] as f32;
                    px[c] = round_u8(v);
                }
                *mv = k[0] * map[at[0]] + k[1] * map[at[1]] + k[2] * map[at[2]] + k[3] * map[at[3]];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_warp_equals_separate_warps() {
        let (w, h) = (23, 17);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect();
        let map: Vec<f32> = (0..w * h).map(|i| ((i * 13) % 29) as f32 / 29.0).collect();
        let inverse = invert(&rotation_about_centre(-8.5, w, h));
        let (mut rgb_a, mut map_a) = (vec![0u8; rgb.len()], vec![0f32; map.len()]);
        warp_u8(View::full(&rgb, w, h, 3), &mut rgb_a, w, h, &inverse);
        warp_f32(View::full(&map, w, h, 1), &mut map_a, w, h, &inverse);
        let (mut rgb_b, mut map_b) = (vec![0u8; rgb.len()], vec![0f32; map.len()]);
        warp_rgb_and_map((w, h), &rgb, &map, &inverse, &mut rgb_b, &mut map_b);
        assert_eq!(rgb_a, rgb_b);
        assert_eq!(map_a, map_b);
    }

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        assert_eq!(
            [-2, -1, 0, 4, 5, 6].map(|i| reflect101(i, 5)),
            [2, 1, 0, 4, 3, 2]
        );
        assert_eq!(reflect101(-3, 1), 0);
    }
}
