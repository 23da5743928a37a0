//! Shared set-up of the training tests: a synthetic dataset in a tempdir and a small config.

#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::Device;
use salient_data::synth::{write_synthetic, SynthOptions};
use salient_model::FreezePolicy;
use salient_train::metrics_log::{MetricsLog, Record};
use salient_train::source::{dataset_sources, BatchSource};
use salient_train::{
    train, BackboneInit, InputSize, Observer, OpenMode, Outcome, RunDir, RunInputs, TrainConfig,
};

/// Writes `train` + `val` synthetic scenes of `side`×`side` into `dir`.
pub fn synth(dir: &Path, train: usize, val: usize, side: usize, seed: u64) {
    write_synthetic(
        dir,
        &SynthOptions {
            train,
            val,
            width: side,
            height: side,
            seed,
        },
    )
    .unwrap();
}

/// A CPU, random-init config over `data`.
pub fn config(data: &Path, side: usize) -> TrainConfig {
    TrainConfig {
        data: data.to_path_buf(),
        size: InputSize {
            height: side,
            width: side,
        },
        backbone_init: BackboneInit::Random,
        freeze: FreezePolicy::None,
        device: "cpu".into(),
        threads: 2,
        ..TrainConfig::default()
    }
}

/// Runs `cfg` in `run_dir` with `mode`, reporting to `observer`, stopping when `stop` is set.
pub fn run(
    cfg: &TrainConfig,
    run_dir: &Path,
    mode: OpenMode,
    stop: Arc<AtomicBool>,
    observer: &mut dyn Observer,
) -> Outcome {
    let sources = dataset_sources(cfg).unwrap();
    let run = RunDir::open(run_dir, mode).unwrap();
    let inputs = RunInputs {
        train: &sources.train,
        val: sources.val.as_ref().map(|v| v as &dyn BatchSource),
        device: Device::Cpu,
        stop,
        weights_note: None,
        extra_meta: Vec::new(),
        density_init: None,
    };
    train(cfg, &run, mode, inputs, observer).unwrap()
}

/// The epoch records of a run.
pub fn epochs(run_dir: &Path) -> Vec<Record> {
    MetricsLog::new(&run_dir.join("metrics.jsonl"))
        .read()
        .unwrap()
        .into_iter()
        .filter(|r| matches!(r, Record::Epoch { .. }))
        .collect()
}
