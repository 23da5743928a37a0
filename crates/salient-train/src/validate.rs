//! The validation pass: the model in eval mode over the validation split, the training loss on it,
//! and the saliency metrics per image (CC, KLD, NSS, SIM, plus AUC-Judd when fixations exist). A
//! density head is scored on its density (`exp` of its output; every one of these metrics is
//! invariant to the map's scale).
//!
//! Metrics are computed at the model's resolution on the validation pipeline's resized maps (and
//! fixation maps resized nearest-neighbour): a fast, consistent progress signal for choosing `best`.
//! Benchmark figures at the ground truth's original resolution come from `salient eval --checkpoint`.

use std::collections::BTreeMap;

use candle_core::{DType, Device};
use salient_model::{Head, Mode, SaliencyNet};

use crate::error::TrainError;
use crate::loss::LossSpec;
use crate::scores::score_image;
use crate::source::BatchSource;
use crate::trainer::Observer;

/// Means over the validation split.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// Mean training loss on the split (absent when the loss needs fixations the split lacks).
    pub loss: Option<f64>,
    /// Metric means by name over the images where the metric is defined.
    pub metrics: BTreeMap<String, f64>,
    pub images: usize,
}

/// Runs the validation pass.
pub fn validate(
    net: &SaliencyNet,
    val: &dyn BatchSource,
    loss_spec: &LossSpec,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<Validation, TrainError> {
    observer.on_validation(val.batches_per_epoch());
    let mut loss_sum = 0f64;
    let mut loss_images = 0usize;
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut images = 0usize;
    for batch in val.epoch(0, 0)? {
        let host = batch?;
        let batch = host.to_device(device)?;
        let pred = net
            .forward(&batch.images, Mode::Eval)
            .map_err(|e| TrainError::Model(e.to_string()))?;
        if batch.fixations.is_some() || !loss_spec.needs_fixations() {
            let loss =
                loss_spec.compute_for(net.head(), &pred, &batch.maps, batch.fixations.as_ref())?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * batch.n as f64;
            loss_images += batch.n;
        }
        let map = match net.head() {
            Head::Seed => pred,
            Head::Density => pred.exp()?,
        };
        let pred: Vec<f32> = map.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let plane = host.height * host.width;
        for i in 0..host.n {
            let range = i * plane..(i + 1) * plane;
            let fixations = host.fixations.as_ref().map(|f| &f[range.clone()]);
            let scores = score_image(
                &pred[range.clone()],
                &host.maps[range],
                fixations,
                host.width,
                host.height,
            )?;
            for (name, value) in scores {
                let entry = sums.entry(name.to_string()).or_insert((0.0, 0));
                entry.0 += value;
                entry.1 += 1;
            }
        }
        images += host.n;
        observer.on_validation_batch();
    }
    Ok(Validation {
        loss: (loss_images > 0).then(|| loss_sum / loss_images as f64),
        metrics: sums
            .into_iter()
            .filter(|(_, (_, n))| *n > 0)
            .map(|(k, (s, n))| (k, s / n as f64))
            .collect(),
        images,
    })
}
