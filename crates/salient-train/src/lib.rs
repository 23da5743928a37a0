//! # salient-train
//!
//! Everything that turns a model and a dataset into a trained checkpoint, and a checkpoint into maps:
//!
//! - [`config`]: [`TrainConfig`], the TOML config (defaults = the seed's) with validation;
//! - [`loss`]: `mse`, `bce`, `kld`, `cc`, `nss`, `sim`, `nll` and weighted sums (`kld+0.5cc`)
//!   as candle ops, for either head (`salient_model::Head`);
//! - [`density_init`]: a fresh density head's blur σ and centre-bias prior from the training data;
//! - [`optim`]: PyTorch's Adam with exportable moments; [`schedule`]: constant/step/cosine LR;
//!   [`clip`]: global-norm gradient clipping;
//! - [`trainer`]: the loop ([`trainer::train`]): fresh gradients every step, validation every epoch
//!   ([`validate`], metrics from salient-metrics via [`scores`]), `best`/`last`/`epoch-N`
//!   checkpoints, Ctrl-C and NaN handling, exact resume;
//! - [`rundir`]: the run directory layout and its overwrite rules (every file written atomically
//!   by `salient_model::atomic`); [`metrics_log`]: `metrics.jsonl`; [`plot`]: `loss.png` / `metrics.png`;
//!   [`state`]: the train-state file (optimiser moments, position) beside `last`;
//! - [`source`]: what the loop needs from a dataset, and its adapter over salient-data's loader;
//! - [`inference`]: [`inference::Predictor`], maps at the original image size from a checkpoint;
//! - [`overlay`]: OpenCV-exact JET heatmaps, `addWeighted` blending and the seed's triptych;
//! - [`device`]: `cpu` / `cuda[:N]` / `auto`; [`TrainConfig::precision`] and
//!   [`inference::Overrides::precision`] choose the convolutions' dtype (`salient_model::Precision`);
//! - [`bench`]: the model's inference / training-step speed on any device (`salient bench model`,
//!   `cargo xtask bench model`); [`selftest`]: the custom ops and the network on a device against a
//!   reference (`salient selftest`).

pub mod bench;
pub mod clip;
pub mod config;
pub mod density_init;
pub mod device;
pub mod error;
pub mod inference;
pub mod loss;
pub mod metrics_log;
pub mod optim;
pub mod overlay;
pub mod plot;
pub mod rundir;
pub mod schedule;
pub mod scores;
pub mod selftest;
pub mod source;
pub mod state;
pub mod trainer;
pub mod validate;

pub use config::{BackboneInit, BestBy, InputSize, TrainConfig};
pub use density_init::{density_init, DensityInit};
pub use error::TrainError;
pub use inference::{OutputKind, Overrides, Predictor};
pub use loss::{LossKind, LossSpec};
pub use rundir::{OpenMode, RunDir};
pub use schedule::Schedule;
pub use trainer::{train, Observer, Outcome, Plan, RunInputs, Silent, StepEvent};
