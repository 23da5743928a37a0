//! AUC-Judd: exact ROC with every fixated value as a threshold.

use super::{trapezoid_area, Positives};
use crate::error::MetricError;
use crate::grid::Grid;
use crate::map::Fixations;
use crate::metric::Metric;

/// AUC-Judd, as pysaliency's `AUC_Judd(..., jitter=False)`, i.e. `AUC_per_image(nonfixations=
/// 'unfixated', thresholds='fixations')` and `roc.general_roc(positives, negatives, judd=1)`:
///
/// positives = the prediction at each fixation (duplicates kept), negatives = the prediction at
/// every pixel that is not fixated. For each distinct positive value `θ` (descending), the point
/// `(FP(θ), TP(θ))` = (share of negatives ≥ θ, share of positives ≥ θ); the curve runs from (0,0)
/// through these points to (1,1) and the AUC is its trapezoidal area
/// (Bylinskii et al., TPAMI 2019, §3.1.1 "AUC-Judd"; Judd et al. 2012).
///
/// Ties are counted with `≥`, deterministically. pysaliency's default (`jitter=True`) and the
/// MIT Matlab code first add N(0, 1e-7²) noise to the map, which breaks ties at random: that
/// changes nothing for maps without tied values and, for maps with many ties (8-bit PNGs), moves
/// the score by a few 1e-3 (docs/metrics.md gives the measured difference).
/// A constant prediction scores 0.5.
///
/// Speed: only the fixated values are sorted; each pixel finds how many of them it reaches in
/// constant time (see `Positives::count_le`) and lands in a histogram whose suffix sums are the
/// `FP(θ)` counts: one pass over the map, no sort of it.
pub(crate) fn auc_judd(pred: &Grid, fixations: &Fixations<'_>) -> Result<f64, MetricError> {
    let positives = Positives::new(fixations.indices().map(|i| pred.values[i]).collect());
    if positives.total == 0 {
        return Err(MetricError::NoFixations(Metric::AucJudd));
    }
    // reached[c] = pixels whose value is ≥ exactly c distinct fixated values.
    let mut reached = vec![0u64; positives.distinct.len() + 1];
    for &v in &pred.values {
        reached[positives.count_le(v)] += 1;
    }
    // The fixated pixels themselves are not negatives: remove each once.
    let mut fixated: Vec<usize> = fixations.indices().collect();
    fixated.sort_unstable();
    fixated.dedup();
    for &i in &fixated {
        reached[positives.count_le(pred.values[i])] -= 1;
    }
    let negatives = (pred.len() - fixated.len()) as f64;
    if negatives == 0.0 {
        return Err(MetricError::NoNegatives(Metric::AucJudd));
    }
    let total = positives.total as f64;
    // Walk the thresholds from the highest down, accumulating counts ≥ θ.
    let mut false_pos = 0u64;
    let points = (0..positives.distinct.len()).rev().map(|j| {
        false_pos += reached[j + 1];
        (
            false_pos as f64 / negatives,
            positives.at_or_above(j) as f64 / total,
        )
    });
    Ok(trapezoid_area(points))
}
