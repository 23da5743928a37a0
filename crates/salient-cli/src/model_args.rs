//! The options every command that runs a checkpoint shares (`predict`, `eval --checkpoint`), and
//! loading the model with them.

use std::path::Path;

use anyhow::{bail, Context};
use salient_data::Normalize;
use salient_model::Precision;
use salient_train::device::{describe, DeviceSpec};
use salient_train::{InputSize, Overrides, Predictor};

#[derive(clap::Args)]
pub struct ModelArgs {
    /// Size, normalisation, device and precision.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Images per forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
}

impl ModelArgs {
    /// Loads `checkpoint` with these overrides on the asked device, and says what it runs with
    /// (and which settings fell back to the seed's for want of metadata). A precision the device
    /// cannot run is refused before the checkpoint is read.
    pub fn load(&self, checkpoint: &Path) -> anyhow::Result<Predictor> {
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        self.load.load(checkpoint)
    }
}

/// How to run a checkpoint, for commands that batch by their own rules (`serve`): the options of
/// [`ModelArgs`] without `--batch-size`.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Network input size HxW (default: from the checkpoint's metadata).
    #[arg(long, value_name = "HxW")]
    pub size: Option<InputSize>,
    /// imagenet or unit (default: from the checkpoint's metadata).
    #[arg(long)]
    pub normalize: Option<Normalize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Convolution precision: f32 (any device), tf32, bf16 or f16 (CUDA only).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

impl LoadArgs {
    /// See [`ModelArgs::load`].
    pub fn load(&self, checkpoint: &Path) -> anyhow::Result<Predictor> {
        Ok(self.load_on(checkpoint)?.0)
    }

    /// [`LoadArgs::load`], also giving the device as logs name it (`cpu`, `cuda:0`).
    pub fn load_on(&self, checkpoint: &Path) -> anyhow::Result<(Predictor, String)> {
        let device = self.device.open()?;
        self.precision.check_device(&device)?;
        let overrides = Overrides {
            size: self.size,
            normalize: self.normalize,
            precision: self.precision,
        };
        let predictor = Predictor::load(checkpoint, overrides, &device)
            .with_context(|| format!("loading {}", checkpoint.display()))?;
        eprintln!(
            "model input {} normalize {} on {}, precision {}",
            predictor.size(),
            predictor.normalize(),
            describe(&device),
            self.precision
        );
        if !predictor.defaulted.is_empty() {
            eprintln!(
                "note: the checkpoint has no {} metadata; using the seed's ({} {}); override with --size/--normalize",
                predictor.defaulted.join(" or "),
                predictor.size(),
                predictor.normalize()
            );
        }
        Ok((predictor, describe(&device)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        model: ModelArgs,
    }

    #[test]
    fn precision_flag_parses_and_defaults_to_f32() {
        let cli = Cli::try_parse_from(["salient"]).unwrap();
        assert_eq!(cli.model.load.precision, Precision::F32);
        let cli = Cli::try_parse_from(["salient", "--precision", "bf16"]).unwrap();
        assert_eq!(cli.model.load.precision, Precision::Bf16);
        assert!(Cli::try_parse_from(["salient", "--precision", "fp8"]).is_err());
    }

    /// Refused on the CPU before the checkpoint is even opened (it does not exist here).
    #[test]
    fn half_precision_on_the_cpu_is_refused_first() {
        let cli =
            Cli::try_parse_from(["salient", "--device", "cpu", "--precision", "f16"]).unwrap();
        let e = cli
            .model
            .load(Path::new("no/such/checkpoint.safetensors"))
            .err()
            .expect("f16 on the CPU is refused")
            .to_string();
        assert!(e.contains("precision f16 needs a CUDA device"), "{e}");
    }
}
