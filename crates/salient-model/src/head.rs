//! Which output head the network ends in: the seed's saliency map or a fixation density.

use std::fmt;
use std::str::FromStr;

use crate::ModelError;

/// Metadata key: the head a checkpoint's network ends in (`seed` or `density`). Files without it
/// (PyTorch `state_dict`s of the seed) hold the seed head.
pub const META_HEAD: &str = "salient.head";

/// The network's last stage, after the shared encoder and decoder.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Head {
    /// The seed's `Conv(32, 1, 3) → BatchNorm → LeakyReLU(0.2) → sigmoid`: a saliency map in
    /// `(0, 1)`, parity-tested against the seed's PyTorch model.
    #[default]
    Seed,
    /// A fixation density (DeepGaze-style, see [`crate::density`]): a 3×3 readout to one logit
    /// map, a learned Gaussian blur, a learned centre-bias log-prior and a log-softmax over the
    /// pixels; the output is the natural-log density, `Σ exp = 1` per image.
    Density,
}

impl Head {
    pub const ALL: [Head; 2] = [Head::Seed, Head::Density];

    /// The name used on the command line, in configs and in checkpoint metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Head::Seed => "seed",
            Head::Density => "density",
        }
    }

    /// What [`crate::SaliencyNet::forward`] returns with this head.
    pub fn output_description(self) -> &'static str {
        match self {
            Head::Seed => "saliency map in (0, 1)",
            Head::Density => "log fixation density (natural log, sums to 1 over the pixels)",
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Head {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Head::ALL
            .into_iter()
            .find(|h| h.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                ModelError::Config(format!("unknown head `{s}` (expected seed or density)"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_is_the_seed() {
        for h in Head::ALL {
            assert_eq!(h.to_string().parse::<Head>().unwrap(), h);
        }
        assert_eq!(Head::default(), Head::Seed);
        assert!("sigmoid".parse::<Head>().is_err());
    }
}
