//! torchvision's ResNet `Bottleneck` block (v1.5: the stride sits on the 3×3 convolution).

use candle_core::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::conv::Conv2d;
use crate::kernels::Activation;
use crate::store::TensorStore;
use crate::{Mode, ModelError};

pub(crate) struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    conv3: Conv2d,
    bn3: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl Bottleneck {
    /// The block named `prefix` (e.g. `layer3.0`); `downsample` for each stage's first block.
    pub fn new(
        store: &TensorStore,
        prefix: &str,
        stride: usize,
        downsample: bool,
    ) -> candle_core::Result<Self> {
        let downsample = if downsample {
            Some((
                Conv2d::new(store, &format!("{prefix}.downsample.0"), stride, 0)?,
                BatchNorm2d::new(store, &format!("{prefix}.downsample.1"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1: Conv2d::new(store, &format!("{prefix}.conv1"), 1, 0)?,
            bn1: BatchNorm2d::new(store, &format!("{prefix}.bn1"))?,
            conv2: Conv2d::new(store, &format!("{prefix}.conv2"), stride, 1)?,
            bn2: BatchNorm2d::new(store, &format!("{prefix}.bn2"))?,
            conv3: Conv2d::new(store, &format!("{prefix}.conv3"), 1, 0)?,
            bn3: BatchNorm2d::new(store, &format!("{prefix}.bn3"))?,
            downsample,
        })
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        let y = self
            .bn1
            .forward(&self.conv1.forward(x)?, mode, Activation::RELU)?;
        let y = self
            .bn2
            .forward(&self.conv2.forward(&y)?, mode, Activation::RELU)?;
        let y = self
            .bn3
            .forward(&self.conv3.forward(&y)?, mode, Activation::IDENTITY)?;
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(x)?, mode, Activation::IDENTITY)?,
            None => x.clone(),
        };
        Ok(crate::kernels::add_relu(&y, &identity)?)
    }
}
