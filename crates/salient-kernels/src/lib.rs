//! # salient-kernels
//!
//! Convolution-family tensor ops for candle, each with its forward and backward pass, behind one
//! small API so that the code calling them does not care which implementation runs: custom CPU ops
//! where candle's are slow or lack a backward pass, candle's own ops on other devices (and for
//! dtypes other than f32/f64). The ops know nothing of any network, as candle-core's ops know
//! nothing of candle-nn's layers; `salient-model` builds the saliency network's layers from them.
//!
//! - [`conv2d`] and [`conv_transpose2d`]: im2col / col2im over cache-sized bands of output rows and
//!   candle's `gemm` crate, parallel over bands (which may span images) or channel groups, so a
//!   single image uses every thread too; backward passes are custom too (one op
//!   computes the input and weight gradients, skipping whichever is not tracked). Stride-1
//!   convolutions with at most 4 output channels (the last layer) use direct shifted
//!   multiply-adds instead, where a GEMM would degenerate into a matrix-vector product.
//!   On CUDA, in builds with the `cudnn` feature, both run on cuDNN, forward and backward
//!   (backward-data and backward-filter; candle 0.11's CUDA transposed convolution, which its
//!   conv2d input gradient also goes through, is a naive kernel): f32 without TF32 unless
//!   [`set_allow_tf32`], f16/bf16 with f32 accumulation. Every host-side decision (shapes, which
//!   routine computes which gradient, types, algorithm cache keys) is in [`cudnn_plan`], compiled
//!   and tested without CUDA; only the launch layer needs the feature.
//! - [`max_pool2d`]: PyTorch's padded max pooling with a first-maximum backward.
//! - [`batch_norm_train`], [`affine_act`] and [`add_relu`]: BatchNorm fused with the activation
//!   after it (batch statistics or a fixed per-channel affine map), and the residual join.
//! - [`cat_channels`]: the decoder's concatenation, without gradients for constant inputs.
//! - [`conv_affine_act`] and [`cat_conv_affine_act`]: for layers that need no gradient
//!   (inference, a frozen prefix), the convolution with BatchNorm's running-statistics map, the
//!   residual join and the activation applied inside it; 3×3 stride-1 layers there use Winograd
//!   F(2×2, 3×3), 1×1 layers read a concatenated input part by part.
//!
//! Every CPU kernel matches candle's reference op to float rounding, gradients included (tests
//! below). Max pooling and BatchNorm on CUDA stay candle's op compositions.

mod bn_act;
mod cat;
mod conv_fused;
mod conv_ops;
mod cpu_storage;
#[cfg(feature = "cudnn")]
mod cudnn_conv;
pub mod cudnn_plan;
mod direct_conv;
mod epilogue;
mod gemm_conv;
mod max_pool;

#[cfg(test)]
mod tests;

pub use bn_act::Activation;
use bn_act::{AddReluOp, AffineActOp, BatchNormTrainOp};
use candle_core::{DType, Result, Tensor};
use cat::CatChannelsOp;
use conv_fused::Fused;
use conv_ops::ConvOp;
pub use conv_ops::Kind as ConvKind;
pub use cudnn_plan::{allow_tf32, set_allow_tf32};
use gemm_conv::Thresholds;
use max_pool::{MaxPoolOp, Pool};

/// Whether the custom CPU kernels handle these operands (CPU, both f32 or both f64).
fn custom_cpu(x: &Tensor, w: Option<&Tensor>) -> bool {
    x.device().is_cpu()
        && matches!(x.dtype(), DType::F32 | DType::F64)
        && w.is_none_or(|w| w.dtype() == x.dtype() && w.device().is_cpu())
}

/// 2-D convolution without bias, dilation or groups, PyTorch semantics: `x` is `(N, Cin, H, W)`,
/// `w` is `(Cout, Cin, K, K)`, output `(N, Cout, (H + 2p − K)/s + 1, …)`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let spec = ConvSpec {
        kind: ConvKind::Conv,
        stride,
        padding,
    };
    if custom_cpu(x, Some(w)) {
        custom_conv(x, w, spec, Thresholds::PRODUCTION)
    } else if let Some(y) = cudnn_convolution(x, w, spec)? {
        Ok(y)
    } else if let Some(y) = pointwise_matmul(x, w, stride, padding)? {
        Ok(y)
    } else {
        x.conv2d(w, padding, stride, 1, 1)
    }
}

/// A 1×1 unpadded convolution as one batched matrix product `W (O×C) · X (C×HW)` per image (after
/// subsampling for stride 2): on devices without the custom kernels the matmul (cuBLAS on CUDA)
/// beats a generic convolution, forward and backward. `None` where the shape does not allow it.
fn pointwise_matmul(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Option<Tensor>> {
    let (out_ch, in_ch, kh, kw) = w.dims4()?;
    let (n, _, h, wd) = x.dims4()?;
    if kh != 1 || kw != 1 || padding != 0 || stride == 0 || h % stride != 0 || wd % stride != 0 {
        return Ok(None);
    }
    let x = if stride == 1 {
        x.clone()
    } else {
        // Every `stride`-th row and column, starting at 0: what the convolution reads.
        let (ho, wo) = (h / stride, wd / stride);
        x.reshape((n, in_ch, ho, stride, wo, stride))?
            .narrow(3, 0, 1)?
            .narrow(5, 0, 1)?
            .reshape((n, in_ch, ho, wo))?
    };
    let (_, _, ho, wo) = x.dims4()?;
    let cols = x.reshape((n, in_ch, ho * wo))?;
    let weight = w.reshape((out_ch, in_ch))?.broadcast_left(n)?;
    Ok(Some(weight.matmul(&cols)?.reshape((n, out_ch, ho, wo))?))
}

/// Transposed 2-D convolution without bias, PyTorch semantics: `x` is `(N, Cin, H, W)`, `w` is
/// `(Cin, Cout, K, K)`, output `(N, Cout, (H-1)*stride - 2*padding + K, ...)`.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let spec = ConvSpec {
        kind: ConvKind::Transposed,
        stride,
        padding,
    };
    if custom_cpu(x, Some(w)) {
        custom_conv(x, w, spec, Thresholds::PRODUCTION)
    } else if let Some(y) = cudnn_convolution(x, w, spec)? {
        Ok(y)
    } else {
        x.conv_transpose2d(w, padding, 0, stride, 1)
    }
}

/// [`conv2d`] or [`conv_transpose2d`] through cuDNN, forward and backward, on CUDA operands of
/// a dtype it takes (f32, f64, f16, bf16) in builds with the `cudnn` feature; `None` otherwise.
fn cudnn_convolution(x: &Tensor, w: &Tensor, spec: ConvSpec) -> Result<Option<Tensor>> {
    #[cfg(feature = "cudnn")]
    {
        cudnn_conv::convolution(x, w, spec)
    }
    #[cfg(not(feature = "cudnn"))]
    {
        let _ = (x, w, spec);
        Ok(None)
    }
}

/// [`conv2d`] or [`conv_transpose2d`] on CPU f32/f64 operands, through the custom op with the
/// engine's `thresholds` (production code passes [`Thresholds::PRODUCTION`]; tests also others).
fn custom_conv(x: &Tensor, w: &Tensor, spec: ConvSpec, thresholds: Thresholds) -> Result<Tensor> {
    let op = ConvOp {
        kind: spec.kind,
        stride: spec.stride,
        padding: spec.padding,
        thresholds,
    };
    x.contiguous()?.apply_op2(&w.contiguous()?, op)
}

/// One bias-free convolution layer's geometry: which kind, its stride and its zero padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub kind: ConvKind,
    pub stride: usize,
    pub padding: usize,
}

/// [`conv2d`] or [`conv_transpose2d`], as `spec` says.
pub fn convolution(x: &Tensor, w: &Tensor, spec: ConvSpec) -> Result<Tensor> {
    match spec.kind {
        ConvKind::Conv => conv2d(x, w, spec.stride, spec.padding),
        ConvKind::Transposed => conv_transpose2d(x, w, spec.stride, spec.padding),
    }
}

/// `act(convolution(x, w) · scale[c] + shift[c] + residual)` in one pass: BatchNorm with running
/// statistics, the residual join and the activation happen inside the convolution, on each block of
/// output while it is in cache. Values equal [`convolution`], [`affine_act`] and (with a residual,
/// `act` then being ReLU) [`add_relu`] composed, to float rounding.
///
/// For operands that need no gradient, since it records no autograd op: `None` where any operand
/// tracks one, or is not a CPU f32/f64 tensor; the caller then composes the three ops.
pub fn conv_affine_act(
    x: &Tensor,
    w: &Tensor,
    spec: ConvSpec,
    scale: &Tensor,
    shift: &Tensor,
    act: Activation,
    residual: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    cat_conv_affine_act(&[x], w, spec, scale, shift, act, residual)
}

/// [`conv_affine_act`] of `cat(parts, 1)` (same batch and size, channels joined in order). A 1×1
/// convolution never builds the concatenation: each part meets its own columns of the weight.
/// Values equal [`cat_channels`] then [`conv_affine_act`] to float rounding (the sums over input
/// channels are split at the parts' boundaries).
pub fn cat_conv_affine_act(
    parts: &[&Tensor],
    w: &Tensor,
    spec: ConvSpec,
    scale: &Tensor,
    shift: &Tensor,
    act: Activation,
    residual: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let affine = (scale, shift);
    fused_conv(
        parts,
        w,
        spec,
        affine,
        act,
        residual,
        Thresholds::PRODUCTION,
    )
}

/// [`cat_conv_affine_act`] with the engine's `thresholds` (production code passes
/// [`Thresholds::PRODUCTION`]; tests also others).
fn fused_conv(
    parts: &[&Tensor],
    w: &Tensor,
    spec: ConvSpec,
    (scale, shift): (&Tensor, &Tensor),
    act: Activation,
    residual: Option<&Tensor>,
    thresholds: Thresholds,
) -> Result<Option<Tensor>> {
    let Some(&first) = parts.first() else {
        candle_core::bail!("fused convolution: no input");
    };
    let mut operands = vec![w, scale, shift];
    operands.extend(parts);
    operands.extend(residual);
    let usable = operands
        .iter()
        .all(|t| !t.track_op() && custom_cpu(t, Some(first)));
    if !usable {
        return Ok(None);
    }
    let residual = residual.map(Tensor::contiguous).transpose()?;
    let parts = parts
        .iter()
        .map(|p| p.contiguous())
        .collect::<Result<Vec<_>>>()?;
    Fused {
        spec,
        scale: &scale.contiguous()?,
        shift: &shift.contiguous()?,
        residual: residual.as_ref(),
        act,
        thresholds,
    }
    .run(&parts, &w.contiguous()?)
    .map(Some)
}

/// 2-D max pooling, PyTorch semantics: −∞ padding (`padding ≤ kernel/2`), output
/// `floor((H + 2p − k)/s) + 1`, gradient to each window's first maximum in row-major order.
///
/// CPU f32/f64 use a custom op; other devices and dtypes an exact composition of candle ops
/// (slower, same values and gradients).
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let pool = Pool {
        kernel,
        stride,
        padding,
    };
    if custom_cpu(x, None) {
        x.contiguous()?.apply_op1(MaxPoolOp(pool))
    } else {
        max_pool::composed(x, pool)
    }
}

/// Training-mode BatchNorm (batch statistics, biased variance) followed by `act`, for `x` of shape
/// `(N, C, …)`: returns the output and the batch's per-channel mean and biased variance (detached).
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    act: Activation,
) -> Result<(Tensor, Tensor, Tensor)> {
    if custom_cpu(x, Some(weight)) && bias.dtype() == x.dtype() {
        let stats = std::sync::Arc::new(std::sync::Mutex::new(None));
        let op = BatchNormTrainOp {
            act,
            eps,
            stats: stats.clone(),
        };
        let y = x
            .contiguous()?
            .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
        let Some(stats) = stats.lock().expect("stats lock").clone() else {
            candle_core::bail!("batch norm: forward recorded no statistics");
        };
        let as_tensor = |v: Vec<f64>| Tensor::new(v, x.device())?.to_dtype(x.dtype());
        Ok((y, as_tensor(stats.mean)?, as_tensor(stats.var)?))
    } else {
        bn_act::batch_norm_train_composed(x, weight, bias, eps, act)
    }
}

/// `act(x · scale[c] + shift[c])` for `x` of shape `(N, C, …)`: BatchNorm with running statistics
/// folded into `scale` and `shift`, then the activation.
pub fn affine_act(x: &Tensor, scale: &Tensor, shift: &Tensor, act: Activation) -> Result<Tensor> {
    if custom_cpu(x, Some(scale)) && shift.dtype() == x.dtype() {
        x.contiguous()?.apply_op3(
            &scale.contiguous()?,
            &shift.contiguous()?,
            AffineActOp { act },
        )
    } else {
        let shape = per_channel_shape(x)?;
        act.apply(
            &x.broadcast_mul(&scale.reshape(shape.as_slice())?)?
                .broadcast_add(&shift.reshape(shape.as_slice())?)?,
        )
    }
}

/// `relu(a + b)`, the residual join of a bottleneck block.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if custom_cpu(a, Some(b)) {
        a.contiguous()?.apply_op2(&b.contiguous()?, AddReluOp)
    } else {
        (a + b)?.relu()
    }
}

/// Splits the flat output of a backward op into the gradients it packed one after another, in the
/// order of `parts`: each is shaped like its tensor, and is there (taking room) only where its flag
/// is set.
fn unpack_gradients<const N: usize>(
    flat: &Tensor,
    parts: [(bool, &Tensor); N],
) -> Result<[Option<Tensor>; N]> {
    let mut offset = 0;
    let mut out: [Option<Tensor>; N] = std::array::from_fn(|_| None);
    for (slot, (packed, like)) in out.iter_mut().zip(parts) {
        if packed {
            let len = like.elem_count();
            *slot = Some(flat.narrow(0, offset, len)?.reshape(like.shape())?);
            offset += len;
        }
    }
    Ok(out)
}

/// `(1, C, 1, …)` for broadcasting a per-channel vector over `x`.
fn per_channel_shape(x: &Tensor) -> Result<Vec<usize>> {
    let mut shape = vec![1; x.rank()];
    if x.rank() < 2 {
        candle_core::bail!(
            "per-channel op: input must be (N, C, ...), got {:?}",
            x.dims()
        );
    }
    shape[1] = x.dim(1)?;
    Ok(shape)
}

/// `cat([a, b], 1)`: on CPU a custom op whose backward computes gradients only for tracked inputs
/// (candle's `cat` gives every input one, constants included).
pub fn cat_channels(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if custom_cpu(a, Some(b)) {
        a.contiguous()?.apply_op2(&b.contiguous()?, CatChannelsOp)
    } else {
        Tensor::cat(&[a, b], 1)
    }
}
