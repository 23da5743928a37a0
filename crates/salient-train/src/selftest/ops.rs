//! The op checks: every op `salient_model::kernels` exports, at the network's geometries on small
//! shapes (3×3 stride 1 and 2, 1×1 stride 1 and 2, the 7×7 stem, a ≤ 4-output-channel layer, the
//! decoder's 4×4 stride-2 transposed convolution, 3×3/2 max pooling, BatchNorm with each
//! activation, the residual join, the concatenation, the fused no-gradient convolutions).

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use salient_model::kernels::{self, Activation, ConvKind, ConvSpec};
use salient_model::Precision;

use super::compare::{compare, Check};
use super::SelftestConfig;
use crate::TrainError;

/// An op's outputs, or `None` where it declines these operands (the fused ops take CPU operands
/// only; the network then composes the unfused ops, which are checked on their own).
pub(super) type OpResult = Result<Option<Vec<Tensor>>>;
pub(super) type OpFn = Box<dyn Fn(&[Tensor]) -> OpResult>;

/// One op on fixed shapes: the implementation under test and the CPU reference for `--device cpu`.
pub(super) struct OpCase {
    pub name: String,
    /// `(label, shape)` of each input.
    pub inputs: Vec<(&'static str, Vec<usize>)>,
    /// Labels of the outputs.
    pub outputs: Vec<&'static str>,
    /// Whether the gradients with respect to every input are checked too.
    pub gradients: bool,
    /// Whether the op computes in the run's precision on the device (the convolutions do).
    pub follows_precision: bool,
    pub ours: OpFn,
    /// candle's CPU ops (or a brute-force loop) computing the same thing.
    pub reference: OpFn,
}

fn spec(kind: ConvKind, stride: usize, padding: usize) -> ConvSpec {
    ConvSpec {
        kind,
        stride,
        padding,
    }
}

/// candle's own convolution, the reference the custom kernels' tests use.
fn candle_conv(x: &Tensor, w: &Tensor, s: ConvSpec) -> Result<Tensor> {
    match s.kind {
        ConvKind::Conv => x.conv2d(w, s.padding, s.stride, 1, 1),
        ConvKind::Transposed => x.conv_transpose2d(w, s.padding, 0, s.stride, 1),
    }
}

/// `act` as candle ops: identity, ReLU or `max(t, slope · t)` (slope < 1).
fn candle_act(x: &Tensor, slope: f64) -> Result<Tensor> {
    if slope == 1.0 {
        Ok(x.clone())
    } else if slope == 0.0 {
        x.relu()
    } else {
        x.maximum(&(x * slope)?)
    }
}

fn channel(t: &Tensor) -> Result<Tensor> {
    t.reshape((1, t.elem_count(), 1, 1))
}

fn conv_case(
    name: &str,
    kind: ConvKind,
    stride: usize,
    pad: usize,
    x: [usize; 4],
    w: [usize; 4],
) -> OpCase {
    let s = spec(kind, stride, pad);
    OpCase {
        name: name.to_string(),
        inputs: vec![("x", x.to_vec()), ("w", w.to_vec())],
        outputs: vec!["out"],
        gradients: true,
        follows_precision: true,
        ours: Box::new(move |t| Ok(Some(vec![kernels::convolution(&t[0], &t[1], s)?]))),
        reference: Box::new(move |t| Ok(Some(vec![candle_conv(&t[0], &t[1], s)?]))),
    }
}

fn bn_case(label: &'static str, slope: f64) -> OpCase {
    let act = Activation::leaky_relu(slope);
    OpCase {
        name: format!("batch_norm_train + {label}"),
        inputs: vec![
            ("x", vec![2, 6, 5, 5]),
            ("weight", vec![6]),
            ("bias", vec![6]),
        ],
        outputs: vec!["out", "mean", "var"],
        gradients: true,
        follows_precision: false,
        ours: Box::new(move |t| {
            let (y, m, v) = kernels::batch_norm_train(&t[0], &t[1], &t[2], 1e-5, act)?;
            Ok(Some(vec![y, m, v]))
        }),
        reference: Box::new(move |t| {
            let (x, c) = (&t[0], t[0].dim(1)?);
            let mean = x.mean_keepdim(3)?.mean_keepdim(2)?.mean_keepdim(0)?;
            let centred = x.broadcast_sub(&mean)?;
            let var = centred
                .sqr()?
                .mean_keepdim(3)?
                .mean_keepdim(2)?
                .mean_keepdim(0)?;
            let norm = centred.broadcast_div(&(&var + 1e-5)?.sqrt()?)?;
            let y = norm
                .broadcast_mul(&channel(&t[1])?)?
                .broadcast_add(&channel(&t[2])?)?;
            Ok(Some(vec![
                candle_act(&y, slope)?,
                mean.detach().reshape(c)?,
                var.detach().reshape(c)?,
            ]))
        }),
    }
}

/// The fused no-gradient convolution `act(conv(cat(parts)) · scale + shift [+ residual])`.
fn fused_case(
    name: &str,
    s: ConvSpec,
    parts: Vec<Vec<usize>>,
    w: [usize; 4],
    residual: Option<Vec<usize>>,
    slope: f64,
) -> OpCase {
    let n_parts = parts.len();
    let out_ch = match s.kind {
        ConvKind::Conv => w[0],
        ConvKind::Transposed => w[1],
    };
    const PART: [&str; 2] = ["x0", "x1"];
    let mut inputs: Vec<(&'static str, Vec<usize>)> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (PART[i], p))
        .collect();
    inputs.push(("w", w.to_vec()));
    inputs.push(("scale", vec![out_ch]));
    inputs.push(("shift", vec![out_ch]));
    let has_residual = residual.is_some();
    inputs.extend(residual.map(|r| ("residual", r)));
    let act = Activation::leaky_relu(slope);
    let split = move |t: &[Tensor]| -> (Vec<Tensor>, [Tensor; 3], Option<Tensor>) {
        let parts = t[..n_parts].to_vec();
        let rest = [
            t[n_parts].clone(),
            t[n_parts + 1].clone(),
            t[n_parts + 2].clone(),
        ];
        (parts, rest, has_residual.then(|| t[n_parts + 3].clone()))
    };
    OpCase {
        name: name.to_string(),
        inputs,
        outputs: vec!["out"],
        gradients: false,
        follows_precision: false,
        ours: Box::new(move |t| {
            let (parts, [w, scale, shift], res) = split(t);
            let refs: Vec<&Tensor> = parts.iter().collect();
            let y = kernels::cat_conv_affine_act(&refs, &w, s, &scale, &shift, act, res.as_ref())?;
            Ok(y.map(|y| vec![y]))
        }),
        reference: Box::new(move |t| {
            let (parts, [w, scale, shift], res) = split(t);
            let x = Tensor::cat(&parts, 1)?;
            let mut y = candle_conv(&x, &w, s)?
                .broadcast_mul(&channel(&scale)?)?
                .broadcast_add(&channel(&shift)?)?;
            if let Some(r) = res {
                y = (y + r)?;
            }
            Ok(Some(vec![candle_act(&y, slope)?]))
        }),
    }
}

/// Max pooling by brute force: each window's first maximum in row-major order (PyTorch's rule),
/// found on the host, then gathered, so that autograd sends each window's gradient there.
fn brute_force_max_pool(x: &Tensor, k: usize, s: usize, p: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let v = x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let mut index = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        let v = &v[plane * h * w..(plane + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best: Option<(f64, usize)> = None;
                for dy in 0..k {
                    for dx in 0..k {
                        let (y, xx) = (
                            (oy * s + dy) as isize - p as isize,
                            (ox * s + dx) as isize - p as isize,
                        );
                        if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                            continue;
                        }
                        let i = y as usize * w + xx as usize;
                        if best.is_none_or(|(b, _)| v[i] > b) {
                            best = Some((v[i], i));
                        }
                    }
                }
                index.push(best.map_or(0, |(_, i)| i) as u32);
            }
        }
    }
    let index = Tensor::from_vec(index, (n, c, oh * ow), x.device())?;
    x.reshape((n, c, h * w))?
        .gather(&index, 2)?
        .reshape((n, c, oh, ow))
}

/// Every op case, in the order they are printed.
pub(super) fn cases() -> Vec<OpCase> {
    use ConvKind::{Conv, Transposed};
    let mut cases = vec![
        conv_case(
            "conv2d 3x3 s1 p1",
            Conv,
            1,
            1,
            [2, 8, 12, 12],
            [16, 8, 3, 3],
        ),
        conv_case(
            "conv2d 3x3 s2 p1",
            Conv,
            2,
            1,
            [2, 8, 12, 12],
            [16, 8, 3, 3],
        ),
        conv_case("conv2d 1x1 s1", Conv, 1, 0, [2, 16, 10, 10], [8, 16, 1, 1]),
        conv_case("conv2d 1x1 s2", Conv, 2, 0, [2, 16, 10, 10], [8, 16, 1, 1]),
        conv_case(
            "conv2d 7x7 s2 p3 (stem)",
            Conv,
            2,
            3,
            [2, 3, 24, 24],
            [8, 3, 7, 7],
        ),
        conv_case(
            "conv2d 3x3 s1 p1, 1 output channel",
            Conv,
            1,
            1,
            [2, 8, 12, 12],
            [1, 8, 3, 3],
        ),
        conv_case(
            "conv_transpose2d 4x4 s2 p1",
            Transposed,
            2,
            1,
            [2, 8, 6, 6],
            [8, 4, 4, 4],
        ),
        conv_case(
            "conv_transpose2d 3x3 s2 p1",
            Transposed,
            2,
            1,
            [2, 8, 6, 6],
            [8, 4, 3, 3],
        ),
        OpCase {
            name: "max_pool2d 3x3 s2 p1".into(),
            inputs: vec![("x", vec![2, 4, 13, 13])],
            outputs: vec!["out"],
            gradients: true,
            follows_precision: false,
            ours: Box::new(|t| Ok(Some(vec![kernels::max_pool2d(&t[0], 3, 2, 1)?]))),
            reference: Box::new(|t| Ok(Some(vec![brute_force_max_pool(&t[0], 3, 2, 1)?]))),
        },
        bn_case("relu", 0.0),
        bn_case("leaky_relu 0.01", 0.01),
        bn_case("identity", 1.0),
        OpCase {
            name: "affine_act + leaky_relu 0.2".into(),
            inputs: vec![
                ("x", vec![2, 6, 5, 5]),
                ("scale", vec![6]),
                ("shift", vec![6]),
            ],
            outputs: vec!["out"],
            gradients: true,
            follows_precision: false,
            ours: Box::new(|t| {
                let act = Activation::leaky_relu(0.2);
                Ok(Some(vec![kernels::affine_act(&t[0], &t[1], &t[2], act)?]))
            }),
            reference: Box::new(|t| {
                let y = t[0]
                    .broadcast_mul(&channel(&t[1])?)?
                    .broadcast_add(&channel(&t[2])?)?;
                Ok(Some(vec![candle_act(&y, 0.2)?]))
            }),
        },
        OpCase {
            name: "add_relu".into(),
            inputs: vec![("a", vec![2, 6, 5, 5]), ("b", vec![2, 6, 5, 5])],
            outputs: vec!["out"],
            gradients: true,
            follows_precision: false,
            ours: Box::new(|t| Ok(Some(vec![kernels::add_relu(&t[0], &t[1])?]))),
            reference: Box::new(|t| Ok(Some(vec![(&t[0] + &t[1])?.relu()?]))),
        },
        OpCase {
            name: "cat_channels".into(),
            inputs: vec![("a", vec![2, 3, 5, 5]), ("b", vec![2, 5, 5, 5])],
            outputs: vec!["out"],
            gradients: true,
            follows_precision: false,
            ours: Box::new(|t| Ok(Some(vec![kernels::cat_channels(&t[0], &t[1])?]))),
            reference: Box::new(|t| Ok(Some(vec![Tensor::cat(&[&t[0], &t[1]], 1)?]))),
        },
    ];
    cases.extend([
        fused_case(
            "conv_affine_act 3x3 s1 p1 + residual + relu",
            spec(Conv, 1, 1),
            vec![vec![2, 8, 12, 12]],
            [8, 8, 3, 3],
            Some(vec![2, 8, 12, 12]),
            0.0,
        ),
        fused_case(
            "conv_affine_act 1x1 s2 + leaky_relu",
            spec(Conv, 2, 0),
            vec![vec![2, 16, 10, 10]],
            [8, 16, 1, 1],
            None,
            0.01,
        ),
        fused_case(
            "conv_affine_act transposed 4x4 s2 p1",
            spec(Transposed, 2, 1),
            vec![vec![2, 8, 6, 6]],
            [8, 4, 4, 4],
            None,
            0.01,
        ),
        fused_case(
            "cat_conv_affine_act 1x1 over two parts",
            spec(Conv, 1, 0),
            vec![vec![2, 4, 6, 6], vec![2, 6, 6, 6]],
            [8, 10, 1, 1],
            None,
            0.01,
        ),
    ]);
    cases
}

/// Inputs uniform in [−1, 1) from a stream keyed by the run's seed and the case's name, so that
/// each case's inputs do not depend on which cases ran before it.
fn host_inputs(case: &OpCase, seed: u64) -> Vec<(Vec<f32>, Vec<usize>)> {
    let key = case.name.bytes().fold(seed ^ 0x5e1f_7e57, |h, b| {
        h.wrapping_mul(0x100_0000_01b3) ^ u64::from(b)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(key);
    case.inputs
        .iter()
        .map(|(_, shape)| {
            let n = shape.iter().product();
            (
                (0..n).map(|_| rng.random_range(-1f32..1.0)).collect(),
                shape.clone(),
            )
        })
        .collect()
}

/// The outputs and (when the case checks them) input gradients of `op` on `device`: the gradient
/// of `Σ_k Σ out_k · cotangent_k`. `None` where the op declines the operands.
#[allow(clippy::type_complexity)]
fn evaluate(
    case: &OpCase,
    op: &OpFn,
    host: &[(Vec<f32>, Vec<usize>)],
    cotangents: Option<&[Tensor]>,
    device: &Device,
    compute: DType,
) -> std::result::Result<Option<(Vec<Tensor>, Vec<Option<Tensor>>)>, TrainError> {
    let vars = host
        .iter()
        .map(|(v, shape)| Var::from_tensor(&Tensor::from_vec(v.clone(), shape.as_slice(), device)?))
        .collect::<Result<Vec<_>>>()?;
    let tensors: Vec<Tensor> = vars
        .iter()
        .map(|v| {
            let t = if case.gradients {
                v.as_tensor().clone()
            } else {
                v.as_detached_tensor()
            };
            // The model casts a convolution's operands down and its output back up: so here.
            if compute == DType::F32 {
                Ok(t)
            } else {
                t.to_dtype(compute)
            }
        })
        .collect::<Result<_>>()?;
    let Some(outputs) = op(&tensors)? else {
        return Ok(None);
    };
    let outputs = outputs
        .into_iter()
        .map(|o| o.to_dtype(DType::F32))
        .collect::<Result<Vec<_>>>()?;
    let mut gradients = Vec::new();
    if let Some(cotangents) = cotangents {
        let mut total = Tensor::zeros((), DType::F32, device)?;
        for (o, r) in outputs.iter().zip(cotangents) {
            total = (total + (o * r.to_device(device)?)?.sum_all()?)?;
        }
        let grads = total.backward()?;
        gradients = vars
            .iter()
            .map(|v| grads.get(v.as_tensor()).cloned())
            .collect();
    }
    Ok(Some((outputs, gradients)))
}

/// Runs one case on `device` and on its reference, recording one check per output and per input
/// gradient. Returns false when the op declined the device's operands (nothing recorded).
pub(super) fn run_case(
    case: &OpCase,
    device: &Device,
    cfg: &SelftestConfig,
    tol: f64,
    record: &mut dyn FnMut(Check),
) -> std::result::Result<bool, TrainError> {
    let host = host_inputs(case, cfg.seed);
    let cpu = Device::Cpu;
    // On the CPU the custom kernels meet candle's ops; elsewhere the device meets the CPU kernels.
    let reference_op = if device.is_cpu() {
        &case.reference
    } else {
        &case.ours
    };
    let Some((want, _)) = evaluate(case, reference_op, &host, None, &cpu, DType::F32)? else {
        return Err(TrainError::Config(format!(
            "selftest {}: the CPU reference declined its operands",
            case.name
        )));
    };
    let cotangents = if case.gradients {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xc07a);
        Some(
            want.iter()
                .map(|o| {
                    let v: Vec<f32> = (0..o.elem_count())
                        .map(|_| rng.random_range(-1f32..1.0))
                        .collect();
                    Tensor::from_vec(v, o.dims(), &cpu)
                })
                .collect::<Result<Vec<_>>>()?,
        )
    } else {
        None
    };
    let compute = if case.follows_precision {
        cfg.precision.dtype()
    } else {
        Precision::F32.dtype()
    };
    let Some((got, got_grads)) = evaluate(
        case,
        &case.ours,
        &host,
        cotangents.as_deref(),
        device,
        compute,
    )?
    else {
        return Ok(false);
    };
    let (_, want_grads) = evaluate(
        case,
        reference_op,
        &host,
        cotangents.as_deref(),
        &cpu,
        DType::F32,
    )?
    .ok_or_else(|| TrainError::Config(format!("selftest {}: reference declined", case.name)))?;
    for ((label, g), w) in case.outputs.iter().zip(&got).zip(&want) {
        record(compare(format!("op {}: {label}", case.name), g, w, tol)?);
    }
    for (((label, _), g), w) in case.inputs.iter().zip(&got_grads).zip(&want_grads) {
        let name = format!("op {}: d{label}", case.name);
        match (g, w) {
            (Some(g), Some(w)) => record(compare(name, g, w, tol)?),
            (None, None) => {}
            // One side has no gradient for an input the other differentiates: a broken backward.
            (g, w) => record(Check {
                name: format!(
                    "{name} (gradient {} on the device, {} in the reference)",
                    if g.is_some() { "present" } else { "missing" },
                    if w.is_some() { "present" } else { "missing" }
                ),
                max_abs_diff: f64::NAN,
                reference_max: f64::NAN,
                tolerance: tol,
            }),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(case: &OpCase) -> Vec<Check> {
        let mut checks = Vec::new();
        let cfg = SelftestConfig::default();
        let tol = super::super::Tolerances::for_precision(Precision::F32).op;
        assert!(run_case(case, &Device::Cpu, &cfg, tol, &mut |c| checks.push(c)).unwrap());
        checks
    }

    #[test]
    fn every_case_passes_on_the_cpu() {
        for case in cases() {
            for c in run(&case) {
                assert!(c.passed(), "{c}");
            }
        }
    }

    /// The comparison must catch a wrong op: a convolution fed its weight transposed (H and W
    /// swapped), and BatchNorm with PyTorch's eps replaced by 1e-3.
    #[test]
    fn a_wrong_op_fails_its_checks() {
        let mut case = conv_case(
            "conv2d 3x3 s1 p1",
            ConvKind::Conv,
            1,
            1,
            [2, 8, 12, 12],
            [16, 8, 3, 3],
        );
        case.ours = Box::new(|t| {
            Ok(Some(vec![kernels::conv2d(
                &t[0],
                &t[1].transpose(2, 3)?,
                1,
                1,
            )?]))
        });
        let checks = run(&case);
        assert_eq!(checks.len(), 3, "{checks:?}");
        for c in &checks {
            assert!(!c.passed() && c.relative() > 0.1, "{c}");
        }

        let mut case = bn_case("relu", 0.0);
        case.ours = Box::new(|t| {
            let (y, m, v) = kernels::batch_norm_train(&t[0], &t[1], &t[2], 1e-3, Activation::RELU)?;
            Ok(Some(vec![y, m, v]))
        });
        let failed: Vec<String> = run(&case)
            .into_iter()
            .filter(|c| !c.passed())
            .map(|c| c.name)
            .collect();
        assert!(failed.iter().any(|n| n.ends_with(": out")), "{failed:?}");
        assert!(failed.iter().any(|n| n.ends_with(": dx")), "{failed:?}");
    }

    #[test]
    fn a_missing_gradient_fails() {
        let mut case = conv_case(
            "conv2d 1x1 s1",
            ConvKind::Conv,
            1,
            0,
            [2, 16, 10, 10],
            [8, 16, 1, 1],
        );
        case.ours = Box::new(|t| Ok(Some(vec![kernels::conv2d(&t[0], &t[1].detach(), 1, 0)?])));
        let checks = run(&case);
        let dw = checks.iter().find(|c| c.name.contains(": dw")).unwrap();
        assert!(
            !dw.passed() && dw.name.contains("missing on the device"),
            "{dw}"
        );
    }
}
