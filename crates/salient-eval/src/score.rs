//! Scoring one sample: its prediction decoded, its ground truth loaded, both checked, then the
//! metrics. Errors name the file at fault: the prediction file for a bad prediction, the
//! ground-truth map or fixation file for bad ground truth.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use salient_data::{DataError, MapF32, Sample, SkippedPair};
use salient_metrics::{
    EvalOptions, Evaluator, Fixation, Fixations, ImageEval, ImageScores, Map, MetricSet,
    SaucNegatives,
};

use crate::density::DensityScoring;
use crate::error::{EvalError, MapProblem};
use crate::predictions::{check_finite, read_prediction};

/// One predicted map: a file still to decode (decoded on the scoring threads), or a map a model
/// produced, or a fixation density a model produced (scored per metric on its derived maps,
/// [`crate::density`]).
#[derive(Debug)]
pub(crate) enum Prediction {
    File(PathBuf),
    Map(MapF32),
    Density(MapF32),
}

/// A sample's fixations on its image's pixel grid.
pub(crate) struct FixationList {
    width: usize,
    height: usize,
    points: Vec<Fixation>,
}

impl FixationList {
    fn view(&self) -> Result<Fixations<'_>, salient_metrics::MetricError> {
        Fixations::new(&self.points, self.width, self.height)
    }
}

/// Every sample's fixations, read in parallel (`None` where a sample has none, or where reading
/// failed under `skip_bad`: those samples are returned in the set of excluded indices, and their
/// errors appended to `skipped`). Without `skip_bad`, the first failure (in sample order) is the
/// error.
pub(crate) fn load_all_fixations(
    samples: &[Sample],
    skip_bad: bool,
    skipped: &mut Vec<SkippedPair>,
) -> Result<(Vec<Option<FixationList>>, HashSet<usize>), EvalError> {
    let loaded: Vec<Result<Option<FixationList>, EvalError>> =
        samples.par_iter().map(load_fixations).collect();
    let mut excluded = HashSet::new();
    let mut lists = Vec::with_capacity(samples.len());
    for (index, result) in loaded.into_iter().enumerate() {
        match result {
            Ok(list) => lists.push(list),
            Err(error) => {
                skip_or_fail(error, skip_bad, skipped)?;
                excluded.insert(index);
                lists.push(None);
            }
        }
    }
    Ok((lists, excluded))
}

fn load_fixations(sample: &Sample) -> Result<Option<FixationList>, EvalError> {
    let pixels = sample
        .load_fixation_pixels()
        .map_err(|source| data_error(sample, fixation_file(sample), source))?;
    let Some(pixels) = pixels else {
        return Ok(None);
    };
    let list = FixationList {
        width: pixels.width as usize,
        height: pixels.height as usize,
        points: pixels
            .pixels
            .into_iter()
            .map(|(x, y)| Fixation::new(y, x))
            .collect(),
    };
    list.view().map_err(|source| EvalError::Fixations {
        stem: sample.stem.clone(),
        path: fixation_file(sample),
        source,
    })?;
    Ok(Some(list))
}

/// Records `error` as a skipped sample when `skip_bad` allows it (a bad input file), else
/// returns it.
pub(crate) fn skip_or_fail(
    error: EvalError,
    skip_bad: bool,
    skipped: &mut Vec<SkippedPair>,
) -> Result<(), EvalError> {
    match error.bad_file() {
        Some(path) if skip_bad => {
            skipped.push(SkippedPair {
                path: path.to_path_buf(),
                reason: error.to_string(),
            });
            Ok(())
        }
        _ => Err(error),
    }
}

/// Everything needed to score the samples of one split.
pub(crate) struct Scorer<'a> {
    samples: &'a [Sample],
    fixations: &'a [Option<FixationList>],
    evaluator: Evaluator,
    needs_maps: bool,
    metric_count: usize,
    /// How densities are scored, when the source predicts them.
    density: Option<DensityScoring>,
}

impl<'a> Scorer<'a> {
    /// `fixations[i]` belongs to `samples[i]`; all of them form the split's fixation pool (the
    /// shuffled AUC's negatives, the centre bias). `options` go to the evaluator untouched.
    pub fn new(
        samples: &'a [Sample],
        fixations: &'a [Option<FixationList>],
        metrics: MetricSet,
        options: EvalOptions,
        sauc_negatives: SaucNegatives,
        density_sigma: Option<salient_data::MapSigma>,
    ) -> Self {
        let views: Vec<Fixations<'_>> = fixations
            .iter()
            .flatten()
            .map(|f| f.view().expect("checked when loaded"))
            .collect();
        let needs_maps = metrics.metrics().iter().any(|m| m.needs_saliency_map());
        let density = density_sigma
            .map(|sigma| DensityScoring::new(&metrics, &options, &views, &sauc_negatives, sigma));
        Self {
            samples,
            fixations,
            metric_count: metrics.len(),
            evaluator: Evaluator::with_sauc_negatives(metrics, options, &views, sauc_negatives),
            needs_maps,
            density,
        }
    }

    /// Scores `(index, prediction)` pairs in parallel; results in the order given.
    pub fn score_many(
        &self,
        items: Vec<(usize, Prediction)>,
    ) -> Vec<Result<(usize, ImageScores), EvalError>> {
        items
            .into_par_iter()
            .map(|(index, prediction)| Ok((index, self.score(index, prediction)?)))
            .collect()
    }

    /// Scores sample `index` (its position in the split, which seeds AUC-Borji).
    pub fn score(&self, index: usize, prediction: Prediction) -> Result<ImageScores, EvalError> {
        let sample = &self.samples[index];
        let stem = sample.stem.as_str();
        let is_density = matches!(prediction, Prediction::Density(_));
        let (predicted, file) = match prediction {
            Prediction::File(path) => (read_prediction(&path)?, Some(path)),
            Prediction::Map(map) | Prediction::Density(map) => {
                check_finite(&map).map_err(|problem| EvalError::ModelPrediction {
                    image: sample.image.clone(),
                    problem,
                })?;
                (map, None)
            }
        };
        let prediction = Map::new(&predicted.data, predicted.width, predicted.height).map_err(
            |e| match &file {
                Some(path) => EvalError::Prediction {
                    path: path.clone(),
                    problem: MapProblem::Shape(e),
                },
                None => EvalError::ModelPrediction {
                    image: sample.image.clone(),
                    problem: MapProblem::Shape(e),
                },
            },
        )?;
        let gt = if self.needs_maps {
            Some(load_ground_truth(sample)?)
        } else {
            None
        };
        let saliency =
            match &gt {
                Some(g) => Some(Map::new(&g.data, g.width, g.height).map_err(|e| {
                    EvalError::GroundTruth {
                        stem: stem.to_string(),
                        path: ground_truth_file(sample),
                        problem: MapProblem::Shape(e),
                    }
                })?),
                None => None,
            };
        let fixations = self.fixations[index]
            .as_ref()
            .map(|f| f.view().expect("checked when loaded"));
        let metric_error = |source| EvalError::Metric {
            stem: stem.to_string(),
            source,
        };
        let density = match &self.density {
            Some(density) if is_density => density,
            _ => {
                let image = ImageEval {
                    name: stem,
                    prediction,
                    saliency,
                    fixations,
                };
                return self.evaluator.score(index, &image).map_err(metric_error);
            }
        };
        // A density: each group of metrics on its own derived map, merged in report order.
        let mut values = vec![None; self.metric_count];
        for (kind, evaluator, positions) in density.groups() {
            let derived = density
                .derive(*kind, &predicted)
                .map_err(EvalError::Baseline)?;
            let image = ImageEval {
                name: stem,
                prediction: Map::new(&derived.data, derived.width, derived.height).map_err(
                    |e| EvalError::ModelPrediction {
                        image: sample.image.clone(),
                        problem: MapProblem::Shape(e),
                    },
                )?,
                saliency,
                fixations,
            };
            let scores = evaluator.score(index, &image).map_err(metric_error)?;
            for (k, &position) in positions.iter().enumerate() {
                values[position] = scores.values[k];
            }
        }
        Ok(ImageScores {
            name: stem.to_string(),
            values,
        })
    }
}

/// The sample's ground-truth map, checked finite; errors name the map file.
fn load_ground_truth(sample: &Sample) -> Result<MapF32, EvalError> {
    let map = sample
        .load_map()
        .map_err(|source| data_error(sample, ground_truth_file(sample), source))?;
    check_finite(&map).map_err(|problem| EvalError::GroundTruth {
        stem: sample.stem.clone(),
        path: ground_truth_file(sample),
        problem,
    })?;
    Ok(map)
}

/// A data error of `sample`, naming the file the error itself names (an image that fails while
/// its fixations are placed on it is the image's fault), else `guess`.
pub(crate) fn data_error(sample: &Sample, guess: PathBuf, source: DataError) -> EvalError {
    let path = match &source {
        DataError::Io { path, .. } | DataError::Decode { path, .. } => path.clone(),
        DataError::SizeMismatch { other, .. } => other.clone(),
        _ => guess,
    };
    EvalError::Data {
        stem: sample.stem.clone(),
        path,
        source: Box::new(source),
    }
}

/// The file a sample's ground-truth map comes from: the map file, else (a map built from
/// fixations) the fixation file, else the image.
pub(crate) fn ground_truth_file(sample: &Sample) -> PathBuf {
    match sample.map.file() {
        Some(path) => path.to_path_buf(),
        None => fixation_file(sample),
    }
}

/// The file a sample's fixations come from, else its image.
fn fixation_file(sample: &Sample) -> PathBuf {
    sample
        .fixations
        .as_ref()
        .and_then(|f| f.path())
        .map_or_else(|| sample.image.clone(), Path::to_path_buf)
}
