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
    ((v + ROUND_MAGIC) - ROUND_MAGIC) as u8
}

/// 1.5 * 2^23: see [`round_u8`].
const ROUND_MAGIC: f32 = 12_582_912.0;

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

thread_local! {
    /// Each thread's `[r, g, b, map]` copy of the warp source, reused from sample to sample.
    static RGBM: std::cell::RefCell<Vec<[f32; 4]>> = std::cell::RefCell::default();
}

/// Warps an RGB8 image and its same-size `f32` map together (one coordinate computation per
/// pixel), with exactly the arithmetic of [`warp_u8`] and [`warp_f32`].
///
/// Speed: the source is first laid out as `[r, g, b, map]` floats per pixel (bytes widen to `f32`
/// exactly), so a pixel's bilinear blend is four 4-lane multiply-adds (SSE2 on x86-64), and
/// positions and weights are computed four pixels at a time; the products and sums are the same,
/// in the same order, as the per-channel form (checked by a unit test).
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
    RGBM.with(|cell| {
        let mut src = cell.borrow_mut();
        src.clear();
        src.extend(
            rgb.chunks_exact(3)
                .zip(map)
                .map(|(p, &m)| [f32::from(p[0]), f32::from(p[1]), f32::from(p[2]), m]),
        );
        warp_rgbm((width, height), &src, inverse, rgb_out, map_out);
    });
}

fn warp_rgbm(
    (width, height): (usize, usize),
    src: &[[f32; 4]],
    inverse: &Affine,
    rgb_out: &mut [u8],
    map_out: &mut [f32],
) {
    let m = inverse.map(|v| v as f32);
    let (w, h) = (width as i64, height as i64);
    let mut row = RowSamples::new(width);
    for (y, (rgb_row, map_row)) in rgb_out
        .chunks_exact_mut(width * 3)
        .zip(map_out.chunks_exact_mut(width))
        .enumerate()
    {
        row.compute(&m, y);
        for (x, (px, mv)) in rgb_row
            .chunks_exact_mut(3)
            .zip(map_row.iter_mut())
            .enumerate()
        {
            let (ix, iy) = (i64::from(row.ix[x]), i64::from(row.iy[x]));
            let k = [row.k[0][x], row.k[1][x], row.k[2][x], row.k[3][x]];
            let corners = if ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h {
                let at = iy as usize * width + ix as usize;
                let (top, bottom) = (&src[at..at + 2], &src[at + width..at + width + 2]);
                [top[0], top[1], bottom[0], bottom[1]]
            } else {
                let (x_a, x_b) = (reflect101(ix, w), reflect101(ix + 1, w));
                let (y_a, y_b) = (reflect101(iy, h), reflect101(iy + 1, h));
                [(y_a, x_a), (y_a, x_b), (y_b, x_a), (y_b, x_b)]
                    .map(|(yy, xx)| src[yy * width + xx])
            };
            let (bytes, value) = blend_round(&k, &corners);
            px.copy_from_slice(&bytes);
            *mv = value;
        }
    }
}

/// One output row's source positions: the top-left source pixel and the four bilinear weights
/// of every output pixel, computed as [`for_each_sample`] does (same `f32` operations in the same
/// order), four pixels at a time where SSE2 is there.
struct RowSamples {
    ix: Vec<i32>,
    iy: Vec<i32>,
    k: [Vec<f32>; 4],
}

impl RowSamples {
    fn new(width: usize) -> Self {
        RowSamples {
            ix: vec![0; width],
            iy: vec![0; width],
            k: std::array::from_fn(|_| vec![0.0; width]),
        }
    }

    fn compute(&mut self, m: &[f32; 6], y: usize) {
        let (row_x, row_y) = (m[1] * y as f32 + m[2], m[4] * y as f32 + m[5]);
        let width = self.ix.len();
        let mut x = 0;
        #[cfg(target_arch = "x86_64")]
        while x + 4 <= width {
            self.compute_four(m, (row_x, row_y), x);
            x += 4;
        }
        for x in x..width {
            let sx = m[0] * x as f32 + row_x;
            let sy = m[3] * x as f32 + row_y;
            let (ix, iy) = (floor(sx), floor(sy));
            let k = weights(sx - ix as f32, sy - iy as f32);
            (self.ix[x], self.iy[x]) = (ix as i32, iy as i32);
            for (plane, weight) in self.k.iter_mut().zip(k) {
                plane[x] = weight;
            }
        }
    }

    /// Pixels `x..x + 4`: `floor` is truncation corrected by one where it rounded up, exact for
    /// the positions of any image of fewer than 2^24 pixels a side.
    #[cfg(target_arch = "x86_64")]
    fn compute_four(&mut self, m: &[f32; 6], (row_x, row_y): (f32, f32), x: usize) {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; the stores write whole local arrays.
        unsafe {
            let lanes = |v: __m128| {
                let mut out = [0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), v);
                out
            };
            let int_lanes = |v: __m128i| {
                let mut out = [0i32; 4];
                _mm_storeu_si128(out.as_mut_ptr().cast(), v);
                out
            };
            let xs = _mm_cvtepi32_ps(_mm_setr_epi32(
                x as i32,
                x as i32 + 1,
                x as i32 + 2,
                x as i32 + 3,
            ));
            let floor = |v: __m128| {
                let t = _mm_cvttps_epi32(v);
                let above = _mm_castps_si128(_mm_cmplt_ps(v, _mm_cvtepi32_ps(t)));
                _mm_add_epi32(t, above)
            };
            let sx = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(m[0]), xs), _mm_set1_ps(row_x));
            let sy = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(m[3]), xs), _mm_set1_ps(row_y));
            let (ix, iy) = (floor(sx), floor(sy));
            let fx = _mm_sub_ps(sx, _mm_cvtepi32_ps(ix));
            let fy = _mm_sub_ps(sy, _mm_cvtepi32_ps(iy));
            let one = _mm_set1_ps(1.0);
            let (gx, gy) = (_mm_sub_ps(one, fx), _mm_sub_ps(one, fy));
            let k = [
                _mm_mul_ps(gy, gx),
                _mm_mul_ps(gy, fx),
                _mm_mul_ps(fy, gx),
                _mm_mul_ps(fy, fx),
            ];
            self.ix[x..x + 4].copy_from_slice(&int_lanes(ix));
            self.iy[x..x + 4].copy_from_slice(&int_lanes(iy));
            for (plane, weight) in self.k.iter_mut().zip(k) {
                plane[x..x + 4].copy_from_slice(&lanes(weight));
            }
        }
    }
}

/// `k[0] c[0] + k[1] c[1] + k[2] c[2] + k[3] c[3]` lane by lane, summed left to right; the first
/// three lanes (colour) rounded to bytes as [`round_u8`] does, the fourth (map) as it is.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn blend_round(k: &[f32; 4], c: &[[f32; 4]; 4]) -> ([u8; 3], f32) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline, and every load reads a whole `[f32; 4]`.
    unsafe {
        let term = |i: usize| _mm_mul_ps(_mm_set1_ps(k[i]), _mm_loadu_ps(c[i].as_ptr()));
        let v = _mm_add_ps(_mm_add_ps(_mm_add_ps(term(0), term(1)), term(2)), term(3));
        let magic = _mm_set1_ps(ROUND_MAGIC);
        let rounded = _mm_cvttps_epi32(_mm_sub_ps(_mm_add_ps(v, magic), magic));
        // Saturating packs: 32 -> 16 -> 8 bits, i.e. `clamp(0, 255)`.
        let packed = _mm_packus_epi16(_mm_packs_epi32(rounded, rounded), rounded);
        let bytes = _mm_cvtsi128_si32(packed).to_le_bytes();
        let map = _mm_cvtss_f32(_mm_shuffle_ps(v, v, 0b11_11_11_11));
        ([bytes[0], bytes[1], bytes[2]], map)
    }
}

/// Portable form of the x86-64 [`blend_round`].
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn blend_round(k: &[f32; 4], c: &[[f32; 4]; 4]) -> ([u8; 3], f32) {
    let v: [f32; 4] =
        std::array::from_fn(|l| k[0] * c[0][l] + k[1] * c[1][l] + k[2] * c[2][l] + k[3] * c[3][l]);
    ([round_u8(v[0]), round_u8(v[1]), round_u8(v[2])], v[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_warp_equals_separate_warps() {
        for ((w, h), angle) in [
            ((23, 17), -8.5),
            ((32, 32), 3.25),
            ((7, 5), 45.0),
            ((1, 9), 10.0),
        ] {
            let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect();
            let map: Vec<f32> = (0..w * h).map(|i| ((i * 13) % 29) as f32 / 29.0).collect();
            let inverse = invert(&rotation_about_centre(angle, w, h));
            let (mut rgb_a, mut map_a) = (vec![0u8; rgb.len()], vec![0f32; map.len()]);
            warp_u8(View::full(&rgb, w, h, 3), &mut rgb_a, w, h, &inverse);
            warp_f32(View::full(&map, w, h, 1), &mut map_a, w, h, &inverse);
            let (mut rgb_b, mut map_b) = (vec![0u8; rgb.len()], vec![0f32; map.len()]);
            warp_rgb_and_map((w, h), &rgb, &map, &inverse, &mut rgb_b, &mut map_b);
            assert_eq!(rgb_a, rgb_b, "{w}x{h} at {angle}°");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&map_a), bits(&map_b), "{w}x{h} at {angle}°");
        }
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
