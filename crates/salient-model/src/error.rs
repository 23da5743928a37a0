//! The one error type of this crate: every failure names the file, tensor or input at fault.

use std::path::{Path, PathBuf};

/// Everything that can go wrong building, running, loading or saving the network.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed (device out of memory, backend error, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The input batch does not have a shape the network accepts.
    #[error("input must be (N, 3, H, W) with N >= 1 and H, W positive multiples of 32, got {0:?}")]
    InputShape(Vec<usize>),
    /// Train-mode BatchNorm needs more than one value per channel to estimate a variance.
    #[error("train-mode BatchNorm `{0}` needs more than one value per channel (batch 1 at 1x1?)")]
    BatchTooSmall(String),
    /// A weights file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A weights file is not a valid safetensors file.
    #[error("{path}: not a readable safetensors file: {message}")]
    Format { path: PathBuf, message: String },
    /// A tensor the network needs is absent from a weights file.
    #[error("{path}: missing tensor `{name}`")]
    MissingTensor { path: PathBuf, name: String },
    /// A tensor in a weights file has the wrong shape.
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor in a weights file has a dtype that is not a float type.
    #[error("{path}: tensor `{name}` has dtype {dtype}, expected a floating-point type")]
    DType {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    /// A tensor in a weights file holds NaN or infinite values.
    #[error("{path}: tensor `{name}` contains NaN or infinite values")]
    NonFinite { path: PathBuf, name: String },
    /// A checkpoint holds a tensor the network does not have (a different architecture, or
    /// another head than its `salient.head` metadata says).
    #[error(
        "{path}: unexpected tensor `{name}` (not part of the seed's network with the {head} head)"
    )]
    UnexpectedTensor {
        path: PathBuf,
        name: String,
        head: crate::Head,
    },
    /// A training run's optimiser-state file (`last.state.safetensors`) where a model checkpoint
    /// is expected; `model` is the model checkpoint saved beside it, when it exists.
    #[error(
        "{path} is the optimiser state of a training run, not a model checkpoint; {}",
        model_hint(path, model.as_deref())
    )]
    OptimiserState {
        path: PathBuf,
        model: Option<PathBuf>,
    },
    /// A freeze policy name that is not one of the known ones.
    #[error(
        "unknown freeze policy `{0}` (expected none, stem, layer1, layer2, layer3 or backbone)"
    )]
    UnknownFreezePolicy(String),
    /// A configuration value out of range.
    #[error("invalid model configuration: {0}")]
    Config(String),
}

/// Where the model checkpoint of an optimiser-state file is (or would be).
fn model_hint(state: &Path, model: Option<&Path>) -> String {
    match (model, crate::checkpoint::model_beside_state(state)) {
        (Some(model), _) => format!("the model is {}", model.display()),
        (None, Some(expected)) => format!(
            "its model checkpoint would be {}, which does not exist",
            expected.display()
        ),
        (None, None) => "load the model checkpoint saved with it instead".to_string(),
    }
}
