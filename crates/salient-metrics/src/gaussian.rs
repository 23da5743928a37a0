//! `scipy.ndimage.gaussian_filter` with its defaults (`mode='reflect'`, `truncate=4.0`): the blur
//! of pysaliency's centre-bias model. Written here rather than taken from an image crate because
//! it is part of the baseline's definition: the kernel radius, its normalisation and the border
//! rule have to be scipy's exactly for the baseline (and so IG) to equal pysaliency's, and no
//! crate promises that.

use crate::error::MetricError;

/// scipy's default `truncate`: the kernel reaches `int(4σ + 0.5)` pixels either side.
pub const GAUSSIAN_TRUNCATE: f64 = 4.0;

/// scipy skips an axis whose σ is at most this (`gaussian_filter`: `if sigmas[ii] > 1e-15`).
const SKIP_SIGMA: f64 = 1e-15;

/// scipy's `_gaussian_kernel1d(sigma, 0, radius)` with `radius = int(truncate·σ + 0.5)`:
/// `exp(-0.5/σ² · x²)` for `x = -radius..=radius`, divided by its sum. Returns the half kernel
/// `w[d]`, `d = 0..=radius` (the kernel is symmetric bit for bit: `x²` is the same for `±x`).
fn half_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    let radius = (truncate * sigma + 0.5) as usize;
    let scale = -0.5 / (sigma * sigma);
    let half: Vec<f64> = (0..=radius)
        .map(|d| (scale * (d * d) as f64).exp())
        .collect();
    let sum = half[0] + 2.0 * half[1..].iter().sum::<f64>();
    half.iter().map(|w| w / sum).collect()
}

/// scipy.ndimage's `reflect` border (`d c b a | a b c d | d c b a`, the edge sample repeated),
/// extended periodically (period `2n`) when the kernel is longer than the line, as scipy's
/// `NI_ExtendLine` does.
fn reflect(i: isize, n: usize) -> usize {
    let period = 2 * n as isize;
    let m = i.rem_euclid(period) as usize;
    if m < n {
        m
    } else {
        2 * n - 1 - m
    }
}

/// One output sample the way scipy's `NI_Correlate1D` computes it for a symmetric kernel:
/// `in[0]·w[0]`, then `(in[-d] + in[d])·w[d]` added from the outermost `d` inwards.
/// `line(d)` reads the input `d` samples away (negative: before).
#[inline]
fn correlate_symmetric(w: &[f64], line: impl Fn(isize) -> f64) -> f64 {
    let mut acc = line(0) * w[0];
    for d in (1..w.len()).rev() {
        acc += (line(-(d as isize)) + line(d as isize)) * w[d];
    }
    acc
}

/// Blurs along axis 0 (down the columns), row by row so that the inner loop runs along memory.
fn filter_columns(src: &[f64], width: usize, height: usize, w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; width * height];
    let row = |y: isize| &src[reflect(y, height) * width..][..width];
    for y in 0..height {
        let dst = &mut out[y * width..(y + 1) * width];
        let centre = row(y as isize);
        for (o, &c) in dst.iter_mut().zip(centre) {
            *o = c * w[0];
        }
        for d in (1..w.len()).rev() {
            let (above, below) = (row(y as isize - d as isize), row(y as isize + d as isize));
            for ((o, &a), &b) in dst.iter_mut().zip(above).zip(below) {
                *o += (a + b) * w[d];
            }
        }
    }
    out
}

/// Blurs along axis 1 (along the rows), through a reflect-extended copy of each row.
fn filter_rows(src: &[f64], width: usize, height: usize, w: &[f64]) -> Vec<f64> {
    let radius = w.len() - 1;
    let mut out = vec![0.0; width * height];
    let mut extended = vec![0.0; width + 2 * radius];
    for y in 0..height {
        let line = &src[y * width..(y + 1) * width];
        for (k, e) in extended.iter_mut().enumerate() {
            *e = line[reflect(k as isize - radius as isize, width)];
        }
        for (x, o) in out[y * width..(y + 1) * width].iter_mut().enumerate() {
            let centre = (x + radius) as isize;
            *o = correlate_symmetric(w, |d| extended[(centre + d) as usize]);
        }
    }
    out
}

/// `scipy.ndimage.gaussian_filter(values, [sigma_y, sigma_x])` with scipy's defaults: a separable
/// Gaussian, truncated at `int(4σ + 0.5)` pixels and normalised to sum 1 per axis, `reflect`
/// border (the edge sample repeated, `d c b a | a b c d`), axis 0 (y) first, then axis 1 (x); an
/// axis with `σ ≤ 1e-15` is left alone. `values` is a row-major `height × width` grid; the result
/// has the same shape. With this border the blur keeps the total mass.
///
/// Equal to scipy 1.17 to rounding (~1e-16 relative; the per-sample summation order is scipy's).
/// Fails with [`MetricError::Shape`] if `values` does not hold `width · height > 0` values.
pub fn gaussian_filter(
    values: &[f64],
    width: usize,
    height: usize,
    sigma_y: f64,
    sigma_x: f64,
) -> Result<Vec<f64>, MetricError> {
    if width == 0 || height == 0 || values.len() != width * height {
        return Err(MetricError::Shape {
            what: "grid to blur",
            len: values.len(),
            width,
            height,
        });
    }
    let mut out = values.to_vec();
    if sigma_y > SKIP_SIGMA {
        out = filter_columns(
            &out,
            width,
            height,
            &half_kernel(sigma_y, GAUSSIAN_TRUNCATE),
        );
    }
    if sigma_x > SKIP_SIGMA {
        out = filter_rows(
            &out,
            width,
            height,
            &half_kernel(sigma_x, GAUSSIAN_TRUNCATE),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_repeats_the_edge_and_is_periodic() {
        let n = 4;
        let got: Vec<usize> = (-9..13).map(|i| reflect(i, n)).collect();
        // ... a b c d d c b a | a b c d | d c b a a b c d ...
        assert_eq!(
            got,
            [0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3]
        );
        assert!((-5..5).all(|i| reflect(i, 1) == 0));
    }

    #[test]
    fn kernel_is_normalised_with_scipys_radius() {
        // int(4 * 1.1 + 0.5) = 4, int(4 * 0.1 + 0.5) = 0.
        let w = half_kernel(1.1, GAUSSIAN_TRUNCATE);
        assert_eq!(w.len(), 5);
        let sum = w[0] + 2.0 * w[1..].iter().sum::<f64>();
        assert!((sum - 1.0).abs() < 1e-15);
        assert_eq!(half_kernel(0.1, GAUSSIAN_TRUNCATE), vec![1.0]);
    }

    #[test]
    fn the_blur_keeps_the_mass_even_when_the_kernel_outgrows_the_grid() {
        let mut grid = vec![0.0; 5 * 3];
        grid[0] = 2.0;
        grid[13] = 1.0;
        let out = gaussian_filter(&grid, 5, 3, 7.0, 0.6).unwrap();
        assert!((out.iter().sum::<f64>() - 3.0).abs() < 1e-13);
    }
}
