//! The one error type of the crate: every bad or degenerate input gets a named variant.

use crate::metric::Metric;

/// Why a metric could not be computed. Degenerate but meaningful inputs (constant maps, all-zero
/// maps) are not errors: each metric documents the value it gives them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// A map's buffer does not hold `width * height` values, or a size is zero.
    #[error("{what}: {len} values do not make a {width}x{height} map")]
    Shape {
        what: &'static str,
        len: usize,
        width: usize,
        height: usize,
    },
    /// A map holds NaN or ±inf.
    #[error("{what} holds a non-finite value ({value}) at pixel (y={y}, x={x})")]
    NonFinite {
        what: &'static str,
        y: usize,
        x: usize,
        value: f32,
    },
    /// A fixation lies outside its map.
    #[error("fixation (y={y}, x={x}) lies outside the {width}x{height} fixation map")]
    FixationOutOfBounds {
        y: u32,
        x: u32,
        width: usize,
        height: usize,
    },
    /// A fixation's exact coordinates do not match its pixel (see `Fixations::with_coordinates`).
    #[error("fixation {index} at (x={x}, y={y}): {reason}")]
    Coordinates {
        index: usize,
        x: f64,
        y: f64,
        reason: &'static str,
    },
    /// A fixation-based metric was asked for an image without fixations: it is undefined there.
    #[error("the image has no fixations: {0} is undefined")]
    NoFixations(Metric),
    /// An AUC has no negatives to compare with (every pixel fixated, or no other image's fixations).
    #[error("{0} has no negatives to rank the fixations against")]
    NoNegatives(Metric),
    /// An input the metric needs was not given (e.g. CC without a ground-truth map).
    #[error("{metric} needs {what}, which was not given")]
    MissingInput { metric: Metric, what: &'static str },
    /// A name that is not one of the metrics.
    #[error(
        "unknown metric {0:?}: expected one of cc, kld, nss, sim, auc_judd, auc_borji, sauc, ig"
    )]
    UnknownMetric(String),
}

impl MetricError {
    /// Undefined for this image (no fixations, no negatives) rather than wrong input: a batch skips
    /// such images for that metric and counts them, as pysaliency's per-image averages do.
    pub fn is_undefined_here(&self) -> bool {
        matches!(self, Self::NoFixations(_) | Self::NoNegatives(_))
    }
}
