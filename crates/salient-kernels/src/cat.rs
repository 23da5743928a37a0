//! Channel concatenation of two activations whose backward pass skips constant inputs.
//!
//! candle's `cat` backward starts a zeroed gradient for every input and adds its slice of the
//! output gradient, tracked or not. In the decoder the skip connections from a frozen encoder
//! prefix are constants, so that was three activation-sized allocations and passes per training
//! step whose results nobody read. This op returns a contiguous gradient slice for each tracked
//! input only.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu_storage::{contiguous, float_dispatch};

/// `cat([a, b], 1)` for `a` `(N, Ca, …)` and `b` `(N, Cb, …)` with equal other dimensions.
pub(super) struct CatChannelsOp;

fn run<T: WithDType>(a: &[T], b: &[T], n: usize) -> Vec<T> {
    let (per_a, per_b) = (a.len() / n.max(1), b.len() / n.max(1));
    let mut out = vec![T::zero(); a.len() + b.len()];
    out.par_chunks_mut((per_a + per_b).max(1))
        .zip(a.par_chunks(per_a.max(1)).zip(b.par_chunks(per_b.max(1))))
        .for_each(|(o, (a, b))| {
            o[..per_a].copy_from_slice(a);
            o[per_a..].copy_from_slice(b);
        });
    out
}

impl CustomOp2 for CatChannelsOp {
    fn name(&self) -> &'static str {
        "salient-cat-channels"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (da, db) = (l1.dims(), l2.dims());
        if da.len() < 2 || da.len() != db.len() || da[0] != db[0] || da[2..] != db[2..] {
            bail!("cat along channels: shapes {da:?} and {db:?} do not fit");
        }
        let mut dims = da.to_vec();
        dims[1] += db[1];
        let storage = float_dispatch!(self.name(), [s1, s2], |T| {
            let a = contiguous::<T>(s1, l1, "cat's first operand")?;
            let b = contiguous::<T>(s2, l2, "cat's second operand")?;
            T::to_cpu_storage_owned(run(a, b, da[0]))
        });
        Ok((storage, Shape::from(dims)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ca = a.dim(1)?;
        let da = if a.track_op() {
            Some(grad.narrow(1, 0, ca)?.contiguous()?)
        } else {
            None
        };
        let db = if b.track_op() {
            Some(grad.narrow(1, ca, b.dim(1)?)?.contiguous()?)
        } else {
            None
        };
        Ok((da, db))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    #[test]
    fn matches_candle_cat_and_skips_constant_inputs() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let a = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 2, 4, 5), &dev)?)?;
        let b = Tensor::randn(0f32, 1.0, (3, 5, 4, 5), &dev)?;
        let ours = super::super::cat_channels(a.as_tensor(), &b)?;
        let reference = Tensor::cat(&[a.as_tensor(), &b], 1)?;
        // Exact equality of the values (a NaN never equals itself).
        let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        assert_eq!(values(&ours)?, values(&reference)?);
        let weights = Tensor::randn(0f32, 1.0, (3, 7, 4, 5), &dev)?;
        let grads = (ours * &weights)?.sum_all()?.backward()?;
        let expected = weights.narrow(1, 0, 2)?;
        let got = grads.get(a.as_tensor()).expect("a is tracked");
        assert_eq!(values(got)?, values(&expected)?);
        assert!(grads.get(&b).is_none(), "a constant input gets no gradient");
        let bad = Tensor::zeros((3, 5, 4, 6), candle_core::DType::F32, &dev)?;
        assert!(super::super::cat_channels(a.as_tensor(), &bad).is_err());
        Ok(())
    }
}
