//! Bias-free 2-D convolution (the only kind the network has).
//!
//! 1×1 convolutions, most of the network, run as one batched matrix product `W (O×C) · X (C×HW)`
//! per image (after subsampling for stride 2): the forward avoids an im2col copy and, more
//! important, the backward is two matrix products instead of candle's generic transposed-convolution
//! loop. Larger kernels use [`crate::kernels::conv2d`].

use candle_core::{Result, Tensor};

use crate::store::TensorStore;

pub(crate) struct Conv2d {
    weight: Tensor,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    pub fn new(store: &TensorStore, prefix: &str, stride: usize, padding: usize) -> Result<Self> {
        Ok(Self {
            weight: store.compute(&format!("{prefix}.weight"))?,
            stride,
            padding,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (out_ch, in_ch, kh, kw) = self.weight.dims4()?;
        let (_, _, h, w) = x.dims4()?;
        let pointwise = kh == 1 && kw == 1 && self.padding == 0;
        if pointwise && h % self.stride == 0 && w % self.stride == 0 {
            let x = subsample(x, self.stride)?;
            let (n, _, h, w) = x.dims4()?;
            let cols = x.reshape((n, in_ch, h * w))?;
            let weight = self.weight.reshape((out_ch, in_ch))?.broadcast_left(n)?;
            weight.matmul(&cols)?.reshape((n, out_ch, h, w))
        } else {
            crate::kernels::conv2d(x, &self.weight, self.stride, self.padding)
        }
    }
}

/// Bias-free transposed 2-D convolution (the decoder's upsampling), weight `(Cin, Cout, K, K)`.
pub(crate) struct ConvTranspose2d {
    weight: Tensor,
    stride: usize,
    padding: usize,
}

impl ConvTranspose2d {
    pub fn new(store: &TensorStore, prefix: &str, stride: usize, padding: usize) -> Result<Self> {
        Ok(Self {
            weight: store.compute(&format!("{prefix}.weight"))?,
            stride,
            padding,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::kernels::conv_transpose2d(x, &self.weight, self.stride, self.padding)
    }
}

/// Every `stride`-th row and column, starting at 0 (what a 1×1 convolution with that stride reads).
fn subsample(x: &Tensor, stride: usize) -> Result<Tensor> {
    if stride == 1 {
        return Ok(x.clone());
    }
    let (n, c, h, w) = x.dims4()?;
    let (ho, wo) = (h / stride, w / stride);
    x.reshape((n, c, ho, stride, wo, stride))?
        .narrow(3, 0, 1)?
        .narrow(5, 0, 1)?
        .reshape((n, c, ho, wo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn pointwise_path_matches_candle_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 5, 8, 6), &dev)?;
        let w = Tensor::randn(0f32, 1.0, (7, 5, 1, 1), &dev)?;
        for stride in [1, 2] {
            let conv = Conv2d {
                weight: w.clone(),
                stride,
                padding: 0,
            };
            let ours = conv.forward(&x)?;
            let reference = x.conv2d(&w, 0, stride, 1, 1)?;
            assert_eq!(ours.dims(), reference.dims());
            let diff = (ours - reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "stride {stride}: diff {diff}");
        }
        Ok(())
    }
}
