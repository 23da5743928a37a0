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
/// `baseline(i)` is the baseline's density at pixel `i`. The caller guarantees a fixation.
pub(crate) fn information_gain(
    pred: &Grid,
    fixations: &Fixations<'_>,
    baseline: &dyn Fn(usize) -> f64,
) -> f64 {
    let density = Density::of(pred);
    let total: f64 = fixations
        .indices()
        .map(|i| (KLD_EPS + density.at(pred.values[i])).log2() - (KLD_EPS + baseline(i)).log2())
        .sum();
    total / fixations.points().len() as f64
}
