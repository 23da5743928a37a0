//! Direct stride-1 convolution for very few output channels (the network's last layer, 32 → 1 at
//! full resolution). There a GEMM degenerates into a matrix-vector product and the patch matrix
//! costs `k²` times the image in memory traffic, so shifted row-by-row multiply-adds win: they read
//! each image row from cache `k²·cout` times and write nothing else. The forward pass keeps blocks
//! of output columns in registers across a few channels' taps, in an AVX2 build where the CPU has
//! it (detected at run time; the plain build is SSE2 only).
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

/// Output columns per register block: 32 f32 accumulators are four AVX registers; narrower
/// blocks of 8 take the rest of the interior.
const BLOCK: usize = 32;
const NARROW_BLOCK: usize = 8;

/// Input channels summed per pass over a row: their rows share few L1 sets (image planes are a
/// multiple of 4 KiB apart, so all channels' rows at one height fall into the same sets).
const CHANNEL_GROUP: usize = 4;

/// Adds to (or, when `fresh`, writes) `row[x0..x0 + B]` the taps of channels `cs` at this output
/// row, `B` register accumulators wide (one load and one multiply-add per tap, no stores).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<T: Elem, const B: usize>(
    g: &Geometry,
    img: &[T],
    w_o: &[T],
    taps: &[(usize, usize)],
    x0: usize,
    fresh: bool,
    row: &mut [T],
) {
    let (k, p, width) = (g.kernel, g.padding, g.width);
    let plane = g.height * width;
    let mut acc = [T::ZERO; B];
    if !fresh {
        acc.copy_from_slice(&row[x0..x0 + B]);
    }
    for &(c, ky_iy) in taps {
        let (ky, iy) = (ky_iy / g.height, ky_iy % g.height);
        let src = &img[c * plane + iy * width + x0 - p..][..B + k - 1];
        let wk = &w_o[(c * k + ky) * k..][..k];
        for (kx, &a) in wk.iter().enumerate() {
            let s = &src[kx..kx + B];
            for j in 0..B {
                acc[j] += a * s[j];
            }
        }
    }
    row[x0..x0 + B].copy_from_slice(&acc);
}

/// One output row of [`forward`]: `row = Σ_{c, ky, kx} w[o, c, ky, kx] · x[c, oy + ky − p, · + kx − p]`.
///
/// Columns whose whole receptive field lies inside the image are summed in register blocks, a
/// few channels at a time; the border columns by shifted multiply-adds over the row.
#[inline(always)]
fn forward_row<T: Elem>(g: &Geometry, img: &[T], w_o: &[T], oy: usize, row: &mut [T]) {
    let (k, p, width) = (g.kernel, g.padding, g.width);
    let plane = g.height * width;
    // Interior columns: ox − p ≥ 0 and ox + k − 1 − p < width.
    let first = p.min(g.out_width);
    let end = (width + p + 1)
        .saturating_sub(k)
        .min(g.out_width)
        .max(first);
    let wide_end = first + (end - first) / BLOCK * BLOCK;
    let narrow_end = wide_end + (end - wide_end) / NARROW_BLOCK * NARROW_BLOCK;
    // (channel, ky·height + iy) of every kernel row inside the image.
    let rows_in = |c: usize| {
        (0..k).filter_map(move |ky| {
            let iy = (oy + ky).checked_sub(p).filter(|&iy| iy < g.height)?;
            Some((c, ky * g.height + iy))
        })
    };
    let mut taps = Vec::with_capacity(CHANNEL_GROUP * k);
    for c0 in (0..g.channels).step_by(CHANNEL_GROUP) {
        taps.clear();
        taps.extend((c0..(c0 + CHANNEL_GROUP).min(g.channels)).flat_map(rows_in));
        let fresh = c0 == 0;
        for x0 in (first..wide_end).step_by(BLOCK) {
            block::<T, BLOCK>(g, img, w_o, &taps, x0, fresh, row);
        }
        for x0 in (wide_end..narrow_end).step_by(NARROW_BLOCK) {
            block::<T, NARROW_BLOCK>(g, img, w_o, &taps, x0, fresh, row);
        }
    }
    if g.channels == 0 {
        row[first..narrow_end].fill(T::ZERO);
    }
    // Border columns [0, first) ∪ [narrow_end, ow): shifted multiply-adds clipped to the image.
    for (lo_cut, hi_cut) in [(0, first), (narrow_end, g.out_width)] {
        if lo_cut >= hi_cut {
            continue;
        }
        let part = &mut row[lo_cut..hi_cut];
        part.fill(T::ZERO);
        for (c, ky_iy) in (0..g.channels).flat_map(rows_in) {
            let (ky, iy) = (ky_iy / g.height, ky_iy % g.height);
            let src = &img[c * plane + iy * width..][..width];
            for kx in 0..k {
                let (lo, hi) = columns(g, kx);
                let (lo, hi) = (lo.max(lo_cut), hi.min(hi_cut));
                if lo >= hi {
                    continue;
                }
                let a = w_o[(c * k + ky) * k + kx];
                let first = lo + kx - p;
                axpy(
                    &mut part[lo - lo_cut..hi - lo_cut],
                    a,
                    &src[first..first + hi - lo],
                );
            }
        }
    }
}

/// [`forward_row`] compiled for AVX2, so that the register blocks use 256-bit vectors.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_row_avx2<T: Elem>(g: &Geometry, img: &[T], w_o: &[T], oy: usize, row: &mut [T]) {
    forward_row(g, img, w_o, oy, row)
}

/// Whether the AVX2 builds of the row kernels may run.
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[n] = w ⋆ x[n]`, `w` as `(cout, channels, k, k)`.
pub(crate) fn forward<T: Elem>(g: &Geometry, x: &[T], w: &[T], cout: usize, out: &mut [T]) {
    let (oh, ow) = (g.out_height, g.out_width);
    let w_len = g.patch_len();
    let avx2 = has_avx2();
    out.par_chunks_mut(ow).enumerate().for_each(|(r, row)| {
        let (n, o, oy) = (r / (cout * oh), (r / oh) % cout, r % oh);
        let img = &x[n * g.image_len()..][..g.image_len()];
        let w_o = &w[o * w_len..][..w_len];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: AVX2 was detected at run time.
            return unsafe { forward_row_avx2(g, img, w_o, oy, row) };
        }
        let _ = avx2;
        forward_row(g, img, w_o, oy, row);
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
