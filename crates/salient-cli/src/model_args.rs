//! The options every command that runs a checkpoint shares (`predict`, `eval --checkpoint`), and
//! loading the model with them.

use std::path::Path;

use anyhow::{bail, Context};
use salient_data::Normalize;
use salient_train::device::{describe, DeviceSpec};
use salient_train::{InputSize, Overrides, Predictor};

#[derive(clap::Args)]
pub struct ModelArgs {
    /// Network input size HxW (default: from the checkpoint's metadata).
    #[arg(long, value_name = "HxW")]
    pub size: Option<InputSize>,
    /// imagenet or unit (default: from the checkpoint's metadata).
    #[arg(long)]
    pub normalize: Option<Normalize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Images per forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
}

impl ModelArgs {
    /// Loads `checkpoint` with these overrides on the asked device, and says what it runs with
    /// (and which settings fell back to the seed's for want of metadata).
    pub fn load(&self, checkpoint: &Path) -> anyhow::Result<Predictor> {
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        let device = self.device.open()?;
        let overrides = Overrides {
            size: self.size,
            normalize: self.normalize,
        };
        let predictor = Predictor::load(checkpoint, overrides, &device)
            .with_context(|| format!("loading {}", checkpoint.display()))?;
        eprintln!(
            "model input {} normalize {} on {}",
            predictor.size(),
            predictor.normalize(),
            describe(&device)
        );
        if !predictor.defaulted.is_empty() {
            eprintln!(
                "note: the checkpoint has no {} metadata; using the seed's ({} {}); override with --size/--normalize",
                predictor.defaulted.join(" or "),
                predictor.size(),
                predictor.normalize()
            );
        }
        Ok(predictor)
    }
}
