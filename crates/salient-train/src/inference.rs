//! Inference from a checkpoint: an image of any size in, a saliency map at the image's original
//! resolution out. Shared by `salient predict` and `salient eval --checkpoint`.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use salient_data::{prepare_image, resize_map, MapF32, Normalize, RgbImage};
use salient_model::{Mode, ModelConfig, Precision, SaliencyNet};

use crate::config::InputSize;
use crate::error::TrainError;

/// Input size and normalisation when neither the checkpoint nor the caller gives them: the seed's
/// (a `state_dict` converted from the seed's PyTorch model carries no metadata).
pub const SEED_SIZE: InputSize = InputSize {
    height: 256,
    width: 256,
};
pub const SEED_NORMALIZE: Normalize = Normalize::Unit;

/// What the caller may impose over the checkpoint's metadata, and how to compute.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub size: Option<InputSize>,
    pub normalize: Option<Normalize>,
    /// Compute precision of the convolutions (a choice of the run, not of the checkpoint, whose
    /// weights are f32 whatever they were trained in). Half precisions need a CUDA device.
    pub precision: Precision,
}

/// A loaded model ready to predict.
pub struct Predictor {
    net: SaliencyNet,
    size: InputSize,
    normalize: Normalize,
    device: Device,
    /// Settings that came from neither the checkpoint nor the overrides (the seed's were used).
    pub defaulted: Vec<&'static str>,
}

impl Predictor {
    /// Loads `checkpoint` (seed naming); size and normalisation from overrides, else from the
    /// checkpoint's metadata, else the seed's (listed in `defaulted`); computing in
    /// `overrides.precision`.
    pub fn load(
        checkpoint: &Path,
        overrides: Overrides,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let cfg = ModelConfig {
            precision: overrides.precision,
            ..ModelConfig::default()
        };
        let (net, meta) = SaliencyNet::load_checkpoint(checkpoint, cfg, device)
            .map_err(|e| TrainError::Model(e.to_string()))?;
        let mut defaulted = Vec::new();
        let size = match overrides.size {
            Some(s) => s,
            None => match meta.input_size() {
                Some((height, width)) => InputSize { height, width },
                None => {
                    defaulted.push("size");
                    SEED_SIZE
                }
            },
        };
        size.validate()?;
        let normalize = match overrides.normalize {
            Some(n) => n,
            None => match meta.normalize() {
                Some(text) => text.parse().map_err(|_| {
                    TrainError::state(
                        checkpoint,
                        format!("unknown normalisation {text:?} in metadata"),
                    )
                })?,
                None => {
                    defaulted.push("normalize");
                    SEED_NORMALIZE
                }
            },
        };
        Ok(Predictor {
            net,
            size,
            normalize,
            device: device.clone(),
            defaulted,
        })
    }

    pub fn size(&self) -> InputSize {
        self.size
    }

    pub fn normalize(&self) -> Normalize {
        self.normalize
    }

    /// Saliency maps in `[0,1]`, each at its image's original width and height (bilinear upsampling
    /// of the network output, OpenCV `INTER_LINEAR` semantics).
    pub fn predict_batch(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, TrainError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let (h, w) = (self.size.height, self.size.width);
        let mut input = Vec::with_capacity(images.len() * 3 * h * w);
        for image in images {
            if image.width() == 0 || image.height() == 0 {
                return Err(TrainError::Data("empty image (0 pixels)".into()));
            }
            input.extend(prepare_image(image, (h, w), self.normalize));
        }
        let x = Tensor::from_vec(input, (images.len(), 3, h, w), &self.device)?;
        let out = self
            .net
            .forward(&x, Mode::Eval)
            .map_err(|e| TrainError::Model(e.to_string()))?;
        let out: Vec<f32> = out.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        Ok(images
            .iter()
            .zip(out.chunks_exact(h * w))
            .map(|(image, plane)| {
                let small = MapF32 {
                    width: w,
                    height: h,
                    data: plane.to_vec(),
                };
                resize_map(&small, image.width() as usize, image.height() as usize)
            })
            .collect())
    }

    /// One image's map at its original size.
    pub fn predict(&self, image: &RgbImage) -> Result<MapF32, TrainError> {
        Ok(self.predict_batch(&[image])?.remove(0))
    }
}
