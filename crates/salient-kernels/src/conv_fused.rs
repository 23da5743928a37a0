//! A convolution, BatchNorm with running statistics, an optional residual and the activation in one
//! call, for operands that need no gradient (inference, a frozen prefix). There is no autograd op to
//! record, so this is a plain function over the CPU storages: the result is a fresh tensor without
//! history, and the epilogue runs inside the convolution while its output is in cache.
//!
//! The input may come in parts, to be read as their concatenation along channels (the decoder's
//! `cat` of upsampled features and skip connection): a 1×1 convolution then multiplies each part by
//! its columns of the weight, adding into one output, and never builds the concatenation.

use candle_core::{bail, Device, Result, Shape, Storage, Tensor};

use super::cpu_storage::{contiguous, float_dispatch};
use super::epilogue::Epilogue;
use super::gemm_conv::Thresholds;
use super::{Activation, ConvSpec};

/// The operands of one fused call (see [`super::conv_affine_act`]) besides the input and weight.
pub(super) struct Fused<'a> {
    pub spec: ConvSpec,
    pub scale: &'a Tensor,
    pub shift: &'a Tensor,
    pub residual: Option<&'a Tensor>,
    pub act: Activation,
    /// [`Thresholds::PRODUCTION`] outside tests.
    pub thresholds: Thresholds,
}

/// `(N, C, H, W)` of the concatenation of `parts` along channels, or an error naming the mismatch.
fn joined_dims(parts: &[Tensor]) -> Result<Vec<usize>> {
    let Some(first) = parts.first() else {
        bail!("fused convolution: no input");
    };
    let mut dims = first.dims().to_vec();
    if dims.len() != 4 {
        bail!("convolution input must be 4-D (N, C, H, W), got shape {dims:?}");
    }
    for p in &parts[1..] {
        let d = p.dims();
        if d.len() != 4 || d[0] != dims[0] || d[2..] != dims[2..] {
            bail!(
                "fused convolution: input parts of shapes {dims:?} and {d:?} cannot be joined along channels"
            );
        }
        dims[1] += d[1];
    }
    Ok(dims)
}

impl Fused<'_> {
    /// `act(conv(cat(parts, 1), w) · scale + shift + residual)`; every operand must be a contiguous
    /// CPU tensor.
    pub fn run(&self, parts: &[Tensor], w: &Tensor) -> Result<Tensor> {
        let ConvSpec {
            kind,
            stride,
            padding,
        } = self.spec;
        let plan = kind.plan(&joined_dims(parts)?, w.dims(), stride, padding)?;
        let out_dims = plan.out_shape.dims().to_vec();
        let channels = out_dims[1];
        for (t, what) in [(self.scale, "scale"), (self.shift, "shift")] {
            if t.dims() != [channels] {
                bail!(
                    "fused convolution: {what} has shape {:?}, expected [{channels}] (one per output channel)",
                    t.dims()
                );
            }
        }
        if let Some(r) = self.residual {
            if r.dims() != out_dims.as_slice() {
                bail!(
                    "fused convolution: residual has shape {:?}, the output {out_dims:?}",
                    r.dims()
                );
            }
        }
        // Operand order: weight, scale, shift, residual (if any), then the input parts.
        let mut operands = vec![
            (w, "convolution weight"),
            (self.scale, "scale"),
            (self.shift, "shift"),
        ];
        operands.extend(self.residual.map(|r| (r, "residual")));
        let first_part = operands.len();
        operands.extend(parts.iter().map(|p| (p, "convolution input")));
        let guards: Vec<_> = operands
            .iter()
            .map(|(t, what)| {
                let (storage, layout) = t.storage_and_layout();
                (storage, layout, *what)
            })
            .collect();
        let cpu = guards
            .iter()
            .map(|(storage, layout, what)| match &**storage {
                Storage::Cpu(s) => Ok((s, *layout, *what)),
                _ => bail!("fused convolution: {what} is not on the CPU"),
            })
            .collect::<Result<Vec<_>>>()?;
        let out = float_dispatch!("fused convolution", [cpu[0].0, cpu[1].0, cpu[2].0], |T| {
            let slice = |i: usize| contiguous::<T>(cpu[i].0, cpu[i].1, cpu[i].2);
            let ep = Epilogue {
                scale: slice(1)?,
                shift: slice(2)?,
                residual: if self.residual.is_some() {
                    Some(slice(3)?)
                } else {
                    None
                },
                slope: T::from_f64(self.act.negative_slope()),
            };
            let inputs = (first_part..cpu.len())
                .zip(parts)
                .map(|(i, p)| Ok((slice(i)?, p.dim(1)?)))
                .collect::<Result<Vec<_>>>()?;
            let out = kind.forward_parts(&plan, &inputs, slice(0)?, Some(&ep), &self.thresholds);
            Tensor::from_vec(out, Shape::from(out_dims.clone()), &Device::Cpu)?
        });
        Ok(out)
    }
}
