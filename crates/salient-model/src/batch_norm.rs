//! BatchNorm2d with PyTorch's semantics (eps 1e-5, momentum 0.1).
//!
//! Train mode normalises with the batch's biased variance and updates the running statistics in
//! place with the *unbiased* variance, as PyTorch does. Eval mode, and frozen layers in any mode, use
//! the running statistics as a per-channel affine map, which [`crate::conv_bn::ConvBn`] applies
//! inside the convolution where it can.

use candle_core::{Tensor, Var};

use crate::kernels::{self, Activation};
use crate::store::{Role, TensorStore};
use crate::{Mode, ModelError};

const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

pub(crate) struct BatchNorm2d {
    name: String,
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    /// False for frozen layers: they never use batch statistics.
    trainable: bool,
}

impl BatchNorm2d {
    pub fn new(store: &TensorStore, prefix: &str) -> candle_core::Result<Self> {
        let weight_name = format!("{prefix}.weight");
        Ok(Self {
            name: prefix.to_string(),
            weight: store.compute(&weight_name)?,
            bias: store.compute(&format!("{prefix}.bias"))?,
            running_mean: store.var(&format!("{prefix}.running_mean"))?,
            running_var: store.var(&format!("{prefix}.running_var"))?,
            trainable: store.slot(&weight_name)?.role == Role::Trainable,
        })
    }

    /// BatchNorm with running statistics as the per-channel affine map `(scale, shift)`, with
    /// `scale = w / sqrt(var + eps)` and `shift = b − mean · scale`; `None` where `mode` normalises
    /// with the batch's statistics instead (training mode, trainable layer). In eval mode the
    /// parameters are detached: nothing computed in eval mode needs their gradients.
    pub fn running_affine(&self, mode: Mode) -> candle_core::Result<Option<(Tensor, Tensor)>> {
        if mode == Mode::Train && self.trainable {
            return Ok(None);
        }
        let (weight, bias) = match mode {
            Mode::Eval => (self.weight.detach(), self.bias.detach()),
            Mode::Train => (self.weight.clone(), self.bias.clone()),
        };
        let mean = self.running_mean.as_detached_tensor();
        let var = self.running_var.as_detached_tensor();
        let scale = (weight * (var + EPS)?.sqrt()?.recip()?)?;
        let shift = (bias - (mean * &scale)?)?;
        Ok(Some((scale, shift)))
    }

    /// `act(bn(x))` with the batch's statistics (fused on CPU), updating the running statistics.
    pub fn forward_batch_stats(&self, x: &Tensor, act: Activation) -> Result<Tensor, ModelError> {
        let (n, _, h, w) = x.dims4()?;
        let count = n * h * w;
        if count < 2 {
            return Err(ModelError::BatchTooSmall(self.name.clone()));
        }
        let (y, mean, var) = kernels::batch_norm_train(x, &self.weight, &self.bias, EPS, act)?;
        self.update_running_stats(&mean, &var, count)?;
        Ok(y)
    }

    fn update_running_stats(
        &self,
        batch_mean: &Tensor,
        batch_var: &Tensor,
        count: usize,
    ) -> candle_core::Result<()> {
        let unbiased = (batch_var * (count as f64 / (count - 1) as f64))?;
        let mean = self.running_mean.as_detached_tensor();
        let var = self.running_var.as_detached_tensor();
        let new_mean = ((mean * (1.0 - MOMENTUM))? + (batch_mean * MOMENTUM)?)?;
        let new_var = ((var * (1.0 - MOMENTUM))? + (unbiased * MOMENTUM)?)?;
        self.running_mean.set(&new_mean)?;
        self.running_var.set(&new_var)
    }
}
