//! Normalised scanpath saliency.

use crate::grid::Grid;
use crate::map::Fixations;

/// Mean of the standardised prediction at the fixations:
/// `NSS = (1/N) Σ_f (P(f) - μ_P) / σ_P`, `σ_P` the population standard deviation (ddof = 0)
/// (pysaliency `metrics.NSS`, averaged over the image's fixations; Bylinskii et al., TPAMI 2019,
/// §3.1.3 "NSS" — the MIT Matlab code divides by the N-1 standard deviation instead, a relative
/// difference of 1/(2·pixels), ~1.6e-6 at 480x640). A constant prediction scores 0.
/// The caller guarantees at least one fixation.
pub(crate) fn nss(pred: &Grid, fixations: &Fixations<'_>) -> f64 {
    if pred.is_constant() {
        return 0.0;
    }
    let mean = pred.mean();
    let var = pred
        .values
        .iter()
        .map(|&v| (v - mean) * (v - mean))
        .sum::<f64>()
        / pred.len() as f64;
    let std = var.sqrt();
    let total: f64 = fixations
        .indices()
        .map(|i| (pred.values[i] - mean) / std)
        .sum();
    total / fixations.points().len() as f64
}
