//! The metrics on one image: a prediction against a ground-truth map or the image's fixations.
//! The prediction is read as `f64`, rejected if it holds NaN/inf, and resized bilinearly to the
//! ground truth's size when the sizes differ (see `resize`).

use std::f64::consts::LN_2;

use crate::auc::{borji, judd, shuffled};
use crate::centre_bias::CentreBiasModel;
use crate::density::Density;
use crate::distribution;
use crate::error::MetricError;
use crate::grid::Grid;
use crate::ig;
use crate::map::{Fixation, Fixations, Map};
use crate::metric::Metric;
use crate::nss as nss_impl;

fn pred_and_gt(pred: Map<'_>, gt: Map<'_>) -> Result<(Grid, Grid), MetricError> {
    let gt = Grid::read_native(gt, "ground-truth map")?;
    let pred = Grid::read(pred, "prediction", gt.width, gt.height)?;
    Ok((pred, gt))
}

fn pred_on(pred: Map<'_>, fixations: &Fixations<'_>, metric: Metric) -> Result<Grid, MetricError> {
    if fixations.points().is_empty() {
        return Err(MetricError::NoFixations(metric));
    }
    Grid::read(pred, "prediction", fixations.width(), fixations.height())
}

fn indices_on(grid: &Fixations<'_>, points: &[Fixation]) -> Result<Vec<usize>, MetricError> {
    let checked = Fixations::new(points, grid.width(), grid.height())?;
    Ok(checked.indices().collect())
}

/// Pearson correlation (see `distribution::cc` for the definition and degenerate cases).
/// `CC = cov(P, G) / (σ_P σ_G)`; 0.0 when either map is constant. Reference: pysaliency
/// `metrics.CC`; Bylinskii et al., TPAMI 2019.
pub fn cc(pred: Map<'_>, gt: Map<'_>) -> Result<f64, MetricError> {
    let (p, g) = pred_and_gt(pred, gt)?;
    Ok(distribution::cc(&p, &g))
}

/// MIT KL divergence `Σ G ln(ε + G / (P + ε))`, ε = 2.2204e-16, maps sum-normalised.
/// Reference: pysaliency `metrics.MIT_KLDiv`; Bylinskii et al., TPAMI 2019.
pub fn kld(pred: Map<'_>, gt: Map<'_>) -> Result<f64, MetricError> {
    let (p, g) = pred_and_gt(pred, gt)?;
    Ok(distribution::kld(&p, &g))
}

/// Similarity `Σ min(P, G)` of the sum-normalised maps. Reference: pysaliency `metrics.SIM`;
/// Bylinskii et al., TPAMI 2019.
pub fn sim(pred: Map<'_>, gt: Map<'_>) -> Result<f64, MetricError> {
    let (p, g) = pred_and_gt(pred, gt)?;
    Ok(distribution::sim(&p, &g))
}

/// Normalised scanpath saliency, mean over the fixations of `(P - μ) / σ` (σ with ddof 0); 0.0
/// for a constant map. Reference: pysaliency `metrics.NSS`; Bylinskii et al., TPAMI 2019.
pub fn nss(pred: Map<'_>, fixations: Fixations<'_>) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::Nss)?;
    Ok(nss_impl::nss(&p, &fixations))
}

/// AUC-Judd: exact ROC of fixated against unfixated pixels, thresholds at the fixated values.
/// Reference: pysaliency `AUC_Judd(jitter=False)`; Judd et al. 2012; Bylinskii et al., TPAMI 2019.
pub fn auc_judd(pred: Map<'_>, fixations: Fixations<'_>) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::AucJudd)?;
    judd::auc_judd(&p, &fixations)
}

/// AUC-Borji with 100 splits of uniformly drawn negatives (seeded ChaCha8), thresholds every 0.1
/// of the min-max-normalised map. Reference: MIT benchmark `AUC_Borji.m`; Borji et al. 2013;
/// Bylinskii et al., TPAMI 2019.
pub fn auc_borji(pred: Map<'_>, fixations: Fixations<'_>, seed: u64) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::AucBorji)?;
    borji::auc_borji_seeded(&p, &fixations, seed)
}

/// AUC-Borji with given negatives: `splits[s]` holds the pixels drawn for split `s` (positions on
/// the fixation grid). Same definition as [`auc_borji`]; this entry point makes it checkable
/// exactly against a reference fed the same draws.
pub fn auc_borji_with_negatives(
    pred: Map<'_>,
    fixations: Fixations<'_>,
    splits: &[Vec<Fixation>],
) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::AucBorji)?;
    let splits = splits
        .iter()
        .map(|s| indices_on(&fixations, s))
        .collect::<Result<Vec<_>, _>>()?;
    borji::auc_borji_given(&p, &fixations, &splits)
}

/// Shuffled AUC: the fixated values against the prediction's values at `negatives`, the other
/// images' fixations (given on this image's fixation grid, duplicates counted). Exact
/// Mann–Whitney area, ties ½. Reference: pysaliency `AUC_per_image(nonfixations='shuffled')`;
/// Bylinskii et al., TPAMI 2019.
pub fn shuffled_auc(
    pred: Map<'_>,
    fixations: Fixations<'_>,
    negatives: &[Fixation],
) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::Sauc)?;
    let negatives = indices_on(&fixations, negatives)?;
    shuffled::shuffled_auc_weighted(&p, &fixations, negatives.into_iter().map(|i| (i, 1)))
}

/// Information gain in bits per fixation over `baseline` (a map, resized like the prediction, or
/// the uniform distribution when `None`): mean of `log2(ε + P(f)) − log2(ε + B(f))` with `P`, `B`
/// sum-normalised, ε = 2.2204e-16. Reference: pysaliency `information_gains` of
/// `SaliencyMapNormalizingModel`s; Kümmerer et al. 2015; Bylinskii et al., TPAMI 2019.
pub fn information_gain(
    pred: Map<'_>,
    fixations: Fixations<'_>,
    baseline: Option<Map<'_>>,
) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::Ig)?;
    Ok(match baseline {
        None => {
            let uniform = ig::map_baseline_log2(1.0 / p.len() as f64);
            ig::information_gain(&p, &fixations, &|_| uniform)
        }
        Some(b) => {
            let b = Grid::read(b, "baseline", fixations.width(), fixations.height())?;
            let density = Density::of(&b);
            ig::information_gain(&p, &fixations, &|i| {
                ig::map_baseline_log2(density.at(b.values[i]))
            })
        }
    })
}

/// Information gain in bits per fixation over a centre-bias model: mean of
/// `log2(ε + P(f)) − log B(f) / ln 2`, with `P` the sum-normalised prediction (ε = 2.2204e-16, as
/// in [`information_gain`]) and `log B` the model's exact log-density on the fixations' grid
/// ([`CentreBiasModel::log_density`], no ε: its floor may lie far below ε). Reference: pysaliency
/// `information_gains(..., baseline_model=BaselineModel(...))` of a
/// `SaliencyMapNormalizingModel`; Kümmerer, Wallis, Bethge, PNAS 2015.
pub fn information_gain_over_centre_bias(
    pred: Map<'_>,
    fixations: Fixations<'_>,
    baseline: &CentreBiasModel,
) -> Result<f64, MetricError> {
    let p = pred_on(pred, &fixations, Metric::Ig)?;
    let log_density = baseline
        .log_density(fixations.width(), fixations.height())
        .expect("fixation grids are never empty");
    Ok(ig::information_gain(&p, &fixations, &|i| {
        log_density[i] / LN_2
    }))
}
