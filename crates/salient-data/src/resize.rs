//! Bilinear resizing that reproduces OpenCV's `INTER_LINEAR`.
//!
//! Geometry: pixel centres are aligned (`src = (dst + 0.5) * scale - 0.5`, clamped at the borders),
//! no antialiasing on downscale, exactly as `cv2.resize`. For 8-bit data OpenCV works in fixed
//! point: horizontal weights are rounded to 11 bits (`* 2048`), rows are kept as `i32`, and the
//! vertical pass is `((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16) + 2 >> 2`; this module does
//! the same, so results equal OpenCV's byte for byte (checked against a fixture made by
//! `scripts/resize/make_fixture.py`, see `tests/resize_opencv.rs`, where a plain float bilinear
//! matches only ~85-92 % of the bytes). `f32` data uses plain float weights, as OpenCV does for
//! floating-point images (bit-equal to OpenCV's own code; its IPP build differs by < 1e-5).

use crate::decode::{MapF32, RgbImage};

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// A borrowed window of an interleaved raster: row `y` starts at `data[y * stride]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    pub data: &'a [T],
    pub width: usize,
    pub height: usize,
    /// Elements (not pixels) from one row to the next.
    pub stride: usize,
    pub channels: usize,
}

impl<'a, T> View<'a, T> {
    /// A whole contiguous raster.
    pub fn full(data: &'a [T], width: usize, height: usize, channels: usize) -> Self {
        View {
            data,
            width,
            height,
            stride: width * channels,
            channels,
        }
    }

    /// The `width x height` window whose top-left pixel is `(x, y)`; must lie inside.
    pub fn window(&self, x: usize, y: usize, width: usize, height: usize) -> Self {
        assert!(
            x + width <= self.width && y + height <= self.height,
            "window outside the raster"
        );
        let start = y * self.stride + x * self.channels;
        View {
            data: &self.data[start..],
            width,
            height,
            stride: self.stride,
            channels: self.channels,
        }
    }

    fn row(&self, y: usize) -> &'a [T] {
        let start = y * self.stride;
        &self.data[start..start + self.width * self.channels]
    }
}

/// One output coordinate's two source taps and the fraction towards the second.
#[derive(Debug, Clone, Copy)]
struct Tap {
    first: usize,
    second: usize,
    fraction: f32,
}

/// OpenCV's source position of each of `dst` outputs from `src` inputs (`resize.cpp`, linear
/// case): `(d + 0.5) * scale - 0.5` in `f32`, split into its floor and fraction.
fn positions(src: usize, dst: usize) -> impl Iterator<Item = (isize, f32)> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst).map(move |d| {
        let position = ((d as f64 + 0.5) * scale - 0.5) as f32;
        let first = position.floor() as isize;
        (first, position - first as f32)
    })
}

/// OpenCV's row taps: unlike columns, rows keep their fraction beyond the borders and clamp only
/// the row indices, so the first and last output rows of an upscale blend a row with itself
/// (`resizeGeneric_Invoker`'s `clip(sy + k)`), which the fixed-point vertical pass does not round
/// to the row itself.
fn row_taps(src: usize, dst: usize) -> Vec<Tap> {
    let last = src as isize - 1;
    positions(src, dst)
        .map(|(first, fraction)| Tap {
            first: first.clamp(0, last) as usize,
            second: (first + 1).clamp(0, last) as usize,
            fraction,
        })
        .collect()
}

/// OpenCV's column taps: outside the borders the fraction becomes 0 on the edge column.
fn taps(src: usize, dst: usize) -> Vec<Tap> {
    positions(src, dst)
        .map(|(mut first, mut fraction)| {
            if first < 0 {
                first = 0;
                fraction = 0.0;
            }
            if first as usize >= src - 1 {
                first = src as isize - 1;
                fraction = 0.0;
            }
            let first = first as usize;
            Tap {
                first,
                second: (first + 1).min(src - 1),
                fraction,
            }
        })
        .collect()
}

fn fixed_weights(tap: &Tap) -> (i32, i32) {
    (
        ((1.0 - tap.fraction) * COEF_SCALE).round_ties_even() as i32,
        (tap.fraction * COEF_SCALE).round_ties_even() as i32,
    )
}

/// Resizes an 8-bit interleaved raster into `dst` (`dst_w * dst_h * channels`, contiguous).
pub fn resize_u8(src: View<u8>, dst: &mut [u8], dst_w: usize, dst_h: usize) {
    let cn = src.channels;
    assert_eq!(
        dst.len(),
        dst_w * dst_h * cn,
        "destination buffer has the wrong length"
    );
    if src.width == dst_w && src.height == dst_h {
        for y in 0..dst_h {
            dst[y * dst_w * cn..(y + 1) * dst_w * cn].copy_from_slice(src.row(y));
        }
        return;
    }
    let xtaps: Vec<(usize, usize, i32, i32)> = taps(src.width, dst_w)
        .iter()
        .map(|t| {
            let (a, b) = fixed_weights(t);
            (t.first * cn, t.second * cn, a, b)
        })
        .collect();
    let ytaps = row_taps(src.height, dst_h);
    let row_len = dst_w * cn;
    let mut rows = RowCache::new(row_len);
    let horizontal = |y: usize, out: &mut [i32]| hpass_u8(src.row(y), cn, &xtaps, out);
    for (y, tap) in ytaps.iter().enumerate() {
        let (b0, b1) = fixed_weights(tap);
        let (r0, r1) = rows.get(tap.first, tap.second, horizontal);
        let out = &mut dst[y * row_len..(y + 1) * row_len];
        vpass_u8(&r0[..row_len], &r1[..row_len], (b0, b1), out);
    }
}

/// OpenCV's SIMD vertical pass (`VResizeLinearVec_32s8u`): 16-bit high products of the
/// horizontal sums (shifted into 16 bits) and the row weights. Written on `i16` values so the
/// compiler turns it into packed high multiplies (`pmulhw`).
fn vpass_u8(r0: &[i32], r1: &[i32], (b0, b1): (i32, i32), out: &mut [u8]) {
    let (b0, b1) = (b0 as i16, b1 as i16);
    let high = |v: i32, w: i16| ((i32::from((v >> 4) as i16) * i32::from(w)) >> 16) as i16;
    #[cfg(target_arch = "x86_64")]
    let done = vpass_u8_sse2(r0, r1, (b0, b1), out);
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    let (r0, r1, out) = (&r0[done..], &r1[done..], &mut out[done..]);
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        let sum = i32::from(high(a, b0)) + i32::from(high(b, b1));
        *o = ((sum + 2) >> 2).clamp(0, 255) as u8;
    }
}

/// [`vpass_u8`] eight outputs at a time, as OpenCV's SSE2 code does it (`pmulhw`); returns how
/// many outputs it wrote (a multiple of 8), leaving the rest to the scalar loop.
#[cfg(target_arch = "x86_64")]
fn vpass_u8_sse2(r0: &[i32], r1: &[i32], (b0, b1): (i16, i16), out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let len = out.len().min(r0.len()).min(r1.len()) / 8 * 8;
    for ((o, a), b) in out[..len]
        .chunks_exact_mut(8)
        .zip(r0[..len].chunks_exact(8))
        .zip(r1[..len].chunks_exact(8))
    {
        // SAFETY: SSE2 is part of the x86-64 baseline; each load reads four `i32`s of an
        // 8-element chunk and the store writes the 8-byte output chunk.
        unsafe {
            let load = |v: &[i32]| {
                let lo = _mm_srai_epi32::<4>(_mm_loadu_si128(v.as_ptr().cast()));
                let hi = _mm_srai_epi32::<4>(_mm_loadu_si128(v.as_ptr().add(4).cast()));
                _mm_packs_epi32(lo, hi)
            };
            let top = _mm_mulhi_epi16(load(a), _mm_set1_epi16(b0));
            let bottom = _mm_mulhi_epi16(load(b), _mm_set1_epi16(b1));
            let sum = _mm_add_epi16(_mm_add_epi16(top, bottom), _mm_set1_epi16(2));
            let bytes = _mm_packus_epi16(_mm_srai_epi16::<2>(sum), _mm_setzero_si128());
            _mm_storel_epi64(o.as_mut_ptr().cast(), bytes);
        }
    }
    len
}

fn hpass_u8(row: &[u8], cn: usize, xtaps: &[(usize, usize, i32, i32)], out: &mut [i32]) {
    match cn {
        1 => hpass_u8_n::<1>(row, xtaps, out),
        #[cfg(target_arch = "x86_64")]
        3 if std::arch::is_x86_feature_detected!("ssse3") => {
            // SAFETY: the CPU has SSSE3 (checked just above).
            unsafe { hpass_rgb_ssse3(row, xtaps, out) }
        }
        3 => hpass_u8_n::<3>(row, xtaps, out),
        _ => {
            for (d, &(i0, i1, a, b)) in xtaps.iter().enumerate() {
                for c in 0..cn {
                    out[d * cn + c] = row[i0 + c] as i32 * a + row[i1 + c] as i32 * b;
                }
            }
        }
    }
}

fn hpass_u8_n<const CN: usize>(row: &[u8], xtaps: &[(usize, usize, i32, i32)], out: &mut [i32]) {
    for (o, &(i0, i1, a, b)) in out.chunks_exact_mut(CN).zip(xtaps) {
        let p0: &[u8; CN] = row[i0..i0 + CN].try_into().unwrap();
        let p1: &[u8; CN] = row[i1..i1 + CN].try_into().unwrap();
        for c in 0..CN {
            o[c] = p0[c] as i32 * a + p1[c] as i32 * b;
        }
    }
}

/// The RGB horizontal pass with one `pmaddwd` per output pixel: the two source pixels' bytes are
/// shuffled into `(first, second)` 16-bit pairs per channel and multiply-added with the pair of
/// weights, giving exactly the `i32` sums of [`hpass_u8_n`] (which the last pixels, too near the
/// row's end for an 8-byte load, still use).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
fn hpass_rgb_ssse3(row: &[u8], xtaps: &[(usize, usize, i32, i32)], out: &mut [i32]) {
    use std::arch::x86_64::*;
    // r0 r1 g0 g1 b0 b1 as 16-bit lanes (0x80: zero), then two zero lanes.
    let pairs = _mm_setr_epi8(
        0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128, -128, -128, -128,
    );
    for (d, &(i0, i1, a, b)) in xtaps.iter().enumerate() {
        let at = d * 3;
        if i1 == i0 + 3 && i0 + 8 <= row.len() {
            let source = &row[i0..i0 + 8];
            let weights = _mm_set1_epi32((a & 0xFFFF) | (b << 16));
            // SAFETY: the load reads the 8 bytes of `source`; the 4-lane store writes `out[at..
            // at + 4]` (its fourth lane is the next pixel's, rewritten by that pixel), and
            // otherwise the sums go through a local array.
            unsafe {
                let pixels = _mm_loadl_epi64(source.as_ptr().cast());
                let sums = _mm_madd_epi16(_mm_shuffle_epi8(pixels, pairs), weights);
                if at + 4 <= out.len() {
                    _mm_storeu_si128(out[at..at + 4].as_mut_ptr().cast(), sums);
                } else {
                    let mut lanes = [0i32; 4];
                    _mm_storeu_si128(lanes.as_mut_ptr().cast(), sums);
                    out[at..at + 3].copy_from_slice(&lanes[..3]);
                }
            }
        } else {
            hpass_u8_n::<3>(row, &[(i0, i1, a, b)], &mut out[at..at + 3]);
        }
    }
}

/// Resizes an `f32` interleaved raster into `dst` (`dst_w * dst_h * channels`, contiguous).
pub fn resize_f32(src: View<f32>, dst: &mut [f32], dst_w: usize, dst_h: usize) {
    resize_to_f32(src, dst, dst_w, dst_h, 1.0);
}

/// Resizes any raster whose samples widen to `f32` (e.g. 8-bit maps) straight into `f32`,
/// multiplying by `scale` on the way (`1 / 255` turns bytes into `[0, 1]`): no full-size float
/// copy of the source is ever made.
pub fn resize_to_f32<T: Copy + Into<f32>>(
    src: View<T>,
    dst: &mut [f32],
    dst_w: usize,
    dst_h: usize,
    scale: f32,
) {
    let cn = src.channels;
    assert_eq!(
        dst.len(),
        dst_w * dst_h * cn,
        "destination buffer has the wrong length"
    );
    if src.width == dst_w && src.height == dst_h {
        for y in 0..dst_h {
            for (o, &v) in dst[y * dst_w * cn..(y + 1) * dst_w * cn]
                .iter_mut()
                .zip(src.row(y))
            {
                *o = v.into() * scale;
            }
        }
        return;
    }
    let xtaps: Vec<(usize, usize, f32, f32)> = taps(src.width, dst_w)
        .iter()
        .map(|t| {
            (
                t.first * cn,
                t.second * cn,
                (1.0 - t.fraction) * scale,
                t.fraction * scale,
            )
        })
        .collect();
    let ytaps = row_taps(src.height, dst_h);
    let row_len = dst_w * cn;
    let mut rows = RowCache::new(row_len);
    let horizontal = |y: usize, out: &mut [f32]| {
        let row = src.row(y);
        if cn == 1 {
            for (o, &(i0, i1, a, b)) in out.iter_mut().zip(&xtaps) {
                *o = row[i0].into() * a + row[i1].into() * b;
            }
        } else {
            for (d, &(i0, i1, a, b)) in xtaps.iter().enumerate() {
                for c in 0..cn {
                    out[d * cn + c] = row[i0 + c].into() * a + row[i1 + c].into() * b;
                }
            }
        }
    };
    for (y, tap) in ytaps.iter().enumerate() {
        let (b0, b1) = (1.0 - tap.fraction, tap.fraction);
        let (r0, r1) = rows.get(tap.first, tap.second, horizontal);
        let out = &mut dst[y * row_len..(y + 1) * row_len];
        for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
            *o = a * b0 + b * b1;
        }
    }
}

/// The two most recent horizontally-resized source rows, so each is computed once.
struct RowCache<T> {
    ids: [usize; 2],
    rows: [Vec<T>; 2],
}

impl<T: Copy + Default> RowCache<T> {
    fn new(len: usize) -> Self {
        RowCache {
            ids: [usize::MAX; 2],
            rows: [vec![T::default(); len], vec![T::default(); len]],
        }
    }

    fn get(
        &mut self,
        first: usize,
        second: usize,
        mut compute: impl FnMut(usize, &mut [T]),
    ) -> (&[T], &[T]) {
        if self.ids[0] != first {
            if self.ids[1] == first {
                self.ids.swap(0, 1);
                self.rows.swap(0, 1);
            } else {
                compute(first, &mut self.rows[0]);
                self.ids[0] = first;
            }
        }
        if second == first {
            return (&self.rows[0], &self.rows[0]);
        }
        if self.ids[1] != second {
            compute(second, &mut self.rows[1]);
            self.ids[1] = second;
        }
        (&self.rows[0], &self.rows[1])
    }
}

/// Resizes an RGB image with OpenCV's `INTER_LINEAR` semantics.
pub fn resize_rgb8(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut out = vec![0u8; width as usize * height as usize * 3];
    resize_u8(
        View::full(image.as_raw(), w, h, 3),
        &mut out,
        width as usize,
        height as usize,
    );
    RgbImage::from_raw(width, height, out).expect("buffer sized for the image")
}

/// Resizes a single-channel float map (e.g. a prediction back to its image's size) bilinearly.
pub fn resize_map(map: &MapF32, width: usize, height: usize) -> MapF32 {
    let mut data = vec![0f32; width * height];
    resize_f32(
        View::full(&map.data, map.width, map.height, 1),
        &mut data,
        width,
        height,
    );
    MapF32 {
        width,
        height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIMD vertical pass must give the scalar arithmetic's bytes exactly.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_vertical_pass_equals_scalar_arithmetic() {
        let r0: Vec<i32> = (0..37).map(|i| (i * 14_111) % (255 * 2048 + 1)).collect();
        let r1: Vec<i32> = (0..37)
            .map(|i| (i * 9_973 + 500) % (255 * 2048 + 1))
            .collect();
        for (b0, b1) in [(2048, 0), (1024, 1024), (3, 2045), (1500, 548)] {
            let mut out = vec![0u8; 37];
            vpass_u8(&r0, &r1, (b0, b1), &mut out);
            let expected: Vec<u8> = r0
                .iter()
                .zip(&r1)
                .map(|(&a, &b)| {
                    (((((a >> 4) * b0) >> 16) + (((b >> 4) * b1) >> 16) + 2) >> 2) as u8
                })
                .collect();
            assert_eq!(out, expected, "weights {b0} {b1}");
        }
    }

    /// The SIMD horizontal pass must give the scalar pass's sums exactly, edges included.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ssse3_rgb_pass_equals_scalar_pass() {
        if !std::arch::is_x86_feature_detected!("ssse3") {
            return;
        }
        for (src_w, dst_w) in [(37, 16), (37, 64), (640, 256), (5, 3), (1, 4)] {
            let row: Vec<u8> = (0..src_w * 3)
                .map(|i| ((i * 97 + 13) % 256) as u8)
                .collect();
            let xtaps: Vec<(usize, usize, i32, i32)> = taps(src_w, dst_w)
                .iter()
                .map(|t| {
                    let (a, b) = fixed_weights(t);
                    (t.first * 3, t.second * 3, a, b)
                })
                .collect();
            let (mut simd, mut scalar) = (vec![0i32; dst_w * 3], vec![0i32; dst_w * 3]);
            // SAFETY: SSSE3 is present (checked above).
            unsafe { hpass_rgb_ssse3(&row, &xtaps, &mut simd) };
            hpass_u8_n::<3>(&row, &xtaps, &mut scalar);
            assert_eq!(simd, scalar, "{src_w} -> {dst_w}");
        }
    }
}
