//! candle custom ops wrapping the GEMM engine: a convolution and a transposed convolution (both
//! without bias, dilation or groups), each with a backward op that computes the input and weight
//! gradients in one pass and skips whichever is not tracked (frozen weights, constant inputs).

use super::cpu_storage::{contiguous, float_dispatch};
use super::direct_conv;
use super::epilogue::Epilogue;
use super::gemm_conv::{self, winograd, Elem, Geometry, Thresholds};
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

/// Which of the two convolutions an op computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `x (N, Cin, H, W) ⋆ w (Cout, Cin, K, K)`.
    Conv,
    /// The adjoint: `x (N, Cin, H, W)`, `w (Cin, Cout, K, K)`, output `(N, Cout, (H−1)s − 2p + K, …)`.
    Transposed,
}

/// A convolution's shapes, resolved: the engine geometry (seen from the convolution's image side),
/// the number of weight rows and the shape of the op's input and output.
pub(super) struct Plan {
    pub geometry: Geometry,
    pub weight_rows: usize,
    pub out_shape: Shape,
}

fn dims4(dims: &[usize], what: &str) -> Result<(usize, usize, usize, usize)> {
    match *dims {
        [a, b, c, d] => Ok((a, b, c, d)),
        _ => bail!("{what} must be 4-D (N, C, H, W), got shape {dims:?}"),
    }
}

impl Kind {
    pub(super) fn plan(
        self,
        x: &[usize],
        w: &[usize],
        stride: usize,
        padding: usize,
    ) -> Result<Plan> {
        let (n, cin, h, wd) = dims4(x, "convolution input")?;
        let (w0, w1, kh, kw) = dims4(w, "convolution weight")?;
        if kh != kw {
            bail!("only square kernels are supported, got {kh}x{kw}");
        }
        if stride == 0 {
            bail!("convolution stride must be positive");
        }
        match self {
            Kind::Conv => {
                if w1 != cin {
                    bail!("conv2d: input has {cin} channels, weight expects {w1}");
                }
                let Some(g) = Geometry::new(cin, h, wd, kh, stride, padding) else {
                    bail!(
                        "conv2d: input {h}x{wd} with padding {padding} is smaller than kernel {kh}"
                    );
                };
                Ok(Plan {
                    geometry: g,
                    weight_rows: w0,
                    out_shape: Shape::from((n, w0, g.out_height, g.out_width)),
                })
            }
            Kind::Transposed => {
                if w0 != cin {
                    bail!("conv_transpose2d: input has {cin} channels, weight expects {w0}");
                }
                let full = |len: usize| (len.max(1) - 1) * stride + kh;
                if full(h) < 2 * padding || full(wd) < 2 * padding || h == 0 || wd == 0 {
                    bail!(
                        "conv_transpose2d: padding {padding} leaves no output for input {h}x{wd}"
                    );
                }
                let (oh, ow) = (full(h) - 2 * padding, full(wd) - 2 * padding);
                let g = Geometry::new(w1, oh, ow, kh, stride, padding)
                    .filter(|g| g.out_height == h && g.out_width == wd);
                let Some(g) = g else {
                    bail!("conv_transpose2d: inconsistent geometry for input {h}x{wd}");
                };
                Ok(Plan {
                    geometry: g,
                    weight_rows: cin,
                    out_shape: Shape::from((n, w1, oh, ow)),
                })
            }
        }
    }
}

/// The channel-wise concatenation of `parts` (`(images, channels)` each, same batch and plane).
fn concat_channels<T: Elem>(parts: &[(&[T], usize)], plane: usize) -> Vec<T> {
    let per_image: usize = parts.iter().map(|p| p.1 * plane).sum();
    let batch = parts
        .first()
        .map_or(0, |(x, c)| x.len() / (c * plane).max(1));
    let mut out = Vec::with_capacity(batch * per_image);
    for n in 0..batch {
        for &(x, c) in parts {
            out.extend_from_slice(&x[n * c * plane..][..c * plane]);
        }
    }
    out
}

/// The forward op, applied to `(x, w)`.
pub(super) struct ConvOp {
    pub kind: Kind,
    pub stride: usize,
    pub padding: usize,
    /// [`Thresholds::PRODUCTION`] outside tests; the backward op inherits them.
    pub thresholds: Thresholds,
}

impl ConvOp {
    fn run<T: Elem + candle_core::WithDType>(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(Vec<T>, Shape)> {
        let plan = self
            .kind
            .plan(l1.dims(), l2.dims(), self.stride, self.padding)?;
        let x = contiguous::<T>(s1, l1, "convolution input")?;
        let w = contiguous::<T>(s2, l2, "convolution weight")?;
        let out = self.kind.forward(&plan, x, w, None, &self.thresholds);
        Ok((out, plan.out_shape))
    }
}

impl Kind {
    /// The convolution's output for contiguous `x` and `w` matching `plan`, with `ep` applied.
    pub(super) fn forward<T: Elem>(
        self,
        plan: &Plan,
        x: &[T],
        w: &[T],
        ep: Option<&Epilogue<'_, T>>,
        th: &Thresholds,
    ) -> Vec<T> {
        self.forward_parts(plan, &[(x, plan.geometry.channels)], w, ep, th)
    }

    /// [`Kind::forward`] of the channel-wise concatenation of `parts` (`(images, channels)` each):
    /// pointwise convolutions read the parts where they are, the others read one concatenated copy.
    pub(super) fn forward_parts<T: Elem>(
        self,
        plan: &Plan,
        parts: &[(&[T], usize)],
        w: &[T],
        ep: Option<&Epilogue<'_, T>>,
        th: &Thresholds,
    ) -> Vec<T> {
        let mut out = vec![T::ZERO; plan.out_shape.elem_count()];
        let (g, rows) = (&plan.geometry, plan.weight_rows);
        if self == Kind::Conv && g.is_pointwise() {
            gemm_conv::pointwise_forward_parts(g, parts, w, rows, &mut out, ep, th);
            return out;
        }
        let joined;
        let x = match parts {
            [(x, _)] => *x,
            _ => {
                joined = concat_channels(parts, g.height * g.width);
                &joined
            }
        };
        match self {
            Kind::Conv if direct_conv::applies(g, rows) => {
                direct_conv::forward(g, x, w, rows, &mut out);
                if let Some(ep) = ep {
                    ep.apply_all(&mut out, rows, g.out_len());
                }
            }
            // Winograd only under an epilogue, i.e. on the fused no-gradient path: a forward
            // that autograd will differentiate keeps the im2col sums its backward pass mirrors.
            Kind::Conv
                if ep.is_some()
                    && winograd::applies(g, rows, x.len() / g.image_len(), &th.winograd) =>
            {
                winograd::forward(g, x, w, rows, &mut out, ep, &th.winograd)
            }
            Kind::Conv => gemm_conv::forward(g, x, w, rows, &mut out, ep, th),
            Kind::Transposed => gemm_conv::backward_data(g, x, w, rows, &mut out, ep, th),
        }
        out
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Conv => "salient-conv2d",
            Kind::Transposed => "salient-conv-transpose2d",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        float_dispatch!(self.name(), [s1, s2], |T| {
            let (out, shape) = self.run::<T>(s1, l1, s2, l2)?;
            Ok((T::to_cpu_storage_owned(out), shape))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (need_x, need_w) = (x.track_op(), w.track_op());
        if !need_x && !need_w {
            return Ok((None, None));
        }
        let op = ConvBackwardOp {
            kind: self.kind,
            stride: self.stride,
            padding: self.padding,
            need_x,
            need_w,
            thresholds: self.thresholds,
        };
        let flat = x.apply_op3_no_bwd(w, &grad.contiguous()?, &op)?;
        let [dx, dw] = super::unpack_gradients(&flat, [(need_x, x), (need_w, w)])?;
        Ok((dx, dw))
    }
}

/// The backward op, applied to `(x, w, grad_out)`: a flat tensor holding the input gradient (if
/// `need_x`) followed by the weight gradient (if `need_w`).
struct ConvBackwardOp {
    kind: Kind,
    stride: usize,
    padding: usize,
    need_x: bool,
    need_w: bool,
    thresholds: Thresholds,
}

impl ConvBackwardOp {
    #[allow(clippy::too_many_arguments)]
    fn run<T: Elem + candle_core::WithDType>(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<Vec<T>> {
        let plan = self
            .kind
            .plan(l1.dims(), l2.dims(), self.stride, self.padding)?;
        if l3.dims() != plan.out_shape.dims() {
            bail!(
                "convolution gradient has shape {:?}, expected {:?}",
                l3.dims(),
                plan.out_shape.dims()
            );
        }
        let x = contiguous::<T>(s1, l1, "convolution input")?;
        let w = contiguous::<T>(s2, l2, "convolution weight")?;
        let grad = contiguous::<T>(s3, l3, "convolution gradient")?;
        let x_len = if self.need_x { x.len() } else { 0 };
        let w_len = if self.need_w { w.len() } else { 0 };
        let mut flat = vec![T::ZERO; x_len + w_len];
        let (dx, dw) = flat.split_at_mut(x_len);
        let (g, rows, th) = (&plan.geometry, plan.weight_rows, &self.thresholds);
        match self.kind {
            Kind::Conv if direct_conv::applies(g, rows) => {
                if self.need_x {
                    direct_conv::backward_data(g, grad, w, rows, dx);
                }
                if self.need_w {
                    direct_conv::backward_weight(g, x, grad, rows, dw);
                }
            }
            Kind::Conv => {
                if self.need_x {
                    gemm_conv::backward_data(g, grad, w, rows, dx, None, th);
                }
                if self.need_w {
                    gemm_conv::backward_weight(g, x, grad, rows, dw, th);
                }
            }
            Kind::Transposed => {
                let dx = self.need_x.then_some(dx);
                let dw = self.need_w.then_some(dw);
                gemm_conv::forward_and_weight(g, grad, w, x, rows, (dx, dw), th);
            }
        }
        Ok(flat)
    }
}

impl CustomOp3 for ConvBackwardOp {
    fn name(&self) -> &'static str {
        "salient-conv-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (storage, len) = float_dispatch!(self.name(), [s1, s2, s3], |T| {
            let flat = self.run::<T>(s1, l1, s2, l2, s3, l3)?;
            let len = flat.len();
            (T::to_cpu_storage_owned(flat), len)
        });
        Ok((storage, Shape::from(len)))
    }
}
