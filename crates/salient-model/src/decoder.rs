//! The seed's U-Net decoder, block for block, with the seed's parameter names, ending in the
//! network's head: the seed's `conv_0` block and sigmoid, or the density head ([`crate::density`]).

use candle_core::Tensor;

use crate::backbone::BackboneFeatures;
use crate::batch_norm::BatchNorm2d;
use crate::conv::Conv2d;
use crate::conv_bn::ConvBn;
use crate::density::DensityHead;
use crate::kernels::Activation;
use crate::profile::LapTimer;
use crate::store::TensorStore;
use crate::{Head, Mode, ModelError};

/// LeakyReLU slope of the seed's `Conv` block.
const CONV_SLOPE: f64 = 0.2;
/// LeakyReLU slope of the seed's `Deconv` block (PyTorch's default).
const DECONV_SLOPE: f64 = 0.01;

/// The seed's `Conv(in, out, k, 1, p)`: Conv2d(bias=False) → BatchNorm2d → LeakyReLU(0.2) → Dropout.
struct ConvBlock {
    layer: ConvBn,
    dropout: f32,
}

impl ConvBlock {
    fn new(
        store: &TensorStore,
        name: &str,
        padding: usize,
        dropout: f32,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            layer: ConvBn::new(
                Conv2d::new(store, &format!("{name}.0"), 1, padding)?,
                BatchNorm2d::new(store, &format!("{name}.1"))?,
            ),
            dropout,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        let y = self
            .layer
            .forward(x, mode, Activation::leaky_relu(CONV_SLOPE))?;
        self.dropout(y, mode)
    }

    /// The block applied to `cat([a, b], 1)`.
    fn forward_cat(&self, a: &Tensor, b: &Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        let y = self
            .layer
            .forward_cat(a, b, mode, Activation::leaky_relu(CONV_SLOPE))?;
        self.dropout(y, mode)
    }

    fn dropout(&self, y: Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        if mode == Mode::Train && self.dropout > 0.0 {
            Ok(candle_nn::ops::dropout(&y, self.dropout)?)
        } else {
            Ok(y)
        }
    }
}

/// The seed's `Deconv(in, out, 4, 2, 1)`: ConvTranspose2d(bias=False) → BatchNorm2d → LeakyReLU(0.01).
struct DeconvBlock(ConvBn);

impl DeconvBlock {
    fn new(store: &TensorStore, name: &str) -> candle_core::Result<Self> {
        Ok(Self(ConvBn::new(
            Conv2d::transposed(store, &format!("{name}.0"), 2, 1)?,
            BatchNorm2d::new(store, &format!("{name}.1"))?,
        )))
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        self.0
            .forward(x, mode, Activation::leaky_relu(DECONV_SLOPE))
    }
}

/// What follows `deconv0`'s 32 full-resolution channels.
enum OutputHead {
    /// The seed's `conv_0` block (Conv 3×3 → BatchNorm → LeakyReLU(0.2)), then a sigmoid.
    Seed(ConvBlock),
    Density(DensityHead),
}

pub(crate) struct Decoder {
    conv_5: ConvBlock,
    conv_4: ConvBlock,
    conv_3: ConvBlock,
    conv_2: ConvBlock,
    conv_1: ConvBlock,
    head: OutputHead,
    deconv4: DeconvBlock,
    deconv3: DeconvBlock,
    deconv2: DeconvBlock,
    deconv1: DeconvBlock,
    deconv0: DeconvBlock,
}

impl Decoder {
    pub fn new(store: &TensorStore, dropout: f32, head: Head) -> candle_core::Result<Self> {
        let conv = |name: &str, padding| ConvBlock::new(store, name, padding, dropout);
        let deconv = |name: &str| DeconvBlock::new(store, name);
        Ok(Self {
            conv_5: conv("conv_5", 0)?,
            conv_4: conv("conv_4", 0)?,
            conv_3: conv("conv_3", 0)?,
            conv_2: conv("conv_2", 0)?,
            conv_1: conv("conv_1", 0)?,
            head: match head {
                Head::Seed => OutputHead::Seed(conv("conv_0", 1)?),
                Head::Density => OutputHead::Density(DensityHead::new(store)?),
            },
            deconv4: deconv("deconv4")?,
            deconv3: deconv("deconv3")?,
            deconv2: deconv("deconv2")?,
            deconv1: deconv("deconv1")?,
            deconv0: deconv("deconv0")?,
        })
    }

    /// `(N, 1, H, W)`: the seed head's saliency map in (0, 1), or the density head's log-density.
    pub fn forward(
        &self,
        f: &BackboneFeatures,
        mode: Mode,
        timer: &mut LapTimer,
    ) -> Result<Tensor, ModelError> {
        let x5 = self.conv_5.forward(&f.top, mode)?;
        timer.lap("conv_5");
        let mut x = x5;
        let stages = [
            (&self.deconv4, &f.skip4, &self.conv_4, "deconv4", "conv_4"),
            (&self.deconv3, &f.skip3, &self.conv_3, "deconv3", "conv_3"),
            (&self.deconv2, &f.skip2, &self.conv_2, "deconv2", "conv_2"),
            (&self.deconv1, &f.skip1, &self.conv_1, "deconv1", "conv_1"),
        ];
        for (deconv, skip, conv, deconv_name, conv_name) in stages {
            let up = deconv.forward(&x, mode)?;
            timer.lap(deconv_name);
            x = conv.forward_cat(&up, skip, mode)?;
            timer.lap(conv_name);
        }
        let up = self.deconv0.forward(&x, mode)?;
        timer.lap("deconv0");
        let out = match &self.head {
            OutputHead::Seed(conv_0) => {
                let out = candle_nn::ops::sigmoid(&conv_0.forward(&up, mode)?)?;
                timer.lap("conv_0");
                out
            }
            OutputHead::Density(head) => {
                let out = head.forward(&up)?;
                timer.lap("density");
                out
            }
        };
        Ok(out)
    }
}
