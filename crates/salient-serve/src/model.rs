//! What the server needs from a model ([`SaliencyModel`], implemented for
//! [`salient_train::Predictor`]) and what it tells clients about it ([`ModelInfo`]).

use std::collections::BTreeMap;

use salient_data::{MapF32, RgbImage};
use salient_train::Predictor;
use serde::Serialize;

/// A saliency model that maps a batch of images to one map each, at each image's own size.
///
/// The server calls it from its worker threads, so it must be shareable between threads.
pub trait SaliencyModel: Send + Sync + 'static {
    /// One map per image, in order, each `image.height() × image.width()` with values in `[0,1]`.
    fn predict_batch(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, String>;
}

impl SaliencyModel for Predictor {
    fn predict_batch(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, String> {
        Predictor::predict_batch(self, images).map_err(|e| e.to_string())
    }
}

/// The model as `GET /v1/model` and `?format=json` describe it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelInfo {
    /// The checkpoint's file name (not its full path, which says nothing to a client).
    pub checkpoint: String,
    /// Network input size, `"<height>x<width>"`.
    pub input_size: String,
    /// Input normalisation (`unit` or `imagenet`).
    pub normalize: String,
    /// Where the model runs (`cpu`, `cuda:N`).
    pub device: String,
    /// Convolution precision (`f32`, `bf16`, `f16`).
    pub precision: String,
    /// The output the model predicts (this network has one head: the saliency map).
    pub output: String,
    /// The checkpoint's `__metadata__` entries, as stored.
    pub metadata: BTreeMap<String, String>,
}
