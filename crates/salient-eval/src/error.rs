//! The crate's error type: every variant names the file, folder or image at fault.

use std::path::PathBuf;

use salient_data::DataError;
use salient_metrics::{Metric, MetricError};

use crate::npy::NpyProblem;

/// Why a split could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The centre-bias baseline could not be built or read (the message names the source).
    #[error("centre-bias baseline: {0}")]
    Baseline(String),
    /// The split has no samples at all.
    #[error("the split has no samples")]
    EmptySplit,
    /// Fixation metrics were asked for a split without fixations.
    #[error("{} need fixations and this split has none (score cc, kld, sim instead)", names(.0))]
    NeedsFixations(Vec<Metric>),
    /// The predictions folder does not exist or is not a folder.
    #[error("predictions folder {0} does not exist or is not a folder")]
    NotAFolder(PathBuf),
    /// A folder could not be listed.
    #[error("cannot list {path}: {source}")]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The predictions folder holds no file in a format read as a prediction.
    #[error("no predictions in {dir}: no {} files{}", crate::SUPPORTED_LIST, unsupported_note(.unsupported))]
    NoPredictionFiles {
        dir: PathBuf,
        unsupported: Vec<PathBuf>,
    },
    /// Two files claim the same sample stem.
    #[error("two predictions for stem {stem:?}: {first} and {second}")]
    DuplicatePrediction {
        stem: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// Some samples have no prediction (and missing ones are not allowed).
    #[error(
        "no prediction in {dir} for {} of {total} samples (first: {}){}",
        .missing.len(), first_few(.missing), unsupported_note(.unsupported)
    )]
    MissingPredictions {
        dir: PathBuf,
        missing: Vec<String>,
        total: usize,
        /// Unsupported files in the folder (often the reason a prediction is missing).
        unsupported: Vec<PathBuf>,
    },
    /// No prediction file matches any sample stem.
    #[error("no prediction in {dir} matches a sample of the split (first sample: {first_sample:?}){}", unsupported_note(.unsupported))]
    NothingMatched {
        dir: PathBuf,
        first_sample: String,
        unsupported: Vec<PathBuf>,
    },
    /// A prediction file could not be read, or holds values no metric can use.
    #[error("prediction {path}: {problem}")]
    Prediction {
        path: PathBuf,
        #[source]
        problem: MapProblem,
    },
    /// The model's prediction of an image holds values no metric can use.
    #[error("the model's prediction for {image}: {problem}")]
    ModelPrediction {
        image: PathBuf,
        #[source]
        problem: MapProblem,
    },
    /// A sample's image, ground-truth map or fixations could not be read (the data error names
    /// the file).
    #[error("{stem}: {source}")]
    Data {
        stem: String,
        /// The file at fault, as far as it is known.
        path: PathBuf,
        #[source]
        source: Box<DataError>,
    },
    /// A ground-truth map was read but holds values no metric can use.
    #[error("ground-truth map {path} (of {stem}): {problem}")]
    GroundTruth {
        stem: String,
        /// The map file; for a map built from fixations, the fixation file.
        path: PathBuf,
        #[source]
        problem: MapProblem,
    },
    /// A sample's fixations do not fit its image.
    #[error("fixations {path} (of {stem}): {source}")]
    Fixations {
        stem: String,
        path: PathBuf,
        #[source]
        source: MetricError,
    },
    /// A metric refused the input for another reason.
    #[error("scoring {stem}: {source}")]
    Metric {
        stem: String,
        #[source]
        source: MetricError,
    },
    /// Running the model failed.
    #[error("running the model: {0}")]
    Model(#[source] salient_train::TrainError),
    /// Every sample was skipped as bad input.
    #[error("no sample could be scored: all {count} were skipped as bad input (first: {first})")]
    NothingScored { count: usize, first: String },
}

/// What is wrong with one map (predicted or ground truth).
#[derive(Debug, thiserror::Error)]
pub enum MapProblem {
    /// Not decodable as an image (PNG, JPEG).
    #[error("{0}")]
    Image(String),
    /// Not a usable `.npy` map.
    #[error("{0}")]
    Npy(#[from] NpyProblem),
    /// NaN or ±inf somewhere.
    #[error("non-finite value {value} at pixel (y={y}, x={x})")]
    NonFinite { y: usize, x: usize, value: f32 },
    /// No pixel, or not `width × height` values.
    #[error("{0}")]
    Shape(MetricError),
}

impl EvalError {
    /// The file at fault when the error is one bad input file (prediction, image, ground truth) —
    /// what `skip_bad` skips — rather than a problem with the whole run.
    pub fn bad_file(&self) -> Option<&std::path::Path> {
        match self {
            EvalError::Prediction { path, .. }
            | EvalError::Data { path, .. }
            | EvalError::GroundTruth { path, .. }
            | EvalError::Fixations { path, .. } => Some(path),
            _ => None,
        }
    }
}

fn names(metrics: &[Metric]) -> String {
    metrics
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "a, b, c" (five at most, then "...").
fn first_few(stems: &[String]) -> String {
    let mut text = stems.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if stems.len() > 5 {
        text.push_str(", ...");
    }
    text
}

/// "; not read: b.gif (predictions must be ...)" when there are unsupported files.
fn unsupported_note(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = files
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "; {} file(s) not read: {}{} ({})",
        files.len(),
        shown.join(", "),
        if files.len() > 5 { ", ..." } else { "" },
        crate::UNSUPPORTED_REASON
    )
}
