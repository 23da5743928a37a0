//! The density head's starting point from the training data: its blur σ from the dataset's map
//! sigma, and its centre-bias log-prior from the training fixations' centre bias (pysaliency's
//! `BaselineModel`, [`salient_metrics::CentreBiasModel`], evaluated on the prior's grid).
//!
//! Starting from the centre bias means the untrained head already scores about the centre bias's
//! information gain (0 bits over it), and training learns what the image adds.

use salient_data::{load_all_fixation_xy, MapSigma, Sample};
use salient_metrics::{CentreBiasModel, CentreBiasParams, ImageFixations};
use salient_model::density::{DEFAULT_SIGMA_FRACTION, PRIOR_GRID};

use crate::error::TrainError;

/// What the density head starts from, and how it was found (for the run's log).
#[derive(Debug, Clone, PartialEq)]
pub struct DensityInit {
    /// The blur's σ as a fraction of the map's larger side.
    pub sigma_fraction: f64,
    /// The centre-bias log-density on the [`PRIOR_GRID`]² grid (row-major), `None` = uniform.
    pub prior: Option<Vec<f32>>,
    /// One line per choice, e.g. "density head: blur sigma 3.00% of the larger side (...)".
    pub notes: Vec<String>,
}

/// The density head's start for training on `samples` (the training split), whose maps are built
/// with `map_sigma`. Fixations that cannot be read are an error naming the file.
pub fn density_init(samples: &[Sample], map_sigma: MapSigma) -> Result<DensityInit, TrainError> {
    let mut images = Vec::with_capacity(samples.len());
    for result in load_all_fixation_xy(samples) {
        if let Some(image) = result.map_err(|e| TrainError::Data(e.to_string()))? {
            images.push(image);
        }
    }
    let mut notes = Vec::new();
    let sigma_fraction = match map_sigma {
        MapSigma::LargerSide(fraction) => fraction,
        MapSigma::Pixels(px) if !images.is_empty() => {
            // A fixed pixel σ is a fraction of each image's larger side: their mean.
            images
                .iter()
                .map(|(w, h, _)| px / (*w.max(h)) as f64)
                .sum::<f64>()
                / images.len() as f64
        }
        MapSigma::Pixels(_) => DEFAULT_SIGMA_FRACTION,
    };
    notes.push(format!(
        "density head: blur sigma starts at {:.2}% of the larger side (the dataset's map sigma, {map_sigma})",
        sigma_fraction * 100.0
    ));
    let views = ImageFixations::of_images(&images);
    let fixations: usize = views.iter().map(|v| v.xy.len()).sum();
    let prior = if fixations == 0 {
        notes.push(
            "density head: the training split has no fixations, so the centre-bias prior starts uniform"
                .to_string(),
        );
        None
    } else {
        let params = CentreBiasParams::default();
        let model = CentreBiasModel::from_images(&views, params, "training fixations")
            .map_err(|e| TrainError::Data(format!("centre bias of the training fixations: {e}")))?;
        let log_density = model
            .log_density(PRIOR_GRID, PRIOR_GRID)
            .map_err(|e| TrainError::Data(format!("centre bias of the training fixations: {e}")))?;
        notes.push(format!(
            "density head: centre-bias prior from {fixations} training fixations on {} images \
             (pysaliency BaselineModel, bandwidth {}, eps {})",
            views.len(),
            params.bandwidth,
            params.eps
        ));
        Some(log_density.iter().map(|&v| v as f32).collect())
    };
    Ok(DensityInit {
        sigma_fraction,
        prior,
        notes,
    })
}
