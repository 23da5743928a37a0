//! Convolution-family kernels the network needs, behind one small API so that the network code does
//! not care which implementation runs: candle's own ops on CUDA, custom CPU ops where candle's are
//! slow or lack a backward pass.

use candle_core::{Result, Tensor};

/// Transposed 2-D convolution without bias, PyTorch semantics: `x` is `(N, Cin, H, W)`, `w` is
/// `(Cin, Cout, K, K)`, output `(N, Cout, (H-1)*stride - 2*padding + K, ...)`.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    x.conv_transpose2d(w, padding, 0, stride, 1)
}
