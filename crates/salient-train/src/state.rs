//! The train-state file beside a model checkpoint (`last.state.safetensors`): Adam's moments and step
//! counter as named tensors, plus the run's position and best score as JSON metadata. Kept apart from
//! the model file so that the model checkpoint stays a plain `state_dict` that PyTorch loads strictly.
//!
//! "RNG state": every random draw of a run (shuffling, augmentation) comes from counter-based streams
//! keyed by `(seed, epoch)`, so the seed and the position (epoch, batches done) *are* the generator
//! state; resuming re-creates the epoch's stream and skips the batches already done. Decoder dropout
//! (off by default) draws from candle's unseeded generator: with `dropout > 0`, a resumed run is not
//! bit-identical to an uninterrupted one.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use salient_model::atomic::write_atomic_with;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Metadata key holding [`Position`] as JSON (salient-model refuses a file with it where a model
/// checkpoint is expected).
const META_KEY: &str = salient_model::META_TRAIN_STATE;
/// Format version, bumped when the meaning of the fields changes.
const FORMAT: u32 = 1;

/// Where a run stands, and what it has achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub format: u32,
    /// Epoch in progress (0-based); equal to the number of epochs when the run is complete.
    pub epoch: usize,
    /// Batches of `epoch` already trained on.
    pub batch_in_epoch: usize,
    /// Optimiser steps done over the whole run.
    pub step: u64,
    /// The run's seed (the generator state together with `epoch` and `batch_in_epoch`).
    pub seed: u64,
    /// Best validation figure so far and the epoch (1-based) that reached it.
    pub best_value: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Sum and count of training losses of the epoch in progress (to report its mean on resume).
    pub epoch_loss_sum: f64,
    pub epoch_loss_count: u64,
}

impl Position {
    /// The position of a run that has not started.
    pub fn start(seed: u64) -> Self {
        Position {
            format: FORMAT,
            epoch: 0,
            batch_in_epoch: 0,
            step: 0,
            seed,
            best_value: None,
            best_epoch: None,
            epoch_loss_sum: 0.0,
            epoch_loss_count: 0,
        }
    }
}

/// Writes the optimiser tensors and the position atomically.
pub fn save_state(
    path: &Path,
    optimizer: &[(String, Tensor)],
    position: &Position,
) -> Result<(), TrainError> {
    let tensors = optimizer
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<Vec<_>, TrainError>>()?;
    let mut meta = HashMap::new();
    meta.insert(
        META_KEY.to_string(),
        serde_json::to_string(position).expect("position serialises"),
    );
    write_atomic_with(path, |tmp| {
        safetensors::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            tmp,
        )
        .map_err(std::io::Error::other)
    })
    .map_err(|e| TrainError::io(path, e))
}

/// Reads a state file written by [`save_state`]; the tensors land on `device`.
pub fn load_state(
    path: &Path,
    device: &Device,
) -> Result<(Vec<(String, Tensor)>, Position), TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| TrainError::state(path, format!("not a safetensors file: {e}")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| TrainError::state(path, "not a salient train-state file (no position)"))?;
    let position: Position = serde_json::from_str(json)
        .map_err(|e| TrainError::state(path, format!("unreadable position: {e}")))?;
    if position.format != FORMAT {
        return Err(TrainError::state(
            path,
            format!(
                "train-state format {} (this build reads {FORMAT})",
                position.format
            ),
        ));
    }
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| TrainError::state(path, e.to_string()))?;
    let mut tensors: Vec<(String, Tensor)> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, position))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.state.safetensors");
        let m = Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap();
        let mut pos = Position::start(7);
        pos.step = 12;
        pos.best_value = Some(0.5);
        save_state(&path, &[("m.a".into(), m)], &pos).unwrap();
        let (tensors, back) = load_state(&path, &Device::Cpu).unwrap();
        assert_eq!(back, pos);
        assert_eq!(tensors[0].0, "m.a");
        assert_eq!(tensors[0].1.to_vec1::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);

        std::fs::write(&path, b"garbage").unwrap();
        let e = load_state(&path, &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("last.state.safetensors"), "{e}");
    }

    /// The state file given where a model checkpoint is expected (a `*.safetensors` glob picks
    /// it up) says what it is and names the model checkpoint beside it.
    #[test]
    fn state_file_is_refused_as_a_model_naming_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.state.safetensors");
        let m = Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap();
        save_state(&path, &[("m.a".into(), m)], &Position::start(7)).unwrap();
        let model = dir.path().join("last.safetensors");
        std::fs::write(&model, b"the model").unwrap();
        let cfg = salient_model::ModelConfig::default();
        let err = salient_model::SaliencyNet::load_checkpoint(&path, cfg, &Device::Cpu)
            .err()
            .expect("a state file is not a model")
            .to_string();
        assert_eq!(
            err,
            format!(
                "{} is the optimiser state of a training run, not a model checkpoint; the model \
                 is {}",
                path.display(),
                model.display()
            )
        );
    }
}
