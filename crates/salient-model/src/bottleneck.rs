//! torchvision's ResNet `Bottleneck` block (v1.5: the stride sits on the 3×3 convolution).

use candle_core::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::conv::Conv2d;
use crate::conv_bn::ConvBn;
use crate::kernels::Activation;
use crate::store::TensorStore;
use crate::{Mode, ModelError};

pub(crate) struct Bottleneck {
    reduce: ConvBn,
    spatial: ConvBn,
    expand: ConvBn,
    downsample: Option<ConvBn>,
}

impl Bottleneck {
    /// The block named `prefix` (e.g. `layer3.0`); `downsample` for each stage's first block.
    pub fn new(
        store: &TensorStore,
        prefix: &str,
        stride: usize,
        downsample: bool,
    ) -> candle_core::Result<Self> {
        let layer = |conv: &str, bn: &str, stride, padding| -> candle_core::Result<ConvBn> {
            Ok(ConvBn::new(
                Conv2d::new(store, &format!("{prefix}.{conv}"), stride, padding)?,
                BatchNorm2d::new(store, &format!("{prefix}.{bn}"))?,
            ))
        };
        Ok(Self {
            reduce: layer("conv1", "bn1", 1, 0)?,
            spatial: layer("conv2", "bn2", stride, 1)?,
            expand: layer("conv3", "bn3", 1, 0)?,
            downsample: if downsample {
                Some(layer("downsample.0", "downsample.1", stride, 0)?)
            } else {
                None
            },
        })
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        let identity = match &self.downsample {
            Some(layer) => layer.forward(x, mode, Activation::IDENTITY)?,
            None => x.clone(),
        };
        let y = self.reduce.forward(x, mode, Activation::RELU)?;
        let y = self.spatial.forward(&y, mode, Activation::RELU)?;
        self.expand.forward_add_relu(&y, mode, &identity)
    }
}
