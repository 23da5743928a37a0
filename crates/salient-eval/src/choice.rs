//! Which metrics a split is scored with: the ones asked for, or every metric its ground truth
//! supports (the fixation metrics need fixations; a split without them gets CC, KLD and SIM).

use salient_data::Sample;
use salient_metrics::{Metric, MetricSet};

use crate::error::EvalError;

/// The metrics to score and whether the default set was narrowed for want of fixations.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChoice {
    pub metrics: MetricSet,
    /// `true` when no metrics were asked for and the split has no fixations, so only the
    /// saliency-map metrics (CC, KLD, SIM) are scored.
    pub without_fixations: bool,
}

/// Every metric `samples` support: all eight when any sample has fixations, else CC, KLD, SIM.
pub fn supported_metrics(samples: &[Sample]) -> MetricSet {
    if has_fixations(samples) {
        MetricSet::all()
    } else {
        map_metrics()
    }
}

/// `asked`, checked against what `samples` support, or [`supported_metrics`] when `None`.
/// Fixation metrics asked for a split without fixations are an error naming them.
pub fn choose_metrics(
    asked: Option<&MetricSet>,
    samples: &[Sample],
) -> Result<MetricChoice, EvalError> {
    let with_fixations = has_fixations(samples);
    let Some(asked) = asked else {
        return Ok(MetricChoice {
            metrics: supported_metrics(samples),
            without_fixations: !with_fixations,
        });
    };
    let needs_fixations: Vec<Metric> = asked
        .metrics()
        .iter()
        .copied()
        .filter(|m| !m.needs_saliency_map())
        .collect();
    if !with_fixations && !needs_fixations.is_empty() {
        return Err(EvalError::NeedsFixations(needs_fixations));
    }
    Ok(MetricChoice {
        metrics: asked.clone(),
        without_fixations: false,
    })
}

fn has_fixations(samples: &[Sample]) -> bool {
    samples.iter().any(|s| s.fixations.is_some())
}

fn map_metrics() -> MetricSet {
    MetricSet::new(Metric::ALL.into_iter().filter(|m| m.needs_saliency_map()))
}
