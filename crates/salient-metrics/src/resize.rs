//! Bilinear resizing of a prediction to the ground truth's size, as pysaliency does it.
//!
//! pysaliency's `ResizingSaliencyMapModel` calls `scipy.ndimage.zoom(smap, [h_out / h_in,
//! w_out / w_in], order=1, mode='nearest')`. With scipy's default `grid_mode=False` that maps output
//! index `o` of an axis to input coordinate `c = o * (n_in - 1) / (n_out - 1)` (corner pixels
//! aligned; `c = 0` when `n_out == 1`) and interpolates linearly between `floor(c)` and the next
//! sample, clamped at the border. This module computes exactly that, in `f64`.
//! (The MIT benchmark's Matlab code uses `imresize`, bicubic with antialiasing; we follow pysaliency.)

/// One axis' source sample pairs and weights, computed once per axis.
struct AxisTaps {
    lower: Vec<usize>,
    upper: Vec<usize>,
    frac: Vec<f64>,
}

impl AxisTaps {
    fn new(n_in: usize, n_out: usize) -> Self {
        let step = if n_out > 1 {
            (n_in - 1) as f64 / (n_out - 1) as f64
        } else {
            0.0
        };
        let mut taps = Self {
            lower: Vec::with_capacity(n_out),
            upper: Vec::with_capacity(n_out),
            frac: Vec::with_capacity(n_out),
        };
        for o in 0..n_out {
            let c = o as f64 * step;
            let lo = (c.floor() as usize).min(n_in - 1);
            taps.lower.push(lo);
            taps.upper.push((lo + 1).min(n_in - 1));
            taps.frac.push(c - lo as f64);
        }
        taps
    }
}

/// Resizes a row-major `h_in x w_in` map to `h_out x w_out` (see the module doc for the
/// convention). All sizes must be non-zero and `src.len() == w_in * h_in`.
pub fn resize_bilinear(
    src: &[f64],
    w_in: usize,
    h_in: usize,
    w_out: usize,
    h_out: usize,
) -> Vec<f64> {
    debug_assert_eq!(src.len(), w_in * h_in);
    let xs = AxisTaps::new(w_in, w_out);
    let ys = AxisTaps::new(h_in, h_out);
    let mut out = Vec::with_capacity(w_out * h_out);
    for oy in 0..h_out {
        let row_a = &src[ys.lower[oy] * w_in..][..w_in];
        let row_b = &src[ys.upper[oy] * w_in..][..w_in];
        let ty = ys.frac[oy];
        for ox in 0..w_out {
            let (x0, x1, tx) = (xs.lower[ox], xs.upper[ox], xs.frac[ox]);
            let top = (1.0 - tx) * row_a[x0] + tx * row_a[x1];
            let bottom = (1.0 - tx) * row_b[x0] + tx * row_b[x1];
            out.push((1.0 - ty) * top + ty * bottom);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity() {
        let src: Vec<f64> = (0..12).map(|i| i as f64 * 0.5).collect();
        assert_eq!(resize_bilinear(&src, 4, 3, 4, 3), src);
    }

    #[test]
    fn corners_are_aligned_and_midpoints_interpolated() {
        // 2x2 -> 3x3: the centre is the mean of the four corners, the corners are kept.
        let out = resize_bilinear(&[0.0, 2.0, 4.0, 6.0], 2, 2, 3, 3);
        assert_eq!(out, vec![0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn single_output_pixel_takes_the_first_sample() {
        assert_eq!(
            resize_bilinear(&[3.0, 9.0, 1.0, 1.0], 2, 2, 1, 1),
            vec![3.0]
        );
    }
}
