//! cuDNN convolutions on CUDA tensors (feature `cudnn`): the thin launch layer under
//! [`crate::cudnn_plan`], which decides every shape, role and type on the host.
//!
//! [`convolution`] applies [`CudnnConv`], a candle custom op whose CUDA forward is the output step
//! of the plan and whose backward applies [`CudnnPass`] ops for the tracked gradients (the input's
//! and the weight's), each one cuDNN routine. Everything runs on candle's own stream for the device,
//! through a cuDNN handle per thread and device (handles are not thread-safe: candle keeps its own
//! the same way). The algorithm of each ([`AlgoKey`], device) is chosen once by cuDNN's heuristics
//! (`cudnnGetConvolution*Algorithm_v7`, through cudarc's `pick_algorithm`) under the math mode the
//! plan set, and cached with its workspace size; the workspace itself is a stream-ordered
//! allocation per call, so no device memory outlives the call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::{CudaDType, DeviceId};
use candle_core::{
    bail, CpuStorage, CudaDevice, CudaStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType,
};
use cudarc::cudnn::{sys, ConvBackwardData, ConvBackwardFilter, ConvForward, Cudnn, CudnnDataType};
use cudarc::driver::{CudaSlice, DeviceRepr};
use half::{bf16, f16};

use crate::cudnn_plan::{
    allow_tf32, conv_types, dims_i32, step, AlgoKey, ConvTypes, DataType, MathMode, Operand, Pass,
    Problem, Role,
};
use crate::{ConvKind, ConvSpec};

/// `spec`'s convolution of `x` by `w` through cuDNN, with cuDNN gradients; `None` where cuDNN
/// does not apply (operands not both on one CUDA device with one dtype cuDNN takes), so the caller
/// falls back to candle's op.
pub(crate) fn convolution(x: &Tensor, w: &Tensor, spec: ConvSpec) -> Result<Option<Tensor>> {
    let usable = x.device().is_cuda()
        && x.device().same_device(w.device())
        && x.dtype() == w.dtype()
        && conv_types(x.dtype(), false).is_ok();
    if !usable {
        return Ok(None);
    }
    let problem = Problem::new(spec.kind, x.dims(), w.dims(), spec.stride, spec.padding)?;
    let op = CudnnConv {
        kind: spec.kind,
        problem,
    };
    // The output step of either kind takes (input, weight), in that order (`step`).
    debug_assert_eq!(
        step(spec.kind, Role::Output).operands,
        [Operand::Input, Operand::Weight]
    );
    x.contiguous()?.apply_op2(&w.contiguous()?, op).map(Some)
}

/// A convolution of `kind` on `problem`, applied to `(input, weight)`, with gradients.
struct CudnnConv {
    kind: ConvKind,
    problem: Problem,
}

impl CustomOp2 for CudnnConv {
    fn name(&self) -> &'static str {
        "cudnn-conv"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        bail!("cuDNN convolution applied to CPU tensors")
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        run(
            step(self.kind, Role::Output).pass,
            &self.problem,
            (s1, l1),
            (s2, l2),
        )
    }

    fn bwd(
        &self,
        input: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let operand = |o: Operand| match o {
            Operand::Input => input,
            Operand::Weight => weight,
            Operand::GradOutput => &grad,
        };
        // Only tracked operands get a gradient: a frozen weight costs no backward-filter.
        let gradient = |role: Role, tracked: bool| -> Result<Option<Tensor>> {
            if !tracked {
                return Ok(None);
            }
            let step = step(self.kind, role);
            let op = CudnnPass {
                pass: step.pass,
                problem: self.problem,
            };
            let [a, b] = step.operands.map(operand);
            a.apply_op2_no_bwd(b, &op).map(Some)
        };
        Ok((
            gradient(Role::GradInput, input.track_op())?,
            gradient(Role::GradWeight, weight.track_op())?,
        ))
    }
}

/// One cuDNN routine on `problem`, applied to its two operands in the routine's order
/// ([`Problem::shapes`]); a gradient, so it has no backward of its own.
struct CudnnPass {
    pass: Pass,
    problem: Problem,
}

impl CustomOp2 for CudnnPass {
    fn name(&self) -> &'static str {
        "cudnn-conv-grad"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        bail!("cuDNN convolution gradient applied to CPU tensors")
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        run(self.pass, &self.problem, (s1, l1), (s2, l2))
    }
}

/// Runs `pass` on two contiguous operands of one dtype: dispatches the dtype to the element and
/// compute types the plan chose.
fn run(
    pass: Pass,
    problem: &Problem,
    a: (&CudaStorage, &Layout),
    b: (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let dtype = a.0.dtype();
    if b.0.dtype() != dtype {
        bail!(
            "cuDNN convolution: operands of {dtype:?} and {:?}",
            b.0.dtype()
        );
    }
    let types = conv_types(dtype, allow_tf32())?;
    let out = match (types.data, types.compute) {
        (DataType::Float, DataType::Float) => launch::<f32, f32>(pass, problem, types, a, b),
        (DataType::Double, DataType::Double) => launch::<f64, f64>(pass, problem, types, a, b),
        (DataType::Half, DataType::Float) => launch::<f16, f32>(pass, problem, types, a, b),
        (DataType::BFloat16, DataType::Float) => launch::<bf16, f32>(pass, problem, types, a, b),
        (data, compute) => bail!("cuDNN convolution: no {data:?} data with {compute:?} compute"),
    }?;
    Ok((out, Shape::from(problem.shapes(pass).2.to_vec())))
}

/// The algorithm cuDNN's heuristics chose for one routine.
#[derive(Clone, Copy, Debug)]
enum Algo {
    Forward(sys::cudnnConvolutionFwdAlgo_t),
    BackwardData(sys::cudnnConvolutionBwdDataAlgo_t),
    BackwardFilter(sys::cudnnConvolutionBwdFilterAlgo_t),
}

/// An algorithm and the workspace bytes it needs, cached per problem, types and device.
#[derive(Clone, Copy, Debug)]
struct Choice {
    algo: Algo,
    workspace: usize,
}

/// Choices are plain values, so one cache serves every thread.
fn choices() -> &'static Mutex<HashMap<(DeviceId, AlgoKey), Choice>> {
    static CHOICES: OnceLock<Mutex<HashMap<(DeviceId, AlgoKey), Choice>>> = OnceLock::new();
    CHOICES.get_or_init(Default::default)
}

/// The cached choice for `key` on `dev`, or the one `pick` makes (then cached).
fn choose(dev: &CudaDevice, key: AlgoKey, pick: impl FnOnce() -> Result<Choice>) -> Result<Choice> {
    let cached = choices()
        .lock()
        .map_err(|_| candle_core::Error::Msg("cuDNN algorithm cache poisoned".into()))?
        .get(&(dev.id(), key))
        .copied();
    if let Some(choice) = cached {
        return Ok(choice);
    }
    // Picked without the lock held: two threads may both ask cuDNN once; both get its answer.
    let choice = pick()?;
    choices()
        .lock()
        .map_err(|_| candle_core::Error::Msg("cuDNN algorithm cache poisoned".into()))?
        .insert((dev.id(), key), choice);
    Ok(choice)
}

thread_local! {
    /// This thread's cuDNN handle for each device, bound to candle's stream of that device.
    static HANDLES: RefCell<HashMap<DeviceId, Arc<Cudnn>>> = RefCell::new(HashMap::new());
}

fn handle(dev: &CudaDevice) -> Result<Arc<Cudnn>> {
    HANDLES.with(|handles| {
        if let Some(cudnn) = handles.borrow().get(&dev.id()) {
            return Ok(cudnn.clone());
        }
        let cudnn = Cudnn::new(dev.cuda_stream())?;
        handles.borrow_mut().insert(dev.id(), cudnn.clone());
        Ok(cudnn)
    })
}

fn math_type(math: MathMode) -> sys::cudnnMathType_t {
    match math {
        MathMode::Default => sys::cudnnMathType_t::CUDNN_DEFAULT_MATH,
        MathMode::Fma => sys::cudnnMathType_t::CUDNN_FMA_MATH,
        MathMode::TensorOp => sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH,
    }
}

/// Scratch memory for one call; `None` when the algorithm needs none.
fn workspace(dev: &CudaDevice, bytes: usize) -> Result<Option<CudaSlice<u8>>> {
    if bytes == 0 {
        return Ok(None);
    }
    // SAFETY: scratch space, which cuDNN writes before it reads.
    Ok(Some(unsafe { dev.alloc::<u8>(bytes)? }))
}

/// Runs `pass` with tensors of element type `T` and accumulation type `C` (both as `types` says):
/// operands `a` and `b` in the routine's order, result allocated here.
fn launch<T, C>(
    pass: Pass,
    problem: &Problem,
    types: ConvTypes,
    (sa, la): (&CudaStorage, &Layout),
    (sb, lb): (&CudaStorage, &Layout),
) -> Result<CudaStorage>
where
    T: CudaDType + CudnnDataType + DeviceRepr + WithDType,
    C: CudnnDataType,
{
    let (a_dims, b_dims, out_dims) = problem.shapes(pass);
    for (layout, dims) in [(la, a_dims), (lb, b_dims)] {
        if !layout.is_contiguous() || layout.dims() != dims {
            bail!(
                "cuDNN convolution ({pass:?}): operand {:?} (contiguous: {}) where {dims:?} was planned",
                layout.dims(),
                layout.is_contiguous()
            );
        }
    }
    let dev = &sa.device;
    // Contiguous operands may still start inside their buffer (a narrowed tensor).
    let a = sa.as_cuda_slice::<T>()?.slice(la.start_offset()..);
    let b = sb.as_cuda_slice::<T>()?.slice(lb.start_offset()..);

    let cudnn = handle(dev)?;
    let (p, s) = (problem.padding, problem.stride);
    let (p, s) = (
        i32::try_from(p).map_err(|_| candle_core::Error::Msg(format!("padding {p} too large")))?,
        i32::try_from(s).map_err(|_| candle_core::Error::Msg(format!("stride {s} too large")))?,
    );
    let mut conv = cudnn.create_conv2d::<C>(
        [p, p],
        [s, s],
        [1, 1],
        sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
    )?;
    // Set before the algorithm is picked: the heuristics then offer only algorithms of this math.
    conv.set_math_type(math_type(types.math))?;
    let nchw = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
    let x = cudnn.create_4d_tensor::<T>(nchw, dims_i32(problem.x)?)?;
    let w = cudnn.create_4d_filter::<T>(nchw, dims_i32(problem.filter)?)?;
    let y = cudnn.create_4d_tensor::<T>(nchw, dims_i32(problem.y)?)?;

    // SAFETY: every routine runs with beta = 0, so cuDNN writes each element of the result
    // without reading it.
    let mut out = unsafe { dev.alloc::<T>(out_dims.iter().product())? };
    let scale = (T::from_f64(1.0), T::from_f64(0.0));
    let key = AlgoKey {
        pass,
        problem: *problem,
        types,
    };
    let mismatch =
        || candle_core::Error::Msg(format!("cuDNN algorithm cache: not a {pass:?} algorithm"));
    match pass {
        Pass::Forward => {
            let op = ConvForward {
                conv: &conv,
                x: &x,
                w: &w,
                y: &y,
            };
            let choice = choose(dev, key, || {
                let algo = op.pick_algorithm()?;
                let workspace = op.get_workspace_size(algo)?;
                Ok(Choice {
                    algo: Algo::Forward(algo),
                    workspace,
                })
            })?;
            let Algo::Forward(algo) = choice.algo else {
                return Err(mismatch());
            };
            let mut ws = workspace(dev, choice.workspace)?;
            // SAFETY: `a` is x and `b` the filter, laid out (NCHW, contiguous) and typed as the
            // descriptors say, checked above; `out` has y's element count.
            unsafe { op.launch(algo, ws.as_mut(), scale, &a, &b, &mut out) }?;
        }
        Pass::BackwardData => {
            let op = ConvBackwardData {
                conv: &conv,
                dx: &x,
                w: &w,
                dy: &y,
            };
            let choice = choose(dev, key, || {
                let algo = op.pick_algorithm()?;
                let workspace = op.get_workspace_size(algo)?;
                Ok(Choice {
                    algo: Algo::BackwardData(algo),
                    workspace,
                })
            })?;
            let Algo::BackwardData(algo) = choice.algo else {
                return Err(mismatch());
            };
            let mut ws = workspace(dev, choice.workspace)?;
            // SAFETY: `a` is dy and `b` the filter, as checked above; `out` has x's element count.
            unsafe { op.launch(algo, ws.as_mut(), scale, &mut out, &b, &a) }?;
        }
        Pass::BackwardFilter => {
            let op = ConvBackwardFilter {
                conv: &conv,
                x: &x,
                dw: &w,
                dy: &y,
            };
            let choice = choose(dev, key, || {
                let algo = op.pick_algorithm()?;
                let workspace = op.get_workspace_size(algo)?;
                Ok(Choice {
                    algo: Algo::BackwardFilter(algo),
                    workspace,
                })
            })?;
            let Algo::BackwardFilter(algo) = choice.algo else {
                return Err(mismatch());
            };
            let mut ws = workspace(dev, choice.workspace)?;
            // SAFETY: `a` is x and `b` dy, as checked above; `out` has the filter's element count.
            unsafe { op.launch(algo, ws.as_mut(), scale, &a, &mut out, &b) }?;
        }
    }
    Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
}
