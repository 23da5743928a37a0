//! Adam's update on CPU as three in-place passes (first moment, second moment, parameter) instead
//! of a dozen candle ops that each allocate a parameter-sized tensor: the optimiser step of the
//! 31 M-parameter network then costs a few streaming passes over its state and no allocation.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, InplaceOp3, Layout, Result, Tensor, WithDType};
use rayon::prelude::*;

/// Elements per parallel work unit.
const CHUNK: usize = 1 << 14;

/// One step's constants, shared by the three passes.
#[derive(Debug, Clone, Copy)]
pub(super) struct StepConstants {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// `lr / (1 − β1^t)`.
    pub step_size: f64,
    /// `sqrt(1 − β2^t)`.
    pub bias_correction2_sqrt: f64,
    /// L2 penalty added to the gradient (Adam), 0 when decoupled or off.
    pub l2: f64,
    /// Factor the parameter is scaled by before the update (AdamW), 1 when not decoupled.
    pub decay_factor: f64,
}

/// Whether the in-place passes handle this parameter and gradient.
pub(super) fn supported(param: &Tensor, grad: &Tensor) -> bool {
    param.device().is_cpu()
        && matches!(param.dtype(), DType::F32 | DType::F64)
        && grad.dtype() == param.dtype()
        && grad.dims() == param.dims()
        && param.is_contiguous()
}

/// Updates `m`, `v` and `param` in place.
pub(super) fn step(
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    k: StepConstants,
) -> Result<()> {
    let grad = grad.contiguous()?;
    m.inplace_op3(&grad, param, &Moment { k, second: false })?;
    v.inplace_op3(&grad, param, &Moment { k, second: true })?;
    param.inplace_op3(m, v, &ParamUpdate { k })
}

/// One in-place pass over a destination and two sources of its length, for f32 and f64.
trait Pass {
    /// The destination's and the sources' names, for errors.
    const OPERANDS: [&'static str; 3];
    fn run<T: WithDType + Sqrt>(&self, dst: &mut [T], a: &[T], b: &[T]);
}

/// Runs `pass` on contiguous storage of one float dtype, checking sizes first.
fn apply<P: Pass>(
    pass: &P,
    (dst, dst_l): (&mut CpuStorage, &Layout),
    (a, a_l): (&CpuStorage, &Layout),
    (b, b_l): (&CpuStorage, &Layout),
) -> Result<()> {
    let [dst_name, a_name, b_name] = P::OPERANDS;
    let range = |l: &Layout, what: &str| match l.contiguous_offsets() {
        Some((start, end)) => Ok(start..end),
        None => bail!("Adam: {what} must be contiguous"),
    };
    let (dst_r, a_r, b_r) = (
        range(dst_l, dst_name)?,
        range(a_l, a_name)?,
        range(b_l, b_name)?,
    );
    if a_r.len() != dst_r.len() || b_r.len() != dst_r.len() {
        bail!("Adam: {dst_name}, {a_name} and {b_name} sizes differ");
    }
    match dst {
        CpuStorage::F32(d) => {
            pass.run::<f32>(&mut d[dst_r], &a.as_slice()?[a_r], &b.as_slice()?[b_r])
        }
        CpuStorage::F64(d) => {
            pass.run::<f64>(&mut d[dst_r], &a.as_slice()?[a_r], &b.as_slice()?[b_r])
        }
        other => bail!("Adam: unsupported dtype {:?}", other.dtype()),
    }
    Ok(())
}

/// `m ← β1 m + (1 − β1) g'` or `v ← β2 v + (1 − β2) g'²`, with `g' = g + l2 · p`; applied to the
/// moment, with sources `(grad, param)`.
struct Moment {
    k: StepConstants,
    second: bool,
}

impl Pass for Moment {
    const OPERANDS: [&'static str; 3] = ["moment", "gradient", "parameter"];

    fn run<T: WithDType + Sqrt>(&self, dst: &mut [T], g: &[T], p: &[T]) {
        let beta = if self.second {
            self.k.beta2
        } else {
            self.k.beta1
        };
        let (keep, take) = (T::from_f64(beta), T::from_f64(1.0 - beta));
        let l2 = T::from_f64(self.k.l2);
        let second = self.second;
        dst.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK).zip(p.par_chunks(CHUNK)))
            .for_each(|(d, (g, p))| {
                for ((d, &g), &p) in d.iter_mut().zip(g).zip(p) {
                    let g = g + l2 * p;
                    let g = if second { g * g } else { g };
                    *d = *d * keep + g * take;
                }
            });
    }
}

impl InplaceOp3 for Moment {
    fn name(&self) -> &'static str {
        "salient-adam-moment"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        ps: &CpuStorage,
        pl: &Layout,
    ) -> Result<()> {
        apply(self, (dst, dst_l), (gs, gl), (ps, pl))
    }
}

/// Square root for the two float types the passes run on.
trait Sqrt {
    fn sqrt(self) -> Self;
}

impl Sqrt for f32 {
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Sqrt for f64 {
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// `p ← decay · p − step_size · m / (sqrt(v) / sqrt(1 − β2^t) + eps)`; applied to the parameter,
/// with sources `(m, v)`.
struct ParamUpdate {
    k: StepConstants,
}

impl Pass for ParamUpdate {
    const OPERANDS: [&'static str; 3] = ["parameter", "first moment", "second moment"];

    fn run<T: WithDType + Sqrt>(&self, p: &mut [T], m: &[T], v: &[T]) {
        let k = self.k;
        let decay = T::from_f64(k.decay_factor);
        let inv_bc2 = T::from_f64(1.0 / k.bias_correction2_sqrt);
        let eps = T::from_f64(k.eps);
        let step_size = T::from_f64(k.step_size);
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks(CHUNK).zip(v.par_chunks(CHUNK)))
            .for_each(|(p, (m, v))| {
                for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
                    let denom = v.sqrt() * inv_bc2 + eps;
                    *p = *p * decay - (m / denom) * step_size;
                }
            });
    }
}

impl InplaceOp3 for ParamUpdate {
    fn name(&self) -> &'static str {
        "salient-adam-param"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        ms: &CpuStorage,
        ml: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<()> {
        apply(self, (dst, dst_l), (ms, ml), (vs, vl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The in-place passes against the same update written as candle ops, for both kinds of
    /// weight decay: bit-identical, since both round the same operations in the same order.
    #[test]
    fn in_place_step_equals_the_candle_op_formula() -> Result<()> {
        let dev = Device::Cpu;
        let n = 3 * CHUNK + 17;
        let ramp = |a: f32, b: f32| {
            Tensor::from_vec(
                (0..n).map(|i| (i as f32 * a).sin() * b).collect::<Vec<_>>(),
                n,
                &dev,
            )
        };
        for (l2, decay) in [(0.0, 1.0), (0.01, 1.0), (0.0, 1.0 - 1e-4)] {
            let k = StepConstants {
                beta1: 0.9,
                beta2: 0.99,
                eps: 1e-8,
                step_size: 1e-3 / (1.0 - 0.9f64.powi(3)),
                bias_correction2_sqrt: (1.0 - 0.99f64.powi(3)).sqrt(),
                l2,
                decay_factor: decay,
            };
            let (p, g, m, v) = (
                ramp(0.37, 1.0)?,
                ramp(0.11, 0.1)?,
                ramp(0.5, 0.01)?,
                ramp(0.7, 1e-4)?.abs()?,
            );
            let gl2 = (&g + p.affine(l2, 0.0)?)?;
            let m_ref = ((&m * k.beta1)? + (&gl2 * (1.0 - k.beta1))?)?;
            let v_ref = ((&v * k.beta2)? + (gl2.sqr()? * (1.0 - k.beta2))?)?;
            let denom = ((v_ref.sqrt()? / k.bias_correction2_sqrt)? + k.eps)?;
            let p_ref = (p.affine(decay, 0.0)? - ((&m_ref / denom)? * k.step_size)?)?;
            let (p2, m2, v2) = (p.copy()?, m.copy()?, v.copy()?);
            step(&p2, &g, &m2, &v2, k)?;
            for (got, want) in [(&m2, &m_ref), (&v2, &v_ref), (&p2, &p_ref)] {
                // Exact equality of the values (a NaN never equals itself).
                let (got, want) = (got.to_vec1::<f32>()?, want.to_vec1::<f32>()?);
                assert_eq!(got, want, "l2 {l2} decay {decay}");
            }
        }
        Ok(())
    }
}
