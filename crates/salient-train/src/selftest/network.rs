//! The network checks: a whole forward pass and a training step of both heads (random-init
//! weights from the run's seed, `batch` images of `size`), on the device against a reference.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use salient_model::{Head, Mode, ModelConfig, Precision, SaliencyNet};

use super::compare::{compare, Check};
use super::{SelftestConfig, Tolerances};
use crate::optim::{Adam, AdamConfig};
use crate::{LossSpec, TrainError};

/// The batch every network check uses, on the host: the image uniform in [0, 1), the target map
/// uniform, about 2% of the pixels fixated.
struct Batch {
    x: Tensor,
    target: Tensor,
    fixations: Tensor,
}

impl Batch {
    fn new(cfg: &SelftestConfig) -> Result<Self, TrainError> {
        let (b, h, w) = (cfg.batch, cfg.size.height, cfg.size.width);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xba7c);
        let mut draw = |n: usize, f: &mut dyn FnMut(&mut ChaCha8Rng) -> f32| -> Vec<f32> {
            (0..n).map(|_| f(&mut rng)).collect()
        };
        let cpu = Device::Cpu;
        let x = draw(b * 3 * h * w, &mut |r| r.random::<f32>());
        let target = draw(b * h * w, &mut |r| r.random::<f32>());
        let fixations = draw(b * h * w, &mut |r| {
            f32::from(u8::from(r.random::<f32>() < 0.02))
        });
        Ok(Self {
            x: Tensor::from_vec(x, (b, 3, h, w), &cpu)?,
            target: Tensor::from_vec(target, (b, 1, h, w), &cpu)?,
            fixations: Tensor::from_vec(fixations, (b, 1, h, w), &cpu)?,
        })
    }

    fn on(&self, device: &Device) -> Result<Self, TrainError> {
        Ok(Self {
            x: self.x.to_device(device)?,
            target: self.target.to_device(device)?,
            fixations: self.fixations.to_device(device)?,
        })
    }
}

/// A network of `head` with the run's seed, on `device`, computing in `precision`.
fn network(
    cfg: &SelftestConfig,
    head: Head,
    precision: Precision,
    device: &Device,
) -> Result<SaliencyNet, TrainError> {
    let model = ModelConfig {
        head,
        precision,
        ..ModelConfig::default()
    };
    SaliencyNet::new(model, cfg.seed, device).map_err(model_err)
}

fn model_err(e: salient_model::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}

/// The head's default loss of a train-mode forward pass.
fn train_loss(
    net: &SaliencyNet,
    batch: &Batch,
    x: &Tensor,
) -> Result<(Tensor, Tensor), TrainError> {
    let y = net.forward(x, Mode::Train).map_err(model_err)?;
    let loss = LossSpec::default_for(net.head()).compute_for(
        net.head(),
        &y,
        &batch.target,
        Some(&batch.fixations),
    )?;
    Ok((y, loss))
}

fn scalar(t: &Tensor) -> Result<f64, TrainError> {
    Ok(t.to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?)
}

/// Every network check on `device` against its reference (see the module docs of `selftest`).
pub(super) fn run(
    cfg: &SelftestConfig,
    device: &Device,
    tol: Tolerances,
    record: &mut dyn FnMut(Check),
) -> Result<(), TrainError> {
    let batch = Batch::new(cfg)?;
    for head in Head::ALL {
        if device.is_cpu() {
            cpu_checks(cfg, head, &batch, tol, record)?;
        } else {
            device_checks(cfg, head, device, &batch, tol, record)?;
        }
    }
    Ok(())
}

/// The device against the CPU: outputs, loss, gradients, running statistics, one Adam step.
fn device_checks(
    cfg: &SelftestConfig,
    head: Head,
    device: &Device,
    host: &Batch,
    tol: Tolerances,
    record: &mut dyn FnMut(Check),
) -> Result<(), TrainError> {
    let name = |what: &str| format!("net {head}: {what}");
    let dev_batch = host.on(device)?;
    let ours = network(cfg, head, cfg.precision, device)?;
    let reference = network(cfg, head, Precision::F32, &Device::Cpu)?;

    let eval = |net: &SaliencyNet, b: &Batch| net.forward(&b.x, Mode::Eval).map_err(model_err);
    record(compare(
        name("eval forward"),
        &eval(&ours, &dev_batch)?,
        &eval(&reference, host)?,
        tol.network,
    )?);

    let (y_ours, loss_ours) = train_loss(&ours, &dev_batch, &dev_batch.x)?;
    let (y_ref, loss_ref) = train_loss(&reference, host, &host.x)?;
    record(compare(
        name("train forward"),
        &y_ours,
        &y_ref,
        tol.network,
    )?);
    record(compare(name("loss"), &loss_ours, &loss_ref, tol.network)?);

    let grads_ours = loss_ours.backward()?;
    let grads_ref = loss_ref.backward()?;
    let vars_ours = ours.trainable_vars();
    let vars_ref = reference.trainable_vars();
    let mut worst: Option<Check> = None;
    for ((n, v_ours), (_, v_ref)) in vars_ours.iter().zip(&vars_ref) {
        let check = match (
            grads_ours.get(v_ours.as_tensor()),
            grads_ref.get(v_ref.as_tensor()),
        ) {
            (Some(g), Some(r)) => compare(n.clone(), g, r, tol.network)?,
            (None, None) => continue,
            _ => Check {
                name: format!("{n} (gradient missing on one side)"),
                max_abs_diff: f64::NAN,
                reference_max: f64::NAN,
                tolerance: tol.network,
            },
        };
        worst = Some(worse(worst, check));
    }
    if let Some(w) = worst {
        record(Check {
            name: name(&format!(
                "gradients, worst of {} ({})",
                vars_ours.len(),
                w.name
            )),
            ..w
        });
    }

    let buffers = |net: &SaliencyNet| -> Vec<(String, Tensor)> {
        net.tensors()
            .into_iter()
            .filter(|(n, _)| n.ends_with("running_mean") || n.ends_with("running_var"))
            .collect()
    };
    let mut worst: Option<Check> = None;
    for ((n, a), (_, b)) in buffers(&ours).iter().zip(&buffers(&reference)) {
        worst = Some(worse(worst, compare(n.clone(), a, b, tol.network)?));
    }
    if let Some(w) = worst {
        record(Check {
            name: name(&format!("BatchNorm running statistics, worst ({})", w.name)),
            ..w
        });
    }

    let step = |net: &SaliencyNet, grads| -> Result<(), TrainError> {
        Adam::new(net.trainable_vars(), AdamConfig::seed())
            .and_then(|mut adam| adam.step(grads))
            .map_err(|e| TrainError::Model(e.to_string()))
    };
    step(&ours, &grads_ours)?;
    step(&reference, &grads_ref)?;
    let (_, after_ours) = train_loss(&ours, &dev_batch, &dev_batch.x)?;
    let (_, after_ref) = train_loss(&reference, host, &host.x)?;
    record(compare(
        name("loss after one Adam step"),
        &after_ours,
        &after_ref,
        tol.network,
    )?);
    Ok(())
}

/// The one of two checks furthest from passing (a NaN is the worst).
fn worse(a: Option<Check>, b: Check) -> Check {
    match a {
        // `b` replaces `a` when it is NaN or further off; a NaN `a` is kept.
        Some(a) if a.relative().is_nan() || b.relative() <= a.relative() => a,
        _ => b,
    }
}

/// On the CPU: the fused path against the op-by-op path, and gradients against finite
/// differences.
fn cpu_checks(
    cfg: &SelftestConfig,
    head: Head,
    batch: &Batch,
    tol: Tolerances,
    record: &mut dyn FnMut(Check),
) -> Result<(), TrainError> {
    let name = |what: &str| format!("net {head}: {what}");
    let net = network(cfg, head, Precision::F32, &Device::Cpu)?;
    // An input that tracks a gradient makes every layer take the op-by-op kernels (the fused
    // no-gradient ones decline tracked operands); a plain one lets them fuse.
    let tracked = Var::from_tensor(&batch.x)?;
    let fused = net.forward(&batch.x, Mode::Eval).map_err(model_err)?;
    let op_by_op = net
        .forward(tracked.as_tensor(), Mode::Eval)
        .map_err(model_err)?;
    let check = compare(
        name("eval forward, fused vs op-by-op"),
        &fused,
        &op_by_op,
        tol.network,
    )?;
    record(check);
    finite_differences(&net, batch, tol, &name, record)
}

/// The density head's loss scale for the step (bits per fixation): measured on the default
/// selftest, 1 bit leaves curvature errors of 5-6% in layer3/layer4, 0.3 bit about 2%.
const SCALE_DENSITY: f64 = 0.3;

/// For each group of trainable tensors (by the name's first component: `layer3`, `deconv2`,
/// ...), the directional derivative of the loss along the group's normalised gradient `d`,
/// which backpropagation says is `‖g‖`, against the central difference
/// `(L(θ + h·d) − L(θ − h·d)) / 2h`, `h` chosen for a loss change of 1e-3 of the loss's scale:
/// a wrong backward that changes the group's gradient by more than a few percent of its norm
/// moves it off `‖g‖`.
fn finite_differences(
    net: &SaliencyNet,
    batch: &Batch,
    tol: Tolerances,
    name: &dyn Fn(&str) -> String,
    record: &mut dyn FnMut(Check),
) -> Result<(), TrainError> {
    let (_, loss) = train_loss(net, batch, &batch.x)?;
    // The step aims at a loss change of 1e-3 of the loss's own scale: the MSE's value (a mean of
    // squares, ~0.08 here), one bit for `nll` (bits per fixation above a uniform density, ~0 at
    // a random start). Smaller steps drown in f32 rounding of the loss, larger ones in the
    // network's curvature (ReLU kinks, batch statistics of two images).
    let loss_scale = match net.head() {
        salient_model::Head::Seed => scalar(&loss)?.abs(),
        salient_model::Head::Density => SCALE_DENSITY,
    };
    let grads = loss.backward()?;
    let mut groups: Vec<(String, Vec<(Var, Tensor)>)> = Vec::new();
    for (n, var) in net.trainable_vars() {
        let group = n.split('.').next().unwrap_or(&n).to_string();
        let g = grads
            .get(var.as_tensor())
            .cloned()
            .ok_or_else(|| TrainError::Model(format!("selftest: no gradient for {n}")))?;
        match groups.iter_mut().find(|(k, _)| *k == group) {
            Some((_, members)) => members.push((var, g)),
            None => groups.push((group, vec![(var, g)])),
        }
    }
    for (group, members) in groups {
        let sum_sq = |ts: &mut dyn Iterator<Item = &Tensor>| -> Result<f64, TrainError> {
            let mut s = 0.0;
            for t in ts {
                s += scalar(&t.to_dtype(DType::F64)?.sqr()?.sum_all()?)?;
            }
            Ok(s)
        };
        let g_norm = sum_sq(&mut members.iter().map(|(_, g)| g))?.sqrt();
        let originals: Vec<Tensor> = members
            .iter()
            .map(|(v, _)| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        let h = 1e-3 * loss_scale / g_norm.max(1e-30);
        let loss_at = |sign: f64| -> Result<f64, TrainError> {
            for ((v, g), orig) in members.iter().zip(&originals) {
                v.set(&(orig + (g * (sign * h / g_norm.max(1e-30)))?)?)?;
            }
            let (_, l) = train_loss(net, batch, &batch.x)?;
            scalar(&l)
        };
        let plus = loss_at(1.0)?;
        let minus = loss_at(-1.0)?;
        for ((v, _), orig) in members.iter().zip(&originals) {
            v.set(orig)?;
        }
        let fd = (plus - minus) / (2.0 * h);
        record(Check {
            name: name(&format!(
                "gradient vs finite difference, {group} ({} tensors)",
                members.len()
            )),
            max_abs_diff: (g_norm - fd).abs(),
            reference_max: fd.abs(),
            tolerance: tol.finite_difference,
        });
    }
    Ok(())
}
