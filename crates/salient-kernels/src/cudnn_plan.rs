//! Host-side plan of the cuDNN convolutions: everything that is decided before a cuDNN call, kept
//! apart from the calls themselves (`cudnn_conv`, feature `cudnn`) so that it compiles and is tested
//! without CUDA.
//!
//! cuDNN knows one problem, the cross-correlation `y = x ⋆ w` of `x (N, C, H, W)` with a filter
//! `w (O, C, K, K)` into `y (N, O, Ho, Wo)`, `Ho = (H + 2p − K)/s + 1` (floor), and three routines
//! on it: forward (`x, w → y`), backward-data (`dy, w → dx`) and backward-filter (`x, dy → dw`).
//! Both of our convolutions and all their gradients are one of these on a [`Problem`]:
//!
//! | op | output | input gradient | weight gradient |
//! | --- | --- | --- | --- |
//! | `conv2d(x, w)` (problem: `x`, `w`, `y`) | forward | backward-data | backward-filter |
//! | `conv_transpose2d(x, w)` (problem: its output, `w`, `x`) | backward-data | forward | backward-filter |
//!
//! The transposed convolution is the adjoint of the convolution whose input has the transposed
//! convolution's output shape, so its weight `(Cin, Cout, K, K)` is that convolution's filter as it
//! stands (`O = Cin`, `C = Cout`) and its input plays `y`: the construction PyTorch's cuDNN backend
//! uses (`aten/src/ATen/native/cudnn/ConvShared.cpp`, `cudnn_convolution_transpose`).

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{bail, DType, Result};

use crate::ConvKind;

/// Whether f32 convolutions may use TF32 tensor cores (10-bit mantissa products; PyTorch's
/// `torch.backends.cudnn.allow_tf32`). Off by default: f32 then means f32 products (cuDNN's FMA
/// math), as on the CPU.
static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// Allows (or forbids again) TF32 tensor-core math in f32 cuDNN convolutions, process-wide; takes
/// effect from the next convolution (algorithms are cached per setting). Off by default. Only
/// builds with the `cudnn` feature run cuDNN convolutions; bf16/f16 convolutions always use tensor
/// cores, with f32 accumulation, whatever this says.
pub fn set_allow_tf32(allow: bool) {
    ALLOW_TF32.store(allow, Ordering::Relaxed);
}

/// The setting of [`set_allow_tf32`].
pub fn allow_tf32() -> bool {
    ALLOW_TF32.load(Ordering::Relaxed)
}

/// One of cuDNN's three convolution routines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    /// `cudnnConvolutionForward`: `(x, w) → y`.
    Forward,
    /// `cudnnConvolutionBackwardData`: `(dy, w) → dx`.
    BackwardData,
    /// `cudnnConvolutionBackwardFilter`: `(x, dy) → dw`.
    BackwardFilter,
}

/// What an op computes of a convolution: its output or one of its gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Output,
    GradInput,
    GradWeight,
}

/// The tensors an op starts from, by their place in the user's convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// The convolution's input `x`.
    Input,
    /// Its weight.
    Weight,
    /// The gradient of its output.
    GradOutput,
}

/// How one [`Role`] of one convolution kind runs: the cuDNN routine and which operands it takes,
/// in the routine's argument order (see [`Problem::shapes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub pass: Pass,
    pub operands: [Operand; 2],
}

/// The step for `role` of a `kind` convolution (the table in the module docs).
pub fn step(kind: ConvKind, role: Role) -> Step {
    use Operand::{GradOutput, Input, Weight};
    let (pass, operands) = match (kind, role) {
        (ConvKind::Conv, Role::Output) => (Pass::Forward, [Input, Weight]),
        (ConvKind::Conv, Role::GradInput) => (Pass::BackwardData, [GradOutput, Weight]),
        (ConvKind::Conv, Role::GradWeight) => (Pass::BackwardFilter, [Input, GradOutput]),
        // The problem's `x` is the transposed convolution's output, its `y` the input.
        (ConvKind::Transposed, Role::Output) => (Pass::BackwardData, [Input, Weight]),
        (ConvKind::Transposed, Role::GradInput) => (Pass::Forward, [GradOutput, Weight]),
        (ConvKind::Transposed, Role::GradWeight) => (Pass::BackwardFilter, [GradOutput, Input]),
    };
    Step { pass, operands }
}

/// The cross-correlation cuDNN is told about (NCHW, contiguous, no dilation, one group, the
/// same padding and stride on both axes). Dimensions as `[N, C, H, W]` and `[O, C, K, K]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    /// `(N, C, H, W)`, the cross-correlation's input.
    pub x: [usize; 4],
    /// `(O, C, K, K)`.
    pub filter: [usize; 4],
    /// `(N, O, Ho, Wo)`, the cross-correlation's output.
    pub y: [usize; 4],
    pub stride: usize,
    pub padding: usize,
}

impl Problem {
    /// The problem of `kind` with input dims `x` and weight dims `w` (PyTorch layouts: `(Cout,
    /// Cin, K, K)` for a convolution, `(Cin, Cout, K, K)` for a transposed one), or an error naming
    /// what does not fit.
    pub fn new(
        kind: ConvKind,
        x: &[usize],
        w: &[usize],
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let (&[n, c_in, h, wd], &[w0, w1, kh, kw]) = (x, w) else {
            bail!("cuDNN convolution: input {x:?} and weight {w:?} must both be 4-d");
        };
        if kh != kw || kh == 0 {
            bail!("cuDNN convolution: kernel must be square and non-empty, got {kh}×{kw}");
        }
        if stride == 0 {
            bail!("cuDNN convolution: stride must be at least 1");
        }
        if n == 0 || c_in == 0 || h == 0 || wd == 0 || w0 == 0 || w1 == 0 {
            bail!("cuDNN convolution: empty operand, input {x:?}, weight {w:?}");
        }
        let k = kh;
        let problem = match kind {
            ConvKind::Conv => {
                if w1 != c_in {
                    bail!("conv2d: input has {c_in} channels, weight {w:?} expects {w1}");
                }
                if h + 2 * padding < k || wd + 2 * padding < k {
                    bail!("conv2d: {h}×{wd} input padded by {padding} is smaller than the {k}×{k} kernel");
                }
                let out = |len: usize| (len + 2 * padding - k) / stride + 1;
                Problem {
                    x: [n, c_in, h, wd],
                    filter: [w0, c_in, k, k],
                    y: [n, w0, out(h), out(wd)],
                    stride,
                    padding,
                }
            }
            ConvKind::Transposed => {
                if w0 != c_in {
                    bail!("conv_transpose2d: input has {c_in} channels, weight {w:?} expects {w0}");
                }
                let full = |len: usize| (len - 1) * stride + k;
                if full(h) <= 2 * padding || full(wd) <= 2 * padding {
                    bail!(
                        "conv_transpose2d: padding {padding} leaves no output of a {h}×{wd} input \
                         (kernel {k}, stride {stride})"
                    );
                }
                let out = |len: usize| full(len) - 2 * padding;
                Problem {
                    x: [n, w1, out(h), out(wd)],
                    filter: [w0, w1, k, k],
                    y: [n, c_in, h, wd],
                    stride,
                    padding,
                }
            }
        };
        debug_assert_eq!(problem.forward_output(), problem.y);
        Ok(problem)
    }

    /// `y`'s dims as cuDNN computes them from `x` and the filter
    /// (`cudnnGetConvolution2dForwardOutputDim`): a transposed problem must land back on its input.
    pub fn forward_output(&self) -> [usize; 4] {
        let [n, _, h, w] = self.x;
        let [o, _, k, _] = self.filter;
        let out = |len: usize| (len + 2 * self.padding - k) / self.stride + 1;
        [n, o, out(h), out(w)]
    }

    /// The dims of a `pass`'s two operands, in its argument order, and of its result.
    pub fn shapes(&self, pass: Pass) -> ([usize; 4], [usize; 4], [usize; 4]) {
        match pass {
            Pass::Forward => (self.x, self.filter, self.y),
            Pass::BackwardData => (self.y, self.filter, self.x),
            Pass::BackwardFilter => (self.x, self.y, self.filter),
        }
    }
}

/// `dims` as the C `int`s of cuDNN's 4-d descriptors, which also compute the packed NCHW strides
/// as `int`: the largest, `C·H·W`, must fit too.
pub fn dims_i32(dims: [usize; 4]) -> Result<[i32; 4]> {
    let fits = |v: usize| i32::try_from(v).ok();
    let plane_stride = dims[1]
        .checked_mul(dims[2])
        .and_then(|v| v.checked_mul(dims[3]));
    match (
        fits(dims[0]),
        fits(dims[1]),
        fits(dims[2]),
        fits(dims[3]),
        plane_stride.and_then(fits),
    ) {
        (Some(n), Some(c), Some(h), Some(w), Some(_)) => Ok([n, c, h, w]),
        _ => bail!("cuDNN convolution: dims {dims:?} exceed cuDNN's 32-bit descriptors"),
    }
}

/// A cuDNN data type, as `cudnnDataType_t` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Float,
    Double,
    Half,
    BFloat16,
}

/// `cudnnMathType_t`: which hardware a convolution may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathMode {
    /// `CUDNN_DEFAULT_MATH`: tensor cores permitted, TF32 for f32 data on Ampere and later.
    Default,
    /// `CUDNN_FMA_MATH`: FMA instructions only, no tensor cores (f32 stays f32).
    Fma,
    /// `CUDNN_TENSOR_OP_MATH`: tensor cores, for f16/bf16 data.
    TensorOp,
}

/// The types of one convolution: its tensors', the accumulation's (the convolution descriptor's
/// compute type) and the math mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTypes {
    pub data: DataType,
    pub compute: DataType,
    pub math: MathMode,
}

/// The cuDNN types for tensors of `dtype`: f32 (FMA math, or TF32 tensor cores when
/// `allow_tf32`), f64, and f16/bf16 with f32 accumulation on tensor cores (cuDNN's
/// `PSEUDO_HALF_CONFIG` / `PSEUDO_BFLOAT16_CONFIG`, what PyTorch's autocast runs).
pub fn conv_types(dtype: DType, allow_tf32: bool) -> Result<ConvTypes> {
    let (data, compute, math) = match dtype {
        DType::F32 if allow_tf32 => (DataType::Float, DataType::Float, MathMode::Default),
        DType::F32 => (DataType::Float, DataType::Float, MathMode::Fma),
        DType::F64 => (DataType::Double, DataType::Double, MathMode::Default),
        DType::F16 => (DataType::Half, DataType::Float, MathMode::TensorOp),
        DType::BF16 => (DataType::BFloat16, DataType::Float, MathMode::TensorOp),
        other => bail!("cuDNN convolution: no {other:?} support (f32, f64, f16, bf16)"),
    };
    Ok(ConvTypes {
        data,
        compute,
        math,
    })
}

/// What a cached algorithm choice (and its workspace size) depends on: the routine, the problem
/// (every shape, stride and padding) and the types, math mode (so the TF32 setting) included. The
/// cache holding it is per device as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlgoKey {
    pub pass: Pass,
    pub problem: Problem,
    pub types: ConvTypes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use std::collections::HashSet;

    const KINDS: [ConvKind; 2] = [ConvKind::Conv, ConvKind::Transposed];

    /// Input and weight dims of a `kind` convolution from `c_in` to `c_out` channels.
    fn operands(
        kind: ConvKind,
        n: usize,
        c_in: usize,
        c_out: usize,
        hw: (usize, usize),
        k: usize,
    ) -> ([usize; 4], [usize; 4]) {
        let w = match kind {
            ConvKind::Conv => [c_out, c_in, k, k],
            ConvKind::Transposed => [c_in, c_out, k, k],
        };
        ([n, c_in, hw.0, hw.1], w)
    }

    /// One convolution of the shape grid: batch, channels in and out, image size, kernel, stride
    /// and padding.
    struct Case {
        n: usize,
        c_in: usize,
        c_out: usize,
        hw: (usize, usize),
        k: usize,
        stride: usize,
        padding: usize,
    }

    /// The grid of shapes the shape tests run over: odd and even sizes, non-square images, every
    /// stride/padding/kernel combination the network has and a few it has not.
    fn grid() -> Vec<Case> {
        let mut cases = Vec::new();
        for &(n, c_in, c_out) in &[(1, 1, 1), (2, 3, 5), (3, 4, 2)] {
            for &hw in &[(1, 1), (4, 4), (5, 7), (8, 3), (9, 10)] {
                for k in [1, 2, 3, 4, 7] {
                    for stride in [1, 2, 3] {
                        for padding in [0, 1, 2, 3] {
                            cases.push(Case {
                                n,
                                c_in,
                                c_out,
                                hw,
                                k,
                                stride,
                                padding,
                            });
                        }
                    }
                }
            }
        }
        cases
    }

    /// The output dims candle's own CPU op computes, or `None` where it refuses the shape.
    fn candle_output(
        kind: ConvKind,
        x: [usize; 4],
        w: [usize; 4],
        s: usize,
        p: usize,
    ) -> Option<Vec<usize>> {
        // candle does not check these: its size formulas would underflow (a panic).
        let k = w[2];
        let underflows = match kind {
            ConvKind::Conv => x[2].min(x[3]) + 2 * p < k,
            ConvKind::Transposed => (x[2].min(x[3]) - 1) * s + k < 2 * p,
        };
        if underflows {
            return None;
        }
        let xt = Tensor::zeros(&x, DType::F32, &Device::Cpu).ok()?;
        let wt = Tensor::zeros(&w, DType::F32, &Device::Cpu).ok()?;
        let y = match kind {
            ConvKind::Conv => xt.conv2d(&wt, p, s, 1, 1),
            ConvKind::Transposed => xt.conv_transpose2d(&wt, p, 0, s, 1),
        };
        y.ok().map(|y| y.dims().to_vec())
    }

    /// Every step's operands have the shapes its routine expects and its result has the shape of
    /// the tensor it is the output or gradient of; the output shapes are candle's.
    #[test]
    fn shapes_match_candle_and_every_step_is_consistent() {
        let mut checked = 0;
        for case in grid() {
            let Case {
                n,
                c_in,
                c_out,
                hw,
                k,
                stride: s,
                padding: p,
            } = case;
            for kind in KINDS {
                let (x, w) = operands(kind, n, c_in, c_out, hw, k);
                let reference = candle_output(kind, x, w, s, p);
                let problem = Problem::new(kind, &x, &w, s, p);
                let context = format!("{kind:?} x {x:?} w {w:?} stride {s} padding {p}");
                let (y, problem) = match (reference, problem) {
                    (Some(y), Ok(problem)) if !y.contains(&0) => (y, problem),
                    // Refused by both, or an empty output (candle computes one where the padding
                    // eats a transposed output; cuDNN takes no empty tensor).
                    (None, Err(_)) => continue,
                    (Some(y), Err(_)) if y.contains(&0) => continue,
                    (Some(y), Err(e)) => panic!("{context}: candle gives {y:?}, we refused: {e}"),
                    (y, Ok(problem)) => {
                        panic!("{context}: candle gives {y:?}, we accepted {problem:?}")
                    }
                };
                assert_eq!(problem.forward_output(), problem.y, "{kind:?} {problem:?}");
                let y: [usize; 4] = y.as_slice().try_into().expect("4-d output");
                for role in [Role::Output, Role::GradInput, Role::GradWeight] {
                    let step = step(kind, role);
                    let dims_of = |o: Operand| match o {
                        Operand::Input => x,
                        Operand::Weight => w,
                        Operand::GradOutput => y,
                    };
                    let (a, b, out) = problem.shapes(step.pass);
                    let target = match role {
                        Role::Output => y,
                        Role::GradInput => x,
                        Role::GradWeight => w,
                    };
                    assert_eq!(
                        (dims_of(step.operands[0]), dims_of(step.operands[1]), target),
                        (a, b, out),
                        "{kind:?} {role:?}: x {x:?} w {w:?} s {s} p {p}"
                    );
                }
                checked += 1;
            }
        }
        // The grid must exercise both kinds on many accepted shapes, not refuse everything.
        assert!(checked > 1000, "only {checked} cases accepted");
    }

    #[test]
    fn refuses_shapes_cudnn_cannot_take() {
        let conv = |x: &[usize], w: &[usize], s, p| Problem::new(ConvKind::Conv, x, w, s, p);
        let tr = |x: &[usize], w: &[usize], s, p| Problem::new(ConvKind::Transposed, x, w, s, p);
        assert!(
            conv(&[1, 3, 8, 8], &[4, 2, 3, 3], 1, 1).is_err(),
            "channel mismatch"
        );
        assert!(
            tr(&[1, 3, 8, 8], &[2, 3, 3, 3], 1, 1).is_err(),
            "channel mismatch"
        );
        assert!(
            conv(&[1, 3, 8, 8], &[4, 3, 3, 2], 1, 1).is_err(),
            "non-square kernel"
        );
        assert!(
            conv(&[1, 3, 8, 8], &[4, 3, 3, 3], 0, 1).is_err(),
            "stride 0"
        );
        assert!(
            conv(&[1, 3, 2, 8], &[4, 3, 5, 5], 1, 1).is_err(),
            "kernel beyond input"
        );
        assert!(
            tr(&[1, 3, 1, 1], &[3, 2, 2, 2], 1, 1).is_err(),
            "no output left"
        );
        assert!(conv(&[1, 3, 8], &[4, 3, 3, 3], 1, 1).is_err(), "3-d input");
        assert!(
            conv(&[0, 3, 8, 8], &[4, 3, 3, 3], 1, 1).is_err(),
            "empty batch"
        );
        assert!(conv(&[1, 3, 8, 8], &[4, 3, 3, 3], 1, 1).is_ok());
    }

    #[test]
    fn transposed_problem_is_the_adjoint_convolution() {
        // A stride-2 decoder layer: 16×16 → 32×32 with a 4×4 kernel and padding 1.
        let p = Problem::new(ConvKind::Transposed, &[2, 8, 16, 16], &[8, 3, 4, 4], 2, 1)
            .expect("valid");
        assert_eq!(p.x, [2, 3, 32, 32]);
        assert_eq!(p.filter, [8, 3, 4, 4]);
        assert_eq!(p.y, [2, 8, 16, 16]);
        let c = Problem::new(ConvKind::Conv, &[2, 3, 32, 32], &[8, 3, 4, 4], 2, 1).expect("valid");
        assert_eq!(c, p);
    }

    #[test]
    fn descriptor_dims_fit_in_c_int() {
        assert_eq!(dims_i32([2, 3, 4, 5]).expect("fits"), [2, 3, 4, 5]);
        assert!(dims_i32([1usize << 31, 1, 1, 1]).is_err());
        // Each dim fits, but C·H·W (the batch stride) does not.
        assert!(dims_i32([1, 1 << 11, 1 << 10, 1 << 10]).is_err());
        assert!(dims_i32([1, 1 << 10, 1 << 10, 1 << 10]).is_ok());
    }

    #[test]
    fn dtypes_map_to_cudnn_types() {
        use DataType::*;
        let t = |d, tf32| conv_types(d, tf32).expect("supported");
        assert_eq!(
            t(DType::F32, false),
            ConvTypes {
                data: Float,
                compute: Float,
                math: MathMode::Fma
            }
        );
        assert_eq!(
            t(DType::F32, true),
            ConvTypes {
                data: Float,
                compute: Float,
                math: MathMode::Default
            }
        );
        assert_eq!(t(DType::F64, false).compute, Double);
        for tf32 in [false, true] {
            let half = t(DType::F16, tf32);
            let bf = t(DType::BF16, tf32);
            assert_eq!(
                (half.data, half.compute, half.math),
                (Half, Float, MathMode::TensorOp)
            );
            assert_eq!(
                (bf.data, bf.compute, bf.math),
                (BFloat16, Float, MathMode::TensorOp)
            );
        }
        for d in [DType::U8, DType::U32, DType::I64] {
            assert!(conv_types(d, false).is_err(), "{d:?}");
        }
    }

    #[test]
    fn cache_keys_differ_when_any_field_differs() {
        let problem =
            Problem::new(ConvKind::Conv, &[2, 3, 9, 10], &[4, 3, 3, 3], 1, 1).expect("valid");
        let f32_types = conv_types(DType::F32, false).expect("f32");
        let base = AlgoKey {
            pass: Pass::Forward,
            problem,
            types: f32_types,
        };
        let with = |f: &dyn Fn(&mut AlgoKey)| {
            let mut k = base;
            f(&mut k);
            k
        };
        let variants = [
            base,
            with(&|k| k.pass = Pass::BackwardData),
            with(&|k| k.pass = Pass::BackwardFilter),
            with(&|k| k.problem.x[0] = 3),
            with(&|k| k.problem.x[1] = 5),
            with(&|k| k.problem.x[2] = 11),
            with(&|k| k.problem.x[3] = 12),
            with(&|k| k.problem.filter[0] = 6),
            with(&|k| k.problem.filter[2] = 5),
            with(&|k| k.problem.y[2] = 7),
            with(&|k| k.problem.stride = 2),
            with(&|k| k.problem.padding = 0),
            with(&|k| k.types = conv_types(DType::F32, true).expect("tf32")),
            with(&|k| k.types = conv_types(DType::BF16, false).expect("bf16")),
            with(&|k| k.types = conv_types(DType::F16, false).expect("f16")),
            with(&|k| k.types = conv_types(DType::F64, false).expect("f64")),
        ];
        let distinct: HashSet<AlgoKey> = variants.iter().copied().collect();
        assert_eq!(distinct.len(), variants.len());
        assert_eq!(with(&|_| {}), base);
    }

    #[test]
    fn tf32_switch_round_trips() {
        assert!(!allow_tf32(), "TF32 must be off by default");
        set_allow_tf32(true);
        assert!(allow_tf32());
        set_allow_tf32(false);
        assert!(!allow_tf32());
    }
}
