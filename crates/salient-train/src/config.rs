//! The training configuration: one serde struct whose defaults are the seed's, read from TOML,
//! overridden by command-line flags, validated once, and written back resolved into the run directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use salient_data::{LayoutKind, MapSigma, Normalize, Pipeline};
use salient_model::{FreezePolicy, Head, Precision};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::loss::LossSpec;
use crate::schedule::{LrSchedule, Schedule};

/// Input size of the network as height × width (both multiples of 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSize {
    pub height: usize,
    pub width: usize,
}

impl InputSize {
    /// Checks the U-Net constraint: five stride-2 stages need multiples of 32.
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.height == 0 || self.width == 0 || self.height % 32 != 0 || self.width % 32 != 0 {
            return Err(TrainError::Config(format!(
                "size {self}: height and width must be positive multiples of 32"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for InputSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

impl FromStr for InputSize {
    type Err = TrainError;
    /// Accepts `HxW` (e.g. `256x320`) or a single number for a square input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TrainError::Config(format!("size {s:?}: expected HxW, e.g. 256x256"));
        let parse = |v: &str| v.trim().parse::<usize>().map_err(|_| bad());
        let (height, width) = match s.split_once(['x', 'X']) {
            Some((h, w)) => (parse(h)?, parse(w)?),
            None => {
                let side = parse(s)?;
                (side, side)
            }
        };
        Ok(InputSize { height, width })
    }
}

impl Serialize for InputSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for InputSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where the backbone's weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackboneInit {
    /// ImageNet weights from `weights` (torchvision naming), as the seed.
    Pretrained,
    /// PyTorch's default initialisation from the run's seed.
    Random,
}

impl FromStr for BackboneInit {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretrained" => Ok(Self::Pretrained),
            "random" => Ok(Self::Random),
            _ => Err(TrainError::Config(format!(
                "backbone init {s:?}: expected pretrained or random"
            ))),
        }
    }
}

/// Which validation figure picks the `best` checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BestBy {
    /// Highest validation CC.
    Cc,
    /// Lowest validation loss (the training loss on the validation split).
    Loss,
    /// Lowest validation KLD.
    Kld,
    /// Highest validation NSS.
    Nss,
    /// Highest validation SIM.
    Sim,
}

impl BestBy {
    /// True when a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, BestBy::Cc | BestBy::Nss | BestBy::Sim)
    }

    /// The key of the figure in validation records.
    pub fn key(self) -> &'static str {
        match self {
            BestBy::Cc => "cc",
            BestBy::Loss => "loss",
            BestBy::Kld => "kld",
            BestBy::Nss => "nss",
            BestBy::Sim => "sim",
        }
    }
}

impl FromStr for BestBy {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cc" => Ok(Self::Cc),
            "loss" => Ok(Self::Loss),
            "kld" => Ok(Self::Kld),
            "nss" => Ok(Self::Nss),
            "sim" => Ok(Self::Sim),
            _ => Err(TrainError::Config(format!(
                "best_by {s:?}: expected cc, loss, kld, nss or sim"
            ))),
        }
    }
}

/// Every setting of a training run. Field docs are the config-file documentation (docs/train.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Dataset root (any layout salient-data discovers).
    pub data: PathBuf,
    /// Run directory; empty = a new folder under `runs/`.
    pub out: Option<PathBuf>,
    /// Number of epochs (seed: 5).
    pub epochs: usize,
    /// Images per step (seed: 4); the last incomplete batch is dropped, as the seed's DataLoader.
    pub batch_size: usize,
    /// Network input size `HxW` (seed: 256x256).
    pub size: InputSize,
    /// Output head: `seed` (the seed's saliency map, default) or `density` (a fixation density:
    /// log-softmax with a learned blur and centre-bias prior).
    pub head: Head,
    /// Loss: `mse` (seed), `bce`, `kld`, `cc`, `nss`, `sim`, `nll`, or a weighted sum such as
    /// `kld+0.5cc` or `nll+0.5cc`. Absent: the head's default (`mse` for seed, `nll` for density).
    pub loss: Option<LossSpec>,
    /// Adam learning rate (seed: 1e-3).
    pub lr: f64,
    /// Adam betas (seed: 0.9, 0.99).
    pub betas: [f64; 2],
    /// Adam epsilon (PyTorch default 1e-8).
    pub eps: f64,
    /// L2 weight decay added to the gradient, as PyTorch's Adam (0 = off, the seed's).
    pub weight_decay: f64,
    /// Learning-rate schedule: `constant` (seed), `step` or `cosine`.
    pub schedule: Schedule,
    /// `step` schedule: epochs between decays.
    pub step_epochs: usize,
    /// `step` schedule: decay factor.
    pub gamma: f64,
    /// `cosine` schedule: learning rate reached at the last step.
    pub min_lr: f64,
    /// Clip the global gradient L2 norm to this value (absent = no clipping).
    pub clip_grad: Option<f64>,
    /// Frozen part of the network: none | stem | layer1 | layer2 | layer3 | backbone (seed: layer2).
    pub freeze: FreezePolicy,
    /// Decoder dropout probability (seed: 0).
    pub dropout: f64,
    /// Backbone initialisation: `pretrained` (from `weights`) or `random`.
    pub backbone_init: BackboneInit,
    /// Backbone safetensors file in torchvision naming (used when `backbone_init = "pretrained"`).
    pub weights: PathBuf,
    /// Input normalisation: `imagenet` (default, what the pretrained backbone expects) or `unit` (seed).
    pub normalize: Normalize,
    /// Seed of everything random: initialisation, shuffling, augmentation.
    pub seed: u64,
    /// Stop after this many optimiser steps in total (absent = run all epochs).
    pub max_steps: Option<u64>,
    /// Device: `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when built with it and present).
    pub device: String,
    /// Compute precision of the convolutions: `f32` (default, any device), `bf16` or `f16` (CUDA
    /// only; weights, BatchNorm and optimiser state stay f32).
    pub precision: Precision,
    /// Skip unreadable or mismatched pairs (and list them) instead of stopping.
    pub skip_bad: bool,
    /// Also keep `epoch-N.safetensors` every N epochs (0 = only `best` and `last`).
    pub checkpoint_every: usize,
    /// Validation figure that selects `best`: cc | loss | kld | nss | sim.
    pub best_by: BestBy,
    /// Steps per `metrics.jsonl` step record (and progress refresh).
    pub log_every: u64,
    /// Fraction of images used for validation when the dataset has no validation split.
    pub val_fraction: f64,
    /// Force the dataset layout instead of detecting it (seed, salicon, stimuli, mit1003,
    /// cat2000, osie, csv).
    pub layout: Option<LayoutKind>,
    /// Folder of split list files `train.txt` / `val.txt` for unsplit layouts (default
    /// `<data>/splits` when it exists).
    pub split_dir: Option<PathBuf>,
    /// Blur that builds maps from fixations where the dataset has none: pixels (`24`) or a
    /// percentage of the larger side (`3%`); default per layout.
    pub map_sigma: Option<MapSigma>,
    /// Decode/augment worker threads (0 = all cores).
    pub threads: usize,
    /// Training augmentation (docs/data.md): `[[pipeline]]` op tables, or the compact form
    /// (`train`, `val`, `resize,horizontal_flip:0.5,rotate:0.6`). Default: the seed's `train`.
    pub pipeline: Pipeline,
    /// Validation preprocessing, same forms. Default: `val` (resize only).
    pub val_pipeline: Pipeline,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: PathBuf::from("data/sample"),
            out: None,
            epochs: 5,
            batch_size: 4,
            size: InputSize {
                height: 256,
                width: 256,
            },
            head: Head::Seed,
            loss: None,
            lr: 1e-3,
            betas: [0.9, 0.99],
            eps: 1e-8,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            step_epochs: 2,
            gamma: 0.1,
            min_lr: 0.0,
            clip_grad: None,
            freeze: FreezePolicy::Layer2,
            dropout: 0.0,
            backbone_init: BackboneInit::Pretrained,
            weights: PathBuf::from("weights/resnet50.safetensors"),
            normalize: Normalize::Imagenet,
            seed: 0,
            max_steps: None,
            device: "auto".to_string(),
            precision: Precision::F32,
            skip_bad: false,
            checkpoint_every: 0,
            best_by: BestBy::Cc,
            log_every: 10,
            val_fraction: 0.1,
            layout: None,
            split_dir: None,
            map_sigma: None,
            threads: 0,
            pipeline: Pipeline::seed_train(),
            val_pipeline: Pipeline::seed_val(),
        }
    }
}

impl TrainConfig {
    /// Reads a TOML config; unknown keys are an error naming them.
    pub fn from_toml_file(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml_str(&text)
            .map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses TOML text (missing keys take the defaults).
    pub fn from_toml_str(text: &str) -> Result<Self, TrainError> {
        toml::from_str(text).map_err(|e| TrainError::Config(e.to_string()))
    }

    /// The resolved config as TOML, as written to `RUN_DIR/config.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("TrainConfig is always representable in TOML")
    }

    /// The loss: the one asked for, else the head's default ([`LossSpec::default_for`]).
    pub fn loss_spec(&self) -> LossSpec {
        self.loss
            .clone()
            .unwrap_or_else(|| LossSpec::default_for(self.head))
    }

    /// The config with every default that depends on another key filled in (the loss), as
    /// written into a run directory.
    pub fn resolved(&self) -> TrainConfig {
        TrainConfig {
            loss: Some(self.loss_spec()),
            ..self.clone()
        }
    }

    /// The learning-rate schedule for a run of `total_steps` steps of `steps_per_epoch` each.
    pub fn lr_schedule(&self, steps_per_epoch: u64, total_steps: u64) -> LrSchedule {
        LrSchedule {
            kind: self.schedule,
            base_lr: self.lr,
            step_epochs: self.step_epochs,
            gamma: self.gamma,
            min_lr: self.min_lr,
            steps_per_epoch,
            total_steps,
        }
    }

    /// Checks every value once, so the loop can trust them.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::Config(msg));
        self.size.validate()?;
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr {}: must be a positive number", self.lr));
        }
        if self.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return bad(format!("betas {:?}: each must be in [0, 1)", self.betas));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad(format!("eps {}: must be positive", self.eps));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight_decay {}: must be >= 0", self.weight_decay));
        }
        if let Some(c) = self.clip_grad {
            if !(c.is_finite() && c > 0.0) {
                return bad(format!("clip_grad {c}: must be positive"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {}: must be in [0, 1)", self.dropout));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!(
                "val_fraction {}: must be in [0, 1)",
                self.val_fraction
            ));
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1".into());
        }
        if self.max_steps == Some(0) {
            return bad("max_steps must be at least 1".into());
        }
        self.lr_schedule(1, 1).validate()?;
        self.loss_spec().check_head(self.head)?;
        crate::device::DeviceSpec::from_str(&self.device)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let c = TrainConfig::default();
        assert_eq!(
            (c.epochs, c.batch_size, c.lr, c.betas),
            (5, 4, 1e-3, [0.9, 0.99])
        );
        assert_eq!(c.size.to_string(), "256x256");
        assert_eq!(c.loss, None);
        assert_eq!(c.loss_spec().to_string(), "mse");
        assert_eq!(c.head, Head::Seed);
        assert_eq!(c.freeze, FreezePolicy::Layer2);
        c.validate().unwrap();
    }

    /// The documented example config is exactly the defaults, so the two cannot drift apart.
    #[test]
    fn example_config_is_the_defaults() {
        let text = include_str!("../../../configs/train.example.toml");
        assert_eq!(
            TrainConfig::from_toml_str(text).unwrap(),
            TrainConfig::default()
        );
    }

    #[test]
    fn toml_round_trip_and_partial_files() {
        let c = TrainConfig::from_toml_str(
            "epochs = 2\nsize = \"64x96\"\nloss = \"kld+0.5cc\"\nprecision = \"bf16\"\n",
        )
        .unwrap();
        assert_eq!(c.epochs, 2);
        assert_eq!(c.precision, Precision::Bf16);
        assert!(c.to_toml().contains("precision = \"bf16\""));
        assert_eq!(
            c.size,
            InputSize {
                height: 64,
                width: 96
            }
        );
        assert_eq!(c.batch_size, 4);
        let back = TrainConfig::from_toml_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    /// Augmentation as data: op tables or the compact form, checked when read.
    #[test]
    fn pipelines_are_read_from_tables_or_text() {
        let c = TrainConfig::from_toml_str(
            "val_pipeline = \"resize\"\n[[pipeline]]\nop = \"resize\"\n[[pipeline]]\nop = \"horizontal_flip\"\np = 0.25\n",
        )
        .unwrap();
        assert_eq!(c.pipeline.to_string(), "resize,horizontal_flip:0.25");
        assert_eq!(c.val_pipeline, Pipeline::seed_val());
        let back = TrainConfig::from_toml_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        let c = TrainConfig::from_toml_str("pipeline = \"resize,rotate:0.6\"\n").unwrap();
        assert_eq!(c.pipeline.to_string(), "resize,rotate:0.6");
        for bad in ["pipeline = \"rotate\"\n", "pipeline = \"resize,warp\"\n"] {
            let e = TrainConfig::from_toml_str(bad).unwrap_err().to_string();
            assert!(e.contains("resize") || e.contains("warp"), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = TrainConfig::from_toml_str("epoch = 2\n").unwrap_err();
        assert!(e.to_string().contains("epoch"), "{e}");
        let e = TrainConfig::from_toml_str("size = \"100x64\"\n").unwrap();
        assert!(e
            .validate()
            .unwrap_err()
            .to_string()
            .contains("multiples of 32"));
        let e = TrainConfig::from_toml_str("precision = \"fp8\"\n").unwrap_err();
        assert!(e.to_string().contains("fp8"), "{e}");
        let e = TrainConfig::from_toml_str("head = \"density\"\nloss = \"mse\"\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("use nll"), "{e}");
        let density = TrainConfig::from_toml_str("head = \"density\"\n").unwrap();
        assert_eq!(density.resolved().loss.unwrap().to_string(), "nll");
        let e = TrainConfig::from_toml_str("head = \"sigmoid\"\n").unwrap_err();
        assert!(e.to_string().contains("sigmoid"), "{e}");
        let e = TrainConfig::from_toml_str("loss = \"mse+foo\"\n").unwrap_err();
        assert!(e.to_string().contains("foo"), "{e}");
        assert!("12y3".parse::<InputSize>().is_err());
    }
}
