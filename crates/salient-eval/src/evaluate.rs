//! Scoring a whole split: matching predictions to samples, reading the split's fixations, then
//! scoring in chunks (each in parallel), so memory holds one chunk of maps at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use salient_data::MapSigma;
use salient_data::{image_size, load_rgb8, MapF32, Sample, SkippedPair};
use salient_metrics::{
    CentreBiasModel, EvalOptions, ImageScores, MetricSet, Report, SaucNegatives,
};
use salient_model::Head;
use salient_train::{OutputKind, Predictor};

use crate::choice::choose_metrics;
use crate::density::DensityMap;
use crate::error::EvalError;
use crate::predictions::PredictionDir;
use crate::score::{data_error, load_all_fixations, skip_or_fail, Prediction, Scorer};

/// Samples decoded and scored together.
const CHUNK: usize = 64;

/// Where the predicted maps come from.
pub enum PredictionSource<'a> {
    /// A folder of predicted maps matched to samples by stem (see [`PredictionDir`]).
    Folder(PredictionDir),
    /// A model run over the split's images, `batch_size` images per forward pass; its maps are
    /// scored at each image's original resolution.
    Model {
        predictor: &'a Predictor,
        batch_size: usize,
    },
    /// A centre-bias model scored as a predictor: its density at each image's size (the
    /// baseline row of a benchmark table).
    CentreBias(&'a CentreBiasModel),
}

/// How to score.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The metrics to score; `None`: every metric the split supports (see
    /// [`crate::supported_metrics`]).
    pub metrics: Option<MetricSet>,
    /// Passed to [`salient_metrics::Evaluator`] untouched (AUC-Borji's seed, IG's baseline).
    pub options: EvalOptions,
    /// Where the shuffled AUC takes its negatives from (default: the split's other images).
    pub sauc_negatives: SaucNegatives,
    /// Score the samples that have a prediction when some have none, instead of failing.
    pub allow_missing: bool,
    /// Skip samples whose prediction, image or ground truth cannot be read or used, and list
    /// them, instead of failing on the first.
    pub skip_bad: bool,
    /// The dataset's empirical-map kernel ([`salient_data::Dataset::map_sigma`]): a density
    /// model's CC, KLD and SIM are scored on its density blurred with it.
    pub map_sigma: MapSigma,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            metrics: None,
            options: EvalOptions::default(),
            sauc_negatives: SaucNegatives::default(),
            allow_missing: false,
            skip_bad: false,
            map_sigma: MapSigma::DEFAULT,
        }
    }
}

/// The scores, and what was left out and why.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// Mean ± std per metric and every scored image's values, in split order.
    pub report: Report,
    /// No metrics were asked for and the split has no fixations: only CC, KLD and SIM were
    /// scored.
    pub without_fixations: bool,
    /// Stems of the samples without a prediction (folder source with `allow_missing`).
    pub missing: Vec<String>,
    /// Prediction files of the folder that match no sample of the split.
    pub unmatched_predictions: usize,
    /// Files of the folder in an image or array format that is not read.
    pub unsupported: Vec<PathBuf>,
    /// Samples left out under `skip_bad`, with the file and the reason.
    pub skipped: Vec<SkippedPair>,
    /// What each metric of the report was scored on, in the report's order: `"saliency map"`
    /// for plain maps, a map derived from the density for density models
    /// ([`crate::density`]).
    pub maps: Vec<String>,
}

/// Scores `samples` (one split) against `source` with `config`. `progress(n)` is called as each
/// chunk of `n` samples is done. Errors name the file at fault; under `config.skip_bad` bad
/// input files are skipped and listed in the outcome instead.
pub fn evaluate_split(
    samples: &[Sample],
    source: PredictionSource<'_>,
    config: &EvalConfig,
    mut progress: impl FnMut(usize),
) -> Result<EvalOutcome, EvalError> {
    if samples.is_empty() {
        return Err(EvalError::EmptySplit);
    }
    let choice = choose_metrics(config.metrics.as_ref(), samples)?;
    let (jobs, missing, unmatched_predictions, unsupported) = match &source {
        PredictionSource::Folder(dir) => {
            let matched = match_folder(samples, dir, config.allow_missing)?;
            let unmatched = dir.len() - matched.files;
            (
                matched.jobs,
                matched.missing,
                unmatched,
                dir.unsupported().to_vec(),
            )
        }
        PredictionSource::Model { .. } | PredictionSource::CentreBias(_) => (
            (0..samples.len()).map(|i| (i, None)).collect(),
            Vec::new(),
            0,
            Vec::new(),
        ),
    };

    let mut skipped = Vec::new();
    let needs_fixations = choice
        .metrics
        .metrics()
        .iter()
        .any(|m| !m.needs_saliency_map());
    let (fixations, excluded) = if needs_fixations {
        load_all_fixations(samples, config.skip_bad, &mut skipped)?
    } else {
        (samples.iter().map(|_| None).collect(), HashSet::new())
    };
    let jobs: Vec<Job> = jobs
        .into_iter()
        .filter(|(index, _)| !excluded.contains(index))
        .collect();
    let density = matches!(&source, PredictionSource::Model { predictor, .. } if predictor.head() == Head::Density);
    let maps = choice
        .metrics
        .metrics()
        .iter()
        .map(|&m| match density {
            true => DensityMap::for_metric(m).describe(m, config.map_sigma),
            false => "saliency map".to_string(),
        })
        .collect();
    let scorer = Scorer::new(
        samples,
        &fixations,
        choice.metrics.clone(),
        config.options.clone(),
        config.sauc_negatives.clone(),
        density.then_some(config.map_sigma),
    );

    let chunk = match &source {
        PredictionSource::Model { batch_size, .. } => CHUNK.div_ceil(*batch_size) * batch_size,
        PredictionSource::Folder(_) | PredictionSource::CentreBias(_) => CHUNK,
    };
    let mut scored: Vec<(usize, ImageScores)> = Vec::with_capacity(jobs.len());
    for part in jobs.chunks(chunk) {
        let predictions = match &source {
            PredictionSource::Folder(_) => part
                .iter()
                .map(|(index, file)| {
                    let file = file.clone().expect("folder jobs have a file");
                    Ok((*index, Prediction::File(file)))
                })
                .collect(),
            PredictionSource::Model {
                predictor,
                batch_size,
            } => predict(predictor, *batch_size, samples, part)?,
            PredictionSource::CentreBias(model) => part
                .par_iter()
                .map(|(index, _)| centre_bias_map(model, &samples[*index], *index))
                .collect(),
        };
        let mut ready = Vec::with_capacity(predictions.len());
        for prediction in predictions {
            match prediction {
                Ok(item) => ready.push(item),
                Err(error) => skip_or_fail(error, config.skip_bad, &mut skipped)?,
            }
        }
        for result in scorer.score_many(ready) {
            match result {
                Ok(scores) => scored.push(scores),
                Err(error) => skip_or_fail(error, config.skip_bad, &mut skipped)?,
            }
        }
        progress(part.len());
    }
    if scored.is_empty() {
        return Err(EvalError::NothingScored {
            count: skipped.len(),
            first: skipped
                .first()
                .map(|s| s.reason.clone())
                .unwrap_or_default(),
        });
    }
    scored.sort_by_key(|(index, _)| *index);
    Ok(EvalOutcome {
        report: Report::new(choice.metrics, scored.into_iter().map(|(_, s)| s).collect()),
        without_fixations: choice.without_fixations,
        missing,
        unmatched_predictions,
        unsupported,
        skipped,
        maps,
    })
}

/// The centre-bias density at the sample's image size, as a map to score.
fn centre_bias_map(model: &CentreBiasModel, sample: &Sample, index: usize) -> Predicted {
    let (width, height) =
        image_size(&sample.image).map_err(|e| data_error(sample, sample.image.clone(), e))?;
    let (width, height) = (width as usize, height as usize);
    let density = model
        .density(width, height)
        .map_err(|e| EvalError::Baseline(e.to_string()))?;
    let map = MapF32 {
        width,
        height,
        data: density.iter().map(|&d| d as f32).collect(),
    };
    Ok((index, Prediction::Map(map)))
}

/// A sample to score (its index in the split) and its prediction file, if from a folder.
type Job = (usize, Option<PathBuf>);

/// A sample's prediction, or why there is none (an unreadable image).
type Predicted = Result<(usize, Prediction), EvalError>;

struct FolderMatch {
    jobs: Vec<Job>,
    missing: Vec<String>,
    /// Distinct files matched.
    files: usize,
}

/// Each sample's prediction file; samples without one are an error unless `allow_missing`.
fn match_folder(
    samples: &[Sample],
    dir: &PredictionDir,
    allow_missing: bool,
) -> Result<FolderMatch, EvalError> {
    let (mut jobs, mut missing) = (Vec::new(), Vec::new());
    let mut files: HashSet<&Path> = HashSet::new();
    for (index, sample) in samples.iter().enumerate() {
        match dir.find(&sample.stem) {
            Some(path) => {
                files.insert(path);
                jobs.push((index, Some(path.to_path_buf())));
            }
            None => missing.push(sample.stem.clone()),
        }
    }
    if jobs.is_empty() {
        return Err(EvalError::NothingMatched {
            dir: dir.root().to_path_buf(),
            first_sample: samples[0].stem.clone(),
            unsupported: dir.unsupported().to_vec(),
        });
    }
    if !missing.is_empty() && !allow_missing {
        return Err(EvalError::MissingPredictions {
            dir: dir.root().to_path_buf(),
            missing,
            total: samples.len(),
            unsupported: dir.unsupported().to_vec(),
        });
    }
    let files = files.len();
    Ok(FolderMatch {
        jobs,
        missing,
        files,
    })
}

/// The model's maps (densities, for a density model) for `part`'s samples at each image's original
/// resolution: images read in parallel, then `batch_size` per forward pass. An unreadable image is that sample's error; a
/// failing model is the whole run's.
fn predict(
    predictor: &Predictor,
    batch_size: usize,
    samples: &[Sample],
    part: &[Job],
) -> Result<Vec<Predicted>, EvalError> {
    let images: Vec<_> = part
        .par_iter()
        .map(|(index, _)| {
            let sample = &samples[*index];
            load_rgb8(&sample.image)
                .map(|image| (*index, image))
                .map_err(|source| data_error(sample, sample.image.clone(), source))
        })
        .collect();
    let mut predicted = Vec::with_capacity(part.len());
    let mut loaded = Vec::with_capacity(part.len());
    for image in images {
        match image {
            Ok(item) => loaded.push(item),
            Err(error) => predicted.push(Err(error)),
        }
    }
    for batch in loaded.chunks(batch_size.max(1)) {
        let refs: Vec<_> = batch.iter().map(|(_, image)| image).collect();
        let density = predictor.head() == Head::Density;
        let kind = match density {
            true => OutputKind::Density,
            false => OutputKind::Saliency,
        };
        let maps = predictor
            .predict_outputs(&refs, kind)
            .map_err(EvalError::Model)?;
        predicted.extend(batch.iter().zip(maps).map(|((index, _), map)| {
            let prediction = match density {
                true => Prediction::Density(map),
                false => Prediction::Map(map),
            };
            Ok((*index, prediction))
        }));
    }
    Ok(predicted)
}
