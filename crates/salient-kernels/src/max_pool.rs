//! 2-D max pooling with PyTorch's semantics — implicit −∞ padding, output
//! `floor((H + 2p − k) / s) + 1`, and a backward pass that sends each window's gradient to its
//! first maximum in row-major order (a NaN counts as a maximum, as in PyTorch) — which candle's
//! own `max_pool2d` lacks (no padding, and no backward when the kernel differs from the stride).
//!
//! On CPU, for f32/f64, a custom op with a custom backward. Elsewhere, [`composed`] builds the same
//! function from candle ops, exact in value and in gradient (see its doc).

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_storage::{contiguous, float_dispatch};

/// Pooling window parameters, validated against an input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Pool {
    /// Checks PyTorch's constraints and returns the output size `(oh, ow)` for an `h × w` input.
    pub fn out_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let Pool {
            kernel: k,
            stride: s,
            padding: p,
        } = *self;
        if k == 0 || s == 0 {
            bail!("max_pool2d: kernel ({k}) and stride ({s}) must be positive");
        }
        if 2 * p > k {
            bail!("max_pool2d: padding ({p}) must be at most half the kernel ({k})");
        }
        if h + 2 * p < k || w + 2 * p < k {
            bail!("max_pool2d: input {h}x{w} with padding {p} is smaller than kernel {k}");
        }
        Ok(((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1))
    }

    /// The clipped input range `[start, end)` of window `o` along an axis of length `len`.
    fn window(&self, o: usize, len: usize) -> (usize, usize) {
        let start = (o * self.stride) as isize - self.padding as isize;
        let end = ((start + self.kernel as isize) as usize).min(len);
        (start.max(0) as usize, end)
    }
}

/// Element types pooled natively.
trait PoolElem: Copy + PartialOrd + Send + Sync + std::ops::AddAssign + 'static {
    const NEG_INF: Self;
    const ZERO: Self;
    fn is_nan(self) -> bool;
}

impl PoolElem for f32 {
    const NEG_INF: Self = f32::NEG_INFINITY;
    const ZERO: Self = 0.0;
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl PoolElem for f64 {
    const NEG_INF: Self = f64::NEG_INFINITY;
    const ZERO: Self = 0.0;
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// Calls `f(window index, index in plane of its first maximum, maximum)` for every window of one
/// `h × w` plane.
fn for_each_window<T: PoolElem>(
    pool: &Pool,
    plane: &[T],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    mut f: impl FnMut(usize, usize, T),
) {
    for oy in 0..oh {
        let (y0, y1) = pool.window(oy, h);
        for ox in 0..ow {
            let (x0, x1) = pool.window(ox, w);
            let mut best = T::NEG_INF;
            let mut best_at = y0 * w + x0;
            for y in y0..y1 {
                for (x, &v) in plane[y * w + x0..y * w + x1].iter().enumerate() {
                    if v > best || v.is_nan() {
                        best = v;
                        best_at = y * w + x0 + x;
                    }
                }
            }
            f(oy * ow + ox, best_at, best);
        }
    }
}

/// `max(a, b)` where a NaN on either side wins (so a window holding a NaN pools to NaN, as in
/// PyTorch); branch-free enough to vectorise.
#[inline(always)]
fn max_nan<T: PoolElem>(a: T, b: T) -> T {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

/// The maxima of every window of one `h × w` plane into `out` (`oh × ow`), separably: each row's
/// horizontal window maxima into `rows` (`h × ow`), then vertical maxima of those. The same values
/// as [`for_each_window`] (max is associative, NaNs included), at a fraction of its branches.
fn pool_plane<T: PoolElem>(
    pool: &Pool,
    plane: &[T],
    (h, w): (usize, usize),
    ow: usize,
    rows: &mut Vec<T>,
    out: &mut [T],
) {
    rows.clear();
    rows.resize(h * ow, T::NEG_INF);
    let windows: Vec<_> = (0..ow).map(|ox| pool.window(ox, w)).collect();
    for (src, dst) in plane.chunks_exact(w).zip(rows.chunks_exact_mut(ow)) {
        for (d, &(x0, x1)) in dst.iter_mut().zip(&windows) {
            *d = src[x0..x1].iter().fold(T::NEG_INF, |m, &v| max_nan(v, m));
        }
    }
    for (oy, dst) in out.chunks_exact_mut(ow).enumerate() {
        let (y0, y1) = pool.window(oy, h);
        dst.fill(T::NEG_INF);
        for src in rows[y0 * ow..y1 * ow].chunks_exact(ow) {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = max_nan(v, *d);
            }
        }
    }
}

fn dims4(l: &Layout) -> Result<(usize, usize, usize, usize)> {
    match *l.dims() {
        [n, c, h, w] => Ok((n, c, h, w)),
        ref d => bail!("max_pool2d: input must be 4-D (N, C, H, W), got shape {d:?}"),
    }
}

/// The forward custom op.
pub(super) struct MaxPoolOp(pub Pool);

impl MaxPoolOp {
    fn run<T: PoolElem + candle_core::WithDType>(
        &self,
        s: &CpuStorage,
        l: &Layout,
    ) -> Result<(Vec<T>, Shape)> {
        let (n, c, h, w) = dims4(l)?;
        let (oh, ow) = self.0.out_size(h, w)?;
        let x = contiguous::<T>(s, l, "max-pool input")?;
        let mut out = vec![T::ZERO; n * c * oh * ow];
        if oh * ow > 0 && h * w > 0 {
            out.par_chunks_mut(oh * ow)
                .zip(x.par_chunks(h * w))
                .for_each_init(Vec::new, |rows, (o, plane)| {
                    pool_plane(&self.0, plane, (h, w), ow, rows, o)
                });
        }
        Ok((out, Shape::from((n, c, oh, ow))))
    }
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "salient-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        float_dispatch!(self.name(), [s], |T| {
            let (v, shape) = self.run::<T>(s, l)?;
            Ok((T::to_cpu_storage_owned(v), shape))
        })
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = x.apply_op2_no_bwd(&grad.contiguous()?, &MaxPoolBackwardOp(self.0))?;
        Ok(Some(dx))
    }
}

/// The backward op, applied to `(x, grad_out)`: scatters each window's gradient to its first
/// maximum, found again in `x` exactly as the forward pass found it.
struct MaxPoolBackwardOp(Pool);

impl MaxPoolBackwardOp {
    fn run<T: PoolElem + candle_core::WithDType>(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(Vec<T>, Shape)> {
        let (n, c, h, w) = dims4(l1)?;
        let (oh, ow) = self.0.out_size(h, w)?;
        if l2.dims() != [n, c, oh, ow] {
            bail!(
                "max_pool2d backward: gradient shape {:?}, expected {:?}",
                l2.dims(),
                [n, c, oh, ow]
            );
        }
        let x = contiguous::<T>(s1, l1, "max-pool input")?;
        let grad = contiguous::<T>(s2, l2, "max-pool gradient")?;
        let mut dx = vec![T::ZERO; n * c * h * w];
        if oh * ow > 0 && h * w > 0 {
            dx.par_chunks_mut(h * w)
                .zip(x.par_chunks(h * w).zip(grad.par_chunks(oh * ow)))
                .for_each(|(d, (plane, g))| {
                    for_each_window(&self.0, plane, (h, w), (oh, ow), |i, at, _| d[at] += g[i])
                });
        }
        Ok((dx, l1.shape().clone()))
    }
}

impl CustomOp2 for MaxPoolBackwardOp {
    fn name(&self) -> &'static str {
        "salient-max-pool2d-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        float_dispatch!(self.name(), [s1, s2], |T| {
            let (v, shape) = self.run::<T>(s1, l1, s2, l2)?;
            Ok((T::to_cpu_storage_owned(v), shape))
        })
    }
}

/// Max pooling from candle ops alone, for devices and dtypes the custom op does not cover.
///
/// The input is padded with −∞, each of the `k²` window offsets becomes a strided view (narrow +
/// reshape + narrow), and the result is built by overlaying the views with `where_cond`, last offset
/// first, wherever a view equals the window maximum: the value is the maximum exactly, and autograd
/// sends each window's gradient to its first maximum in row-major order, as PyTorch does. (A NaN in
/// a window is not propagated the way PyTorch does it; the network never produces one.)
pub(super) fn composed(x: &Tensor, pool: Pool) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = pool.out_size(h, w)?;
    let Pool {
        kernel: k,
        stride: s,
        padding: p,
    } = pool;
    // Padded extent so that every offset `d < k` has `oh·s` rows (`ow·s` columns) after it.
    let (hp, wp) = (oh * s + k - 1, ow * s + k - 1);
    let pad = |t: Tensor, dim: usize, before: usize, total: usize, len: usize| -> Result<Tensor> {
        let mut dims = t.dims().to_vec();
        let after = total - len - before;
        let mut parts = Vec::with_capacity(3);
        if before > 0 {
            dims[dim] = before;
            parts.push(neg_inf(&dims, t.dtype(), t.device())?);
        }
        parts.push(t.clone());
        if after > 0 {
            dims[dim] = after;
            parts.push(neg_inf(&dims, t.dtype(), t.device())?);
        }
        Tensor::cat(&parts, dim)
    };
    let padded = pad(x.clone(), 2, p, hp, h)?;
    let padded = pad(padded, 3, p, wp, w)?;
    let mut views = Vec::with_capacity(k * k);
    for dy in 0..k {
        let rows = padded
            .narrow(2, dy, oh * s)?
            .reshape((n, c, oh, s, wp))?
            .narrow(3, 0, 1)?
            .squeeze(3)?;
        for dx in 0..k {
            let view = rows
                .narrow(3, dx, ow * s)?
                .reshape((n, c, oh, ow, s))?
                .narrow(4, 0, 1)?
                .squeeze(4)?;
            views.push(view);
        }
    }
    let mut max = views[0].detach();
    for v in &views[1..] {
        max = max.maximum(&v.detach())?;
    }
    let mut out = max.clone();
    for v in views.iter().rev() {
        out = v.eq(&max)?.where_cond(v, &out)?;
    }
    Ok(out)
}

fn neg_inf(dims: &[usize], dtype: DType, device: &candle_core::Device) -> Result<Tensor> {
    Tensor::full(f32::NEG_INFINITY, dims, device)?.to_dtype(dtype)
}
