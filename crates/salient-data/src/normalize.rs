//! How 8-bit pixels become network inputs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// ImageNet channel means and standard deviations (RGB, on the 0..1 scale) that torchvision's
/// pretrained ResNet50 weights expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Pixel scaling applied to images (maps are always `value / max` in `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// `(x / 255 - mean) / std` per channel: what the pretrained backbone was trained on.
    #[default]
    Imagenet,
    /// `x / 255`: the seed's scaling.
    Unit,
}

impl Normalize {
    /// Per-channel `(scale, offset)` so that `value = byte * scale + offset`: one multiply-add per
    /// pixel in the hot loop.
    pub fn affine(self) -> [(f32, f32); 3] {
        match self {
            Normalize::Unit => [(1.0 / 255.0, 0.0); 3],
            Normalize::Imagenet => std::array::from_fn(|c| {
                (
                    1.0 / (255.0 * IMAGENET_STD[c]),
                    -IMAGENET_MEAN[c] / IMAGENET_STD[c],
                )
            }),
        }
    }

    /// Undoes the scaling: back to `0..=255` floats (for drawing inputs).
    pub fn invert(self, channel: usize, value: f32) -> f32 {
        let (scale, offset) = self.affine()[channel];
        (value - offset) / scale
    }
}

impl fmt::Display for Normalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Normalize::Imagenet => "imagenet",
            Normalize::Unit => "unit",
        })
    }
}

impl FromStr for Normalize {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "imagenet" => Ok(Normalize::Imagenet),
            "unit" => Ok(Normalize::Unit),
            other => Err(DataError::Config(format!(
                "unknown normalisation '{other}' (expected imagenet or unit)"
            ))),
        }
    }
}
