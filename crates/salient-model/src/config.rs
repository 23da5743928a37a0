//! What a network is built with, and which mode a forward pass runs in.

use crate::{FreezePolicy, ModelError};

/// Build-time choices for [`crate::SaliencyNet`]. The default is the seed's: `layer2` frozen, no
/// dropout.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Which leading part of the backbone is frozen.
    pub freeze: FreezePolicy,
    /// Dropout probability after each decoder `Conv` block (train mode only; the seed uses 0).
    pub dropout: f32,
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
/// dropout is active. Eval mode: running statistics, no dropout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}
