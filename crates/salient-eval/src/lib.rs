//! # salient-eval
//!
//! Scores a dataset split against predicted saliency maps — from a folder of map files or from a
//! model run over the split's images — with the benchmark metrics of [`salient_metrics`]
//! (CC, KLD, SIM, NSS, AUC-Judd, AUC-Borji, sAUC, IG). A library so that any front-end (the
//! `salient eval` command, a server) scores the same way; the caller only parses and prints.
//!
//! ```no_run
//! use salient_data::{Dataset, DiscoverOptions, Split};
//! use salient_eval::{evaluate_split, EvalConfig, PredictionDir, PredictionSource};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dataset = Dataset::discover("data/salicon".as_ref(), &DiscoverOptions::default())?;
//! let samples = dataset.require(Split::Val)?;
//! let source = PredictionSource::Folder(PredictionDir::open("preds".as_ref())?);
//! let outcome = evaluate_split(samples, source, &EvalConfig::default(), |_| {})?;
//! println!("{}", serde_json::to_string_pretty(&outcome.report)?);
//! # Ok(()) }
//! ```
//!
//! - **Matching**: predictions are matched to samples by stem, the path relative to the folder
//!   without extension (`Action/001`), or a unique file of the same bare name
//!   ([`PredictionDir`]). Samples without a prediction are an error unless
//!   [`EvalConfig::allow_missing`]; prediction files matching no sample are counted.
//! - **Formats**: PNG (8/16-bit, divided by 255/65535), JPEG (8-bit, colour turned grey like
//!   ground-truth maps) and `.npy` (`float32`/`float64`/`uint8`/`uint16`, as stored; see
//!   [`npy`]). Other image or array files in the folder (`.gif`, `.tif`, `.mat`, ...) are
//!   reported as unsupported, not silently ignored. A prediction of any size is resized to the
//!   ground truth's by the metrics (bilinear, as pysaliency).
//! - **Ground truth** is read only through [`salient_data::Sample::load_map`] and
//!   [`salient_data::Sample::load_fixation_pixels`]: the map at the image's size (a file, or
//!   built from the fixations), the fixated pixels (repeats kept for coordinate lists). The
//!   fixations of the whole split are read first: the shuffled AUC's negatives and IG's
//!   centre-bias baseline come from them.
//! - **Metrics**: those asked for, or every metric the split supports ([`choose_metrics`]):
//!   without fixations, only CC, KLD and SIM. [`EvalConfig::options`] go to
//!   [`salient_metrics::Evaluator`] untouched.
//! - **Bad input**: every error names the file at fault — a NaN in a prediction names the
//!   prediction file, a corrupt ground-truth map names the map. With [`EvalConfig::skip_bad`],
//!   samples with an unreadable or unusable prediction, image or ground truth are skipped and
//!   listed in [`EvalOutcome::skipped`], and the others are scored.
//! - **Density models** (`--head density` checkpoints) are scored as the MIT/Tübingen benchmark
//!   scores a density: each metric on the map derived from it that is best for it ([`density`]);
//!   [`EvalOutcome::maps`] says which map each metric used.
//! - **Memory and speed**: samples are scored in chunks of 64, each chunk in parallel (rayon);
//!   the report is in split order and does not depend on the number of threads.

pub mod baseline;
mod choice;
pub mod density;
mod error;
mod evaluate;
pub mod npy;
mod predictions;
mod score;

pub use baseline::{centre_bias_from_samples, split_fixations, BaselineFit};
pub use choice::{choose_metrics, supported_metrics, MetricChoice};
pub use error::{EvalError, MapProblem};
pub use evaluate::{evaluate_split, EvalConfig, EvalOutcome, PredictionSource};
pub(crate) use predictions::SUPPORTED_LIST;
pub use predictions::{
    read_prediction, PredictionDir, SUPPORTED_EXTENSIONS, UNSUPPORTED_EXTENSIONS,
    UNSUPPORTED_REASON,
};
