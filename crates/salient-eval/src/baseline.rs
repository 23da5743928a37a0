//! The centre-bias baseline from a dataset's own files: pysaliency's `BaselineModel`
//! ([`CentreBiasModel`]) fitted on the fixations of a split (or a whole other dataset), for
//! information gain, for the shuffled AUC's negatives where asked, and to be scored as a model
//! of its own (every benchmark table lists it).

use salient_data::{load_all_fixation_xy, Sample, SkippedPair};
use salient_metrics::{
    CentreBiasFit, CentreBiasModel, CentreBiasParams, FitOptions, ImageFixations,
};

use crate::error::EvalError;
use crate::score::{data_error, skip_or_fail};

pub use salient_data::ImagePoints;

/// Every sample's fixations as `(width, height, [x, y] points)`, in 0-based pixel coordinates of
/// the image file (coordinate lists exactly; binary maps as their pixels). Samples without
/// fixations contribute none; unreadable ones are an error, or under `skip_bad` listed.
pub fn split_fixations(
    samples: &[Sample],
    skip_bad: bool,
    skipped: &mut Vec<SkippedPair>,
) -> Result<Vec<ImagePoints>, EvalError> {
    let mut images = Vec::with_capacity(samples.len());
    for (sample, result) in samples.iter().zip(load_all_fixation_xy(samples)) {
        match result {
            Ok(Some(image)) => images.push(image),
            Ok(None) => {}
            Err(e) => skip_or_fail(
                data_error(sample, sample.image.clone(), e),
                skip_bad,
                skipped,
            )?,
        }
    }
    Ok(images)
}

/// How to turn fixations into a centre-bias model.
#[derive(Debug, Clone)]
pub enum BaselineFit {
    /// Fixed parameters (pysaliency's `BaselineModel(bandwidth, eps, keep_aspect)`).
    Params(CentreBiasParams),
    /// Bandwidth and regularisation chosen by k-fold held-out log-likelihood over images.
    CrossValidated(FitOptions),
}

/// The centre-bias model of `samples`' fixations; `source` says where they come from (it is
/// saved with the model). Also returns the fit's figures when cross-validated.
pub fn centre_bias_from_samples(
    samples: &[Sample],
    fit: &BaselineFit,
    source: &str,
    skip_bad: bool,
    skipped: &mut Vec<SkippedPair>,
) -> Result<(CentreBiasModel, Option<CentreBiasFit>), EvalError> {
    let images = split_fixations(samples, skip_bad, skipped)?;
    let views = ImageFixations::of_images(&images);
    if views.iter().all(|v| v.xy.is_empty()) {
        return Err(EvalError::Baseline(format!(
            "{source} has no fixations to build a centre bias from"
        )));
    }
    match fit {
        BaselineFit::Params(params) => {
            let model = CentreBiasModel::from_images(&views, *params, source)
                .map_err(|e| EvalError::Baseline(e.to_string()))?;
            Ok((model, None))
        }
        BaselineFit::CrossValidated(options) => {
            let fitted = CentreBiasModel::fit(&views, options, source)
                .map_err(|e| EvalError::Baseline(e.to_string()))?;
            Ok((fitted.model.clone(), Some(fitted)))
        }
    }
}
