//! Information gain over a baseline, in bits per fixation.

use crate::density::Density;
use crate::distribution::KLD_EPS;
use crate::grid::Grid;
use crate::map::Fixations;

/// `IG = (1/N) Σ_f [log2(ε + P(f)) − log2(ε + B(f))]`, with `P` and `B` the prediction and the
/// baseline turned into densities over pixels (sum-normalised, see `density`), `ε` = 2.2204e-16.
///
/// pysaliency's `information_gains` of a `SaliencyMapNormalizingModel(pred)` against one of the
/// baseline (`(log P(f) − log B(f)) / ln 2` per fixation, averaged over the image's fixations);
/// it has no `ε`, so a zero density at a fixation gives −inf there. We add Bylinskii et al.'s `ε`
/// (TPAMI 2019, §3.2.4 "IG"; the MIT `InfoGain.m` uses Matlab's `eps`), which keeps the score
/// finite and changes it by less than 1e-9 relative wherever the density is not tiny.
/// Unlike `InfoGain.m` the maps are not min-max normalised first (pysaliency's convention, the
/// same as for KLD and SIM): min-max normalising would give the least salient pixel zero density.
/// `baseline_log2(i)` is the baseline's `log2` density at pixel `i`: `log2(ε + B(i))` for a
/// baseline given as a map ([`map_baseline_log2`]), the exact log-density for a model that has one
/// (the centre bias: pysaliency compares log-densities, and its floor can be far below ε).
/// The caller guarantees a fixation.
pub(crate) fn information_gain(
    pred: &Grid,
    fixations: &Fixations<'_>,
    baseline_log2: &dyn Fn(usize) -> f64,
) -> f64 {
    let density = Density::of(pred);
    let total: f64 = fixations
        .indices()
        .map(|i| (KLD_EPS + density.at(pred.values[i])).log2() - baseline_log2(i))
        .sum();
    total / fixations.points().len() as f64
}

/// `log2(ε + B)` of a baseline density value `B`, the regularised form of the MIT `InfoGain.m`.
#[inline]
pub(crate) fn map_baseline_log2(density: f64) -> f64 {
    (KLD_EPS + density).log2()
}
