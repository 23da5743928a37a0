//! Distribution-based metrics: a prediction against a continuous ground-truth saliency map.

use crate::density::Density;
use crate::grid::Grid;

/// Regularisation constant of the MIT benchmark's KL divergence: Matlab's `eps`, truncated as the
/// benchmark's code and pysaliency's `MIT_KLDiv` write it.
pub const KLD_EPS: f64 = 2.2204e-16;

/// Pearson's linear correlation coefficient between the two maps.
///
/// `CC = Σ (p - p̄)(g - ḡ) / sqrt(Σ (p - p̄)² Σ (g - ḡ)²)`
/// (pysaliency `metrics.CC`; Bylinskii et al., TPAMI 2019, §3.2.3 "CC").
/// If either map is constant the correlation is undefined; we return 0.0 (pysaliency returns 0.0
/// for a constant prediction and NaN for a constant ground truth — we never return NaN).
pub(crate) fn cc(pred: &Grid, gt: &Grid) -> f64 {
    if pred.is_constant() || gt.is_constant() {
        return 0.0;
    }
    let (mean_p, mean_g) = (pred.mean(), gt.mean());
    let (mut cov, mut var_p, mut var_g) = (0.0, 0.0, 0.0);
    for (&p, &g) in pred.values.iter().zip(&gt.values) {
        let (dp, dg) = (p - mean_p, g - mean_g);
        cov += dp * dg;
        var_p += dp * dp;
        var_g += dg * dg;
    }
    cov / (var_p * var_g).sqrt()
}

/// KL divergence of the prediction from the ground truth, the MIT benchmark's variant.
///
/// With `P` and `G` the sum-normalised maps (see `density::Density`) and `ε` = [`KLD_EPS`]:
/// `KLD = Σ_i G_i · ln(ε + G_i / (P_i + ε))`, natural log
/// (pysaliency `metrics.MIT_KLDiv(pred, gt)`; Bylinskii et al., TPAMI 2019, §3.2.2 "KL").
/// Terms with `G_i = 0` are 0. A constant or all-zero prediction is the uniform distribution.
pub(crate) fn kld(pred: &Grid, gt: &Grid) -> f64 {
    let (dp, dg) = (Density::of(pred), Density::of(gt));
    pred.values
        .iter()
        .zip(&gt.values)
        .map(|(&p, &g)| {
            let (p, g) = (dp.at(p), dg.at(g));
            if g > 0.0 {
                g * (KLD_EPS + g / (p + KLD_EPS)).ln()
            } else {
                0.0
            }
        })
        .sum()
}

/// Similarity (histogram intersection) of the sum-normalised maps: `SIM = Σ_i min(P_i, G_i)`,
/// in [0, 1] (pysaliency `metrics.SIM`; Bylinskii et al., TPAMI 2019, §3.2.1 "SIM").
/// All-zero maps are uniform distributions.
pub(crate) fn sim(pred: &Grid, gt: &Grid) -> f64 {
    let (dp, dg) = (Density::of(pred), Density::of(gt));
    pred.values
        .iter()
        .zip(&gt.values)
        .map(|(&p, &g)| dp.at(p).min(dg.at(g)))
        .sum()
}
