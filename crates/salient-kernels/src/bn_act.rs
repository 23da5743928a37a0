//! BatchNorm fused with the activation that follows it, and the residual `relu(a + b)`, as CPU
//! custom ops with their own backward passes.
//!
//! Composed from candle ops, a training-mode BatchNorm + LeakyReLU is about fifteen tensor ops, each
//! a full pass over the activation with a fresh allocation, and its autograd graph keeps most of
//! those intermediates alive until the backward pass. Fused, the forward is three passes (mean,
//! variance, output), the backward two (two per-channel sums, then the input gradient), and the
//! graph keeps only the op's input and output.

use std::sync::{Arc, Mutex};

use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use super::cpu_storage::{contiguous, float_dispatch};

/// The activation after a normalisation, as its slope for negative inputs: `act(t) = t` for
/// `t > 0`, else `slope · t`. Identity is slope 1, ReLU slope 0, LeakyReLU its slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    negative_slope: f64,
}

impl Activation {
    pub const IDENTITY: Self = Self {
        negative_slope: 1.0,
    };
    pub const RELU: Self = Self {
        negative_slope: 0.0,
    };

    pub fn leaky_relu(negative_slope: f64) -> Self {
        Self { negative_slope }
    }

    pub(super) fn negative_slope(self) -> f64 {
        self.negative_slope
    }

    /// The same activation as candle ops (the path for devices without the fused kernels).
    pub(super) fn apply(self, x: &Tensor) -> Result<Tensor> {
        if self == Self::IDENTITY {
            Ok(x.clone())
        } else if self == Self::RELU {
            x.relu()
        } else {
            x.maximum(&(x * self.negative_slope)?)
        }
    }

    #[inline(always)]
    fn eval<T: WithDType>(t: T, slope: T) -> T {
        if t > T::zero() {
            t
        } else {
            t * slope
        }
    }

    /// The derivative, read from the activation's output: `y > 0` exactly when its input was.
    #[inline(always)]
    fn derivative_at_output<T: WithDType>(y: T, slope: T) -> T {
        if y > T::zero() {
            T::one()
        } else {
            slope
        }
    }
}

/// Per-channel batch mean and biased variance, as a training-mode forward computed them.
#[derive(Debug, Clone)]
pub struct BatchStats {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
}

/// `(N, C, plane)` of an activation, checked against a per-channel operand of `c` elements.
fn planes(x: &Layout, channel_len: usize, what: &str) -> Result<(usize, usize, usize)> {
    let dims = x.dims();
    if dims.len() < 2 {
        bail!("{what}: input must be (N, C, ...), got shape {dims:?}");
    }
    let (n, c) = (dims[0], dims[1]);
    if c != channel_len {
        bail!("{what}: input has {c} channels but the per-channel operand has {channel_len}");
    }
    Ok((n, c, dims[2..].iter().product()))
}

/// Independent accumulators per reduction: enough to fill two AVX registers of f32, so that the
/// loops vectorise and no single add chain limits them.
const LANES: usize = 16;

/// `Σ f(i)` over `0..len` in `LANES` interleaved partial sums of `T`, returned in f64. Per plane the
/// partial sums hold at most `len / LANES` terms, so f32 rounding stays far below BatchNorm's needs.
#[inline(always)]
fn lane_sum<T: WithDType, const K: usize>(len: usize, f: impl Fn(usize) -> [T; K]) -> [f64; K] {
    let mut acc = [[T::zero(); K]; LANES];
    let full = len / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        for (lane, slot) in acc.iter_mut().enumerate() {
            for (a, v) in slot.iter_mut().zip(f(base + lane)) {
                *a += v;
            }
        }
    }
    let mut out = [0.0; K];
    for slot in &acc {
        for (o, v) in out.iter_mut().zip(slot) {
            *o += v.to_f64();
        }
    }
    for i in full..len {
        let v = f(i);
        for k in 0..K {
            out[k] += v[k].to_f64();
        }
    }
    out
}

/// Mean and biased variance of each channel (two passes; f64 across planes).
fn batch_stats<T: WithDType>(x: &[T], n: usize, c: usize, plane: usize) -> BatchStats {
    let count = (n * plane) as f64;
    let channel = |ch: usize| (0..n).map(move |i| &x[(i * c + ch) * plane..][..plane]);
    let (mean, var) = (0..c)
        .into_par_iter()
        .map(|ch| {
            let sum: f64 = channel(ch).map(|p| lane_sum(plane, |j| [p[j]])[0]).sum();
            let mean = sum / count;
            let m = T::from_f64(mean);
            // Σ(x − mean)² in T around the f64 mean rounded to T; the rounding is corrected by
            // subtracting (Σ(x − m))² / count (exact algebra for a shifted sum of squares).
            let (mut sq, mut lin) = (0.0, 0.0);
            for p in channel(ch) {
                let [s2, s1] = lane_sum(plane, |j| {
                    let d = p[j] - m;
                    [d * d, d]
                });
                sq += s2;
                lin += s1;
            }
            (mean, ((sq - lin * lin / count) / count).max(0.0))
        })
        .unzip();
    BatchStats { mean, var }
}

/// `out = act(x · scale[c] + shift[c])`, plane by plane in parallel.
fn affine_act<T: WithDType>(
    x: &[T],
    c: usize,
    plane: usize,
    scale: &[f64],
    shift: &[f64],
    act: Activation,
) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    let slope = T::from_f64(act.negative_slope);
    out.par_chunks_mut(plane.max(1))
        .zip(x.par_chunks(plane.max(1)))
        .enumerate()
        .for_each(|(p, (out, x))| {
            let (s, b) = (T::from_f64(scale[p % c]), T::from_f64(shift[p % c]));
            for (o, &v) in out.iter_mut().zip(x) {
                *o = Activation::eval(v * s + b, slope);
            }
        });
    out
}

fn to_f64_vec(t: &Tensor) -> Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()
}

/// Training-mode BatchNorm + activation, applied to `(x, weight, bias)`; records the batch
/// statistics it normalised with in `stats` (for the running-statistic update and the backward pass).
pub(super) struct BatchNormTrainOp {
    pub act: Activation,
    pub eps: f64,
    pub stats: Arc<Mutex<Option<BatchStats>>>,
}

impl BatchNormTrainOp {
    fn run<T: WithDType>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sb, lb): (&CpuStorage, &Layout),
    ) -> Result<Vec<T>> {
        let w = contiguous::<T>(sw, lw, "batch-norm weight")?;
        let b = contiguous::<T>(sb, lb, "batch-norm bias")?;
        let (n, c, plane) = planes(lx, w.len(), "batch norm")?;
        if b.len() != c {
            bail!("batch norm: bias has {} elements for {c} channels", b.len());
        }
        if n * plane < 2 {
            bail!("batch norm: training needs more than one value per channel");
        }
        let x = contiguous::<T>(sx, lx, "batch-norm input")?;
        let stats = batch_stats(x, n, c, plane);
        let mut scale = Vec::with_capacity(c);
        let mut shift = Vec::with_capacity(c);
        for ch in 0..c {
            let s = w[ch].to_f64() / (stats.var[ch] + self.eps).sqrt();
            scale.push(s);
            shift.push(b[ch].to_f64() - stats.mean[ch] * s);
        }
        let out = affine_act(x, c, plane, &scale, &shift, self.act);
        *self.stats.lock().expect("stats lock") = Some(stats);
        Ok(out)
    }
}

impl CustomOp3 for BatchNormTrainOp {
    fn name(&self) -> &'static str {
        "salient-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let storage = float_dispatch!(self.name(), [s1, s2, s3], |T| {
            T::to_cpu_storage_owned(self.run::<T>((s1, l1), (s2, l2), (s3, l3))?)
        });
        Ok((storage, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (need_x, need_w, need_b) = (x.track_op(), w.track_op(), b.track_op());
        if !(need_x || need_w || need_b) {
            return Ok((None, None, None));
        }
        let Some(stats) = self.stats.lock().expect("stats lock").clone() else {
            bail!("batch-norm backward before its forward");
        };
        let inv_std: Vec<f64> = stats
            .var
            .iter()
            .map(|v| 1.0 / (v + self.eps).sqrt())
            .collect();
        let op = BatchNormTrainBackwardOp {
            slope: self.act.negative_slope,
            mean: stats.mean,
            inv_std,
            weight: to_f64_vec(w)?,
            need_x,
        };
        let flat = x.apply_op3_no_bwd(y, &grad.contiguous()?, &op)?;
        // The op always computes the weight and bias gradients (the same two channel sums).
        let [dx, dw, db] = super::unpack_gradients(&flat, [(need_x, x), (true, w), (true, b)])?;
        Ok((dx, dw.filter(|_| need_w), db.filter(|_| need_b)))
    }
}

/// The backward pass of [`BatchNormTrainOp`], applied to `(x, y, grad_y)`: a flat tensor holding
/// the input gradient (if `need_x`), then the weight and bias gradients.
struct BatchNormTrainBackwardOp {
    slope: f64,
    mean: Vec<f64>,
    inv_std: Vec<f64>,
    weight: Vec<f64>,
    need_x: bool,
}

impl BatchNormTrainBackwardOp {
    fn run<T: WithDType>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sy, ly): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<Vec<T>> {
        let (n, c, plane) = planes(lx, self.mean.len(), "batch-norm backward")?;
        if ly.dims() != lx.dims() || lg.dims() != lx.dims() {
            bail!(
                "batch-norm backward: input {:?}, output {:?} and gradient {:?} differ",
                lx.dims(),
                ly.dims(),
                lg.dims()
            );
        }
        let x = contiguous::<T>(sx, lx, "batch-norm input")?;
        let y = contiguous::<T>(sy, ly, "batch-norm output")?;
        let g = contiguous::<T>(sg, lg, "batch-norm gradient")?;
        let slope = T::from_f64(self.slope);
        // Per channel: Σ g' and Σ g'·(x − mean), with g' the gradient through the activation.
        let (sum_g, sum_gx): (Vec<f64>, Vec<f64>) = (0..c)
            .into_par_iter()
            .map(|ch| {
                let mean = T::from_f64(self.mean[ch]);
                let (mut sg, mut sgx) = (0.0, 0.0);
                for i in 0..n {
                    let at = (i * c + ch) * plane;
                    let (x, y, g) = (&x[at..][..plane], &y[at..][..plane], &g[at..][..plane]);
                    let [pg, pgx] = lane_sum(plane, |j| {
                        let gp = g[j] * Activation::derivative_at_output(y[j], slope);
                        [gp, gp * (x[j] - mean)]
                    });
                    sg += pg;
                    sgx += pgx;
                }
                (sg, sgx)
            })
            .unzip();
        let dw = (0..c).map(|ch| sum_gx[ch] * self.inv_std[ch]);
        let db = sum_g.iter().copied();
        let x_len = if self.need_x { x.len() } else { 0 };
        let mut flat = vec![T::zero(); x_len + 2 * c];
        let (dx, rest) = flat.split_at_mut(x_len);
        for (slot, v) in rest.iter_mut().zip(dw.chain(db)) {
            *slot = T::from_f64(v);
        }
        if self.need_x {
            let count = (n * plane) as f64;
            dx.par_chunks_mut(plane.max(1))
                .enumerate()
                .for_each(|(p, dx)| {
                    let ch = p % c;
                    let at = p * plane;
                    let k = self.weight[ch] * self.inv_std[ch];
                    let inv_std = self.inv_std[ch];
                    // dx = k·(g' − Σg'/M − x̂·Σg'x̂/M), x̂ = (x − mean)·inv_std.
                    let gain = T::from_f64(k);
                    let offset = T::from_f64(sum_g[ch] / count);
                    let xhat_coef = T::from_f64(sum_gx[ch] * inv_std * inv_std / count);
                    let mean = T::from_f64(self.mean[ch]);
                    let (x, y, g) = (&x[at..at + plane], &y[at..at + plane], &g[at..at + plane]);
                    for (((d, &x), &y), &g) in dx.iter_mut().zip(x).zip(y).zip(g) {
                        let gp = g * Activation::derivative_at_output(y, slope);
                        *d = gain * (gp - offset - (x - mean) * xhat_coef);
                    }
                });
        }
        Ok(flat)
    }
}

impl CustomOp3 for BatchNormTrainBackwardOp {
    fn name(&self) -> &'static str {
        "salient-batch-norm-train-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (storage, len) = float_dispatch!(self.name(), [s1, s2, s3], |T| {
            let flat = self.run::<T>((s1, l1), (s2, l2), (s3, l3))?;
            let len = flat.len();
            (T::to_cpu_storage_owned(flat), len)
        });
        Ok((storage, Shape::from(len)))
    }
}

/// `act(x · scale[c] + shift[c])` with given per-channel `scale` and `shift`: BatchNorm with
/// running statistics (eval mode, frozen layers) + activation, applied to `(x, scale, shift)`.
pub(super) struct AffineActOp {
    pub act: Activation,
}

impl CustomOp3 for AffineActOp {
    fn name(&self) -> &'static str {
        "salient-affine-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let storage = float_dispatch!(self.name(), [s1, s2, s3], |T| {
            let scale = contiguous::<T>(s2, l2, "scale")?;
            let shift = contiguous::<T>(s3, l3, "shift")?;
            let (_, c, plane) = planes(l1, scale.len(), self.name())?;
            if shift.len() != c {
                bail!(
                    "{}: shift has {} elements for {c} channels",
                    self.name(),
                    shift.len()
                );
            }
            let widen = |v: &[T]| v.iter().map(|v| v.to_f64()).collect::<Vec<_>>();
            let x = contiguous::<T>(s1, l1, "input")?;
            let out = affine_act(x, c, plane, &widen(scale), &widen(shift), self.act);
            T::to_cpu_storage_owned(out)
        });
        Ok((storage, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        shift: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (need_x, need_scale, need_shift) = (x.track_op(), scale.track_op(), shift.track_op());
        if !(need_x || need_scale || need_shift) {
            return Ok((None, None, None));
        }
        // g' = grad · act'(y); rare enough (trainable weights in eval mode) for candle ops beyond it.
        let gp = grad.apply_op2_no_bwd(y, &ActivationGradOp { act: self.act })?;
        let c = scale.elem_count();
        let per_channel = |t: &Tensor| -> Result<Tensor> {
            t.reshape((t.dim(0)?, c, ()))?
                .sum(2)?
                .sum(0)?
                .reshape(scale.shape())
        };
        let dx = need_x
            .then(|| gp.broadcast_mul(&scale.reshape((1, c, 1, 1))?))
            .transpose()?;
        let dscale = need_scale.then(|| per_channel(&(&gp * x)?)).transpose()?;
        let dshift = need_shift.then(|| per_channel(&gp)).transpose()?;
        Ok((dx, dscale, dshift))
    }
}

/// An element-wise map of two equally shaped operands.
trait ZipMap: Sync {
    fn map<T: WithDType>(&self, a: T, b: T) -> T;
}

/// Runs `m` over two contiguous f32/f64 operands in parallel chunks; `what` names them in errors.
fn zip_map<M: ZipMap>(
    m: &M,
    name: &str,
    what: [&str; 2],
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    if l1.dims() != l2.dims() {
        bail!(
            "{name}: {} {:?} and {} {:?} differ",
            what[0],
            l1.dims(),
            what[1],
            l2.dims()
        );
    }
    const CHUNK: usize = 1 << 14;
    let storage = float_dispatch!(name, [s1, s2], |T| {
        let a = contiguous::<T>(s1, l1, what[0])?;
        let b = contiguous::<T>(s2, l2, what[1])?;
        let mut out = vec![T::from_f64(0.0); a.len()];
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| {
                for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                    *o = m.map(a, b);
                }
            });
        T::to_cpu_storage_owned(out)
    });
    Ok((storage, l1.shape().clone()))
}

/// `grad · act'(y)` from an activation's output `y`, applied to `(grad, y)`.
pub(super) struct ActivationGradOp {
    pub act: Activation,
}

impl CustomOp2 for ActivationGradOp {
    fn name(&self) -> &'static str {
        "salient-activation-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        zip_map(
            self,
            self.name(),
            ["gradient", "activation output"],
            (s1, l1),
            (s2, l2),
        )
    }
}

impl ZipMap for ActivationGradOp {
    fn map<T: WithDType>(&self, g: T, y: T) -> T {
        g * Activation::derivative_at_output(y, T::from_f64(self.act.negative_slope))
    }
}

/// `relu(a + b)`: the residual join of a bottleneck block, applied to `(a, b)`.
pub(super) struct AddReluOp;

impl ZipMap for AddReluOp {
    fn map<T: WithDType>(&self, a: T, b: T) -> T {
        Activation::eval(a + b, T::from_f64(0.0))
    }
}

impl CustomOp2 for AddReluOp {
    fn name(&self) -> &'static str {
        "salient-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        zip_map(
            self,
            self.name(),
            ["left operand", "right operand"],
            (s1, l1),
            (s2, l2),
        )
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if !(a.track_op() || b.track_op()) {
            return Ok((None, None));
        }
        let op = ActivationGradOp {
            act: Activation::RELU,
        };
        let g = grad.contiguous()?.apply_op2_no_bwd(y, &op)?;
        Ok((a.track_op().then(|| g.clone()), b.track_op().then_some(g)))
    }
}

/// [`super::batch_norm_train`] as candle ops, for devices and dtypes without the fused kernel.
pub(super) fn batch_norm_train_composed(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    act: Activation,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (n, c) = (x.dim(0)?, x.dim(1)?);
    let xs = x.reshape((n, c, ()))?;
    let count = xs.dim(2)? * n;
    if count < 2 {
        bail!("batch norm: training needs more than one value per channel");
    }
    // Reductions run over the contiguous last axis, then the batch axis.
    let mean = (xs.sum_keepdim(2)?.sum_keepdim(0)? / count as f64)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = (centred.sqr()?.sum_keepdim(2)?.sum_keepdim(0)? / count as f64)?;
    let scale = (&var + eps)?
        .sqrt()?
        .recip()?
        .broadcast_mul(&weight.reshape((1, c, 1))?)?;
    let y = centred
        .broadcast_mul(&scale)?
        .broadcast_add(&bias.reshape((1, c, 1))?)?;
    let y = act.apply(&y.reshape(x.shape())?)?;
    Ok((y, mean.detach().flatten_all()?, var.detach().flatten_all()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    const ACTIVATIONS: [Activation; 3] = [
        Activation::IDENTITY,
        Activation::RELU,
        Activation {
            negative_slope: 0.2,
        },
    ];

    fn values(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64)
            .and_then(|t| t.flatten_all()?.to_vec1())
            .expect("values")
    }

    /// `max |a − b|` over two tensors of one shape; NaN when either holds a NaN (candle's own
    /// `max` would skip one past the first element), so that every `max_diff(..) < tol` fails.
    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        assert_eq!(a.dims(), b.dims(), "shapes differ");
        salient_test_support::max_abs_diff(&values(a), &values(b))
    }

    fn random(shape: &[usize], seed: u64) -> Result<Var> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let len = shape.iter().product();
        let v: Vec<f64> = (0..len).map(|_| rng.random_range(-2.0..2.0)).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu)?)
    }

    /// Gradients of `Σ y·r` for a fixed random `r`, so every output element weighs differently.
    fn grads_of(y: &Tensor, r: &Tensor, vars: &[&Var]) -> Result<Vec<Tensor>> {
        let store = (y * r)?.sum_all()?.backward()?;
        vars.iter()
            .map(|v| {
                store
                    .get(v.as_tensor())
                    .cloned()
                    .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))
            })
            .collect()
    }

    #[test]
    fn fused_batch_norm_matches_candle_ops_values_stats_and_gradients() -> Result<()> {
        for (case, shape) in [[2, 3, 5, 7], [1, 4, 1, 33], [3, 2, 4, 4]]
            .iter()
            .enumerate()
        {
            for act in ACTIVATIONS {
                let seed = case as u64 * 10;
                let x = random(shape, seed)?;
                let w = random(&[shape[1]], seed + 1)?;
                let b = random(&[shape[1]], seed + 2)?;
                let r = random(shape, seed + 3)?;
                let (y, mean, var) = super::super::batch_norm_train(&x, &w, &b, 1e-5, act)?;
                let (y_ref, mean_ref, var_ref) = batch_norm_train_composed(&x, &w, &b, 1e-5, act)?;
                assert!(max_diff(&y, &y_ref) < 1e-12, "{shape:?} {act:?} values");
                assert!(max_diff(&mean, &mean_ref) < 1e-12, "mean");
                assert!(max_diff(&var, &var_ref) < 1e-12, "var");
                let ours = grads_of(&y, r.as_tensor(), &[&x, &w, &b])?;
                let reference = grads_of(&y_ref, r.as_tensor(), &[&x, &w, &b])?;
                for (what, (a, e)) in ["x", "weight", "bias"]
                    .iter()
                    .zip(ours.iter().zip(&reference))
                {
                    let d = max_diff(a, e);
                    assert!(d < 1e-10, "{shape:?} {act:?}: d{what} differs by {d}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn fused_batch_norm_in_f32_stays_within_rounding_of_f64() -> Result<()> {
        let x = random(&[2, 3, 16, 16], 7)?;
        let w = random(&[3], 8)?;
        let b = random(&[3], 9)?;
        // An offset makes the mean large against the spread, where a naive variance would cancel.
        let shifted = (x.as_tensor() + 100.0)?;
        let act = Activation::RELU;
        let (y64, ..) = super::super::batch_norm_train(&shifted, &w, &b, 1e-5, act)?;
        let f32s = |t: &Tensor| t.to_dtype(DType::F32);
        let (y32, ..) = super::super::batch_norm_train(
            &f32s(&shifted)?,
            &f32s(w.as_tensor())?,
            &f32s(b.as_tensor())?,
            1e-5,
            act,
        )?;
        let d = max_diff(&y32.to_dtype(DType::F64)?, &y64);
        assert!(d < 1e-4, "f32 vs f64 differ by {d}");
        Ok(())
    }

    #[test]
    fn affine_act_and_add_relu_match_candle_ops() -> Result<()> {
        let shape = [2, 3, 5, 6];
        let x = random(&shape, 20)?;
        let scale = random(&[3], 21)?;
        let shift = random(&[3], 22)?;
        let r = random(&shape, 23)?;
        for act in ACTIVATIONS {
            let y = super::super::affine_act(&x, &scale, &shift, act)?;
            let bshape = (1, 3, 1, 1);
            let y_ref = act.apply(
                &x.broadcast_mul(&scale.reshape(bshape)?)?
                    .broadcast_add(&shift.reshape(bshape)?)?,
            )?;
            assert!(max_diff(&y, &y_ref) < 1e-12, "{act:?} values");
            let vars = [&x, &scale, &shift];
            let ours = grads_of(&y, r.as_tensor(), &vars)?;
            let reference = grads_of(&y_ref, r.as_tensor(), &vars)?;
            for (a, e) in ours.iter().zip(&reference) {
                assert!(max_diff(a, e) < 1e-10, "{act:?} gradients");
            }
        }
        let other = random(&shape, 24)?;
        let y = super::super::add_relu(&x, &other)?;
        let y_ref = (x.as_tensor() + other.as_tensor())?.relu()?;
        assert!(max_diff(&y, &y_ref) < 1e-15);
        let ours = grads_of(&y, r.as_tensor(), &[&x, &other])?;
        let reference = grads_of(&y_ref, r.as_tensor(), &[&x, &other])?;
        for (a, e) in ours.iter().zip(&reference) {
            assert!(max_diff(a, e) < 1e-15, "add_relu gradients");
        }
        Ok(())
    }

    /// The comparison of the tests above refuses a kernel's output with a NaN in any of its
    /// first, middle or last element.
    #[test]
    fn max_diff_refuses_a_kernel_output_holding_a_nan() -> Result<()> {
        let x = random(&[2, 3, 5, 7], 40)?;
        let (w, b) = (random(&[3], 41)?, random(&[3], 42)?);
        let act = Activation::RELU;
        let (y, ..) = super::super::batch_norm_train(&x, &w, &b, 1e-5, act)?;
        let (y_ref, ..) = batch_norm_train_composed(&x, &w, &b, 1e-5, act)?;
        assert!(max_diff(&y, &y_ref) < 1e-12);
        let passes = |v: &[f64]| {
            let probe = Tensor::from_slice(v, y.dims(), &Device::Cpu).unwrap();
            max_diff(&probe, &y_ref) < 1e-12
        };
        assert!(salient_test_support::rejects_nan(&values(&y), passes));
        Ok(())
    }

    #[test]
    fn mismatched_operands_are_errors_not_panics() -> Result<()> {
        let x = random(&[2, 3, 4, 4], 30)?;
        let w = random(&[4], 31)?;
        let b = random(&[3], 32)?;
        let err = super::super::batch_norm_train(&x, &w, &b, 1e-5, Activation::RELU)
            .expect_err("4 weights for 3 channels");
        assert!(err.to_string().contains("channels"), "{err}");
        let y = random(&[2, 3, 4, 5], 33)?;
        assert!(super::super::add_relu(&x, &y).is_err());
        Ok(())
    }
}
