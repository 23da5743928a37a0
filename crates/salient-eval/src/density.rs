//! Scoring a fixation density as the MIT/Tübingen benchmark does: each metric on the map derived
//! from the density that is best for it (Kümmerer, Wallis & Bethge, "Saliency Benchmarking Made
//! Easy", ECCV 2018, §4):
//!
//! | metric | map scored |
//! | --- | --- |
//! | AUC-Judd, AUC-Borji, NSS | the density `p` itself |
//! | sAUC | `ln p − ln b`, `b` the centre-bias baseline's density (IG's baseline) |
//! | CC, KLD, SIM | `p` blurred with the dataset's empirical-map kernel (its map sigma) |
//! | IG | `p` directly: `log2 p − log2 b` per fixation, bits per fixation |
//!
//! Plain saliency maps (seed-head models, prediction folders) keep one map for every metric.

use std::sync::Arc;

use salient_data::{blur_like_empirical_maps, MapF32, MapSigma};
use salient_metrics::{
    CentreBiasModel, CentreBiasParams, EvalOptions, Evaluator, Fixations, IgBaseline, Metric,
    MetricSet, SaucNegatives,
};

/// Which map derived from a density a metric is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DensityMap {
    /// The density `p`.
    Density,
    /// `ln p − ln b` with `b` the centre-bias baseline (a uniform baseline leaves `ln p`).
    OverCentreBias,
    /// `p` blurred with the dataset's empirical-map kernel.
    Blurred,
}

impl DensityMap {
    /// The map a metric is scored on.
    pub fn for_metric(metric: Metric) -> Self {
        match metric {
            Metric::Sauc => DensityMap::OverCentreBias,
            Metric::Cc | Metric::Kld | Metric::Sim => DensityMap::Blurred,
            Metric::Nss | Metric::AucJudd | Metric::AucBorji | Metric::Ig => DensityMap::Density,
        }
    }

    /// What the report says the metric was scored on.
    pub fn describe(self, metric: Metric, map_sigma: MapSigma) -> String {
        match (self, metric) {
            (DensityMap::Density, Metric::Ig) => "density (log2 p − log2 baseline)".to_string(),
            (DensityMap::Density, _) => "density".to_string(),
            (DensityMap::OverCentreBias, _) => "log density − log centre bias".to_string(),
            (DensityMap::Blurred, _) => format!("density ⊛ empirical-map kernel (σ {map_sigma})"),
        }
    }
}

/// One evaluator per derived map, each scoring its metrics' positions in the full list.
pub(crate) struct DensityScoring {
    groups: Vec<(DensityMap, Evaluator, Vec<usize>)>,
    map_sigma: MapSigma,
    /// The baseline `b` of [`DensityMap::OverCentreBias`]; `None` for a uniform baseline.
    centre_bias: Option<Arc<CentreBiasModel>>,
}

impl DensityScoring {
    pub fn new(
        metrics: &MetricSet,
        options: &EvalOptions,
        views: &[Fixations<'_>],
        sauc_negatives: &SaucNegatives,
        map_sigma: MapSigma,
    ) -> Self {
        let mut groups = Vec::new();
        for kind in [
            DensityMap::Density,
            DensityMap::OverCentreBias,
            DensityMap::Blurred,
        ] {
            let positions: Vec<usize> = metrics
                .metrics()
                .iter()
                .enumerate()
                .filter(|(_, m)| DensityMap::for_metric(**m) == kind)
                .map(|(i, _)| i)
                .collect();
            if positions.is_empty() {
                continue;
            }
            let subset = MetricSet::new(positions.iter().map(|&i| metrics.metrics()[i]));
            let evaluator = Evaluator::with_sauc_negatives(
                subset,
                options.clone(),
                views,
                sauc_negatives.clone(),
            );
            groups.push((kind, evaluator, positions));
        }
        let needs_baseline = groups
            .iter()
            .any(|(kind, _, _)| *kind == DensityMap::OverCentreBias);
        let centre_bias = match &options.ig_baseline {
            _ if !needs_baseline => None,
            IgBaseline::Model(model) => Some(Arc::clone(model)),
            IgBaseline::Uniform => None,
            IgBaseline::CentreBias => CentreBiasModel::from_fixation_grids(
                views,
                CentreBiasParams::default(),
                "the split",
            )
            .ok()
            .map(Arc::new),
        };
        Self {
            groups,
            map_sigma,
            centre_bias,
        }
    }

    pub fn groups(&self) -> &[(DensityMap, Evaluator, Vec<usize>)] {
        &self.groups
    }

    /// The map of `kind` derived from `density` (at the image's size).
    pub fn derive(&self, kind: DensityMap, density: &MapF32) -> Result<MapF32, String> {
        let (w, h) = (density.width, density.height);
        Ok(match kind {
            DensityMap::Density => density.clone(),
            DensityMap::Blurred => {
                let sigma = self.map_sigma.pixels(w as u32, h as u32);
                blur_like_empirical_maps(density, sigma)
            }
            DensityMap::OverCentreBias => {
                let baseline = match &self.centre_bias {
                    Some(model) => Some(model.log_density(w, h).map_err(|e| e.to_string())?),
                    None => None,
                };
                let data = density
                    .data
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| {
                        let log_p = f64::from(p.max(f32::MIN_POSITIVE)).ln();
                        (log_p - baseline.as_ref().map_or(0.0, |b| b[i])) as f32
                    })
                    .collect();
                MapF32 {
                    width: w,
                    height: h,
                    data,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_metric_has_its_map() {
        assert_eq!(
            DensityMap::for_metric(Metric::Sauc),
            DensityMap::OverCentreBias
        );
        assert_eq!(DensityMap::for_metric(Metric::Cc), DensityMap::Blurred);
        assert_eq!(DensityMap::for_metric(Metric::Ig), DensityMap::Density);
        assert_eq!(DensityMap::for_metric(Metric::AucJudd), DensityMap::Density);
        let text = DensityMap::Blurred.describe(Metric::Kld, MapSigma::Pixels(24.0));
        assert!(text.contains("24"), "{text}");
    }

    /// The derived maps: the density itself, the density blurred with the empirical-map kernel
    /// (σ from the dataset's map sigma at the image's size), and `ln p` minus a uniform baseline's
    /// nothing (`ln p`).
    #[test]
    fn derived_maps_are_what_the_table_says() {
        let metrics: MetricSet = "cc,nss,sauc".parse().unwrap();
        let options = EvalOptions {
            ig_baseline: IgBaseline::Uniform,
            ..EvalOptions::default()
        };
        let scoring = DensityScoring::new(
            &metrics,
            &options,
            &[],
            &SaucNegatives::default(),
            MapSigma::LargerSide(0.1),
        );
        let kinds: Vec<(DensityMap, Vec<usize>)> = scoring
            .groups()
            .iter()
            .map(|(k, _, p)| (*k, p.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (DensityMap::Density, vec![1]),
                (DensityMap::OverCentreBias, vec![2]),
                (DensityMap::Blurred, vec![0]),
            ]
        );
        let (w, h) = (40, 30);
        let mut data = vec![0.5 / (w * h - 1) as f32; w * h];
        data[12 * w + 25] = 0.5;
        let p = MapF32 {
            width: w,
            height: h,
            data,
        };
        assert_eq!(
            scoring.derive(DensityMap::Density, &p).unwrap().data,
            p.data
        );
        let blurred = scoring.derive(DensityMap::Blurred, &p).unwrap();
        assert_eq!(
            blurred.data,
            blur_like_empirical_maps(&p, 4.0).data,
            "σ = 10% of 40 px"
        );
        let logs = scoring.derive(DensityMap::OverCentreBias, &p).unwrap();
        for (l, v) in logs.data.iter().zip(&p.data) {
            assert!((l - v.ln()).abs() < 1e-6);
        }
    }
}
