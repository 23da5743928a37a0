//! The metric names and the ordered set of metrics a run computes.

use std::fmt;
use std::str::FromStr;

use crate::error::MetricError;

/// One of the standard saliency metrics. Names (for `FromStr`/`Display`, the CLI and JSON keys):
/// `cc`, `kld`, `nss`, `sim`, `auc_judd`, `auc_borji`, `sauc`, `ig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Cc,
    Kld,
    Nss,
    Sim,
    AucJudd,
    AucBorji,
    Sauc,
    Ig,
}

impl Metric {
    /// Every metric, in the order reports list them.
    pub const ALL: [Metric; 8] = [
        Metric::Cc,
        Metric::Kld,
        Metric::Nss,
        Metric::Sim,
        Metric::AucJudd,
        Metric::AucBorji,
        Metric::Sauc,
        Metric::Ig,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cc => "cc",
            Metric::Kld => "kld",
            Metric::Nss => "nss",
            Metric::Sim => "sim",
            Metric::AucJudd => "auc_judd",
            Metric::AucBorji => "auc_borji",
            Metric::Sauc => "sauc",
            Metric::Ig => "ig",
        }
    }

    /// Compares the prediction with a continuous ground-truth map (else with fixations).
    pub fn needs_saliency_map(self) -> bool {
        matches!(self, Metric::Cc | Metric::Kld | Metric::Sim)
    }

    /// Lower is better (only KLD).
    pub fn lower_is_better(self) -> bool {
        self == Metric::Kld
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = MetricError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == wanted)
            .ok_or_else(|| MetricError::UnknownMetric(s.to_string()))
    }
}

/// An ordered list of distinct metrics, e.g. parsed from `"cc,kld,nss"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSet(Vec<Metric>);

impl MetricSet {
    /// The metrics in the given order, duplicates dropped.
    pub fn new(metrics: impl IntoIterator<Item = Metric>) -> Self {
        let mut list: Vec<Metric> = Vec::new();
        for m in metrics {
            if !list.contains(&m) {
                list.push(m);
            }
        }
        Self(list)
    }

    pub fn all() -> Self {
        Self(Metric::ALL.to_vec())
    }

    pub fn metrics(&self) -> &[Metric] {
        &self.0
    }

    pub fn contains(&self, metric: Metric) -> bool {
        self.0.contains(&metric)
    }

    /// Position of `metric` in the set (its column in per-image scores).
    pub fn position(&self, metric: Metric) -> Option<usize> {
        self.0.iter().position(|&m| m == metric)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for MetricSet {
    type Err = MetricError;

    /// Comma-separated names; `all` stands for every metric.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "all" {
            return Ok(Self::all());
        }
        let metrics = s
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Metric::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        if metrics.is_empty() {
            return Err(MetricError::UnknownMetric(s.to_string()));
        }
        Ok(Self::new(metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!("AUC-Judd".parse::<Metric>().unwrap(), Metric::AucJudd);
    }

    #[test]
    fn sets_parse_in_order_without_duplicates() {
        let set: MetricSet = "nss, cc,nss".parse().unwrap();
        assert_eq!(set.metrics(), &[Metric::Nss, Metric::Cc]);
        assert_eq!("all".parse::<MetricSet>().unwrap(), MetricSet::all());
        assert_eq!(
            "cc,bogus".parse::<MetricSet>().unwrap_err(),
            MetricError::UnknownMetric("bogus".into())
        );
        assert!("".parse::<MetricSet>().is_err());
    }
}
