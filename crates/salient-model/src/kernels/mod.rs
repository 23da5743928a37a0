//! Convolution-family kernels the network needs, behind one small API so that the network code does
//! not care which implementation runs: candle's own ops on CUDA (and for dtypes other than f32/f64),
//! custom CPU ops where candle's are slow or lack a backward pass.
//!
//! - [`conv2d`] and [`conv_transpose2d`]: im2col / col2im over cache-sized bands of output rows and
//!   candle's `gemm` crate, batch-parallel with rayon; backward passes are custom too (one op
//!   computes the input and weight gradients, skipping whichever is not tracked). Stride-1
//!   convolutions with at most 4 output channels (the last layer) use direct shifted
//!   multiply-adds instead, where a GEMM would degenerate into a matrix-vector product.
//! - [`max_pool2d`]: PyTorch's padded max pooling with a first-maximum backward.
//!
//! Every kernel matches candle's reference op to float rounding, gradients included (tests below).

mod conv_ops;
mod direct_conv;
mod gemm_conv;
mod max_pool;

#[cfg(test)]
mod tests;

use candle_core::{DType, Result, Tensor};
use conv_ops::{ConvOp, Kind};
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
    if custom_cpu(x, Some(w)) {
        let op = ConvOp {
            kind: Kind::Conv,
            stride,
            padding,
        };
        x.contiguous()?.apply_op2(&w.contiguous()?, op)
    } else {
        x.conv2d(w, padding, stride, 1, 1)
    }
}

/// Transposed 2-D convolution without bias, PyTorch semantics: `x` is `(N, Cin, H, W)`, `w` is
/// `(Cin, Cout, K, K)`, output `(N, Cout, (H-1)*stride - 2*padding + K, ...)`.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    if custom_cpu(x, Some(w)) {
        let op = ConvOp {
            kind: Kind::Transposed,
            stride,
            padding,
        };
        x.contiguous()?.apply_op2(&w.contiguous()?, op)
    } else {
        x.conv_transpose2d(w, padding, 0, stride, 1)
    }
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
