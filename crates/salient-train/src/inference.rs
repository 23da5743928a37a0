//! Inference from a checkpoint: an image of any size in, a saliency map (or a fixation density) at
//! the image's original resolution out. Shared by `salient predict`, `salient eval --checkpoint`
//! and `salient serve`.
//!
//! What each head gives ([`OutputKind`]):
//!
//! | output | seed head | density head |
//! | --- | --- | --- |
//! | `saliency` | its map in (0, 1), upsampled | the density divided by its maximum (max 1) |
//! | `density` | its map normalised to sum 1 | its density, upsampled and renormalised to sum 1 |
//! | `log-density` | `ln` of that density (−∞ where the map is 0) | `ln` of its density |
//!
//! Upsampling is bilinear (OpenCV `INTER_LINEAR`) of the map, or of the density (`exp` of the
//! network's log-density) followed by renormalisation: a density stays a density at any size.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use salient_data::{prepare_image, resize_map, MapF32, Normalize, RgbImage};
use salient_model::{Head, Mode, ModelConfig, Precision, SaliencyNet};

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

/// Which map [`Predictor::predict_outputs`] returns (see the module docs for each head).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputKind {
    /// A saliency map with maximum 1 (the seed head's sigmoid map as it is).
    #[default]
    Saliency,
    /// A fixation density: non-negative, summing to 1 over the image's pixels.
    Density,
    /// The natural log of [`OutputKind::Density`].
    LogDensity,
}

impl OutputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Saliency => "saliency",
            OutputKind::Density => "density",
            OutputKind::LogDensity => "log-density",
        }
    }
}

impl std::str::FromStr for OutputKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            OutputKind::Saliency,
            OutputKind::Density,
            OutputKind::LogDensity,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            TrainError::Config(format!(
                "output {s:?}: expected saliency, density or log-density"
            ))
        })
    }
}

impl std::fmt::Display for OutputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

    /// The checkpoint's head.
    pub fn head(&self) -> Head {
        self.net.head()
    }

    /// Saliency maps in `[0,1]`, each at its image's original width and height (bilinear upsampling
    /// of the network output, OpenCV `INTER_LINEAR` semantics); for the density head, the density
    /// scaled to maximum 1.
    pub fn predict_batch(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, TrainError> {
        self.predict_outputs(images, OutputKind::Saliency)
    }

    /// `kind` maps, each at its image's original width and height (the module docs give what
    /// each head returns).
    pub fn predict_outputs(
        &self,
        images: &[&RgbImage],
        kind: OutputKind,
    ) -> Result<Vec<MapF32>, TrainError> {
        let raw = self.network_outputs(images)?;
        let head = self.head();
        Ok(raw
            .into_iter()
            .zip(images)
            .map(|(small, image)| {
                let (w, h) = (image.width() as usize, image.height() as usize);
                let upsampled = match head {
                    Head::Seed => resize_map(&small, w, h),
                    Head::Density => resize_map(&exp_map(small), w, h),
                };
                convert(upsampled, head, kind)
            })
            .collect())
    }

    /// The network's outputs at its input size (`(h, w)` planes): maps or log-densities.
    fn network_outputs(&self, images: &[&RgbImage]) -> Result<Vec<MapF32>, TrainError> {
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
        check_finite(&out, h * w)?;
        Ok(out
            .chunks_exact(h * w)
            .map(|plane| MapF32 {
                width: w,
                height: h,
                data: plane.to_vec(),
            })
            .collect())
    }

    /// One image's `kind` map at its original size.
    pub fn predict_output(&self, image: &RgbImage, kind: OutputKind) -> Result<MapF32, TrainError> {
        Ok(self.predict_outputs(&[image], kind)?.remove(0))
    }

    /// One image's map at its original size.
    pub fn predict(&self, image: &RgbImage) -> Result<MapF32, TrainError> {
        Ok(self.predict_batch(&[image])?.remove(0))
    }
}

/// Refuses a batch of network outputs (`plane`-sized maps) holding NaN or infinity, naming the
/// first image concerned. Checkpoints are checked for finite weights when loaded, but finite
/// weights can still overflow on some input; a NaN map would otherwise be written out silently
/// (every max and sum after this skips NaN).
fn check_finite(out: &[f32], plane: usize) -> Result<(), TrainError> {
    let Some(bad) = out.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let count = out.iter().filter(|v| !v.is_finite()).count();
    Err(TrainError::Model(format!(
        "the network's output for image {} of the batch is not finite ({count} NaN or infinite \
         values in the batch, the first {}): the checkpoint's weights overflow on this input",
        bad / plane.max(1) + 1,
        out[bad]
    )))
}

/// `exp` of a log-density plane.
fn exp_map(mut map: MapF32) -> MapF32 {
    map.data.iter_mut().for_each(|v| *v = v.exp());
    map
}

/// An upsampled map (seed head) or density (density head, not yet renormalised) as `kind`.
fn convert(mut map: MapF32, head: Head, kind: OutputKind) -> MapF32 {
    let scale = |map: &mut MapF32, by: f64| {
        if by > 0.0 && by.is_finite() {
            map.data
                .iter_mut()
                .for_each(|v| *v = (f64::from(*v) / by) as f32);
        }
    };
    match (head, kind) {
        (Head::Seed, OutputKind::Saliency) => {}
        (Head::Density, OutputKind::Saliency) => {
            let max = map.data.iter().fold(0f32, |m, &v| m.max(v));
            scale(&mut map, f64::from(max));
        }
        (_, OutputKind::Density | OutputKind::LogDensity) => {
            let total: f64 = map.data.iter().map(|&v| f64::from(v)).sum();
            scale(&mut map, total);
            if kind == OutputKind::LogDensity {
                map.data.iter_mut().for_each(|v| *v = v.ln());
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(data: Vec<f32>) -> MapF32 {
        MapF32 {
            width: data.len(),
            height: 1,
            data,
        }
    }

    #[test]
    fn non_finite_network_outputs_are_refused_naming_the_image() {
        assert!(check_finite(&[0.1, 0.2, 0.3, 0.4], 2).is_ok());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let err = check_finite(&[0.1, 0.2, 0.3, bad], 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains("image 2 of the batch"), "{err}");
            assert!(err.contains("1 NaN or infinite"), "{err}");
        }
    }

    #[test]
    fn outputs_of_each_head() {
        // A density head's (upsampled) density: saliency peaks at 1, density sums to 1.
        let d = plane(vec![0.1, 0.3, 0.2, 0.2]);
        let s = convert(d.clone(), Head::Density, OutputKind::Saliency);
        assert_eq!(s.data, vec![0.1 / 0.3, 1.0, 0.2 / 0.3, 0.2 / 0.3]);
        let unnormalised = plane(vec![0.2, 0.6, 0.4, 0.4]);
        let p = convert(unnormalised.clone(), Head::Density, OutputKind::Density);
        assert!((p.data.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p.data[1] - 0.375).abs() < 1e-7);
        let lp = convert(unnormalised, Head::Density, OutputKind::LogDensity);
        assert!((lp.data[1] - 0.375f32.ln()).abs() < 1e-6);
        // The seed head's map is its saliency as it is, and normalised into a density.
        let m = plane(vec![0.0, 0.5, 0.25, 0.25]);
        assert_eq!(
            convert(m.clone(), Head::Seed, OutputKind::Saliency).data,
            m.data
        );
        let p = convert(m.clone(), Head::Seed, OutputKind::Density);
        assert_eq!(p.data, vec![0.0, 0.5, 0.25, 0.25]);
        let lp = convert(m, Head::Seed, OutputKind::LogDensity);
        assert_eq!(lp.data[0], f32::NEG_INFINITY);
        assert!("log-density".parse::<OutputKind>().unwrap() == OutputKind::LogDensity);
        assert!("logdensity".parse::<OutputKind>().is_err());
    }
}
