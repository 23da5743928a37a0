//! Shuffled AUC: fixated values against the same map's values at other images' fixations.

use super::Positives;
use crate::error::MetricError;
use crate::grid::Grid;
use crate::map::Fixations;
use crate::metric::Metric;

/// Twice the Mann–Whitney count of one negative value against the positives:
/// `2·#(pos > v) + #(pos == v)`.
#[inline]
fn twice_wins(positives: &Positives, v: f64) -> u64 {
    let c = positives.count_le(v);
    if c == 0 {
        return 2 * positives.total;
    }
    let above = positives.total - positives.below_or_at[c - 1];
    let equal = if positives.distinct[c - 1] == v {
        positives.below_or_at[c - 1]
            - if c >= 2 {
                positives.below_or_at[c - 2]
            } else {
                0
            }
    } else {
        0
    };
    2 * above + equal
}

fn finish(positives: &Positives, wins: u128, count: u64) -> Result<f64, MetricError> {
    if count == 0 {
        return Err(MetricError::NoNegatives(Metric::Sauc));
    }
    Ok(wins as f64 / (2.0 * positives.total as f64 * count as f64))
}

/// Shuffled AUC with negatives given as pixel indices (row-major on the fixation grid), each
/// counted `weight` times.
///
/// pysaliency's `AUC_per_image(nonfixations='shuffled')` (thresholds='all', i.e.
/// `roc.general_roc(..., judd=0)`): every value is a threshold, so the trapezoidal area equals the
/// Mann–Whitney statistic `(#(pos > neg) + ½ #(pos == neg)) / (#pos · #neg)` over all
/// (positive, negative) pairs, which is what we compute, in exact integer counts.
/// The MIT benchmark's `AUC_shuffled.m` instead draws 100 random subsets of the other fixations
/// and uses thresholds every 0.1 (Bylinskii et al., TPAMI 2019, §3.1.2 "sAUC"); we follow
/// pysaliency, which is exact and needs no random numbers. A constant prediction scores 0.5.
pub(crate) fn shuffled_auc_weighted(
    pred: &Grid,
    fixations: &Fixations<'_>,
    negatives: impl Iterator<Item = (usize, u64)>,
) -> Result<f64, MetricError> {
    let positives = Positives::new(fixations.indices().map(|i| pred.values[i]).collect());
    if positives.total == 0 {
        return Err(MetricError::NoFixations(Metric::Sauc));
    }
    let (mut wins, mut count) = (0u128, 0u64);
    for (i, weight) in negatives.filter(|&(_, w)| w > 0) {
        wins += (twice_wins(&positives, pred.values[i]) * weight) as u128;
        count += weight;
    }
    finish(&positives, wins, count)
}

/// The same with a count map of negatives from which the image's own fixations are removed:
/// `counts[i]` = fixations of *all* images of the dataset at pixel `i` (rescaled to this grid),
/// the image's own included. One pass over the pixels, then the own fixations are subtracted.
pub(crate) fn shuffled_auc_pooled(
    pred: &Grid,
    fixations: &Fixations<'_>,
    counts: &[u32],
) -> Result<f64, MetricError> {
    let positives = Positives::new(fixations.indices().map(|i| pred.values[i]).collect());
    if positives.total == 0 {
        return Err(MetricError::NoFixations(Metric::Sauc));
    }
    let (mut wins, mut count) = (0u128, 0u64);
    for (&v, &c) in pred.values.iter().zip(counts) {
        if c > 0 {
            wins += (twice_wins(&positives, v) * c as u64) as u128;
            count += c as u64;
        }
    }
    for i in fixations.indices() {
        let own = twice_wins(&positives, pred.values[i]) as u128;
        if counts[i] == 0 || wins < own || count == 0 {
            return Err(MetricError::MissingInput {
                metric: Metric::Sauc,
                what: "this image's fixations among the pooled dataset fixations",
            });
        }
        wins -= own;
        count -= 1;
    }
    finish(&positives, wins, count)
}
