//! Many images at once: dataset-level context (shuffled-AUC negatives, the IG baseline), one image's
//! scores, and the report (mean ± std per metric, per-image values). Images are scored in
//! parallel with rayon; the result does not depend on the number of threads.

use std::f64::consts::LN_2;
use std::sync::Arc;

use rayon::prelude::*;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::auc::{borji, judd, shuffled};
use crate::centre_bias::{CentreBiasModel, CentreBiasParams};
use crate::distribution;
use crate::error::MetricError;
use crate::grid::Grid;
use crate::ig;
use crate::map::{Fixations, Map};
use crate::metric::{Metric, MetricSet};
use crate::nss;
use crate::pool::FixationPool;

/// One image to score: its name (e.g. the file stem), the prediction, and whatever ground truth
/// exists. Metrics that need a missing input fail with [`MetricError::MissingInput`].
#[derive(Debug, Clone, Copy)]
pub struct ImageEval<'a> {
    pub name: &'a str,
    pub prediction: Map<'a>,
    /// Continuous ground-truth saliency map (CC, KLD, SIM).
    pub saliency: Option<Map<'a>>,
    /// Fixations (NSS, the AUCs, IG).
    pub fixations: Option<Fixations<'a>>,
}

/// The baseline IG is measured against.
#[derive(Debug, Clone, Default)]
pub enum IgBaseline {
    /// pysaliency's centre-bias model (`BaselineModel`, default [`CentreBiasParams`]) built from
    /// the scored split's own fixations, the scored image's included: what pysaliency gives when
    /// handed the same split. Kept as the default so that IG has a centre bias when no other
    /// fixations are at hand (a dataset with one split); over thousands of images the scored
    /// image's own share is negligible, on a handful it makes IG conservative. Prefer
    /// [`IgBaseline::Model`] built from another split (the benchmark's practice).
    #[default]
    CentreBias,
    /// The uniform distribution over pixels.
    Uniform,
    /// A given centre-bias model (e.g. fitted on the other split, or loaded from a file): IG is
    /// measured against its exact log-density on each image's grid.
    Model(Arc<CentreBiasModel>),
}

impl PartialEq for IgBaseline {
    /// Models compare by identity (the same `Arc`).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::CentreBias, Self::CentreBias) | (Self::Uniform, Self::Uniform) => true,
            (Self::Model(a), Self::Model(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Where the shuffled AUC takes its negatives from.
#[derive(Debug, Clone, Default)]
pub enum SaucNegatives {
    /// Every fixation of the scored split's other images, rescaled to the image's size
    /// (`x·W/W_other`, truncated), as pysaliency's `AUC(nonfixations='shuffled')`.
    #[default]
    OtherImages,
    /// The fixations of a centre-bias model (e.g. the IG baseline, built from another split),
    /// mapped onto the image's grid as the model maps them (`⌊x_n·W⌋`, its
    /// [`CentreBiasModel::fixation_counts`]); the scored image's own fixations are not removed.
    /// pysaliency's `AUC(nonfixations=<Fixations>)` fed those points.
    BaselineFixations(Arc<CentreBiasModel>),
}

impl PartialEq for SaucNegatives {
    /// Models compare by identity (the same `Arc`).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::OtherImages, Self::OtherImages) => true,
            (Self::BaselineFixations(a), Self::BaselineFixations(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Choices that are not part of a metric's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// AUC-Borji's random negatives: image `i` draws from a ChaCha8 generator seeded with
    /// `splitmix64(borji_seed ^ i)`, so scores do not depend on thread scheduling.
    pub borji_seed: u64,
    pub ig_baseline: IgBaseline,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            borji_seed: 42,
            ig_baseline: IgBaseline::CentreBias,
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Scores images one at a time against a dataset-level context built once from every image's
/// fixations. Use it directly to stream a dataset (load, score, drop) or through [`evaluate`].
#[derive(Debug)]
pub struct Evaluator {
    metrics: MetricSet,
    options: EvalOptions,
    /// The split's fixations per pixel, when sAUC takes its negatives from the other images.
    pool: Option<FixationPool>,
    sauc_negatives: SaucNegatives,
    /// The IG baseline when it is a centre-bias model (given, or built from the split).
    ig_model: Option<Arc<CentreBiasModel>>,
}

/// One image's scores, in the order of the evaluator's [`MetricSet`]; `None` where the metric is
/// undefined for this image (no fixations, or no negatives).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageScores {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

impl Evaluator {
    /// `dataset_fixations`: the fixations of every image of the dataset (split), which the
    /// shuffled AUC takes its negatives from and the default centre bias is built from; every
    /// image later scored must be among them (sAUC removes the image's own fixations from the
    /// pool). Only what the chosen metrics need is built.
    pub fn new(
        metrics: MetricSet,
        options: EvalOptions,
        dataset_fixations: &[Fixations<'_>],
    ) -> Self {
        Self::with_sauc_negatives(
            metrics,
            options,
            dataset_fixations,
            SaucNegatives::OtherImages,
        )
    }

    /// As [`Evaluator::new`], with the shuffled AUC's negatives chosen by `sauc_negatives`.
    pub fn with_sauc_negatives(
        metrics: MetricSet,
        options: EvalOptions,
        dataset_fixations: &[Fixations<'_>],
        sauc_negatives: SaucNegatives,
    ) -> Self {
        let pool = (metrics.contains(Metric::Sauc) && sauc_negatives == SaucNegatives::OtherImages)
            .then(|| FixationPool::new(dataset_fixations));
        let ig_model = match &options.ig_baseline {
            _ if !metrics.contains(Metric::Ig) => None,
            IgBaseline::Uniform => None,
            IgBaseline::Model(model) => Some(Arc::clone(model)),
            // No fixations at all: nothing to build from; IG falls back to the uniform baseline
            // (and is undefined anyway, every image lacking fixations).
            IgBaseline::CentreBias => CentreBiasModel::from_fixation_grids(
                dataset_fixations,
                CentreBiasParams::default(),
                "the scored split",
            )
            .ok()
            .map(Arc::new),
        };
        Self {
            metrics,
            options,
            pool,
            sauc_negatives,
            ig_model,
        }
    }

    pub fn metrics(&self) -> &MetricSet {
        &self.metrics
    }

    /// Scores one image; `index` is its position in the dataset (it seeds AUC-Borji). Fails on
    /// bad input (NaN, wrong size, a missing ground truth); an undefined metric gives `None`.
    /// The prediction is read (and resized) once per ground-truth size.
    pub fn score(&self, index: usize, image: &ImageEval<'_>) -> Result<ImageScores, MetricError> {
        let metrics = self.metrics.metrics();
        let map_metric = metrics.iter().copied().find(|m| m.needs_saliency_map());
        let fix_metric = metrics.iter().copied().find(|m| !m.needs_saliency_map());
        let on_map = match map_metric {
            None => None,
            Some(metric) => {
                let gt = image.saliency.ok_or(MetricError::MissingInput {
                    metric,
                    what: "a ground-truth saliency map",
                })?;
                let g = Grid::read_native(gt, "ground-truth map")?;
                let p = Grid::read(image.prediction, "prediction", g.width, g.height)?;
                Some((p, g))
            }
        };
        let fix = match fix_metric {
            None => None,
            Some(metric) => Some(image.fixations.ok_or(MetricError::MissingInput {
                metric,
                what: "fixations",
            })?),
        };
        let own_grid = match (&fix, &on_map) {
            (Some(f), Some((p, _))) if (p.width, p.height) == (f.width(), f.height()) => None,
            (Some(f), _) => Some(Grid::read(
                image.prediction,
                "prediction",
                f.width(),
                f.height(),
            )?),
            (None, _) => None,
        };
        let pred_on_fix = own_grid.as_ref().or(on_map.as_ref().map(|(p, _)| p));

        let mut values = Vec::with_capacity(metrics.len());
        for &metric in metrics {
            let value = match (&on_map, fix, pred_on_fix) {
                (Some((p, g)), _, _) if metric.needs_saliency_map() => Ok(match metric {
                    Metric::Cc => distribution::cc(p, g),
                    Metric::Kld => distribution::kld(p, g),
                    _ => distribution::sim(p, g),
                }),
                (_, Some(f), Some(p)) => self.fixation_metric(metric, index, p, &f),
                _ => unreachable!("inputs read above for every metric"),
            };
            match value {
                Ok(v) => values.push(Some(v)),
                Err(e) if e.is_undefined_here() => values.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(ImageScores {
            name: image.name.to_string(),
            values,
        })
    }

    fn fixation_metric(
        &self,
        metric: Metric,
        index: usize,
        pred: &Grid,
        fix: &Fixations<'_>,
    ) -> Result<f64, MetricError> {
        if fix.points().is_empty() {
            return Err(MetricError::NoFixations(metric));
        }
        match metric {
            Metric::Nss => Ok(nss::nss(pred, fix)),
            Metric::AucJudd => judd::auc_judd(pred, fix),
            Metric::AucBorji => {
                let seed = splitmix64(self.options.borji_seed ^ index as u64);
                borji::auc_borji_seeded(pred, fix, seed)
            }
            Metric::Sauc => match &self.sauc_negatives {
                SaucNegatives::OtherImages => {
                    let counts = self
                        .pool
                        .as_ref()
                        .and_then(|p| p.counts(fix.width(), fix.height()))
                        .ok_or(MetricError::NoNegatives(Metric::Sauc))?;
                    shuffled::shuffled_auc_pooled(pred, fix, counts)
                }
                SaucNegatives::BaselineFixations(model) => {
                    let counts = model
                        .fixation_counts(fix.width(), fix.height())
                        .expect("fixation grids are never empty");
                    shuffled::shuffled_auc_weighted(
                        pred,
                        fix,
                        counts.iter().enumerate().map(|(i, &c)| (i, c as u64)),
                    )
                }
            },
            Metric::Ig => Ok(match &self.ig_model {
                Some(model) => {
                    let log_density = model
                        .log_density(fix.width(), fix.height())
                        .expect("fixation grids are never empty");
                    ig::information_gain(pred, fix, &|i| log_density[i] / LN_2)
                }
                None => {
                    let uniform = ig::map_baseline_log2(1.0 / pred.len() as f64);
                    ig::information_gain(pred, fix, &|_| uniform)
                }
            }),
            Metric::Cc | Metric::Kld | Metric::Sim => unreachable!("map metrics handled by score"),
        }
    }
}

/// Mean and population standard deviation (ddof 0) of one metric over the images where it is
/// defined; `skipped` counts the others.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub count: usize,
    pub skipped: usize,
}

impl Summary {
    fn of(values: impl Iterator<Item = Option<f64>>) -> Self {
        let (mut defined, mut skipped) = (Vec::new(), 0);
        for v in values {
            match v {
                Some(v) => defined.push(v),
                None => skipped += 1,
            }
        }
        let count = defined.len();
        if count == 0 {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
                count,
                skipped,
            };
        }
        let mean = defined.iter().sum::<f64>() / count as f64;
        let var = defined.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count as f64;
        Self {
            mean,
            std: var.sqrt(),
            count,
            skipped,
        }
    }
}

/// Scores of a whole dataset: per metric mean ± std, and every image's values.
/// Serialises (serde) as `{"images": N, "metrics": {"cc": {"mean": m, "std": s, "count": c,
/// "skipped": k}, ...}, "per_image": {"<name>": {"cc": v, ...}, ...}}`, metrics in the order
/// asked, undefined values as `null`. A metric defined for no image has `null` mean and std.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub metrics: MetricSet,
    pub summaries: Vec<Summary>,
    pub per_image: Vec<ImageScores>,
}

impl Report {
    /// Summarises per-image scores (in the order of `metrics`).
    pub fn new(metrics: MetricSet, per_image: Vec<ImageScores>) -> Self {
        let summaries = (0..metrics.len())
            .map(|k| Summary::of(per_image.iter().map(|s| s.values[k])))
            .collect();
        Self {
            metrics,
            summaries,
            per_image,
        }
    }

    pub fn images(&self) -> usize {
        self.per_image.len()
    }

    /// The summary of one metric, if it was computed.
    pub fn summary(&self, metric: Metric) -> Option<&Summary> {
        self.metrics.position(metric).map(|k| &self.summaries[k])
    }
}

struct MetricValues<'a>(&'a MetricSet, &'a [Option<f64>]);

impl Serialize for MetricValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.1.len()))?;
        for (m, v) in self.0.metrics().iter().zip(self.1) {
            map.serialize_entry(m.name(), v)?;
        }
        map.end()
    }
}

struct Summaries<'a>(&'a Report);

impl Serialize for Summaries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.summaries.len()))?;
        for (m, summary) in self.0.metrics.metrics().iter().zip(&self.0.summaries) {
            map.serialize_entry(m.name(), summary)?;
        }
        map.end()
    }
}

struct PerImage<'a>(&'a Report);

impl Serialize for PerImage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.per_image.len()))?;
        for scores in &self.0.per_image {
            map.serialize_entry(&scores.name, &MetricValues(&self.0.metrics, &scores.values))?;
        }
        map.end()
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("images", &self.images())?;
        map.serialize_entry("metrics", &Summaries(self))?;
        map.serialize_entry("per_image", &PerImage(self))?;
        map.end()
    }
}

/// A failure while scoring a batch, naming the image.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("image {image:?}: {source}")]
pub struct EvalError {
    pub image: String,
    #[source]
    pub source: MetricError,
}

/// Scores every image (in parallel) with the chosen metrics: the shuffled AUC's negatives and the
/// centre bias come from these images' fixations. The first bad input aborts with its image named.
pub fn evaluate(
    images: &[ImageEval<'_>],
    metrics: &MetricSet,
    options: &EvalOptions,
) -> Result<Report, EvalError> {
    let fixations: Vec<Fixations<'_>> = images.iter().filter_map(|i| i.fixations).collect();
    let evaluator = Evaluator::new(metrics.clone(), options.clone(), &fixations);
    let per_image = images
        .par_iter()
        .enumerate()
        .map(|(i, image)| {
            evaluator.score(i, image).map_err(|source| EvalError {
                image: image.name.to_string(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report::new(metrics.clone(), per_image))
}
