//! The ResNet50 encoder in torchvision naming, returning what the seed's U-Net taps.

use candle_core::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::bottleneck::Bottleneck;
use crate::conv::Conv2d;
use crate::conv_bn::ConvBn;
use crate::kernels::Activation;
use crate::profile::LapTimer;
use crate::spec::RESNET50_STAGES;
use crate::store::TensorStore;
use crate::{Mode, ModelError};

/// The encoder's outputs: the four skip tensors and layer4's output.
pub struct BackboneFeatures {
    /// `relu(bn1(conv1(x)))`: 64 channels at H/2.
    pub skip1: Tensor,
    /// `layer1`: 256 channels at H/4.
    pub skip2: Tensor,
    /// `layer2`: 512 channels at H/8.
    pub skip3: Tensor,
    /// `layer3`: 1024 channels at H/16.
    pub skip4: Tensor,
    /// `layer4`: 2048 channels at H/32.
    pub top: Tensor,
}

pub(crate) struct Backbone {
    /// `conv1` + `bn1`.
    stem: ConvBn,
    stages: Vec<Vec<Bottleneck>>,
}

impl Backbone {
    pub fn new(store: &TensorStore) -> candle_core::Result<Self> {
        let mut stages = Vec::with_capacity(RESNET50_STAGES.len());
        for stage in &RESNET50_STAGES {
            let blocks = (0..stage.blocks)
                .map(|b| {
                    let stride = if b == 0 { stage.stride } else { 1 };
                    Bottleneck::new(store, &format!("{}.{b}", stage.name), stride, b == 0)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            stages.push(blocks);
        }
        Ok(Self {
            stem: ConvBn::new(
                Conv2d::new(store, "conv1", 2, 3)?,
                BatchNorm2d::new(store, "bn1")?,
            ),
            stages,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        mode: Mode,
        timer: &mut LapTimer,
    ) -> Result<BackboneFeatures, ModelError> {
        let skip1 = self.stem.forward(x, mode, Activation::RELU)?;
        timer.lap("stem");
        let mut y = crate::kernels::max_pool2d(&skip1, 3, 2, 1)?;
        timer.lap("maxpool");
        let mut outputs = Vec::with_capacity(4);
        for (stage, spec) in self.stages.iter().zip(&RESNET50_STAGES) {
            for block in stage {
                y = block.forward(&y, mode)?;
            }
            timer.lap(spec.name);
            outputs.push(y.clone());
        }
        let mut it = outputs.into_iter();
        let mut next = || it.next().expect("four stages");
        Ok(BackboneFeatures {
            skip1,
            skip2: next(),
            skip3: next(),
            skip4: next(),
            top: next(),
        })
    }
}
