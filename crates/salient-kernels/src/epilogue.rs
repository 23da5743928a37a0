//! What a convolution's output goes through before anyone else reads it, applied by the convolution
//! itself while the output is still in cache: BatchNorm with running statistics (a per-channel
//! affine map), an optional residual, then the activation.
//!
//! Inference and a frozen prefix need nothing more from a convolution, so this replaces the separate
//! `affine_act` and `add_relu` passes, each a full read and write of the activation through memory
//! with a fresh allocation, by a few operations on data the GEMM has just written.

use super::gemm_conv::Elem;
use rayon::prelude::*;

/// `y ← act(y · scale[c] + shift[c] + residual)` on a convolution's `(N, C, …)` output, with `act`
/// given by its negative slope. Computed in that order and without fused multiply-adds, so that it
/// equals `affine_act` followed by `add_relu` bit for bit.
pub(crate) struct Epilogue<'a, T> {
    pub scale: &'a [T],
    pub shift: &'a [T],
    /// Same shape as the output; added after the affine map, before the activation.
    pub residual: Option<&'a [T]>,
    pub slope: T,
}

impl<T: Elem> Epilogue<'_, T> {
    /// Applies to `span`, which holds elements `offset..offset + span.len()` of the output, all in
    /// channel `c`.
    #[inline]
    pub fn apply(&self, c: usize, span: &mut [T], offset: usize) {
        let (s, b, slope) = (self.scale[c], self.shift[c], self.slope);
        let act = |t: T| if t > T::ZERO { t } else { t * slope };
        match self.residual {
            Some(res) => {
                let res = &res[offset..offset + span.len()];
                for (y, &r) in span.iter_mut().zip(res) {
                    *y = act(*y * s + b + r);
                }
            }
            None => {
                for y in span.iter_mut() {
                    *y = act(*y * s + b);
                }
            }
        }
    }

    /// Applies to a whole `(N, C, plane)` output, planes in parallel: for kernels that have no
    /// in-cache point to hook into.
    pub fn apply_all(&self, out: &mut [T], channels: usize, plane: usize) {
        let plane = plane.max(1);
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(p, span)| self.apply(p % channels.max(1), span, p * plane));
    }
}
