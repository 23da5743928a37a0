//! Freeze policies: which leading part of the backbone stays fixed during training.
//!
//! Frozen tensors are constants: they get no gradient and no optimiser state, and their BatchNorm
//! layers always run in inference mode (running statistics), even in [`crate::Mode::Train`]. This
//! deliberately differs from the seed, whose frozen BatchNorm layers stayed in train mode and kept
//! drifting their running statistics while their weights were fixed.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;

/// How much of the backbone is frozen, from nothing to all of it. Each policy freezes everything the
/// previous one does plus one more stage.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FreezePolicy {
    /// Everything trains.
    None,
    /// `conv1` and `bn1` are frozen.
    Stem,
    /// The stem and `layer1` are frozen.
    Layer1,
    /// The stem, `layer1` and `layer2` are frozen: the seed's choice.
    #[default]
    Layer2,
    /// The stem and `layer1..=layer3` are frozen.
    Layer3,
    /// The whole ResNet50 is frozen; only the decoder trains.
    Backbone,
}

impl FreezePolicy {
    /// Every policy, from least to most frozen.
    pub const ALL: [FreezePolicy; 6] = [
        FreezePolicy::None,
        FreezePolicy::Stem,
        FreezePolicy::Layer1,
        FreezePolicy::Layer2,
        FreezePolicy::Layer3,
        FreezePolicy::Backbone,
    ];

    /// The policy's name as written on the command line and in checkpoint metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            FreezePolicy::None => "none",
            FreezePolicy::Stem => "stem",
            FreezePolicy::Layer1 => "layer1",
            FreezePolicy::Layer2 => "layer2",
            FreezePolicy::Layer3 => "layer3",
            FreezePolicy::Backbone => "backbone",
        }
    }

    /// Whether the tensor with this (seed-naming) name is frozen under the policy.
    pub fn is_frozen(self, tensor_name: &str) -> bool {
        let module = tensor_name.split('.').next().unwrap_or("");
        let depth = match module {
            "conv1" | "bn1" => FreezePolicy::Stem,
            "layer1" => FreezePolicy::Layer1,
            "layer2" => FreezePolicy::Layer2,
            "layer3" => FreezePolicy::Layer3,
            "layer4" => FreezePolicy::Backbone,
            _ => return false, // the decoder always trains
        };
        depth <= self
    }
}

impl fmt::Display for FreezePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FreezePolicy {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FreezePolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| ModelError::UnknownFreezePolicy(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in FreezePolicy::ALL {
            assert_eq!(p.to_string().parse::<FreezePolicy>().unwrap(), p);
        }
        assert!("layer5".parse::<FreezePolicy>().is_err());
        assert_eq!(FreezePolicy::default(), FreezePolicy::Layer2);
    }

    #[test]
    fn seed_policy_freezes_stem_to_layer2() {
        let p = FreezePolicy::Layer2;
        assert!(p.is_frozen("conv1.weight"));
        assert!(p.is_frozen("bn1.running_mean"));
        assert!(p.is_frozen("layer2.3.bn3.bias"));
        assert!(!p.is_frozen("layer3.0.conv1.weight"));
        assert!(!p.is_frozen("conv_1.0.weight"));
        assert!(!FreezePolicy::Backbone.is_frozen("deconv0.1.weight"));
        assert!(FreezePolicy::Backbone.is_frozen("layer4.2.conv3.weight"));
        assert!(!FreezePolicy::None.is_frozen("conv1.weight"));
    }
}
