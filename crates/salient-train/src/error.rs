//! The one error type of the crate: every failure names the file, value or step it concerns.

use std::path::{Path, PathBuf};

/// Errors of training, checkpointing and inference.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A config value, flag or loss string that cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The run directory exists and neither `--resume` nor `--force` was given, or resume found nothing.
    #[error("{0}")]
    RunDir(String),
    /// A train-state or checkpoint file that cannot be used.
    #[error("{path}: {msg}")]
    State { path: PathBuf, msg: String },
    /// The loss became NaN or infinite; nothing was saved from the bad step.
    #[error(
        "loss is {value} at epoch {epoch}, step {step}: training stopped; {kept}. \
         Try a lower --lr, --clip-grad, or another --loss"
    )]
    NonFinite {
        value: f32,
        epoch: usize,
        step: u64,
        kept: String,
    },
    /// The requested device cannot be used.
    #[error("device: {0}")]
    Device(String),
    /// A tensor operation failed.
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
    /// The model crate failed (loading weights, checkpoint format, ...).
    #[error("model: {0}")]
    Model(String),
    /// The data crate failed (discovery, decoding, ...).
    #[error("data: {0}")]
    Data(String),
    /// The metrics crate failed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// Drawing a plot failed.
    #[error("plot {path}: {msg}")]
    Plot { path: PathBuf, msg: String },
}

impl TrainError {
    /// An I/O error tagged with the path it concerns.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A bad state or checkpoint file.
    pub fn state(path: &Path, msg: impl Into<String>) -> Self {
        TrainError::State {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}
