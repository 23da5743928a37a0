//! Bias-free 2-D convolutions and transposed convolutions (the only kinds the network has).
//!
//! Every convolution runs on [`crate::kernels::convolution`], which picks the implementation: the
//! custom GEMM kernels on CPU (f32/f64), a batched matmul for 1×1 convolutions and candle's
//! convolution elsewhere.
//!
//! Both kinds compute in the store's [`Precision`]: below f32 they cast the input and a fresh copy
//! of the f32 weight down for the product and the output back to the input's dtype, so everything
//! around them (BatchNorm, activations, the optimiser) stays f32 and the gradient of the cast carries
//! the weight's gradient back to f32. The cast happens at every forward, never at construction: the
//! weight handle shares storage with a variable the optimiser updates in place.

use candle_core::{DType, Result, Tensor};

use crate::kernels::{ConvKind, ConvSpec};
use crate::store::TensorStore;
use crate::Precision;

/// A bias-free convolution or transposed convolution (the decoder's upsampling, weight
/// `(Cin, Cout, K, K)`: the same parameters applied as the adjoint).
pub(crate) struct Conv2d {
    weight: Tensor,
    spec: ConvSpec,
    precision: Precision,
}

impl Conv2d {
    pub fn new(store: &TensorStore, prefix: &str, stride: usize, padding: usize) -> Result<Self> {
        Self::of_kind(store, prefix, ConvKind::Conv, stride, padding)
    }

    pub fn transposed(
        store: &TensorStore,
        prefix: &str,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        Self::of_kind(store, prefix, ConvKind::Transposed, stride, padding)
    }

    fn of_kind(
        store: &TensorStore,
        prefix: &str,
        kind: ConvKind,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        Ok(Self {
            weight: store.compute(&format!("{prefix}.weight"))?,
            spec: ConvSpec {
                kind,
                stride,
                padding,
            },
            precision: store.precision(),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &self.weight)
    }

    /// The layer applied with `weight` in place of its own (a detached view of it, say).
    pub fn forward_with(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        in_precision(self.precision, x, weight, |x, weight| {
            crate::kernels::convolution(x, weight, self.spec)
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn spec(&self) -> ConvSpec {
        self.spec
    }

    /// Whether the product is computed in `dtype` itself (no casts around it).
    pub fn computes_in(&self, dtype: DType) -> bool {
        self.precision.dtype() == dtype
    }
}

/// `op(x, weight)` computed in `precision`'s dtype, its result in `x`'s dtype. A no-op wrapper when
/// both already have that dtype (f32 runs pay nothing).
fn in_precision(
    precision: Precision,
    x: &Tensor,
    weight: &Tensor,
    op: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let dtype = precision.dtype();
    if x.dtype() == dtype && weight.dtype() == dtype {
        return op(x, weight);
    }
    op(&x.to_dtype(dtype)?, &weight.to_dtype(dtype)?)?.to_dtype(x.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor, Var};

    #[test]
    fn pointwise_path_matches_candle_conv2d() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 5, 8, 6), &dev)?;
        let w = Tensor::randn(0f32, 1.0, (7, 5, 1, 1), &dev)?;
        for stride in [1, 2] {
            let conv = Conv2d {
                weight: w.clone(),
                spec: ConvSpec {
                    kind: ConvKind::Conv,
                    stride,
                    padding: 0,
                },
                precision: Precision::F32,
            };
            let ours = conv.forward(&x)?;
            let reference = x.conv2d(&w, 0, stride, 1, 1)?;
            assert_eq!(ours.dims(), reference.dims());
            let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
            salient_test_support::assert_close_and_nan_fails(
                &format!("1x1 stride {stride}"),
                &values(&ours)?,
                &values(&reference)?,
                salient_test_support::Tolerance::Abs(1e-4),
            );
        }
        Ok(())
    }

    /// `||a - b|| / ||b||`.
    fn relative_error(a: &Tensor, b: &Tensor) -> Result<f32> {
        let diff = (a - b)?.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
        let norm = b.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
        Ok(diff / norm)
    }

    /// Output and weight gradient of `forward` with a tracked f32 weight `w` in `precision`
    /// (the loss is `sum(y * r)`, so every output element matters).
    fn output_and_weight_grad(
        w: &Tensor,
        r: &Tensor,
        precision: Precision,
        forward: impl Fn(&Tensor, Precision) -> Result<Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let var = Var::from_tensor(w)?;
        let y = forward(var.as_tensor(), precision)?;
        let grads = (&y * r)?.sum_all()?.backward()?;
        let grad = grads
            .get(var.as_tensor())
            .expect("the f32 weight gets a gradient")
            .clone();
        Ok((y, grad))
    }

    /// Half-precision compute through both layers and all three paths (1×1 product, candle's conv,
    /// candle's transposed conv): f32 output and f32 weight gradient, within half rounding of f32's.
    /// f16 stands in for bf16 here because candle's CPU backend multiplies f16 but not bf16 (the
    /// network refuses both on the CPU; `bf16_cast_plumbing` covers bf16's casts).
    #[test]
    fn half_compute_stays_close_to_f32_and_trains_the_f32_weight() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 16, 8, 8), &dev)?;
        let cases: [(&str, Vec<usize>, usize, usize, bool); 3] = [
            ("1x1 stride 2", vec![8, 16, 1, 1], 2, 0, false),
            ("3x3", vec![8, 16, 3, 3], 1, 1, false),
            ("transposed 4x4", vec![16, 8, 4, 4], 2, 1, true),
        ];
        for (name, shape, stride, padding, transposed) in cases {
            let w = Tensor::randn(0f32, 0.1, shape.as_slice(), &dev)?;
            let forward = |weight: &Tensor, precision| {
                let kind = if transposed {
                    ConvKind::Transposed
                } else {
                    ConvKind::Conv
                };
                let spec = ConvSpec {
                    kind,
                    stride,
                    padding,
                };
                Conv2d {
                    weight: weight.clone(),
                    spec,
                    precision,
                }
                .forward(&x)
            };
            let r = Tensor::randn(0f32, 1.0, forward(&w, Precision::F32)?.dims(), &dev)?;
            let (y32, g32) = output_and_weight_grad(&w, &r, Precision::F32, forward)?;
            let (y16, g16) = output_and_weight_grad(&w, &r, Precision::F16, forward)?;
            assert_eq!(
                (y16.dtype(), g16.dtype()),
                (DType::F32, DType::F32),
                "{name}"
            );
            assert_eq!(y16.dims(), y32.dims(), "{name}");
            let (ey, eg) = (relative_error(&y16, &y32)?, relative_error(&g16, &g32)?);
            // f16 keeps 11 significant bits (relative step 2^-11 ≈ 0.05%); bf16's 8 would pass 1e-2.
            assert!(ey < 1e-2 && eg < 1e-2, "{name}: output {ey}, gradient {eg}");
            assert!(
                ey > 0.0,
                "{name}: f16 gave f32's exact output: no cast happened"
            );
        }
        Ok(())
    }

    /// bf16: the operation sees bf16 operands, the caller gets f32 back, and the gradient reaches the
    /// f32 weight through both casts (bf16-rounded, so not equal to the exact one).
    #[test]
    fn bf16_cast_plumbing() -> Result<()> {
        let dev = Device::Cpu;
        // Fixed positive inputs: the weight gradient is a sum without cancellation, so its bf16
        // relative error stays near bf16's resolution (2^-8) whatever the values.
        let x = Tensor::arange(0u32, 96, &dev)?
            .to_dtype(DType::F32)?
            .affine(0.0137, 0.5)?
            .reshape((2, 3, 4, 4))?;
        let w =
            Var::from_tensor(&Tensor::new(&[0.31f32, -0.73, 1.13], &dev)?.reshape((1, 3, 1, 1))?)?;
        let y = in_precision(Precision::Bf16, &x, w.as_tensor(), |x, w| {
            assert_eq!((x.dtype(), w.dtype()), (DType::BF16, DType::BF16));
            x.broadcast_mul(w)
        })?;
        assert_eq!(y.dtype(), DType::F32);
        let exact = x.broadcast_mul(w.as_tensor())?;
        let e = relative_error(&y, &exact)?;
        assert!(e > 0.0 && e < 1e-2, "bf16 output error {e}");
        let grads = y.sum_all()?.backward()?;
        let grad = grads
            .get(w.as_tensor())
            .expect("the f32 weight gets a gradient");
        assert_eq!(grad.dtype(), DType::F32);
        let exact_grad = x.sum_keepdim(0)?.sum_keepdim(2)?.sum_keepdim(3)?;
        let e = relative_error(grad, &exact_grad)?;
        assert!(e < 1e-2, "bf16 gradient error {e}");
        Ok(())
    }
}
