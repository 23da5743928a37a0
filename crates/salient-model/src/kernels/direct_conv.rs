//! Direct stride-1 convolution for very few output channels (the network's last layer, 32 → 1 at
//! full resolution). There a GEMM degenerates into a matrix-vector product and the patch matrix
//! costs `k²` times the image in memory traffic, so shifted row-by-row multiply-adds win: they read
//! each image row from cache `k²·cout` times and write nothing else.
//!
//! Same contract as the corresponding functions of [`super::gemm_conv`]; rows are parallel.

use super::gemm_conv::{Elem, Geometry};
use rayon::prelude::*;

/// Output channels at or below which [`applies`] picks this path.
const MAX_OUT_CHANNELS: usize = 4;

/// Whether this path handles a convolution of geometry `g` with `cout` output channels.
pub(crate) fn applies(g: &Geometry, cout: usize) -> bool {
    g.stride == 1 && cout <= MAX_OUT_CHANNELS && g.kernel > 1
}

/// Output columns `[lo, hi)` whose input column `ox + kx − p` lies inside the image, for stride 1.
fn columns(g: &Geometry, kx: usize) -> (usize, usize) {
    let lo = g.padding.saturating_sub(kx).min(g.out_width);
    let hi = (g.width + g.padding).saturating_sub(kx).min(g.out_width);
    (lo, hi.max(lo))
}

/// `dst[i] += a · src[i]`.
#[inline]
fn axpy<T: Elem>(dst: &mut [T], a: T, src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += a * *s;
    }
}

/// `Σ a[i] · b[i]` with eight partial sums so that the loop vectorises.
#[inline]
fn dot<T: Elem>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (a8.remainder(), b8.remainder());
    for (ca, cb) in a8.zip(b8) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let mut total = T::ZERO;
    for (x, y) in ar.iter().zip(br) {
        total += *x * *y;
    }
    acc.iter().fold(total, |s, v| s + *v)
}

/// `out[n] = w ⋆ x[n]`, `w` as `(cout, channels, k, k)`.
pub(crate) fn forward<T: Elem>(g: &Geometry, x: &[T], w: &[T], cout: usize, out: &mut [T]) {
    let (k, oh, ow) = (g.kernel, g.out_height, g.out_width);
    let plane = g.height * g.width;
    out.par_chunks_mut(ow).enumerate().for_each(|(r, row)| {
        let (n, o, oy) = (r / (cout * oh), (r / oh) % cout, r % oh);
        row.fill(T::ZERO);
        let img = &x[n * g.image_len()..][..g.image_len()];
        for c in 0..g.channels {
            for ky in 0..k {
                let Some(iy) = (oy + ky).checked_sub(g.padding).filter(|&iy| iy < g.height) else {
                    continue;
                };
                let src = &img[c * plane + iy * g.width..][..g.width];
                for kx in 0..k {
                    let (lo, hi) = columns(g, kx);
                    let a = w[((o * g.channels + c) * k + ky) * k + kx];
                    let first = lo + kx - g.padding;
                    axpy(&mut row[lo..hi], a, &src[first..first + hi - lo]);
                }
            }
        }
    });
}

/// Gradient of [`forward`] with respect to its input.
pub(crate) fn backward_data<T: Elem>(g: &Geometry, grad: &[T], w: &[T], cout: usize, dx: &mut [T]) {
    let (k, oh, ow, p) = (g.kernel, g.out_height, g.out_width, g.padding);
    let out_img = cout * oh * ow;
    dx.par_chunks_mut(g.width).enumerate().for_each(|(r, row)| {
        let (n, c, iy) = (
            r / (g.channels * g.height),
            (r / g.height) % g.channels,
            r % g.height,
        );
        row.fill(T::ZERO);
        let gi = &grad[n * out_img..][..out_img];
        for o in 0..cout {
            for ky in 0..k {
                let Some(oy) = (iy + p).checked_sub(ky).filter(|&oy| oy < oh) else {
                    continue;
                };
                let src = &gi[(o * oh + oy) * ow..][..ow];
                for kx in 0..k {
                    // Output column ox = ix + p − kx must lie in [0, ow).
                    let lo = kx.saturating_sub(p).min(g.width);
                    let hi = (ow + kx).saturating_sub(p).min(g.width).max(lo);
                    let a = w[((o * g.channels + c) * k + ky) * k + kx];
                    let first = lo + p - kx;
                    axpy(&mut row[lo..hi], a, &src[first..first + hi - lo]);
                }
            }
        }
    });
}

/// Gradient of [`forward`] with respect to its weight.
pub(crate) fn backward_weight<T: Elem>(
    g: &Geometry,
    x: &[T],
    grad: &[T],
    cout: usize,
    dw: &mut [T],
) {
    let (k, oh, ow) = (g.kernel, g.out_height, g.out_width);
    let (img_len, out_img, plane) = (g.image_len(), cout * oh * ow, g.height * g.width);
    let batch = x.len() / img_len.max(1);
    dw.par_chunks_mut(k * k).enumerate().for_each(|(oc, taps)| {
        let (o, c) = (oc / g.channels, oc % g.channels);
        taps.fill(T::ZERO);
        for n in 0..batch {
            let src_plane = &x[n * img_len + c * plane..][..plane];
            let g_plane = &grad[n * out_img + o * oh * ow..][..oh * ow];
            for oy in 0..oh {
                let g_row = &g_plane[oy * ow..][..ow];
                for ky in 0..k {
                    let Some(iy) = (oy + ky).checked_sub(g.padding).filter(|&iy| iy < g.height)
                    else {
                        continue;
                    };
                    let src = &src_plane[iy * g.width..][..g.width];
                    for kx in 0..k {
                        let (lo, hi) = columns(g, kx);
                        let first = lo + kx - g.padding;
                        taps[ky * k + kx] += dot(&g_row[lo..hi], &src[first..first + hi - lo]);
                    }
                }
            }
        }
    });
}
