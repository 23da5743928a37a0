//! A convolution followed by BatchNorm and an activation (optionally joined with a residual first):
//! the unit every layer of the network is built from.
//!
//! Where BatchNorm uses its running statistics (eval mode, frozen layers) and nothing needs a
//! gradient, the three run as one kernel ([`kernels::conv_affine_act`]): the affine map, residual
//! and activation are applied to each block of the convolution's output while it is in cache, with
//! no autograd graph and no intermediate tensors. Otherwise they are composed from the separate ops.

use candle_core::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::conv::Conv2d;
use crate::kernels::{self, Activation};
use crate::{Mode, ModelError};

pub(crate) struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBn {
    pub fn new(conv: Conv2d, bn: BatchNorm2d) -> Self {
        Self { conv, bn }
    }

    /// `act(bn(conv(x)))`.
    pub fn forward(&self, x: &Tensor, mode: Mode, act: Activation) -> Result<Tensor, ModelError> {
        self.run(&[x], mode, act, None)
    }

    /// `act(bn(conv(cat([a, b], 1))))`: the decoder's join of upsampled features and a skip
    /// connection. The fused kernel never builds the concatenation of a 1×1 convolution's input.
    pub fn forward_cat(
        &self,
        a: &Tensor,
        b: &Tensor,
        mode: Mode,
        act: Activation,
    ) -> Result<Tensor, ModelError> {
        self.run(&[a, b], mode, act, None)
    }

    /// `relu(bn(conv(x)) + residual)`: a bottleneck's last layer joined with its skip connection.
    pub fn forward_add_relu(
        &self,
        x: &Tensor,
        mode: Mode,
        residual: &Tensor,
    ) -> Result<Tensor, ModelError> {
        self.run(&[x], mode, Activation::RELU, Some(residual))
    }

    /// `act(bn(conv(cat(parts, 1))) + residual)`; with a residual, `act` is ReLU.
    fn run(
        &self,
        parts: &[&Tensor],
        mode: Mode,
        act: Activation,
        residual: Option<&Tensor>,
    ) -> Result<Tensor, ModelError> {
        // Without a residual the activation goes with the BatchNorm; with one, after the join.
        let bn_act = if residual.is_some() {
            Activation::IDENTITY
        } else {
            act
        };
        let join = |y: Tensor| -> Result<Tensor, ModelError> {
            match residual {
                Some(r) => Ok(kernels::add_relu(&y, r)?),
                None => Ok(y),
            }
        };
        let joined = || -> candle_core::Result<Tensor> {
            match parts {
                [x] => Ok((*x).clone()),
                [a, b] => kernels::cat_channels(a, b),
                _ => candle_core::bail!("ConvBn joins at most two inputs, got {}", parts.len()),
            }
        };
        let Some((scale, shift)) = self.bn.running_affine(mode)? else {
            let y = self.conv.forward(&joined()?)?;
            return join(self.bn.forward_batch_stats(&y, bn_act)?);
        };
        let weight = match mode {
            Mode::Eval => self.conv.weight().detach(),
            Mode::Train => self.conv.weight().clone(),
        };
        if parts.iter().all(|p| self.conv.computes_in(p.dtype())) {
            let fused = kernels::cat_conv_affine_act(
                parts,
                &weight,
                self.conv.spec(),
                &scale,
                &shift,
                act,
                residual,
            )?;
            if let Some(y) = fused {
                return Ok(y);
            }
        }
        let y = self.conv.forward_with(&joined()?, &weight)?;
        join(kernels::affine_act(&y, &scale, &shift, bn_act)?)
    }
}
