//! Heatmap overlays as the seed draws them: the map as 8 bits, OpenCV's `COLORMAP_JET`, blended
//! `0.7 · image + 0.3 · heatmap` like `cv2.addWeighted`, and the `[image | GT | prediction]` triptych.
//!
//! Each map is min-max normalised before it is coloured ([`display_u8`]); the colouring of the
//! normalised map is exactly the seed's.
//!
//! Exactness is checked against OpenCV itself (fixture from `scripts/colormap/make_fixture.py`).
//! One deliberate difference from the seed: the seed blends OpenCV's BGR heatmap onto an RGB image,
//! which paints salient regions blue; here the heatmap is converted to RGB first (salient = red).

use std::sync::OnceLock;

use image::{GrayImage, RgbImage};

/// OpenCV's JET as 256 RGB entries.
///
/// OpenCV interpolates its JET control points (R: 0 until 3/8, up to 1 at 5/8, 1 until 7/8, down to
/// 0.5 at 1; G: 0 until 1/8, up at 3/8, 1 until 5/8, down to 0 at 7/8; B: 0.5 at 0, up to 1 at 1/8,
/// 1 until 3/8, down to 0 at 5/8) at `i/255` into a float table and converts it with `× 255` and
/// round-half-to-even. Done here in the same order (f64 interpolation, f32 table, f32 scaling), this
/// reproduces all 768 bytes but one: OpenCV's blue at 159 is an exact half (1.5) that its float
/// table holds a hair below, so it rounds to 1; that entry is set explicitly.
pub fn jet_lut() -> &'static [[u8; 3]; 256] {
    static LUT: OnceLock<[[u8; 3]; 256]> = OnceLock::new();
    LUT.get_or_init(|| {
        let ramp = |x: f64, centre: f64| (1.5 - (4.0 * x - centre).abs()).clamp(0.0, 1.0);
        let mut lut = [[0u8; 3]; 256];
        for (i, entry) in lut.iter_mut().enumerate() {
            let x = i as f64 / 255.0;
            for (c, centre) in [3.0, 2.0, 1.0].into_iter().enumerate() {
                let scaled = (ramp(x, centre) as f32) * 255.0f32;
                entry[c] = scaled.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
        lut[159][2] = 1;
        lut
    })
}

/// A map in `[0,1]` to 8 bits as the seed does (`(map * 255).astype(np.uint8)`: truncation);
/// values outside `[0,1]` saturate and NaN becomes 0.
pub fn map_to_u8(map: &[f32]) -> Vec<u8> {
    map.iter()
        .map(|&v| {
            if v.is_nan() {
                0
            } else {
                (v * 255.0).clamp(0.0, 255.0) as u8
            }
        })
        .collect()
}

/// A map min-max normalised to `[0, 1]` over its finite values, for display: overlays and
/// triptychs show every map this way, so that a map whose values sit in a narrow band (the seed
/// head's sigmoid never goes far below 0.5; a density is ~1e-5 everywhere) still shows its
/// structure. Non-finite values and constant maps give 0.
pub fn min_max_normalised(map: &[f32]) -> Vec<f32> {
    let (lo, hi) = map
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = hi - lo;
    map.iter()
        .map(|&v| {
            if v.is_finite() && range > 0.0 && range.is_finite() {
                (v - lo) / range
            } else {
                0.0
            }
        })
        .collect()
}

/// [`min_max_normalised`], then 8 bits as [`map_to_u8`]: what an overlay shows of a map.
pub fn display_u8(map: &[f32]) -> Vec<u8> {
    map_to_u8(&min_max_normalised(map))
}

/// `cv2.addWeighted(a, 0.7, b, 0.3, 0)` for one 8-bit value: `fma(a, 0.7, b·0.3)` in f32, rounded
/// half to even and saturated, as OpenCV's vectorised path computes it.
pub fn blend(a: u8, b: u8) -> u8 {
    let v = f32::from(a).mul_add(0.7f32, f32::from(b) * 0.3f32 + 0.0f32);
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// The JET heatmap of an 8-bit map, as RGB.
pub fn heatmap(map: &GrayImage) -> RgbImage {
    let lut = jet_lut();
    RgbImage::from_fn(map.width(), map.height(), |x, y| {
        image::Rgb(lut[map.get_pixel(x, y)[0] as usize])
    })
}

/// `0.7 · image + 0.3 · JET(map)`; `map` must have the image's size.
pub fn overlay(image: &RgbImage, map: &GrayImage) -> RgbImage {
    assert_eq!(
        image.dimensions(),
        map.dimensions(),
        "overlay: map size differs from image"
    );
    let heat = heatmap(map);
    let mut out = RgbImage::new(image.width(), image.height());
    for ((o, i), h) in out.pixels_mut().zip(image.pixels()).zip(heat.pixels()) {
        for c in 0..3 {
            o[c] = blend(i[c], h[c]);
        }
    }
    out
}

/// Images of one height side by side (the seed's `[image | GT overlay | prediction overlay]`).
pub fn side_by_side(panels: &[&RgbImage]) -> RgbImage {
    let height = panels.iter().map(|p| p.height()).max().unwrap_or(0);
    let width = panels.iter().map(|p| p.width()).sum();
    let mut out = RgbImage::new(width, height);
    let mut x0 = 0;
    for panel in panels {
        image::imageops::replace(&mut out, *panel, i64::from(x0), 0);
        x0 += panel.width();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_stretches_each_map_to_the_full_range() {
        assert_eq!(display_u8(&[0.46, 0.48, 0.50]), vec![0, 127, 255]);
        assert_eq!(display_u8(&[1e-5, 3e-5]), vec![0, 255]);
        assert_eq!(display_u8(&[0.3, 0.3]), vec![0, 0]);
        assert_eq!(
            display_u8(&[f32::NEG_INFINITY, -2.0, 0.0, f32::NAN]),
            vec![0, 0, 255, 0]
        );
    }
}
