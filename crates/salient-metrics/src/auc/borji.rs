//! AUC-Borji: fixated values against uniformly drawn pixels, thresholds every 0.1.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::trapezoid_area;
use crate::error::MetricError;
use crate::grid::Grid;
use crate::map::Fixations;
use crate::metric::Metric;

/// Number of random negative sets averaged over (the MIT benchmark's `Nsplits`).
pub const BORJI_SPLITS: usize = 100;
/// Threshold step on the min-max-normalised map (the MIT benchmark's `stepSize`).
pub const BORJI_STEP: f64 = 0.1;
/// Thresholds `k · 0.1`, k = 0..=10, computed as numpy's `arange` computes them.
const LEVELS: usize = 11;

fn thresholds() -> [f64; LEVELS] {
    std::array::from_fn(|k| k as f64 * BORJI_STEP)
}

/// Matlab's `mat2gray`: the map min-max normalised to [0, 1]; a constant map becomes all 0.
/// Applied only to the values that are looked at.
fn normaliser(pred: &Grid) -> impl Fn(f64) -> f64 {
    let (lo, hi) = (pred.min, pred.max);
    move |v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 }
}

/// Counts of values per level: `hist[l]` = values with exactly `l` thresholds ≤ them.
fn level_histogram(values: impl Iterator<Item = f64>, th: &[f64; LEVELS]) -> [u64; LEVELS + 1] {
    let mut hist = [0u64; LEVELS + 1];
    for v in values {
        hist[th.partition_point(|&t| t <= v)] += 1;
    }
    hist
}

/// AUC of one split: points `(share of negatives ≥ θ, share of positives ≥ θ)` for θ = 1.0, 0.9,
/// …, 0.0, between (0,0) and (1,1).
fn split_auc(pos: &[u64; LEVELS + 1], neg: &[u64; LEVELS + 1], n_pos: f64, n_neg: f64) -> f64 {
    let (mut tp, mut fp) = (0u64, 0u64);
    let points = (0..LEVELS).rev().map(|k| {
        tp += pos[k + 1];
        fp += neg[k + 1];
        (fp as f64 / n_neg, tp as f64 / n_pos)
    });
    trapezoid_area(points)
}

/// AUC-Borji with the negatives given: `splits[s]` lists the pixel indices (row-major, on the
/// fixation grid) drawn for split `s`. The MIT benchmark's `AUC_Borji.m` (Borji et al. 2013;
/// Bylinskii et al., TPAMI 2019, §3.1.2 "AUC-Borji"; pysaliency has no such function):
///
/// the map is min-max normalised to [0, 1]; positives = its values at the fixations; for each
/// split, negatives = its values at the drawn pixels; thresholds θ = 0, 0.1, …, 1.0; the ROC
/// points `(share of negatives ≥ θ, share of positives ≥ θ)` from θ = 1 down to 0, with (0,0) and
/// (1,1) added, are integrated with the trapezoid rule; the score is the mean over splits.
/// (Matlab's thresholds run `0:0.1:max(values)`; thresholds above the largest value only add the
/// point (0,0) again, so the area is the same. θ_k is computed as `k * 0.1`, as numpy does; Matlab's
/// colon operator rounds a few of them differently, which matters only for values lying exactly
/// on a threshold.) A constant prediction scores 0.5.
pub(crate) fn auc_borji_given(
    pred: &Grid,
    fixations: &Fixations<'_>,
    splits: &[Vec<usize>],
) -> Result<f64, MetricError> {
    if fixations.points().is_empty() {
        return Err(MetricError::NoFixations(Metric::AucBorji));
    }
    if splits.is_empty() || splits.iter().any(Vec::is_empty) {
        return Err(MetricError::NoNegatives(Metric::AucBorji));
    }
    let norm = normaliser(pred);
    let th = thresholds();
    let pos = level_histogram(fixations.indices().map(|i| norm(pred.values[i])), &th);
    let n_pos = fixations.points().len() as f64;
    let total: f64 = splits
        .iter()
        .map(|split| {
            let neg = level_histogram(split.iter().map(|&i| norm(pred.values[i])), &th);
            split_auc(&pos, &neg, n_pos, split.len() as f64)
        })
        .sum();
    Ok(total / splits.len() as f64)
}

/// AUC-Borji with [`BORJI_SPLITS`] splits of as many uniformly drawn pixels (with replacement) as
/// there are fixations, as `AUC_Borji.m` draws them (`randi(Npixels, Nfixations, Nsplits)`), from
/// a ChaCha8 generator seeded with `seed`: the same seed gives the same score on any machine.
pub(crate) fn auc_borji_seeded(
    pred: &Grid,
    fixations: &Fixations<'_>,
    seed: u64,
) -> Result<f64, MetricError> {
    let n = fixations.points().len();
    if n == 0 {
        return Err(MetricError::NoFixations(Metric::AucBorji));
    }
    let pixels = pred.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let splits: Vec<Vec<usize>> = (0..BORJI_SPLITS)
        .map(|_| (0..n).map(|_| rng.random_range(0..pixels)).collect())
        .collect();
    auc_borji_given(pred, fixations, &splits)
}
