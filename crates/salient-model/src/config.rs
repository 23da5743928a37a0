//! What a network is built with, and which mode a forward pass runs in.

use crate::{FreezePolicy, Head, ModelError, Precision};

/// Build-time choices for [`crate::SaliencyNet`]. The default is the seed's: `layer2` frozen, no
/// dropout, f32 throughout, the seed's head.
///
/// The compute precision lives here, beside the other choices of how the network runs, rather than
/// in a constructor argument: every path that builds a network (fresh, from a checkpoint, resumed)
/// already takes a `ModelConfig`, and `#[serde(default)]` keeps configs written before it existed
/// loading as f32. It is not a property of the weights (always f32): a checkpoint trained in bf16
/// predicts in f32 and vice versa.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Which leading part of the backbone is frozen.
    pub freeze: FreezePolicy,
    /// Dropout probability after each decoder `Conv` block (train mode only; the seed uses 0).
    pub dropout: f32,
    /// Dtype of the convolutions and 1×1 matrix products; everything else stays f32.
    pub precision: Precision,
    /// The output head. A checkpoint's own head overrides it when one is loaded
    /// ([`crate::SaliencyNet::load_checkpoint`]).
    pub head: Head,
}

impl ModelConfig {
    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }
}

/// Train mode: trainable BatchNorm layers use batch statistics and update their running statistics,
/// dropout is active. Eval mode: running statistics, no dropout, and parameters used detached, so
/// that an eval forward records no autograd graph (as under `torch.no_grad`; an input that tracks
/// gradients still gets them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}
